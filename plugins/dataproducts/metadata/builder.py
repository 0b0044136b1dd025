"""Pure builders of DataHub metadata for data products.

Everything here is a function of the mesh (specs + dbt manifests) and, for runs, a RunRecord: no
network, no Airflow import, no wall clock. Catalog metadata carries time 0 wherever an AuditStamp is
required; run metadata carries the record's own times. Every list comes back de-duplicated and
sorted, so the same input gives byte-identical output. Only plain UPSERT MetadataChangeProposalWrappers
are produced (DataHub Lite accepts no patches).

What the dbt manifest makes knowable, and so what is emitted:
- Table-level lineage of an output port: the product's declared input datasets that its dbt model
  reads, following the model's depends_on through the product's own (ephemeral or intermediate)
  models. Intermediate tables are collapsed: lineage is drawn at the data product boundary.
- Column-level lineage: DataHub's SQL parser (sqlglot_lineage, schema-aware with the input contracts)
  run over the model's SQL. `dbt parse` does not compile, so when the manifest has no compiled code
  the raw SQL is rendered here only for the Jinja whose meaning the manifest fully fixes:
  {{ source(...) }} and {{ ref(...) }} to a non-ephemeral model (-> the relation dbt resolved),
  {{ var(...) }} (-> a placeholder literal; a value never changes lineage) and {{ config(...) }}
  (-> nothing). A model with any other Jinja (macros such as dbt.datediff, ephemeral refs, control
  flow) gets no column-level lineage rather than a guess; neither does a column the parser cannot tie
  to a declared input (literals, count(*)).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Optional

from datahub.api.entities.datajob import DataFlow, DataJob
from datahub.api.entities.dataprocess.dataprocess_instance import DataProcessInstance, InstanceRunResult
from datahub.api.entities.dataproduct.dataproduct import DataProduct, Ownership
from datahub.emitter import mce_builder
from datahub.emitter.mcp import MetadataChangeProposalWrapper as MCPW
from datahub.ingestion.source.common.subtypes import DatasetSubTypes
from datahub.metadata import schema_classes as models
from datahub.utilities.urns.data_flow_urn import DataFlowUrn
from datahub.utilities.urns.dataset_urn import DatasetUrn

from dataproducts.core import naming
from dataproducts.core.manifest import Manifest, Model, Relation, load_manifest
from dataproducts.core.mesh import Mesh
from dataproducts.core.spec import Column, DataProductSpec, LogicalType, OutputPort
from dataproducts.metadata import urns
from dataproducts.metadata.run_record import RunRecord, TestOutcome

log = logging.getLogger(__name__)

ACTOR = "urn:li:corpuser:datahub"
CATALOG_TIME = 0  # catalog metadata has no meaningful time of its own; 0 keeps it deterministic

_FIELD_TYPES = {
    LogicalType.string: models.StringTypeClass,
    LogicalType.integer: models.NumberTypeClass,
    LogicalType.number: models.NumberTypeClass,
    LogicalType.boolean: models.BooleanTypeClass,
    LogicalType.date: models.DateTypeClass,
    LogicalType.timestamp: models.TimeTypeClass,
}

# dbt generic test -> (scope, operator, aggregation), as DataHub's dbt source maps them (dbt_tests.py).
_TEST_ASSERTIONS = {
    "not_null": (
        models.DatasetAssertionScopeClass.DATASET_COLUMN,
        models.AssertionStdOperatorClass.NOT_NULL,
        models.AssertionStdAggregationClass.IDENTITY,
    ),
    "unique": (
        models.DatasetAssertionScopeClass.DATASET_COLUMN,
        models.AssertionStdOperatorClass.EQUAL_TO,
        models.AssertionStdAggregationClass.UNIQUE_PROPOTION,
    ),
    "accepted_values": (
        models.DatasetAssertionScopeClass.DATASET_COLUMN,
        models.AssertionStdOperatorClass.IN,
        models.AssertionStdAggregationClass.IDENTITY,
    ),
    "relationships": (
        models.DatasetAssertionScopeClass.DATASET_COLUMN,
        models.AssertionStdOperatorClass._NATIVE_,
        models.AssertionStdAggregationClass.IDENTITY,
    ),
}


def _stamp(time_ms: int = CATALOG_TIME) -> models.AuditStampClass:
    return models.AuditStampClass(time=time_ms, actor=ACTOR)


# --------------------------------------------------------------------------------------------
# Resolving a product's datasets from its spec and the dbt manifests
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputDataset:
    port: OutputPort
    urn: str
    relation: Relation
    model: Model


@dataclass(frozen=True)
class InputDataset:
    port_name: str
    urn: str
    relation: Relation
    source_unique_id: Optional[str]
    columns: tuple[Column, ...] = ()  # the producer's contract, when another product provides it


@dataclass
class ProductDatasets:
    spec: DataProductSpec
    manifest: Manifest
    outputs: list[OutputDataset] = field(default_factory=list)
    inputs: list[InputDataset] = field(default_factory=list)


def _manifest(mesh: Mesh, spec: DataProductSpec) -> Manifest:
    path = mesh.project.manifest_path(spec.transform.dbt.project)
    manifest = load_manifest(path)
    if manifest is None:
        raise ValueError(f"{spec.id}: no dbt manifest at {path}; run `dataproducts compile` first")
    return manifest


def _output_relation(manifest: Manifest, spec: DataProductSpec, port: OutputPort) -> tuple[Relation, Model]:
    model = manifest.model_for_table(port.table_name)
    if model is None:
        raise ValueError(f"{spec.id}: output port '{port.name}': dbt project has no model for table '{port.table_name}'")
    return model.relation, model


def product_datasets(mesh: Mesh, product_id: str) -> ProductDatasets:
    """The product's output and input datasets, resolved to warehouse relations and URNs."""
    spec = mesh.products.get(product_id)
    if spec is None:
        raise KeyError(f"'{product_id}' is not a valid product of the mesh")
    manifest = _manifest(mesh, spec)
    result = ProductDatasets(spec, manifest)
    for port in spec.output_ports:
        relation, model = _output_relation(manifest, spec, port)
        result.outputs.append(OutputDataset(port, urns.dataset_urn(manifest.adapter_type, relation), relation, model))
    for input_port in spec.input_ports:
        columns: tuple[Column, ...] = ()
        if input_port.is_product:
            product, port_name = input_port.upstream
            producer = mesh.products.get(product)
            producer_port = next((p for p in producer.output_ports if p.name == port_name), None) if producer else None
            if producer is None or producer_port is None:
                # the producer's spec is broken: its table is unknown until it is fixed, and one
                # broken spec must not stop its consumers' metadata (the edge returns on the next sync)
                log.warning("%s: lineage from %s.%s left out while that spec is broken", spec.id, product, port_name)
                continue
            produced, _ = _output_relation(_manifest(mesh, producer), producer, producer_port)
            schema, table = produced.schema, produced.name
            columns = tuple(producer_port.contract.columns)
        else:
            schema, table = input_port.source_table.schema_, input_port.source_table.table
        # The consumer's own dbt source is what its SQL reads: resolve through the consumer's manifest.
        source = manifest.source_relation(schema, table)
        if source is None and not input_port.is_product:
            raise ValueError(f"{spec.id}: input '{input_port.name}': no dbt source for {schema}.{table} in the manifest")
        relation = source or produced
        result.inputs.append(
            InputDataset(
                input_port.name,
                urns.dataset_urn(manifest.adapter_type, relation),
                relation,
                manifest.source_unique_id(schema, table),
                columns,
            )
        )
    return result


