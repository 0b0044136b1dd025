"""A build's output tables as the warehouse holds them: each table's rows for the business date
(all rows when it has no business_date column) and its columns with the warehouse's types, as
dbt's `get_columns_in_relation` reports them (DuckDB's and Postgres's macros read the same
`data_type` that information_schema.columns holds).

Read straight from the warehouse through a read-only session (dbt/warehouse_session), after
`dbt build`, instead of a second dbt invocation: the tables are found in the run's parsed manifest
as `ref()` finds them, their names are dbt's own quoted relation names, and the date and the
names compared in information_schema are bound as parameters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from dataproducts.dbt.warehouse_session import MARKERS, Run, session

COLUMNS = (
    "select column_name, data_type from information_schema.columns"
    " where table_catalog = {m} and table_schema = {m} and table_name = {m} order by ordinal_position"
)


@dataclass(frozen=True)
class OutputTable:
    name: str  # as the spec's port names it, ref()'s argument
    database: str
    schema: str
    identifier: str
    relation: str  # dbt's rendered, quoted relation name


class NotInspectable(LookupError):
    """The table is not a relation of the parsed project (no such model, or an ephemeral one)."""


def can_inspect(adapter: str) -> bool:
    return adapter in MARKERS


def output_tables(manifest: Any, names: list[str]) -> list[OutputTable]:
    """The relations that `ref(name)` means in the parsed dbt manifest."""
    tables = []
    for name in names:
        node = manifest.ref_lookup.find(name, None, None, manifest)
        if node is None or not getattr(node, "relation_name", None):
            raise NotInspectable(f"no table '{name}' in the dbt project (no model, seed or snapshot builds it)")
        tables.append(OutputTable(name, node.database, node.schema, node.alias or node.name, node.relation_name))
    return tables


def inspect(
    adapter: str, tables: list[OutputTable], business_date: dt.date
) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    """(rows for the date per table, column -> type per table), names and types in lower case."""
    counts: dict[str, int] = {}
    columns: dict[str, dict[str, str]] = {}
    with session(adapter) as run:
        for table in tables:
            columns[table.name] = _columns(run, MARKERS[adapter], table)
            counts[table.name] = _rows(run, MARKERS[adapter], table, business_date, "business_date" in columns[table.name])
    return counts, columns


def _columns(run: Run, marker: str, table: OutputTable) -> dict[str, str]:
    rows = run(COLUMNS.format(m=marker), (table.database, table.schema, table.identifier))
    if not rows:
        raise NotInspectable(f"{table.relation} is not in the warehouse (information_schema has no columns for it)")
    return {str(name).lower(): str(dtype).lower() for name, dtype in rows}


def _rows(run: Run, marker: str, table: OutputTable, business_date: dt.date, dated: bool) -> int:
    if dated:
        ((count,),) = run(f"select count(*) from {table.relation} where business_date = {marker}", (business_date,))
    else:
        ((count,),) = run(f"select count(*) from {table.relation}", ())
    return int(count)
