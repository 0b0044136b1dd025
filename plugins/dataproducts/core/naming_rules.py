"""Naming rules: what product ids, port, table and column names look like, and how much it matters.

Each rule is a pattern (`snake_case`, the default, or a Python regular expression the whole name
must match) and a severity: `error` (the spec is broken), `warn` (a warning: `validate`, the DAG
docs) or `off`; one more rule keeps table names unique across the mesh. They are settings of the
`[dataproducts]` section (core/settings.py: `naming_<rule>_pattern`, `naming_<rule>_severity`,
`naming_unique_table_names`). Every finding suggests a name: the snake_case form of the name.
Where the rules are applied to a mesh: core/naming_findings.py. The conventions that derive names
(DAG ids, asset URIs) are core/naming.py.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import Enum
from typing import Optional

from dataproducts.core import settings

log = logging.getLogger(__name__)

SNAKE_CASE = "snake_case"
_SNAKE = r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*"
_SNAKE_PARTS = {  # snake_case per rule: a product id is snake_case on both sides of its dot
    "product_id": re.compile(rf"{_SNAKE}\.{_SNAKE}"),
}
_SNAKE_NAME = re.compile(_SNAKE)
UNIQUE_TABLE_NAMES = "unique_table_names"


class Severity(str, Enum):
    error = "error"
    warn = "warn"
    off = "off"


@dataclass(frozen=True)
class PatternRule:
    """A naming rule: `name` of settings.NAMING_RULES, the pattern as configured, its severity."""

    name: str
    pattern: str
    severity: Severity

    @property
    def regex(self) -> re.Pattern[str]:
        if self.pattern == SNAKE_CASE:
            return _SNAKE_PARTS.get(self.name, _SNAKE_NAME)
        return re.compile(self.pattern)

    def allows(self, name: str) -> bool:
        return self.severity is Severity.off or self.regex.fullmatch(name) is not None

    @property
    def shape(self) -> str:
        """'is not snake_case' or "does not match the pattern '...'", for messages."""
        return "is not snake_case" if self.pattern == SNAKE_CASE else f"does not match the pattern '{self.pattern}'"

    def suggestion(self, name: str) -> Optional[str]:
        """A name that keeps this rule: the snake_case form (each part of an id), if the pattern allows it."""
        candidate = ".".join(snake_case(part) for part in name.split(".")) if self.name == "product_id" else snake_case(name)
        return candidate if candidate != name and self.regex.fullmatch(candidate) else None


@dataclass(frozen=True)
class Rules:
    patterns: dict[str, PatternRule]  # by rule name: product_id, port_name, table_name, column_name
    unique_table_names: Severity

    def __getitem__(self, name: str) -> PatternRule:
        return self.patterns[name]


def snake_case(name: str) -> str:
    """'listingPrice' -> 'listing_price', 'HTTPStatus2xx' -> 'http_status2xx', 'Price--EUR' -> 'price_eur'."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", words)
    result = re.sub(r"[^a-z0-9]+", "_", words.lower()).strip("_")
    if not result:
        return "x"
    return result if result[0].isalpha() else f"x_{result}"


def configured() -> Rules:
    """The rules as the settings say; a value that is not a severity or a pattern is logged and the default used."""
    patterns = {
        rule: PatternRule(rule, _pattern(f"naming_{rule}_pattern"), _severity(f"naming_{rule}_severity"))
        for rule in settings.NAMING_RULES
    }
    return Rules(patterns, _severity(f"naming_{UNIQUE_TABLE_NAMES}"))


def fingerprint() -> str:
    """The configured rules as one line, for the mesh cache's key."""
    rules = configured()
    return ";".join(
        [*(f"{r.name}={r.severity.value}:{r.pattern}" for r in rules.patterns.values()), rules.unique_table_names.value]
    )


def _severity(setting: str) -> Severity:
    value = settings.get(setting).strip().lower()
    try:
        return Severity(value)
    except ValueError:
        default = settings.SETTINGS[setting].default
        log.warning("%s is %r, not one of error, warn, off; using %s", setting, value, default)
        return Severity(default)


def _pattern(setting: str) -> str:
    value = settings.get(setting).strip()
    if value == SNAKE_CASE:
        return value
    try:
        re.compile(value)
    except re.error as exc:
        log.warning("%s is not a regular expression (%s); using snake_case", setting, exc)
        return SNAKE_CASE
    return value
