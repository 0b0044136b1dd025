"""The production stack, started for real on one machine: Airflow's CeleryExecutor on Postgres with
Redis, dbt on a Postgres warehouse with a role per domain.

Every component is its own process, as on several hosts: api-server, scheduler, dag-processor,
triggerer and N Celery workers. The run creates its own databases on the given Postgres server
(`<name>_airflow`: Airflow's metadata and Celery's results; `<name>_warehouse`: dbt's target),
its own roles (`<name>_<domain>`, `<name>__mesh`) and prefixes its Redis keys with `<name>:`, so
several stacks share one Postgres and one Redis without seeing each other.

`PRODUCTION_SETTINGS` are the settings that make this the production stack; docker-compose.yaml
sets the same (tests/test_docker_compose.py checks that they agree), and the README maps them
onto Airflow's Helm chart.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

from dataproducts.core import warehouse_access
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.ops.stack import AirflowStack, secret

# Same values in docker-compose.yaml's x-airflow-common environment (checked by its test).
PRODUCTION_SETTINGS = {
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
    # A build whose worker died, or whose warehouse was briefly away, is tried again; builds are
    # idempotent per business date, and nothing is published before a build succeeded.
    "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "3",
    "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "30",
    # A task whose worker vanished is failed (and retried) after this long without a heartbeat
    # (Airflow's default: 300 s); the scheduler looks for tasks a dead scheduler left every minute.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "60",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
    # Redis redelivers a task no worker acknowledged after this long (builds take minutes)
    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
    "DATAPRODUCTS_DBT_TARGET": "postgres",
    "DATAPRODUCTS_WAREHOUSE_POOL": "dataproducts_warehouse",
}
WAREHOUSE_POOL_SLOTS = 8  # dbt builds at once against the warehouse, however many workers run
# What only this local stack sets; every other setting it gives Airflow, docker-compose.yaml sets too.
LOCAL_ONLY_SETTINGS = frozenset(
    {
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX",  # several stacks share one Redis here
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION",  # the demo runs every DAG; production reviews new ones first
    }
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


@dataclass(frozen=True)
class StackSettings:
    """Where the stack's services are. From the environment, with defaults for a local machine."""

    postgres_url: str = "postgresql://postgres@127.0.0.1:5432"  # a user that may create databases and roles
    redis_url: str = "redis://127.0.0.1:6379/0"
    name: str = "dataproducts"  # prefix of the databases, roles and Redis keys the stack creates
    workers: int = 2
    warehouse_port: Optional[int] = None  # the warehouse's port when not the server's (a proxy in front of it)

    @classmethod
    def from_env(cls, **overrides: Any) -> StackSettings:
        values: dict[str, Any] = {
            "postgres_url": os.environ.get("DATAPRODUCTS_POSTGRES_URL", cls.postgres_url),
            "redis_url": os.environ.get("DATAPRODUCTS_REDIS_URL", cls.redis_url),
            "name": os.environ.get("DATAPRODUCTS_STACK_NAME", cls.name),
        }
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"stack name '{self.name}' must be 1-31 lower-case letters, digits or '_', starting with a letter")
        for label, url, schemes in (
            ("Postgres", self.postgres_url, ("postgresql", "postgres")),
            ("Redis", self.redis_url, ("redis",)),
        ):
            if urlsplit(url).scheme not in schemes or not urlsplit(url).hostname:
                raise ValueError(f"{label} URL '{url}' is not a {schemes[0]}:// URL with a host")

    @property
    def metadata_db(self) -> str:
        return f"{self.name}_airflow"

    @property
    def warehouse_db(self) -> str:
        return f"{self.name}_warehouse"

    @property
    def role_prefix(self) -> str:
        return f"{self.name}_"

    def server(self) -> dict[str, Any]:
        """psycopg2 keyword arguments for the server (its maintenance database)."""
        url = urlsplit(self.postgres_url)
        return {
            "host": url.hostname,
            "port": url.port or 5432,
            "user": unquote(url.username or "postgres"),
            "password": unquote(url.password) if url.password else None,
            "dbname": "postgres",
            "connect_timeout": 10,
        }

    def sqlalchemy_url(self, database: str) -> str:
        url = urlsplit(self.postgres_url)
        return f"postgresql+psycopg2://{url.netloc}/{database}"


