"""Spec files as an adversarial user writes them: links, pipes, huge files, bombs, twins, lax types."""

from __future__ import annotations

import os

import pytest
import yaml
from conftest import consumer, spec, write_spec

from dataproducts.airflow import docs
from dataproducts.core.loader import load_spec_file
from dataproducts.core.mesh import load_mesh


def only_error(entry) -> str:
    (error,) = entry.errors
    return str(error)


def test_a_link_out_of_product_specs_is_refused_and_its_content_never_echoed(tmp_project, tmp_path_factory):
    secret = tmp_path_factory.mktemp("elsewhere") / "secret.yaml"
    secret.write_text("password: hunter2-very-secret\n")
    link = tmp_project.specs_dir / "inventory" / "listings.yaml"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    mesh = load_mesh(tmp_project, check_dbt=False)
    assert [str(e) for e in mesh.errors] == [
        "product_specs/inventory/listings.yaml: is a link to a file outside product_specs/, which is never read. "
        "Fix: put the spec file itself in product_specs/<domain>/ instead of a link"
    ]


def test_a_fifo_is_refused_without_blocking(tmp_project):
    fifo = tmp_project.specs_dir / "inventory" / "listings.yaml"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    assert only_error(load_mesh(tmp_project, check_dbt=False).entries["inventory.listings"]) == (
        "product_specs/inventory/listings.yaml: is a named pipe (FIFO), not a regular file, and is never read. "
        "Fix: replace it with a plain YAML file"
    )


def test_a_link_inside_product_specs_is_read(tmp_project):
    real = write_spec(tmp_project.root, spec())
    (tmp_project.specs_dir / "inventory" / "copy.yaml").symlink_to(real)
    entry = load_mesh(tmp_project, check_dbt=False).entries["inventory.copy"]
    assert [e.problem for e in entry.errors] == [
        "'inventory.listings' does not match the file's place, which makes the id 'inventory.copy'"
    ]


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_project, monkeypatch):
    monkeypatch.setenv("DATAPRODUCTS_MAX_SPEC_BYTES", "1000")
    path = write_spec(tmp_project.root, "description: " + "x" * 2000 + "\n", "inventory.listings")
    assert only_error(load_spec_file(path, tmp_project.root)) == (
        "product_specs/inventory/listings.yaml: is 2,014 bytes, more than the limit of 1,000 bytes for a spec file. "
        "Fix: split the product into smaller ones, or raise the max_spec_bytes setting"
    )


def test_x_yaml_beside_x_yml_is_an_error_naming_both(tmp_project):
    write_spec(tmp_project.root, spec())
    (tmp_project.specs_dir / "inventory" / "listings.yml").write_text(yaml.safe_dump(spec()))
    mesh = load_mesh(tmp_project, check_dbt=False)
    assert list(mesh.broken) == ["inventory.listings"]
    assert [str(e) for e in mesh.errors] == [
        "product_specs/inventory/listings.yml: product_specs/inventory/listings.yaml and product_specs/inventory/listings.yml "
        "both make the product id 'inventory.listings'. Fix: keep one of the two files (delete or rename "
        "product_specs/inventory/listings.yml or product_specs/inventory/listings.yaml)"
    ]


def test_two_bad_file_names_with_one_placeholder_are_both_shown(tmp_project):
    folder = tmp_project.specs_dir / "inventory"
    folder.mkdir(parents=True)
    (folder / "My List.yaml").write_text("x: 1\n")
    (folder / "my-list.yaml").write_text("x: 1\n")
    mesh = load_mesh(tmp_project, check_dbt=False)
    assert sorted(mesh.broken) == ["inventory.my_list_invalid_file_name", "inventory.my_list_invalid_file_name_2"]
    assert sorted(e.path for e in mesh.broken.values()) == [
        "product_specs/inventory/My List.yaml",
        "product_specs/inventory/my-list.yaml",
    ]


@pytest.mark.parametrize("value", ["yes", "true", 1])
def test_booleans_are_booleans(tmp_project, value):
    document = spec()
    document["output_ports"][0]["contract"]["columns"][0]["required"] = value
    (error,) = load_spec_file(write_spec(tmp_project.root, document), tmp_project.root).errors
    assert error.field == "output_ports[0].contract.columns[0].required"
    assert (
        error.problem
        == f"Input should be a valid boolean, not {'the text' if isinstance(value, str) else 'the number'} {value!r}"
    )
    assert error.fix == "write true or false, without quotes"


def test_flags_are_never_a_selection(tmp_project):
    document = spec(transform={"dbt": {"project": "inventory", "select": ["--full-refresh"]}})
    (error,) = load_spec_file(write_spec(tmp_project.root, document), tmp_project.root).errors
    assert (error.field, error.problem) == ("transform.dbt.select[0]", "'--full-refresh' is not allowed here")
    assert error.fix.startswith("use dbt selector syntax only")


def test_deep_nesting_never_reaches_libyaml_which_would_crash(tmp_project):
    path = write_spec(tmp_project.root, "a: " + "[" * 200_000, "inventory.listings")
    assert "nests '[' or '{' deeper than 32 levels" in only_error(load_spec_file(path, tmp_project.root))


def test_every_spec_value_is_escaped_in_the_dag_docs(tmp_project):
    document = spec(
        name="[click](javascript:alert(1))",
        description="![img](http://evil/x.png)\n```\nunclosed fence <b>bold</b> | cell",
        input_ports=[{"name": "raw", "source": {"schema": "landing", "table": "raw", "system": "<svg/onload=alert(1)>"}}],
    )
    entry = load_spec_file(write_spec(tmp_project.root, document), tmp_project.root)
    page = docs.product_doc_md(entry.spec, entry.path, [])
    for raw in ("[click]", "](javascript", "![img]", "```", "<b>", "<svg"):
        assert raw not in page
    assert r"\| cell" in page
    assert r"\[click\]\(javascript:alert\(1\)\)" in page and "&lt;svg/onload\\=alert\\(1\\)&gt;" in page


def test_graph_errors_carry_the_line_of_their_field(tmp_project):
    mesh = load_mesh(tmp_project, [write_spec(tmp_project.root, consumer("pricing.p", [("pricing.nope", "x")]))], check_dbt=False)
    (error,) = mesh.errors
    assert (error.field, error.line, error.column) == ("input_ports[0].product", 12, 12)
