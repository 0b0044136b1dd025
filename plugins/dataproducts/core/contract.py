"""Holding producers to their contracts at run time: does each output table still have every
column its port promises, with a type that keeps the column's logical type? The second line behind
dbt's enforced model contracts. Pure; the build task feeds it what the warehouse reports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Optional

from dataproducts.core import naming, warehouse_types
from dataproducts.core.errors import SpecError
from dataproducts.core.manifest import Manifest
from dataproducts.core.spec import DataProductSpec

TEST_NAME = "contract_columns"


@dataclass(frozen=True)
class ColumnDiff:
    column: str
    expected: str  # the contract's logical type
    found: Optional[str]  # the warehouse type; None when the column is missing

    def __str__(self) -> str:
        found = "missing" if self.found is None else f"{self.found} (which does not keep {self.expected})"
        return f"{self.column}: expected {self.expected}, found {found}"


@dataclass(frozen=True)
class ContractCheck:
    port_id: str
    table: str
    differences: tuple[ColumnDiff, ...] = ()

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(d.column for d in self.differences if d.found is None)

    @property
    def unique_id(self) -> str:
        """Stable id of the check, in the shape of dbt's test ids, for the DataHub assertion."""
        return f"contract.{self.port_id}"

    @property
    def passed(self) -> bool:
        return not self.differences

    @property
    def message(self) -> str:
        if self.passed:
            return f"{self.table} has every contract column of {self.port_id}, with its type"
        return (
            f"{self.table} does not keep the contract of output port {self.port_id}: "
            + "; ".join(str(d) for d in self.differences)
            + ". Restore them in the dbt model, or change the contract in a new major version of the spec"
        )


class ContractBroken(RuntimeError):
    """Raised with the failed checks' messages; the build stops before publishing anything."""

    def __init__(self, messages: list[str]):
        super().__init__("contract broken: " + "; ".join(messages))


def check_columns(spec: DataProductSpec, columns_by_table: dict[str, dict[str, str]], adapter: str = "") -> list[ContractCheck]:
    """columns_by_table: output table -> column -> its warehouse type; types are compared through
    core/warehouse_types for the adapter (not at all for an adapter it has no mapping for)."""
    checks = []
    for port in spec.output_ports:
        actual = {name.lower(): kind for name, kind in columns_by_table.get(port.table_name, {}).items()}
        differences = []
        for column in port.contract.columns:
            found = actual.get(column.name.lower())
            if found is None or warehouse_types.fits(adapter, column.type, found) is False:
                differences.append(ColumnDiff(column.name, column.type.value, found))
        checks.append(
            ContractCheck(naming.port_id(spec.id, port.name), naming.table_ref(spec.domain, port.table_name), tuple(differences))
        )
    return checks


def model_contract_errors(path: str, spec: DataProductSpec, manifest: Manifest) -> Iterator[SpecError]:
    """Every output model enforces its dbt model contract, and the data_type it declares for each
    contract column keeps the column's logical type, so dbt itself fails a build that drops a
    column or changes a type, before the table changes."""
    project = spec.transform.dbt.project
    for i, port in enumerate(spec.output_ports):
        model = manifest.model_for_table(port.table_name)
        if model is None:
            continue  # reported by validation already
        where = model.original_file_path.rsplit("/", 1)[0]
        if not model.contract_enforced:
            yield SpecError(
                path,
                f"output_ports[{i}].contract",
                f"dbt model '{model.name}' does not enforce its contract, so dbt would replace the table whatever columns it builds",
                f"add 'config: {{contract: {{enforced: true}}}}' and a data_type for every column to '{model.name}' in dbt/{project}/{where}/*.yml",
            )
            continue
        for j, column in enumerate(port.contract.columns):
            data_type = (model.columns.get(column.name) or {}).get("data_type")
            if data_type and warehouse_types.fits(manifest.adapter_type, column.type, data_type) is False:
                accepted = ", ".join(sorted(warehouse_types.TYPES[manifest.adapter_type][column.type]))
                yield SpecError(
                    path,
                    f"output_ports[{i}].contract.columns[{j}].type",
                    f"dbt model '{model.name}' declares column '{column.name}' as data_type '{data_type}', "
                    f"which does not keep the contract's type '{column.type.value}' on {manifest.adapter_type}",
                    f"declare a data_type of one of: {accepted} (dbt/{project}/{where}/*.yml), or change the contract's type",
                )
