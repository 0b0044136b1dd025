"""The on-disk mesh cache: hits skip all spec parsing; any change to an input invalidates it."""

from __future__ import annotations

import pytest
import yaml

from dataproducts.core import mesh as mesh_module
from dataproducts.core.mesh_cache import load_mesh_cached
from dataproducts.core.project import Project


@pytest.fixture
def project(project_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    return Project(project_copy)


def snapshot(mesh):
    return {pid: (e.path, e.spec, e.errors) for pid, e in mesh.entries.items()}


def forbid_parsing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a cache hit must not parse spec files")

    monkeypatch.setattr(mesh_module, "load_spec_file", refuse)


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
    (cache,) = (project.state_dir / "cache").glob("mesh-*.json")
    cache.write_text("{not json")
    assert snapshot(load_mesh_cached(project)) == snapshot(mesh_module.load_mesh(project))
    assert "ignoring the unreadable mesh cache" in caplog.text


def test_an_unwritable_state_dir_only_costs_time(project, monkeypatch):
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", "/proc/no-such-place")
    assert snapshot(load_mesh_cached(project)) == snapshot(mesh_module.load_mesh(project))
