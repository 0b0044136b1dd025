"""The validated mesh kept on disk, one slice per domain, so parsing a domain's DAG file costs that
domain's products, not the mesh's size.

Airflow's dag-processor parses each DAG file in a process of its own, and every product's
validity depends on the whole mesh (references and cycles cross domains). The first file parsed
after a change validates everything and stores the outcome as one slice per domain (its entries,
errors included, and who reads each product); every other file reads only its own slice back,
without validating again: the slice holds specs that were validated when it was written. The
slices of one state of the inputs live in the folder mesh_state names by that state's key. A
slice holds validated data (JSON), never code, and a cache that is missing, unreadable or unwritable only costs the time it
would have saved.
"""

from __future__ import annotations

import datetime
import enum
import functools
import json
import logging
import os
import shutil
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel

from dataproducts.core.errors import SpecError
from dataproducts.core.loader import LoadedSpec
from dataproducts.core.mesh import Mesh, load_mesh
from dataproducts.core.mesh_state import FORMAT, slice_file_name, state_folder
from dataproducts.core.project import Project
from dataproducts.core.spec import DataProductSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainSlice:
    """One domain's part of the validated mesh: all that the domain's DAG file needs."""

    project: Project
    domain: str
    entries: list[LoadedSpec]  # sorted by product id, broken specs included
    consumers: dict[str, list[str]]  # product id -> the products that read it (anywhere in the mesh)
    producers: dict[str, DataProductSpec] = field(default_factory=dict)  # other domains' products it reads

    def consumers_of(self, product_id: str) -> list[str]:
        return list(self.consumers.get(product_id, []))

    def product(self, product_id: str) -> Optional[DataProductSpec]:
        """A valid product of this domain, or of another one that this domain reads."""
        own = next((e.spec for e in self.entries if e.product_id == product_id and e.ok), None)
        return own or self.producers.get(product_id)


def load_domain_cached(project: Project, domain: str) -> DomainSlice:
    folder = state_folder(project)
    if folder.is_dir():
        try:
            return _read_slice(project, folder, domain)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring the unreadable mesh cache %s: %s", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
    return slice_of(_rebuild(project, folder), domain)


def stored_slice(project: Project, folder: Path, domain: str) -> Optional[DomainSlice]:
    """The domain's slice as stored in folder, None while the folder is not written; raises
    OSError, ValueError, KeyError or TypeError for an unreadable one (load_domain_cached mends it)."""
    return _read_slice(project, folder, domain) if folder.is_dir() else None


def load_mesh_cached(project: Project) -> Mesh:
    """The whole mesh from the cache (every slice), or validated and stored when the cache is stale."""
    folder = state_folder(project)
    if folder.is_dir():
        try:
            entries = {}
            for path in sorted(folder.glob("*.json")):
                for entry in _slice_from_json(project, json.loads(path.read_bytes())).entries:
                    entries[entry.product_id] = entry
            return Mesh(project, entries)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring the unreadable mesh cache %s: %s", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
    return _rebuild(project, folder)


def slice_of(mesh: Mesh, domain: str) -> DomainSlice:
    entries = mesh.in_domain(domain)
    read = {port.upstream[0] for e in entries if e.spec for port in e.spec.product_inputs}
    producers = {pid: mesh.products[pid] for pid in sorted(read) if pid in mesh.products and mesh.products[pid].domain != domain}
    return DomainSlice(mesh.project, domain, entries, {e.product_id: mesh.consumers_of(e.product_id) for e in entries}, producers)


def _slice_file(folder: Path, domain: str) -> Path:
    return folder / f"{slice_file_name(domain)}.json"


def _read_slice(project: Project, folder: Path, domain: str) -> DomainSlice:
    try:
        data = json.loads(_slice_file(folder, domain).read_bytes())
    except FileNotFoundError:  # the folder is complete (written whole, then renamed): no such domain
        return DomainSlice(project, domain, [], {})
    found = _slice_from_json(project, data)
    if found.domain != domain:
        raise ValueError(f"slice of '{found.domain}' where '{domain}' was expected")
    return found


