"""What every Airflow the platform starts has in common, whichever executor runs the tasks.

An `AirflowStack` is Airflow's components as child processes over an AIRFLOW_HOME of its own:
it prepares the project (dbt manifests, the example's landing data, Airflow's database, the
warehouse pool), starts the components, waits until the scheduler is healthy, hands out a REST
client, and stops every process it started. The embedded default (LocalExecutor on SQLite,
ops/embedded.py) and the production stack (CeleryExecutor, ops/celery_stack.py) differ only in
their settings and in which processes they start.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Optional

from dataproducts.core.project import Project
from dataproducts.ops.airflow_api import AirflowApi, AirflowApiError
from dataproducts.ops.waiting import wait_until

# `-P`: not the working directory on sys.path. In a checkout installed for development it holds
# dataproducts.egg-info, and Airflow would find the plugin's entry point twice ("already registered").
AIRFLOW_COMMAND = (sys.executable, "-P", "-m", "airflow")


def common_env(project: Project, airflow_home: Path, port: int, log_port: int) -> dict[str, str]:
    """Settings every component of every stack gets (the stacks add their own on top)."""
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__UNIT_TEST_MODE"}
    env.update(
        {
            "PATH": bin_dir + os.pathsep + env.get("PATH", ""),  # Airflow's processes call `airflow` by name
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(project.root / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(project.root / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(log_port + 1),
            "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secret(airflow_home / "jwt_secret"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__DATAHUB__ENABLED": "False",  # dataproducts emits its own metadata, with an outbox
            "AIRFLOW__DATAHUB__CAPTURE_AIRFLOW_ASSETS": "False",
            "AIRFLOW__OPENLINEAGE__DISABLED": "True",
            "DATAPRODUCTS_HOME": str(project.root),
            "DATAPRODUCTS_STATE_DIR": str(project.state_dir),
            "DBT_PROFILES_DIR": str(project.dbt_dir),
            "NO_PROXY": "localhost,127.0.0.1",
            "no_proxy": "localhost,127.0.0.1",
        }
    )
    return env


def secret(path: Path) -> str:
    """One secret per Airflow home, shared by all its processes (tokens must verify across them)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


