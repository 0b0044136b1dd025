"""Shared test helpers: a throwaway project with spec files written from dicts."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# Keep tests off the developer's own Airflow home and state; each pytest-xdist worker (`./run tests`
# runs two) gets a home of its own, so their in-process Airflow never shares one SQLite file.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".local" / ("test-airflow-home" + (f"-{_WORKER}" if _WORKER else ""))))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

BASE_SPEC = {
    "id": "inventory.listings",
    "name": "Listings",
    "domain": "inventory",
    "description": "Active listings per day.",
    "version": "1.0.0",
    "owner": {"team": "inventory_team", "contact": "inventory@example.com"},
    "schedule": {"cron": "0 2 * * *", "timezone": "Europe/Berlin"},
    "input_ports": [{"name": "raw", "source": {"schema": "landing", "table": "raw_listings"}}],
    "transform": {"dbt": {"project": "inventory", "select": ["path:models/listings"]}},
    "output_ports": [
        {
            "name": "listings",
            "contract": {"columns": [{"name": "listing_id", "type": "string", "required": True, "unique": True}]},
        }
    ],
}


def spec(**changes) -> dict:
    """BASE_SPEC with top-level fields replaced."""
    result = copy.deepcopy(BASE_SPEC)
    result.update(changes)
    return result


def consumer(product_id: str, reads: list[tuple[str, str]], **changes) -> dict:
    domain, name = product_id.split(".")
    return spec(
        id=product_id,
        domain=domain,
        name=name,
        schedule=None,
        input_ports=[{"name": f"in_{i}", "product": p, "port": port} for i, (p, port) in enumerate(reads)],
        transform={"dbt": {"project": domain, "select": [f"path:models/{name}"]}},
        output_ports=[{"name": name, "contract": {"columns": [{"name": "id", "type": "string"}]}}],
        **changes,
    )


def write_spec(root: Path, document, product_id: str | None = None) -> Path:
    product_id = product_id or (document["id"] if isinstance(document, dict) else "inventory.listings")
    domain, name = product_id.split(".")
    path = root / "product_specs" / domain / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def tmp_project(tmp_path):
    from dataproducts.core.project import Project

    return Project(tmp_path)


def compile_dbt(root: Path) -> None:
    """`dataproducts compile` in a subprocess (dbt keeps global state; keep it out of the test process)."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "dataproducts.cli", "--root", str(root), "compile"], check=True, capture_output=True)


FIXTURE_MESH = Path(__file__).resolve().parent / "fixtures" / "mesh"


@pytest.fixture(scope="session")
def compiled_repo(tmp_path_factory):
    """The tests' own mesh (tests/fixtures/mesh: a car marketplace of 4 domains and 7 products,
    dags/, product_specs/ and dbt/), copied to a temporary root, its landing seeds generated and
    every dbt project's manifest compiled, as the DAG factory needs. The tests test the platform
    on this mesh, so a team that replaces the repository's example mesh keeps a green suite;
    tests/test_repository_mesh.py checks whatever product_specs/ holds. The platform's dbt
    conventions (dbt/platform_macros) are the repository's own, never a copy."""
    import shutil
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("mesh") / "repo"
    shutil.copytree(FIXTURE_MESH, root)
    shutil.copytree(REPO / "dbt" / "platform_macros", root / "dbt" / "platform_macros")
    subprocess.run([sys.executable, str(root / "dbt" / "landing" / "generate_seeds.py")], check=True, capture_output=True)
    compile_dbt(root)
    return root


def copy_mesh(compiled_repo: Path, root: Path) -> Path:
    """The compiled test mesh's dags/, product_specs/ and dbt/ (with manifests) copied to root."""
    import shutil

    for part in ("dags", "product_specs", "dbt"):
        shutil.copytree(compiled_repo / part, root / part, ignore=shutil.ignore_patterns("logs", "*.duckdb", "run_results.json"))
    return root


