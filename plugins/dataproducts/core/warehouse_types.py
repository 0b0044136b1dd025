"""Which warehouse types keep a contract column's logical type, per dbt adapter.

A contract says `type: integer`; the warehouse says `BIGINT` (DuckDB) or `bigint` (Postgres).
Types are compared by family: the name without parameters (`DECIMAL(9,4)` -> `decimal`), lower
case. The mapping is documented in the README (Typed contracts); an adapter without one here is
not checked (every type is accepted) rather than guessed.
"""

from __future__ import annotations

import re
from typing import Optional

from dataproducts.core.spec import LogicalType

_INTEGERS = {"smallint", "integer", "int", "bigint", "int2", "int4", "int8", "serial", "bigserial"}
_DUCKDB_INTEGERS = {"tinyint", "hugeint", "utinyint", "usmallint", "uinteger", "ubigint", "uhugeint", "long", "short"}
_DECIMALS = {"decimal", "numeric", "real", "double", "double precision", "float", "float4", "float8"}

TYPES: dict[str, dict[LogicalType, frozenset[str]]] = {
    "duckdb": {
        LogicalType.string: frozenset({"varchar", "text", "string", "char", "bpchar", "uuid"}),
        LogicalType.integer: frozenset(_INTEGERS | _DUCKDB_INTEGERS),
        LogicalType.number: frozenset(_DECIMALS),
        LogicalType.boolean: frozenset({"boolean", "bool"}),
        LogicalType.date: frozenset({"date"}),
        LogicalType.timestamp: frozenset({"timestamp", "datetime", "timestamp with time zone", "timestamptz"}),
    },
    "postgres": {
        LogicalType.string: frozenset({"text", "character varying", "varchar", "character", "char", "bpchar", "uuid"}),
        LogicalType.integer: frozenset(_INTEGERS),
        LogicalType.number: frozenset(_DECIMALS),
        LogicalType.boolean: frozenset({"boolean", "bool"}),
        LogicalType.date: frozenset({"date"}),
        LogicalType.timestamp: frozenset({"timestamp", "timestamp without time zone", "timestamp with time zone", "timestamptz"}),
    },
}

_PARAMETERS = re.compile(r"\s*\(.*\)\s*")


def family(warehouse_type: str) -> str:
    """'DECIMAL(9,4)' -> 'decimal', 'character varying(20)' -> 'character varying'"""
    return _PARAMETERS.sub(" ", warehouse_type.strip().lower()).strip()


def fits(adapter: str, logical: LogicalType, warehouse_type: str) -> Optional[bool]:
    """Whether the warehouse type keeps the logical type; None when the adapter has no mapping."""
    mapping = TYPES.get(adapter)
    if mapping is None:
        return None
    return family(warehouse_type) in mapping[logical]


def markdown_table() -> str:
    """The mapping as the README shows it."""
    lines = ["| logical type | " + " | ".join(TYPES) + " |", "|---|" + "---|" * len(TYPES)]
    for logical in LogicalType:
        cells = [", ".join(f"`{t}`" for t in sorted(TYPES[adapter][logical])) for adapter in TYPES]
        lines.append(f"| `{logical.value}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)