def _upstream_inputs(datasets: ProductDatasets, output: OutputDataset) -> list[InputDataset]:
    """Declared inputs the output's model reads, following depends_on through the project's models."""
    by_source = {i.source_unique_id: i for i in datasets.inputs if i.source_unique_id}
    found: dict[str, InputDataset] = {}
    seen: set[str] = set()
    frontier = [output.model.unique_id]
    while frontier:
        uid = frontier.pop()
        if uid in seen:
            continue
        seen.add(uid)
        if uid in by_source:
            found[by_source[uid].urn] = by_source[uid]
            continue
        model = datasets.manifest.model(uid)
        if model is not None:
            frontier.extend(model.depends_on)
    return [found[u] for u in sorted(found)]


# --------------------------------------------------------------------------------------------
# Column-level lineage
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Catalog metadata
# --------------------------------------------------------------------------------------------


def dag_url(airflow_base_url: str, dag_id: str) -> str:
    return f"{airflow_base_url.rstrip('/')}/dags/{dag_id}"


def _ownership(team: str) -> models.OwnershipClass:
    return models.OwnershipClass(
        owners=[models.OwnerClass(owner=urns.owner_urn(team), type=models.OwnershipTypeClass.TECHNICAL_OWNER)],
        lastModified=_stamp(),
    )


