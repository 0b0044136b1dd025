"""Catalogue metadata of a product: its domain, the data product, its output datasets (schema,
ownership, lineage) and its pipeline (the DAG as a DataFlow, its tasks as DataJobs); and the
soft-delete of a product whose spec was removed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Optional

from datahub.api.entities.datajob import DataFlow, DataJob
from datahub.api.entities.dataproduct.dataproduct import DataProduct, Ownership
from datahub.emitter import mce_builder
from datahub.emitter.mcp import MetadataChangeProposalWrapper as MCPW
from datahub.ingestion.source.common.subtypes import DatasetSubTypes
from datahub.metadata import schema_classes as models
from datahub.utilities.urns.dataset_urn import DatasetUrn

from dataproducts.core import access, naming
from dataproducts.core.mesh import Mesh
from dataproducts.core.spec import Column, DataProductSpec, LogicalType
from dataproducts.metadata import urns
from dataproducts.metadata.aspects import dag_url, ordered, ownership, stamp, tags, terms
from dataproducts.metadata.datasets import OutputDataset, ProductDatasets, product_datasets
from dataproducts.metadata.deprecation import deprecation_aspect, replacement_urn
from dataproducts.metadata.lineage import upstream_lineage
from dataproducts.metadata.plugin_config import PLUGIN_DEFAULTS, PluginConfig

_FIELD_TYPES = {
    LogicalType.string: models.StringTypeClass,
    LogicalType.integer: models.NumberTypeClass,
    LogicalType.number: models.NumberTypeClass,
    LogicalType.boolean: models.BooleanTypeClass,
    LogicalType.date: models.DateTypeClass,
    LogicalType.timestamp: models.TimeTypeClass,
}


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
    plugin: PluginConfig,
    compiled_sql: Mapping[str, str],
    replacement: Optional[str] = None,
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
        "access": access.describe(spec, port),
        "access_visibility": port.access.visibility.value,
    }
    if port.access.domains:
        properties["access_domains"] = ",".join(port.access.domains)
    if port.access.products:
        properties["access_products"] = ",".join(port.access.products)
    if port.freshness:
        properties["freshness_max_age_hours"] = f"{port.freshness.max_age_hours:g}"
    platform = datasets.manifest.adapter_type
    dataset_aspects: list = [
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
        ownership(spec.owner.team, plugin),
        models.DomainsClass(domains=[urns.domain_urn(spec.domain)]),
        tags(spec.tags),
        *terms(spec.terms),
        models.SubTypesClass(typeNames=[DatasetSubTypes.TABLE]),
        upstream_lineage(datasets, output, compiled_sql),
    ]
    if port.deprecation:
        dataset_aspects.append(deprecation_aspect(port.deprecation, replacement))
    return [MCPW(entityUrn=output.urn, aspect=a) for a in dataset_aspects]


def catalog_mcps(
    mesh: Mesh,
    product_id: str,
    git_revision: Optional[str],
    airflow_base_url: str,
    warehouse_types: Optional[dict[str, dict[str, str]]] = None,
    plugin: PluginConfig = PLUGIN_DEFAULTS,
    compiled_sql: Optional[Mapping[str, str]] = None,
) -> list[MCPW]:
    """Domain, data product, output datasets (schema, lineage, ownership) and pipeline of one product.

    warehouse_types (output table -> column -> type, known after a run) refine the schemas; plugin
    is the DataHub Airflow plugin's configuration the pipeline's URNs and ownership follow;
    compiled_sql (model unique id -> SQL dbt compiled) is what column lineage is parsed from.
    """
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
        owners=[Ownership(id=plugin.owner_urn(spec.owner.team), type=models.OwnershipTypeClass.TECHNICAL_OWNER)],
        tags=sorted(set(spec.tags)) or None,
        properties=properties,
        external_url=url,
    )
    for mcp in product.generate_mcp(upsert=False):
        if isinstance(mcp, MCPW) and isinstance(mcp.aspect, models.DataProductPropertiesClass):
            for association in mcp.aspect.assets or []:
                association.created = stamp()  # the SDK stamps the wall clock; catalog time is fixed
        mcps.append(mcp)
    mcps.extend(MCPW(entityUrn=product.urn, aspect=aspect) for aspect in terms(spec.terms))
    if spec.deprecation:
        aspect = deprecation_aspect(spec.deprecation, replacement_urn(mesh, spec.deprecation.replacement))
        mcps.append(MCPW(entityUrn=product.urn, aspect=aspect))

    for output in datasets.outputs:
        types = (warehouse_types or {}).get(output.port.table_name, {})
        replacement = replacement_urn(mesh, output.port.deprecation.replacement) if output.port.deprecation else None
        mcps.extend(
            _dataset_mcps(spec, spec_path, datasets, output, airflow_base_url, types, plugin, compiled_sql or {}, replacement)
        )

    mcps.extend(_pipeline_mcps(spec, input_urns, output_urns, airflow_base_url, plugin))
    return ordered(mcps)


def _pipeline_mcps(
    spec: DataProductSpec, input_urns: list[str], output_urns: list[str], airflow_base_url: str, plugin: PluginConfig
) -> list[MCPW]:
    """The DAG and its build and publish tasks, as the DataHub plugin names them and writes their
    ownership, tags and platform instance under its settings (the DAG's owner is the spec's team)."""
    dag_id = naming.dag_id(spec.id)
    owners = {spec.owner.team} if plugin.capture_ownership else set()
    people = {"group_owners": owners} if plugin.ownership_as_group else {"owners": owners}
    dag_tags = set(naming.dag_tags(spec.domain, spec.tags)) if plugin.capture_tags else set()
    flow = DataFlow(
        orchestrator=urns.AIRFLOW_ORCHESTRATOR,
        id=dag_id,
        env=plugin.cluster,
        platform_instance=plugin.platform_instance,
        name=dag_id,
        description=spec.description.strip(),
        url=dag_url(airflow_base_url, dag_id),
        properties={
            "data_product": spec.id,
            "spec_version": spec.version,
            "schedule": spec.schedule_summary,
            "timezone": spec.timezone,
        },
        tags=dag_tags,
        **people,
    )
    if str(flow.urn) != urns.data_flow_urn(dag_id, plugin):
        raise ValueError(f"the SDK's DataFlow URN {flow.urn} differs from urns.data_flow_urn; fix urns.py")
    select = " ".join(spec.transform.dbt.select)
    build = DataJob(
        id=urns.BUILD_TASK,
        flow_urn=flow.urn,
        platform_instance=plugin.platform_instance,
        name=urns.BUILD_TASK,
        description=f"dbt build --select {select} (dbt project {spec.transform.dbt.project})",
        properties={"dbt_project": spec.transform.dbt.project, "dbt_select": select},
        url=plugin.task_url(airflow_base_url, dag_id, urns.BUILD_TASK),
        tags=dag_tags,
        inlets=[DatasetUrn.from_string(u) for u in input_urns],
        outlets=[DatasetUrn.from_string(u) for u in output_urns],
        **people,
    )
    publish = DataJob(
        id=urns.PUBLISH_TASK,
        flow_urn=flow.urn,
        platform_instance=plugin.platform_instance,
        name=urns.PUBLISH_TASK,
        description="Checks the output contracts and publishes the output ports' Airflow Assets.",
        properties={"assets": ",".join(naming.asset_uri(spec.id, p.name) for p in spec.output_ports)},
        url=plugin.task_url(airflow_base_url, dag_id, urns.PUBLISH_TASK),
        tags=dag_tags,
        upstream_urns=[build.urn],
        **people,
    )
    mcps = list(flow.generate_mcp())
    mcps += list(build.generate_mcp(materialize_iolets=False))
    mcps += list(publish.generate_mcp(materialize_iolets=False))
    return mcps


def removed_mcps(
    product_id: str,
    output_dataset_urns: Iterable[str] = (),
    remove_datasets: bool = False,
    plugin: PluginConfig = PLUGIN_DEFAULTS,
) -> list[MCPW]:
    """Soft-delete a product whose spec was removed: the product, and the DAG's flow and jobs.

    The output tables are left alone by default: dropping a spec does not drop the tables, which
    may still be read (and are the warehouse ingestion's to retire). remove_datasets=True marks them
    removed too.
    """
    dag_id = naming.dag_id(product_id)
    entities = [
        urns.data_product_urn(product_id),
        urns.data_flow_urn(dag_id, plugin),
        urns.data_job_urn(dag_id, urns.BUILD_TASK, plugin),
        urns.data_job_urn(dag_id, urns.PUBLISH_TASK, plugin),
    ]
    if remove_datasets:
        entities += list(output_dataset_urns)
    return ordered([MCPW(entityUrn=u, aspect=models.StatusClass(removed=True)) for u in entities])
