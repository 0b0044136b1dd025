"""Holding producers to their contracts at run time: does each output table still have every
column its port promises? Pure; the build task feeds it what the warehouse reports."""

from __future__ import annotations

from dataclasses import dataclass

from dataproducts.core import naming
from dataproducts.core.spec import DataProductSpec

TEST_NAME = "contract_columns"


@dataclass(frozen=True)
class ContractCheck:
    port_id: str
    table: str
    missing: tuple[str, ...]

    @property
    def unique_id(self) -> str:
        """Stable id of the check, in the shape of dbt's test ids, for the DataHub assertion."""
        return f"contract.{self.port_id}"

    @property
    def passed(self) -> bool:
        return not self.missing

    @property
    def message(self) -> str:
        if self.passed:
            return f"{self.table} has every contract column of {self.port_id}"
        return (
            f"{self.table} lacks contract column(s) {', '.join(self.missing)} of output port {self.port_id}: "
            "restore them in the dbt model, or change the contract in a new major version of the spec"
        )


class ContractBroken(RuntimeError):
    """Raised with the failed checks' messages; the build stops before publishing anything."""

    def __init__(self, failed: list[dict]):
        super().__init__("contract broken: " + "; ".join(c["message"] for c in failed))


def check_columns(spec: DataProductSpec, columns_by_table: dict[str, dict[str, str]]) -> list[ContractCheck]:
    """columns_by_table: output table -> its columns in the warehouse (names; the types are not compared)."""
    checks = []
    for port in spec.output_ports:
        actual = {c.lower() for c in columns_by_table.get(port.table_name, [])}
        missing = tuple(c.name for c in port.contract.columns if c.name.lower() not in actual)
        checks.append(ContractCheck(naming.port_id(spec.id, port.name), f"{spec.domain}.{port.table_name}", missing))
    return checks
