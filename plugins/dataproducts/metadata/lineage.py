"""Lineage of an output dataset: the declared inputs its dbt model reads, and column-level lineage.

Column-level lineage comes from DataHub's SQL parser (sqlglot_lineage, schema-aware with the
input contracts and the sources' documented columns) run over the SQL dbt itself compiled for the
model, never over a re-rendering of its Jinja: so models that call macros (dbt.datediff, ...) or
read ephemeral models (compiled in as CTEs) get column lineage like any other. Where that SQL
comes from, in this order:

1. the run's own compilation: the build task's target path (``<target>/compiled/<project>/<file>``),
   read by the run-time edge into the run record;
2. for a catalogue sync, which has no run: the SQL the product's latest run compiled (kept next
   to the outbox, see compiled_sql.py), else ``compiled_code`` in the project's manifest when a
   team compiles it with ``dbt compile`` (``dbt parse``, what ``dataproducts compile`` runs, does
   not compile SQL): before a product's first run, its datasets get table-level lineage only.

A column the parser cannot tie to a declared input (literals, count(*)) gets no column lineage
rather than a guess.
"""

from __future__ import annotations

from collections.abc import Mapping

from datahub.emitter import mce_builder
from datahub.metadata import schema_classes as models

from dataproducts.metadata import urns
from dataproducts.metadata.aspects import stamp
from dataproducts.metadata.datasets import InputDataset, OutputDataset, ProductDatasets, upstream_inputs


def upstream_lineage(
    datasets: ProductDatasets, output: OutputDataset, compiled_sql: Mapping[str, str]
) -> models.UpstreamLineageClass:
    """compiled_sql: model unique id -> the SQL dbt compiled for it (see the module docstring)."""
    inputs = upstream_inputs(datasets, output)
    return models.UpstreamLineageClass(
        upstreams=[
            models.UpstreamClass(dataset=i.urn, type=models.DatasetLineageTypeClass.TRANSFORMED, auditStamp=stamp())
            for i in inputs
        ],
        fineGrainedLineages=fine_grained_lineage(datasets, output, inputs, compiled_sql) or None,
    )


def fine_grained_lineage(
    datasets: ProductDatasets, output: OutputDataset, upstream_inputs: list[InputDataset], compiled_sql: Mapping[str, str]
) -> list[models.FineGrainedLineageClass]:
    """Column lineage from DataHub's SQL parser, kept only where it ties a contract column to inputs."""
    from datahub.sql_parsing.schema_resolver import SchemaResolver
    from datahub.sql_parsing.sqlglot_lineage import sqlglot_lineage

    sql = compiled_sql.get(output.model.unique_id) or output.model.compiled_code
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
