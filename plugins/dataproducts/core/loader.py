"""Reading spec files: safe YAML, pydantic validation, and the file-place convention."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml
from pydantic import BaseModel, ValidationError

from dataproducts.core import naming
from dataproducts.core.errors import SpecError, from_validation_error
from dataproducts.core.spec import DataProductSpec

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedSpec:
    product_id: str
    path: str  # relative to the project root, for messages and metadata
    spec: Optional[DataProductSpec]
    errors: tuple[SpecError, ...] = field(default=())

    @property
    def domain(self) -> str:
        return self.product_id.split(".", 1)[0]

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.errors


def spec_files(specs_dir: Path) -> list[Path]:
    """product_specs/<domain>/<name>.yaml, sorted; anything deeper or shallower is not a spec."""
    if not specs_dir.is_dir():
        return []
    return sorted(p for p in specs_dir.glob("*/*") if p.suffix in SPEC_SUFFIXES and p.is_file())


def load_spec_file(path: Path, root: Path) -> LoadedSpec:
    rel = _relative(path, root)
    if not naming.file_place_is_valid(path):
        placeholder = naming.placeholder_id_for_file(path)
        suggestion = placeholder.replace("_invalid_file_name", "").replace(".", "/")
        error = SpecError(
            rel,
            None,
            "the folder and file name make the product id ('<domain folder>.<file name>'), and ids use lower-case letters, digits and underscores",
            f"rename it, e.g. to product_specs/{suggestion}.yaml",
        )
        return LoadedSpec(placeholder, rel, None, (error,))
    expected_id = naming.product_id_for_file(path)
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=SafeLoader)
    except yaml.YAMLError as exc:
        return LoadedSpec(expected_id, rel, None, (_yaml_error(rel, exc),))
    except (OSError, UnicodeDecodeError) as exc:
        return LoadedSpec(expected_id, rel, None, (SpecError(rel, None, f"cannot be read ({exc})", "save it as UTF-8 text"),))
    if not isinstance(document, dict):
        problem = "is empty" if document is None else f"holds a {type(document).__name__}, not a mapping of fields"
        return LoadedSpec(expected_id, rel, None, (SpecError(rel, None, problem, "write the spec as 'field: value' lines"),))
    try:
        spec = DataProductSpec.model_validate(document)
    except ValidationError as exc:
        return LoadedSpec(expected_id, rel, None, tuple(from_validation_error(rel, exc, known_fields())))
    if spec.id != expected_id:
        error = SpecError(
            rel,
            "id",
            f"'{spec.id}' does not match the file's place, which makes the id '{expected_id}'",
            f"set id: {expected_id}, or move the file to product_specs/{spec.domain}/{spec.product_name}.yaml",
        )
        return LoadedSpec(expected_id, rel, None, (error,))
    return LoadedSpec(expected_id, rel, spec)


def _yaml_error(rel: str, exc: yaml.YAMLError) -> SpecError:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
    problem = getattr(exc, "problem", None) or str(exc)
    return SpecError(
        rel, where, f"is not valid YAML: {problem}", "fix the YAML syntax at that place (indentation, quotes, colons)"
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


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
