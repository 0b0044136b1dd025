"""An output port's contract as an Open Data Contract Standard (ODCS v3) document, for tools that
speak ODCS; checked against Bitol's own package (`open-data-contract-standard`): its JSON Schema
and its pydantic model."""

from __future__ import annotations

from typing import Any

from dataproducts.core import access, naming, quality
from dataproducts.core.spec import DataProductSpec, OutputPort, QualityRule

API_VERSION = "v3.1.0"  # the first ODCS version with a `timestamp` logical type and a `team` object


class InvalidContract(ValueError):
    """The document does not validate against the ODCS schema or model."""


def contract_document(spec: DataProductSpec, port: OutputPort) -> dict[str, Any]:
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "id": naming.port_id(spec.id, port.name),
        "name": f"{spec.name}: {port.name}",
        "version": spec.version,
        "status": spec.status.value,
        "domain": spec.domain,
        "dataProduct": spec.id,
        "description": _without_empty({"purpose": spec.description.strip(), "usage": port.description.strip()}),
        "schema": [
            _without_empty(
                {
                    "name": port.table_name,
                    "physicalName": naming.table_ref(spec.domain, port.table_name),
                    "physicalType": "table",
                    "logicalType": "object",
                    "description": port.description.strip(),
                    "properties": [
                        _without_empty(
                            {
                                "name": c.name,
                                "logicalType": c.type.value,
                                "required": c.required,
                                "unique": c.unique,
                                "description": c.description.strip(),
                                "quality": [_quality(r) for r in quality.rules_of(port) if r.column == c.name],
                            }
                        )
                        for c in port.contract.columns
                    ],
                    "quality": [_quality(r) for r in quality.rules_of(port) if r.column is None],
                }
            )
        ],
        "team": {"name": spec.owner.team},
        "support": [{"channel": "email", "url": f"mailto:{spec.owner.contact}"}],
        "roles": _roles(spec, port),
        "customProperties": [
            {"property": "accessVisibility", "value": port.access.visibility.value},
            {"property": "access", "value": access.describe(spec, port)},
        ],
    }
    if spec.tags:
        document["tags"] = list(spec.tags)
    if port.freshness:
        document["slaProperties"] = [{"property": "latency", "value": port.freshness.max_age_hours, "unit": "h"}]
    return document


def _quality(rule: QualityRule) -> dict[str, Any]:
    """A quality rule as ODCS v3.1 data quality: a library metric (rowCount, nullValues, ...) or sql,
    with its one operator (the default made explicit) and its severity."""
    op, value = quality.operator(rule)
    document: dict[str, Any] = {"name": rule.rule_name, "description": rule.description, "severity": rule.severity.value}
    if rule.metric is not None:
        arguments = {"validValues": list(rule.valid_values)} if rule.valid_values else {}
        arguments.update({"properties": list(rule.columns)} if rule.columns else {})
        document.update(type="library", metric=_camel(rule.metric.value), unit=rule.unit.value, arguments=arguments or None)
    else:
        document.update(type="sql", query=rule.query)
    document[_camel(op)] = [_plain(v) for v in value] if isinstance(value, (list, tuple)) else _plain(value)
    return _without_empty(document)


def _camel(name: str) -> str:
    """'must_be_less_than' -> 'mustBeLessThan'"""
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _roles(spec: DataProductSpec, port: OutputPort) -> list[dict[str, Any]]:
    domains = access.reader_domains(spec, port)
    readers = ["every domain of the mesh"] if domains is None else [f"domain {d}" for d in domains]
    readers += [f"product {p}" for p in port.access.products]
    return [{"role": reader, "access": "read"} for reader in readers]


def _without_empty(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in ("", None, [])}


def validate(document: dict[str, Any]) -> None:
    """Raises InvalidContract naming every problem the ODCS JSON Schema or model finds."""
    import json
    from importlib import resources

    import jsonschema
    import pydantic
    from open_data_contract_standard.model import OpenDataContractStandard

    schema = json.loads(resources.files("open_data_contract_standard").joinpath("schema.json").read_text(encoding="utf-8"))
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(document)'}: {error.message}"
        for error in jsonschema.Draft202012Validator(schema).iter_errors(document)
    ]
    try:
        OpenDataContractStandard.model_validate(document)
    except pydantic.ValidationError as exc:
        problems += [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    if problems:
        raise InvalidContract("not a valid ODCS document: " + "; ".join(problems))
