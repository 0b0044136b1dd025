"""The warehouse side of quality rules: each rule of a product's output ports measured on the
business date's rows, read-only, with SQL per dbt adapter (DuckDB, Postgres). What a measured value
means is core/quality.py's business.

Only validated identifiers (the domain, the port's table, contract columns) are written into the
SQL, quoted; the business date and a rule's accepted values are bound as parameters by the driver.
A rule's custom query is one validated SELECT (core/quality_sql.py) run as it is written, with its
placeholders replaced by the quoted table and the driver's parameter marker. Every query runs in a
read-only transaction of its own (dbt/warehouse_session).
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any, Optional

from dataproducts.core import quality, quality_sql
from dataproducts.core.run_outcome import QualityCheckResult
from dataproducts.core.spec import DataProductSpec, Metric, OutputPort, QualityRule, Unit
from dataproducts.dbt.warehouse_session import MARKERS, Run, session

MAX_ERROR = 300


@dataclass(frozen=True)
class Query:
    sql: str
    parameters: tuple[Any, ...]


def evaluate(
    adapter: str, spec: DataProductSpec, business_date: dt.date, columns_by_table: dict[str, dict[str, str]]
) -> list[QualityCheckResult]:
    """Every rule of every output port, measured on the warehouse of the dbt adapter (the build's
    columns say which tables have a business_date column to filter on)."""
    if adapter not in MARKERS:
        reason = f"no quality queries for dbt adapter '{adapter or 'unknown'}'"
        return [quality.result(spec, p, r, None, reason) for p in spec.output_ports for r in quality.rules_of(p)]
    with session(adapter) as run:
        return measure(run, MARKERS[adapter], spec, business_date, columns_by_table)


def measure(
    run: Run, marker: str, spec: DataProductSpec, business_date: dt.date, columns_by_table: dict[str, dict[str, str]]
) -> list[QualityCheckResult]:
    results = []
    for port in spec.output_ports:
        dated = "business_date" in {c.lower() for c in columns_by_table.get(port.table_name, {})}
        for rule in quality.rules_of(port):
            query = rule_query(rule, _table(spec, port), marker, business_date if dated else None)
            observed, error = _one_number(run, query)
            results.append(quality.result(spec, port, rule, observed, error))
    return results


def _table(spec: DataProductSpec, port: OutputPort) -> str:
    return f"{_quoted(spec.domain)}.{_quoted(port.table_name)}"


def _quoted(identifier: str) -> str:
    """A validated identifier (lower-case letters, digits, underscores), quoted for DuckDB and Postgres."""
    if not identifier.replace("_", "").isalnum() or '"' in identifier:
        raise ValueError(f"'{identifier}' is not an identifier")
    return f'"{identifier}"'


def rule_query(rule: QualityRule, table: str, marker: str, business_date: Optional[dt.date]) -> Query:
    """The SQL measuring the rule on the date's rows (every row when the table has no business_date)."""
    if rule.query is not None:
        sql, dates = quality_sql.render(rule.query, table, marker)
        return Query(sql, (business_date,) * dates)
    where, date_parameters = (f"business_date = {marker}", (business_date,)) if business_date else ("true", ())
    if rule.metric is Metric.row_count:
        return Query(f"select count(*) from {table} where {where}", date_parameters)
    if rule.metric is Metric.duplicate_values:
        return _duplicates(rule, table, where, date_parameters)
    condition, parameters = _offending(rule, marker)
    if rule.unit is Unit.percent:
        share = f"coalesce(100.0 * sum(case when {condition} then 1 else 0 end) / nullif(count(*), 0), 0)"
        return Query(f"select {share} from {table} where {where}", (*parameters, *date_parameters))
    return Query(f"select count(*) from {table} where {where} and {condition}", (*date_parameters, *parameters))


def _offending(rule: QualityRule, marker: str) -> tuple[str, tuple[Any, ...]]:
    """The condition a row breaks the rule by (null_values, invalid_values), with its parameters."""
    column = _quoted(rule.column or "")
    if rule.metric is Metric.null_values:
        return f"{column} is null", ()
    markers = ", ".join([marker] * len(rule.valid_values))
    return f"{column} is not null and {column} not in ({markers})", tuple(rule.valid_values)


def _duplicates(rule: QualityRule, table: str, where: str, date_parameters: tuple[Any, ...]) -> Query:
    """Rows beyond the first of each key (rows), or their share of the date's rows (percent)."""
    key = ", ".join(_quoted(c) for c in rule.columns)
    groups = f"(select count(*) as n from {table} where {where} group by {key}) as keys"
    value = "coalesce(100.0 * sum(n - 1) / nullif(sum(n), 0), 0)" if rule.unit is Unit.percent else "coalesce(sum(n - 1), 0)"
    return Query(f"select {value} from {groups}", date_parameters)


def _one_number(run: Run, query: Query) -> tuple[Optional[float], str]:
    """(the number the query returned, "") or (None, why there is none)."""
    try:
        rows = run(query.sql, query.parameters)
    except Exception as exc:  # the warehouse's own words: a rule that cannot run fails as a rule
        return None, _short(f"{type(exc).__name__}: {exc}")
    if len(rows) != 1 or len(rows[0]) != 1:
        return None, f"the query returned {len(rows)} rows of {len(rows[0]) if rows else 0} columns, not one number"
    value = rows[0][0]
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        return None, f"the query returned {type(value).__name__} {str(value)[:40]!r}, not a number"
    return float(value), ""


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_ERROR else line[: MAX_ERROR - 1] + "…"