class AirflowStack:
    """Airflow's components as child processes; subclasses say which, with which settings."""

    pool_slots = 1

    def __init__(self, project: Project, airflow_home: Path, port: int, log_port: int):
        self.project = project
        self.home = airflow_home
        self.port = port
        self.log_port = log_port
        self.state_dir = project.state_dir  # fixed when the stack is made, like its processes' environment
        self.env = common_env(project, airflow_home, port, log_port)
        self.processes: dict[str, subprocess.Popen] = {}
        self.commands: dict[str, tuple[str, ...]] = {}
        self.restarts: list[tuple[str, Optional[int]]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervised = False
        self._api: Optional[AirflowApi] = None

    # ------------------------------------------------------------------ lifecycle
    def prepare(self) -> None:
        """Compile dbt, load the landing data, migrate Airflow's database, create the warehouse pool."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.prepare_warehouse()
        for command in (["compile"], ["seed-landing"]):
            self.dataproducts(*command)
        self.after_landing()
        self.airflow("db", "migrate")
        self.airflow("pools", "set", self.project.warehouse_pool, str(self.pool_slots), "dbt builds against the warehouse")

    def prepare_warehouse(self) -> None:
        """Before dbt runs: whatever the warehouse needs to exist."""

    def after_landing(self) -> None:
        """After the landing data is loaded."""

    def start(self) -> None:
        raise NotImplementedError

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        """Start one component (`airflow <args>`) in a session of its own, its output in <home>/<name>.log."""
        log: IO[bytes] = (self.home / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [*AIRFLOW_COMMAND, *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        with self._lock:
            self.processes[name] = process
            self.commands[name] = args
        return process

    def supervise(self, interval: float = 2.0) -> None:
        """Start again any component that exits, as docker-compose's `restart: always` and Kubernetes
        do: Airflow's scheduler, dag-processor and triggerer exit when their database connection is
        cut and rely on that. Each restart is noted in `restarts` and in <home>/supervisor.log."""

        def watch() -> None:
            while not self._stopping.wait(interval):
                with self._lock:
                    exited = [(n, p.returncode) for n, p in self.processes.items() if p.poll() is not None]
                for name, code in exited:
                    if self._stopping.is_set():
                        return
                    self.restarts.append((name, code))
                    with (self.home / "supervisor.log").open("a") as log:
                        log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {name} exited with {code}; starting it again\n")
                    self.spawn(name, *self.commands[name])

        self._supervised = True
        threading.Thread(target=watch, name="airflow-supervisor", daemon=True).start()

    def stop(self) -> None:
        """Stop every component at once (each gets up to 30 s to finish what it is doing)."""
        self._stopping.set()
        with self._lock:
            processes, self.processes = list(self.processes.values()), {}
        _end_trees(processes, kill=False)

    def stop_component(self, name: str) -> None:
        """Stop a component and every process it started (the scheduler's and Celery's children run in
        process groups of their own, so signalling the group alone would orphan them)."""
        with self._lock:
            process = self.processes.pop(name, None)
        if process is not None:
            _end_tree(process, kill=False)

    def crash(self, name: str) -> None:
        """SIGKILL a component and everything it started, as when its machine dies: nothing gets to
        clean up. A supervised stack starts it again."""
        _end_tree(self.processes[name], kill=True)

    def wait(self) -> None:
        """Until Ctrl-C, or until a component exits in a stack that does not start it again."""
        while self._supervised or all(p.poll() is None for p in self.processes.values()):
            time.sleep(1)

    def __enter__(self) -> AirflowStack:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ use
    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def airflow(self, *args: str) -> None:
        subprocess.run([*AIRFLOW_COMMAND, *args], env=self.env, check=True, stdout=subprocess.DEVNULL)

    def dataproducts(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "dataproducts.cli", "--root", str(self.project.root), *args], env=self.env, check=True
        )

    def wait_until_up(self, timeout: float = 240) -> None:
        """Until the scheduler reports healthy and the admin's password was generated; RuntimeError
        as soon as a component exits."""

        def up() -> Optional[bool]:
            exited = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
            if exited:
                raise RuntimeError(f"Airflow components exited: {exited}; see the logs in {self.home}")
            try:
                healthy = AirflowApi(self.url).health().scheduler.status == "healthy"
            except AirflowApiError:  # not listening yet, or not answering as Airflow's API yet
                return None
            return True if healthy and self.password() else None

        wait_until(up, timeout, lambda: f"Airflow to come up; see the logs in {self.home}", interval=2)

    @property
    def api(self) -> AirflowApi:
        if self._api is None:
            self._api = AirflowApi(self.url, username="admin", password=self.password())
        return self._api

    def password(self) -> Optional[str]:
        path = self.home / "simple_auth_manager_passwords.json.generated"
        return json.loads(path.read_text()).get("admin") if path.is_file() else None

    def describe(self) -> str:
        """One line for the demo: where it runs and where its logs are."""
        return f"Airflow at {self.url} (logs in {self.home})"

    def preparing(self) -> str:
        return "preparing: dbt parse, landing data, Airflow database ..."


def _end_tree(process: subprocess.Popen, kill: bool) -> None:
    _end_trees([process], kill)


def _end_trees(processes: list[subprocess.Popen], kill: bool) -> None:
    """SIGTERM (SIGKILL with kill=True) to processes and all their descendants; SIGKILL whatever
    is left after 30 s. The processes themselves are reaped through Popen, so their return codes
    are the real ones (-9 after a SIGKILL)."""
    import psutil

    descendants: list[psutil.Process] = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            descendants += psutil.Process(process.pid).children(recursive=True)
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            process.kill() if kill else process.terminate()
    for member in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill() if kill else member.terminate()
    deadline = time.monotonic() + (5 if kill else 30)
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _, alive = psutil.wait_procs(descendants, timeout=max(0.1, deadline - time.monotonic()))
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(alive, timeout=10)
