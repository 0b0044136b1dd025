"""Quality rule results as DataHub assertions on the output dataset: one assertion per (port, rule)
with a stable URN, its AssertionInfo describing the rule (a SQL assertion for a custom query, a
dataset assertion for a library metric), and one AssertionRunEvent per run (SUCCESS or FAILURE,
the measured value, the severity)."""

from __future__ import annotations

from typing import Any, Optional

from datahub.emitter.mcp import MetadataChangeProposalWrapper as MCPW
from datahub.metadata import schema_classes as models
from pydantic import ValidationError

from dataproducts.core import quality
from dataproducts.core.run_outcome import QualityCheckResult
from dataproducts.core.spec import Metric, QualityRule, Unit
from dataproducts.metadata import urns
from dataproducts.metadata.datasets import ProductDatasets
from dataproducts.metadata.run_record import RunRecord

_OPERATORS = {
    "must_be": models.AssertionStdOperatorClass.EQUAL_TO,
    "must_not_be": models.AssertionStdOperatorClass.NOT_EQUAL_TO,
    "must_be_greater_than": models.AssertionStdOperatorClass.GREATER_THAN,
    "must_be_greater_or_equal_to": models.AssertionStdOperatorClass.GREATER_THAN_OR_EQUAL_TO,
    "must_be_less_than": models.AssertionStdOperatorClass.LESS_THAN,
    "must_be_less_or_equal_to": models.AssertionStdOperatorClass.LESS_THAN_OR_EQUAL_TO,
    "must_be_between": models.AssertionStdOperatorClass.BETWEEN,
    "must_not_be_between": models.AssertionStdOperatorClass._NATIVE_,  # DataHub has no NOT_BETWEEN
}
_AGGREGATIONS = {  # metric counted in rows -> DataHub's aggregation; percentages are native (DataHub's are 0..1)
    Metric.row_count: models.AssertionStdAggregationClass.ROW_COUNT,
    Metric.null_values: models.AssertionStdAggregationClass.NULL_COUNT,
}
_FAILURE_SEVERITY = {"error": models.AssertionResultSeverityClass.HIGH, "warn": models.AssertionResultSeverityClass.LOW}


def quality_assertion_mcps(run: RunRecord, datasets: Optional[ProductDatasets]) -> list[MCPW]:
    mcps: list[MCPW] = []
    for outcome in sorted(run.quality, key=lambda q: q.unique_id):
        dataset = _dataset(datasets, outcome)
        rule = _rule(outcome)
        if dataset is None or rule is None:
            continue  # the dataset or the rule is not knowable: no assertion rather than a wrong one
        assertion = urns.assertion_urn(run.product_id, outcome.unique_id)
        mcps.append(MCPW(entityUrn=assertion, aspect=assertion_info(run.product_id, outcome, rule, dataset)))
        mcps.append(MCPW(entityUrn=assertion, aspect=_run_event(run, outcome, assertion, dataset)))
    return mcps


def _dataset(datasets: Optional[ProductDatasets], outcome: QualityCheckResult) -> Optional[str]:
    if datasets is None:
        return None
    return next((o.urn for o in datasets.outputs if o.port.table_name == outcome.table), None)


def _rule(outcome: QualityCheckResult) -> Optional[QualityRule]:
    try:
        return QualityRule.model_validate(outcome.definition)
    except ValidationError:
        return None


def assertion_info(product_id: str, outcome: QualityCheckResult, rule: QualityRule, dataset: str) -> models.AssertionInfoClass:
    op, _ = quality.operator(rule)
    common: dict[str, Any] = {
        "customProperties": {
            "data_product": product_id,
            "output_port": outcome.port_id,
            "quality_rule": outcome.rule,
            "severity": outcome.severity,
            "threshold": outcome.threshold,
        },
        "source": models.AssertionSourceClass(type=models.AssertionSourceTypeClass.EXTERNAL),
        "entityUrn": dataset,
        "description": f"{quality.measured_as(rule)} must be {outcome.threshold} (severity {outcome.severity})"
        + (f": {rule.description}" if rule.description else ""),
    }
    if rule.query is not None:
        sql = models.SqlAssertionInfoClass(
            type=models.SqlAssertionTypeClass.METRIC,
            entity=dataset,
            statement=rule.query,
            operator=_OPERATORS[op],
            parameters=_parameters(rule),
        )
        return models.AssertionInfoClass(type=models.AssertionTypeClass.SQL, sqlAssertion=sql, **common)
    return models.AssertionInfoClass(
        type=models.AssertionTypeClass.DATASET, datasetAssertion=_dataset_assertion(rule, dataset), **common
    )


def _dataset_assertion(rule: QualityRule, dataset: str) -> models.DatasetAssertionInfoClass:
    from datahub.emitter import mce_builder

    if rule.metric is None:
        raise ValueError(f"quality rule '{rule.rule_name}' has neither a query nor a metric")
    op, _ = quality.operator(rule)
    columns = [rule.column] if rule.column else list(rule.columns)
    aggregation = _AGGREGATIONS.get(rule.metric) if rule.unit is Unit.rows else None
    native = {"metric": rule.metric.value, "unit": rule.unit.value, "threshold": quality.threshold_text(rule)}
    if rule.valid_values:
        native["valid_values"] = ", ".join(str(v) for v in rule.valid_values)
    return models.DatasetAssertionInfoClass(
        dataset=dataset,
        scope=models.DatasetAssertionScopeClass.DATASET_COLUMN if columns else models.DatasetAssertionScopeClass.DATASET_ROWS,
        operator=_OPERATORS[op],
        aggregation=aggregation or models.AssertionStdAggregationClass._NATIVE_,
        fields=[mce_builder.make_schema_field_urn(dataset, c) for c in columns] or None,
        parameters=_parameters(rule),
        nativeType=f"dataproducts.{rule.metric.value}",
        nativeParameters=native,
    )


def _parameters(rule: QualityRule) -> models.AssertionStdParametersClass:
    op, value = quality.operator(rule)

    def number(v: float) -> models.AssertionStdParameterClass:
        return models.AssertionStdParameterClass(value=quality.number(v), type=models.AssertionStdParameterTypeClass.NUMBER)

    if op in ("must_be_between", "must_not_be_between"):
        return models.AssertionStdParametersClass(minValue=number(value[0]), maxValue=number(value[1]))
    return models.AssertionStdParametersClass(value=number(value))


def _run_event(run: RunRecord, outcome: QualityCheckResult, assertion: str, dataset: str) -> models.AssertionRunEventClass:
    native = {"severity": outcome.severity, "threshold": outcome.threshold, "message": outcome.message}
    if outcome.observed is not None:
        native["observed"] = quality.number(outcome.observed)
    result = models.AssertionResultClass(
        type=models.AssertionResultTypeClass.SUCCESS if outcome.passed else models.AssertionResultTypeClass.FAILURE,
        severity=None if outcome.passed else _FAILURE_SEVERITY.get(outcome.severity),
        actualAggValue=outcome.observed,
        nativeResults=native,
    )
    return models.AssertionRunEventClass(
        timestampMillis=run.ended_at_ms,
        runId=urns.data_process_instance_id(run.dag_id, run.run_id, run.try_number),
        asserteeUrn=dataset,
        assertionUrn=assertion,
        status=models.AssertionRunStatusClass.COMPLETE,
        result=result,
        runtimeContext={"business_date": run.business_date or "", "dbt_invocation_id": run.dbt_invocation_id},
    )
