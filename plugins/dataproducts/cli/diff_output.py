"""`dataproducts diff`'s report in three forms: text for people, JSON for machines, and GitHub
Actions workflow commands (`::error file=...,line=...::`), which annotate the spec lines in a pull request."""

from __future__ import annotations

import json

from dataproducts.core.diff_verdict import LEVELS, Finding, ProductDiff, Report
from dataproducts.core.errors import SpecError

ERROR_TITLE = "Breaking change without a major version bump"


def counts(report: Report) -> dict[str, int]:
    levels = {level.value: sum(1 for p in report.products for f in p.findings if f.change.level is level) for level in LEVELS}
    return {**levels, "errors": len(report.errors)}


def summary(report: Report) -> str:
    n = counts(report)
    return (
        f"{len(report.products)} product{'' if len(report.products) == 1 else 's'} changed since {report.base[:12]}: {n['breaking']} breaking, {n['minor']} minor, "
        f"{n['patch']} patch changes; {n['errors']} breaking changes without a major version bump"
    )


def text(report: Report) -> list[str]:
    lines = []
    for product in report.products:
        versions = f"{product.old_version or '-'} -> {product.new_version or '-'}"
        lines.append(f"{product.product_id}  {versions}  {product.level.value if product.level else ''}")
        lines += [line for finding in product.findings for line in _finding_lines(finding)]
    return [*lines, *report.not_compared, summary(report)]


def _finding_lines(finding: Finding) -> list[str]:
    change = finding.change
    lines = [f"  {change.level.value:9} {change.field or '(file)'}: {change.message}"]
    if finding.accepted:
        lines.append(f"            accepted: {finding.accepted}")
    lines += [f"            breaks {c.described(change.columns)}" for c in finding.consumers]
    if change.migration:
        lines.append(f"            migration: {change.migration}")
    return lines


def as_json(report: Report) -> str:
    document = {
        "base": report.base,
        "products": [_product_json(p) for p in report.products],
        "errors": [_error_json(e) for e in report.errors],
        "not_compared": report.not_compared,
        "summary": counts(report),
    }
    return json.dumps(document, indent=2)


def _product_json(product: ProductDiff) -> dict:
    return {
        "id": product.product_id,
        "file": product.path,
        "old_version": product.old_version,
        "new_version": product.new_version,
        "level": product.level.value if product.level else None,
        "changes": [
            {
                "level": f.change.level.value,
                "field": f.change.field,
                "message": f.change.message,
                "port": f.change.port,
                "columns": list(f.change.columns),
                "accepted": f.accepted,
                "migration": f.change.migration,
                "consumers": [
                    {
                        "product": c.product_id,
                        "input_port": c.input_port,
                        "port": c.port,
                        "columns_used": sorted(c.columns_used) if c.columns_used is not None else None,
                    }
                    for c in f.consumers
                ],
            }
            for f in product.findings
        ],
    }


def _error_json(error: SpecError) -> dict:
    return {
        "file": error.file,
        "line": error.line,
        "column": error.column,
        "field": error.field,
        "problem": error.problem,
        "fix": error.fix,
        "message": str(error),
    }


def github(report: Report, prefix: str = "") -> list[str]:
    """One `::error` workflow command per error, then the text report (plain log lines); prefix: where
    the project is inside the repository, since annotations name files from the repository's top."""
    return [*(_annotation(e, prefix) for e in report.errors), *text(report)]


def _annotation(error: SpecError, prefix: str) -> str:
    place = {"file": prefix + error.file, "line": error.line, "col": error.column, "title": ERROR_TITLE}
    properties = ",".join(f"{k}={_escape_property(str(v))}" for k, v in place.items() if v is not None)
    message = f"{error.field}: {error.problem}. Fix: {error.fix}" if error.field else f"{error.problem}. Fix: {error.fix}"
    return f"::error {properties}::{_escape_data(message)}"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")
