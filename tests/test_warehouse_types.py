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


def test_every_output_model_enforces_its_dbt_contract_with_types_that_keep_the_spec(project_copy):
    from conftest import compile_dbt

    from dataproducts.core.mesh import load_mesh
    from dataproducts.core.project import Project

    catalog = project_copy / "dbt" / "inventory" / "models" / "vehicle_catalog" / "vehicle_catalog.yml"
    catalog.write_text(
        catalog.read_text().replace("      contract: {enforced: true}\n", "      contract: {enforced: false}\n", 1)
    )
    listings = project_copy / "dbt" / "inventory" / "models" / "listings" / "listings.yml"
    text = listings.read_text()
    city = text.index("      - name: city\n")
    listings.write_text(text[:city] + text[city:].replace("data_type: varchar", "data_type: integer", 1))
    compile_dbt(project_copy)

    mesh = load_mesh(Project(project_copy))

    assert sorted(mesh.broken) == ["inventory.listings", "inventory.vehicle_catalog"]
    (unenforced,) = mesh.broken["inventory.vehicle_catalog"].errors
    assert unenforced.field == "output_ports[0].contract"
    assert unenforced.problem == (
        "dbt model 'vehicle_catalog' does not enforce its contract, so dbt would replace the table whatever columns it builds"
    )
    assert unenforced.fix.startswith("add 'config: {contract: {enforced: true}}' and a data_type for every column")
    (retyped,) = mesh.broken["inventory.listings"].errors
    assert retyped.problem == (
        "dbt model 'listings' declares column 'city' as data_type 'integer', which does not keep the contract's type 'string' on duckdb"
    )
    assert retyped.fix.startswith("declare a data_type of one of: bpchar, char, string, text, uuid, varchar")