class CeleryStack(AirflowStack):
    """api-server, scheduler, dag-processor, triggerer and Celery workers, each its own process."""

    pool_slots = WAREHOUSE_POOL_SLOTS

    def __init__(self, project: Project, airflow_home: Path, settings: StackSettings, port: int = 8080, log_port: int = 8793):
        super().__init__(project, airflow_home, port, log_port)
        self.settings = settings
        self.env.update(self.stack_env())

    def stack_env(self) -> dict[str, str]:
        s, server = self.settings, self.settings.server()
        metadata = s.sqlalchemy_url(s.metadata_db)
        return {
            **PRODUCTION_SETTINGS,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata,
            "AIRFLOW__CELERY__BROKER_URL": s.redis_url,
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": f"{s.name}:",
            "AIRFLOW__CORE__FERNET_KEY": fernet_key(self.home / "fernet_key"),
            "AIRFLOW__API__SECRET_KEY": secret(
                self.home / "api_secret_key"
            ),  # the log servers check the api-server's requests with it
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "DATAPRODUCTS_PG_HOST": str(server["host"]),
            "DATAPRODUCTS_PG_PORT": str(s.warehouse_port or server["port"]),
            "DATAPRODUCTS_PG_USER": server["user"],
            "DATAPRODUCTS_PG_PASSWORD": server["password"] or "",
            "DATAPRODUCTS_PG_DBNAME": s.warehouse_db,
            "DATAPRODUCTS_PG_ROLE_PREFIX": s.role_prefix,
        }

    def preparing(self) -> str:
        s = self.settings
        return f"preparing: databases {s.metadata_db} and {s.warehouse_db}, roles {s.role_prefix}*, dbt parse, landing data, Airflow database ..."

    def describe(self) -> str:
        return f"Airflow on the CeleryExecutor ({self.settings.workers} workers) at {self.url} (logs in {self.home})"

    # ------------------------------------------------------------------ prepare
    def prepare_warehouse(self) -> None:
        for database in (self.settings.metadata_db, self.settings.warehouse_db):
            create_database(self.settings.server(), database)

    def after_landing(self) -> None:
        self.dataproducts("warehouse", "provision")

    # ------------------------------------------------------------------ run
    def start(self) -> None:
        """Each component its own process, started again when it exits (as `restart: always` in
        docker-compose.yaml). On one host the workers share the log folder, so the first worker's
        log server serves every worker's logs (the api-server asks the task's host on one port)."""
        for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
            self.spawn(component, component)
        for number in range(1, self.settings.workers + 1):
            hostname = f"{self.settings.name}-worker{number}@%h"
            self.spawn(
                f"worker{number}",
                "celery",
                "worker",
                "--celery-hostname",
                hostname,
                *([] if number == 1 else ["--skip-serve-logs"]),
            )
        self.supervise()

    def drop(self) -> None:
        """Remove what the stack created: its databases, roles and Redis keys (stop it first)."""
        from dataproducts.dbt import warehouse

        mesh = load_mesh(self.project, check_dbt=False)
        for database in (self.settings.metadata_db, self.settings.warehouse_db):
            drop_database(self.settings.server(), database)
        server = self.settings.server()
        warehouse.drop_roles(self.settings.role_prefix, warehouse_access.role_domains(mesh), **server)
        delete_redis_keys(self.settings.redis_url, f"{self.settings.name}:")


def fernet_key(path: Path) -> str:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


def _admin(server: dict[str, Any]):
    import psycopg2

    db = psycopg2.connect(**server)
    db.autocommit = True
    return db


def create_database(server: dict[str, Any], name: str) -> bool:
    from psycopg2 import sql

    db = _admin(server)
    try:
        with db.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
            return True
    finally:
        db.close()


def drop_database(server: dict[str, Any], name: str) -> None:
    from psycopg2 import sql

    db = _admin(server)
    try:
        with db.cursor() as cur:
            cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
    finally:
        db.close()


def delete_redis_keys(url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        return client.delete(*keys) if keys else 0
    finally:
        client.close()


def reachable(settings: StackSettings) -> Optional[str]:
    """None when the stack's Postgres and Redis answer; else why not, in words."""
    try:
        import psycopg2

        psycopg2.connect(**{**settings.server(), "connect_timeout": 3}).close()
    except Exception as exc:
        return f"Postgres at {settings.postgres_url} is not reachable: {str(exc).strip()}"
    try:
        import redis

        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3)
        client.ping()
        client.close()
    except Exception as exc:
        return f"Redis at {settings.redis_url} is not reachable: {exc}"
    return None
