"""Spec errors that name the file, the field and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional

from pydantic import ValidationError


@dataclass(frozen=True)
class SpecError:
    file: str
    field: Optional[str]
    problem: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.problem}. Fix: {self.fix}"


class SpecErrors(Exception):
    """Raised where a caller needs one exception for a broken spec (e.g. the failing task of its DAG)."""

    def __init__(self, errors: Iterable[SpecError]):
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def field_path(loc: Iterable[Any]) -> str:
    """('output_ports', 0, 'contract') -> 'output_ports[0].contract'"""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def from_validation_error(file: str, error: ValidationError, known_fields: dict[str, list[str]]) -> list[SpecError]:
    """Turn pydantic's errors into SpecErrors; known_fields maps a field path's parent to its allowed keys."""
    result = []
    for item in error.errors(include_url=False):
        loc = [p for p in item["loc"] if not _is_union_tag(p)]
        path = field_path(loc)
        result.append(SpecError(file, path or None, _problem(item), _fix(item, loc, known_fields)))
    return result


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and part.startswith(("function-", "constrained-str"))


def _problem(item: Any) -> str:
    kind = item["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    message = item["msg"].removeprefix("Value error, ")
    value = item.get("input")
    if kind in {"string_pattern_mismatch", "literal_error", "enum"} and isinstance(value, (str, int, float)):
        return f"{value!r} is not allowed: {message}"
    return message


def _fix(item: Any, loc: list, known_fields: dict[str, list[str]]) -> str:
    kind = item["type"]
    name = str(loc[-1]) if loc else ""
    if kind == "missing":
        return f"add '{name}:' (see schema/dataproduct.schema.json)"
    if kind == "extra_forbidden":
        allowed = known_fields.get(field_path(_strip_indexes(loc[:-1])), [])
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{hint}remove or rename it; allowed here: {', '.join(sorted(allowed))}"
    if kind == "string_pattern_mismatch":
        return "use lower-case letters, digits and underscores, starting with a letter (ids: '<domain>.<name>')"
    if kind in {"literal_error", "enum"}:
        expected = item.get("ctx", {}).get("expected", "")
        return f"use one of {expected}"
    if kind == "too_short":
        return "give at least one entry"
    return "correct the value (see schema/dataproduct.schema.json)"


def _strip_indexes(loc: list) -> list:
    return [p for p in loc if not isinstance(p, int)]
