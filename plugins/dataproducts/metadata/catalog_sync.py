"""Keeping the catalogue equal to the specs, runs or not.

A product that exists only as a spec is already discoverable; a changed spec is re-published; a
deleted spec's product is marked removed (not left stale). What was last published is remembered
in a small state file next to the outbox (a digest and the outbox batch that carried it), so
unchanged products cost nothing to sync; a product whose last batch was quarantined (so never
delivered) is published again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Optional

from dataproducts.core.files import atomic_write_bytes
from dataproducts.core.mesh import Mesh
from dataproducts.metadata import compiled_sql
from dataproducts.metadata.catalog import catalog_mcps, removed_mcps
from dataproducts.metadata.delivery import enqueue, outbox_for
from dataproducts.metadata.plugin_config import plugin_config


@dataclass
class SyncReport:
    published: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept_broken: list[str] = field(default_factory=list)  # broken specs: their last good metadata stays


def sync_catalog(mesh: Mesh, git_revision: Optional[str], airflow_base_url: str) -> SyncReport:
    state_path = mesh.project.state_dir / "datahub" / "catalog_state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    report = SyncReport()
    undelivered = {q.name for q in outbox_for(mesh.project).quarantined()}
    plugin = plugin_config()
    sql = compiled_sql.remembered(mesh.project)  # what the products' latest runs compiled: column lineage
    for product_id in sorted(mesh.products):
        mcps = catalog_mcps(mesh, product_id, git_revision, airflow_base_url, plugin=plugin, compiled_sql=sql)
        digest = _digest(mcps)
        last = state.get(product_id, {})
        if last.get("digest") == digest and last.get("batch") not in undelivered:
            report.unchanged.append(product_id)
            continue
        batch = enqueue(mesh.project, f"catalog-{product_id}", mcps)
        datasets = sorted({m.entityUrn for m in mcps if m.entityType == "dataset" and m.aspectName == "datasetProperties"})
        state[product_id] = {"digest": digest, "datasets": datasets, "batch": batch.name}
        report.published.append(product_id)
    for product_id in sorted(set(state) - set(mesh.entries)):
        enqueue(mesh.project, f"removed-{product_id}", removed_mcps(product_id, state[product_id]["datasets"], plugin=plugin))
        del state[product_id]
        report.removed.append(product_id)
    report.kept_broken = sorted(set(mesh.broken) & set(state))
    state_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(state_path, json.dumps(state, indent=1, sort_keys=True).encode())
    return report


def _digest(mcps) -> str:
    payload = json.dumps([m.to_obj() for m in mcps], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
