"""A port's freshness as DataHub sees it: a freshness assertion on the port's dataset (its SLA as a
fixed interval), one run event per check (SUCCESS fresh, FAILURE stale), and an incident of type
FRESHNESS while the port is stale. Pure builders: the checker (metadata/freshness_check.py)
decides when an incident opens or resolves."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from datahub.emitter.mcp import MetadataChangeProposalWrapper as MCPW
from datahub.metadata import schema_classes as models

from dataproducts.core.freshness import FRESH, STALE, Freshness, PortSla
from dataproducts.metadata import urns
from dataproducts.metadata.aspects import stamp
from dataproducts.metadata.run_record import OpenIncident

_RESULTS = {FRESH: models.AssertionResultTypeClass.SUCCESS, STALE: models.AssertionResultTypeClass.FAILURE}


def assertion_mcps(port: PortSla, dataset: str, result: Freshness, checked_at_ms: int) -> list[MCPW]:
    """The assertion (only for a port with an SLA) and, once the port has published, this check's result."""
    if port.max_age_hours is None:
        return []
    assertion = urns.freshness_assertion_urn(port.port_id)
    info = models.AssertionInfoClass(
        type=models.AssertionTypeClass.FRESHNESS,
        freshnessAssertion=models.FreshnessAssertionInfoClass(
            type=models.FreshnessAssertionTypeClass.DATASET_CHANGE,
            entity=dataset,
            schedule=models.FreshnessAssertionScheduleClass(
                type=models.FreshnessAssertionScheduleTypeClass.FIXED_INTERVAL, fixedInterval=_interval(port.max_age_hours)
            ),
        ),
        description=f"{port.port_id} publishes at least every {port.max_age_hours:g} h (freshness.max_age_hours)",
        customProperties={"data_product": port.product_id, "port": port.port, "max_age_hours": f"{port.max_age_hours:g}"},
        source=models.AssertionSourceClass(type=models.AssertionSourceTypeClass.EXTERNAL),
        entityUrn=dataset,
    )
    mcps = [MCPW(entityUrn=assertion, aspect=info)]
    if result.state in _RESULTS:
        native = {"state": result.state, "age_hours": f"{result.age_hours:g}", "max_age_hours": f"{port.max_age_hours:g}"}
        if result.published_at:
            native["published_at"] = result.published_at.isoformat()
        event = models.AssertionRunEventClass(
            timestampMillis=checked_at_ms,
            runId=f"dataproducts-freshness-{checked_at_ms}",
            asserteeUrn=dataset,
            assertionUrn=assertion,
            status=models.AssertionRunStatusClass.COMPLETE,
            result=models.AssertionResultClass(type=_RESULTS[result.state], nativeResults=native),
        )
        mcps.append(MCPW(entityUrn=assertion, aspect=event))
    return mcps


def _interval(hours: float) -> models.FixedIntervalScheduleClass:
    if float(hours).is_integer():
        return models.FixedIntervalScheduleClass(unit=models.CalendarIntervalClass.HOUR, multiple=int(hours))
    return models.FixedIntervalScheduleClass(unit=models.CalendarIntervalClass.MINUTE, multiple=round(hours * 60))


def stale_incident(port: PortSla, result: Freshness, checked_at_ms: int) -> OpenIncident:
    """The incident a port opens when it turns stale, keyed by the publication it went stale after."""
    published = result.published_at.isoformat() if result.published_at else "never"
    return OpenIncident(
        opened_by=published,
        opened_at_ms=checked_at_ms,
        title=f"{port.port_id} is stale",
        description=(
            f"The latest publication of output port {port.port_id} was at {published}, "
            f"older than its freshness SLA of {port.max_age_hours:g} h ({result.describe()})."
        ),
    )


def incident_mcp(port: PortSla, dataset: Optional[str], incident: OpenIncident, resolution: Optional[str], at_ms: int) -> MCPW:
    """ACTIVE while stale; RESOLVED (title and description kept) with the `resolution` message."""
    if resolution is None:
        state, stage, message = models.IncidentStateClass.ACTIVE, models.IncidentStageClass.TRIAGE, incident.description
    else:
        state, stage, message = models.IncidentStateClass.RESOLVED, models.IncidentStageClass.FIXED, resolution
    stale_from = _stale_from(incident, port)
    return MCPW(
        entityUrn=urns.freshness_incident_urn(port.port_id, incident.opened_by),
        aspect=models.IncidentInfoClass(
            type=models.IncidentTypeClass.FRESHNESS,
            entities=[e for e in (dataset, urns.data_product_urn(port.product_id)) if e],
            status=models.IncidentStatusClass(state=state, stage=stage, message=message, lastUpdated=stamp(at_ms)),
            created=stamp(incident.opened_at_ms),
            title=incident.title,
            description=incident.description,
            source=models.IncidentSourceClass(
                type=models.IncidentSourceTypeClass.ASSERTION_FAILURE, sourceUrn=urns.freshness_assertion_urn(port.port_id)
            ),
            startedAt=stale_from if stale_from is not None else incident.opened_at_ms,
        ),
    )


def _stale_from(incident: OpenIncident, port: PortSla) -> Optional[int]:
    """When the port turned stale: its publication time plus its SLA (None: not known)."""
    if port.max_age_hours is None:
        return None
    try:
        published = dt.datetime.fromisoformat(incident.opened_by)
    except ValueError:
        return None
    return int((published + dt.timedelta(hours=port.max_age_hours)).timestamp() * 1000)
