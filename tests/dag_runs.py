"""Product DAGs run for real, outside the test process (Airflow and dbt keep global state): a copy
of the compiled test mesh, an Airflow home of its own (a migrated SQLite database; DataHub's and
OpenLineage's Airflow plugins off) and a DuckDB warehouse with the landing data.

Migrating Airflow's database and seeding the warehouse take a while, so `prepare` does it once
and `clone` gives each test a fresh project copy (its dbt, specs and manifests to break) with
copies of that database and warehouse. tests/conftest.py has them as the fixtures
`prepared_airflow` (once per session) and `airflow_project` (per test).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path

from conftest import copy_mesh

# The start of every script `AirflowProject.dag_script` runs: Airflow's DagBag over sys.argv[1], as
# the dag-processor would load it, as `bag`.
LOAD_DAGS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
"""


@dataclass(frozen=True)
class AirflowProject:
    root: Path  # the project copy: DATAPRODUCTS_HOME, its dags/ Airflow's DAG folder
    home: Path  # AIRFLOW_HOME, with the SQLite database
    state: Path  # DATAPRODUCTS_STATE_DIR, with the DuckDB warehouse

    def environment(self, extra_env: dict[str, str] | None = None) -> dict[str, str]:
        return {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.root / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATAHUB__ENABLED": "False",
            "AIRFLOW__OPENLINEAGE__DISABLED": "True",
            "DATAPRODUCTS_HOME": str(self.root),
            "DATAPRODUCTS_STATE_DIR": str(self.state),
            "DATAPRODUCTS_DUCKDB_PATH": str(self.state / "warehouse.duckdb"),
            **(extra_env or {}),
        }

    def run(self, args: list[str], extra_env: dict[str, str] | None = None, check: bool = True, timeout: int = 300) -> str:
        """The command's stdout and stderr; with check, an AssertionError with their ends when it fails."""
        done = subprocess.run(args, env=self.environment(extra_env), capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"{args[:3]} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        return done.stdout + done.stderr

    def cli(self, *args: str, extra_env: dict[str, str] | None = None) -> str:
        return self.run([sys.executable, "-m", "dataproducts.cli", *args], extra_env)

    def dag_script(
        self, body: str, *args: str, dags: str = "", extra_env: dict[str, str] | None = None, timeout: int = 300
    ) -> str:
        """Run `body` once Airflow's DagBag has loaded the copy's dags/ (or the file or folder `dags`
        below it) as `bag`; the body finds `args` in sys.argv[2:]."""
        script = LOAD_DAGS + textwrap.dedent(body)
        return self.run([sys.executable, "-c", script, str(self.root / "dags" / dags), *args], extra_env, timeout=timeout)


def prepare(base: Path, compiled_repo: Path) -> AirflowProject:
    """A project copy with a migrated Airflow database and a warehouse with the landing data."""
    project = AirflowProject(base / "project", base / "airflow", base / "state")
    copy_mesh(compiled_repo, project.root)
    project.run([sys.executable, "-m", "airflow", "db", "migrate"])
    project.cli("seed-landing")
    return project


def clone(prepared: AirflowProject, base: Path, compiled_repo: Path) -> AirflowProject:
    """A fresh copy of the compiled mesh with copies of the prepared database and warehouse."""
    project = AirflowProject(base / "project", base / "airflow", base / "state")
    copy_mesh(compiled_repo, project.root)
    for prepared_file, copy in (
        (prepared.home / "airflow.db", project.home / "airflow.db"),
        (prepared.state / "warehouse.duckdb", project.state / "warehouse.duckdb"),
    ):
        copy.parent.mkdir(parents=True)
        shutil.copy2(prepared_file, copy)
    return project


class Webhook:
    """A local HTTP endpoint that records every JSON body POSTed to it, as (path, body)."""

    def __init__(self):
        self.posts: list[tuple[str, dict]] = []
        posts = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                posts.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
                self.send_response(204)
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
