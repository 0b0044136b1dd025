"""Rebuilding business dates of a product and of everything that depends on it.

Each date is a partition key, so a rerun of date D is a run of the product with partition key D,
and its publications carry D. Airflow's partitioned scheduling then starts, for D only, every
consumer all of whose inputs republished D; a consumer with an input outside the rerun (which
published D long ago) would wait for that input, so the rerun triggers it with partition key D
once its rerun upstreams have rebuilt D (unless the scheduler already started it). Its build
checks the per-date rule like any run (dataproducts.core.readiness), so a consumer whose other
input never published D fails naming it, and the rerun stops there with what is left to do.
Several dates are rebuilt one after the other, oldest first, each cascading for itself only;
a full refresh recreates the product's tables with the first date, and the later dates are added
to them. An interrupted range resumes where it stopped (dataproducts.ops.rerun_ledger).

A consumer triggered by hand leaves Airflow's pending partitioned run of D (the rerun input's
event alone) waiting: it starts when the other inputs publish D again, which rebuilds D from D.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from datetime import datetime
from typing import Optional

from airflow_client.client.models.dag_run_response import DAGRunResponse
from airflow_client.client.models.dag_run_state import DagRunState

from dataproducts.core.business_date import FULL_REFRESH_KEY
from dataproducts.core.mesh import Mesh
from dataproducts.ops.airflow_api import ACTIVE_STATES, AirflowApi, ProductRun, now_iso, records
from dataproducts.ops.rerun_ledger import RerunLedger
from dataproducts.ops.waiting import Runs, WaitTimedOut, wait_for_runs

GRACE_SECONDS = 10  # time for the scheduler to start a consumer from events before we trigger it


class RerunFailed(RuntimeError):
    pass


def plan(mesh: Mesh, product_id: str, downstream: bool = True) -> list[str]:
    """The product and (unless not asked for) everything downstream of it, in run order."""
    return [product_id, *(mesh.downstream_of(product_id) if downstream else [])]


def dates_between(start: dt.date, end: dt.date) -> list[str]:
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def rerun_dates(
    api: AirflowApi,
    mesh: Mesh,
    ledger: RerunLedger,
    timeout: float = 1800,
    say: Callable[[str], None] = print,
) -> list[ProductRun]:
    """Each date of the ledger's request in turn, each with its own cascade (a backfill of a date
    range), skipping the dates an interrupted run of the same request already rebuilt."""
    request = ledger.request
    if ledger.done:
        say(
            f"resuming: {len(ledger.done)} of {len(request.dates)} dates were rebuilt by the interrupted rerun ({', '.join(ledger.done)})"
        )
    products = len(plan(mesh, request.product_id, request.downstream))
    progress = Progress(len(request.dates) * products, say, already=len(ledger.done) * products)
    done: list[ProductRun] = []
    for index, date in enumerate(request.dates):
        if date in ledger.done:
            continue
        refresh = request.full_refresh and index == 0  # later dates are added to the recreated tables
        done.extend(rerun(api, mesh, request.product_id, date, timeout, say, refresh, request.downstream, progress.step))
        ledger.mark_done(date)
    ledger.finish()
    return done


class Progress:
    """One line per product rebuilt: a bar, how many of all, the date and the product."""

    WIDTH = 20

    def __init__(self, total: int, say: Callable[[str], None], already: int = 0):
        self.total, self.steps, self.say = max(total, 1), already, say

    def step(self, product_id: str, business_date: str) -> None:
        self.steps += 1
        filled = round(self.WIDTH * self.steps / self.total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.say(f"[{bar}] {self.steps}/{self.total}  {business_date}  {product_id} rebuilt")


def rerun(
    api: AirflowApi,
    mesh: Mesh,
    product_id: str,
    business_date: str,
    timeout: float = 1800,
    say: Callable[[str], None] = print,
    full_refresh: bool = False,
    downstream: bool = True,
    rebuilt: Optional[Callable[[str, str], None]] = None,
) -> list[ProductRun]:
    """One date of the product and, unless `downstream` is off, of everything downstream of it.
    (Off, consumers that Airflow starts from the new events by itself, `trigger: any`, still run.)"""
    targets = plan(mesh, product_id, downstream)
    rebuilt = rebuilt or (lambda pid, date: say(f"{pid} rebuilt {date}"))
    since = now_iso()
    api.trigger(product_id, {FULL_REFRESH_KEY: True} if full_refresh else None, partition_key=business_date)
    say(f"triggered {product_id} for {business_date}" + (" with a full refresh" if full_refresh else ""))
    triggered = {product_id}
    ready_at: dict[str, float] = {}
    published: dict[str, datetime] = {}  # product -> when its rebuild published (asset events)

    def step(all_runs: Runs) -> bool:
        """Note what rebuilt, trigger what is ready but was not started; True once all rebuilt."""
        runs = _of_date(all_runs, business_date)
        for pid in targets:
            upstreams = [up for up in mesh.upstream_products(pid) if up in targets]
            if pid in published or not all(up in published for up in upstreams):
                continue
            not_before = max((published[up] for up in upstreams), default=None)
            relevant = [r for r in runs[pid] if not_before is None or r.run_after >= not_before]
            building = _building_run(api, pid, relevant, business_date)
            if building:
                published[pid] = _published_at(api, pid, building)
                rebuilt(pid, business_date)
            elif any(r.state == DagRunState.FAILED for r in relevant):
                left = [t for t in targets if t not in published and t != pid]
                raise RerunFailed(f"{pid} failed for {business_date}; not rebuilt: {', '.join(left) or 'nothing else'}")
            elif pid not in triggered:
                ready_at.setdefault(pid, time.monotonic())
                if relevant or time.monotonic() - ready_at[pid] < GRACE_SECONDS:
                    continue  # the scheduler started it from the upstream events, or may be about to
                api.trigger(pid, partition_key=business_date)
                triggered.add(pid)
                say(f"triggered {pid} for {business_date} (its other inputs were not rebuilt)")
        return set(published) == set(targets)

    def waiting_for() -> str:
        return f"the rerun of {business_date}; still waiting for {sorted(set(targets) - set(published))}"

    try:
        runs = wait_for_runs(api, targets, since, step, timeout, waiting_for)
    except WaitTimedOut as exc:
        raise RerunFailed(str(exc)) from None
    return records(api, _of_date(runs, business_date))


def _of_date(runs: Runs, business_date: str) -> Runs:
    """Runs of other dates (a schedule, another rerun) are none of this rerun's business."""
    return {pid: [r for r in items if r.partition_key in (None, business_date)] for pid, items in runs.items()}


def _building_run(api: AirflowApi, pid: str, runs: list[DAGRunResponse], business_date: str) -> DAGRunResponse | None:
    """Among runs, the finished, successful one that rebuilt the date (none while one is active)."""
    if any(r.state in ACTIVE_STATES for r in runs):
        return None
    for run in runs:
        if run.state == DagRunState.SUCCESS:
            built = api.built(pid, run.dag_run_id)
            if built is not None and built.business_date_iso == business_date:
                return run
    return None


def _published_at(api: AirflowApi, pid: str, run: DAGRunResponse) -> datetime:
    events = api.asset_events(source_dag_id=pid, source_run_id=run.dag_run_id)
    latest = max((e.timestamp for e in events), default=None)
    return latest or run.end_date or run.run_after
