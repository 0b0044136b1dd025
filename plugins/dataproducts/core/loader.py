"""Reading spec files: safe, bounded YAML (core/safe_yaml.py), pydantic validation, and the file-place convention."""

from __future__ import annotations

import logging
import os
import re
import stat
import typing
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ValidationError

from dataproducts.core import naming, safe_yaml, settings
from dataproducts.core.errors import SpecError, capped, field_path, from_validation_error
from dataproducts.core.spec import DataProductSpec

log = logging.getLogger(__name__)
SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedSpec:
    product_id: str
    path: str  # relative to the project root, for messages and metadata
    spec: Optional[DataProductSpec]
    errors: tuple[SpecError, ...] = field(default=())
    warnings: tuple[SpecError, ...] = field(default=())  # the spec stays valid (e.g. it reads a deprecated port)
    # where each field was written, for the errors that checks across specs find later; only while
    # loading: the mesh cache stores errors, not places
    places: Optional[Places] = field(default=None, compare=False, repr=False)

    @property
    def domain(self) -> str:
        return self.product_id.split(".", 1)[0]

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.errors


class Places:
    """Where each field of a spec file was written ('output_ports[0].table' -> (line, column)),
    worked out from the document only when an error first asks (most specs never have one)."""

    def __init__(self, document: safe_yaml.Document):
        self._document: Optional[safe_yaml.Document] = document.without_data()
        self._by_field: dict[str, tuple[int, int]] = {}

    def get(self, path: str) -> Optional[tuple[int, int]]:
        if self._document is not None:
            self._by_field = {field_path(p): (v.line, v.column) for p, v in self._document.values.items()}
            self._document = None
        return self._by_field.get(path)


def spec_files(specs_dir: Path) -> list[Path]:
    """product_specs/<domain>/<name>.yaml, sorted; anything deeper or shallower is not a spec.
    Links, pipes and devices with a spec's name are listed too: the loader refuses them by name."""
    if not specs_dir.is_dir():
        return []
    return sorted(p for p in specs_dir.glob("*/*") if p.suffix in SPEC_SUFFIXES and not _is_real_folder(p))


def _is_real_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def max_spec_bytes() -> int:
    value = settings.get("max_spec_bytes")
    try:
        return max(1, int(value))
    except ValueError:
        log.warning("max_spec_bytes is not a number (%s); using %s", value, settings.SETTINGS["max_spec_bytes"].default)
        return int(settings.SETTINGS["max_spec_bytes"].default)


def read_document(path: Path, specs_dir: Path, max_bytes: Optional[int] = None) -> safe_yaml.Document:
    """The file's YAML document, read safely and within bounds (raises safe_yaml.ReadError)."""
    limit = max_bytes if max_bytes is not None else max_spec_bytes()
    return safe_yaml.parse(safe_yaml.decode(safe_yaml.read_spec_bytes(path, specs_dir, limit)))


def load_spec_file(
    path: Path,
    root: Path,
    specs_dir: Optional[Path] = None,
    max_bytes: Optional[int] = None,
    document: Optional[safe_yaml.Document] = None,
) -> LoadedSpec:
    """max_bytes: the max_spec_bytes setting, when the caller has read it already (once for many files);
    document: the file's document when another process has read it already (core/spec_prefetch)."""
    rel = _relative(path, root)
    specs_dir = specs_dir if specs_dir is not None else path.parent.parent
    if not naming.file_place_is_valid(path):
        return _badly_placed(path, rel)
    expected_id = naming.product_id_for_file(path)
    if document is None:
        try:
            document = read_document(path, specs_dir, max_bytes)
        except safe_yaml.ReadError as exc:
            return _unreadable(expected_id, rel, exc)
    return _from_document(document, rel, expected_id)


def load_spec_bytes(data: bytes, rel: str) -> LoadedSpec:
    """A spec's content from elsewhere than its file (a git revision), checked as the file's would be."""
    path = Path(rel)
    if not naming.file_place_is_valid(path):
        return _badly_placed(path, rel)
    expected_id = naming.product_id_for_file(path)
    try:
        if len(data) > max_spec_bytes():
            raise safe_yaml.ReadError(
                f"is {len(data):,} bytes, more than the limit of {max_spec_bytes():,} bytes for a spec file",
                "split the product into smaller ones, or raise the max_spec_bytes setting",
            )
        document = safe_yaml.parse(safe_yaml.decode(data))
    except safe_yaml.ReadError as exc:
        return _unreadable(expected_id, rel, exc)
    return _from_document(document, rel, expected_id)


