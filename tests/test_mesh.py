"""Graph validation and graph queries, on specs written to a temporary project (no dbt, no Airflow)."""

from __future__ import annotations

from conftest import consumer, spec, write_spec

from dataproducts.core.mesh import load_mesh


def mesh_of(tmp_project, *documents):
    for document in documents:
        write_spec(tmp_project.root, document)
    return load_mesh(tmp_project, check_dbt=False)


def test_unknown_product_reference_names_the_port_and_lists_known_products(tmp_project):
    mesh = mesh_of(tmp_project, spec(), consumer("pricing.prices", [("inventory.listing", "listings")]))
    (error,) = mesh.entries["pricing.prices"].errors
    assert str(error) == (
        "product_specs/pricing/prices.yaml:12:12: input_ports[0].product: 'inventory.listing' is not a known product "
        "(no product_specs/inventory/listing.yaml). Fix: did you mean one of: inventory.listings?"
    )
    assert list(mesh.products) == ["inventory.listings"]


def test_unknown_port_lists_the_ports_that_exist(tmp_project):
    mesh = mesh_of(tmp_project, spec(), consumer("pricing.prices", [("inventory.listings", "daily")]))
    (error,) = mesh.entries["pricing.prices"].errors
    assert (error.field, error.problem, error.fix) == (
        "input_ports[0].port",
        "product 'inventory.listings' has no output port 'daily'",
        "use one of its output ports: listings",
    )


def test_cycle_error_names_every_product_in_the_cycle(tmp_project):
    mesh = mesh_of(
        tmp_project,
        spec(),
        consumer("pricing.a", [("inventory.listings", "listings"), ("pricing.c", "c")]),
        consumer("pricing.b", [("pricing.a", "a")]),
        consumer("pricing.c", [("pricing.b", "b")]),
        consumer("pricing.d", [("pricing.c", "c")]),
    )
    assert sorted(mesh.broken) == ["pricing.a", "pricing.b", "pricing.c"]
    for pid in ("pricing.a", "pricing.b", "pricing.c"):
        (error,) = mesh.entries[pid].errors
        assert error.problem == "dependency cycle: pricing.a -> pricing.b -> pricing.c -> pricing.a"
    assert "pricing.d" in mesh.products, "a product downstream of a cycle keeps its DAG"


def test_a_cycle_is_shown_in_data_flow_order_whatever_the_ids(tmp_project):
    mesh = mesh_of(
        tmp_project,
        spec(),
        consumer("pricing.a", [("inventory.listings", "listings"), ("pricing.b", "b")]),
        consumer("pricing.b", [("pricing.c", "c")]),
        consumer("pricing.c", [("pricing.a", "a")]),
    )
    for pid in ("pricing.a", "pricing.b", "pricing.c"):
        (error,) = mesh.entries[pid].errors
        assert error.problem == "dependency cycle: pricing.a -> pricing.c -> pricing.b -> pricing.a", "a feeds c feeds b"


def test_an_unknown_product_suggests_a_few_close_ids_never_the_whole_mesh(tmp_project):
    many = [consumer(f"pricing.p{i}", [("inventory.listings", "listings")]) for i in range(30)]
    mesh = mesh_of(tmp_project, spec(), *many, consumer("sales.x", [("pricing.p1o", "p10")]))
    (error,) = mesh.entries["sales.x"].errors
    assert error.fix == "did you mean one of: pricing.p1, pricing.p21, pricing.p19?"


def test_a_product_reading_itself_is_a_cycle(tmp_project):
    mesh = mesh_of(tmp_project, spec(), consumer("pricing.a", [("pricing.a", "a")]))
    assert mesh.entries["pricing.a"].errors[0].problem == "dependency cycle: pricing.a -> pricing.a"


def test_broken_upstream_does_not_break_its_consumers(tmp_project):
    broken = spec(version="one")
    mesh = mesh_of(tmp_project, broken, consumer("pricing.prices", [("inventory.listings", "listings")]))
    assert list(mesh.broken) == ["inventory.listings"]
    assert list(mesh.products) == ["pricing.prices"]


def test_run_order_roots_and_downstream(tmp_project):
    mesh = mesh_of(
        tmp_project,
        spec(),
        consumer("pricing.prices", [("inventory.listings", "listings")]),
        consumer("pricing.ratings", [("inventory.listings", "listings"), ("pricing.prices", "prices")]),
        consumer("advertising.promotions", [("pricing.ratings", "ratings")]),
        consumer("advertising.other", [("inventory.listings", "listings")]),
    )
    order = mesh.run_order()
    assert order.index("inventory.listings") < order.index("pricing.prices") < order.index("pricing.ratings")
    assert order.index("pricing.ratings") < order.index("advertising.promotions")
    assert mesh.roots() == ["inventory.listings"]
    assert mesh.downstream_of("pricing.prices") == ["pricing.ratings", "advertising.promotions"]
    assert mesh.consumers_of("inventory.listings") == ["advertising.other", "pricing.prices", "pricing.ratings"]


def test_files_outside_domain_folders_are_not_specs(tmp_project):
    (tmp_project.specs_dir).mkdir(parents=True)
    (tmp_project.specs_dir / "README.yaml").write_text("not: a spec\n")
    mesh = mesh_of(tmp_project, spec())
    assert list(mesh.entries) == ["inventory.listings"]


def test_missing_dbt_manifest_is_reported_with_the_command_that_fixes_it(tmp_project):
    write_spec(tmp_project.root, spec())
    project_dir = tmp_project.root / "dbt" / "inventory"
    project_dir.mkdir(parents=True)
    (project_dir / "dbt_project.yml").write_text("name: inventory\n")
    (error,) = load_mesh(tmp_project).entries["inventory.listings"].errors
    assert str(error) == (
        "product_specs/inventory/listings.yaml:19:14: transform.dbt.project: dbt project 'inventory' has not been compiled "
        "(no dbt/inventory/target/manifest.json). Fix: run `dataproducts compile` (it runs `dbt parse` for every project)"
    )
