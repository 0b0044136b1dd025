"""Markdown shown in the Airflow UI (the DAG's docs), rendered from the spec."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from dataproducts.airflow.markdown import cell as _cell
from dataproducts.airflow.markdown import text as _text
from dataproducts.core import naming, quality
from dataproducts.core.spec import DataProductSpec, Deprecation


def product_doc_md(spec: DataProductSpec, spec_path: str, consumers: list[str], warnings: Sequence[str] = ()) -> str:
    lines = [
        f"# {_text(spec.name)} (`{spec.id}` v{_text(spec.version)}, {spec.status.value})",
        "",
        _text(spec.description),
        "",
        *_deprecation_md("This product", spec.deprecation),
        *(["## Warnings", *[f"- {_cell(w)}" for w in warnings], ""] if warnings else []),
        f"**Owner:** {_text(spec.owner.team)} ({_text(spec.owner.contact)}) · **Spec:** {_text(spec_path)} · "
        f"**Schedule:** {_text(spec.schedule_summary)}",
        "",
        "## Input ports",
        *([_input_line(p) for p in spec.input_ports] or ["(none)"]),
        "",
        "## Output ports",
    ]
    for port in spec.output_ports:
        freshness = f", fresh within {port.freshness.max_age_hours:g} h" if port.freshness else ""
        lines += [
            f"### `{naming.port_id(spec.id, port.name)}` -> table `{naming.table_ref(spec.domain, port.table_name)}`{freshness}",
            _text(port.description),
            "",
            *_deprecation_md("This port", port.deprecation),
            "| column | type | required | unique | description |",
            "|---|---|---|---|---|",
            *[
                f"| {_text(c.name)} | {c.type.value} | {_yes(c.required)} | {_yes(c.unique)} | {_cell(c.description)} |"
                for c in port.contract.columns
            ],
            "",
            "Quality rules (on each business date's rows, before publishing; error blocks, warn publishes with a warning):",
            "",
            *[f"- **{_text(name)}** ({severity}): {_cell(what)}" for name, severity, what in quality.rule_summaries(port)],
            "",
        ]
    lines += ["## Consumers", *([f"- `{c}`" for c in consumers] or ["(none yet)"]), "", *runbook_md(spec, spec_path)]
    return "\n".join(lines)


def runbook_md(spec: DataProductSpec, spec_path: str) -> list[str]:
    """What the on-call engineer needs at 3 a.m., in the DAG's own docs."""
    tables = ", ".join(f"`{naming.table_ref(spec.domain, p.table_name)}`" for p in spec.output_ports)
    dbt = spec.transform.dbt
    return [
        "## Runbook",
        f"- **What it does:** `dbt build` of `{' '.join(dbt.select)}` in `dbt/{dbt.project}/` for one business date "
        f"(rewriting exactly that date's rows), then publishes {', '.join(f'`{naming.port_id(spec.id, p.name)}`' for p in spec.output_ports)}, "
        "which starts its consumers.",
        f"- **Owner:** {spec.owner.team} ({spec.owner.contact}); told of every failure (see the task log's notifier line).",
        "- **Rerun one date here:** Trigger with *Business date* set (the consumers are not rerun).",
        f"- **Rerun a date and everything downstream:** `dataproducts rerun {spec.id} --business-date YYYY-MM-DD` "
        f"(`--dry-run` prints the plan; `dataproducts downstream {spec.id}` lists what it touches).",
        f"- **Build it outside Airflow:** `dataproducts build {spec.id} --business-date YYYY-MM-DD`.",
        f"- **Data:** {tables} in the warehouse of the `dbt_target` setting (a `business_date` column per row).",
        f"- **Metadata:** DataHub data product `urn:li:dataProduct:{spec.id}` (its datasets, lineage, runs and incidents); "
        f"`dataproducts show {spec.id}` in a checkout; the spec `{spec_path}`.",
    ]


def _deprecation_md(what: str, deprecation: Optional[Deprecation]) -> list[str]:
    if deprecation is None:
        return []
    instead = f" Read `{_text(deprecation.replacement)}` instead." if deprecation.replacement else ""
    note = f" {_cell(deprecation.note)}" if deprecation.note else ""
    return [f"**Deprecated:** {what} may be read until {deprecation.sunset.isoformat()}.{instead}{note}", ""]


def _input_line(port) -> str:
    if port.is_product:
        return f"- `{port.name}`: output port `{naming.port_id(port.product, port.port)}`"
    system = f" ({_text(port.source.system)})" if port.source.system else ""
    return f"- `{port.name}`: source table `{port.source.schema_}.{port.source.table}`{system}"


def _yes(flag: bool) -> str:
    return "yes" if flag else ""
