"""A second core for a large mesh: a child forked from this process does part of the work and sends
its result back pickled.

Loading and checking 10,000 specs is CPU work on one core while the machines that run it have two
or more. A forked child starts with this process's memory as it is (the specs already loaded, the
mesh already built: nothing is sent to it), does its share, and writes its result to a pipe. The
result is only ever a saving of time: when the child could not be started or failed in any way,
`result()` is None and the caller does that share itself, so what it computes never depends on
the child.

Not used where forking is unsafe or pointless: one usable CPU, no os.fork (Windows), or other
threads running (the Airflow processes that load a mesh while threads hold locks: a child would
inherit them held).
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
from collections.abc import Callable
from typing import Any, Optional

log = logging.getLogger(__name__)

PARALLEL_FROM = 400  # specs; below this a child costs more than it saves (about 0.1 s at 10,000 specs)


def can_fork() -> bool:
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return False
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return usable > 1


class Forked:
    """work() run by a child forked now, when `wanted` and forking is safe; result() waits for it.
    A context manager: leaving it always reaps the child, whether its result was asked for or not."""

    def __init__(self, work: Callable[[], Any], wanted: bool = True):
        self._child: Optional[tuple[int, int]] = _fork(work) if wanted and can_fork() else None  # pid, the pipe's end to read

    @property
    def started(self) -> bool:
        return self._child is not None

    def result(self) -> Optional[Any]:
        """What work() returned in the child; None when there was no child or it failed (then the
        caller does the work itself). Asked once: the child is gone afterwards."""
        if self._child is None:
            return None
        child, self._child = self._child, None
        try:
            return _receive(child)
        except Exception as exc:  # never more than the time it would have saved
            log.info("work in a second process failed (%s); doing it here", exc)
            return None

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Reaps the child if its result was not asked for."""
        if self._child is not None:
            pid, receive = self._child
            self._child = None
            os.close(receive)  # a child still writing gets a broken pipe and exits
            os.waitpid(pid, 0)


def _fork(work: Callable[[], Any]) -> tuple[int, int]:
    """The child runs work and writes its pickled result to a pipe, then exits at once (no atexit
    handlers, no flushing of this process's buffers); until it is read, it waits on the full pipe."""
    receive, send = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(receive)
            with os.fdopen(send, "wb") as pipe:
                pickle.dump(work(), pipe, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        finally:
            os._exit(code)
    os.close(send)
    return pid, receive


def _receive(child: tuple[int, int]) -> Any:
    pid, receive = child
    try:
        with os.fdopen(receive, "rb") as pipe:
            result = pickle.load(pipe)  # from our own child, forked from this process
    finally:
        _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        raise RuntimeError(f"the child process ended with status {status}")
    return result