def _tags(tags: Iterable[str]) -> models.GlobalTagsClass:
    return models.GlobalTagsClass(tags=[models.TagAssociationClass(tag=urns.tag_urn(t)) for t in sorted(set(tags))])


def _terms(terms: Iterable[str]) -> list[models.GlossaryTermsClass]:
    """The spec's glossary terms as one aspect (none when the spec has no terms)."""
    if not terms:
        return []
    associations = [models.GlossaryTermAssociationClass(urn=mce_builder.make_term_urn(t)) for t in sorted(set(terms))]
    return [models.GlossaryTermsClass(terms=associations, auditStamp=_stamp())]


def _schema_field(column: Column, dbt_columns: dict[str, dict], warehouse_types: dict[str, str]) -> models.SchemaFieldClass:
    """The contract's column; its native type as the warehouse reports it (after a run), else as
    dbt documents it, else the contract's logical type."""
    dbt_column = dbt_columns.get(column.name) or {}
    return models.SchemaFieldClass(
        fieldPath=column.name,
        type=models.SchemaFieldDataTypeClass(type=_FIELD_TYPES[column.type]()),
        nativeDataType=warehouse_types.get(column.name.lower()) or dbt_column.get("data_type") or column.type.value,
        nullable=not column.required,
        description=column.description or dbt_column.get("description") or None,
    )


def _dataset_mcps(
    spec: DataProductSpec,
    spec_path: str,
    datasets: ProductDatasets,
    output: OutputDataset,
    airflow_base_url: str,
    warehouse_types: dict[str, str],
) -> list[MCPW]:
    port, model = output.port, output.model
    description = "\n\n".join(d.strip() for d in (port.description, model.description) if d and d.strip()) or None
    contract = [{"name": c.name, "type": c.type.value, "required": c.required, "unique": c.unique} for c in port.contract.columns]
    properties = {
        "data_product": spec.id,
        "output_port": port.name,
        "port_id": naming.port_id(spec.id, port.name),
        "asset_uri": naming.asset_uri(spec.id, port.name),
        "spec_file": spec_path,
        "spec_version": spec.version,
        "contract_columns": json.dumps(contract, sort_keys=True),
        "contract_required": ",".join(c.name for c in port.contract.columns if c.required),
        "contract_unique": ",".join(c.name for c in port.contract.columns if c.unique),
        "dbt_unique_id": model.unique_id,
    }
    if port.freshness:
        properties["freshness_max_age_hours"] = f"{port.freshness.max_age_hours:g}"
    platform = datasets.manifest.adapter_type
    upstream_inputs = _upstream_inputs(datasets, output)
    aspects: list = [
        models.StatusClass(removed=False),
        models.DatasetPropertiesClass(
            name=output.relation.name,
            qualifiedName=urns.dataset_name(output.relation),
            description=description,
            customProperties=properties,
            externalUrl=dag_url(airflow_base_url, naming.dag_id(spec.id)),
        ),
        models.SchemaMetadataClass(
            schemaName=urns.dataset_name(output.relation),
            platform=mce_builder.make_data_platform_urn(platform),
            version=0,
            hash="",
            platformSchema=models.OtherSchemaClass(rawSchema=""),
            fields=[_schema_field(c, model.columns, warehouse_types) for c in port.contract.columns],
        ),
        _ownership(spec.owner.team),
        models.DomainsClass(domains=[urns.domain_urn(spec.domain)]),
        _tags(spec.tags),
        *_terms(spec.terms),
        models.SubTypesClass(typeNames=[DatasetSubTypes.TABLE]),
        models.UpstreamLineageClass(
            upstreams=[
                models.UpstreamClass(dataset=i.urn, type=models.DatasetLineageTypeClass.TRANSFORMED, auditStamp=_stamp())
                for i in upstream_inputs
            ],
            fineGrainedLineages=fine_grained_lineage(datasets, output, upstream_inputs) or None,
        ),
    ]
    return [MCPW(entityUrn=output.urn, aspect=a) for a in aspects]


