"""The embedded default on one machine: Airflow (LocalExecutor, SQLite) + DuckDB.

`dataproducts demo` (ops/demo.py) prepares the warehouse, starts Airflow's components in a local
AIRFLOW_HOME, triggers the root products through Airflow's REST API and waits while the scheduler
starts every consumer from asset events (`run_mesh`), then prints what ran, in what order, with
row counts. The end-to-end test drives the same class with a temporary home.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Optional

from airflow_client.client.models.dag_run_state import DagRunState

from dataproducts.core.mesh import Mesh
from dataproducts.core.project import Project
from dataproducts.ops.airflow_api import ACTIVE_STATES, AirflowApi, ProductRun, now_iso, records
from dataproducts.ops.stack import AirflowStack
from dataproducts.ops.waiting import Runs, wait_for_dags, wait_for_runs, wait_until

# What a product run spends on Airflow rather than on its work, cut by settings a production
# LocalExecutor wants as well (README: A product run's wall time, split):
RUN_LATENCY_SETTINGS = {
    # the scheduler sleeps this long after a loop that found nothing to do (default 1 s), and each
    # run waits for such a loop four times: to start its first task, after each task, to end
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
    # workers forked from a forkserver that imported what product tasks import (dbt, DataHub)
    "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
    "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": "airflow,dataproducts.airflow.worker_preload",
}


# SQLite has one writer at a time, and Python's sqlite3 waits 5 s for the write lock by default.
# Under load (the scheduler, the api-server, the dag-processor and the task processes writing on a
# busy 2-core machine) a write waited longer: "database is locked", which ends the scheduler's loop
# and the scheduler with it (seen in CI: every run of that Airflow stayed queued). Wait longer.
SQLITE_BUSY_TIMEOUT_SECONDS = 60


class EmbeddedAirflow(AirflowStack):
    """Airflow's components on one machine, each its own supervised process (started again when it
    exits, as the production stack's are), with the LocalExecutor on SQLite.

    Not `airflow standalone`, for two reasons seen in CI. Standalone does not start again a component
    that exits (a scheduler ended by "database is locked" left every run queued). And its one
    api-server serves both Airflow's REST API and the Task Execution API in one event loop:
    Airflow's audit log of a REST write (`action_logging`) commits on that loop, so with SQLite's one
    writer, a trigger arriving while a task's request held the write lock blocked the loop, the
    task's request could not finish (its commit needs the loop) and everything waited for SQLite's
    busy timeout, then failed. Here the Task Execution API has an api-server of its own."""

    pool_slots = 1  # DuckDB allows one writer: one slot serialises the builds here (production: more)

    def __init__(
        self, project: Project, airflow_home: Path, port: int = 8080, log_port: int = 8793, execution_port: Optional[int] = None
    ):
        super().__init__(project, airflow_home, port, log_port)
        self.execution_port = execution_port or log_port + 2  # log_port + 1 is the triggerer's log server
        self.env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",  # at most this many LocalExecutor workers; builds queue on the pool anyway
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{self.execution_port}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.env.get(
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                    f"sqlite:///{self.home.resolve() / 'airflow.db'}?timeout={SQLITE_BUSY_TIMEOUT_SECONDS}",
                ),
                "DATAPRODUCTS_DUCKDB_PATH": self.env.get("DATAPRODUCTS_DUCKDB_PATH", str(project.state_dir / "warehouse.duckdb")),
                **{key: self.env.get(key, value) for key, value in RUN_LATENCY_SETTINGS.items()},
            }
        )

    def start(self) -> None:
        self.spawn("api-server", "api-server", "--apps", "core")
        self.spawn("execution-api", "api-server", "--apps", "execution", "--port", str(self.execution_port))
        for component in ("scheduler", "dag-processor", "triggerer"):
            self.spawn(component, component)
        self.supervise()

    def wait_until_up(self, timeout: float = 240) -> None:
        """And until the Task Execution API, a process of its own here, answers: a task started
        before it listens would spend its first calls on retries."""
        super().wait_until_up(timeout)
        url = f"http://localhost:{self.execution_port}/execution/health"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        def answers() -> Optional[bool]:
            try:
                with opener.open(url, timeout=30) as response:
                    return True if response.status == 200 else None
            except OSError:
                return None

        wait_until(
            answers, timeout, lambda: f"the Task Execution API at {url}; see {self.home / 'execution-api.log'}", interval=1
        )

    def describe(self) -> str:
        return f"Airflow (LocalExecutor, SQLite) at {self.url} (logs in {self.home})"


def run_mesh(api: AirflowApi, mesh: Mesh, business_date: str, timeout: float) -> list[ProductRun]:
    """Trigger the roots for the business date; wait until every product has built that date
    (or a run failed) and no run is active."""
    from dataproducts.core.naming import DAG_TAG

    products = set(mesh.products)
    wait_for_dags(api, products, DAG_TAG)
    for dag_id in sorted(products):
        api.unpause(dag_id)
    since = now_iso()
    for root in mesh.roots():
        api.trigger(root, partition_key=business_date)
    built: dict[tuple[str, str], Optional[str]] = {}  # (dag, run) -> business date its build produced

    def finished(runs: Runs) -> bool:
        for pid, items in runs.items():
            for run in items:
                if run.state == DagRunState.SUCCESS and (pid, run.dag_run_id) not in built:
                    outcome = api.built(pid, run.dag_run_id)
                    built[(pid, run.dag_run_id)] = outcome.business_date_iso if outcome else None
        active = any(r.state in ACTIVE_STATES for rs in runs.values() for r in rs)
        failed = any(r.state == DagRunState.FAILED for rs in runs.values() for r in rs)
        return not active and (done() == products or failed)

    def done() -> set[str]:
        return {pid for (pid, _), date in built.items() if date == business_date}

    def waiting_for() -> str:
        return f"the mesh to build {business_date}; still waiting for {sorted(products - done())}"

    return records(api, wait_for_runs(api, products, since, finished, timeout, waiting_for))
