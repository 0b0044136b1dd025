"""End to end on the production stack: CeleryExecutor, Postgres, Redis, dbt on Postgres.

The twin of test_e2e.py: its tests are collected here again (at the end of this file), so the
production stack must pass exactly the assertions the embedded default passes, now and as they
change. This module's `mesh_run` gives them the example mesh run for the same business date on the
session's Celery stack (conftest.py) instead of the embedded Airflow: only the roots triggered,
consumers started by asset events, the same row counts (read from Postgres), asset-event extras,
DataHub metadata, and a rerun. The tests written here check what only this stack has.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import test_e2e
from airflow_client.client.api.pool_api import PoolApi
from airflow_client.client.api.task_instance_api import TaskInstanceApi
from airflow_client.client.models.task_instance_response import TaskInstanceResponse
from test_e2e import BUSINESS_DATE, EXPECTED_ROWS

from dataproducts.core.manifest import load_manifest
from dataproducts.core.mesh import load_mesh
from dataproducts.metadata import delivery
from dataproducts.ops.embedded import run_mesh

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mesh_run(celery_stack):
    mp = pytest.MonkeyPatch()
    mp.setenv("DATAPRODUCTS_STATE_DIR", str(celery_stack.state_dir))  # the stack's outbox and DataHub Lite
    stack = celery_stack.stack
    try:
        mesh = load_mesh(stack.project)
        records = run_mesh(stack.api, mesh, BUSINESS_DATE, timeout=600)
        assert delivery.flush(stack.project).remaining_batches == 0
        yield mesh, stack, records, celery_stack, stack.api.import_errors()
    finally:
        mp.undo()


def task_instances(api, product_id: str, run_id: str) -> list[TaskInstanceResponse]:
    return TaskInstanceApi(api.client()).get_task_instances(product_id, run_id).task_instances


def test_builds_ran_on_celery_workers_in_parallel(mesh_run):
    """Every task went through Celery, both workers ran tasks, and the roots' builds overlapped (the warehouse pool has slots
    for more than one dbt at a time)."""
    mesh, stack, records, _, _ = mesh_run
    builds = {}
    for record in records:
        for ti in task_instances(stack.api, record.product_id, record.run_id):
            assert ti.executor in (None, "CeleryExecutor") and ti.queue == "default", ti
            if ti.task_id == "build" and ti.state == "success":
                builds[record.product_id] = (ti.start_date, ti.end_date)
            assert ti.pool == ("dataproducts_warehouse" if ti.task_id == "build" else "default_pool")
    for worker in ("worker1", "worker2"):
        assert "execute_workload" in (stack.home / f"{worker}.log").read_text(), f"{worker} ran no task"
    pool = PoolApi(stack.api.client()).get_pool("dataproducts_warehouse")
    assert pool.slots > 1
    roots = sorted((builds[r] for r in mesh.roots()), key=lambda span: span[0])
    assert any(later[0] < earlier[1] for earlier, later in zip(roots, roots[1:], strict=False)), (
        f"root builds never overlapped: {roots}"
    )


def test_each_domain_built_as_its_own_role(mesh_run):
    _, stack, _, warehouse, _ = mesh_run
    db = warehouse.warehouse()
    try:
        with db.cursor() as cur:
            cur.execute(
                "select schemaname || '.' || tablename, tableowner from pg_tables where schemaname = any(%s)",
                (["inventory", "pricing", "user_behaviour", "advertising"],),
            )
            owners = dict(cur.fetchall())
    finally:
        db.close()
    prefix = stack.settings.role_prefix
    assert owners == {table: prefix + table.split(".")[0] for table in EXPECTED_ROWS}


def test_dataset_urns_are_the_ones_datahubs_own_dbt_source_gives(mesh_run, tmp_path):
    """DataHub's dbt source (acryl-datahub[dbt]) over each domain project's manifest and catalog
    (`dbt docs generate` against the Postgres warehouse) names the tables exactly as our metadata
    does: platform postgres, <database>.<schema>.<table>."""
    mesh, stack, _, _, _ = mesh_run
    ours = set(delivery.lite_summary(stack.project).entities["dataset"])
    projects = sorted({spec.transform.dbt.project for spec in mesh.products.values()})
    dbt = str(Path(sys.executable).parent / "dbt")
    generating = [  # catalog.json needs the warehouse: `dbt docs generate` in every domain project at once
        subprocess.Popen(
            [dbt, "docs", "generate", "--project-dir", str(stack.project.dbt_project_dir(p)), "--target-path", str(tmp_path / p)],
            env=stack.env, cwd=stack.project.dbt_project_dir(p), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        for p in projects
    ]  # fmt: skip
    assert [g.wait() for g in generating] == [0] * len(projects)
    theirs: set[str] = set()
    for project in projects:
        assert load_manifest(tmp_path / project / "manifest.json").adapter_type == "postgres"
        theirs |= datahub_dbt_source_urns(tmp_path / project, tmp_path / f"{project}.json")
    expected = {
        f"urn:li:dataset:(urn:li:dataPlatform:postgres,{stack.settings.warehouse_db}.{table},PROD)" for table in EXPECTED_ROWS
    }
    assert ours == expected
    assert expected <= theirs, sorted(expected - theirs)


def datahub_dbt_source_urns(target: Path, output: Path) -> set[str]:
    """Run DataHub's own dbt ingestion source into a file; the postgres dataset URNs it wrote."""
    from datahub.ingestion.run.pipeline import Pipeline

    pipeline = Pipeline.create(
        {
            "source": {
                "type": "dbt",
                "config": {
                    "manifest_path": str(target / "manifest.json"),
                    "catalog_path": str(target / "catalog.json"),
                    "target_platform": "postgres",
                    "write_semantics": "OVERRIDE",  # PATCH would need a live DataHub to read from
                },
            },
            "sink": {"type": "file", "config": {"filename": str(output)}},
            "reporting": [],
        }
    )
    pipeline.run()
    pipeline.raise_from_status()
    found = set()
    for item in json.loads(output.read_text()):
        urn = item.get("entityUrn") or item.get("proposedSnapshot", {}).get("urn", "")
        if urn.startswith("urn:li:dataset:(urn:li:dataPlatform:postgres,"):
            found.add(urn)
    return found


