"""What an interrupted backfill had already rebuilt, so that running the same command again resumes.

One small JSON file per product in `<state dir>/reruns/`, rewritten atomically after every date that
was rebuilt in full (the product and its downstream). A rerun with the same product, dates and
options resumes after the last such date; any other rerun of the product starts afresh and
replaces the file; a finished one removes it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dataproducts.core.files import atomic_write_bytes


@dataclass(frozen=True)
class RerunRequest:
    product_id: str
    dates: tuple[str, ...]
    full_refresh: bool = False
    downstream: bool = True


@dataclass
class RerunLedger:
    path: Path
    request: RerunRequest
    done: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, state_dir: Path, request: RerunRequest, restart: bool = False) -> RerunLedger:
        """The ledger of this very request, with the dates an interrupted run already rebuilt."""
        path = state_dir / "reruns" / f"{request.product_id}.json"
        if restart or not path.is_file():
            return cls(path, request)
        try:
            saved = json.loads(path.read_text())
            same = saved.get("request") == _jsonable(request)
            return cls(path, request, [d for d in saved.get("done", []) if d in request.dates] if same else [])
        except (OSError, ValueError, AttributeError):  # unreadable: start afresh rather than guess
            return cls(path, request)

    def mark_done(self, business_date: str) -> None:
        self.done.append(business_date)
        atomic_write_bytes(self.path, json.dumps({"request": _jsonable(self.request), "done": self.done}).encode())

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)


def _jsonable(request: RerunRequest) -> dict:
    return {**asdict(request), "dates": list(request.dates)}
