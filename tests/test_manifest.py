"""core/manifest.py: the manifests kept in memory are the ones used last, a bounded number of them,
each read again when its file changes; a model asked for again is the same model."""

from __future__ import annotations

import json
import os

import pytest

from dataproducts.core import manifest as manifest_module
from dataproducts.core.manifest import MANIFESTS_KEPT, load_manifest


def write_manifest(path, table: str = "orders") -> None:
    node = {
        "unique_id": f"model.p.{table}",
        "resource_type": "model",
        "name": table,
        "schema": "sales",
        "columns": {"id": {"name": "id", "data_type": "integer"}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metadata": {"adapter_type": "duckdb"}, "nodes": {node["unique_id"]: node}, "sources": {}}))


@pytest.fixture
def empty_cache(monkeypatch):
    monkeypatch.setattr(manifest_module, "_cache", type(manifest_module._cache)())
    return manifest_module._cache


def test_the_manifests_used_last_are_kept_and_no_more(tmp_path, empty_cache):
    paths = [tmp_path / f"p{i}" / "manifest.json" for i in range(MANIFESTS_KEPT + 2)]
    for path in paths:
        write_manifest(path)
    first = load_manifest(paths[0])
    for path in paths[1:MANIFESTS_KEPT]:
        load_manifest(path)
    assert load_manifest(paths[0]) is first  # used again: now the most recent
    load_manifest(paths[MANIFESTS_KEPT])  # one too many: the least recently used (paths[1]) goes
    assert len(empty_cache) == MANIFESTS_KEPT
    assert paths[1] not in empty_cache
    assert load_manifest(paths[0]) is first
    assert load_manifest(paths[1]) is not None  # read again from its file
    assert len(empty_cache) == MANIFESTS_KEPT


def test_a_changed_manifest_is_read_again(tmp_path, empty_cache):
    path = tmp_path / "manifest.json"
    write_manifest(path, "orders")
    assert load_manifest(path).model_for_table("orders") is not None
    write_manifest(path, "invoices")
    os.utime(path, ns=(1, 1))
    changed = load_manifest(path)
    assert changed.model_for_table("orders") is None
    assert changed.model_for_table("invoices").relation.dotted == ".sales.invoices"


def test_a_model_asked_for_again_is_the_same_model(tmp_path, empty_cache):
    path = tmp_path / "manifest.json"
    write_manifest(path)
    manifest = load_manifest(path)
    model = manifest.model_for_table("orders")
    assert model is manifest.model_for_table("orders")
    assert model.columns == {"id": {"name": "id", "data_type": "integer"}}
    assert manifest.model_for_table("missing") is None
