"""The embedded default on one machine: Airflow standalone (SQLite, LocalExecutor) + DuckDB.

`dataproducts demo` prepares the warehouse, starts `airflow standalone` in a local AIRFLOW_HOME,
triggers the root products through Airflow's REST API and waits while the scheduler starts every
consumer from asset events, then prints what ran, in what order, with row counts. The end-to-end
test drives the same class with a temporary home.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
from pathlib import Path
from typing import Optional

from dataproducts.core.mesh import Mesh, load_mesh
from dataproducts.core.project import Project
from dataproducts.ops.airflow_api import ACTIVE_STATES, AirflowApi, ProductRun, now_iso, records, report


def airflow_env(project: Project, airflow_home: Path, port: int, log_port: int) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__UNIT_TEST_MODE"}
    env.update(
        {
            "PATH": bin_dir + os.pathsep + env.get("PATH", ""),  # standalone calls `airflow` by name
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(project.root / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(project.root / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",  # LocalExecutor forks this many workers up front; builds queue on the pool anyway
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(log_port + 1),
            "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": _secret(airflow_home / "jwt_secret"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__DATAHUB__ENABLED": "False",  # dataproducts emits its own metadata, with an outbox
            "AIRFLOW__DATAHUB__CAPTURE_AIRFLOW_ASSETS": "False",
            "AIRFLOW__OPENLINEAGE__DISABLED": "True",
            "DATAPRODUCTS_HOME": str(project.root),
            "DATAPRODUCTS_STATE_DIR": str(project.state_dir),
            "DATAPRODUCTS_DUCKDB_PATH": env.get("DATAPRODUCTS_DUCKDB_PATH", str(project.state_dir / "warehouse.duckdb")),
            "DBT_PROFILES_DIR": str(project.dbt_dir),
            "NO_PROXY": "localhost,127.0.0.1",
            "no_proxy": "localhost,127.0.0.1",
        }
    )
    return env


def _secret(path: Path) -> str:
    """One secret per Airflow home, shared by all its processes (tokens must verify across them)."""
    if not path.is_file():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


class EmbeddedAirflow:
    """`airflow standalone` as a child process, and a small REST client for it."""

    def __init__(self, project: Project, airflow_home: Path, port: int = 8080, log_port: int = 8793):
        self.project = project
        self.home = airflow_home
        self.port = port
        self.env = airflow_env(project, airflow_home, port, log_port)
        self.process: Optional[subprocess.Popen] = None
        self._api: Optional[AirflowApi] = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def airflow(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, check=True, stdout=subprocess.DEVNULL)

    def prepare(self) -> None:
        """Compile dbt, load the landing data, migrate Airflow's database, create the warehouse pool."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.project.state_dir.mkdir(parents=True, exist_ok=True)
        for command in (["compile"], ["seed-landing"]):
            subprocess.run(
                [sys.executable, "-m", "dataproducts.cli", "--root", str(self.project.root), *command], env=self.env, check=True
            )
        self.airflow("db", "migrate")
        # DuckDB allows one writer: one slot serialises the builds here (production: more slots)
        self.airflow("pools", "set", self.project.warehouse_pool, "1", "dbt builds against the warehouse")

    def start(self) -> None:
        log = (self.home / "standalone.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        """Stop standalone and every process it started: its components run in process groups of
        their own, so stopping standalone's group alone would orphan the scheduler and its workers."""
        if not self.process or self.process.poll() is not None:
            return
        import psutil

        root = psutil.Process(self.process.pid)
        processes = [root, *root.children(recursive=True)]
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.terminate()
        _, alive = psutil.wait_procs(processes, timeout=30)
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(alive, timeout=10)
        self.process.wait()

    def wait(self) -> None:
        """Until Airflow exits (or Ctrl-C)."""
        if self.process is not None:
            self.process.wait()

    def __enter__(self) -> EmbeddedAirflow:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_until_up(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(
                    f"airflow standalone exited with {self.process.returncode}; see {self.home / 'standalone.log'}"
                )
            try:
                health = AirflowApi(self.url).health()
                if health.get("scheduler", {}).get("status") == "healthy" and self._password():
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(2)
        raise TimeoutError(f"Airflow did not come up within {timeout:.0f} s; see {self.home / 'standalone.log'}")

    @property
    def api(self) -> AirflowApi:
        if self._api is None:
            self._api = AirflowApi(self.url, username="admin", password=self._password())
        return self._api

    def _password(self) -> Optional[str]:
        path = self.home / "simple_auth_manager_passwords.json.generated"
        return json.loads(path.read_text()).get("admin") if path.is_file() else None


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
        api.trigger(root, {"business_date": business_date})
    deadline = time.monotonic() + timeout
    built: dict[tuple[str, str], Optional[str]] = {}  # (dag, run) -> business date its build produced
    while True:
        runs = {pid: api.runs_since(pid, since) for pid in products}
        active = [r for rs in runs.values() for r in rs if r["state"] in ACTIVE_STATES]
        for pid, items in runs.items():
            for run in items:
                if run["state"] == "success" and (pid, run["dag_run_id"]) not in built:
                    built[(pid, run["dag_run_id"])] = (api.xcom(pid, run["dag_run_id"], "build") or {}).get("business_date")
        done = {pid for (pid, _), date in built.items() if date == business_date}
        failed = any(r["state"] == "failed" for rs in runs.values() for r in rs)
        if not active and (done == products or failed):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the mesh did not finish within {timeout:.0f} s; still waiting for {sorted(products - done)}")
        time.sleep(3)
    return records(api, runs)


def metadata_report(project: Project) -> str:
    """Flush what the runs left in the outbox, then say what the local catalogue holds."""
    import logging

    from dataproducts.metadata import delivery

    logging.getLogger("dataproducts.metadata").setLevel(logging.WARNING)  # the summary below says it all
    flushed = delivery.flush(project)
    summary = delivery.lite_summary(project)
    quarantined = f", {len(flushed.quarantine)} quarantined" if flushed.quarantine else ""
    lines = [
        f"metadata outbox: {flushed.remaining_batches} batches waiting{quarantined}"
        + (f" ({flushed.error})" if flushed.error else "")
    ]
    if summary:
        lines += [
            str(summary),
            f"browse it: HOME={summary.path.parent} DATAHUB_TELEMETRY_ENABLED=false {Path(sys.executable).parent}/datahub lite ls /",
        ]
    return "\n".join(lines)


def run_demo(project: Project, business_date: str, port: int, keep_running: bool, timeout: int) -> int:
    mesh = load_mesh(project, check_dbt=False)
    for error in mesh.errors:
        print(f"warning: {error}", file=sys.stderr)
    airflow = EmbeddedAirflow(project, project.state_dir / "airflow", port)
    print("preparing: dbt parse, landing data, Airflow database ...", flush=True)
    airflow.prepare()
    print(f"starting Airflow (logs: {airflow.home / 'standalone.log'}) ...", flush=True)
    airflow.start()
    try:
        airflow.wait_until_up()
        print(f"Airflow is up at {airflow.url}; triggering {', '.join(mesh.roots())} for {business_date}", flush=True)
        records = run_mesh(airflow.api, load_mesh(project), business_date, timeout)
        print(report(records))
        ok = all(r.state == "success" for r in records)
        print("all products succeeded" if ok else "some product runs FAILED: see the Airflow UI or the task logs")
        print(metadata_report(project))
        if keep_running:
            print(
                f"Airflow keeps running at {airflow.url} (user admin, password in {airflow.home}/simple_auth_manager_passwords.json.generated); Ctrl-C stops it"
            )
            airflow.wait()
        return 0 if ok else 1
    except KeyboardInterrupt:
        return 130
    finally:
        airflow.stop()
