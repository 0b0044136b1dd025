"""What a product run reports to the catalogue; built by the run-time edge, read by the builder."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

from dataproducts.core.run_outcome import QualityCheckResult


@dataclass(frozen=True)
class TestOutcome:
    """One dbt test (or contract check) and its result."""

    unique_id: str  # dbt unique id, e.g. test.inventory.not_null_listings_listing_id.abc123
    status: str  # dbt status: pass | fail | error | warn | skipped
    message: str = ""
    column: Optional[str] = None
    test_name: Optional[str] = None  # not_null, unique, accepted_values, ...
    table: Optional[str] = None  # the output table the test is attached to


@dataclass(frozen=True)
class OpenIncident:
    """A product's run-failure incident while it is open: opened by a failed run, updated by later
    failures, resolved by the next success (then the next failure opens a new one)."""

    opened_by: str  # "<run_id>#<try>" of the failed run that opened it
    opened_at_ms: int
    title: str  # the latest failure's, kept when the incident is resolved
    description: str


@dataclass(frozen=True)
class RunRecord:
    product_id: str
    dag_id: str
    run_id: str  # Airflow dag_run.run_id
    try_number: int
    business_date: Optional[str]  # YYYY-MM-DD, None when the run failed before choosing one
    started_at_ms: int  # epoch milliseconds
    ended_at_ms: int
    succeeded: bool
    failure_message: str = ""  # dbt's own error (or the spec error) when not succeeded
    dbt_invocation_id: str = ""
    row_counts: dict[str, int] = field(default_factory=dict)  # output table -> rows of the business date
    column_types: dict[str, dict[str, str]] = field(default_factory=dict)  # output table -> column -> warehouse type
    dbt_target_path: str = ""  # where the run's dbt wrote its artifacts
    compiled_sql: dict[str, str] = field(default_factory=dict)  # output model unique id -> the SQL dbt compiled in the run
    tests: list[TestOutcome] = field(default_factory=list)
    quality: list[QualityCheckResult] = field(default_factory=list)  # every quality rule's result, when measured
    airflow_base_url: str = "http://localhost:8080"
    # A failed run: the incident it opens or updates; a successful run: the one it resolves;
    # None: a success with nothing to resolve (or a failure that opens a new incident of its own).
    incident: Optional[OpenIncident] = None

    @property
    def run_key(self) -> str:
        return f"{self.run_id}#{self.try_number}"

    def to_dict(self) -> dict:
        return {**asdict(self), "quality": [q.model_dump(mode="json") for q in self.quality]}

    @classmethod
    def from_dict(cls, data: dict) -> RunRecord:
        tests = [TestOutcome(**t) for t in data.get("tests", [])]
        rules = [QualityCheckResult.model_validate(q) for q in data.get("quality", [])]
        incident = OpenIncident(**data["incident"]) if data.get("incident") else None
        return cls(**{**data, "tests": tests, "quality": rules, "incident": incident})
