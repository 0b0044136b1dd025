"""Which products have a run-failure incident open (and which ports a freshness incident): the memory that lets a success resolve exactly
the incident a failure opened, and lets a success with nothing open record no incident at all.

One small JSON file next to the outbox (``<state_dir>/datahub/open_incidents.json``), changed
only under its filelock, always in step with the outbox: an incident is marked open or closed
only after the batch that opens or resolves it was written there. A file that cannot be read is
logged and treated as empty (a success then resolves nothing; the next failure opens a new
incident): bookkeeping trouble must never fail a run's metadata.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Optional

import filelock

from dataproducts.core.files import atomic_write_bytes
from dataproducts.core.project import Project
from dataproducts.metadata.run_record import OpenIncident, RunRecord

log = logging.getLogger(__name__)


class IncidentLedger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._open = self._read()

    def _read(self) -> dict[str, OpenIncident]:
        if not self.path.is_file():
            return {}
        try:
            return {pid: OpenIncident(**item) for pid, item in json.loads(self.path.read_text()).items()}
        except (OSError, ValueError, TypeError) as exc:
            log.error("%s is unreadable (%s): treating every product as having no open incident", self.path, exc)
            return {}

    def open_incident(self, product_id: str) -> Optional[OpenIncident]:
        return self._open.get(product_id)

    def open_incidents(self, prefix: str) -> list[tuple[str, OpenIncident]]:
        """Every open incident whose key starts with `prefix`, by key."""
        return sorted(((k, item) for k, item in self._open.items() if k.startswith(prefix)), key=lambda pair: pair[0])

    def attach(self, record: RunRecord) -> RunRecord:
        """The record with the product's open incident, the one it updates (failure) or resolves (success)."""
        return replace(record, incident=self._open.get(record.product_id))

    def commit(self, record: RunRecord, incident: Optional[OpenIncident]) -> None:
        """After the run's batch is in the outbox: a failure leaves `incident` open, a success closes it."""
        if record.succeeded:
            self._open.pop(record.product_id, None)
        elif incident is not None:
            self._open[record.product_id] = incident
        self._save()

    def mark(self, key: str, incident: Optional[OpenIncident]) -> None:
        """Other incidents, by a key of their own (a stale port: 'freshness:<port id>'): `incident`
        is open from now on, None closes it. Saved at once, after its batch is in the outbox."""
        if incident is None:
            self._open.pop(key, None)
        else:
            self._open[key] = incident
        self._save()

    def _save(self) -> None:
        document = {pid: asdict(item) for pid, item in sorted(self._open.items())}
        atomic_write_bytes(self.path, json.dumps(document, indent=1).encode())


FRESHNESS_PREFIX = "freshness:"  # a stale port's incident: 'freshness:<port id>' (metadata/freshness_check.py)


def ledger_path(project: Project) -> Path:
    return project.state_dir / "datahub" / "open_incidents.json"


@contextlib.contextmanager
def incident_ledger(project: Project) -> Iterator[IncidentLedger]:
    """The ledger, held under its lock for the whole read, build, enqueue, commit sequence."""
    path = ledger_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(path.with_suffix(".lock")):
        yield IncidentLedger(path)