def catalog_mcps(
    mesh: Mesh,
    product_id: str,
    git_revision: Optional[str],
    airflow_base_url: str,
    warehouse_types: Optional[dict[str, dict[str, str]]] = None,
) -> list[MCPW]:
    """Domain, data product, output datasets (schema, lineage, ownership) and pipeline of one product.
    warehouse_types (output table -> column -> type, known after a run) refine the schemas."""
    datasets = product_datasets(mesh, product_id)
    spec = datasets.spec
    spec_path = mesh.entries[product_id].path
    dag_id = naming.dag_id(spec.id)
    url = dag_url(airflow_base_url, dag_id)
    output_urns = sorted(o.urn for o in datasets.outputs)
    input_urns = sorted({i.urn for i in datasets.inputs})
    domain = urns.domain_urn(spec.domain)
    mcps: list[MCPW] = [
        MCPW(
            entityUrn=domain,
            aspect=models.DomainPropertiesClass(name=spec.domain, description=f"Data products of the {spec.domain} domain."),
        )
    ]

    properties = {
        "product_id": spec.id,
        "spec_version": spec.version,
        "spec_file": spec_path,
        "status": spec.status.value,
        "owner_contact": spec.owner.contact,
        "dag_id": dag_id,
        "dbt_project": spec.transform.dbt.project,
        "dbt_select": " ".join(spec.transform.dbt.select),
    }
    if git_revision:
        properties["git_revision"] = git_revision
    product = DataProduct(
        id=spec.id,
        domain=domain,
        display_name=spec.name,
        description=spec.description.strip(),
        assets=output_urns,
        output_ports=output_urns,
        owners=[Ownership(id=urns.owner_urn(spec.owner.team), type=models.OwnershipTypeClass.TECHNICAL_OWNER)],
        tags=sorted(set(spec.tags)) or None,
        properties=properties,
        external_url=url,
    )
    for mcp in product.generate_mcp(upsert=False):
        if isinstance(mcp, MCPW) and isinstance(mcp.aspect, models.DataProductPropertiesClass):
            for association in mcp.aspect.assets or []:
                association.created = _stamp()  # the SDK stamps the wall clock; catalog time is fixed
        mcps.append(mcp)
    mcps.extend(MCPW(entityUrn=product.urn, aspect=aspect) for aspect in _terms(spec.terms))

    for output in datasets.outputs:
        types = (warehouse_types or {}).get(output.port.table_name, {})
        mcps.extend(_dataset_mcps(spec, spec_path, datasets, output, airflow_base_url, types))

    mcps.extend(_pipeline_mcps(spec, datasets, input_urns, output_urns, url))
    return _ordered(mcps)


def _pipeline_mcps(
    spec: DataProductSpec, datasets: ProductDatasets, input_urns: list[str], output_urns: list[str], url: str
) -> list[MCPW]:
    dag_id = naming.dag_id(spec.id)
    flow = DataFlow(
        orchestrator=urns.AIRFLOW_ORCHESTRATOR,
        id=dag_id,
        env=urns.AIRFLOW_CLUSTER,
        name=dag_id,
        description=spec.description.strip(),
        url=url,
        properties={
            "data_product": spec.id,
            "spec_version": spec.version,
            "schedule": spec.schedule_summary,
            "timezone": spec.timezone,
        },
        tags=set(spec.tags),
        group_owners={spec.owner.team},
    )
    select = " ".join(spec.transform.dbt.select)
    build = DataJob(
        id=urns.BUILD_TASK,
        flow_urn=flow.urn,
        name=urns.BUILD_TASK,
        description=f"dbt build --select {select} (dbt project {spec.transform.dbt.project})",
        properties={"dbt_project": spec.transform.dbt.project, "dbt_select": select},
        url=f"{url}/tasks/{urns.BUILD_TASK}",
        tags=set(spec.tags),
        group_owners={spec.owner.team},
        inlets=[DatasetUrn.from_string(u) for u in input_urns],
        outlets=[DatasetUrn.from_string(u) for u in output_urns],
    )
    publish = DataJob(
        id=urns.PUBLISH_TASK,
        flow_urn=flow.urn,
        name=urns.PUBLISH_TASK,
        description="Checks the output contracts and publishes the output ports' Airflow Assets.",
        properties={"assets": ",".join(naming.asset_uri(spec.id, p.name) for p in spec.output_ports)},
        url=f"{url}/tasks/{urns.PUBLISH_TASK}",
        tags=set(spec.tags),
        group_owners={spec.owner.team},
        upstream_urns=[build.urn],
    )
    mcps = list(flow.generate_mcp())
    mcps += list(build.generate_mcp(materialize_iolets=False))
    mcps += list(publish.generate_mcp(materialize_iolets=False))
    return mcps


