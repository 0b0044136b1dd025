"""A durable, ordered outbox for DataHub metadata.

"DataHub being down must never fail the data and must never lose the metadata": a run
writes its metadata here (a local, fsync'ed file per batch) and returns; a flush then
delivers the pending batches, oldest first, to a sink (DataHub GMS over REST, a file,
DataHub Lite). A batch leaves the outbox only after the sink accepted every MCP of it.

Layout of the outbox directory::

    <dir>/01764478323123456789-1a2b3c4d-n00012-inventory.listings_run1.json   a pending batch:
          write time (ns, 20 digits: names sort in write order), random, MCP count, sanitized batch id
    <dir>/.tmp-....part          a write in progress (or left by a crash; ignored, swept after an hour)
    <dir>/.flush.lock            held by the one flusher at a time (``filelock``: an OS lock, released
                                 when its process dies, even by SIGKILL)
    <dir>/sent/                  the last `keep_sent` delivered batches, for debugging (bounded)
    <dir>/quarantine/            batch files that could not be parsed, each with ``<name>.reason``
                                 (why, when); never deleted automatically. They count in the backlog
                                 (:meth:`Outbox.status`, every flush's log line) until an operator
                                 retries or drops them (``dataproducts metadata quarantine ...``)
    <dir>/unbuilt/               raw documents (a run's record) whose metadata could not be built when
                                 they were written (a builder bug, a manifest that was unreadable then);
                                 every flush tries to build them into batches again (:meth:`Outbox.defer`)

Batch file format: a JSON array of ``MetadataChangeProposalWrapper.to_obj()`` objects, i.e.
DataHub's file format with the aspect as a nested JSON string (what the file sink writes
with ``legacy_nested_json_string: true``). ``MetadataChangeProposalWrapper.from_obj`` turns
it back into equal wrappers, and DataHub's own file source
(``datahub.ingestion.source.file.read_metadata_file``, ``datahub ingest`` with a ``file``
source) reads it too, so an operator can replay a batch by hand.

Delivery is at-least-once: if the process dies after the sink accepted a batch but before
the file was removed, the next flush sends the batch again. That is harmless because every
MCP is a plain UPSERT of a whole aspect, and upserts are idempotent (the same aspect value
written twice leaves the same state; DataHub and DataHub Lite do not even create a new
version for an unchanged value). The outbox stamps ``systemMetadata.lastObserved`` when the
batch is written (when the caller left it unset), so a re-send is byte-for-byte the same
proposal and DataHub records when the metadata was observed, not when an outage ended.

Writing the same ``batch_id`` twice keeps both batches (distinct files, both delivered in
write order): the outbox never deduplicates, so nothing a caller wrote can be lost; the
later batch wins for any aspect both contain, which is what "the last run wins" needs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import filelock

from dataproducts.core.files import TMP_PREFIX, atomic_write_bytes, fsync_dir
from dataproducts.metadata.sinks import Sink

logger = logging.getLogger(__name__)

BATCH_NAME = re.compile(r"^(?P<ns>\d{20})-(?P<rand>[0-9a-f]{8})-n(?P<count>\d{5,})-(?P<label>[A-Za-z0-9._-]*)\.json$")
LOCK_NAME = ".flush.lock"
SENT_DIR = "sent"
QUARANTINE_DIR = "quarantine"
UNBUILT_DIR = "unbuilt"
REASON_SUFFIX = ".reason"  # not .json: a reason file must never look like a batch
STALE_TMP_SEC = 3600  # a leftover temp file older than this is a crash's, not a write in progress
_MAX_LABEL = 100

_clock_lock = threading.Lock()
_last_ns = 0


def _monotonic_ns() -> int:
    """Wall-clock nanoseconds, strictly increasing within this process (names sort in write order)."""
    global _last_ns
    with _clock_lock:
        _last_ns = max(time.time_ns(), _last_ns + 1)
        return _last_ns


def safe_label(batch_id: str) -> str:
    """A file-name-safe rendering of free-text batch ids: no separators, no leading dots, bounded."""
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", str(batch_id)).strip("._-")
    label = re.sub(r"\.{2,}", ".", label)
    return label[:_MAX_LABEL] or "batch"


class CorruptBatch(Exception):
    """A batch file that cannot be turned back into MCPs."""


@dataclass(frozen=True)
class Batch:
    path: Path
    label: str  # the sanitized batch id
    written_ns: int
    mcp_count: int

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class QuarantinedBatch:
    """A batch moved aside because it could not be read back; it waits for an operator."""

    path: Path
    label: str
    mcp_count: int  # as its name says; the file itself may hold fewer
    reason: str
    quarantined_at: str  # ISO 8601, UTC

    @property
    def name(self) -> str:
        return self.path.name

    def __str__(self) -> str:
        return f"{self.name} ({self.mcp_count} MCPs, quarantined {self.quarantined_at}): {self.reason}"


@dataclass(frozen=True)
class Backlog:
    """What waits: pending batches (to be sent) and quarantined ones (to be looked at)."""

    batches: int
    mcps: int
    quarantined: tuple[QuarantinedBatch, ...] = ()
    unbuilt: int = 0  # raw documents waiting to be built into batches

    def __str__(self) -> str:
        text = f"{self.batches} batches ({self.mcps} MCPs) waiting"
        if self.unbuilt:
            text += f", {self.unbuilt} run records waiting to be built"
        if self.quarantined:
            text += f", {len(self.quarantined)} quarantined (see `dataproducts metadata quarantine list`)"
        return text


@dataclass(frozen=True)
class FlushReport:
    sent_batches: int
    sent_mcps: int
    remaining_batches: int
    error: Optional[str] = None
    remaining_mcps: int = 0
    quarantined: int = 0  # batches this flush moved aside
    busy: bool = False  # another flush held the lock; nothing was attempted
    quarantine: tuple[QuarantinedBatch, ...] = ()  # everything in quarantine after the flush

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        text = f"sent {self.sent_batches} batches ({self.sent_mcps} MCPs); {self.remaining_batches} batches wait"
        if self.quarantine:
            text += f"; {len(self.quarantine)} quarantined: " + "; ".join(str(q) for q in self.quarantine)
        if self.error:
            text += f"; error: {self.error}"
        return text


def _stamp_system_metadata(obj: dict, now_ms: int) -> dict:
    """Set systemMetadata.lastObserved (when unset) on a serialized MCP, so re-sends are identical."""
    system_metadata = obj.get("systemMetadata")
    if system_metadata is None:
        from datahub.metadata.schema_classes import SystemMetadataClass

        obj["systemMetadata"] = SystemMetadataClass(lastObserved=now_ms).to_obj()
    elif not system_metadata.get("lastObserved"):
        system_metadata["lastObserved"] = now_ms
    return obj


def mcp_from_obj(obj: dict) -> Any:
    """A serialized MCP back to a MetadataChangeProposalWrapper (or a raw MCP for unknown aspects)."""
    from datahub.emitter.mcp import MetadataChangeProposalWrapper

    # from_obj rewrites obj["aspect"] in place for the simplified form: hand it a copy.
    item = MetadataChangeProposalWrapper.from_obj(json.loads(json.dumps(obj)))
    if not item.validate():
        raise ValueError(f"invalid MCP for {obj.get('entityUrn')!r} aspect {obj.get('aspectName')!r}")
    return item


class Outbox:
    """A directory of pending metadata batches; see the module docstring."""

    def __init__(self, directory: Path | str, keep_sent: int = 20) -> None:
        self.directory = Path(directory)
        self.keep_sent = keep_sent

    # ------------------------------------------------------------------ writing
    def write(self, batch_id: str, mcps: Iterable[Any]) -> Path:
        """Durably add one batch; returns its file. Raises if the batch cannot be serialized or written."""
        now_ms = int(time.time() * 1000)
        objs = [_stamp_system_metadata(mcp.to_obj(), now_ms) for mcp in mcps]
        data = json.dumps(objs, indent=1).encode()
        self.directory.mkdir(parents=True, exist_ok=True)
        # Strictly after every pending batch, even if the wall clock stepped back since it was written.
        newest = max((b.written_ns for b in self.pending()), default=0)
        ns = max(_monotonic_ns(), newest + 1)
        name = f"{ns:020d}-{secrets.token_hex(4)}-n{len(objs):05d}-{safe_label(batch_id)}.json"
        path = self.directory / name
        if path.parent != self.directory:  # the label has no separators; belt and braces
            raise ValueError(f"outbox batch name {name!r} leads out of {self.directory}")
        atomic_write_bytes(path, data)
        logger.debug("outbox: wrote batch %s (%d MCPs)", name, len(objs))
        return path

    # ------------------------------------------------------------------ reading
    def pending(self) -> list[Batch]:
        """Pending batches, oldest first (temp files, lock and sub-directories are not batches)."""
        if not self.directory.is_dir():
            return []
        batches = []
        for entry in os.scandir(self.directory):
            match = BATCH_NAME.match(entry.name)
            if match and entry.is_file(follow_symlinks=False):
                batches.append(
                    Batch(
                        path=Path(entry.path),
                        label=match["label"],
                        written_ns=int(match["ns"]),
                        mcp_count=int(match["count"]),
                    )
                )
        batches.sort(key=lambda b: b.name)
        return batches

    def backlog(self) -> tuple[int, int]:
        """(pending batches, pending MCPs), from the file names alone (cheap even for a long outage)."""
        batches = self.pending()
        return len(batches), sum(b.mcp_count for b in batches)

    def status(self) -> Backlog:
        batches, mcps = self.backlog()
        return Backlog(batches, mcps, tuple(self.quarantined()), len(self.unbuilt()))

    # ----------------------------------------------------------------- unbuilt
    def defer(self, batch_id: str, document: dict) -> Path:
        """Durably keep a raw JSON document whose batch cannot be built now; see :meth:`unbuilt`."""
        directory = self.directory / UNBUILT_DIR
        path = directory / f"{_monotonic_ns():020d}-{secrets.token_hex(4)}-n00000-{safe_label(batch_id)}.json"
        atomic_write_bytes(path, json.dumps({"batch_id": batch_id, **document}, indent=1, default=str).encode())
        return path

    def unbuilt(self) -> list[Path]:
        """Deferred documents, oldest first; the caller builds each into a batch (write), then removes it."""
        directory = self.directory / UNBUILT_DIR
        return sorted(p for p in directory.iterdir() if BATCH_NAME.match(p.name)) if directory.is_dir() else []

    def read(self, batch: Batch | Path) -> list:
        """The MCPs of a batch; raises CorruptBatch when the file cannot be parsed."""
        path = batch.path if isinstance(batch, Batch) else Path(batch)
        try:
            objs = json.loads(path.read_bytes())
            if not isinstance(objs, list):
                raise ValueError("a batch file holds a JSON array")
            return [mcp_from_obj(obj) for obj in objs]
        except FileNotFoundError:
            raise
        except Exception as e:
            raise CorruptBatch(f"{type(e).__name__}: {e}") from e

    # ----------------------------------------------------------------- flushing
    def flush(self, sink: Sink, max_batches: Optional[int] = None) -> FlushReport:
        """Deliver pending batches to `sink`, oldest first; stop at the first failure.

        Only one flush runs at a time (a non-blocking flock on `.flush.lock`): a flush that
        finds the lock taken returns at once with ``busy=True``. A batch file is removed
        (moved to the bounded `sent/`) only after ``sink.emit`` returned for all of its MCPs;
        if the process dies in between, the batch is sent again next time, which idempotent
        upserts make harmless. A file that cannot be parsed is moved to `quarantine/` and the
        flush goes on with the next batch, so one bad file never blocks the queue.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(self.directory / LOCK_NAME, timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            status = self.status()
            logger.info("outbox flush skipped: another flush is running; backlog %s", status)
            return FlushReport(
                0, 0, status.batches, "another flush is running", status.mcps, busy=True, quarantine=status.quarantined
            )
        try:
            return self._flush_locked(sink, max_batches)
        finally:
            lock.release()

    def _flush_locked(self, sink: Sink, max_batches: Optional[int]) -> FlushReport:
        self._sweep_stale_temp_files()
        sent_batches = sent_mcps = quarantined = 0
        error: Optional[str] = None
        for batch in self.pending():
            if max_batches is not None and sent_batches >= max_batches:
                break
            try:
                mcps = self.read(batch)
            except FileNotFoundError:  # removed under us (by hand); nothing to send
                continue
            except CorruptBatch as e:
                self._quarantine(batch, str(e))
                quarantined += 1
                continue
            try:
                if mcps:
                    sink.emit(mcps)
            except Exception as e:  # the sink failed: keep this batch and everything after it
                error = f"{type(e).__name__}: {e}"
                logger.warning("outbox: delivery of %s to %s failed, will retry: %s", batch.name, _describe(sink), error)
                break
            self._retire(batch)
            sent_batches += 1
            sent_mcps += len(mcps)
        fsync_dir(self.directory)
        status = self.status()
        logger.log(
            logging.WARNING if status.quarantined else logging.INFO,
            "outbox flush to %s: sent %d batches (%d MCPs)%s%s; backlog %s%s",
            _describe(sink),
            sent_batches,
            sent_mcps,
            f", quarantined {quarantined}" if quarantined else "",
            f", stopped on error: {error}" if error else "",
            status,
            "".join(f"\n  quarantined {q}" for q in status.quarantined),
        )
        return FlushReport(
            sent_batches, sent_mcps, status.batches, error, status.mcps, quarantined, quarantine=status.quarantined
        )

    def _retire(self, batch: Batch) -> None:
        if self.keep_sent <= 0:
            batch.path.unlink(missing_ok=True)
            return
        sent = self.directory / SENT_DIR
        sent.mkdir(exist_ok=True)
        os.replace(batch.path, sent / batch.name)
        kept = sorted(p for p in sent.iterdir() if BATCH_NAME.match(p.name))
        for old in kept[: max(0, len(kept) - self.keep_sent)]:
            old.unlink(missing_ok=True)

    def _quarantine(self, batch: Batch, reason: str) -> None:
        target_dir = self.directory / QUARANTINE_DIR
        target_dir.mkdir(exist_ok=True)
        note = {"reason": reason, "quarantined_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_bytes(target_dir / (batch.name + REASON_SUFFIX), json.dumps(note, indent=1).encode())
        os.replace(batch.path, target_dir / batch.name)
        fsync_dir(target_dir)
        logger.error("outbox: quarantined unreadable batch %s to %s (%s)", batch.name, target_dir, reason)

    def _sweep_stale_temp_files(self) -> None:
        cutoff = time.time() - STALE_TMP_SEC
        for path in self.directory.glob(f"{TMP_PREFIX}*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    logger.info("outbox: removed %s, a temp file left by an interrupted write", path.name)
            except FileNotFoundError:
                pass

    # --------------------------------------------------------------- quarantine
    def quarantined(self) -> list[QuarantinedBatch]:
        """Quarantined batches, oldest first, each with the reason it was moved aside."""
        directory = self.directory / QUARANTINE_DIR
        if not directory.is_dir():
            return []
        found = []
        for path in sorted(directory.iterdir()):
            match = BATCH_NAME.match(path.name)
            if not match or not path.is_file():
                continue
            try:
                note = json.loads((directory / (path.name + REASON_SUFFIX)).read_text())
            except (OSError, ValueError):  # quarantined before reasons were kept
                mtime = time.gmtime(path.stat().st_mtime)
                note = {"reason": "unreadable (no reason recorded)", "quarantined_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", mtime)}
            found.append(QuarantinedBatch(path, match["label"], int(match["count"]), note["reason"], note["quarantined_at"]))
        return found

    def quarantined_batch(self, name: str) -> QuarantinedBatch:
        """The quarantined batch of that file name; KeyError naming what is there otherwise."""
        for batch in self.quarantined():
            if batch.name == name:
                return batch
        names = ", ".join(q.name for q in self.quarantined()) or "none"
        raise KeyError(f"no quarantined batch {name!r} in {self.directory / QUARANTINE_DIR} (quarantined: {names})")

    def retry_quarantined(self, name: str) -> Path:
        """Put a quarantined batch back in its place in the queue, once it reads back (repaired by hand).

        Raises CorruptBatch, leaving it in quarantine, while it still cannot be read.
        """
        batch = self.quarantined_batch(name)
        self.read(batch.path)  # raises CorruptBatch with the current reason
        target = self.directory / batch.name
        os.replace(batch.path, target)
        (batch.path.parent / (batch.name + REASON_SUFFIX)).unlink(missing_ok=True)
        fsync_dir(self.directory)
        logger.info("outbox: %s is back in the queue", batch.name)
        return target

    def drop_quarantined(self, name: str) -> None:
        """Delete a quarantined batch for good (its metadata is not sent)."""
        batch = self.quarantined_batch(name)
        batch.path.unlink()
        (batch.path.parent / (batch.name + REASON_SUFFIX)).unlink(missing_ok=True)
        fsync_dir(batch.path.parent)
        logger.warning("outbox: dropped quarantined batch %s", batch.name)

    def clear_sent(self) -> None:
        shutil.rmtree(self.directory / SENT_DIR, ignore_errors=True)


def _describe(sink: Any) -> str:
    try:
        return sink.describe()
    except Exception:
        return type(sink).__name__
