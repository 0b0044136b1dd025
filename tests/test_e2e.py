"""End to end: the embedded Airflow (LocalExecutor, SQLite) in a temporary AIRFLOW_HOME runs the
example mesh for real.

Only the roots are triggered. Every other product must be started by the scheduler because its
inputs' assets were updated: the test checks each consumer's run type, which producers' events
triggered it, the business date it built, and the tables and row counts in DuckDB.

The scenarios share one Airflow and run in file order (tests/conftest.py, ONE_WORKER), and later
ones build on earlier ones: the backfill rebuilds dates that "four dates in flight" built, so run
alone (`-k backfill`) it fails on inputs that were never built. Select the scenarios it needs too.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
from typing import Optional

import duckdb
import pytest

from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.metadata import delivery, urns
from dataproducts.metadata.sinks import open_lite
from dataproducts.ops.airflow_api import ACTIVE_STATES, AirflowNotFound, ProductRun, now_iso, records
from dataproducts.ops.embedded import EmbeddedAirflow, run_mesh
from dataproducts.ops.rerun import rerun
from dataproducts.ops.waiting import Runs, wait_for_runs, wait_until

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
    events = airflow.api.asset_events("pricing.market_prices")
    (event,) = [e for e in events if (e.extra or {}).get("business_date") == BUSINESS_DATE]
    assert event.extra["row_count"] == EXPECTED_ROWS["pricing.market_prices"]
    assert event.extra["dbt_invocation_id"]
    assert event.extra["table"] == "pricing.market_prices"


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


# Several business dates in flight (issue 7). One Airflow (the module's), one scenario after the
# other; the reference is the same dates built one at a time straight through dbt, in a process
# and warehouse of its own, which runs while the first scenario runs in Airflow.
def embedded_only(test):
    """Scenarios of several dates in flight. Not collected again by the Celery twin
    (tests/production/test_e2e_celery.py): what they check is the scheduler's and the build task's,
    the same on both stacks, and each takes some 30 product runs."""
    test.embedded_only = True
    return test


IN_FLIGHT = ["2026-11-04", "2026-11-05", "2026-11-06", "2026-11-07"]
NEWEST_FIRST = ["2026-11-09", "2026-11-08"]
FAILING_DATE, GOOD_DATE = "2026-11-09", "2026-11-01"  # GOOD_DATE: the date the failing trigger's conf names


class Reference:
    """The dates built one at a time straight through dbt (tests/reference_build.py), in a process
    and a warehouse of its own: started with the first scenario, read when a scenario compares."""

    def __init__(self, compiled_repo, state):
        import subprocess
        import sys
        from pathlib import Path

        env = {
            **os.environ,
            "DATAPRODUCTS_HOME": str(compiled_repo),
            "DATAPRODUCTS_STATE_DIR": str(state),
            "DATAPRODUCTS_DUCKDB_PATH": str(state / "warehouse.duckdb"),
        }
        subprocess.run([sys.executable, "-m", "dataproducts.cli", "seed-landing"], env=env, check=True, capture_output=True)
        script = Path(__file__).with_name("reference_build.py")
        dates = [*IN_FLIGHT, *NEWEST_FIRST]
        self.process = subprocess.Popen(
            [sys.executable, str(script), *dates], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._rows: Optional[dict] = None

    def rows(self, dates) -> dict[str, dict[str, int]]:
        import json

        if self._rows is None:
            out, err = self.process.communicate(timeout=1800)
            assert self.process.returncode == 0, err[-3000:]
            self._rows = json.loads(out.strip().splitlines()[-1])
        return {d: self._rows[d] for d in dates}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, compiled_repo):
    built = Reference(compiled_repo, tmp_path_factory.mktemp("reference"))
    yield built
    built.stop()


def trigger_roots(api, mesh, dates, broken: Optional[str] = None) -> str:
    """Every root for every date at once (the `broken` date of inventory.listings fails: its
    trigger names another date in the conf than its partition key)."""
    since = now_iso()
    for date in dates:
        for root in mesh.roots():
            conf = {"business_date": GOOD_DATE} if (root, date) == ("inventory.listings", broken) else None
            api.trigger(root, conf, partition_key=date)
    return since


def runs_of_dates(api, mesh, since: str, expect: set[tuple[str, str]], timeout: float = 3600) -> list[ProductRun]:
    """Once every (product, date) in `expect` was built and no run is active (and none starts in
    a grace period): every run since `since`, with the date each built."""

    def built(runs: Runs) -> set[tuple[str, str]]:
        return {(pid, r.partition_key) for pid, rs in runs.items() for r in rs if r.state == "success" and r.partition_key}

    def finished(runs: Runs) -> bool:
        active = any(r.state in ACTIVE_STATES for rs in runs.values() for r in rs)
        return not active and expect <= built(runs)

    def waiting_for() -> str:
        return f"{sorted(expect)} to be built"

    # settle: a run that would follow late would exist by then
    runs = wait_for_runs(api, mesh.products, since, finished, timeout, waiting_for, settle=20)
    return without_cron_ticks(records(api, runs))


def without_cron_ticks(runs: list[ProductRun]) -> list[ProductRun]:
    """The scenario's runs: the roots' cron may tick while a test runs (at midnight UTC, for the day
    before), and that date's runs, the tick's and its consumers', are none of the scenario's."""
    ticked = {r.partition_key for r in runs if r.run_type == "scheduled"}
    return [r for r in runs if r.partition_key not in ticked]


def rows_by_date(warehouse, tables, dates) -> dict[str, dict[str, int]]:
    if hasattr(warehouse, "rows_of_date"):
        return {d: warehouse.rows_of_date(list(tables), d) for d in dates}
    with duckdb.connect(str(warehouse), read_only=True) as db:
        result = {}
        for date in dates:
            result[date] = {}
            for table in tables:
                columns = {c[0] for c in db.execute(f"describe {table}").fetchall()}
                where = f" where business_date = '{date}'" if "business_date" in columns else ""
                result[date][table] = db.execute(f"select count(*) from {table}{where}").fetchone()[0]
    return result


# Reference data materialized as a table: each run replaces it whole, so only the date built last
# remains in the warehouse (the reference records each date right after building it).
SNAPSHOT_TABLES = ("inventory.vehicle_catalog",)


def assert_rows_as_built_one_at_a_time(warehouse, dates, reference, tables=tuple(EXPECTED_ROWS)) -> None:
    """Every table's rows per date equal the dates built one at a time; a snapshot table holds
    exactly one of the dates, with that date's rows."""
    found = rows_by_date(warehouse, tables, dates)
    expected = {date: {t: n for t, n in rows.items() if t in tables} for date, rows in reference.rows(dates).items()}
    for table in set(SNAPSHOT_TABLES) & set(tables):
        held = {date: found[date].pop(table) for date in dates}
        built = {date: expected[date].pop(table) for date in dates}
        kept = [date for date, rows in held.items() if rows]
        assert len(kept) == 1, f"{table} keeps one date's rows, found {held}"
        assert held[kept[0]] == built[kept[0]], (table, kept[0], held, built)
    assert found == expected