def _run_type(run_id: str) -> str:
    return (
        models.DataProcessTypeClass.BATCH_AD_HOC if run_id.startswith("manual__") else models.DataProcessTypeClass.BATCH_SCHEDULED
    )


def run_mcps(mesh: Mesh, run: RunRecord, resolve_incident: bool = True) -> list[MCPW]:
    """A product run as DataHub sees it: process instance, test assertions, operations, incident.

    resolve_incident=False lets a caller that knows no incident was ever opened skip the RESOLVED
    IncidentInfo a success otherwise emits (the builder itself keeps no state).
    """
    spec = mesh.products.get(run.product_id)
    try:
        datasets = product_datasets(mesh, run.product_id) if spec else None
    except ValueError:
        datasets = None  # no manifest: the run still gets its instance and incident
    output_urns = sorted(o.urn for o in datasets.outputs) if datasets else []
    input_urns = sorted({i.urn for i in datasets.inputs}) if datasets else []
    mcps: list[MCPW] = []

    build = DataJob(id=urns.BUILD_TASK, flow_urn=DataFlowUrn.from_string(urns.data_flow_urn(run.dag_id)))
    dpi = DataProcessInstance.from_datajob(build, id=urns.data_process_instance_id(run.dag_id, run.run_id, run.try_number))
    dpi.inlets = [DatasetUrn.from_string(u) for u in input_urns]
    dpi.outlets = [DatasetUrn.from_string(u) for u in output_urns]
    dpi.type = _run_type(run.run_id)
    dpi.url = f"{run.airflow_base_url.rstrip('/')}/dags/{run.dag_id}/runs/{run.run_id}"
    properties = {
        "data_product": run.product_id,
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "try_number": str(run.try_number),
        "business_date": run.business_date or "",
        "dbt_invocation_id": run.dbt_invocation_id,
        "succeeded": "true" if run.succeeded else "false",
    }
    for table, rows in sorted(run.row_counts.items()):
        properties[f"row_count.{table}"] = str(rows)
    if not run.succeeded:
        properties["failure_message"] = run.failure_message
    dpi.properties = properties
    if str(dpi.urn) != urns.data_process_instance_urn(run.dag_id, run.run_id, run.try_number):
        raise ValueError(f"the SDK's run URN {dpi.urn} differs from the DataHub plugin's; fix urns.py")
    mcps += list(dpi.generate_mcp(created_ts_millis=run.started_at_ms, materialize_iolets=False))
    mcps += list(dpi.start_event_mcp(run.started_at_ms, attempt=run.try_number))
    mcps += list(
        dpi.end_event_mcp(
            end_timestamp_millis=run.ended_at_ms,
            result=InstanceRunResult.SUCCESS if run.succeeded else InstanceRunResult.FAILURE,
            result_type="airflow",
            attempt=run.try_number,
            start_timestamp_millis=run.started_at_ms,
        )
    )

    for outcome in sorted(run.tests, key=lambda t: t.unique_id):
        mcps += _assertion_mcps(run, datasets, outcome)

    if run.succeeded and datasets:
        for output in sorted(datasets.outputs, key=lambda o: o.urn):
            mcps += _published_mcps(run, output)

    if not run.succeeded or resolve_incident:
        mcps.append(_incident_mcp(run, spec, output_urns))
    return _ordered(mcps)


def _test_dataset(datasets: Optional[ProductDatasets], outcome: TestOutcome) -> Optional[str]:
    if datasets is None:
        return None
    if outcome.table is None:
        # Only unambiguous: a product with one output table.
        return datasets.outputs[0].urn if len(datasets.outputs) == 1 else None
    for output in datasets.outputs:
        if output.relation.name == outcome.table or output.port.table_name == outcome.table:
            return output.urn
    model = datasets.manifest.model_for_table(outcome.table)
    return urns.dataset_urn(datasets.manifest.adapter_type, model.relation) if model else None


