"""The production stack's tests (CeleryExecutor on Postgres and Redis, dbt on a Postgres warehouse)
share one stack per test session: `celery_stack`, started by the first test of this folder and
stopped after its last. They are one unit of work (tests/conftest.py, ONE_WORKER), so under `./run tests` (pytest-xdist) they
all run on one worker, in order, while the other worker runs the rest of the suite.

It runs a copy of the tests' own mesh (dags/, product_specs/ and dbt/ of tests/fixtures/mesh, as
test_e2e.py does, compiled here for the postgres target, so the session's DuckDB manifests stay), under databases, roles and Redis keys
named for this session, with the warehouse behind a TCP proxy the fault tests can take down.
Where Postgres or Redis is not reachable the tests skip, saying why; under CI=true that is a
failure instead (tests/services.py).
"""

from __future__ import annotations

import secrets
import shutil
import socket
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from services import require_services

from dataproducts.core.project import Project
from dataproducts.ops.celery_stack import CeleryStack, StackSettings
from production.tcp_proxy import TcpProxy

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningStack:
    stack: CeleryStack
    warehouse_proxy: TcpProxy
    state_dir: Path

    @property
    def project(self) -> Project:
        return self.stack.project

    def warehouse(self, role: str | None = None):
        """A connection to the warehouse as its admin, or as a role (trust authentication here)."""
        import psycopg2

        env = self.stack.env
        return psycopg2.connect(
            host=env["DATAPRODUCTS_PG_HOST"],
            port=int(self.stack.settings.server()["port"]),
            user=role or env["DATAPRODUCTS_PG_USER"],
            password=env["DATAPRODUCTS_PG_PASSWORD"] or None,
            dbname=env["DATAPRODUCTS_PG_DBNAME"],
        )

    def rows_of_date(self, tables: list[str], business_date: str) -> dict[str, int]:
        """Rows of the date in each table (all rows where a table has no business_date column)."""
        db = self.warehouse()
        try:
            with db.cursor() as cur:
                counts = {}
                for table in tables:
                    schema, name = table.split(".")
                    cur.execute(
                        "select count(*) from information_schema.columns where table_schema = %s and table_name = %s and column_name = 'business_date'",
                        (schema, name),
                    )
                    dated = cur.fetchone()[0] == 1
                    where = " where business_date = %s" if dated else ""
                    cur.execute(f'select count(*) from "{schema}"."{name}"{where}', (business_date,) if dated else None)
                    counts[table] = cur.fetchone()[0]
                return counts
        finally:
            db.close()


def _project_copy(mesh: Path, root: Path) -> Project:
    """The tests' own mesh (conftest.compiled_repo) without its DuckDB manifests and warehouse."""
    for part in ("dags", "product_specs", "dbt"):
        shutil.copytree(mesh / part, root / part, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb", ".user.yml"))
    (root / "plugins").symlink_to(REPO / "plugins")
    return Project(root)


@pytest.fixture(scope="package")
def celery_stack(tmp_path_factory, compiled_repo):
    settings = StackSettings.from_env(name=f"dpt{secrets.token_hex(3)}")
    require_services(settings)
    root = tmp_path_factory.mktemp("celery-project")
    state = root / ".local"
    mp = pytest.MonkeyPatch()
    mp.setenv("DATAPRODUCTS_STATE_DIR", str(state))  # the stack's processes get this state dir
    proxy = TcpProxy(settings.server()["host"], settings.server()["port"])
    proxy.up()
    stack = CeleryStack(
        _project_copy(compiled_repo, root),
        state / "airflow",
        replace(settings, warehouse_port=proxy.port),
        free_port(),
        free_port(),
    )
    mp.undo()
    try:
        stack.prepare()
        with stack:
            stack.wait_until_up()
            yield RunningStack(stack, proxy, state)
    finally:
        stack.stop()
        proxy.down()
        stack.drop()