def _rebuild(project: Project, folder: Path) -> Mesh:
    mesh = load_mesh(project)
    if state_folder(project) != folder:  # an input changed while it was read: never store a mix
        return mesh
    staging = folder.with_name(f".{folder.name}-{os.getpid()}")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for domain in mesh.domains():
            _slice_file(staging, domain).write_bytes(json.dumps(_slice_to_json(slice_of(mesh, domain))).encode())
        try:
            staging.rename(folder)  # atomic: a reader sees a complete folder or none
        except OSError:  # another process stored the same state first
            shutil.rmtree(staging, ignore_errors=True)
        for old in folder.parent.glob("mesh-*"):
            if old.is_dir() and old != folder:
                shutil.rmtree(old, ignore_errors=True)
            elif old.is_file():  # the single-file cache of before
                old.unlink(missing_ok=True)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        log.info("mesh cache not written (%s); parsing stays correct, only slower", exc)
    return mesh


def _slice_to_json(part: DomainSlice) -> dict:
    return {
        "format": FORMAT,
        "domain": part.domain,
        "entries": [
            {
                "id": entry.product_id,
                "path": entry.path,
                # exclude_unset: the rebuilt spec has exactly the validated one's fields set
                "spec": entry.spec.model_dump(mode="json", exclude_unset=True) if entry.spec else None,
                "errors": [asdict(e) for e in entry.errors],
                "warnings": [asdict(w) for w in entry.warnings],
            }
            for entry in part.entries
        ],
        "consumers": part.consumers,
        "producers": {pid: spec.model_dump(mode="json", exclude_unset=True) for pid, spec in part.producers.items()},
    }


def _slice_from_json(project: Project, data: dict) -> DomainSlice:
    if data.get("format") != FORMAT:
        raise ValueError(f"cache format {data.get('format')}, expected {FORMAT}")
    entries = [
        LoadedSpec(
            item["id"],
            item["path"],
            trusted(DataProductSpec, item["spec"]) if item["spec"] is not None else None,
            tuple(SpecError(**e) for e in item["errors"]),
            tuple(SpecError(**w) for w in item["warnings"]),
        )
        for item in data["entries"]
    ]
    producers = {pid: trusted(DataProductSpec, spec) for pid, spec in data.get("producers", {}).items()}
    return DomainSlice(project, data["domain"], entries, {k: list(v) for k, v in data["consumers"].items()}, producers)


# ------------------------------------------------------------------------------------------------
# rebuilding validated models without validating them again (pydantic's model_construct, nested)
# ------------------------------------------------------------------------------------------------

M = typing.TypeVar("M", bound=BaseModel)
Convert = Callable[[Any], Any]


def trusted(model: type[M], data: dict[str, Any]) -> M:
    """The model a validated model's `model_dump(mode="json", exclude_unset=True)` came from.
    Only for data this process (or another one with the same source, see fingerprint) validated."""
    values = {name: convert(data[name]) for name, convert in _plan(model) if name in data}
    return model.model_construct(_fields_set=set(values), **values)


@functools.cache
def _plan(model: type[BaseModel]) -> tuple[tuple[str, Convert], ...]:
    return tuple((name, _converter(info.annotation)) for name, info in model.model_fields.items())


def _converter(annotation: Any) -> Convert:
    """JSON value -> the Python value validation made of it (nested models, enums), per field type."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _converter(args[0])
    if origin is typing.Union:
        options = [(option, _converter(option)) for option in args if option is not type(None)]
        return lambda v: None if v is None else next((c(v) for o, c in options if _fits(o, v)), v)
    if origin in (list, tuple):
        item = _converter(args[0]) if args else _same
        return lambda v: None if v is None else origin(item(x) for x in v)
    if origin is dict:
        value = _converter(args[1]) if args else _same
        return lambda v: None if v is None else {k: value(x) for k, x in v.items()}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return lambda v: None if v is None else trusted(annotation, v)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return lambda v: None if v is None else annotation(v)
    if annotation is datetime.date:
        return lambda v: None if v is None else datetime.date.fromisoformat(v)
    return _same


def _same(value: Any) -> Any:
    return value


def _fits(annotation: Any, value: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _fits(typing.get_args(annotation)[0], value)
    if origin in (list, tuple):
        return isinstance(value, list)
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return isinstance(value, dict)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return value in {m.value for m in annotation}
    return True
