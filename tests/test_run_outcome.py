"""The build task's typed outcome (core/run_outcome.BuildOutcome) as XCom carries it.

- it round-trips through JSON (Airflow's XCom serialisation, and its REST API) unchanged, with the
  keys the build task's XCom always had;
- what runs from before the typed outcome left (an older success without contract checks, quality
  results or target path; a failed build; a skipped one) is read with defaults, by the run note,
  the run record and the REST readers (demo, rerun, run listing) over a real HTTP exchange;
- a value that is not an outcome is an explicit error (OutcomeUnreadable; AirflowApiError over REST).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fake_airflow import TOKEN, FakeAirflow, dag_run

from dataproducts.core import quality
from dataproducts.core.run_outcome import (
    BuildOutcome,
    ContractCheckResult,
    DbtNode,
    OutcomeUnreadable,
)
from dataproducts.core.spec import QualityRule

DATE = dt.date(2026, 11, 3)

# What the build task returned before the typed outcome, shapes taken from its history.
OLD_SUCCESS = {  # before column types, contract checks, quality results and the dbt target path
    "business_date": "2026-11-03",
    "dbt_invocation_id": "0f3c",
    "row_counts": {"listings": 411},
    "dbt_nodes": [
        {
            "unique_id": "model.inventory.listings",
            "resource_type": "model",
            "status": "success",
            "message": "OK",
            "rows_affected": 411,
            "seconds": 1.5,
        }
    ],
}
OLD_FAILURE = {  # the build failed before choosing a date (a broken spec, an input that never published)
    "failed": "the spec of inventory.listings is gone",
    "dbt_target_path": "/state/runs/inventory.listings/manual/try_1/target",
    "business_date": None,
    "dbt_invocation_id": "",
    "dbt_nodes": [],
}
OLD_SKIPPED = {"skipped": "not every input has published 2026-11-03 yet"}


def full_outcome(spec) -> BuildOutcome:
    port = spec.output_ports[0]
    rules = [
        (quality.DEFAULT_RULE, 57.0),
        (QualityRule(metric="null_values", column="segment", unit="percent", must_be_less_than=5, severity="warn"), 12.5),
    ]
    return BuildOutcome(
        business_date=DATE,
        dbt_target_path="/state/runs/pricing.market_prices/manual__1/try_1/target",
        dbt_invocation_id="abc-123",
        row_counts={"market_prices": 57},
        column_types={"market_prices": {"market_key": "VARCHAR", "median_price_eur": "DOUBLE"}},
        dbt_nodes=[
            DbtNode(
                unique_id="test.pricing.unique_market_key.1",
                resource_type="test",
                status="pass",
                message="",
                rows_affected=None,
                seconds=0.2,
            )
        ],
        contract_checks=[
            ContractCheckResult(
                unique_id="contract.pricing.market_prices.daily", table="market_prices", passed=True, message="ok"
            )
        ],
        quality_results=[quality.result(spec, port, rule, observed) for rule, observed in rules],
    )


@pytest.fixture(scope="module")
def market_prices():
    from conftest import FIXTURE_MESH

    from dataproducts.core.loader import load_spec_file

    path = FIXTURE_MESH / "product_specs" / "pricing" / "market_prices.yaml"
    entry = load_spec_file(path, FIXTURE_MESH, FIXTURE_MESH / "product_specs")
    assert entry.spec is not None, entry.errors
    return entry.spec


def test_the_outcome_round_trips_through_json_as_xcom_carries_it(market_prices):
    from airflow.models.xcom import XComModel

    outcome = full_outcome(market_prices)
    value = outcome.to_xcom()
    stored = XComModel.serialize_value(value)  # what Airflow writes to its database
    assert BuildOutcome.from_xcom(json.loads(stored)) == outcome
    assert value["business_date"] == "2026-11-03", "the date is YYYY-MM-DD in XCom, as before"
    assert set(OLD_SUCCESS) | set(OLD_FAILURE) | set(OLD_SKIPPED) <= set(value), "every key the XCom always had"
    assert value["quality_results"][1]["unique_id"] == "quality.pricing.market_prices.daily.null_values_segment"
    assert outcome.quality_warnings("pricing.market_prices.daily") == [value["quality_results"][1]["message"]]
    assert not outcome.blocking_quality_results() and not outcome.failed_contract_checks()


def test_outcomes_of_runs_from_before_the_upgrade_read_with_defaults():
    old = BuildOutcome.from_xcom(OLD_SUCCESS)
    assert old is not None and old.business_date == DATE and old.row_counts == {"listings": 411}
    assert old.dbt_nodes[0].rows_affected == 411
    assert (old.contract_checks, old.quality_results, old.column_types, old.dbt_target_path, old.failed) == ([], [], {}, "", None)

    failed = BuildOutcome.from_xcom(OLD_FAILURE)
    assert failed is not None and failed.business_date is None and failed.failed == OLD_FAILURE["failed"]
    assert failed.row_counts == {}

    skipped = BuildOutcome.from_xcom(OLD_SKIPPED)
    assert skipped is not None and skipped.skipped == OLD_SKIPPED["skipped"] and skipped.business_date is None
    assert BuildOutcome.from_xcom(None) is None, "no XCom: the build never got that far"
    assert BuildOutcome.from_xcom({"business_date": "2026-11-03", "a_key_of_a_later_version": 1}).business_date == DATE


@pytest.mark.parametrize(
    "value",
    [
        ["not", "an", "outcome"],
        "2026-11-03",
        {"business_date": "yesterday"},
        {"row_counts": "411"},
        {"dbt_nodes": [{"status": "pass"}]},
    ],
)
def test_a_value_that_is_not_an_outcome_is_an_explicit_error(value):
    with pytest.raises(OutcomeUnreadable):
        BuildOutcome.from_xcom(value)


def test_the_run_note_reads_old_and_new_outcomes(market_prices):
    from dataproducts.airflow.run_labels import note_for

    assert note_for(BuildOutcome.from_xcom(OLD_SUCCESS), {"full_refresh": True}) == "Business date 2026-11-03 (full refresh)"
    assert (
        note_for(BuildOutcome.from_xcom({**OLD_SUCCESS, "failed": "contract broken"}), {}) == "Business date 2026-11-03: failed"
    )
    assert note_for(BuildOutcome.from_xcom(OLD_FAILURE), {}) is None
    assert note_for(BuildOutcome.from_xcom(OLD_SKIPPED), None) == f"Built nothing: {OLD_SKIPPED['skipped']}"
    assert note_for(BuildOutcome.from_xcom(full_outcome(market_prices).to_xcom()), None) == "Business date 2026-11-03"


def test_the_run_record_keeps_the_typed_quality_results_through_the_outbox(market_prices):
    from dataproducts.metadata.run_record import RunRecord

    results = full_outcome(market_prices).quality_results
    record = RunRecord(market_prices.id, market_prices.id, "run", 1, "2026-11-03", 0, 1, True, quality=list(results))
    kept = RunRecord.from_dict(json.loads(json.dumps(record.to_dict())))  # as the outbox stores it
    assert kept.quality == list(results) and kept.quality[1].observed == 12.5 and not kept.quality[1].passed
    assert kept == record


@pytest.fixture
def fake_airflow():
    with FakeAirflow() as fake:
        yield fake


def _run(run_id, state):
    return dag_run("inventory.listings", run_id, state, start_date=f"2026-11-04T0{run_id[-1]}:00:00Z")


def test_the_rest_readers_read_runs_from_before_and_after_the_upgrade(fake_airflow, market_prices):
    from dataproducts.ops.airflow_api import AirflowApi, records
    from dataproducts.ops.rerun import _building_run

    fake_airflow.xcoms.update({"old_1": OLD_SUCCESS, "new_2": full_outcome(market_prices).to_xcom()})  # failed_3 left none
    api = AirflowApi(fake_airflow.url, token=TOKEN)
    runs = [_run("old_1", "success"), _run("new_2", "success"), _run("failed_3", "failed")]

    listed = {r.run_id: r for r in records(api, {"inventory.listings": runs})}
    assert (listed["old_1"].business_date, listed["old_1"].row_counts) == ("2026-11-03", {"listings": 411})
    assert (listed["new_2"].business_date, listed["new_2"].row_counts) == ("2026-11-03", {"market_prices": 57})
    assert (listed["failed_3"].business_date, listed["failed_3"].row_counts) == (None, {})
    assert _building_run(api, "inventory.listings", runs, "2026-11-03").dag_run_id == "old_1"
    assert _building_run(api, "inventory.listings", runs, "2026-11-04") is None


def test_a_rest_reader_names_a_run_whose_build_value_is_not_an_outcome(fake_airflow):
    from dataproducts.ops.airflow_api import AirflowApi, AirflowApiError

    fake_airflow.xcoms["odd_1"] = ["someone", "else's", "value"]
    with pytest.raises(
        AirflowApiError, match="build task of inventory.listings run odd_1 returned something other than a build outcome"
    ):
        AirflowApi(fake_airflow.url, token=TOKEN).built("inventory.listings", "odd_1")
