"""The last 30 days of product runs: what the quality score (core/quality_score) judges runs and
freshness by, and where the latest quality warnings are read from.

One JSON-lines file in the state dir (``<state_dir>/history/runs.jsonl``), appended to by every
product run's `emit_metadata` task (a run whose build was skipped is not a run here). Bounded: each
append drops entries older than 30 days and keeps at most MAX_ENTRIES; it rewrites the file
atomically under a file lock. A line that cannot be read is skipped (the history is evidence for
a score, never a reason to fail a run).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import filelock

from dataproducts.core.files import atomic_write_bytes
from dataproducts.core.quality_score import WINDOW, RunFact

log = logging.getLogger(__name__)

MAX_ENTRIES = 20_000  # ~ 7 products x 24 runs a day x 30 days, five times over


@dataclass(frozen=True)
class HistoryEntry:
    product_id: str
    run_id: str
    try_number: int
    ended_at: str  # ISO 8601, UTC
    succeeded: bool
    business_date: Optional[str] = None
    published: list[str] = field(default_factory=list)  # port ids published by the run
    warnings: list[str] = field(default_factory=list)  # messages of the warn rules that failed

    @property
    def ended(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.ended_at)

    def fact(self) -> RunFact:
        return RunFact(self.ended, self.succeeded, tuple(self.published))


def history_path(state_dir: Path) -> Path:
    return state_dir / "history" / "runs.jsonl"


def read(state_dir: Path) -> list[HistoryEntry]:
    """Every entry, oldest first."""
    path = history_path(state_dir)
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            entries.append(HistoryEntry(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            log.warning("%s:%d is not a run history entry (%s); skipped", path, number, exc)
    return entries


def append(state_dir: Path, entry: HistoryEntry, now: Optional[dt.datetime] = None) -> None:
    """Add one run; entries older than 30 days (and beyond MAX_ENTRIES) leave the file."""
    path = history_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    cutoff = (now or dt.datetime.now(dt.UTC)) - WINDOW
    with filelock.FileLock(path.with_suffix(".lock")):
        kept = [
            e
            for e in read(state_dir)
            if e.ended >= cutoff and (e.product_id, e.run_id, e.try_number) != (entry.product_id, entry.run_id, entry.try_number)
        ]
        kept = [*kept, entry][-MAX_ENTRIES:]
        atomic_write_bytes(path, "".join(json.dumps(asdict(e), sort_keys=True) + "\n" for e in kept).encode())


def of_product(entries: Iterable[HistoryEntry], product_id: str) -> list[HistoryEntry]:
    return [e for e in entries if e.product_id == product_id]


def latest_warnings(entries: Iterable[HistoryEntry], product_id: str) -> list[str]:
    """The quality warnings of the product's latest successful run (empty: none, or no run yet)."""
    done = [e for e in of_product(entries, product_id) if e.succeeded]
    return list(done[-1].warnings) if done else []
