"""End to end: `airflow standalone` in a temporary AIRFLOW_HOME runs the example mesh for real.

Only the roots are triggered. Every other product must be started by the scheduler because its
inputs' assets were updated: the test checks each consumer's run type, which producers' events
triggered it, the business date it built, and the tables and row counts in DuckDB.
"""

from __future__ import annotations

import socket

import duckdb
import pytest

from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.metadata import delivery, urns
from dataproducts.metadata.sinks import open_lite
from dataproducts.ops.embedded import EmbeddedAirflow, run_mesh
from dataproducts.ops.rerun import rerun

pytestmark = pytest.mark.e2e

BUSINESS_DATE = "2026-11-03"
# The example's source data is generated with a fixed seed (dbt/landing/generate_seeds.py),
# so the rows each output table holds for the business date are known.
EXPECTED_ROWS = {
    "inventory.listings": 411,
    "inventory.vehicle_catalog": 27,
    "user_behaviour.listing_engagement": 360,
    "pricing.market_prices": 71,
    "pricing.price_ratings": 411,
    "advertising.campaign_performance": 11,
    "advertising.promoted_listing_performance": 27,
    "advertising.promotion_candidates": 40,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mesh_run(tmp_path_factory, compiled_repo):
    state = tmp_path_factory.mktemp("state")
    mp = pytest.MonkeyPatch()
    mp.setenv("DATAPRODUCTS_STATE_DIR", str(state))
    mp.setenv("DATAPRODUCTS_DUCKDB_PATH", str(state / "warehouse.duckdb"))
    project = Project(compiled_repo)
    airflow = EmbeddedAirflow(project, state / "airflow", port=free_port(), log_port=free_port())
    airflow.prepare()
    mesh = load_mesh(project)
    try:
        with airflow:
            airflow.wait_until_up()
            records = run_mesh(airflow.api, mesh, BUSINESS_DATE, timeout=600)
            assert delivery.flush(project).remaining_batches == 0
            yield mesh, airflow, records, state / "warehouse.duckdb", airflow.api.import_errors()
    finally:
        mp.undo()


def building_run(records, product_id, inputs: int = 1):
    """The run of a product that built the business date; a `trigger: any` product builds it once
    per input that publishes it (the per-date rule): then its last run, which saw every input."""
    runs = [r for r in records if r.product_id == product_id and r.business_date == BUSINESS_DATE]
    assert 1 <= len(runs) <= inputs, f"{product_id}: expected one run that built {BUSINESS_DATE} per input, got {runs}"
    return runs[-1]


def test_every_product_built_the_business_date(mesh_run):
    mesh, _, records, _, import_errors = mesh_run
    assert import_errors == []
    assert [r for r in records if r.state != "success"] == []
    assert {r.product_id for r in records if r.business_date == BUSINESS_DATE} == set(mesh.products)


def test_roots_ran_from_the_trigger_and_consumers_from_asset_events(mesh_run):
    mesh, _, records, _, _ = mesh_run
    for product_id in mesh.run_order():
        spec = mesh.products[product_id]
        run = building_run(records, product_id, len(spec.product_inputs) if spec.trigger == "any" else 1)
        upstream = set(mesh.upstream_products(product_id))
        if not upstream:
            assert run.run_type == "manual", product_id
            continue
        assert run.run_type == "asset_triggered", f"{product_id} was not started by the scheduler from asset events"
        assert run.partition_key == BUSINESS_DATE, "one run per business date: its partition key"
        trigger = spec.schedule.trigger if spec.schedule else "all"
        triggered_by = set(run.triggered_by)
        if trigger == "all":
            assert triggered_by == upstream, product_id
        else:
            assert triggered_by and triggered_by <= upstream, product_id


def test_consumers_were_started_by_the_producer_runs_that_built_the_date(mesh_run):
    mesh, _, records, _, _ = mesh_run
    for product_id, spec in mesh.products.items():
        if spec.schedule and spec.schedule.trigger == "any":
            continue  # its building run may have been started by any one producer (checked above)
        run = building_run(records, product_id)
        for upstream in mesh.upstream_products(product_id):
            assert building_run(records, upstream).run_id in run.triggering_runs, (upstream, product_id)


def warehouse_rows(warehouse) -> dict[str, int]:
    """The business date's rows per expected table, from the warehouse itself: the DuckDB file here,
    the Postgres warehouse of the production stack in test_e2e_celery (which reruns these tests)."""
    if hasattr(warehouse, "rows_of_date"):
        return warehouse.rows_of_date(list(EXPECTED_ROWS), BUSINESS_DATE)
    with duckdb.connect(str(warehouse), read_only=True) as db:
        actual = {}
        for table in EXPECTED_ROWS:
            columns = {c[0] for c in db.execute(f"describe {table}").fetchall()}
            where = f" where business_date = '{BUSINESS_DATE}'" if "business_date" in columns else ""
            actual[table] = db.execute(f"select count(*) from {table}{where}").fetchone()[0]
    return actual


def test_tables_hold_the_business_date_rows(mesh_run):
    _, _, records, warehouse, _ = mesh_run
    reported = {}
    for record in records:
        domain = record.product_id.split(".")[0]
        for table, rows in record.row_counts.items():
            reported[f"{domain}.{table}"] = rows
    assert warehouse_rows(warehouse) == EXPECTED_ROWS
    assert reported == EXPECTED_ROWS, "the row counts the runs report are the rows in the warehouse"


def test_asset_events_carry_date_rows_and_dbt_run(mesh_run):
    mesh, airflow, _, _, _ = mesh_run
    events = airflow.api.get("/api/v2/assets/events", source_dag_id="pricing.market_prices")["asset_events"]
    (event,) = [e for e in events if e["extra"].get("business_date") == BUSINESS_DATE]
    assert event["extra"]["row_count"] == EXPECTED_ROWS["pricing.market_prices"]
    assert event["extra"]["dbt_invocation_id"]
    assert event["extra"]["table"] == "pricing.market_prices"


def test_datahub_lite_holds_products_lineage_and_runs(mesh_run):
    mesh, airflow, records, _, _ = mesh_run
    summary = delivery.lite_summary(airflow.project)
    assert sorted(summary.entities["dataProduct"]) == sorted(urns.data_product_urn(p) for p in mesh.products)
    assert len(summary.entities["domain"]) == len(mesh.domains())
    assert len(summary.entities["dataset"]) == len(EXPECTED_ROWS), "one dataset per output table"
    building_runs = [r for r in records if r.business_date == BUSINESS_DATE]
    assert summary.run_results == {"SUCCESS": len(building_runs)}
    assert "incident" not in summary.entities, "a clean run of the whole mesh records no incident"
    lite = open_lite(summary.path, read_only=True)
    try:
        by_name = {
            u.split(",")[1].rsplit(".", 2)[-2] + "." + u.split(",")[1].rsplit(".", 1)[-1]: u for u in summary.entities["dataset"]
        }
        upstream = lite.get(by_name["pricing.market_prices"], ["upstreamLineage"])["upstreamLineage"]["upstreams"]
        assert {u["dataset"] for u in upstream} == {by_name["inventory.listings"], by_name["inventory.vehicle_catalog"]}
        product = lite.get(urns.data_product_urn("pricing.market_prices"), ["dataProductProperties"])["dataProductProperties"]
        assert {a["destinationUrn"] for a in product["assets"]} == {by_name["pricing.market_prices"]}
        schema = lite.get(by_name["pricing.market_prices"], ["schemaMetadata"])["schemaMetadata"]
        native = {f["fieldPath"]: f["nativeDataType"] for f in schema["fields"]}
        assert native["business_date"] == "date", "the warehouse's own types, as dbt's catalog would give them"
        profile = lite.get(by_name["pricing.market_prices"], ["datasetProfile"])["datasetProfile"]
        assert profile["rowCount"] == EXPECTED_ROWS["pricing.market_prices"]
    finally:
        lite.close()


def test_rerun_rebuilds_the_product_and_everything_downstream_for_that_date_only(mesh_run):
    """pricing.price_ratings waits for all of its inputs, and only one of them is rebuilt, so the
    partitioned events alone would not start it; the rerun must, with the date as partition key."""
    mesh, airflow, _, warehouse, _ = mesh_run
    records = rerun(airflow.api, mesh, "pricing.market_prices", BUSINESS_DATE, timeout=600, say=lambda _: None)
    rebuilt = {r.product_id for r in records if r.state == "success" and r.business_date == BUSINESS_DATE}
    assert rebuilt == {"pricing.market_prices", "pricing.price_ratings", "advertising.promotion_candidates"}
    assert all(r.state == "success" for r in records)
    assert {r.partition_key for r in records} == {BUSINESS_DATE}, "every run of the rerun is a run of that date"
    ratings = [r for r in records if r.product_id == "pricing.price_ratings"]
    assert [r.run_type for r in ratings] == ["manual"], "triggered by the rerun, after market_prices rebuilt"
    candidates = [r for r in records if r.product_id == "advertising.promotion_candidates" and r.business_date]
    assert candidates[-1].triggered_by == ["pricing.price_ratings"], "trigger: any follows the rebuilt input by itself"
    assert warehouse_rows(warehouse) == EXPECTED_ROWS, "rerunning a date rewrites exactly that date"
