"""Reading dbt's compiled manifest.json: the only view of dbt the DAG factory has at parse time."""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import msgspec


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
    compiled_code: str  # empty unless the manifest was written by `dbt compile` (or a run)
    contract_enforced: bool = False  # dbt model contract: `config: {contract: {enforced: true}}`


@dataclass(frozen=True)
class TestNode:
    unique_id: str
    test_name: Optional[str]  # generic test name: not_null, unique, accepted_values, ...
    column: Optional[str]
    table: Optional[str]  # alias of the model the test is attached to


class ManifestError(ValueError):
    """A manifest that exists but cannot be used: half-written, truncated or not dbt's shape."""


class Manifest:
    def __init__(self, raw: dict, path: Path):
        _check_shape(raw)
        self.path = path
        self.raw = raw  # metadata, nodes and sources, for readers that need more than the accessors below
        self.adapter_type: str = raw.get("metadata", {}).get("adapter_type", "")
        self.project_name: str = raw.get("metadata", {}).get("project_name", "")
        self._nodes: dict = raw.get("nodes", {})
        self._sources: dict = raw.get("sources", {})
        # indexes built once: validation asks these questions for every port of every spec
        self._models_by_table: dict[str, dict] = {}
        self._tests_by_node: dict[str, dict[str, set[str]]] = {}
        for node in self._nodes.values():
            if node.get("resource_type") == "model":
                self._models_by_table.setdefault(node.get("alias") or node["name"], node)
            elif node.get("resource_type") == "test" and node.get("attached_node"):
                metadata = node.get("test_metadata") or {}
                column = node.get("column_name") or metadata.get("kwargs", {}).get("column_name")
                if column and metadata.get("name"):
                    self._tests_by_node.setdefault(node["attached_node"], {}).setdefault(column, set()).add(metadata["name"])
        # what a spec's dbt selection may select (core/selection.py), once for all the project's specs
        self.selectable_nodes: list[dict] = [n for n in self._nodes.values() if n.get("resource_type") != "test"]
        self.selectable_by_path: dict[str, list[dict]] = {}  # the node's file and every folder above it -> node
        for node in self.selectable_nodes:
            parts = str(node.get("original_file_path", "")).split("/")
            for end in range(1, len(parts) + 1):
                self.selectable_by_path.setdefault("/".join(parts[:end]), []).append(node)
        self._sources_by_table: dict[tuple[str, str], tuple[str, dict]] = {}
        for uid, source in self._sources.items():
            self._sources_by_table.setdefault((source.get("schema"), source.get("identifier") or source["name"]), (uid, source))
        self._models_made: dict[str, Optional[Model]] = {}  # by table: each spec check asks again for its ports' models

    def model_for_table(self, table: str) -> Optional[Model]:
        if table not in self._models_made:
            node = self._models_by_table.get(table)
            self._models_made[table] = _model(node) if node else None
        return self._models_made[table]

    def model(self, unique_id: str) -> Optional[Model]:
        node = self._nodes.get(unique_id)
        return _model(node) if node and node.get("resource_type") == "model" else None

    def tests_on(self, model_unique_id: str) -> dict[str, set[str]]:
        """column -> names of generic tests attached to it ('not_null', 'unique', ...)."""
        return self._tests_by_node.get(model_unique_id, {})

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
        found = self._sources_by_table.get((schema, table))
        return Relation(found[1]["database"], schema, table) if found else None

    def sources_read_by(self, model_unique_id: str) -> set[tuple[str, str]]:
        """(schema, table) of every dbt source the model reads, directly or through other nodes."""
        found: set[tuple[str, str]] = set()
        seen: set[str] = set()
        frontier = [model_unique_id]
        while frontier:
            uid = frontier.pop()
            if uid in seen:
                continue
            seen.add(uid)
            source = self._sources.get(uid)
            if source is not None:
                found.add((source.get("schema"), source.get("identifier") or source["name"]))
                continue
            frontier.extend(self._nodes.get(uid, {}).get("depends_on", {}).get("nodes", []))
        return found

    def source_unique_id(self, schema: str, table: str) -> Optional[str]:
        found = self._sources_by_table.get((schema, table))
        return found[0] if found else None


