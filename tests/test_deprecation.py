"""Deprecated products and ports: consumers warned until the sunset (validate, DAG docs), broken
after it (only the reader's DAG), and the Deprecation aspect in DataHub, built by the SDK."""

from __future__ import annotations

import datetime

import pytest
import yaml
from conftest import consumer, dag_bag, spec, write_spec
from pydantic import ValidationError

from dataproducts.cli import main
from dataproducts.core import naming
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.core.spec import DataProductSpec

SUNSET = datetime.date(2027, 3, 31)
PORT_DEPRECATION = {"sunset": "2027-03-31", "replacement": "billing.invoices.daily_v2", "note": "Split by currency."}


def producer(port_deprecation=None, product_deprecation=None) -> dict:
    ports = [
        {"name": "daily", "contract": {"columns": [{"name": "id", "type": "string"}]}},
        {"name": "daily_v2", "contract": {"columns": [{"name": "id", "type": "string"}]}},
    ]
    if port_deprecation:
        ports[0]["deprecation"] = port_deprecation
    document = spec(id="billing.invoices", domain="billing", name="Invoices", output_ports=ports)
    if product_deprecation:
        document["deprecation"] = product_deprecation
    return document


def mesh_on(project, day: datetime.date, **deprecations):
    write_spec(project.root, producer(**deprecations))
    write_spec(project.root, consumer("fleet.routes", [("billing.invoices", "daily")]))
    return load_mesh(project, check_dbt=False, today=day)


def test_the_spec_model_checks_a_deprecation():
    assert DataProductSpec.model_validate(producer(PORT_DEPRECATION)).output_ports[0].deprecation.sunset == SUNSET
    with pytest.raises(ValidationError, match="sunset"):
        DataProductSpec.model_validate(producer({"sunset": "2027-02-30"}))
    with pytest.raises(ValidationError, match="replacement"):
        DataProductSpec.model_validate(producer({"sunset": "2027-03-31", "replacement": "billing invoices"}))


def test_a_reader_is_warned_until_the_sunset_day(tmp_project):
    for day, left in ((datetime.date(2027, 1, 30), 60), (SUNSET, 0)):
        mesh = mesh_on(tmp_project, day, port_deprecation=PORT_DEPRECATION)
        assert sorted(mesh.products) == ["billing.invoices", "fleet.routes"]
        assert [str(w) for w in mesh.warnings] == [
            "product_specs/fleet/routes.yaml:13:9: input_ports[0].port: reads output port 'billing.invoices.daily', "
            f"which is deprecated (Split by currency.): it may be read until its sunset on 2027-03-31 ({left} days left), "
            "after which this spec breaks. Fix: read 'billing.invoices.daily_v2' instead before 2027-03-31"
        ]


def test_reading_after_the_sunset_breaks_only_the_reader(tmp_project):
    mesh = mesh_on(tmp_project, SUNSET + datetime.timedelta(days=1), port_deprecation=PORT_DEPRECATION)
    assert sorted(mesh.products) == ["billing.invoices"]
    assert mesh.warnings == []
    assert [str(e) for e in mesh.broken["fleet.routes"].errors] == [
        "product_specs/fleet/routes.yaml:13:9: input_ports[0].port: reads output port 'billing.invoices.daily', which "
        "reached its sunset on 2027-03-31 and may no longer be read (Split by currency.). Fix: read "
        "'billing.invoices.daily_v2' instead (change this input port), or remove this input port"
    ]


def test_a_deprecated_product_without_replacement_names_its_owner(tmp_project):
    mesh = mesh_on(tmp_project, SUNSET + datetime.timedelta(days=1), product_deprecation={"sunset": "2027-03-31"})
    assert [str(e) for e in mesh.broken["fleet.routes"].errors] == [
        "product_specs/fleet/routes.yaml:12:12: input_ports[0].product: reads product 'billing.invoices', which reached "
        "its sunset on 2027-03-31 and may no longer be read. Fix: remove this input port; ask its owner, team "
        "inventory_team (inventory@example.com) what replaces it"
    ]


def test_a_replacement_that_does_not_exist_breaks_the_deprecating_spec(tmp_project):
    mesh = mesh_on(tmp_project, SUNSET, port_deprecation={"sunset": "2027-03-31", "replacement": "billing.invoices.monthly"})
    (error,) = mesh.broken["billing.invoices"].errors
    assert (error.field, error.problem) == (
        "output_ports[0].deprecation.replacement",
        "'billing.invoices.monthly' is not a known product or output port",
    )


