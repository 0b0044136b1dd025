"""Many spec files' YAML read on two cores: half of them by a forked child process (core/forked).

Reading YAML is most of what loading a large mesh costs (libyaml's composer and PyYAML's Python
objects), and every file is read on its own. So when a mesh loads many files, a child forked from
this process reads the second half of them while this process reads the first, and sends back
each document's plain data and text (pickled: lists, mappings, text, numbers, dates). Only the
successful fast path is shared: a file the child could not read plainly (an error, a tag, a bound
reached) is read again here by the loader, which raises the error with its place, so every message
stays exactly what a single process says. If the child fails in any way, this process reads its
half too: the result never depends on the child. No child below forked.PARALLEL_FROM files, or
where core/forked does not fork.

The child sends documents, not spec models: pickling 5,000 validated specs and loading them here
costs more than validating them here (measured: validate of 10,000 specs 5.3 s -> 5.9 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from dataproducts.core import forked, safe_yaml
from dataproducts.core.loader import read_document

Read = Optional[tuple[Any, str]]  # (data, text) of a plain document, None: the loader reads it itself


class Prefetch:
    """Started with the paths a mesh will load; the loader asks it for each file's document.
    A context manager: leaving it always reaps the child."""

    def __init__(self, paths: Sequence[Path], specs_dir: Path, max_bytes: int):
        wanted = self._wanted = list(paths[len(paths) // 2 :])
        self._child = forked.Forked(lambda: read_plainly(wanted, specs_dir, max_bytes), wanted=len(paths) >= forked.PARALLEL_FROM)
        self._wanted_set = set(wanted) if self._child.started else set()
        self._documents: Optional[dict[Path, safe_yaml.Document]] = None

    def document(self, path: Path) -> Optional[safe_yaml.Document]:
        """The child's plain document of path; None: the loader reads the file itself."""
        if path not in self._wanted_set:
            return None
        if self._documents is None:
            self._documents = self._collect()
        return self._documents.get(path)

    def _collect(self) -> dict[Path, safe_yaml.Document]:
        reads = self._child.result()
        if not isinstance(reads, list) or len(reads) != len(self._wanted):
            return {}
        return {
            path: safe_yaml.Document(read[0], text=read[1])
            for path, read in zip(self._wanted, reads, strict=True)
            if read is not None
        }

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self._child.close()


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