def _assertion_mcps(run: RunRecord, datasets: Optional[ProductDatasets], outcome: TestOutcome) -> list[MCPW]:
    dataset = _test_dataset(datasets, outcome)
    if dataset is None:
        return []  # the table the test checks is not knowable: no assertion rather than a wrong one
    assertion = urns.assertion_urn(run.product_id, outcome.unique_id)
    scope, operator, aggregation = _TEST_ASSERTIONS.get(
        outcome.test_name or "",
        (
            models.DatasetAssertionScopeClass.DATASET_COLUMN
            if outcome.column
            else models.DatasetAssertionScopeClass.DATASET_ROWS,
            models.AssertionStdOperatorClass._NATIVE_,
            models.AssertionStdAggregationClass._NATIVE_,
        ),
    )
    fields = [mce_builder.make_schema_field_urn(dataset, outcome.column)] if outcome.column else None
    kwargs = _test_kwargs(datasets, outcome.unique_id)
    info = models.AssertionInfoClass(
        type=models.AssertionTypeClass.DATASET,
        datasetAssertion=models.DatasetAssertionInfoClass(
            dataset=dataset,
            scope=scope,
            operator=operator,
            aggregation=aggregation,
            fields=fields,
            parameters=_test_parameters(outcome.test_name, kwargs),
            nativeType=outcome.test_name or outcome.unique_id.split(".")[-2],
            nativeParameters={"dbt_unique_id": outcome.unique_id, **kwargs},
        ),
        customProperties={"dbt_unique_id": outcome.unique_id, "data_product": run.product_id},
        source=models.AssertionSourceClass(type=models.AssertionSourceTypeClass.EXTERNAL),
        entityUrn=dataset,
    )
    mcps = [MCPW(entityUrn=assertion, aspect=info)]
    result = _assertion_result(outcome.status)
    if result is not None:
        native = {"dbt_status": outcome.status}
        if outcome.message:
            native["message"] = outcome.message
        mcps.append(
            MCPW(
                entityUrn=assertion,
                aspect=models.AssertionRunEventClass(
                    timestampMillis=run.ended_at_ms,
                    runId=urns.data_process_instance_id(run.dag_id, run.run_id, run.try_number),
                    asserteeUrn=dataset,
                    assertionUrn=assertion,
                    status=models.AssertionRunStatusClass.COMPLETE,
                    result=models.AssertionResultClass(type=result, nativeResults=native),
                    runtimeContext={"business_date": run.business_date or "", "dbt_invocation_id": run.dbt_invocation_id},
                ),
            )
        )
    return mcps


def _test_kwargs(datasets: Optional[ProductDatasets], unique_id: str) -> dict[str, str]:
    """The generic test's arguments from the manifest (model and column left out), as strings."""
    if datasets is None:
        return {}
    node = datasets.manifest.raw.get("nodes", {}).get(unique_id) or {}
    kwargs = (node.get("test_metadata") or {}).get("kwargs") or {}
    return {
        k: v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        for k, v in sorted(kwargs.items())
        if k not in ("model", "column_name") and v is not None
    }


def _test_parameters(test_name: Optional[str], kwargs: dict[str, str]) -> Optional[models.AssertionStdParametersClass]:
    """Parameters as DataHub's dbt source gives them (unique: proportion 1.0; accepted_values: the set)."""
    if test_name == "unique":
        value = models.AssertionStdParameterClass(value="1.0", type=models.AssertionStdParameterTypeClass.NUMBER)
        return models.AssertionStdParametersClass(value=value)
    if test_name == "accepted_values" and "values" in kwargs:
        value = models.AssertionStdParameterClass(value=kwargs["values"], type=models.AssertionStdParameterTypeClass.SET)
        return models.AssertionStdParametersClass(value=value)
    return None


def _assertion_result(status: str) -> Optional[str]:
    """dbt status -> AssertionResultType; None (no run event) for a test that did not run."""
    if status in ("pass", "success", "warn"):  # warn: passed with a warning-severity finding, as DataHub's dbt source
        return models.AssertionResultTypeClass.SUCCESS
    if status in ("fail", "error", "runtime error"):
        return models.AssertionResultTypeClass.FAILURE
    return None


