"""What the owner of a failed product is told: product, business date, first error line, log link
and the command that rebuilds the date; and of a port that turned stale: its age against its SLA.
Pure; the channels are in airflow/notify.py."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from typing import Optional


class Notice:
    """A message to an owner: a headline, then its facts, as plain text or as HTML (e-mail)."""

    def lines(self) -> list[str]:
        raise NotImplementedError

    def text(self) -> str:
        return "\n".join(self.lines())

    def html(self) -> str:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines()[1:])
        return f"<p>{html.escape(self.lines()[0])}</p><ul>{items}</ul>"


@dataclass(frozen=True)
class FailureNotice(Notice):
    product_id: str
    owner: str
    contact: str
    dag_id: str
    run_id: str
    task_id: str
    business_date: Optional[str]
    error: str
    log_url: Optional[str]

    @property
    def rerun_command(self) -> str:
        date = self.business_date or "YYYY-MM-DD"
        return f"dataproducts rerun {self.product_id} --business-date {date}"

    @property
    def subject(self) -> str:
        return f"[dataproducts] {self.product_id} failed for business date {self.business_date or 'unknown'}"

    def lines(self) -> list[str]:
        return [
            f"{self.product_id} failed (owner {self.owner}).",
            f"Business date: {self.business_date or 'not chosen yet: the run failed before choosing it'}",
            f"Error: {self.error}",
            f"Log: {self.log_url or '(no log link: the task has no log URL)'}",
            f"Run: {self.dag_id} / {self.run_id}, task {self.task_id}",
            f"Rerun the date and everything downstream: {self.rerun_command}",
        ]

    def as_json(self) -> dict:
        return {**asdict(self), "rerun_command": self.rerun_command, "subject": self.subject}


def first_error_line(error: object) -> str:
    """The first non-empty line of an error, at most 500 characters (dbt's messages run long)."""
    for line in str(error or "").splitlines():
        if line.strip():
            return line.strip()[:500]
    return type(error).__name__ if error is not None else "unknown error"


@dataclass(frozen=True)
class StaleNotice(Notice):
    """What the owner is told once when an output port turns stale (the same channels as failures)."""

    product_id: str
    port_id: str
    owner: str
    contact: str
    state: str  # the freshness rule's words: 'stale: published 30.5 h ago, SLA 26 h'
    published_at: Optional[str]
    max_age_hours: float
    log_url: Optional[str] = None  # the checking task's log

    @property
    def subject(self) -> str:
        return f"[dataproducts] {self.port_id} is stale: no publication within its {self.max_age_hours:g} h SLA"

    def lines(self) -> list[str]:
        return [
            f"{self.port_id} is stale (owner {self.owner}).",
            f"Freshness: {self.state}",
            f"Latest publication: {self.published_at or 'none'}",
            f"Check: did {self.product_id} run? dataproducts show {self.product_id}; dataproducts freshness",
            f"Log: {self.log_url or '(no log link)'}",
        ]

    def as_json(self) -> dict:
        return {**asdict(self), "subject": self.subject, "kind": "stale"}
