"""A product run as DataHub sees it: the run (a DataProcessInstance of the build job), every dbt
test, contract check and quality rule (metadata/quality_assertions.py) as an assertion result, the published date's operation and row count, and
the run-failure incident."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Optional

from datahub.api.entities.datajob import DataJob
from datahub.api.entities.dataprocess.dataprocess_instance import DataProcessInstance, InstanceRunResult
from datahub.emitter import mce_builder
from datahub.emitter.mcp import MetadataChangeProposalWrapper as MCPW
from datahub.metadata import schema_classes as models
from datahub.utilities.urns.data_flow_urn import DataFlowUrn
from datahub.utilities.urns.dataset_urn import DatasetUrn

from dataproducts.core.mesh import Mesh
from dataproducts.core.spec import DataProductSpec
from dataproducts.metadata import urns
from dataproducts.metadata.aspects import ordered, stamp
from dataproducts.metadata.catalog import catalog_mcps
from dataproducts.metadata.datasets import OutputDataset, ProductDatasets, product_datasets
from dataproducts.metadata.plugin_config import PLUGIN_DEFAULTS, PluginConfig
from dataproducts.metadata.quality_assertions import quality_assertion_mcps
from dataproducts.metadata.run_record import OpenIncident, RunRecord, TestOutcome

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


def _run_type(run_id: str) -> str:
    return (
        models.DataProcessTypeClass.BATCH_AD_HOC if run_id.startswith("manual__") else models.DataProcessTypeClass.BATCH_SCHEDULED
    )


def run_batch_mcps(mesh: Mesh, run: RunRecord, git_revision: Optional[str], plugin: PluginConfig = PLUGIN_DEFAULTS) -> list[MCPW]:
    """Everything a run sends: its product's catalogue metadata (schemas refined with the warehouse's
    column types, column lineage from the SQL the run compiled), then the run's own."""
    mcps = run_mcps(mesh, run, plugin)
    if run.product_id in mesh.products:
        catalog = catalog_mcps(
            mesh, run.product_id, git_revision, run.airflow_base_url, run.column_types, plugin, run.compiled_sql
        )
        mcps = catalog + mcps
    return mcps


def run_mcps(mesh: Mesh, run: RunRecord, plugin: PluginConfig = PLUGIN_DEFAULTS) -> list[MCPW]:
    """A product run as DataHub sees it: process instance, test assertions, operations, and the
    incident: a failure opens (or updates) one, a success resolves run.incident when there is one.
    """
    spec = mesh.products.get(run.product_id)
    try:
        datasets = product_datasets(mesh, run.product_id) if spec else None
    except ValueError:
        datasets = None  # no manifest: the run still gets its instance and incident
    output_urns = sorted(o.urn for o in datasets.outputs) if datasets else []
    input_urns = sorted({i.urn for i in datasets.inputs}) if datasets else []
    mcps: list[MCPW] = []

    build = DataJob(
        id=urns.BUILD_TASK,
        flow_urn=DataFlowUrn.from_string(urns.data_flow_urn(run.dag_id, plugin)),
        platform_instance=plugin.platform_instance,
    )
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
    if str(dpi.urn) != urns.data_process_instance_urn(run.dag_id, run.run_id, run.try_number, plugin):
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
    mcps += quality_assertion_mcps(run, datasets)

    if run.succeeded and datasets:
        for output in sorted(datasets.outputs, key=lambda o: o.urn):
            mcps += _published_mcps(run, output)

    incident = incident_of(run, spec)
    if incident is not None:
        mcps.append(_incident_mcp(run, incident, output_urns))
    return ordered(mcps)


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


def incident_of(run: RunRecord, spec: Optional[DataProductSpec]) -> Optional[OpenIncident]:
    """The incident this run opens or updates (a failure), resolves (a success with one open), or None."""
    if run.succeeded:
        return run.incident
    name = spec.name if spec else run.product_id
    opened = run.incident or OpenIncident(run.run_key, run.ended_at_ms, "", "")
    return replace(
        opened,
        title=f"{name} ({run.product_id}) failed for {run.business_date or 'an unknown business date'}",
        description=run.failure_message or f"{_run_ref(run)} failed.",
    )


def _run_ref(run: RunRecord) -> str:
    return f"Airflow run {run.run_id} (try {run.try_number})"


def _incident_mcp(run: RunRecord, incident: OpenIncident, output_urns: list[str]) -> MCPW:
    if run.succeeded:
        state, stage = models.IncidentStateClass.RESOLVED, models.IncidentStageClass.FIXED
        message = f"Resolved by {_run_ref(run)}, which succeeded for business date {run.business_date}."
    else:
        state, stage = models.IncidentStateClass.ACTIVE, models.IncidentStageClass.TRIAGE
        message = f"{_run_ref(run)} failed."
    return MCPW(
        entityUrn=urns.incident_urn(run.product_id, incident.opened_by),
        aspect=models.IncidentInfoClass(
            type=models.IncidentTypeClass.OPERATIONAL,
            entities=[urns.data_product_urn(run.product_id), *output_urns],
            status=models.IncidentStatusClass(state=state, stage=stage, message=message, lastUpdated=stamp(run.ended_at_ms)),
            created=stamp(incident.opened_at_ms),
            title=incident.title,
            description=incident.description,
            startedAt=incident.opened_at_ms,
        ),
    )
