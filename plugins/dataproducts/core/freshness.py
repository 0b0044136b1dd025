"""When is an output port stale: the one rule, used by the Data mesh page, the CLI, the catalogue
DAG's checker and a consumer's build (pure: the callers bring the publication time and the clock).

A port is **stale** when its latest publication is older than its `freshness.max_age_hours`
(an age equal to the SLA is still fresh); a port that never published is **never** (its own state,
not stale: there is nothing old to warn about); a port without an SLA is **no_sla**.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Optional

from dataproducts.core import naming
from dataproducts.core.spec import DataProductSpec

FRESH, STALE, NEVER, NO_SLA = "fresh", "stale", "never", "no_sla"
ORDER = (STALE, NEVER, FRESH, NO_SLA)  # worst first


@dataclass(frozen=True)
class Freshness:
    state: str
    max_age_hours: Optional[float]
    age_hours: Optional[float] = None  # None: never published
    published_at: Optional[dt.datetime] = None

    @property
    def stale(self) -> bool:
        return self.state == STALE

    def describe(self) -> str:
        """'stale: published 30.5 h ago, SLA 26 h' (log lines, the CLI, notices)."""
        sla = f"SLA {self.max_age_hours:g} h" if self.max_age_hours is not None else "no SLA"
        if self.age_hours is None:
            return f"{self.state}: never published, {sla}"
        return f"{self.state}: published {self.age_hours:.1f} h ago, {sla}"


def evaluate(published_at: Optional[dt.datetime], max_age_hours: Optional[float], now: dt.datetime) -> Freshness:
    """The port's state at `now` from the time of its latest publication (None: it never published)."""
    if published_at is None:
        return Freshness(NEVER, max_age_hours)
    age = round(max(0.0, (now - published_at).total_seconds() / 3600), 2)
    if max_age_hours is None:
        return Freshness(NO_SLA, None, age, published_at)
    return Freshness(FRESH if age <= max_age_hours else STALE, max_age_hours, age, published_at)


def worst(states: Iterable[str]) -> Optional[str]:
    found = list(states)
    return min(found, key=ORDER.index) if found else None


RAISE, RESOLVE = "raise", "resolve"


def incident_change(incident_open: bool, state: str) -> Optional[str]:
    """What a check does to the port's freshness incident: raised once when the port turns stale,
    resolved when it is fresh again (or no longer has an SLA), else nothing (one per stale period)."""
    if state == STALE and not incident_open:
        return RAISE
    if incident_open and state in (FRESH, NO_SLA):
        return RESOLVE
    return None


@dataclass(frozen=True)
class PortSla:
    product_id: str
    port: str
    max_age_hours: Optional[float]

    @property
    def port_id(self) -> str:
        return naming.port_id(self.product_id, self.port)


def port_slas(specs: Iterable[DataProductSpec]) -> Iterator[PortSla]:
    """Every output port of the given specs with its SLA (None where the spec declares none)."""
    for spec in specs:
        for port in spec.output_ports:
            yield PortSla(spec.id, port.name, port.freshness.max_age_hours if port.freshness else None)


def parse_time(value: Optional[str]) -> Optional[dt.datetime]:
    """An ISO timestamp as Airflow's API gives it ('...Z' included), made timezone-aware (UTC)."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
