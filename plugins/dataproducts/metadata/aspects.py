"""Shared pieces of the pure metadata builders: audit stamps, ownership, tags, terms, ordering.

Everything the builders make is a function of the mesh (specs + dbt manifests) and, for runs, a
RunRecord: no network, no Airflow, no wall clock. Catalogue metadata carries time 0 wherever an
AuditStamp is required; run metadata carries the record's own times. Every list comes back
de-duplicated and sorted, so the same input gives byte-identical output. Only plain UPSERT
MetadataChangeProposalWrappers are produced (DataHub Lite accepts no patches).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from datahub.emitter import mce_builder
from datahub.emitter.mcp import MetadataChangeProposalWrapper as MCPW
from datahub.metadata import schema_classes as models

from dataproducts.metadata import urns
from dataproducts.metadata.plugin_config import PluginConfig

ACTOR = "urn:li:corpuser:datahub"
CATALOG_TIME = 0  # catalog metadata has no meaningful time of its own; 0 keeps it deterministic


def stamp(time_ms: int = CATALOG_TIME) -> models.AuditStampClass:
    return models.AuditStampClass(time=time_ms, actor=ACTOR)


def dag_url(airflow_base_url: str, dag_id: str) -> str:
    return f"{airflow_base_url.rstrip('/')}/dags/{dag_id}"


def ownership(team: str, plugin: PluginConfig) -> models.OwnershipClass:
    """The spec's team as the technical owner, named as the DataHub plugin names the DAG's owner."""
    return models.OwnershipClass(
        owners=[models.OwnerClass(owner=plugin.owner_urn(team), type=models.OwnershipTypeClass.TECHNICAL_OWNER)],
        lastModified=stamp(),
    )


def tags(names: Iterable[str]) -> models.GlobalTagsClass:
    return models.GlobalTagsClass(tags=[models.TagAssociationClass(tag=urns.tag_urn(t)) for t in sorted(set(names))])


def terms(names: Iterable[str]) -> list[models.GlossaryTermsClass]:
    """The spec's glossary terms as one aspect (none when the spec has no terms)."""
    if not names:
        return []
    associations = [models.GlossaryTermAssociationClass(urn=mce_builder.make_term_urn(t)) for t in sorted(set(names))]
    return [models.GlossaryTermsClass(terms=associations, auditStamp=stamp())]


_ENTITY_ORDER = ["domain", "dataProduct", "dataset", "dataFlow", "dataJob", "dataProcessInstance", "assertion", "incident"]


def ordered(mcps: list[MCPW]) -> list[MCPW]:
    """Drop exact duplicates; sort by entity type, URN and aspect (stable, so a run's STARTED event stays
    before its COMPLETE event)."""
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for mcp in mcps:
        key = (mcp.entityUrn, mcp.aspectName or "", json.dumps(mcp.aspect.to_obj(), sort_keys=True) if mcp.aspect else "")
        if key not in seen:
            seen.add(key)
            unique.append(mcp)

    def rank(mcp: MCPW) -> tuple:
        kind = mcp.entityType
        return (
            _ENTITY_ORDER.index(kind) if kind in _ENTITY_ORDER else len(_ENTITY_ORDER),
            kind,
            mcp.entityUrn,
            mcp.aspectName or "",
        )

    return sorted(unique, key=rank)
