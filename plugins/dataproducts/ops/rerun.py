"""Rebuilding one business date of a product and of everything that depends on it.

Asset scheduling alone does not cascade a rerun: a consumer that waits for all of its inputs does
not start when only one of them is rebuilt, and the rerun's event would stay in its queue and start
it early on a later day, with another input's stale data. So the rerun triggers the product, then
each downstream product (in run order) once its rerun upstreams have rebuilt the date, unless the
scheduler has already started it from their events; after triggering one by hand it clears that
DAG's queued asset events. Every product builds the date from the run conf, so every step is
idempotent, and the first failure stops the rerun with what is left to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from dataproducts.core.business_date import CONF_KEY
from dataproducts.core.mesh import Mesh
from dataproducts.ops.airflow_api import ACTIVE_STATES, AirflowApi, ProductRun, now_iso, records

GRACE_SECONDS = 10  # time for the scheduler to start a consumer from events before we trigger it


class RerunFailed(RuntimeError):
    pass


def plan(mesh: Mesh, product_id: str) -> list[str]:
    """The product and everything downstream of it, in run order."""
    return [product_id, *mesh.downstream_of(product_id)]


def rerun(
    api: AirflowApi, mesh: Mesh, product_id: str, business_date: str, timeout: float = 1800, say: Callable[[str], None] = print
) -> list[ProductRun]:
    targets = plan(mesh, product_id)
    conf = {CONF_KEY: business_date}
    since = now_iso()
    api.trigger(product_id, conf)
    say(f"triggered {product_id} for {business_date}")
    triggered = {product_id}
    ready_at: dict[str, float] = {}
    published: dict[str, datetime] = {}  # product -> when its rebuild published (asset events)
    deadline = time.monotonic() + timeout
    while set(published) != set(targets):
        runs = {pid: api.runs_since(pid, since) for pid in targets}
        for pid in targets:
            upstreams = [up for up in mesh.upstream_products(pid) if up in targets]
            if pid in published or not all(up in published for up in upstreams):
                continue
            not_before = max((published[up] for up in upstreams), default=None)
            relevant = [r for r in runs[pid] if not_before is None or _time(r["run_after"]) >= not_before]
            building = _building_run(api, pid, relevant, business_date)
            if building:
                published[pid] = _published_at(api, pid, building)
                say(f"{pid} rebuilt {business_date}")
            elif any(r["state"] == "failed" for r in relevant):
                left = [t for t in targets if t not in published and t != pid]
                raise RerunFailed(f"{pid} failed for {business_date}; not rebuilt: {', '.join(left) or 'nothing else'}")
            elif pid not in triggered:
                ready_at.setdefault(pid, time.monotonic())
                if relevant or time.monotonic() - ready_at[pid] < GRACE_SECONDS:
                    continue  # the scheduler started it from the upstream events, or may be about to
                api.trigger(pid, conf)
                api.delete_queued_events(pid)
                triggered.add(pid)
                say(f"triggered {pid} for {business_date} (its other inputs were not rebuilt)")
        if time.monotonic() > deadline:
            raise RerunFailed(f"not finished within {timeout:.0f} s; still waiting for {sorted(set(targets) - set(published))}")
        time.sleep(3)
    return records(api, {pid: api.runs_since(pid, since) for pid in targets})


def _building_run(api: AirflowApi, pid: str, runs: list[dict], business_date: str) -> dict | None:
    """Among runs, the finished, successful one that rebuilt the date (none while one is active)."""
    if any(r["state"] in ACTIVE_STATES for r in runs):
        return None
    for run in runs:
        if run["state"] == "success" and (api.xcom(pid, run["dag_run_id"], "build") or {}).get(CONF_KEY) == business_date:
            return run
    return None


def _published_at(api: AirflowApi, pid: str, run: dict) -> datetime:
    events = api.get("/api/v2/assets/events", source_dag_id=pid, source_run_id=run["dag_run_id"])["asset_events"]
    return max((_time(e["timestamp"]) for e in events), default=_time(run["end_date"]))


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
