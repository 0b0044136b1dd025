"""Many spec files' YAML read on two cores: half of them by a forked child process.

Reading YAML is most of what validating a large mesh costs (libyaml's composer and PyYAML's
Python objects), and every file is read on its own. So when a mesh loads many files, a child
forked from this process reads the second half of them while this process reads the first, and
sends back each document's plain data and text (pickled: lists, mappings, text, numbers, dates).
Only the successful fast path is shared: a file the child could not read plainly (an error, a
tag, a bound reached) is read again here by the loader, which raises the error with its place,
so every message stays exactly what a single process says. If the child fails in any way, this
process reads its half too: the result never depends on the child.

Not used where forking is unsafe or pointless: fewer than PARALLEL_FROM files, one usable CPU,
no os.fork (Windows), or other threads running (the Airflow processes that load a mesh while
threads hold locks: a child would inherit them held).
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from dataproducts.core import safe_yaml
from dataproducts.core.loader import read_document

log = logging.getLogger(__name__)

PARALLEL_FROM = 400  # files; below this a child costs more than it saves (about 0.1 s at 10,000 files)

Read = Optional[tuple[Any, str]]  # (data, text) of a plain document, None: the loader reads it itself


class Prefetch:
    """Started with the paths a mesh will load; the loader asks it for each file's document.
    A context manager: leaving it always reaps the child."""

    def __init__(self, paths: Sequence[Path], specs_dir: Path, max_bytes: int):
        self._wanted: list[Path] = []
        self._wanted_set: set[Path] = set()
        self._documents: Optional[dict[Path, safe_yaml.Document]] = None
        self._child: Optional[tuple[int, int]] = None  # pid, the pipe's end to read
        if len(paths) >= PARALLEL_FROM and _can_fork():
            self._wanted = list(paths[len(paths) // 2 :])
            self._wanted_set = set(self._wanted)
            self._child = _fork_reader(self._wanted, specs_dir, max_bytes)

    def document(self, path: Path) -> Optional[safe_yaml.Document]:
        """The child's plain document of path; None: the loader reads the file itself."""
        if path not in self._wanted_set:
            return None
        if self._documents is None:
            self._documents = self._collect()
        return self._documents.get(path)

    def _collect(self) -> dict[Path, safe_yaml.Document]:
        try:
            reads = _receive(self._child, len(self._wanted)) if self._child else []
        except Exception as exc:  # never more than the time it would have saved
            log.info("reading spec files in a second process failed (%s); reading them here", exc)
            reads = []
        finally:
            self._child = None
        return {
            path: safe_yaml.Document(read[0], text=read[1])
            for path, read in zip(self._wanted, reads, strict=False)
            if read is not None
        }

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._child is not None:
            self._documents = {}
            pid, receive = self._child
            self._child = None
            os.close(receive)  # a child still writing gets a broken pipe and exits
            os.waitpid(pid, 0)


def read_plainly(paths: Sequence[Path], specs_dir: Path, max_bytes: int) -> list[Read]:
    """(data, text) of each file read on the fast path (which keeps the text to find places in)."""
    reads: list[Read] = []
    for path in paths:
        try:
            document = read_document(path, specs_dir, max_bytes)
            reads.append((document.data, document.text) if document.text is not None else None)
        except safe_yaml.ReadError:
            reads.append(None)
    return reads


def _can_fork() -> bool:
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return False
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return usable > 1


def _fork_reader(paths: list[Path], specs_dir: Path, max_bytes: int) -> tuple[int, int]:
    """The child reads paths and writes the pickled reads to a pipe, then exits at once (no atexit
    handlers, no flushing of this process's buffers); until it is read, it waits on the full pipe."""
    receive, send = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(receive)
            with os.fdopen(send, "wb") as pipe:
                pickle.dump(read_plainly(paths, specs_dir, max_bytes), pipe, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        finally:
            os._exit(code)
    os.close(send)
    return pid, receive


def _receive(child: tuple[int, int], expected: int) -> list[Read]:
    pid, receive = child
    try:
        with os.fdopen(receive, "rb") as pipe:
            reads = pickle.load(pipe)  # from our own child, which read only spec files
    finally:
        _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0 or len(reads) != expected:
        raise RuntimeError(f"the child process ended with status {status}")
    return reads
