"""Naming rules: each rule's exact message and suggested name, error vs warn through `validate`
(text and JSON) and Airflow's DagBag (only the offending spec breaks), and the settings that
configure them (AIRFLOW__DATAPRODUCTS__NAMING_*)."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import consumer, dag_bag, spec, write_spec

from dataproducts.cli import main
from dataproducts.core import naming, naming_rules, settings
from dataproducts.core.mesh import load_mesh


@pytest.fixture(autouse=True)
def default_rules(monkeypatch):
    """Every naming setting at its default, whatever the environment running the tests says."""
    for setting in settings.SETTINGS.values():
        if setting.name.startswith("naming_"):
            monkeypatch.delenv(setting.env, raising=False)
            monkeypatch.delenv(setting.short_env, raising=False)


def messages(errors) -> list[str]:
    return [str(e) for e in errors]


def column(name: str) -> dict:
    return {"name": name, "type": "string"}


def listings(**changes) -> dict:
    """The test spec inventory.listings with one output port (its changes applied)."""
    port = {"name": "listings", "contract": {"columns": [column("listing_id")]}, **changes}
    return spec(output_ports=[port])


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("listingPrice", "listing_price"),
        ("ListingPrice", "listing_price"),
        ("HTTPStatus2xx", "http_status2xx"),
        ("priceEUR", "price_eur"),
        ("market__prices", "market_prices"),
        ("daily_", "daily"),
        ("Price_2", "price_2"),
    ],
)
def test_the_suggested_name_is_the_snake_case_form(name, snake):
    assert naming_rules.snake_case(name) == snake


def test_a_column_name_that_is_not_snake_case_breaks_the_spec_with_the_snake_case_name(tmp_project):
    write_spec(tmp_project.root, listings(contract={"columns": [column("listing_id"), column("listingPrice")]}))
    mesh = load_mesh(tmp_project, check_dbt=False)
    assert mesh.products == {}
    assert messages(mesh.errors) == [
        "product_specs/inventory/listings.yaml:28:13: output_ports[0].contract.columns[1].name: column name 'listingPrice' "
        "is not snake_case (naming rule column_name). Fix: rename it to 'listing_price' in the contract and in the dbt model"
    ]


def test_port_names_input_and_output(tmp_project):
    document = listings(name="dailySnapshot")
    document["input_ports"][0]["name"] = "rawListings"
    write_spec(tmp_project.root, document)
    assert messages(load_mesh(tmp_project, check_dbt=False).errors) == [
        "product_specs/inventory/listings.yaml:13:9: input_ports[0].name: input port name 'rawListings' is not snake_case "
        "(naming rule port_name). Fix: rename it to 'raw_listings'",
        # the table is the port's name: renaming the port renames it, so it is not reported twice
        "product_specs/inventory/listings.yaml:23:9: output_ports[0].name: output port name 'dailySnapshot' is not "
        "snake_case (naming rule port_name). Fix: rename it to 'daily_snapshot' (its readers name it in port:)",
    ]


def test_a_table_name(tmp_project):
    write_spec(tmp_project.root, listings(table="Listings_Daily"))
    assert messages(load_mesh(tmp_project, check_dbt=False).errors) == [
        "product_specs/inventory/listings.yaml:28:10: output_ports[0].table: table name 'Listings_Daily' is not snake_case "
        "(naming rule table_name). Fix: rename it to 'listings_daily' (table: and the dbt model)"
    ]


def test_a_table_named_by_its_port_when_only_port_names_may_be_anything(tmp_project, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DATAPRODUCTS__NAMING_PORT_NAME_SEVERITY", "off")
    write_spec(tmp_project.root, listings(name="dailySnapshot"))
    assert messages(load_mesh(tmp_project, check_dbt=False).errors) == [
        "product_specs/inventory/listings.yaml:23:9: output_ports[0].name: table name (the port's name) 'dailySnapshot' is "
        "not snake_case (naming rule table_name). Fix: add table: daily_snapshot (and name the dbt model so), or rename the port"
    ]


def test_a_table_named_by_its_port_is_an_error_when_only_the_port_rule_warns(tmp_project, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DATAPRODUCTS__NAMING_PORT_NAME_SEVERITY", "warn")
    write_spec(tmp_project.root, listings(name="dailySnapshot"))
    mesh = load_mesh(tmp_project, check_dbt=False)
    assert [(e.field, e.problem) for e in mesh.errors] == [
        ("output_ports[0].name", "table name (the port's name) 'dailySnapshot' is not snake_case (naming rule table_name)")
    ]
    assert [(w.field, w.fix) for w in mesh.warnings] == [
        ("output_ports[0].name", "rename it to 'daily_snapshot' (its readers name it in port:)")
    ]


def test_a_product_id(tmp_project):
    document = spec(id="inventory.car__listings")
    write_spec(tmp_project.root, document)
    assert messages(load_mesh(tmp_project, check_dbt=False).errors) == [
        "product_specs/inventory/car__listings.yaml:1:5: id: product id 'inventory.car__listings' is not snake_case "
        "(naming rule product_id). Fix: rename the product to 'inventory.car_listings': set id: inventory.car_listings, "
        "and move the file to product_specs/inventory/car_listings.yaml"
    ]


def animals(domain: str) -> dict:
    """<domain>.animals, a root product whose one output port 'animals' is its table."""
    return spec(
        id=f"{domain}.animals",
        domain=domain,
        transform={"dbt": {"project": domain, "select": ["path:models/animals"]}},
        output_ports=[{"name": "animals", "contract": {"columns": [column("id")]}}],
    )


def test_a_table_name_used_twice_flags_the_later_file_naming_the_earlier(tmp_project):
    write_spec(tmp_project.root, listings(name="daily"))
    reader = consumer("pricing.market_prices", [("inventory.listings", "daily")])
    reader["output_ports"] = [{"name": "prices", "table": "daily", "contract": {"columns": [column("id")]}}]
    write_spec(tmp_project.root, reader)
    mesh = load_mesh(tmp_project, check_dbt=False)
    assert sorted(mesh.products) == ["inventory.listings"]
    assert messages(mesh.errors) == [
        "product_specs/pricing/market_prices.yaml:21:10: output_ports[0].table: table name 'daily' is already used by "
        "inventory.listings (product_specs/inventory/listings.yaml, output port 'daily'); table names are unique across "
        "the mesh (naming rule unique_table_names). Fix: rename it, e.g. to 'market_prices_daily' (table: and the dbt model)"
    ]


def test_the_earlier_file_keeps_its_table_whichever_is_written_first(tmp_project):
    """File path order decides, not the order files were written or products are named."""
    write_spec(tmp_project.root, animals("zoo"))
    write_spec(tmp_project.root, animals("ads"))
    mesh = load_mesh(tmp_project, check_dbt=False)
    assert sorted(mesh.products) == ["ads.animals"]
    (error,) = mesh.errors
    assert (error.file, error.field) == ("product_specs/zoo/animals.yaml", "output_ports[0].name")
    assert "already used by ads.animals (product_specs/ads/animals.yaml, output port 'animals')" in error.problem
    assert error.fix == "rename it, e.g. to 'zoo_animals' (table: and the dbt model)"


def test_a_spec_broken_for_another_reason_claims_no_table_name(tmp_project):
    broken = animals("ads")
    broken["input_ports"] = [{"name": "in_0", "product": "nowhere.thing", "port": "daily"}]
    write_spec(tmp_project.root, broken)
    write_spec(tmp_project.root, animals("zoo"))
    mesh = load_mesh(tmp_project, check_dbt=False)
    assert sorted(mesh.products) == ["zoo.animals"]
    assert [e.field for e in mesh.errors] == ["input_ports[0].product"]


def test_warn_keeps_the_spec_valid_and_makes_a_warning(tmp_project, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DATAPRODUCTS__NAMING_COLUMN_NAME_SEVERITY", "warn")
    write_spec(tmp_project.root, listings(contract={"columns": [column("listingId")]}))
    mesh = load_mesh(tmp_project, check_dbt=False)
    assert sorted(mesh.products) == ["inventory.listings"] and mesh.errors == []
    assert messages(mesh.warnings) == [
        "product_specs/inventory/listings.yaml:26:13: output_ports[0].contract.columns[0].name: column name 'listingId' "
        "is not snake_case (naming rule column_name). Fix: rename it to 'listing_id' in the contract and in the dbt model"
    ]
    monkeypatch.setenv("AIRFLOW__DATAPRODUCTS__NAMING_COLUMN_NAME_SEVERITY", "off")
    mesh = load_mesh(tmp_project, check_dbt=False)
    assert (mesh.errors, mesh.warnings) == ([], [])


def test_a_pattern_of_the_teams_own(tmp_project, monkeypatch):
    monkeypatch.setenv("DATAPRODUCTS_NAMING_COLUMN_NAME_PATTERN", "[a-z][a-z0-9_]*_(id|eur|date)")
    write_spec(tmp_project.root, listings(contract={"columns": [column("listing_id"), column("price")]}))
    assert messages(load_mesh(tmp_project, check_dbt=False).errors) == [
        "product_specs/inventory/listings.yaml:28:13: output_ports[0].contract.columns[1].name: column name 'price' does not "
        "match the pattern '[a-z][a-z0-9_]*_(id|eur|date)' (naming rule column_name). Fix: rename it so that it matches "
        "'[a-z][a-z0-9_]*_(id|eur|date)'"
    ]


def test_unique_table_names_can_be_a_warning(tmp_project, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DATAPRODUCTS__NAMING_UNIQUE_TABLE_NAMES", "warn")
    write_spec(tmp_project.root, animals("zoo"))
    write_spec(tmp_project.root, animals("ads"))
    mesh = load_mesh(tmp_project, check_dbt=False)
    assert sorted(mesh.products) == ["ads.animals", "zoo.animals"]
    assert [(w.file, w.field) for w in mesh.warnings] == [("product_specs/zoo/animals.yaml", "output_ports[0].name")]


def test_a_setting_that_makes_no_sense_is_logged_and_the_default_used(monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW__DATAPRODUCTS__NAMING_TABLE_NAME_SEVERITY", "fatal")
    monkeypatch.setenv("AIRFLOW__DATAPRODUCTS__NAMING_TABLE_NAME_PATTERN", "[a-z")
    with caplog.at_level(logging.WARNING):
        rules = naming_rules.configured()
    assert (rules["table_name"].severity, rules["table_name"].pattern) == (naming_rules.Severity.error, "snake_case")
    assert "naming_table_name_severity is 'fatal', not one of error, warn, off; using error" in caplog.text
    assert "naming_table_name_pattern is not a regular expression" in caplog.text


# --- through the real paths: `dataproducts validate` and Airflow's DagBag, on the compiled test mesh ---------------

MARKET_PRICES = "product_specs/pricing/market_prices.yaml"
FINDING = (
    f"{MARKET_PRICES}:20:11: input_ports[0].name: input port name 'listingsSnapshot' is not snake_case "
    "(naming rule port_name). Fix: rename it to 'listings_snapshot'"
)


def rename_input_port(root) -> None:
    """pricing.market_prices names its input port of inventory.listings in camelCase (dbt never sees that name)."""
    path = root / MARKET_PRICES
    text = path.read_text()
    assert "  - name: listings\n    product: inventory.listings\n" in text
    path.write_text(text.replace("  - name: listings\n", "  - name: listingsSnapshot\n", 1))


def test_validate_reports_an_error_and_fails(project_copy, capsys):
    rename_input_port(project_copy)
    assert main(["--root", str(project_copy), "validate"]) == 1
    out, err = capsys.readouterr()
    assert err == FINDING + "\n"
    assert out == "6 products valid, 1 broken, in 4 domains\n"


def test_validate_shows_a_warning_and_passes_in_text_and_json(project_copy, capsys, monkeypatch):
    rename_input_port(project_copy)
    monkeypatch.setenv("AIRFLOW__DATAPRODUCTS__NAMING_PORT_NAME_SEVERITY", "warn")
    assert main(["--root", str(project_copy), "validate"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("7 products valid, 0 broken, 1 warning, in 4 domains\n", f"warning: {FINDING}\n")

    assert main(["--root", str(project_copy), "validate", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["errors"] == [] and (document["products_valid"], document["products_broken"]) == (7, 0)
    assert document["warnings"] == [
        {
            "file": MARKET_PRICES,
            "line": 20,
            "column": 11,
            "field": "input_ports[0].name",
            "problem": "input port name 'listingsSnapshot' is not snake_case (naming rule port_name)",
            "fix": "rename it to 'listings_snapshot'",
            "message": FINDING,
        }
    ]


def test_validate_json_lists_errors(project_copy, capsys):
    rename_input_port(project_copy)
    assert main(["--root", str(project_copy), "validate", "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert [e["message"] for e in document["errors"]] == [FINDING] and document["warnings"] == []


def test_in_the_dagbag_only_the_offending_spec_breaks_and_warn_keeps_it_running(project_copy, monkeypatch):
    rename_input_port(project_copy)
    bag = dag_bag(project_copy, monkeypatch)
    assert bag.import_errors == {}
    assert {dag_id for dag_id, d in bag.dags.items() if naming.BROKEN_TAG in d.tags} == {"pricing.market_prices"}
    assert FINDING in bag.dags["pricing.market_prices"].description
    assert naming.BROKEN_TAG not in bag.dags["pricing.price_ratings"].tags  # its reader keeps its DAG
    assert len(bag.dags) == 8

    # the same files, another setting: the mesh cache is keyed by the rules too
    monkeypatch.setenv("AIRFLOW__DATAPRODUCTS__NAMING_PORT_NAME_SEVERITY", "warn")
    bag = dag_bag(project_copy, monkeypatch)
    assert bag.import_errors == {}
    assert not [d for d in bag.dags.values() if naming.BROKEN_TAG in d.tags]
    docs = bag.dags["pricing.market_prices"].doc_md
    assert "## Warnings" in docs
    assert "input port name &#x27;listingsSnapshot&#x27; is not snake\\_case \\(naming rule port\\_name\\)" in docs


def test_the_repository_and_test_meshes_keep_the_default_rules(tmp_project):
    from conftest import FIXTURE_MESH, REPO

    from dataproducts.core.project import Project

    for root in (REPO, FIXTURE_MESH):
        mesh = load_mesh(Project(root), check_dbt=False)
        assert (messages(mesh.errors), messages(mesh.warnings)) == ([], []), root
