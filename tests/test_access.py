"""Who may read a port: the spec's access policy, forbidden and undeclared reads (broken specs at
load, only the reader's DAG breaks), and the warehouse roles a policy names."""

from __future__ import annotations

import pytest
import yaml
from conftest import FIXTURE_MESH, compile_dbt, consumer, dag_bag, spec, write_spec
from pydantic import ValidationError

from dataproducts.core import access, naming, warehouse_access
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.core.spec import DataProductSpec


def producer(access_policy: dict | None) -> dict:
    port = {"name": "daily", "contract": {"columns": [{"name": "id", "type": "string"}]}}
    if access_policy is not None:
        port["access"] = access_policy
    return spec(id="billing.invoices", domain="billing", name="Invoices", output_ports=[port])


def test_access_defaults_to_open_and_lists_belong_to_restricted():
    assert DataProductSpec.model_validate(producer(None)).output_ports[0].access.visibility.value == "open"
    with pytest.raises(ValidationError, match="visibility 'restricted' needs 'domains' or 'products'"):
        DataProductSpec.model_validate(producer({"visibility": "restricted"}))
    with pytest.raises(ValidationError, match="'domains' and 'products' only apply to visibility 'restricted', not 'domain'"):
        DataProductSpec.model_validate(producer({"visibility": "domain", "domains": ["fleet"]}))


@pytest.mark.parametrize(
    "policy, readers, description",
    [
        (None, {"fleet.routes": True, "billing.dunning": True}, "open to all products"),
        ({"visibility": "domain"}, {"fleet.routes": False, "billing.dunning": True}, "only products of domain billing"),
        (
            {"visibility": "restricted", "domains": ["customer"], "products": ["fleet.routes"]},
            {"fleet.routes": True, "fleet.costs": False, "customer.churn": True, "billing.dunning": True, "sales.leads": False},
            "restricted to domain billing and domains customer; products fleet.routes",
        ),
    ],
)
def test_who_may_read(policy, readers, description):
    producing = DataProductSpec.model_validate(producer(policy))
    port = producing.output_ports[0]
    assert {reader: access.may_read(producing, port, reader) for reader in readers} == readers
    assert access.describe(producing, port) == description


def test_a_forbidden_read_breaks_the_reader_naming_both_products_the_policy_and_whom_to_ask(tmp_project):
    write_spec(tmp_project.root, producer({"visibility": "restricted", "domains": ["billing", "customer"]}))
    write_spec(tmp_project.root, consumer("fleet.routes", [("billing.invoices", "daily")]))
    write_spec(tmp_project.root, consumer("customer.churn", [("billing.invoices", "daily")]))

    mesh = load_mesh(tmp_project, check_dbt=False)

    assert sorted(mesh.products) == ["billing.invoices", "customer.churn"]
    assert [str(e) for e in mesh.broken["fleet.routes"].errors] == [
        "product_specs/fleet/routes.yaml:13:9: input_ports[0].port: 'fleet.routes' may not read 'billing.invoices.daily': "
        "the port's access is restricted to domain billing and domains customer. "
        "Fix: ask its owner, team inventory_team (inventory@example.com), to add 'fleet.routes' or domain 'fleet' "
        "to output port 'daily''s access, or remove this input port"
    ]


def test_warehouse_grants_name_exactly_the_roles_the_policy_allows():
    mesh = load_mesh(Project(FIXTURE_MESH), check_dbt=False)
    ratings = mesh.products["pricing.price_ratings"]
    assert [g.as_dict() for g in warehouse_access.output_grants(ratings, "x_")] == [
        {"schema": "pricing", "table": "price_ratings", "roles": ["x_pricing", "x_advertising"]}
    ]
    campaigns = mesh.products["advertising.campaign_performance"]
    assert [g.roles for g in warehouse_access.output_grants(campaigns, "x_")] == [("x__mesh",), ("x_advertising",)]
    wide = DataProductSpec.model_validate(
        producer({"visibility": "restricted", "domains": ["fleet"], "products": ["sales.leads"]})
    )
    assert warehouse_access.readers(wide, wide.output_ports[0], "x_") == ("x_billing", "x_fleet", "x_sales")


def test_domains_a_policy_names_get_a_role_before_they_have_a_product(tmp_project):
    write_spec(tmp_project.root, producer({"visibility": "restricted", "domains": ["customer"]}))
    assert warehouse_access.role_domains(load_mesh(tmp_project, check_dbt=False)) == ["billing", "customer"]


def test_forbidden_and_undeclared_reads_break_only_the_readers_dags(project_copy, monkeypatch):
    """pricing.price_ratings is restricted to pricing and advertising. inventory's dbt project reads it
    through a source, via an intermediate model, without an input port (an undeclared read);
    user_behaviour.listing_engagement declares reading it (a forbidden read)."""
    add_source(project_copy, "inventory", "pricing", "price_ratings")
    models = project_copy / "dbt" / "inventory" / "models" / "vehicle_catalog"
    (models / "rated_models.sql").write_text("select distinct listing_id from {{ source('pricing', 'price_ratings') }}\n")
    model = models / "vehicle_catalog.sql"
    model.write_text(model.read_text() + "where not exists (select 1 from {{ ref('rated_models') }} where false)\n")
    add_source(project_copy, "user_behaviour", "pricing", "price_ratings")
    engagement_path = project_copy / "product_specs" / "user_behaviour" / "listing_engagement.yaml"
    engagement = yaml.safe_load(engagement_path.read_text())
    engagement["input_ports"].append({"name": "ratings", "product": "pricing.price_ratings", "port": "ratings"})
    engagement_path.write_text(yaml.safe_dump(engagement, sort_keys=False))
    compile_dbt(project_copy)

    mesh = load_mesh(Project(project_copy))
    bag = dag_bag(project_copy, monkeypatch)

    assert sorted(mesh.broken) == ["inventory.vehicle_catalog", "user_behaviour.listing_engagement"]
    assert [str(e) for e in mesh.broken["inventory.vehicle_catalog"].errors] == [
        "product_specs/inventory/vehicle_catalog.yaml:19:3: input_ports: dbt model 'vehicle_catalog' of dbt project "
        "'inventory' reads pricing.price_ratings, output port 'ratings' of product 'pricing.price_ratings', through a "
        "dbt source, but no input port declares it. Fix: add an input port {product: pricing.price_ratings, port: ratings} "
        "(its access policy then applies), or stop reading the table"
    ]
    forbidden = "'user_behaviour.listing_engagement' may not read 'pricing.price_ratings.ratings'"
    assert [e.problem.split(":")[0] for e in mesh.broken["user_behaviour.listing_engagement"].errors] == [forbidden]
    assert bag.import_errors == {}
    broken_dags = {dag_id for dag_id, dag in bag.dags.items() if naming.BROKEN_TAG in dag.tags}
    assert broken_dags == {"inventory.vehicle_catalog", "user_behaviour.listing_engagement"}
    assert forbidden in bag.dags["user_behaviour.listing_engagement"].description
    assert "ask its owner, team pricing (pricing-team@example.com)" in bag.dags["user_behaviour.listing_engagement"].description


def add_source(root, project: str, schema: str, table: str) -> None:
    path = root / "dbt" / project / "models" / "sources.yml"
    sources = yaml.safe_load(path.read_text())
    sources["sources"].append({"name": schema, "schema": schema, "tables": [{"name": table}]})
    path.write_text(yaml.safe_dump(sources))