def deprecate_ratings(root, sunset: str) -> None:
    """pricing.price_ratings.ratings, read by advertising.promotion_candidates, deprecated."""
    path = root / "product_specs" / "pricing" / "price_ratings.yaml"
    document = yaml.safe_load(path.read_text())
    document["output_ports"][0]["deprecation"] = {"sunset": sunset, "replacement": "pricing.market_prices.daily"}
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_validate_shows_the_warning_and_passes(project_copy, capsys):
    deprecate_ratings(project_copy, "2099-12-31")
    code = main(["--root", str(project_copy), "validate"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out == "7 products valid, 0 broken, 1 warning, in 4 domains\n"
    assert err.startswith(
        "warning: product_specs/advertising/promotion_candidates.yaml:22:11: input_ports[0].port: reads output port "
        "'pricing.price_ratings.ratings', which is deprecated: it may be read until its sunset on 2099-12-31 ("
    )


def test_in_the_dagbag_a_warning_is_in_the_readers_docs_and_after_the_sunset_only_the_reader_breaks(project_copy, monkeypatch):
    deprecate_ratings(project_copy, "2099-12-31")
    bag = dag_bag(project_copy, monkeypatch)
    assert bag.import_errors == {}
    assert not [d for d in bag.dags.values() if naming.BROKEN_TAG in d.tags]
    reader_docs = bag.dags["advertising.promotion_candidates"].doc_md
    assert "## Warnings" in reader_docs and "its sunset on 2099\\-12\\-31" in reader_docs
    assert "**Deprecated:** This port may be read until 2099-12-31. Read `pricing\\.market\\_prices\\.daily` instead." in (
        bag.dags["pricing.price_ratings"].doc_md
    )

    deprecate_ratings(project_copy, "2020-01-31")
    bag = dag_bag(project_copy, monkeypatch)
    assert bag.import_errors == {}
    assert {dag_id for dag_id, d in bag.dags.items() if naming.BROKEN_TAG in d.tags} == {"advertising.promotion_candidates"}
    assert (
        "reached its sunset on 2020-01-31 and may no longer be read" in bag.dags["advertising.promotion_candidates"].description
    )
    assert len(bag.dags) == 8


def test_datahub_gets_the_sdks_deprecation_aspect(project_copy):
    from datahub.emitter.mcp import MetadataChangeProposalWrapper
    from datahub.metadata import schema_classes as models

    from dataproducts.metadata import urns
    from dataproducts.metadata.catalog import catalog_mcps
    from dataproducts.metadata.datasets import product_datasets

    deprecate_ratings(project_copy, "2099-12-31")
    catalog = project_copy / "product_specs" / "inventory" / "vehicle_catalog.yaml"
    document = yaml.safe_load(catalog.read_text())
    document["deprecation"] = {"sunset": "2099-06-30", "replacement": "inventory.listings", "note": "Folded into listings."}
    catalog.write_text(yaml.safe_dump(document, sort_keys=False))
    mesh = load_mesh(Project(project_copy))
    assert mesh.broken == {}

    ratings = catalog_mcps(mesh, "pricing.price_ratings", None, "http://airflow")
    (dataset_urn,) = [o.urn for o in product_datasets(mesh, "pricing.price_ratings").outputs]
    (market_prices_urn,) = [o.urn for o in product_datasets(mesh, "pricing.market_prices").outputs]
    (mcp,) = [m for m in ratings if isinstance(m.aspect, models.DeprecationClass)]
    assert mcp.entityUrn == dataset_urn and mcp.validate()
    assert mcp.aspect.to_obj() == {
        "deprecated": True,
        "decommissionTime": 4102444800000,  # 2100-01-01T00:00:00Z: the first moment after the sunset day
        "note": "Sunset 2099-12-31: reading it after that day breaks the reader's spec. Read pricing.market_prices.daily instead.",
        "actor": "urn:li:corpuser:datahub",
        "replacement": market_prices_urn,
    }
    assert MetadataChangeProposalWrapper.from_obj(mcp.to_obj()) == mcp

    product = [
        m for m in catalog_mcps(mesh, "inventory.vehicle_catalog", None, "http://airflow") if m.aspectName == "deprecation"
    ]
    assert [(m.entityUrn, m.aspect.replacement, m.aspect.note.endswith("Folded into listings.")) for m in product] == [
        (urns.data_product_urn("inventory.vehicle_catalog"), urns.data_product_urn("inventory.listings"), True)
    ]
    assert not [m for m in catalog_mcps(mesh, "pricing.market_prices", None, "http://airflow") if m.aspectName == "deprecation"]
