"""Recording a run in the run history and sending quality scores to DataHub through the outbox:
on every product run (its own score, after its run is recorded) and from the catalogue DAG (every
product's, as incidents open and close and the 30-day window moves)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Optional

from dataproducts.core import naming, run_history
from dataproducts.core.files import atomic_write_bytes
from dataproducts.core.mesh import Mesh
from dataproducts.core.quality_score import Score
from dataproducts.core.spec import Severity
from dataproducts.metadata.delivery import enqueue, outbox_for
from dataproducts.metadata.incident_ledger import IncidentLedger
from dataproducts.metadata.run_record import RunRecord
from dataproducts.metadata.score_aspects import definition_mcps, score_mcps
from dataproducts.metadata.scoring import scores

log = logging.getLogger("dataproducts.metadata")


def history_entry(record: RunRecord, mesh: Mesh) -> run_history.HistoryEntry:
    """What the history keeps of a run: a success published every output port of its product."""
    spec = mesh.products.get(record.product_id)
    published = [naming.port_id(spec.id, p.name) for p in spec.output_ports] if spec and record.succeeded else []
    warnings = [q.message for q in record.quality if not q.passed and q.severity == Severity.warn.value]
    return run_history.HistoryEntry(
        product_id=record.product_id,
        run_id=record.run_id,
        try_number=record.try_number,
        ended_at=dt.datetime.fromtimestamp(record.ended_at_ms / 1000, dt.UTC).isoformat(),
        succeeded=record.succeeded,
        business_date=record.business_date,
        published=published,
        warnings=warnings,
    )


def deliver_scores(
    mesh: Mesh, now: dt.datetime, product_ids: Optional[Iterable[str]] = None, ledger: Optional[IncidentLedger] = None
) -> dict[str, Score]:
    """The products' scores; those that changed since they were last sent are enqueued as one
    outbox batch with the property definitions (sent by the caller's flush)."""
    found = scores(mesh, now, product_ids, ledger)
    state_path = mesh.project.state_dir / "datahub" / "score_state.json"
    sent = _read_state(state_path)
    lost = {q.name for q in outbox_for(mesh.project).quarantined()}  # never delivered: send again
    changed = {
        pid: result
        for pid, result in found.items()
        if (sent.get(pid) or {}).get("digest") != _digest(result) or (sent.get(pid) or {}).get("batch") in lost
    }
    if changed:
        mcps = definition_mcps() + [mcp for result in changed.values() for mcp in score_mcps(result)]
        batch = enqueue(mesh.project, f"score-{int(now.timestamp() * 1000)}", mcps).name
        sent.update({pid: {"digest": _digest(result), "batch": batch} for pid, result in changed.items()})
        atomic_write_bytes(state_path, json.dumps(sent, indent=1, sort_keys=True).encode())
    return found


def _digest(result: Score) -> str:
    """What DataHub holds of a score: the total and each part's points."""
    return json.dumps([result.total, [p.points for p in result.parts]])


def _read_state(path: Path) -> dict[str, dict[str, str]]:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        log.warning("%s is unreadable: every score is sent again", path)
        return {}


def record_run(mesh: Mesh, record: RunRecord, ledger: IncidentLedger) -> Optional[Score]:
    """After a run's batch is in the outbox and its incident committed: the run into the history,
    the product's new score into the outbox. Never raises: a score is not worth a run's metadata."""
    try:
        run_history.append(mesh.project.state_dir, history_entry(record, mesh))
        if record.product_id not in mesh.products:
            return None
        result = deliver_scores(mesh, dt.datetime.now(dt.UTC), [record.product_id], ledger)[record.product_id]
        log.info("%s: quality score %d/100", record.product_id, result.total)
        return result
    except Exception:
        log.exception("could not record %s run %s in the run history or score it", record.product_id, record.run_id)
        return None
