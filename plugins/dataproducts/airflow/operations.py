"""How each product is doing, from what Airflow recorded: runs, business dates, publications.

The Data mesh page (dataproducts.airflow.ui) runs inside Airflow's api-server, which reads
Airflow's metadata database itself; so does this module, with Airflow's own models, in three
queries per page whatever the number of products:

* the latest runs of every product's DAG (a window over dag_run), with their build task's state;
* the build task's XComs of those runs: the business date each run built (or was building when
  it failed), which is the truth for every kind of run (manual, asset-triggered, cron);
* the latest asset event of every output port: when it last published, which date, how many rows.

`attach` then turns these facts into what the page shows per product: the last run, the date it
built, each port's freshness against its SLA (`freshness.max_age_hours`: stale when the latest
publication is older, the rule of dataproducts.core.freshness) and open incidents (the platform raises one in DataHub when a run fails and
resolves it with the next success, so the latest non-skipped run failing means one is open).
Facts that other parts of the platform add to a product (a quality score, incidents of their
own) are kept as they are.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any, Optional
from urllib.parse import quote

from dataproducts.core import freshness as freshness_rule
from dataproducts.core.run_outcome import BUILD_TASK, OUTCOME_KEY, RETURN_VALUE_KEY, BuildOutcome

log = logging.getLogger(__name__)

RUNS_PER_PRODUCT = 5  # enough to find the last run that built something behind a few skipped ones
ACTIVE = {"queued", "running"}


def read_facts(dag_ids: Iterable[str], port_ids: Iterable[str]) -> dict[str, Any]:
    """{'runs': {dag_id: [run, ...] newest first}, 'publications': {port_id: event}} from Airflow's DB."""
    from airflow.utils.session import create_session

    dag_ids, port_ids = sorted(set(dag_ids)), sorted(set(port_ids))
    with create_session() as session:
        runs = _latest_runs(session, dag_ids)
        _add_build_facts(session, runs)
        publications = _latest_publications(session, port_ids)
    return {"runs": runs, "publications": publications}