def _check_shape(raw: object) -> None:
    """What the accessors rely on, checked once, so a damaged manifest is one clear error."""
    if not isinstance(raw, dict):
        raise ManifestError(f"it holds a JSON {type(raw).__name__}, not dbt's manifest object")
    metadata, nodes, sources = raw.get("metadata", {}), raw.get("nodes"), raw.get("sources", {})
    if not isinstance(metadata, dict) or not isinstance(nodes, dict) or not isinstance(sources, dict):
        raise ManifestError("it lacks dbt's 'metadata', 'nodes' and 'sources' objects")
    for key, node in nodes.items():  # conditions spelled out, not all() over a generator: 300,000 nodes at N = 10,000
        if not (
            isinstance(node, dict)
            and isinstance(node.get("unique_id"), str)
            and isinstance(node.get("name"), str)
            and isinstance(node.get("resource_type"), str)
        ):
            raise ManifestError(f"node {key[:80]!r} lacks a unique_id, name or resource_type")
        if node["resource_type"] == "model" and not isinstance(node.get("schema"), str):
            raise ManifestError(f"model {key[:80]!r} lacks its schema")
    for key, source in sources.items():
        if not (isinstance(source, dict) and isinstance(source.get("name"), str) and isinstance(source.get("schema"), str)):
            raise ManifestError(f"source {key[:80]!r} lacks a name or schema")


def _model(node: dict) -> Model:
    return Model(
        unique_id=node["unique_id"],
        name=node["name"],
        relation=Relation(node.get("database") or "", node["schema"], node.get("alias") or node["name"]),
        description=node.get("description", ""),
        columns=node.get("columns", {}),
        original_file_path=node.get("original_file_path", ""),
        depends_on=tuple(node.get("depends_on", {}).get("nodes", [])),
        compiled_code=node.get("compiled_code") or "",
        contract_enforced=bool(((node.get("config") or {}).get("contract") or {}).get("enforced")),
    )


def compiled_sql(target_path: Path, project_name: str, model: Model) -> Optional[str]:
    """The SQL dbt compiled for `model` into `target_path` (<target>/compiled/<project>/<model file>),
    or None when it was not compiled there."""
    path = target_path / "compiled" / project_name / model.original_file_path
    try:
        return path.read_text(encoding="utf-8") or None
    except (OSError, UnicodeDecodeError):
        return None


class _Read(msgspec.Struct):
    """The parts of a manifest that dataproducts reads; dbt's macros and docs, most of its bytes, are
    skipped without being decoded into Python objects."""

    metadata: Any = msgspec.field(default_factory=dict)
    nodes: Any = None
    sources: Any = msgspec.field(default_factory=dict)


_read_parts = msgspec.json.Decoder(_Read)


def _decode(data: bytes) -> dict:
    try:
        parts = _read_parts.decode(data)
        return {"metadata": parts.metadata, "nodes": parts.nodes, "sources": parts.sources}
    except msgspec.MsgspecError:  # not a JSON object, or no JSON: the standard decoder's error explains it
        pass
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"it is not complete JSON ({str(exc)[:100]})") from None


# the manifests used last, least recently used first: a pass over the products (validation, the
# catalog, the scores) asks for one project's manifest after another, and a mesh of hundreds of dbt
# projects would otherwise keep every manifest of the mesh in memory for the life of the process
MANIFESTS_KEPT = 16
_cache: OrderedDict[Path, tuple[tuple[int, int, int], Manifest]] = OrderedDict()
_cache_lock = threading.Lock()  # the UI's requests may load manifests from several threads


def load_manifest(path: Path) -> Optional[Manifest]:
    """The manifest at path, or None when it has not been compiled; cached by the file's state (the
    MANIFESTS_KEPT used last). Raises ManifestError when it exists but cannot be used (truncated,
    half-written, not dbt's)."""
    try:
        with path.open("rb") as handle:  # state and content of the same file, even if it is replaced meanwhile
            info = os.fstat(handle.fileno())
            state = (info.st_mtime_ns, info.st_size, info.st_ino)
            with _cache_lock:
                cached = _cache.get(path)
                if cached and cached[0] == state:
                    _cache.move_to_end(path)  # now the most recently used
                    return cached[1]
            raw = _decode(handle.read())
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ManifestError(f"it cannot be read ({exc.strerror})") from None
    manifest = Manifest(raw, path)
    with _cache_lock:
        _cache[path] = (state, manifest)
        _cache.move_to_end(path)
        while len(_cache) > MANIFESTS_KEPT:
            _cache.popitem(last=False)
    return manifest
