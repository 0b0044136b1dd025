"""Quality rules on an output port's rows of the business date: which rules a port has (its own
and the default), whether their columns are the port's, and what a measured value means (passed,
the message, the severity's consequence). Pure; the warehouse measures (dbt/quality_checks.py),
the build task decides (airflow/tasks.py).

Every port has a default rule, unless it writes a row_count rule of its own: the date must have
produced rows (row_count must be greater than 0), severity warn. A port whose dates may be empty
writes `{metric: row_count, must_be_greater_or_equal_to: 0}`; one that must never be empty raises
it to `severity: error`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

from dataproducts.core import naming
from dataproducts.core.errors import SpecError
from dataproducts.core.run_outcome import QualityCheckResult
from dataproducts.core.spec import DataProductSpec, Metric, OutputPort, QualityRule

DEFAULT_RULE = QualityRule.model_validate(
    {
        "metric": "row_count",
        "must_be_greater_than": 0,
        "severity": "warn",
        "description": "The business date produced rows (the platform's default rule of every port).",
    }
)

_SYMBOLS = {
    "must_be": "=",
    "must_not_be": "!=",
    "must_be_greater_than": ">",
    "must_be_greater_or_equal_to": ">=",
    "must_be_less_than": "<",
    "must_be_less_or_equal_to": "<=",
}


def rules_of(port: OutputPort) -> list[QualityRule]:
    """The port's rules, in spec order, and the default one unless the port has a row_count rule."""
    own = list(port.quality)
    if any(rule.metric is Metric.row_count for rule in own):
        return own
    return [*own, DEFAULT_RULE]


def rule_summaries(port: OutputPort) -> list[tuple[str, str, str]]:
    """(name, severity, what it checks) per rule of the port, the default one marked:
    ('null_values_segment', 'warn', "null_values of 'segment' (percent of the date's rows) < 5")."""
    own = {id(r) for r in port.quality}
    return [
        (
            rule.rule_name,
            rule.severity.value,
            f"{measured_as(rule)} {threshold_text(rule)}" + ("" if id(rule) in own else "  (the default rule)"),
        )
        for rule in rules_of(port)
    ]


def rule_lines(port: OutputPort) -> list[str]:
    """One aligned line per rule of the port (`show`, the Data mesh page)."""
    return [f"{name:28} {severity:5}  {what}" for name, severity, what in rule_summaries(port)]


def operator(rule: QualityRule) -> tuple[str, Any]:
    """The rule's one operator and its value; null, duplicate and invalid values default to must_be 0."""
    given = rule.operators
    return next(iter(given.items())) if given else ("must_be", 0.0)


def holds(rule: QualityRule, observed: float) -> bool:
    op, value = operator(rule)
    if op in ("must_be_between", "must_not_be_between"):
        inside = value[0] <= observed <= value[1]
        return inside if op == "must_be_between" else not inside
    checks = {
        "must_be": observed == value,
        "must_not_be": observed != value,
        "must_be_greater_than": observed > value,
        "must_be_greater_or_equal_to": observed >= value,
        "must_be_less_than": observed < value,
        "must_be_less_or_equal_to": observed <= value,
    }
    return checks[op]


def threshold_text(rule: QualityRule) -> str:
    """'> 0', 'between 100 and 1000', 'not between 1 and 2'"""
    op, value = operator(rule)
    if op == "must_be_between":
        return f"between {number(value[0])} and {number(value[1])}"
    if op == "must_not_be_between":
        return f"not between {number(value[0])} and {number(value[1])}"
    return f"{_SYMBOLS[op]} {number(value)}"


def number(value: Optional[float]) -> str:
    """1.0 -> '1', 2.5 -> '2.5', 33.33333 -> '33.33'"""
    if value is None:
        return "none"
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def measured_as(rule: QualityRule) -> str:
    """What the rule measures, in words: 'row_count', "null_values of 'city' (percent)"."""
    what = rule.metric.value if rule.metric else f"query '{rule.rule_name}'"
    columns = [rule.column] if rule.column else list(rule.columns)
    if columns:
        what += " of " + ", ".join(f"'{c}'" for c in columns)
    if rule.metric is Metric.invalid_values:
        what += " (accepted: " + ", ".join(str(v) for v in rule.valid_values) + ")"
    return what + (" (percent of the date's rows)" if rule.unit.value == "percent" else "")


def result(
    spec: DataProductSpec, port: OutputPort, rule: QualityRule, observed: Optional[float], error: str = ""
) -> QualityCheckResult:
    """The rule's verdict on the observed value (an error: the rule could not be measured, so it fails)."""
    port_id = naming.port_id(spec.id, port.name)
    passed = observed is not None and not error and holds(rule, observed)
    expected = threshold_text(rule)
    found = f"could not be measured ({error})" if error or observed is None else f"is {number(observed)}"
    verdict = "holds" if passed else f"fails (severity {rule.severity.value})"
    message = f"{port_id}: quality rule '{rule.rule_name}' {verdict}: {measured_as(rule)} {found}, expected {expected}"
    return QualityCheckResult(
        unique_id=f"quality.{port_id}.{rule.rule_name}",
        port_id=port_id,
        table=port.table_name,
        rule=rule.rule_name,
        severity=rule.severity.value,
        observed=observed,
        threshold=expected,
        passed=passed,
        message=message,
        definition=rule.model_dump(mode="json", exclude_defaults=True),
    )


class QualityFailed(RuntimeError):
    """Raised with the error-severity failures' messages; the build stops before publishing anything."""

    def __init__(self, messages: list[str]):
        super().__init__("quality rules failed: " + "; ".join(messages))


def column_errors(path: str, spec: DataProductSpec) -> Iterator[SpecError]:
    """Every column a port's rule names is a contract column of that port."""
    for i, port in enumerate(spec.output_ports):
        contract = [c.name for c in port.contract.columns]
        for j, rule in enumerate(port.quality):
            named = [("column", rule.column)] if rule.column else []
            named += [(f"columns[{k}]", c) for k, c in enumerate(rule.columns)]
            for place, column in named:
                if column not in contract:
                    yield SpecError(
                        path,
                        f"output_ports[{i}].quality[{j}].{place}",
                        f"quality rule '{rule.rule_name}' names column '{column}', which is not a contract column of output port '{port.name}'",
                        f"use one of: {', '.join(contract)}",
                    )
