"""A retired DAG for each product whose spec was deleted: its pending runs end failed and say why.

Airflow stops examining the runs of a DAG that its file no longer defines: a run of a product
that was queued or running when its spec was deleted would stay 'running' for ever (its task
waits in up_for_reschedule for a DAG that never comes back). So for `retired_dag_days` after the
removal (core/removed_specs.py keeps the ledger) the domain's DAG file still defines a DAG under
the product's id, with the task ids the product's DAG had, no schedule, and tasks that fail at
once with the deleted file's name and the date: the scheduler finishes the pending runs as
failed, and the UI shows why. A spec re-added with the same id gets its real DAG back.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from dataproducts.core import naming
from dataproducts.core.project import Project
from dataproducts.core.removed_specs import KnownProduct, RemovedProduct, record_domain, retention_days

RETIRED_TAG = "retired-spec"
BROKEN_SPEC_TASK = "fix_the_spec"  # the one task of a broken spec's DAG (dag_factory.broken_product_dag)
WHAT_EACH_TASK_CANNOT_DO = {
    naming.BUILD_TASK: "this run cannot build; nothing was published",
    "publish": "this run cannot publish; nothing was published",
    "emit_metadata": "this run's metadata was not sent",
    BROKEN_SPEC_TASK: "this run cannot do anything",
}


def retired_dags(project: Project, domain: str, known: Iterable[KnownProduct]) -> dict[str, DAG]:
    """Notes the domain's products of this parse in the ledger; a retired DAG (keyed by a module-level
    name, as build_domain_dags keys its DAGs) for each product it lists as removed."""
    return {removed.product_id.replace(".", "__"): retired_dag(removed) for removed in record_domain(project, domain, known)}


def retired_dag(removed: RemovedProduct) -> DAG:
    with DAG(
        dag_id=naming.dag_id(removed.product_id),
        description=f"RETIRED: {removed.spec_path} was deleted on {removed.removed_on}",
        schedule=None,
        catchup=False,
        tags=[naming.DAG_TAG, RETIRED_TAG, f"domain:{removed.domain}"],
        default_args={"owner": removed.owner, "retries": 0},
        doc_md=_doc_md(removed),
    ) as dag:
        if removed.broken:
            _failing_task(removed, BROKEN_SPEC_TASK)
        else:
            build, publish = _failing_task(removed, naming.BUILD_TASK), _failing_task(removed, "publish")
            emit = _failing_task(removed, "emit_metadata").as_teardown()  # as in the product's DAG
            build >> publish >> emit
    return dag


def message(removed: RemovedProduct, task_id: str) -> str:
    return (
        f"the spec {removed.spec_path} of {removed.product_id} was deleted on {removed.removed_on}; "
        f"{WHAT_EACH_TASK_CANNOT_DO[task_id]}. To build it again, restore {removed.spec_path} "
        "(its DAG comes back on the next parse); otherwise nothing to do"
    )


def fail_retired(text: str) -> None:
    """Every task of a retired DAG: failed at once, without the retries the product's task
    instances may have been created with."""
    raise AirflowFailException(text)


def _failing_task(removed: RemovedProduct, task_id: str) -> PythonOperator:
    return PythonOperator(
        task_id=task_id,
        python_callable=functools.partial(fail_retired, message(removed, task_id)),
        doc_md="Fails at once: the product's spec was deleted.",
    )


def _doc_md(removed: RemovedProduct) -> str:
    return (
        f"# {removed.product_id} (retired)\n\n"
        f"The spec `{removed.spec_path}` was deleted on {removed.removed_on} "
        f"(first missed at {removed.removed_at}). This DAG only ends the product's pending runs: "
        "each of its tasks fails at once and nothing is built or published.\n\n"
        f"It disappears {retention_days():g} days after the deletion ([dataproducts] retired_dag_days); "
        "a spec with the same id brings the product's DAG back."
    )
