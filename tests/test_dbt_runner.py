"""dbt for real on DuckDB: a product's build, its idempotent reruns, and dbt's own error on failure."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
import sys

import duckdb
import pytest

from dataproducts.core.project import Project
from dataproducts.dbt import runner as dbt_runner

D3, D4 = dt.date(2026, 11, 3), dt.date(2026, 11, 4)


@pytest.fixture
def warehouse(tmp_path, compiled_repo, monkeypatch):
    """A fresh DuckDB warehouse with the landing data loaded."""
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DATAPRODUCTS_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    subprocess.run(
        [sys.executable, "-m", "dataproducts.cli", "--root", str(compiled_repo), "seed-landing"], check=True, capture_output=True
    )
    return tmp_path / "warehouse.duckdb"


def build_listings(project, date, work_dir):
    return dbt_runner.build(project, "inventory", ["path:models/listings"], date, work_dir, ["listings"])


def rows_by_date(path) -> dict[str, tuple]:
    """business date -> (rows, a checksum of their content)"""
    query = "select business_date, count(*), sum(hash(listing_id, price_eur, mileage_km)) from inventory.listings group by 1"
    with duckdb.connect(str(path)) as db:  # same config as dbt-duckdb's open in-process connection
        return {str(date): (rows, checksum) for date, rows, checksum in db.execute(query).fetchall()}


def files_parsed(work_dir) -> int:
    """How many project files dbt parsed in that run (0: everything came from partial-parse state)."""
    return json.loads((work_dir / "target" / "perf_info.json").read_text())["parsed_path_count"]


def test_rerunning_a_date_rewrites_exactly_that_date(warehouse, tmp_path, compiled_repo, caplog):
    project = Project(compiled_repo)
    caplog.set_level(logging.INFO)
    first = build_listings(project, D3, tmp_path / "run1")
    assert first.row_counts["listings"] > 0 and first.invocation_id
    assert {"business_date", "listing_id", "price_eur", "city"} <= set(first.columns["listings"])
    assert any("Completed successfully" in r.getMessage() for r in caplog.records), "dbt's log reaches our logger"
    from dbt.flags import get_flags

    assert get_flags().SEND_ANONYMOUS_USAGE_STATS is False, "no request to dbt Labs from every build"
    after_first = rows_by_date(warehouse)
    assert files_parsed(tmp_path / "run1") > 0
    build_listings(project, D3, tmp_path / "run2")
    assert rows_by_date(warehouse) == after_first
    assert files_parsed(tmp_path / "run2") == 0, "the same date again: dbt reuses run1's partial-parse state"
    build_listings(project, D4, tmp_path / "run3")
    assert files_parsed(tmp_path / "run3") > 0, "another date renders other configs: a full parse"
    after_other_date = rows_by_date(warehouse)
    assert set(after_other_date) == {"2026-11-03", "2026-11-04"}
    assert after_other_date["2026-11-03"] == after_first["2026-11-03"]


def test_a_failing_dbt_test_fails_the_build_with_dbts_message(warehouse, tmp_path, compiled_repo, monkeypatch):
    copy = tmp_path / "repo"
    shutil.copytree(compiled_repo / "dbt", copy / "dbt", ignore=shutil.ignore_patterns("target", "logs"))
    model = copy / "dbt" / "inventory" / "models" / "listings" / "listings.sql"
    model.write_text(model.read_text().replace("r.listing_id,", "cast(null as varchar) as listing_id,", 1))
    with pytest.raises(dbt_runner.DbtFailed) as failure:
        build_listings(Project(copy), D3, tmp_path / "run")
    message = str(failure.value)
    assert message.startswith(
        "dbt build failed for path:models/listings (2026-11-03): test.inventory.not_null_listings_listing_id"
    )
    assert "Got 411 results, configured to fail if != 0" in message


def test_output_rows_and_columns_are_read_directly_as_dbt_itself_reports_them(warehouse, tmp_path, compiled_repo, caplog):
    """The build reads its outputs' rows and columns with direct queries, no second dbt invocation;
    they equal what `dbt show` of dbt's own get_columns_in_relation and a count says."""
    project = Project(compiled_repo)
    caplog.set_level(logging.INFO)
    built = build_listings(project, D3, tmp_path / "run")
    assert not [r for r in caplog.records if r.getMessage().startswith("dbt show")], "no dbt invocation after the build"
    work_dir = tmp_path / "dbt_show"
    manifest = dbt_runner.parse(project, "inventory", work_dir, json.dumps({"business_date": D3.isoformat()}))
    by_dbt = dbt_runner._inspect_with_dbt_show(project, "inventory", work_dir, ["listings"], D3, logging.getLogger(), manifest)
    assert (built.row_counts, built.columns) == by_dbt
    assert built.columns["listings"]["business_date"] == "date"
    assert built.row_counts["listings"] == rows_by_date(warehouse)["2026-11-03"][0]
