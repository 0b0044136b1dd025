"""Access control in a warehouse with roles: who may read what (pure), and provisioning a real
Postgres warehouse for it (`dataproducts warehouse provision`), idempotently. Queries as the wrong
role against tables the mesh built: tests/production/test_e2e_celery.py."""

from __future__ import annotations

import secrets

import pytest
from conftest import FIXTURE_MESH
from services import require_services

from dataproducts.core import warehouse_access
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.ops.celery_stack import StackSettings, create_database, drop_database

MESH = Project(FIXTURE_MESH)  # the tests' own mesh (specs only: no dbt needed here)


def test_role_names():
    assert warehouse_access.domain_role("dataproducts_", "pricing") == "dataproducts_pricing"
    assert warehouse_access.mesh_role("dataproducts_") == "dataproducts__mesh"
    with pytest.raises(ValueError, match="must be lower-case letters"):
        warehouse_access.domain_role("Bad-Prefix", "pricing")
    with pytest.raises(ValueError, match="longer than 63 characters: use a shorter prefix"):
        warehouse_access.domain_role("p" * 60 + "_", "pricing")


def test_open_outputs_are_granted_to_the_mesh_and_sources_to_the_domains_that_declare_them():
    mesh = load_mesh(MESH, check_dbt=False)
    grants = warehouse_access.output_grants(mesh.products["advertising.campaign_performance"], "x_")
    assert [g.as_dict() for g in grants] == [
        {"schema": "advertising", "table": "campaign_performance", "roles": ["x__mesh"]},
        {"schema": "advertising", "table": "promoted_listing_performance", "roles": ["x_advertising"]},  # own domain
    ]
    reads = warehouse_access.source_reads(mesh, "x_")
    assert reads[("landing", "raw_listings")] == ("x_inventory",)
    assert reads[("landing", "raw_ad_impressions")] == ("x_advertising",)
    assert all(len(roles) == 1 for roles in reads.values()), "each example source is read by one domain"


@pytest.fixture
def warehouse_db():
    settings = StackSettings.from_env()
    require_services(settings)
    name = f"dpw{secrets.token_hex(3)}"
    create_database(settings.server(), name)
    yield settings, name
    drop_database(settings.server(), name)
    from dataproducts.dbt import warehouse

    warehouse.drop_roles(f"{name}_", warehouse_access.role_domains(load_mesh(MESH, check_dbt=False)), **settings.server())


def test_provision_creates_roles_and_schemas_hands_tables_over_and_is_idempotent(warehouse_db):
    import psycopg2

    from dataproducts.dbt import warehouse

    settings, database = warehouse_db
    prefix = f"{database}_"
    server = {**settings.server(), "dbname": database}
    with psycopg2.connect(**server) as db, db.cursor() as cur:  # what an earlier single-user setup left behind
        cur.execute("create schema pricing; create table pricing.market_prices (x int)")
        cur.execute("create schema landing; create table landing.raw_listings (x int)")
    mesh = load_mesh(MESH, check_dbt=False)

    first = warehouse.provision(mesh, prefix, **server)
    again = warehouse.provision(mesh, prefix, **server)

    assert first.roles == again.roles == [f"{prefix}_mesh", *(f"{prefix}{d}" for d in sorted(mesh.domains()))]
    assert first.source_grants == {"landing.raw_listings": (f"{prefix}inventory",)}
    assert "landing.raw_ad_impressions" in first.missing_sources, "a declared source that does not exist is reported"
    db = psycopg2.connect(**server)
    try:
        with db.cursor() as cur:
            cur.execute(
                "select nspname, pg_get_userbyid(nspowner) from pg_namespace where nspname = any(%s)", (sorted(mesh.domains()),)
            )
            assert dict(cur.fetchall()) == {d: f"{prefix}{d}" for d in mesh.domains()}
            cur.execute("select tableowner from pg_tables where schemaname = 'pricing' and tablename = 'market_prices'")
            assert cur.fetchone()[0] == f"{prefix}pricing", "the domain's role can replace what it builds"
            cur.execute("select pg_has_role(%s, %s, 'member')", (f"{prefix}advertising", f"{prefix}_mesh"))
            assert cur.fetchone()[0]
    finally:
        db.close()
    with psycopg2.connect(**{**server, "user": f"{prefix}inventory"}) as db, db.cursor() as cur:
        cur.execute("select count(*) from landing.raw_listings")
    with (
        pytest.raises(psycopg2.errors.InsufficientPrivilege),
        psycopg2.connect(**{**server, "user": f"{prefix}pricing"}) as db,
        db.cursor() as cur,
    ):
        cur.execute("select count(*) from landing.raw_listings")