def _published_mcps(run: RunRecord, output: OutputDataset) -> list[MCPW]:
    partition = (
        models.PartitionSpecClass(partition=f"business_date={run.business_date}", type=models.PartitionTypeClass.PARTITION)
        if run.business_date
        else None
    )
    rows = run.row_counts.get(output.relation.name, run.row_counts.get(output.port.table_name))
    mcps = [
        MCPW(
            entityUrn=output.urn,
            aspect=models.OperationClass(
                timestampMillis=run.ended_at_ms,
                lastUpdatedTimestamp=run.ended_at_ms,
                operationType=models.OperationTypeClass.INSERT,
                partitionSpec=partition,
                numAffectedRows=rows,
                sourceType=models.OperationSourceTypeClass.DATA_PROCESS,
                customProperties={
                    "business_date": run.business_date or "",
                    "data_product": run.product_id,
                    "dag_id": run.dag_id,
                    "run_id": run.run_id,
                },
            ),
        )
    ]
    if rows is not None and partition is not None:
        mcps.append(
            MCPW(
                entityUrn=output.urn,
                aspect=models.DatasetProfileClass(timestampMillis=run.ended_at_ms, partitionSpec=partition, rowCount=rows),
            )
        )
    return mcps


def _incident_mcp(run: RunRecord, spec: Optional[DataProductSpec], output_urns: list[str]) -> MCPW:
    name = spec.name if spec else run.product_id
    date = run.business_date or "an unknown business date"
    entities = [urns.data_product_urn(run.product_id), *output_urns]
    run_ref = f"Airflow run {run.run_id} (try {run.try_number})"
    if run.succeeded:
        title = f"{name} ({run.product_id}) failed; resolved by the run for {date}"
        description = f"{run_ref} succeeded for business date {date}."
        status = models.IncidentStatusClass(
            state=models.IncidentStateClass.RESOLVED,
            stage=models.IncidentStageClass.FIXED,
            message=description,
            lastUpdated=_stamp(run.ended_at_ms),
        )
    else:
        title = f"{name} ({run.product_id}) failed for {date}"
        description = run.failure_message or f"{run_ref} failed."
        status = models.IncidentStatusClass(
            state=models.IncidentStateClass.ACTIVE,
            stage=models.IncidentStageClass.TRIAGE,
            message=f"{run_ref} failed.",
            lastUpdated=_stamp(run.ended_at_ms),
        )
    return MCPW(
        entityUrn=urns.incident_urn(run.product_id),
        aspect=models.IncidentInfoClass(
            type=models.IncidentTypeClass.OPERATIONAL,
            entities=entities,
            status=status,
            created=_stamp(run.ended_at_ms),
            title=title,
            description=description,
            startedAt=run.started_at_ms,
        ),
    )


# --------------------------------------------------------------------------------------------
# Removal
# --------------------------------------------------------------------------------------------


def removed_mcps(product_id: str, output_dataset_urns: Iterable[str] = (), remove_datasets: bool = False) -> list[MCPW]:
    """Soft-delete a product whose spec was removed: the product, and the DAG's flow and jobs.

    The output tables are left alone by default: dropping a spec does not drop the tables, which
    may still be read (and are the warehouse ingestion's to retire). remove_datasets=True marks them
    removed too.
    """
    dag_id = naming.dag_id(product_id)
    entities = [
        urns.data_product_urn(product_id),
        urns.data_flow_urn(dag_id),
        urns.data_job_urn(dag_id, urns.BUILD_TASK),
        urns.data_job_urn(dag_id, urns.PUBLISH_TASK),
    ]
    if remove_datasets:
        entities += list(output_dataset_urns)
    return _ordered([MCPW(entityUrn=u, aspect=models.StatusClass(removed=True)) for u in entities])


# --------------------------------------------------------------------------------------------


_ENTITY_ORDER = ["domain", "dataProduct", "dataset", "dataFlow", "dataJob", "dataProcessInstance", "assertion", "incident"]


def _ordered(mcps: list[MCPW]) -> list[MCPW]:
    """Drop exact duplicates; sort by entity type, URN and aspect (stable, so a run's STARTED event stays
    before its COMPLETE event)."""
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for mcp in mcps:
        key = (mcp.entityUrn, mcp.aspectName or "", json.dumps(mcp.aspect.to_obj(), sort_keys=True) if mcp.aspect else "")
        if key not in seen:
            seen.add(key)
            unique.append(mcp)

    def rank(mcp: MCPW) -> tuple:
        kind = mcp.entityType
        return (
            _ENTITY_ORDER.index(kind) if kind in _ENTITY_ORDER else len(_ENTITY_ORDER),
            kind,
            mcp.entityUrn,
            mcp.aspectName or "",
        )

    return sorted(unique, key=rank)
