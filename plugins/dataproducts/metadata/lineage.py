"""Lineage of an output dataset: the declared inputs its dbt model reads, and column-level lineage.

Column-level lineage: DataHub's SQL parser (sqlglot_lineage, schema-aware with the input contracts)
run over the model's SQL. `dbt parse` does not compile, so when the manifest has no compiled code
the raw SQL is rendered here only for the Jinja whose meaning the manifest fully fixes:
{{ source(...) }} and {{ ref(...) }} to a non-ephemeral model (-> the relation dbt resolved),
{{ var(...) }} (-> a placeholder literal; a value never changes lineage) and {{ config(...) }}
(-> nothing). A model with any other Jinja (macros such as dbt.datediff, ephemeral refs, control
flow) gets no column-level lineage rather than a guess; neither does a column the parser cannot tie
to a declared input (literals, count(*)).
"""

from __future__ import annotations

import re
from typing import Optional

from datahub.emitter import mce_builder
from datahub.metadata import schema_classes as models

from dataproducts.core.manifest import Manifest, Model
from dataproducts.metadata import urns
from dataproducts.metadata.aspects import stamp
from dataproducts.metadata.datasets import InputDataset, OutputDataset, ProductDatasets, upstream_inputs


def upstream_lineage(datasets: ProductDatasets, output: OutputDataset) -> models.UpstreamLineageClass:
    inputs = upstream_inputs(datasets, output)
    return models.UpstreamLineageClass(
        upstreams=[
            models.UpstreamClass(dataset=i.urn, type=models.DatasetLineageTypeClass.TRANSFORMED, auditStamp=stamp())
            for i in inputs
        ],
        fineGrainedLineages=fine_grained_lineage(datasets, output, inputs) or None,
    )


_JINJA = re.compile(r"\{\{|\{%|\{#")
_Q = r"""['"]([^'"]+)['"]"""
_SOURCE = re.compile(r"\{\{\s*source\(\s*" + _Q + r"\s*,\s*" + _Q + r"\s*\)\s*\}\}")
_REF = re.compile(r"\{\{\s*ref\(\s*" + _Q + r"\s*\)\s*\}\}")
_VAR = re.compile(r"\{\{\s*var\(\s*" + _Q + r"\s*(?:,[^}]*)?\)\s*\}\}")
_CONFIG = re.compile(r"\{\{\s*config\([^}]*\)\s*\}\}")


def _quoted(database: Optional[str], schema: str, name: str) -> str:
    return ".".join(f'"{p}"' for p in (database, schema, name) if p)


def renderable_sql(manifest: Manifest, model: Model) -> Optional[str]:
    """The model's SQL with only manifest-determined Jinja rendered, or None when more is needed."""
    code = model.compiled_code or ""
    if not _JINJA.search(code):
        return code or None
    raw = manifest.raw
    node = raw.get("nodes", {}).get(model.unique_id, {})
    if node.get("compiled_code"):
        return None  # compiled code with Jinja left in it: not something to second-guess
    sources = {(s.get("source_name"), s.get("name")): s for s in raw.get("sources", {}).values()}
    models_by_name = {
        n.get("name"): n for n in raw.get("nodes", {}).values() if n.get("resource_type") in ("model", "seed", "snapshot")
    }
    unresolved = False

    def source(match: re.Match) -> str:
        nonlocal unresolved
        src = sources.get((match.group(1), match.group(2)))
        if src is None:
            unresolved = True
            return match.group(0)
        return _quoted(src.get("database"), src["schema"], src.get("identifier") or src["name"])

    def ref(match: re.Match) -> str:
        nonlocal unresolved
        target = models_by_name.get(match.group(1))
        if target is None or (target.get("config") or {}).get("materialized") == "ephemeral":
            unresolved = True  # dbt would inline an ephemeral model as a CTE; not reproduced here
            return match.group(0)
        return _quoted(target.get("database"), target["schema"], target.get("alias") or target["name"])

    code = _SOURCE.sub(source, code)
    code = _REF.sub(ref, code)
    code = _VAR.sub(lambda m: f"<{m.group(1)}>", code)  # only ever valid inside a string literal
    code = _CONFIG.sub("", code)
    if unresolved or _JINJA.search(code):
        return None
    return code


def fine_grained_lineage(
    datasets: ProductDatasets, output: OutputDataset, upstream_inputs: list[InputDataset]
) -> list[models.FineGrainedLineageClass]:
    """Column lineage from DataHub's SQL parser, kept only where it ties a contract column to inputs."""
    from datahub.sql_parsing.schema_resolver import SchemaResolver
    from datahub.sql_parsing.sqlglot_lineage import sqlglot_lineage

    sql = renderable_sql(datasets.manifest, output.model)
    if not sql or not upstream_inputs:
        return []
    platform = datasets.manifest.adapter_type
    resolver = SchemaResolver(platform=platform, env=urns.DEFAULT_ENV)
    try:
        for item in upstream_inputs:
            documented = {c.name: c.type.value for c in item.columns}
            if not documented and item.source_unique_id:
                source = datasets.manifest.raw.get("sources", {}).get(item.source_unique_id, {})
                documented = {
                    name: (col.get("data_type") or "unknown") for name, col in sorted((source.get("columns") or {}).items())
                }
            if documented:
                resolver.add_raw_schema_info(item.urn, documented)
        result = sqlglot_lineage(
            sql, resolver, default_db=output.relation.database or None, default_schema=output.relation.schema
        )
    finally:
        resolver.close()
    if result.debug_info.error or not result.column_lineage:
        return []
    allowed = {i.urn for i in upstream_inputs}
    contract = {c.name for c in output.port.contract.columns}
    lineage = []
    for info in result.column_lineage:
        column = info.downstream.column
        upstreams = sorted(
            {
                mce_builder.make_schema_field_urn(str(u.table), u.column)
                for u in info.upstreams
                if u.column and str(u.table) in allowed
            }
        )
        if column not in contract or not upstreams:
            continue
        logic = info.logic
        lineage.append(
            models.FineGrainedLineageClass(
                upstreamType=models.FineGrainedLineageUpstreamTypeClass.FIELD_SET,
                upstreams=upstreams,
                downstreamType=models.FineGrainedLineageDownstreamTypeClass.FIELD,
                downstreams=[mce_builder.make_schema_field_urn(output.urn, column)],
                confidenceScore=round(result.debug_info.confidence, 2),
                transformOperation=(
                    (f"COPY: {logic.column_logic}" if logic.is_direct_copy else f"SQL: {logic.column_logic}") if logic else None
                ),
            )
        )
    return sorted(lineage, key=lambda f: f.downstreams[0])