def assert_each_date_once_from_inputs_of_that_date(api, mesh, runs, dates):
    for product_id in mesh.products:
        spec = mesh.products[product_id]
        mine = [r for r in runs if r.product_id == product_id]
        assert all(r.state == "success" for r in mine), [(r.run_id, r.state) for r in mine]
        assert all(r.business_date == r.partition_key for r in mine), "every run builds its own partition's date"
        built = sorted(r.business_date for r in mine)
        if spec.trigger == "any":
            assert set(built) == set(dates), product_id  # once per input that published the date
            assert len(built) <= len(dates) * len(spec.product_inputs), product_id
        else:
            assert built == sorted(dates), f"{product_id} built each date exactly once: {built}"
        for run in mine:
            if run.run_type == "asset_triggered":
                events = api.triggering_events(product_id, run.run_id)
                assert events and {e.partition_key for e in events} == {run.business_date}, (product_id, run.run_id)


@embedded_only
def test_four_dates_in_flight_reach_every_product_once_each_as_built_one_at_a_time(mesh_run, reference):
    mesh, airflow, _, warehouse, _ = mesh_run
    since = trigger_roots(airflow.api, mesh, IN_FLIGHT)
    runs = runs_of_dates(airflow.api, mesh, since, {(p, d) for p in mesh.products for d in IN_FLIGHT})
    assert_each_date_once_from_inputs_of_that_date(airflow.api, mesh, runs, IN_FLIGHT)
    assert_rows_as_built_one_at_a_time(warehouse, IN_FLIGHT, reference)