def test_a_read_the_policy_does_not_allow_fails_in_the_warehouse(mesh_run):
    """An open output table is readable by every domain of the mesh and by nobody else; a restricted
    one (pricing.price_ratings: pricing and advertising) and a domain-only one
    (advertising.promoted_listing_performance) by exactly the domains their policy allows; external
    sources only by the domains that declare them; no domain writes another's tables. Each checked
    with a real query as that role."""
    import psycopg2

    _, stack, _, warehouse, _ = mesh_run
    prefix = stack.settings.role_prefix
    outsider = f"{prefix}outsider"
    admin = warehouse.warehouse()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create role "{outsider}" login')
        cur.execute(f'grant usage on schema pricing to "{outsider}"')  # so the table's own grant decides
    try:
        assert (
            query_as(warehouse, f"{prefix}advertising", "select count(*) from pricing.market_prices")
            == EXPECTED_ROWS["pricing.market_prices"]
        )
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied for table market_prices"):
            query_as(warehouse, outsider, "select count(*) from pricing.market_prices")
        assert query_as(warehouse, f"{prefix}advertising", "select count(*) from pricing.price_ratings") > 0
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied for table price_ratings"):
            query_as(warehouse, f"{prefix}user_behaviour", "select count(*) from pricing.price_ratings")
        assert query_as(warehouse, f"{prefix}advertising", "select count(*) from advertising.promoted_listing_performance") >= 0
        with pytest.raises(
            psycopg2.errors.InsufficientPrivilege, match="permission denied for table promoted_listing_performance"
        ):
            query_as(warehouse, f"{prefix}pricing", "select count(*) from advertising.promoted_listing_performance")
        assert query_as(warehouse, f"{prefix}inventory", "select count(*) from landing.raw_listings") > 0
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied for table raw_listings"):
            query_as(warehouse, f"{prefix}advertising", "select count(*) from landing.raw_listings")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied for table market_prices"):
            query_as(warehouse, f"{prefix}advertising", "delete from pricing.market_prices")
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop owned by "{outsider}"')
            cur.execute(f'drop role "{outsider}"')
        admin.close()


def test_grants_follow_the_policy_exactly_and_revoke_the_rest(mesh_run, tmp_path):
    """The grant step of the build takes any list of roles: narrowed to one domain, the table is
    readable by that domain and no longer by the others (the stale grant is revoked); then open again."""
    import psycopg2

    from dataproducts.core.warehouse_access import mesh_role

    _, stack, _, warehouse, _ = mesh_run
    prefix = stack.settings.role_prefix
    try:
        grant_select_as_owner(stack, tmp_path, "pricing", "market_prices", [f"{prefix}advertising"])
        assert query_as(warehouse, f"{prefix}advertising", "select count(*) from pricing.market_prices") > 0
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied for table market_prices"):
            query_as(warehouse, f"{prefix}user_behaviour", "select count(*) from pricing.market_prices")
    finally:
        grant_select_as_owner(stack, tmp_path, "pricing", "market_prices", [mesh_role(prefix)])
    assert query_as(warehouse, f"{prefix}user_behaviour", "select count(*) from pricing.market_prices") > 0


def grant_select_as_owner(stack, work_dir: Path, domain: str, table: str, roles: list[str]) -> None:
    """runner.grant_select, as the build task runs it: as the domain's role, in a process of its own
    (dbt keeps global state; keep it out of the test process)."""
    code = (
        "import sys, json; from pathlib import Path; from dataproducts.core.project import Project\n"
        "from dataproducts.core.warehouse_access import TableGrant; from dataproducts.dbt import runner\n"
        "root, work, domain, table, roles = json.loads(sys.argv[1])\n"
        "with runner.as_role(sys.argv[2], domain):\n"
        "    runner.grant_select(Project(Path(root)), domain, Path(work), [TableGrant(domain, table, tuple(roles))])\n"
    )
    arguments = json.dumps([str(stack.project.root), str(work_dir), domain, table, roles])
    role = stack.settings.role_prefix + domain
    subprocess.run([sys.executable, "-c", code, arguments, role], env=stack.env, check=True, capture_output=True)


def query_as(warehouse, role: str, sql: str):
    db = warehouse.warehouse(role)
    try:
        with db.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0] if cur.description else None
    finally:
        db.rollback()
        db.close()


# The embedded end-to-end test's tests, run again on this stack (with this module's mesh_run).
# They come last, as in test_e2e.py: its rerun test must be the last to run.
globals().update(
    {
        name: test
        for name, test in vars(test_e2e).items()
        if name.startswith("test_") and not getattr(test, "embedded_only", False)
    }
)
