"""The on-disk mesh cache: hits skip all spec parsing and validation; any change to an input
invalidates it; a domain reads only its own slice, and what it reads equals the validated mesh."""

from __future__ import annotations

import pytest
import yaml

from dataproducts.core import mesh as mesh_module
from dataproducts.core import mesh_cache
from dataproducts.core.mesh_cache import load_domain_cached, load_mesh_cached, slice_of
from dataproducts.core.project import Project


@pytest.fixture
def project(project_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    return Project(project_copy)


def snapshot(mesh):
    return {pid: (e.path, e.spec, e.errors) for pid, e in mesh.entries.items()}


def forbid_parsing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a cache hit must not parse or validate specs")

    monkeypatch.setattr(mesh_module, "load_spec_file", refuse)
    monkeypatch.setattr(mesh_cache.DataProductSpec, "model_validate", refuse)


def test_a_hit_returns_the_same_mesh_without_parsing(project, monkeypatch):
    broken = project.specs_dir / "pricing" / "price_ratings.yaml"
    broken.write_text(broken.read_text().replace("version:", "versoin:", 1))
    first = load_mesh_cached(project)
    assert "pricing.price_ratings" in first.broken
    forbid_parsing(monkeypatch)
    second = load_mesh_cached(project)
    assert snapshot(second) == snapshot(first)
    assert second.consumers_of("inventory.listings") == first.consumers_of("inventory.listings")


def test_changing_a_spec_or_a_manifest_invalidates(project, monkeypatch):
    load_mesh_cached(project)
    path = project.specs_dir / "pricing" / "market_prices.yaml"
    document = yaml.safe_load(path.read_text())
    document["version"] = "9.9.9"
    path.write_text(yaml.safe_dump(document))
    assert load_mesh_cached(project).products["pricing.market_prices"].version == "9.9.9"

    manifest = project.dbt_dir / "pricing" / "target" / "manifest.json"
    manifest.unlink()
    assert "pricing.market_prices" in load_mesh_cached(project).broken


def test_a_corrupt_cache_is_ignored(project, caplog):
    load_mesh_cached(project)
    slices = list((project.state_dir / "cache").glob("mesh-*/*.json"))
    assert len(slices) == 4  # one per domain
    for path in slices:
        path.write_text("{not json")
    assert snapshot(load_mesh_cached(project)) == snapshot(mesh_module.load_mesh(project))
    assert "ignoring the unreadable mesh cache" in caplog.text
    caplog.clear()
    for path in (project.state_dir / "cache").glob("mesh-*/*.json"):
        path.write_text('{"format": 2, "domain": "pricing", "entries": [{"id": 1}]}')
    assert load_domain_cached(project, "inventory") == slice_of(mesh_module.load_mesh(project), "inventory")
    assert "ignoring the unreadable mesh cache" in caplog.text


def test_an_unwritable_state_dir_only_costs_time(project, monkeypatch):
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", "/proc/no-such-place")
    assert snapshot(load_mesh_cached(project)) == snapshot(mesh_module.load_mesh(project))


def test_a_domain_reads_only_its_own_slice_and_it_equals_the_validated_mesh(project, monkeypatch):
    broken = project.specs_dir / "pricing" / "price_ratings.yaml"
    broken.write_text(broken.read_text().replace("version:", "versoin:", 1))
    mesh = mesh_module.load_mesh(project)
    load_mesh_cached(project)  # fills the cache
    forbid_parsing(monkeypatch)
    reads = []
    real_read = mesh_cache.Path.read_bytes
    monkeypatch.setattr(mesh_cache.Path, "read_bytes", lambda self: reads.append(self) or real_read(self))
    for domain in mesh.domains():
        reads.clear()
        part = load_domain_cached(project, domain)
        assert len(reads) == 1  # its own slice, nothing of the other domains
        assert part == slice_of(mesh, domain)
        assert [e.product_id for e in part.entries] == [e.product_id for e in mesh.in_domain(domain)]
        for entry in part.entries:
            assert part.consumers_of(entry.product_id) == mesh.consumers_of(entry.product_id)
    assert load_domain_cached(project, "pricing").entries[1].errors  # price_ratings stays broken, with its errors
    assert load_domain_cached(project, "no_such_domain").entries == []


def test_trusted_specs_equal_validated_ones_field_for_field(project):
    """The cache rebuilds specs without validating them: nested models, enums, aliases, defaults
    and which fields were set must come back exactly as validation made them."""
    import json

    from dataproducts.core.spec import DataProductSpec

    specs = mesh_module.load_mesh(project).products.values()
    assert specs
    for spec in specs:
        dumped = json.loads(json.dumps(spec.model_dump(mode="json", exclude_unset=True)))
        rebuilt = mesh_cache.trusted(DataProductSpec, dumped)
        assert rebuilt == spec
        assert rebuilt.model_dump() == spec.model_dump()
        assert rebuilt.model_fields_set == spec.model_fields_set
        assert rebuilt.status is spec.status and rebuilt.schedule_summary == spec.schedule_summary
        for mine, theirs in zip(rebuilt.output_ports, spec.output_ports, strict=True):
            assert [c.type for c in mine.contract.columns] == [c.type for c in theirs.contract.columns]
            assert type(mine.contract) is type(theirs.contract)
        for mine, theirs in zip(rebuilt.input_ports, spec.input_ports, strict=True):
            assert mine == theirs and type(mine.source) is type(theirs.source)