@pytest.fixture
def project_copy(tmp_path, compiled_repo):
    """A copy of the compiled test mesh to break things in."""
    return copy_mesh(compiled_repo, tmp_path)


@pytest.fixture(scope="session")
def prepared_airflow(tmp_path_factory, compiled_repo):
    """Once per session: a migrated Airflow database and a warehouse with the landing data (tests/dag_runs.py)."""
    from dag_runs import prepare

    return prepare(tmp_path_factory.mktemp("prepared-airflow"), compiled_repo)


@pytest.fixture
def airflow_project(tmp_path, compiled_repo, prepared_airflow):
    """A project copy to run product DAGs in, with copies of the prepared database and warehouse."""
    from dag_runs import clone

    return clone(prepared_airflow, tmp_path, compiled_repo)


def dag_bag(root: Path, monkeypatch):
    """Airflow's own DagBag over root/dags, as the dag-processor would load it."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("DATAPRODUCTS_HOME", str(root))
    return DagBag(dag_folder=str(root / "dags"))


def asset_names(condition) -> set[str]:
    """Names of every Asset in a schedule condition (AssetAll/AssetAny nest)."""
    if hasattr(condition, "objects"):
        return set().union(*(asset_names(o) for o in condition.objects))
    return {condition.name}


def set_connection(monkeypatch, conn_id: str, value) -> str:
    """Define an Airflow connection the way operators do: $AIRFLOW_CONN_<ID> (a dict is written as JSON)."""
    import json

    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value if isinstance(value, str) else json.dumps(value))
    return conn_id


# `./run tests` runs two pytest-xdist workers. The tests that share one running Airflow must run on
# one worker and in their order: each of these paths is one unit of work, every other test a unit of
# its own. (pytest-xdist's own `xdist_group` mark is silently ignored under pytest 9.2: it renames node
# ids, which pytest no longer lets it do.) The units are handed out in this order, the longest first
# (test_e2e.py, some 15 minutes, is the suite's critical path), then the single tests, the slowest
# (SLOW_FIRST: each runs Airflow or dbt for half a minute or more) first, so the suite never ends
# waiting on one long test that started last.
ONE_WORKER = ("tests/test_e2e.py", "tests/production/", "tests/test_ui_browser.py")
SLOW_FIRST = (
    "tests/test_product_run.py",
    "tests/test_demo_signals.py",
    "tests/test_freshness_run.py",
    "tests/test_dbt_runner.py",
    "tests/test_code_hygiene.py",
)


def work_order(scopes: list[str]) -> list[str]:
    """The shared-Airflow units in ONE_WORKER's order, then the slow single tests, then the rest (in
    collection order)."""

    def rank(scope: str) -> tuple[int, int]:
        for group in (ONE_WORKER, SLOW_FIRST):
            for i, path in enumerate(group):
                if scope.startswith(path):
                    return (0 if group is ONE_WORKER else 1, i)
        return (2, 0)

    return sorted(scopes, key=rank)  # stable: the rest keeps collection order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class SharedAirflowScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((path for path in ONE_WORKER if nodeid.startswith(path)), nodeid)

        def _assign_work_unit(self, node) -> None:
            if self.workqueue and not getattr(self, "_ordered", False):
                self._ordered = True
                for scope in work_order(list(self.workqueue)):
                    self.workqueue.move_to_end(scope)
            super()._assign_work_unit(node)

        def _reschedule(self, node) -> None:
            # xdist gives a worker its next unit while it still has up to two tests to run: behind a
            # shared-Airflow unit's last scenarios (minutes each) that unit would wait while the other
            # worker might have nothing left to do. Here such a worker gets its next unit only when its
            # last test starts (a worker runs a test once it has the next one, or is told to stop).
            pending_shared = sum(
                list(done.values()).count(False)
                for scope, done in self.assigned_work.get(node, {}).items()
                if scope in ONE_WORKER
            )
            if pending_shared > 1 and self.workqueue and not node.shutting_down:
                return
            super()._reschedule(node)

    return SharedAirflowScheduling(config, log)
