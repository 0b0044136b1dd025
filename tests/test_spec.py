"""The spec model and the loader: what a domain team sees when a spec is wrong."""

from __future__ import annotations

import pytest
from conftest import spec, write_spec

from dataproducts.core.loader import load_spec_file


def load(tmp_project, document, product_id=None):
    path = write_spec(tmp_project.root, document, product_id)
    return load_spec_file(path, tmp_project.root)


def messages(entry) -> list[str]:
    return [str(e) for e in entry.errors]


def test_valid_spec_loads(tmp_project):
    entry = load(tmp_project, spec())
    assert entry.ok, messages(entry)
    assert entry.spec.id == "inventory.listings"
    assert entry.spec.output_ports[0].table_name == "listings"
    assert entry.spec.timezone == "Europe/Berlin"


def test_unknown_field_names_the_field_and_suggests_the_spelling(tmp_project):
    document = spec()
    document["ouput_ports"] = document.pop("output_ports")
    assert messages(load(tmp_project, document)) == [
        "product_specs/inventory/listings.yaml:1:1: output_ports: required field is missing. "
        "Fix: add 'output_ports:' (see schema/dataproduct.schema.json)",
        "product_specs/inventory/listings.yaml:22:1: ouput_ports: unknown field. "
        "Fix: did you mean 'output_ports'? remove or rename it; allowed here: apiVersion, deprecation, description, domain, id, "
        "input_ports, name, output_ports, owner, schedule, status, tags, terms, transform, version",
    ]


def test_bad_column_type_names_the_nested_field(tmp_project):
    document = spec()
    document["output_ports"][0]["contract"]["columns"][0]["type"] = "strng"
    (message,) = messages(load(tmp_project, document))
    assert message.startswith(
        "product_specs/inventory/listings.yaml:27:13: output_ports[0].contract.columns[0].type: 'strng' is not allowed"
    )
    assert message.endswith("Fix: use one of 'string', 'integer', 'number', 'boolean', 'date' or 'timestamp'")


def test_id_must_match_the_file_place(tmp_project):
    entry = load(tmp_project, spec(id="inventory.stock"), product_id="inventory.listings")
    assert messages(entry) == [
        "product_specs/inventory/listings.yaml:1:5: id: 'inventory.stock' does not match the file's place, which makes "
        "the id 'inventory.listings'. Fix: set id: inventory.listings, or move the file to product_specs/inventory/stock.yaml"
    ]
    assert entry.product_id == "inventory.listings"


def test_invalid_yaml_names_line_and_column(tmp_project):
    entry = load(tmp_project, "id: inventory.listings\nname: [unclosed\n")
    (message,) = messages(entry)
    assert message == (
        "product_specs/inventory/listings.yaml:2:7: has a '[' that is never closed (it opens here). "
        "Fix: close it with ']', or write the value without brackets"
    )


def test_yaml_tags_that_build_python_objects_are_refused(tmp_project):
    entry = load(tmp_project, "id: !!python/object/apply:os.system ['echo pwned']\n")
    assert not entry.ok
    assert messages(entry) == [
        "product_specs/inventory/listings.yaml:1:5: uses the YAML tag '!!python/object/apply:os.system', which specs "
        "may not use: specs are plain data. Fix: remove the tag (write the value as plain text, a number, a list or a mapping)"
    ]


@pytest.mark.parametrize(
    "changes, field, problem",
    [
        ({"version": "1.0"}, "version", "'1.0' is not allowed"),
        ({"status": "retired"}, "status", "'retired' is not allowed"),
        ({"schedule": {"cron": "every day"}}, "schedule.cron", "'every day' is not a valid cron expression"),
        (
            {"schedule": {"cron": "0 2 * * *", "timezone": "Mars/Olympus"}},
            "schedule.timezone",
            "'Mars/Olympus' is not an IANA timezone",
        ),
        ({"owner": {"team": "inventory_team", "contact": "nobody"}}, "owner.contact", "value is not a valid email address"),
        (
            {"owner": {"team": "inventory_team", "contact": "<svg/onload=alert(1)>@evil.io"}},
            "owner.contact",
            "value is not a valid email address",
        ),
        ({"domain": "pricing"}, None, "id 'inventory.listings' must start with its domain 'pricing.'"),
        ({"schedule": None}, None, "a product that reads no other product needs schedule.cron"),
        ({"output_ports": []}, "output_ports", "List should have at least 1 item"),
        (
            {"transform": {"dbt": {"project": "inventory", "select": ["x; rm -rf /"]}}},
            "transform.dbt.select[0]",
            "is not allowed",
        ),
        ({"transform": {"dbt": {"project": "../etc", "select": ["x"]}}}, "transform.dbt.project", "'../etc' is not allowed"),
        (
            {"transform": {"dbt": {"project": "inventory", "select": ["path:../../secrets"]}}},
            "transform.dbt.select",
            "leads out of the dbt project",
        ),
    ],
)
def test_invalid_values_are_reported_at_their_field(tmp_project, changes, field, problem):
    (error,) = load(tmp_project, spec(**changes)).errors
    assert error.field == field
    assert problem in error.problem


def test_input_port_must_be_product_or_source(tmp_project):
    document = spec(input_ports=[{"name": "x", "product": "pricing.prices"}])
    (error,) = load(tmp_project, document).errors
    assert (error.field, error.problem) == ("input_ports[0]", "a product input needs both 'product' and 'port'")


def test_duplicate_column_names_are_refused(tmp_project):
    document = spec()
    column = document["output_ports"][0]["contract"]["columns"][0]
    document["output_ports"][0]["contract"]["columns"].append(dict(column))
    (error,) = load(tmp_project, document).errors
    assert error.field == "output_ports[0].contract.columns"
    assert "column name 'listing_id' is used twice" in error.problem


def test_committed_json_schema_is_current():
    from dataproducts.cli import main

    assert main(["--root", str(__import__("conftest").REPO), "schema", "--check"]) == 0
