"""Typed contracts: which warehouse types keep a logical type, per adapter, and the run-time
check's column-by-column diff (the real run: test_product_run.py)."""

from __future__ import annotations

import pytest
from conftest import spec

from dataproducts.core import contract, warehouse_types
from dataproducts.core.spec import DataProductSpec, LogicalType


@pytest.mark.parametrize(
    "adapter, logical, warehouse_type, fits",
    [
        ("duckdb", LogicalType.string, "VARCHAR", True),
        ("duckdb", LogicalType.integer, "HUGEINT", True),
        ("duckdb", LogicalType.number, "DECIMAL(12,2)", True),
        ("duckdb", LogicalType.integer, "DECIMAL(12,2)", False),
        ("duckdb", LogicalType.timestamp, "TIMESTAMP WITH TIME ZONE", True),
        ("postgres", LogicalType.string, "character varying(20)", True),
        ("postgres", LogicalType.number, "double precision", True),
        ("postgres", LogicalType.integer, "hugeint", False),
        ("postgres", LogicalType.date, "timestamp without time zone", False),
        ("snowflake", LogicalType.date, "anything", None),
    ],
)
def test_warehouse_types_keep_logical_types_by_family(adapter, logical, warehouse_type, fits):
    assert warehouse_types.fits(adapter, logical, warehouse_type) is fits


def test_the_run_time_check_names_every_column_expected_and_found():
    product = DataProductSpec.model_validate(
        spec(
            output_ports=[
                {
                    "name": "listings",
                    "contract": {
                        "columns": [
                            {"name": "listing_id", "type": "string"},
                            {"name": "price_eur", "type": "number"},
                            {"name": "city", "type": "string"},
                        ]
                    },
                }
            ]
        )
    )
    (check,) = contract.check_columns(product, {"listings": {"LISTING_ID": "VARCHAR", "price_eur": "VARCHAR"}}, "duckdb")
    assert not check.passed and check.missing == ("city",)
    assert check.message == (
        "inventory.listings does not keep the contract of output port inventory.listings.listings: "
        "price_eur: expected number, found VARCHAR (which does not keep number); city: expected string, found missing. "
        "Restore them in the dbt model, or change the contract in a new major version of the spec"
    )
    (unknown,) = contract.check_columns(product, {"listings": {"listing_id": "X", "price_eur": "Y", "city": "Z"}}, "other")
    assert unknown.passed, "an adapter without a mapping is checked by names only"


def test_the_readme_shows_the_mapping():
    from conftest import REPO

    assert warehouse_types.markdown_table() in (REPO / "README.md").read_text()
