"""The freshness checker: every output port's state by the one rule (core/freshness), sent to
DataHub through the outbox, with one incident per stale period.

The catalogue DAG calls `check_freshness` every 10 minutes with each port's latest publication
time (its latest asset event). Under the incident ledger's lock it evaluates every port of the
mesh, writes one outbox batch (each port's freshness assertion and this check's result, and the
incidents that open or resolve), and only then marks them in the ledger (key
'freshness:<port id>'): a port that stays stale raises nothing new, and a fresh publication
resolves the incident its stale period opened. The report names the ports that turned stale, so
their owners are told once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional

from dataproducts.core import freshness, naming
from dataproducts.core.mesh import Mesh
from dataproducts.core.project import Project
from dataproducts.metadata import freshness_assertions as build
from dataproducts.metadata.datasets import product_datasets
from dataproducts.metadata.delivery import enqueue
from dataproducts.metadata.incident_ledger import FRESHNESS_PREFIX, IncidentLedger, incident_ledger
from dataproducts.metadata.run_record import OpenIncident

log = logging.getLogger("dataproducts.freshness")

LEDGER_PREFIX = FRESHNESS_PREFIX


@dataclass(frozen=True)
class PortCheck:
    port: freshness.PortSla
    result: freshness.Freshness
    change: Optional[str] = None  # freshness.RAISE, freshness.RESOLVE or None
    incident: Optional[OpenIncident] = None  # the one raised or resolved


@dataclass
class FreshnessReport:
    checks: list[PortCheck] = field(default_factory=list)
    batch: Optional[str] = None  # the outbox batch that carries the check

    def changed(self, change: str) -> list[PortCheck]:
        return [c for c in self.checks if c.change == change]

    @property
    def stale(self) -> list[PortCheck]:
        return [c for c in self.checks if c.result.stale]


def check_freshness(project: Project, mesh: Mesh, published: Mapping[str, dt.datetime], now: dt.datetime) -> FreshnessReport:
    """`published`: port id -> the time of its latest publication (ports never published are absent)."""
    at_ms = int(now.timestamp() * 1000)
    datasets = port_datasets(mesh)
    report, mcps = FreshnessReport(), []
    with incident_ledger(project) as ledger:
        for port in freshness.port_slas(mesh.products[p] for p in sorted(mesh.products)):
            result = freshness.evaluate(published.get(port.port_id), port.max_age_hours, now)
            dataset = datasets.get(port.port_id)
            opened = ledger.open_incident(LEDGER_PREFIX + port.port_id)
            change = freshness.incident_change(opened is not None, result.state)
            if dataset is not None:
                mcps += build.assertion_mcps(port, dataset, result, at_ms)
            if change == freshness.RAISE:
                opened = build.stale_incident(port, result, at_ms)
            if change is not None and opened is not None:
                resolution = f"Resolved: {result.describe()}." if change == freshness.RESOLVE else None
                mcps.append(build.incident_mcp(port, dataset, opened, resolution, at_ms))
            report.checks.append(PortCheck(port, result, change, opened if change else None))
        mcps += _resolve_gone(ledger, mesh, report, at_ms)
        if mcps:
            report.batch = enqueue(project, f"freshness-{at_ms}", mcps).name
        _commit(ledger, report)
    return report


def _resolve_gone(ledger: IncidentLedger, mesh: Mesh, report: FreshnessReport, at_ms: int) -> list:
    """Incidents of ports no longer in the mesh (spec deleted, port removed) are resolved; those of a
    broken spec stay open until it loads again."""
    checked = {c.port.port_id for c in report.checks}
    mcps = []
    for key, incident in ledger.open_incidents(LEDGER_PREFIX):
        port_id = key[len(LEDGER_PREFIX) :]
        product_id, port_name = naming.split_port_id(port_id)
        if port_id in checked or product_id in mesh.broken:
            continue
        port = freshness.PortSla(product_id, port_name, None)
        mcps.append(build.incident_mcp(port, None, incident, GONE, at_ms))
        report.checks.append(PortCheck(port, freshness.Freshness(freshness.NO_SLA, None), freshness.RESOLVE, incident))
    return mcps


GONE = "Resolved: the port is no longer in the mesh (its spec was deleted or the port removed)."


def _commit(ledger: IncidentLedger, report: FreshnessReport) -> None:
    for check in report.checks:
        if check.change is not None:
            ledger.mark(LEDGER_PREFIX + check.port.port_id, check.incident if check.change == freshness.RAISE else None)


def port_datasets(mesh: Mesh) -> dict[str, str]:
    """Port id -> its dataset's URN; a product whose dbt manifest cannot be read has none."""
    found: dict[str, str] = {}
    for product_id in sorted(mesh.products):
        try:
            datasets = product_datasets(mesh, product_id)
        except ValueError as exc:
            log.warning("freshness of %s is checked without its datasets: %s", product_id, exc)
            continue
        found.update({naming.port_id(product_id, o.port.name): o.urn for o in datasets.outputs})
    return found


def log_line(report: FreshnessReport) -> str:
    counts = {state: sum(1 for c in report.checks if c.result.state == state) for state in freshness.ORDER}
    stale = ", ".join(f"{c.port.port_id} ({c.result.describe()})" for c in report.stale)
    return (
        "freshness: "
        + ", ".join(f"{n} {state}" for state, n in counts.items() if n)
        + (f"; stale: {stale}" if stale else "")
        + f"; incidents raised {len(report.changed(freshness.RAISE))}, resolved {len(report.changed(freshness.RESOLVE))}"
    )
