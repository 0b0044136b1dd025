"""Freshness inside running tasks: the catalogue DAG's check of every port, and a consumer's build
saying which of its inputs are stale. Both read each port's latest asset event through the Task
SDK (the execution API; a task may not open Airflow's database) and judge it by the one rule,
dataproducts.core.freshness.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import Any

from dataproducts.core import freshness, naming
from dataproducts.core.mesh import Mesh
from dataproducts.core.notification import StaleNotice
from dataproducts.core.project import Project
from dataproducts.core.spec import DataProductSpec

log = logging.getLogger("dataproducts.freshness")


def latest_publications(port_ids: Iterable[str]) -> dict[str, dt.datetime]:
    """Port id -> the time of its latest asset event (one request per port; absent: never published)."""
    from airflow.sdk.execution_time.context import InletEventsAccessor

    found = {}
    for port_id in port_ids:
        events = list(InletEventsAccessor(asset_name=port_id).ascending(False).limit(1))
        if events:
            found[port_id] = events[0].timestamp.astimezone(dt.UTC)
    return found


def check_mesh(project: Project, mesh: Mesh, context: Any) -> dict[str, Any]:
    """The catalogue DAG's freshness check: DataHub assertions and incidents, owners told once."""
    from dataproducts.metadata.freshness_check import check_freshness, log_line

    ports = [p.port_id for p in freshness.port_slas(mesh.products.values())]
    report = check_freshness(project, mesh, latest_publications(ports), dt.datetime.now(dt.UTC))
    log.info("%s", log_line(report))
    for check in report.changed(freshness.RAISE):
        _tell_owner(mesh.products[check.port.product_id], check.port, check.result, context)
    return {"stale": [c.port.port_id for c in report.stale], "freshness_batch": report.batch}


def _tell_owner(spec: DataProductSpec, port: freshness.PortSla, result: freshness.Freshness, context: Any) -> None:
    from dataproducts.airflow.notify import StalePortNotifier

    notice = StaleNotice(
        product_id=spec.id,
        port_id=port.port_id,
        owner=spec.owner.team,
        contact=spec.owner.contact,
        state=result.describe(),
        published_at=result.published_at.isoformat() if result.published_at else None,
        max_age_hours=port.max_age_hours or 0,
        log_url=getattr(context.get("ti"), "log_url", None),
    )
    StalePortNotifier(notice).notify(context)


def log_stale_inputs(spec: DataProductSpec, producer_of: Callable[[str], DataProductSpec]) -> list[str]:
    """At the start of a build: one warning per stale input (its port, age and SLA); never raises.
    `producer_of` loads a producing product's spec (its SLA). Returns the stale inputs' port ids."""
    try:
        inputs = {naming.port_id(*p.upstream): p for p in spec.product_inputs}
        published = latest_publications(inputs)
        now, stale = dt.datetime.now(dt.UTC), []
        for port_id, port in inputs.items():
            producer = producer_of(port.upstream[0])
            sla = next(s for s in freshness.port_slas([producer]) if s.port == port.upstream[1])
            result = freshness.evaluate(published.get(port_id), sla.max_age_hours, now)
            if result.stale:
                log.warning("%s: input %s (%s) is %s", spec.id, port.name, port_id, result.describe())
                stale.append(port_id)
        return stale
    except Exception as exc:  # telling is a courtesy: it must never cost the build
        log.warning("%s: could not tell whether its inputs are stale (%s: %s)", spec.id, type(exc).__name__, exc)
        return []
