"""What a product's build task reports: one typed outcome, whatever happened.

The build task (airflow/tasks.py) leaves a `BuildOutcome` as its XCom: its return value when it
built, and under `OUTCOME_KEY` when it failed or was skipped. The value in XCom is
`outcome.to_xcom()` (plain JSON, so Airflow's REST API hands it to ops/ unchanged), and every
reader turns it back with `BuildOutcome.from_xcom()`: publish, the run's metadata record, the
failure notice, the run's note, the Data mesh page, and the demo, rerun and run listing over the
REST API. No module reads the outcome by string keys.

The field names are the keys the build task's XCom dict always had, so the outcome of a run from
before this model validates as is. Every field has a default: a run from an older version (no
`column_types`, `contract_checks`, `quality_results` or `dbt_target_path` yet), a failed build
(no row counts) and a skipped one (only `skipped`) are all read without error. A value that is not
an outcome at all (not a mapping, or a field of the wrong type) is an explicit `OutcomeUnreadable`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from dataproducts.core.business_date import parse_business_date
from dataproducts.core.naming import BUILD_TASK as BUILD_TASK  # the task that leaves the outcome
from dataproducts.core.spec import Severity

OUTCOME_KEY = "build_outcome"  # its XCom key when it failed or skipped (else its return value)
RETURN_VALUE_KEY = "return_value"  # Airflow's key of a task's return value


class OutcomeUnreadable(ValueError):
    """A build XCom that is not a build outcome (someone else's value, or a corrupted one)."""


def _date(value: object) -> Optional[dt.date]:
    return None if value is None or value == "" else parse_business_date(value, "the build's business date")


BusinessDate = Annotated[Optional[dt.date], BeforeValidator(_date)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class DbtNode(_Part):
    """One node dbt ran in the build (dbt/runner.NodeResult)."""

    unique_id: str
    resource_type: str
    status: str  # dbt's status: success | pass | fail | error | warn | skipped | ...
    message: str = ""
    rows_affected: Optional[int] = None
    seconds: float = 0.0


class ContractCheckResult(_Part):
    """The run-time contract check of one output port (core/contract.ContractCheck)."""

    unique_id: str  # contract.<port id>
    table: str  # the port's table (no schema)
    passed: bool
    message: str = ""


class QualityCheckResult(_Part):
    """One quality rule's result on one output port for one business date (core/quality.result
    gives the verdict, the build outcome carries it)."""

    unique_id: str  # quality.<port id>.<rule>: stable per (port, rule), the DataHub assertion's key
    port_id: str
    table: str  # the port's table (no schema)
    rule: str
    severity: str  # error | warn
    observed: Optional[float] = None  # None when the rule could not be measured
    threshold: str = ""
    passed: bool
    message: str = ""
    definition: dict[str, Any] = Field(default_factory=dict)  # the rule as the spec writes it

    @property
    def blocks(self) -> bool:
        return not self.passed and self.severity == Severity.error.value

    @property
    def warns(self) -> bool:
        return not self.passed and self.severity == Severity.warn.value


class BuildOutcome(_Part):
    """The build task's outcome: built (no `failed`, no `skipped`), failed or skipped."""

    business_date: BusinessDate = None  # None: the build failed before choosing one, or was skipped
    dbt_target_path: str = ""  # where this run's dbt wrote its artifacts (the SQL it compiled)
    dbt_invocation_id: str = ""
    row_counts: dict[str, int] = Field(default_factory=dict)  # output table -> rows of the business date
    column_types: dict[str, dict[str, str]] = Field(default_factory=dict)  # output table -> column -> warehouse type
    dbt_nodes: list[DbtNode] = Field(default_factory=list)
    contract_checks: list[ContractCheckResult] = Field(default_factory=list)
    quality_results: list[QualityCheckResult] = Field(default_factory=list)  # once the contract held
    failed: Optional[str] = None  # why the build failed (dbt's error, the broken contract or rules, ...)
    skipped: Optional[str] = None  # why the build built nothing (its inputs have not published the date)
    seconds: dict[str, float] = Field(default_factory=dict)  # wall seconds per phase (dbt import, parse, build, ...)

    @property
    def business_date_iso(self) -> Optional[str]:
        return self.business_date.isoformat() if self.business_date else None

    def failed_contract_checks(self) -> list[ContractCheckResult]:
        return [c for c in self.contract_checks if not c.passed]

    def blocking_quality_results(self) -> list[QualityCheckResult]:
        """Error-severity rules that failed: nothing is published."""
        return [r for r in self.quality_results if r.blocks]

    def quality_warnings(self, port_id: str) -> list[str]:
        """The messages of the port's warn-severity rules that failed (an error-severity one never publishes)."""
        return [r.message for r in self.quality_results if r.port_id == port_id and not r.passed]

    def to_xcom(self) -> dict[str, Any]:
        """The XCom value: plain JSON (a date as YYYY-MM-DD), what Airflow's REST API returns."""
        return self.model_dump(mode="json")

    @classmethod
    def from_xcom(cls, value: Any) -> Optional[BuildOutcome]:
        """The outcome in an XCom value; None when there is none (no XCom: the task never got that far).
        Missing fields take their defaults (runs from older versions, failed and skipped builds)."""
        if value is None:
            return None
        if isinstance(value, BuildOutcome):
            return value
        if not isinstance(value, dict):
            raise OutcomeUnreadable(f"a build outcome is a JSON object, not {type(value).__name__}")
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise OutcomeUnreadable(f"not a build outcome: {problems}") from None
