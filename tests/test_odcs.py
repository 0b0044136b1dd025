"""ODCS v3 export of an output port's contract, validated by Bitol's own package
(open-data-contract-standard: its JSON Schema and its pydantic model)."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import FIXTURE_MESH
from test_cli import run

from dataproducts.core import odcs
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project


def test_every_port_of_the_mesh_exports_a_valid_odcs_contract():
    mesh = load_mesh(Project(FIXTURE_MESH), check_dbt=False)
    ports = [(spec, port) for spec in mesh.products.values() for port in spec.output_ports]
    for spec, port in ports:
        odcs.validate(odcs.contract_document(spec, port))
    assert len(ports) == 8


def test_the_export_says_what_the_spec_says(capsys):
    from open_data_contract_standard.model import OpenDataContractStandard

    code, out, _ = run(capsys, "--root", str(FIXTURE_MESH), "contract", "pricing.price_ratings.ratings", "--format", "json")
    assert code == 0
    contract = OpenDataContractStandard.model_validate(json.loads(out))
    assert (contract.apiVersion, contract.kind, contract.id, contract.version) == (
        "v3.1.0",
        "DataContract",
        "pricing.price_ratings.ratings",
        "1.0.0",
    )
    (table,) = contract.schema_
    assert table.physicalName == "pricing.price_ratings"
    listing_id = next(p for p in table.properties if p.name == "listing_id")
    assert (listing_id.logicalType, listing_id.required, listing_id.unique) == ("string", True, True)
    assert [(r.role, r.access) for r in contract.roles] == [("domain pricing", "read"), ("domain advertising", "read")]
    assert [(s.property, s.value, s.unit) for s in contract.slaProperties] == [("latency", 26, "h")]
    assert contract.team.name == "pricing"
    code, out, _ = run(capsys, "--root", str(FIXTURE_MESH), "contract", "pricing.price_ratings.ratings")
    assert code == 0 and yaml.safe_load(out)["id"] == "pricing.price_ratings.ratings"


def test_an_invalid_document_is_rejected_naming_the_place():
    mesh = load_mesh(Project(FIXTURE_MESH), check_dbt=False)
    spec = mesh.products["pricing.market_prices"]
    document = odcs.contract_document(spec, spec.output_ports[0])
    document["schema"][0]["properties"][0]["logicalType"] = "strng"
    with pytest.raises(odcs.InvalidContract, match=r"schema/0/properties/0/logicalType: 'strng' is not one of"):
        odcs.validate(document)


def test_an_unknown_port_is_a_usage_error(capsys):
    code, _, err = run(capsys, "--root", str(FIXTURE_MESH), "contract", "pricing.market_prices.nope")
    assert code == 2 and "'pricing.market_prices' has no output port 'nope'; its ports: daily" in err


def test_quality_rules_export_as_odcs_data_quality_where_odcs_puts_them():
    """Column rules on their property, table rules on the table; the default rule and default
    operators made explicit; the document validates (Bitol's schema and model)."""
    from test_quality import product

    spec = product(
        {"metric": "null_values", "column": "price_eur", "unit": "percent", "must_be_less_than": 5, "severity": "warn"},
        {"metric": "duplicate_values", "columns": ["listing_id", "business_date"]},
        {"name": "cheap", "query": "select count(*) from ${table} where price_eur < 1", "must_be_between": [0, 2]},
    )
    document = odcs.contract_document(spec, spec.output_ports[0])
    odcs.validate(document)
    (table,) = document["schema"]
    price = next(p for p in table["properties"] if p["name"] == "price_eur")
    assert price["quality"] == [
        {
            "name": "null_values_price_eur",
            "severity": "warn",
            "type": "library",
            "metric": "nullValues",
            "unit": "percent",
            "mustBeLessThan": 5,
        }
    ]
    assert [(q["name"], q["type"], q.get("metric"), q.get("arguments")) for q in table["quality"]] == [
        (
            "duplicate_values_listing_id_business_date",
            "library",
            "duplicateValues",
            {"properties": ["listing_id", "business_date"]},
        ),
        ("cheap", "sql", None, None),
        ("row_count", "library", "rowCount", None),
    ]
    assert (table["quality"][0]["mustBe"], table["quality"][1]["mustBeBetween"], table["quality"][2]["mustBeGreaterThan"]) == (
        0,
        [0, 2],
        0,
    )
