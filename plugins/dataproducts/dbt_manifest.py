"""Reading dbt's compiled manifest.json: the only view of dbt the DAG factory has at parse time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class Relation:
    database: str
    schema: str
    name: str

    @property
    def dotted(self) -> str:
        return f"{self.database}.{self.schema}.{self.name}"


@dataclass(frozen=True)
class Model:
    unique_id: str
    name: str
    relation: Relation
    description: str
    columns: dict[str, dict]
    original_file_path: str
    depends_on: tuple[str, ...]
    compiled_code: str


@dataclass(frozen=True)
class TestNode:
    unique_id: str
    test_name: Optional[str]  # generic test name: not_null, unique, accepted_values, ...
    column: Optional[str]
    table: Optional[str]  # alias of the model the test is attached to


class Manifest:
    def __init__(self, raw: dict, path: Path):
        self.path = path
        self.raw = raw  # the whole manifest, for readers that need more than the accessors below
        self.adapter_type: str = raw.get("metadata", {}).get("adapter_type", "")
        self.project_name: str = raw.get("metadata", {}).get("project_name", "")
        self._nodes: dict = raw.get("nodes", {})
        self._sources: dict = raw.get("sources", {})

    def model_for_table(self, table: str) -> Optional[Model]:
        for node in self._nodes.values():
            if node.get("resource_type") == "model" and (node.get("alias") or node["name"]) == table:
                return _model(node)
        return None

    def model(self, unique_id: str) -> Optional[Model]:
        node = self._nodes.get(unique_id)
        return _model(node) if node and node.get("resource_type") == "model" else None

    def tests_on(self, model_unique_id: str) -> dict[str, set[str]]:
        """column -> names of generic tests attached to it ('not_null', 'unique', ...)."""
        result: dict[str, set[str]] = {}
        for node in self._nodes.values():
            if node.get("resource_type") != "test" or node.get("attached_node") != model_unique_id:
                continue
            column = node.get("column_name") or (node.get("test_metadata") or {}).get("kwargs", {}).get("column_name")
            test_name = (node.get("test_metadata") or {}).get("name")
            if column and test_name:
                result.setdefault(column, set()).add(test_name)
        return result

    def test(self, unique_id: str) -> Optional[TestNode]:
        node = self._nodes.get(unique_id)
        if not node or node.get("resource_type") != "test":
            return None
        metadata = node.get("test_metadata") or {}
        model = self._nodes.get(node.get("attached_node") or "", {})
        return TestNode(
            unique_id=unique_id,
            test_name=metadata.get("name"),
            column=node.get("column_name") or metadata.get("kwargs", {}).get("column_name"),
            table=(model.get("alias") or model.get("name")) if model else None,
        )

    def source_relation(self, schema: str, table: str) -> Optional[Relation]:
        for source in self._sources.values():
            if source.get("schema") == schema and (source.get("identifier") or source["name"]) == table:
                return Relation(source["database"], source["schema"], source.get("identifier") or source["name"])
        return None

    def source_unique_id(self, schema: str, table: str) -> Optional[str]:
        for uid, source in self._sources.items():
            if source.get("schema") == schema and (source.get("identifier") or source["name"]) == table:
                return uid
        return None


def _model(node: dict) -> Model:
    return Model(
        unique_id=node["unique_id"],
        name=node["name"],
        relation=Relation(node.get("database") or "", node["schema"], node.get("alias") or node["name"]),
        description=node.get("description", ""),
        columns=node.get("columns", {}),
        original_file_path=node.get("original_file_path", ""),
        depends_on=tuple(node.get("depends_on", {}).get("nodes", [])),
        compiled_code=node.get("compiled_code") or node.get("raw_code", ""),
    )


_cache: dict[Path, tuple[float, Manifest]] = {}


def load_manifest(path: Path) -> Optional[Manifest]:
    """The manifest at path, or None when it has not been compiled; cached by modification time."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    cached = _cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    with path.open("rb") as handle:
        manifest = Manifest(json.load(handle), path)
    _cache[path] = (mtime, manifest)
    return manifest
