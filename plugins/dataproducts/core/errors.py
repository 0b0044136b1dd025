"""Spec errors that name the file, the field and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Optional

from pydantic import ValidationError

from dataproducts.core.safe_yaml import snippet

MAX_ERRORS_PER_FILE = 20
MAX_TEXT = 600  # characters of a problem or a fix: an error quotes at most a snippet of the input


@dataclass(frozen=True)
class SpecError:
    """`file:line:col: field: problem. Fix: fix`, the form editors and CI annotate."""

    file: str
    field: Optional[str]
    problem: str
    fix: str
    line: Optional[int] = None
    column: Optional[int] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "problem", _bounded(self.problem).rstrip("."))
        object.__setattr__(self, "fix", _bounded(self.fix))

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file

    def __str__(self) -> str:
        where = f"{self.location}: {self.field}" if self.field else self.location
        return f"{where}: {self.problem}. Fix: {self.fix}"


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def capped(errors: list[SpecError]) -> list[SpecError]:
    """At most MAX_ERRORS_PER_FILE errors of one file, the last saying how many more there are."""
    if len(errors) <= MAX_ERRORS_PER_FILE:
        return errors
    kept = errors[: MAX_ERRORS_PER_FILE - 1]
    rest = len(errors) - len(kept)
    return [
        *kept,
        SpecError(errors[0].file, None, f"{rest} more errors are not shown", "fix the errors above and validate again"),
    ]


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
            name = str(part) if len(str(part)) <= 40 else snippet(part)  # an unknown key is input: quote a snippet only
            path += f".{name}" if path else name
    return path


def from_validation_error(
    file: str,
    error: ValidationError,
    known_fields: dict[str, list[str]],
    place_of: Callable[[tuple, bool], Any] = lambda *_: None,
) -> list[SpecError]:
    """Turn pydantic's errors into SpecErrors; known_fields maps a field path's parent to its allowed keys,
    place_of(path, is_key) gives where a field was written (an object with line and column) or None."""
    result = []
    for item in error.errors(include_url=False):
        loc = [p for p in item["loc"] if not _is_union_tag(p)]
        path = field_path(loc)
        place = place_of(tuple(loc), item["type"] == "extra_forbidden")
        line, column = (place.line, place.column) if place else (None, None)
        result.append(SpecError(file, path or None, _problem(item), _fix(item, loc, known_fields), line, column))
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
    if kind == "string_pattern_mismatch":
        return f"{snippet(value)} is not allowed here"
    if kind in {"literal_error", "enum"} and isinstance(value, (str, int, float)):
        return f"{snippet(value)} is not allowed: {message}"
    if kind in {"bool_type", "int_type", "float_type", "string_type", "list_type", "dict_type", "model_type"}:
        return f"{message}, not {_type_name(value)} {snippet(value)}"
    return message


def _type_name(value: Any) -> str:
    names = {str: "the text", bool: "the boolean", int: "the number", float: "the number", list: "a list", dict: "a mapping"}
    return names.get(type(value), f"a {type(value).__name__}")


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
        return PATTERN_FIXES.get(_last_name(loc), PATTERN_FIXES[""])
    if kind == "bool_type":
        return "write true or false, without quotes"
    if kind in {"int_type", "float_type"}:
        return "write a number, without quotes"
    if kind == "string_type":
        return "write it as text, in quotes when it looks like a number or a date (e.g. '1.0')"
    if kind == "list_type":
        return "write a list, e.g. [a, b] or one '- item' per line"
    if kind in {"greater_than", "greater_than_equal"}:
        return f"use a number {item['msg'].removeprefix('Input should be ')}"
    if kind in {"literal_error", "enum"}:
        expected = item.get("ctx", {}).get("expected", "")
        return f"use one of {expected}"
    if name == "contact":
        return "write one e-mail address, e.g. 'team@example.com'"
    for words, fix in VALUE_FIXES.items():
        if words in item["msg"]:
            return fix
    if kind == "too_short":
        return "give at least one entry"
    return "correct the value (see schema/dataproduct.schema.json)"


VALUE_FIXES = {
    "is used twice": "rename or remove one of them",
    "must start with its domain": "make domain: the part of id before the dot",
    "needs schedule.cron": "add schedule: {cron: '0 3 * * *'}, or read another product's output port",
    "not both": "keep product and port (another product's output port) or source (an external table)",
    "needs both 'product' and 'port'": "add the other product's output port as port:",
    "is not a valid cron expression": "write five cron fields, e.g. '0 3 * * *'",
    "is not an IANA timezone": "use an IANA timezone name, e.g. 'Europe/Berlin' or 'UTC'",
    "leads out of the dbt project": "select inside the project, e.g. 'path:models/<product>'",
    # quality rules (spec.QualityRule)
    "exactly one of metric:": "give metric: (row_count, null_values, duplicate_values or invalid_values) or a custom SQL query:, one of the two",
    "with a query needs a name": "add name: to the rule, e.g. name: no_negative_prices",
    "needs column:": "add column: naming a contract column of the port",
    "needs columns:": "add columns: [the contract columns that must be unique together on a date]",
    "needs valid_values:": "add valid_values: [the values the column accepts]",
    "takes no ": "remove that field (column: belongs to null_values and invalid_values, columns: to duplicate_values, "
    "valid_values: to invalid_values)",
    "unit: percent applies": "remove unit: (the rule counts rows)",
    "one threshold operator": "keep one operator; for both bounds use must_be_between: [smallest, largest]",
    "needs a threshold": "add one operator: must_be, must_not_be, must_be_greater_than, must_be_greater_or_equal_to, "
    "must_be_less_than, must_be_less_or_equal_to, must_be_between or must_not_be_between",
    "smallest number first": "swap the two numbers",
    "custom SQL is not allowed": "write one SELECT that returns one number, with ${table} for the port's table and "
    "${business_date} for the date, e.g. select count(*) from ${table} where business_date = ${business_date} and price_eur <= 0",
    "valid_values holds only": "list texts, numbers or booleans; count nulls with metric: null_values",
}
PATTERN_FIXES = {
    "": "use lower-case letters, digits and underscores, starting with a letter (ids: '<domain>.<name>')",
    "select": "use dbt selector syntax only, e.g. 'path:models/<product>', 'tag:daily' or '+model_name' "
    "(letters, digits and _ . : + * / @ , -; never starting with '-')",
    "version": "use a semantic version, e.g. '1.0.0'",
    "terms": "use a glossary term such as 'Marketplace.Listing' (letters, digits, _ . - and spaces)",
}


def _last_name(loc: list) -> str:
    names = [p for p in loc if isinstance(p, str)]
    return names[-1] if names and names[-1] in PATTERN_FIXES else ""


def _strip_indexes(loc: list) -> list:
    return [p for p in loc if not isinstance(p, int)]
