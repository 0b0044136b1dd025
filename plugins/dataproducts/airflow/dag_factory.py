"""Per-domain DAG factory: a short translation of the domain's DAG plans (the validated mesh as
plain data, see dag_plans) into Airflow DAGs.

Every spec of the domain becomes one DAG with the product id as DAG id. A spec that fails to
load or validate still becomes a DAG under the same id: it never runs anything, its description
and docs say which file, which field and what to do, and its one task fails with the same words.
So a broken spec is visible where its owner looks, and every other DAG keeps working. A deleted
spec leaves a retired DAG for a while (see retired_dags), so that its pending runs end.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, Optional

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset, CronTriggerTimetable

from dataproducts.airflow import broken_spec, dag_plans, schedules
from dataproducts.airflow.notify import ProductFailureNotifier
from dataproducts.airflow.params import trigger_params
from dataproducts.airflow.retired_dags import retired_dags
from dataproducts.core import naming
from dataproducts.core.project import Project
from dataproducts.core.removed_specs import KnownProduct

log = logging.getLogger(__name__)


def build_domain_dags(domain: str, default_root: Optional[Path] = None) -> dict[str, DAG]:
    """DAGs of one domain, keyed by a module-level name for the DAG file's globals()."""
    project = Project.from_env(default_root)
    plans = dag_plans.domain_plans(project, domain)
    root, pool = str(project.root), project.warehouse_pool  # a setting: read once, not per DAG
    dags = {}
    for plan in plans:
        try:
            dags[plan["product_id"].replace(".", "__")] = _dag_or_broken(project, plan, root, pool)
        except Exception:  # not even a broken-spec DAG could be made: log it, keep the domain's other DAGs
            log.exception("no DAG at all for %s (%s)", plan["product_id"], plan["spec_path"])
    try:
        dags.update(retired_dags(project, domain, [KnownProduct(**plan["known"]) for plan in plans]))
    except Exception:  # the ledger must never cost the domain its live DAGs
        log.exception("no retired DAGs for the removed specs of the domain '%s'", domain)
    return dags


def _dag_or_broken(project: Project, plan: dict[str, Any], root: str, pool: str) -> DAG:
    if plan["kind"] == dag_plans.BROKEN:
        return broken_product_dag(project, plan["product_id"], plan["spec_path"], plan["messages"], plan["owner"])
    try:
        return product_dag(plan, root, pool)
    except Exception as exc:  # a bug of ours must still only cost this one product its DAG
        log.exception("could not build the DAG of %s", plan["product_id"])
        messages = [f"{plan['spec_path']}: the DAG could not be built: {exc!r}"]
        return broken_product_dag(project, plan["product_id"], plan["spec_path"], messages, plan["team"])


def product_dag(plan: dict[str, Any], root: str, pool: str) -> DAG:
    """A product's DAG from its plan (dag_plans.product_plan)."""
    product_id, inputs = plan["product_id"], [Asset(**a) for a in plan["inputs"]]
    with DAG(
        dag_id=naming.dag_id(product_id),
        description=plan["description"],
        schedule=schedules.schedule_for(plan["cron"], plan["timezone"], plan["trigger"], inputs),
        catchup=False,
        max_active_runs=1,
        tags=plan["tags"],
        owner_links={plan["team"]: f"mailto:{plan['contact']}"},
        default_args={  # retries: Airflow's [core] default_task_retries
            "owner": plan["team"],
            "on_failure_callback": ProductFailureNotifier(product_id, plan["team"], plan["contact"]),
        },
        doc_md=plan["doc_md"],
        params=trigger_params(plan["timezone"]),
    ) as dag:
        build = PythonOperator(
            task_id=naming.BUILD_TASK,
            python_callable=functools.partial(task_callable, "run_build", product_id, root),
            pool=pool,
            inlets=inputs,
            doc_md="Runs `dbt build` of the product's selection for one business date and counts the output rows.",
        )
        publish = PythonOperator(
            task_id="publish",
            python_callable=_publish_callable(product_id, root),
            outlets=[Asset(**a) for a in plan["outputs"]],
            doc_md="Publishes one asset event per output port, which starts the consumers' DAGs.",
        )
        emit = PythonOperator(
            task_id="emit_metadata",
            python_callable=functools.partial(task_callable, "run_emit_metadata", product_id, root),
            doc_md="Sends the product's and this run's metadata to DataHub through a durable outbox; never fails the run.",
        ).as_teardown()  # runs whatever happened before it, and never decides the run's state
        build >> publish >> emit
    return dag


def task_callable(name: str, *args: Any) -> Any:
    """Calls dataproducts.airflow.tasks.<name>, imported when a task runs: parsing a DAG file
    never needs the task code (dbt, contracts, quality rules)."""
    from dataproducts.airflow import tasks

    return getattr(tasks, name)(*args)


def _publish_callable(product_id: str, root: str):
    def publish(ti) -> list[str]:
        return task_callable("run_publish", product_id, root, ti.xcom_pull(task_ids=naming.BUILD_TASK))

    return publish


def catalog_dag(default_root: Optional[Path] = None) -> DAG:
    """Keeps DataHub equal to the specs (products that never ran, changed and deleted specs),
    checks every port's freshness SLA, and retries whatever waits in the metadata outbox."""
    root = str(Project.from_env(default_root).root)
    with DAG(
        dag_id=naming.CATALOG_DAG_ID,
        description="Sync data product specs to DataHub, check freshness SLAs and flush the metadata outbox",
        schedule=CronTriggerTimetable("*/10 * * * *", timezone="UTC", run_immediately=True),
        catchup=False,
        max_active_runs=1,
        tags=[naming.MAINTENANCE_TAG],
        default_args={"owner": "data-platform", "retries": 0},
        doc_md=(__doc__ or "").split("\n\n")[0] + "\n\nSee `dataproducts metadata status` for the backlog.",
    ) as dag:
        PythonOperator(task_id="sync_and_flush", python_callable=functools.partial(task_callable, "run_catalog_sync", root))
    return dag


def broken_product_dag(
    project: Project, product_id: str, spec_path: str, messages: list[str], owner: Optional[str] = None
) -> DAG:
    """Runs nothing but one failing task, once per breakage, so it looks failed (see broken_spec).
    `owner`: the team to show, where the caller knows it (else the file or the domain says)."""
    domain = product_id.split(".", 1)[0]
    with DAG(
        dag_id=naming.dag_id(product_id),
        description=f"BROKEN SPEC: {messages[0]}"[:500],
        schedule=broken_spec.BrokenSpecTimetable(broken_spec.mesh_changed_at(project)),
        catchup=False,
        is_paused_upon_creation=False,
        tags=[naming.DAG_TAG, naming.BROKEN_TAG, f"domain:{domain}"],
        default_args={"owner": owner or broken_spec.owner_of(project, product_id, spec_path), "retries": 0},
        doc_md=broken_spec.broken_doc_md(product_id, messages),
    ) as dag:
        PythonOperator(
            task_id="fix_the_spec",
            task_display_name=broken_spec.task_display_name(spec_path, messages),
            python_callable=functools.partial(task_callable, "fail_with_spec_errors", "\n".join(messages)),
        )
    return dag