@embedded_only
def test_dates_triggered_newest_first_with_a_producer_failing_one_build_each_date_once_and_that_one_after_its_rerun(
    mesh_run, reference
):
    """Two new dates triggered newest first; inventory.listings fails for the newer one. The
    other date reaches every product once; for the failed date, the consumers that need every input
    wait, and build it once after the producer's rerun, and only then."""
    mesh, airflow, _, warehouse, _ = mesh_run
    api = airflow.api
    since = trigger_roots(api, mesh, NEWEST_FIRST, broken=FAILING_DATE)
    waits = {"inventory.listings", *mesh.downstream_of("inventory.listings")}
    all_of = {p for p in waits if mesh.products[p].trigger != "any"}  # trigger: any builds from what it has
    good = [d for d in NEWEST_FIRST if d != FAILING_DATE]
    expect = {(p, d) for p in mesh.products for d in good} | {(p, FAILING_DATE) for p in set(mesh.products) - waits}
    before = runs_of_dates(api, mesh, since, expect)
    failed = [r for r in before if r.state == "failed"]
    assert [(r.product_id, r.partition_key) for r in failed] == [("inventory.listings", FAILING_DATE)]
    held = [r for r in before if r.product_id in all_of - {"inventory.listings"} and r.partition_key == FAILING_DATE]
    assert held == [], "no consumer that needs every input ran for the date its producer failed"
    assert_each_date_once_from_inputs_of_that_date(api, mesh, [r for r in before if r.partition_key in good], good)

    rerun_since = now_iso()
    rerun(api, mesh, "inventory.listings", FAILING_DATE, timeout=900, say=lambda _: None)
    after = runs_of_dates(api, mesh, rerun_since, {(p, FAILING_DATE) for p in waits})
    for product_id in all_of:
        built = [r for r in after if r.product_id == product_id and r.state == "success"]
        assert [r.business_date for r in built] == [FAILING_DATE], f"{product_id} built {FAILING_DATE} once, after the rerun"
    assert {r.partition_key for r in after} == {FAILING_DATE}, "the rerun cascades for its date only"
    assert_rows_as_built_one_at_a_time(warehouse, NEWEST_FIRST, reference)