def _latest_runs(session, dag_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    from airflow.models.dagrun import DagRun
    from sqlalchemy import func, select

    if not dag_ids:
        return {}
    rank = func.row_number().over(partition_by=DagRun.dag_id, order_by=(DagRun.run_after.desc(), DagRun.id.desc())).label("rank")
    ranked = select(DagRun.id, rank).where(DagRun.dag_id.in_(dag_ids)).subquery()
    query = (
        select(DagRun)
        .join(ranked, ranked.c.id == DagRun.id)
        .where(ranked.c.rank <= RUNS_PER_PRODUCT)
        .order_by(DagRun.dag_id, ranked.c.rank)
    )
    runs: dict[str, list[dict[str, Any]]] = {}
    for run in session.scalars(query):
        runs.setdefault(run.dag_id, []).append(
            {
                "run_id": run.run_id,
                "state": str(run.state.value if hasattr(run.state, "value") else run.state),
                "run_type": str(run.run_type.value if hasattr(run.run_type, "value") else run.run_type),
                "run_after": _iso(run.run_after),
                "start_date": _iso(run.start_date),
                "end_date": _iso(run.end_date),
                "partition_key": getattr(run, "partition_key", None),
                "conf_business_date": (run.conf or {}).get("business_date") if isinstance(run.conf, dict) else None,
                "note": run.note,
            }
        )
    return runs


def _add_build_facts(session, runs: dict[str, list[dict[str, Any]]]) -> None:
    """Each run's build task state and the business date its build reported (XCom)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from sqlalchemy import select, tuple_

    keys = [(dag_id, run["run_id"]) for dag_id, items in runs.items() for run in items]
    if not keys:
        return
    states = {
        (dag_id, run_id): str(getattr(state, "value", state)) if state else None
        for dag_id, run_id, state in session.execute(
            select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.state).where(
                TaskInstance.task_id == BUILD_TASK, tuple_(TaskInstance.dag_id, TaskInstance.run_id).in_(keys)
            )
        )
    }
    dates: dict[tuple[str, str], str] = {}
    for row in session.scalars(
        select(XComModel).where(
            XComModel.task_id == BUILD_TASK,
            XComModel.key.in_([RETURN_VALUE_KEY, OUTCOME_KEY]),
            tuple_(XComModel.dag_id, XComModel.run_id).in_(keys),
        )
    ):
        outcome = _build_outcome(row)
        if outcome is not None and outcome.business_date_iso:
            dates.setdefault((row.dag_id, row.run_id), outcome.business_date_iso)
    for dag_id, items in runs.items():
        for run in items:
            run["build_state"] = states.get((dag_id, run["run_id"]))
            run["business_date"] = dates.get((dag_id, run["run_id"])) or run["partition_key"] or run["conf_business_date"]


def _build_outcome(row) -> Optional[BuildOutcome]:
    from airflow.models.xcom import XComModel

    try:
        return BuildOutcome.from_xcom(XComModel.deserialize_value(row))
    except Exception:  # an XCom someone else wrote (OutcomeUnreadable, or not even JSON): not ours to read
        return None


def _latest_publications(session, port_ids: list[str]) -> dict[str, dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from sqlalchemy import func, select

    if not port_ids:
        return {}
    rank = (
        func.row_number()
        .over(partition_by=AssetEvent.asset_id, order_by=(AssetEvent.timestamp.desc(), AssetEvent.id.desc()))
        .label("rank")
    )
    ranked = (
        select(AssetEvent.id, AssetModel.name, rank)
        .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
        .where(AssetModel.name.in_(port_ids))
        .subquery()
    )
    query = select(AssetEvent, ranked.c.name).join(ranked, ranked.c.id == AssetEvent.id).where(ranked.c.rank == 1)
    return {
        name: {
            "published_at": _iso(event.timestamp),
            "business_date": (event.extra or {}).get("business_date"),
            "rows": (event.extra or {}).get("row_count"),
            "dag_id": event.source_dag_id,
            "run_id": event.source_run_id,
        }
        for event, name in session.execute(query)
    }


def _iso(value: Optional[dt.datetime]) -> Optional[str]:
    return value.astimezone(dt.UTC).isoformat() if value else None


# --- the facts as the page shows them (pure) -----------------------------------------------------


def attach(data: dict[str, Any], facts: dict[str, Any], now: dt.datetime, airflow_base: str = "") -> None:
    """Adds last run, business date, freshness and incidents to every product of `data`, and a summary."""
    runs, publications = facts.get("runs", {}), facts.get("publications", {})
    for product in data["products"]:
        history = [_with_url(run, product["dag_id"], airflow_base) for run in runs.get(product["dag_id"], [])]
        product["last_run"] = history[0] if history else None
        product["last_built"] = next((r for r in history if r.get("build_state") == "success"), None)
        for port in product["output_ports"]:
            port["freshness"] = freshness(publications.get(port["asset"]), port.get("freshness_hours"), now)
        product["freshness"] = worst([p["freshness"]["state"] for p in product["output_ports"]])
        product.setdefault("incidents", [])
        decided = next((r for r in history if r.get("build_state") != "skipped" and r["state"] not in ACTIVE), None)
        if decided and decided["state"] == "failed" and not any(i.get("source") == "run" for i in product["incidents"]):
            product["incidents"].append(
                {
                    "source": "run",
                    "title": "the last run failed"
                    + (f" building {decided['business_date']}" if decided["business_date"] else ""),
                    "since": decided["end_date"] or decided["run_after"],
                    "url": decided["url"],
                }
            )
    for item in data["broken"]:
        history = [_with_url(run, item["dag_id"], airflow_base) for run in runs.get(item["dag_id"], [])]
        item["last_run"] = history[0] if history else None
    data["summary"] = summary(data)


def freshness(publication: Optional[dict[str, Any]], max_age_hours: Optional[float], now: dt.datetime) -> dict[str, Any]:
    """The port's state by the one rule (dataproducts.core.freshness), with its latest publication."""
    published_at = freshness_rule.parse_time(publication["published_at"]) if publication else None
    result = freshness_rule.evaluate(published_at, max_age_hours, now)
    if publication is None:
        return {"state": result.state, "max_age_hours": max_age_hours}
    return {**publication, "state": result.state, "age_hours": result.age_hours, "max_age_hours": max_age_hours}


worst = freshness_rule.worst


def summary(data: dict[str, Any]) -> dict[str, int]:
    products = data["products"]
    return {
        "products": len(products),
        "domains": len({p["domain"] for p in products}),
        "failed": sum(1 for p in products if (p.get("last_run") or {}).get("state") == "failed"),
        "running": sum(1 for p in products if (p.get("last_run") or {}).get("state") in ACTIVE),
        "stale": sum(1 for p in products if p.get("freshness") == "stale"),
        "incidents": sum(len(p.get("incidents") or []) for p in products),
        "broken": len(data["broken"]),
    }


def _with_url(run: dict[str, Any], dag_id: str, airflow_base: str) -> dict[str, Any]:
    return {**run, "url": f"{airflow_base}/dags/{quote(dag_id, safe='')}/runs/{quote(run['run_id'], safe='')}"}
