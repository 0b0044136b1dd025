"""The embedded default on one machine: Airflow standalone (SQLite, LocalExecutor) + DuckDB.

`dataproducts demo` (ops/demo.py) prepares the warehouse, starts `airflow standalone` in a local
AIRFLOW_HOME, triggers the root products through Airflow's REST API and waits while the scheduler
starts every consumer from asset events (`run_mesh`), then prints what ran, in what order, with
row counts. The end-to-end test drives the same class with a temporary home.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from dataproducts.core.mesh import Mesh
from dataproducts.core.project import Project
from dataproducts.ops.airflow_api import ACTIVE_STATES, AirflowApi, ProductRun, now_iso, records
from dataproducts.ops.stack import AirflowStack


class EmbeddedAirflow(AirflowStack):
    """`airflow standalone` as one child process (it starts the other components itself)."""

    pool_slots = 1  # DuckDB allows one writer: one slot serialises the builds here (production: more)

    def __init__(self, project: Project, airflow_home: Path, port: int = 8080, log_port: int = 8793):
        super().__init__(project, airflow_home, port, log_port)
        self.env.update(
            {
                "AIRFLOW__CORE__PARALLELISM": "4",  # LocalExecutor forks this many workers up front; builds queue on the pool anyway
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "DATAPRODUCTS_DUCKDB_PATH": self.env.get("DATAPRODUCTS_DUCKDB_PATH", str(project.state_dir / "warehouse.duckdb")),
            }
        )

    @property
    def process(self):
        return self.processes.get("standalone")

    def start(self) -> None:
        self.spawn("standalone", "standalone")

    def describe(self) -> str:
        return f"Airflow standalone at {self.url} (logs: {self.home / 'standalone.log'})"


def run_mesh(api: AirflowApi, mesh: Mesh, business_date: str, timeout: float) -> list[ProductRun]:
    """Trigger the roots for the business date; wait until every product has built that date
    (or a run failed) and no run is active."""
    from dataproducts.core.naming import DAG_TAG

    products = set(mesh.products)
    api.wait_for_dags(products, DAG_TAG)
    for dag_id in sorted(products):
        api.unpause(dag_id)
    since = now_iso()
    for root in mesh.roots():
        api.trigger(root, partition_key=business_date)
    deadline = time.monotonic() + timeout
    built: dict[tuple[str, str], Optional[str]] = {}  # (dag, run) -> business date its build produced
    while True:
        runs = {pid: api.runs_since(pid, since) for pid in products}
        active = [r for rs in runs.values() for r in rs if r["state"] in ACTIVE_STATES]
        for pid, items in runs.items():
            for run in items:
                if run["state"] == "success" and (pid, run["dag_run_id"]) not in built:
                    outcome = api.built(pid, run["dag_run_id"])
                    built[(pid, run["dag_run_id"])] = outcome.business_date_iso if outcome else None
        done = {pid for (pid, _), date in built.items() if date == business_date}
        failed = any(r["state"] == "failed" for rs in runs.values() for r in rs)
        if not active and (done == products or failed):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the mesh did not finish within {timeout:.0f} s; still waiting for {sorted(products - done)}")
        time.sleep(3)
    return records(api, runs)
