"""Every product's quality score (core/quality_score) from the facts the platform keeps: the spec
and its dbt manifest, the run history (core/run_history) and the open incidents (the incident
ledger: a failed run's, and a stale port's). Used by the product run, the catalogue DAG, the CLI
and the Data mesh page alike, so they show the same numbers."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Optional

from dataproducts.core import naming, run_history
from dataproducts.core.manifest import Manifest, ManifestError, load_manifest
from dataproducts.core.mesh import Mesh
from dataproducts.core.quality_score import Score, score
from dataproducts.core.spec import DataProductSpec
from dataproducts.metadata.incident_ledger import FRESHNESS_PREFIX, IncidentLedger, ledger_path

log = logging.getLogger("dataproducts.metadata")


def open_incidents(ledger: IncidentLedger, spec: DataProductSpec, run_failed: Optional[bool] = None) -> int:
    """The product's open run-failure incident and its ports' open freshness incidents;
    `run_failed`: the run being delivered decides the first (a failure leaves one open)."""
    ports = [FRESHNESS_PREFIX + naming.port_id(spec.id, p.name) for p in spec.output_ports]
    run_incident = ledger.open_incident(spec.id) is not None if run_failed is None else run_failed
    return int(run_incident) + sum(1 for key in ports if ledger.open_incident(key) is not None)


def scores(
    mesh: Mesh,
    now: dt.datetime,
    product_ids: Optional[Iterable[str]] = None,
    ledger: Optional[IncidentLedger] = None,
    run_failed: Optional[bool] = None,
) -> dict[str, Score]:
    """Product id -> its score at `now` (all products of the mesh, or those named; `run_failed`
    as in open_incidents, for the one product whose run is being delivered)."""
    ledger = ledger or IncidentLedger(ledger_path(mesh.project))
    history = run_history.read(mesh.project.state_dir)
    found = {}
    for product_id in sorted(product_ids if product_ids is not None else mesh.products):
        spec = mesh.products[product_id]
        facts = [e.fact() for e in run_history.of_product(history, product_id)]
        found[product_id] = score(spec, _manifest(mesh, spec), facts, open_incidents(ledger, spec, run_failed), now)
    return found


def _manifest(mesh: Mesh, spec: DataProductSpec) -> Optional[Manifest]:
    try:
        return load_manifest(mesh.project.manifest_path(spec.transform.dbt.project))
    except ManifestError as exc:
        log.warning("%s is scored without its dbt manifest: %s", spec.id, exc)
        return None
