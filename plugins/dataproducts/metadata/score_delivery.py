"""Recording a run in the run history and sending quality scores to DataHub through the outbox:
on every product run (its own score, in the run's own batch, after the run is recorded) and from
the catalogue DAG (every product's, as incidents open and close and the 30-day window moves).
A score is sent only when it changed since it was last sent (``score_state.json`` next to the
outbox), or when the batch that carried it was quarantined."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
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
    outbox batch with the property definitions (sent by the caller's flush). The catalogue DAG's."""
    found = scores(mesh, now, product_ids, ledger)
    changed = _changed(mesh, found)
    if changed:
        mcps = definition_mcps() + [mcp for result in changed.values() for mcp in score_mcps(result)]
        _remember(mesh, changed, enqueue(mesh.project, f"score-{int(now.timestamp() * 1000)}", mcps).name)
    return found


@dataclass
class RunScore:
    """A run's score: its MCPs go in the run's own batch; `sent` remembers them once written."""

    mesh: Mesh
    result: Optional[Score] = None
    mcps: list = field(default_factory=list)

    def sent(self, batch: str) -> None:
        if self.mcps and self.result is not None:
            _remember(self.mesh, {self.result.product_id: self.result}, batch)


def run_score(mesh: Mesh, record: RunRecord, ledger: IncidentLedger) -> RunScore:
    """The product's score as the run leaves it (its incident open after a failure, resolved by a
    success), as MCPs when it changed. Never raises: a score is not worth a run's metadata."""
    if record.product_id not in mesh.products:
        return RunScore(mesh)
    try:
        found = scores(mesh, dt.datetime.now(dt.UTC), [record.product_id], ledger, run_failed=not record.succeeded)
        result = found[record.product_id]
        log.info("%s: quality score %d/100", record.product_id, result.total)
        changed = _changed(mesh, found)
        return RunScore(mesh, result, definition_mcps() + score_mcps(result) if changed else [])
    except Exception:
        log.exception("could not score %s after run %s", record.product_id, record.run_id)
        return RunScore(mesh)


def record_run(mesh: Mesh, record: RunRecord) -> None:
    """The run into the run history (before it is scored). Never raises."""
    try:
        run_history.append(mesh.project.state_dir, history_entry(record, mesh))
    except Exception:
        log.exception("could not record %s run %s in the run history", record.product_id, record.run_id)


def _state_path(mesh: Mesh) -> Path:
    return mesh.project.state_dir / "datahub" / "score_state.json"


def _changed(mesh: Mesh, found: dict[str, Score]) -> dict[str, Score]:
    """The scores DataHub does not hold yet: changed since last sent, or sent in a quarantined batch."""
    sent = _read_state(_state_path(mesh))
    lost = {q.name for q in outbox_for(mesh.project).quarantined()}
    return {
        pid: result
        for pid, result in found.items()
        if (sent.get(pid) or {}).get("digest") != _digest(result) or (sent.get(pid) or {}).get("batch") in lost
    }


def _remember(mesh: Mesh, results: dict[str, Score], batch: str) -> None:
    sent = _read_state(_state_path(mesh))
    sent.update({pid: {"digest": _digest(result), "batch": batch} for pid, result in results.items()})
    atomic_write_bytes(_state_path(mesh), json.dumps(sent, indent=1, sort_keys=True).encode())


def _digest(result: Score) -> str:
    """What DataHub holds of a score: the total and each part's points."""
    return json.dumps([result.total, [p.points for p in result.parts]])


def _read_state(path: Path) -> dict[str, dict[str, str]]:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        log.warning("%s is unreadable: every score is sent again", path)
        return {}
