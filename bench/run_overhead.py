#!/usr/bin/env python
"""A product run's wall time, split into its parts, on the embedded default (Airflow's
components with the LocalExecutor on SQLite, DuckDB, DataHub metadata to the local sink).

A temporary copy of the repository's example mesh is prepared and run for one business date (so
every input is published), then one product is rebuilt on its own, `--repeat` times, while
nothing else runs; its consumers' runs are waited for between repeats. Per run:

  wall            the DAG run's start -> end, as Airflow records it
  queue           per task: queued -> started (scheduler loop and executor hand-off)
  task            per task: started -> ended (a task process: start, DAG file, our code)
  hand-off        wall - every task's queue and task time: the scheduler seeing the run start, one
                  task end and queueing the next, the last end and ending the run
  build phases    inside the build task: dbt import, dbt parse, dbt build, row/column
                  inspection, quality rules (BuildOutcome.seconds)
  dbt nodes       dbt's own execution time of the selection's nodes (run_results)
  overhead        wall - dbt nodes: everything the platform adds to dbt's own work

Run from the repository root:

    .venv/bin/python bench/run_overhead.py [--product pricing.market_prices] [--repeat 5]

Bytecode caching is on in Airflow's processes (as in production) unless PYTHONDONTWRITEBYTECODE is
set in the calling shell; the script says which.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import urllib.parse
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUSINESS_DATE = "2026-11-03"
TASKS = ("build", "publish", "emit_metadata")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seconds_between(start, end) -> float:
    """Seconds between two instants (datetimes, or ISO strings as the plain REST answers hold)."""
    if not start or not end:
        return float("nan")
    start, end = (datetime.fromisoformat(v.replace("Z", "+00:00")) if isinstance(v, str) else v for v in (start, end))
    return (end - start).total_seconds()


def copy_example(root: Path) -> None:
    for part in ("dags", "product_specs", "dbt"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb", ".compile"))


def wait_idle(api, products: set[str], since: str, timeout: float = 600) -> None:
    from dataproducts.ops.airflow_api import ACTIVE_STATES
    from dataproducts.ops.waiting import wait_for_runs

    def idle(runs) -> bool:
        return not any(r.state in ACTIVE_STATES for rs in runs.values() for r in rs)

    wait_for_runs(api, products, since, idle, timeout, lambda: "the product and its consumers to finish")


def split(api, product: str, run_id: str) -> dict[str, float]:
    """The parts of one finished run, in seconds."""
    quoted = urllib.parse.quote(run_id, safe="")
    run = api.get(f"/api/v2/dags/{product}/dagRuns/{quoted}")
    parts = {"wall": seconds_between(run["start_date"], run["end_date"])}
    for ti in api.get(f"/api/v2/dags/{product}/dagRuns/{quoted}/taskInstances")["task_instances"]:
        if ti["task_id"] in TASKS:
            parts[f"queue {ti['task_id']}"] = seconds_between(ti.get("queued_when"), ti["start_date"])
            parts[f"task {ti['task_id']}"] = seconds_between(ti["start_date"], ti["end_date"])
    parts["hand-off"] = parts["wall"] - sum(v for k, v in parts.items() if k.startswith(("queue ", "task ")))
    built = api.built(product, run_id)
    if built is None:
        raise RuntimeError(f"{product} run {run_id} built nothing")
    for phase, value in built.seconds.items():
        parts[f"build: {phase}"] = value
    parts["dbt nodes"] = sum(n.seconds for n in built.dbt_nodes)
    parts["overhead"] = parts["wall"] - parts["dbt nodes"]
    return parts


def rebuild_once(api, product: str, products: set[str]) -> str:
    from dataproducts.ops.airflow_api import now_iso

    since = now_iso()
    run_id = api.trigger(product, conf={"business_date": BUSINESS_DATE})
    wait_idle(api, products, since)
    return run_id


def scheduler_idle_cpu(airflow, seconds: float = 20) -> float:
    """The scheduler's CPU seconds per wall second while nothing runs (its idle loops)."""
    import time

    import psutil

    scheduler = psutil.Process(airflow.processes["scheduler"].pid)
    before = sum(scheduler.cpu_times()[:2])
    time.sleep(seconds)
    return (sum(scheduler.cpu_times()[:2]) - before) / seconds


def report(samples: list[dict[str, float]]) -> str:
    keys = list(dict.fromkeys(k for s in samples for k in s))
    lines = [f"{'part':24s} {'median':>8s} {'min':>8s} {'max':>8s}"]
    for key in keys:
        values = [s[key] for s in samples if key in s]
        lines.append(f"{key:24s} {statistics.median(values):8.2f} {min(values):8.2f} {max(values):8.2f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--product", default="pricing.market_prices")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    caching = "off (PYTHONDONTWRITEBYTECODE is set)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    root = Path(tempfile.mkdtemp(prefix="run_overhead_"))
    os.environ["DATAPRODUCTS_STATE_DIR"] = str(root / ".local")
    os.environ["DATAPRODUCTS_DUCKDB_PATH"] = str(root / ".local" / "warehouse.duckdb")
    from dataproducts.core.mesh import load_mesh
    from dataproducts.core.project import Project
    from dataproducts.ops.embedded import EmbeddedAirflow, run_mesh

    copy_example(root)
    project = Project(root)
    airflow = EmbeddedAirflow(project, root / ".local" / "airflow", free_port(), free_port())
    try:
        airflow.prepare()
        with airflow:
            airflow.wait_until_up(600)
            mesh = load_mesh(project)
            products = set(mesh.products)
            run_mesh(airflow.api, mesh, BUSINESS_DATE, timeout=900)
            load_before = os.getloadavg()[0]
            samples = [
                split(airflow.api, args.product, rebuild_once(airflow.api, args.product, products)) for _ in range(args.repeat)
            ]
            idle_cpu = scheduler_idle_cpu(airflow)
    finally:
        airflow.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{args.product}, business date {BUSINESS_DATE}, {args.repeat} runs alone, bytecode caching {caching}, "
          f"load average {load_before:.1f} before the runs, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    print(report(samples))
    print(f"scheduler CPU while idle: {idle_cpu:.2f} s per s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