@embedded_only
def test_a_backfill_of_three_dates_rebuilds_each_date_downstream_in_order_once_each(mesh_run, reference):
    """`dataproducts rerun <id> --start --end` as the on-call engineer runs it, against the running
    Airflow: every date in order, each product downstream once per date, the rows unchanged."""
    import subprocess
    import sys

    mesh, airflow, _, warehouse, _ = mesh_run
    dates = IN_FLIGHT[:3]
    since = now_iso()
    command = [sys.executable, "-m", "dataproducts.cli", "--root", str(airflow.project.root), "rerun", "pricing.market_prices"]
    credentials = ["--airflow-url", airflow.url, "--user", "admin", "--password", airflow.password()]
    done = subprocess.run(
        [*command, "--start", dates[0], "--end", dates[-1], *credentials], capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"rebuilding {dates[0]} .. {dates[-1]} (3 dates, one after the other)" in done.stdout
    downstream = ["pricing.market_prices", "pricing.price_ratings", "advertising.promotion_candidates"]
    found = without_cron_ticks(records(airflow.api, airflow.api.runs_of(downstream, since)))
    runs = [r for r in found if r.state == "success"]
    for product_id in ("pricing.market_prices", "pricing.price_ratings"):
        built = [r.business_date for r in sorted(runs, key=lambda r: r.start_date or "") if r.product_id == product_id]
        assert built == dates, f"{product_id} rebuilt each date once, in order: {built}"
    candidates = {r.business_date for r in runs if r.product_id == "advertising.promotion_candidates"}
    assert candidates == set(dates), "trigger: any follows each rebuilt date"
    last_of = {d: max(r.end_date for r in runs if r.business_date == d) for d in dates}
    first_of = {d: min(r.start_date for r in runs if r.business_date == d) for d in dates}
    assert all(last_of[a] <= first_of[b] for a, b in itertools.pairwise(dates)), "one date after the other"
    rebuilt_tables = ["pricing.market_prices", "pricing.price_ratings", "advertising.promotion_candidates"]
    assert_rows_as_built_one_at_a_time(warehouse, dates, reference, tables=rebuilt_tables)


@embedded_only
def test_a_spec_renamed_and_a_new_domain_while_airflow_runs(mesh_run):
    """Last, for it changes the mesh (and puts it back): a team renames a product (its spec file
    and id) and another team starts a domain with `dataproducts new` alone. Airflow retires the old
    DAG without an import error (its DAG id stays, retired: a run of it still queued ends failed,
    saying the spec was deleted), the renamed product and the new domain's product run from their
    inputs' events, and the rest of the mesh runs on."""
    mesh, airflow, _, warehouse, _ = mesh_run
    api, root = airflow.api, airflow.project.root
    old, new = (
        root / "product_specs/advertising/promotion_candidates.yaml",
        root / "product_specs/advertising/promotion_picks.yaml",
    )
    text = old.read_text()
    candidates = "advertising.promotion_candidates"
    api.set_paused(candidates, True)  # its run stays queued while the spec goes away
    queued = api.trigger(candidates, partition_key="2026-11-12")
    try:
        new.write_text(text.replace(f"id: {candidates}", "id: advertising.promotion_picks"))
        old.unlink()
        created = subprocess.run(
            [sys.executable, "-m", "dataproducts.cli", "--root", str(root), "new", "marketing.lead_scores",
             "--reads", "inventory.listings.daily_snapshot", "--source", "landing.raw_listings"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
        changed = load_mesh(airflow.project)
        assert {"advertising.promotion_picks", "marketing.lead_scores"} <= set(changed.products) and not changed.broken

        def retired() -> Optional[bool]:
            retired = _dag_state(api, candidates) == "active" and "retired-spec" in _tags(api, candidates)
            renamed = all(
                _dag_state(api, d) == "active" and "broken-spec" not in _tags(api, d)
                for d in ("advertising.promotion_picks", "marketing.lead_scores")
            )  # `new` shows Airflow the spec only once its dbt project is compiled: never a broken DAG on the way
            return True if retired and renamed else None

        wait_until(retired, 300, lambda: f"Airflow to retire {candidates} and add the renamed and the new product")
        assert api.dag(candidates).description.startswith(
            "RETIRED: product_specs/advertising/promotion_candidates.yaml was deleted on "
        )
        assert api.import_errors() == []

        api.unpause(candidates)  # the queued run of the deleted spec ends failed, saying why
        wait_until(
            lambda: True if _run_state(api, candidates, queued) == "failed" else None,
            180,
            lambda: f"the queued run of the deleted {candidates} to fail: {_run_state(api, candidates, queued)}",
        )
        states = {ti["task_id"]: ti["state"] for ti in _task_instances(api, candidates, queued)}
        assert states["build"] == "failed" and states["publish"] == "upstream_failed", states
        log = str(api.get(f"/api/v2/dags/{candidates}/dagRuns/{queued}/taskInstances/build/logs/1", full_content="true"))
        assert f"the spec product_specs/advertising/promotion_candidates.yaml of {candidates} was deleted on " in log, log[-2000:]

        date, since = "2026-11-12", now_iso()
        for root_product in ("inventory.listings", "user_behaviour.listing_engagement"):
            api.trigger(root_product, partition_key=date)
        followers = ("advertising.campaign_performance", "advertising.promotion_picks", "marketing.lead_scores")
        expect = {(p, date) for p in ("inventory.listings", "user_behaviour.listing_engagement", *followers)}
        runs = runs_of_dates(api, changed, since, expect, timeout=900)
        assert all(r.state == "success" for r in runs), [(r.product_id, r.state) for r in runs]
        assert api.runs_since(candidates, since) == [], "the retired DAG starts no runs of its own"
        with duckdb.connect(str(warehouse), read_only=True) as db:
            assert db.execute("select count(*) from marketing.lead_scores where business_date = ?", [date]).fetchone()[0] == 1
    finally:  # the session's other tests share this repository
        old.write_text(text)
        new.unlink(missing_ok=True)
        for path in ("product_specs/marketing", "dbt/marketing"):
            shutil.rmtree(root / path, ignore_errors=True)
        (root / "dags/marketing.py").unlink(missing_ok=True)


def _run_state(api, dag_id: str, run_id: str) -> str:
    return str(api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])


def _task_instances(api, dag_id: str, run_id: str) -> list[dict]:
    return api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]


def _tags(api, dag_id: str) -> set[str]:
    return {t.name for t in api.dag(dag_id).tags}


def _dag_state(api, dag_id: str) -> str:
    try:
        return "stale" if api.dag(dag_id).is_stale else "active"
    except AirflowNotFound:
        return "absent"