def _badly_placed(path: Path, rel: str) -> LoadedSpec:
    placeholder = naming.placeholder_id_for_file(path)
    suggestion = placeholder.replace("_invalid_file_name", "").replace(".", "/")
    error = SpecError(
        rel,
        None,
        "the folder and file name make the product id ('<domain folder>.<file name>'), and ids use lower-case letters, digits and underscores",
        f"rename it, e.g. to product_specs/{suggestion}.yaml",
    )
    return LoadedSpec(placeholder, rel, None, (error,))


def _unreadable(expected_id: str, rel: str, exc: safe_yaml.ReadError) -> LoadedSpec:
    line, column = (exc.place.line, exc.place.column) if exc.place else (None, None)
    return LoadedSpec(expected_id, rel, None, (SpecError(rel, None, exc.problem, exc.fix, line, column),))


def _from_document(document: safe_yaml.Document, rel: str, expected_id: str) -> LoadedSpec:
    if not isinstance(document.data, dict):
        data = document.data
        problem = "is empty" if data is None else f"holds {_kind_of(data)}, not a mapping of fields"
        return LoadedSpec(
            expected_id, rel, None, (SpecError(rel, None, problem, "write the spec as 'field: value' lines", 1, 1),)
        )
    try:
        spec = DataProductSpec.model_validate(document.data)
    except ValidationError as exc:
        errors = from_validation_error(rel, exc, known_fields(), document.place_of)
        return LoadedSpec(expected_id, rel, None, tuple(capped(errors)))
    if spec.id != expected_id:
        place = document.place_of(("id",))
        error = SpecError(
            rel,
            "id",
            f"'{spec.id}' does not match the file's place, which makes the id '{expected_id}'",
            f"set id: {expected_id}, or move the file to product_specs/{spec.domain}/{spec.product_name}.yaml",
            place.line if place else None,
            place.column if place else None,
        )
        return LoadedSpec(expected_id, rel, None, (error,))
    return LoadedSpec(expected_id, rel, spec, places=Places(document))


def placed(entry: LoadedSpec, error: SpecError) -> SpecError:
    """The error with the line and column of its field (or of the closest enclosing one) in the entry's file."""
    if error.line or not entry.places:
        return error
    path = error.field or ""
    while True:
        place = entry.places.get(path)
        if place is not None:
            return replace(error, line=place[0], column=place[1])
        if not path:
            return error
        path = re.sub(r"(\[\d+\]|\.?[^.\[]+)$", "", path)


def _kind_of(data) -> str:
    if isinstance(data, list):
        return "a list"
    if isinstance(data, str):
        return "only a piece of text"
    return f"a single {type(data).__name__} value"


def _relative(path: Path, root: Path) -> str:
    """The file's path from the root, never the target of a link (which may be anywhere)."""
    folder = _folder_from_root(path.parent, root)
    if folder is None:
        return path.as_posix()
    return path.name if folder == "." else f"{folder}/{path.name}"


@lru_cache(maxsize=1024)
def _folder_from_root(folder: Path, root: Path) -> Optional[str]:
    """The folder's real path from the root's ('product_specs/sales'), None when it is not under the
    root; worked out once per folder while loading (a domain's specs share theirs); forget_folders()
    starts afresh, so a folder moved or relinked since is seen as it is now."""
    try:
        return folder.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def forget_folders() -> None:
    _folder_from_root.cache_clear()


@lru_cache(maxsize=1)
def known_fields() -> dict[str, list[str]]:
    """Allowed keys by field path (indexes dropped), for 'did you mean' hints."""
    result: dict[str, list[str]] = {}
    _collect_fields(DataProductSpec, "", result)
    return result


def _collect_fields(model: type[BaseModel], prefix: str, result: dict[str, list[str]]) -> None:
    result[prefix] = [info.alias or name for name, info in model.model_fields.items()]
    for name, info in model.model_fields.items():
        key = info.alias or name
        for nested in _models_in(info.annotation):
            _collect_fields(nested, f"{prefix}.{key}" if prefix else key, result)


def _models_in(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found
