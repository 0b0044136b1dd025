"""What a product's tasks do when they run (the run-time edge; the DAG factory only wires these).

Tasks get nothing but the product id from the DAG: the spec is read again here, so no spec text
ever passes through Airflow's templating, and a run always uses the spec as it is on disk.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pendulum

from dataproducts import dbt_runner, naming
from dataproducts.business_date import CONF_KEY, resolve_business_date
from dataproducts.errors import SpecErrors
from dataproducts.loader import load_spec_file
from dataproducts.project import Project
from dataproducts.spec import DataProductSpec

log = logging.getLogger("dataproducts.run")


def load_product(project: Project, product_id: str) -> DataProductSpec:
    domain, name = product_id.split(".", 1)
    path = next((p for p in (project.specs_dir / domain / f"{name}{s}" for s in (".yaml", ".yml")) if p.is_file()), None)
    if path is None:
        raise FileNotFoundError(f"the spec of {product_id} is gone from {project.specs_dir / domain}")
    entry = load_spec_file(path, project.root)
    if not entry.ok:
        raise SpecErrors(entry.errors)
    return entry.spec


def triggering_extras(context: dict) -> list[dict]:
    events = context.get("triggering_asset_events") or {}
    return [dict(event.extra or {}) for batch in events.values() for event in batch]


def run_build(product_id: str, project_root: str) -> dict[str, Any]:
    """The 'build' task: choose the business date, run `dbt build`, count the output rows."""
    from airflow.sdk import get_current_context

    context = get_current_context()
    project = Project.from_env(Path(project_root))
    spec = load_product(project, product_id)
    dag_run = context["dag_run"]
    _skip_until_every_input_published(spec, context)
    business_date, reason = resolve_business_date(
        conf=dag_run.conf,
        triggering_extras=triggering_extras(context),
        data_interval_start=context.get("data_interval_start"),
        timezone=spec.timezone,
        now=pendulum.now("UTC"),
    )
    log.info("%s builds business date %s (from %s)", product_id, business_date, reason)
    work_dir = project.state_dir / "runs" / product_id / _safe(dag_run.run_id) / f"try_{context['ti'].try_number}"
    result = dbt_runner.build(
        project,
        spec.transform.dbt.project,
        list(spec.transform.dbt.select),
        business_date,
        work_dir,
        [p.table_name for p in spec.output_ports],
        log,
    )
    for table, rows in result.row_counts.items():
        log.info("%s: %s rows for %s", table, rows, business_date)
    return {
        CONF_KEY: business_date.isoformat(),
        "dbt_invocation_id": result.invocation_id,
        "row_counts": result.row_counts,
        "dbt_nodes": [n.__dict__ for n in result.nodes],
    }


def _skip_until_every_input_published(spec: DataProductSpec, context) -> None:
    """'trigger: any' runs on any input's event, but only once every input has published at least
    once: before that, the other inputs' tables may not even exist."""
    if spec.schedule is None or spec.schedule.trigger != "any":
        return
    from airflow.sdk.exceptions import AirflowSkipException

    from dataproducts.assets import product_asset

    never = [
        naming.port_id(p.product, p.port)
        for p in spec.product_inputs
        if len(context["inlet_events"][product_asset(p.product, p.port)]) == 0
    ]
    if never:
        raise AirflowSkipException(f"waiting for the first publication of {', '.join(never)} (trigger: any)")


def run_publish(product_id: str, project_root: str, build: dict[str, Any]) -> None:
    """The 'publish' task: one asset event per output port, carrying what consumers need."""
    from airflow.sdk import get_current_context

    from dataproducts.assets import product_asset

    context = get_current_context()
    spec = load_product(Project.from_env(Path(project_root)), product_id)
    for port in spec.output_ports:
        context["outlet_events"][product_asset(product_id, port.name)].extra = {
            CONF_KEY: build[CONF_KEY],
            "row_count": build["row_counts"].get(port.table_name),
            "dbt_invocation_id": build["dbt_invocation_id"],
            "spec_version": spec.version,
            "table": f"{spec.domain}.{port.table_name}",
        }
        log.info("published %s for %s", naming.port_id(product_id, port.name), build[CONF_KEY])


def fail_with_spec_errors(messages: str) -> None:
    """The single task of a broken spec's DAG."""
    raise RuntimeError("This product's spec is broken; nothing was built.\n" + messages)


def _safe(run_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
