"""Reading half of a large mesh's spec files in a forked child (core/spec_prefetch): the mesh it
loads is exactly the one a single process loads, bad inputs and their messages included, and a
child that fails or a process with threads only costs the time it would have saved."""

from __future__ import annotations

import threading

import pytest
from test_bad_specs import install_corpus

from dataproducts.core import loader, spec_prefetch
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project


@pytest.fixture
def project(project_copy, tmp_path, monkeypatch):
    """The test mesh with the whole bad-input corpus beside it (about 90 spec files)."""
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(spec_prefetch, "_can_fork", lambda: True)  # pytest-xdist's workers run threads of their own
    install_corpus(project_copy)
    return Project(project_copy)


def outcome(project: Project) -> dict:
    mesh = load_mesh(project)
    return {
        pid: (
            e.path,
            e.spec.model_dump(mode="json") if e.spec else None,
            [str(x) for x in e.errors],
            [str(x) for x in e.warnings],
        )
        for pid, e in mesh.entries.items()
    }


def reads_here(monkeypatch) -> list:
    """The files this process reads itself (a child's reads happen in the child)."""
    reads: list = []
    real = loader.read_document
    monkeypatch.setattr(loader, "read_document", lambda path, *a: reads.append(path) or real(path, *a))
    return reads


def test_a_child_reads_half_the_files_and_the_mesh_is_the_one_a_single_process_loads(project, monkeypatch):
    monkeypatch.setattr(spec_prefetch, "PARALLEL_FROM", 10**9)
    alone = outcome(project)
    assert len(alone) > 80 and sum(1 for _, spec, errors, _ in alone.values() if errors) > 60
    monkeypatch.setattr(spec_prefetch, "PARALLEL_FROM", 2)
    reads = reads_here(monkeypatch)
    shared = outcome(project)
    assert shared == alone
    files = loader.spec_files(project.specs_dir)
    assert len(files) // 2 <= len(reads) < len(files), "the child read the files of the second half it could read plainly"


def test_a_failing_child_costs_only_time(project, monkeypatch):
    monkeypatch.setattr(spec_prefetch, "PARALLEL_FROM", 10**9)
    reads = reads_here(monkeypatch)
    alone = outcome(project)
    read_alone = len(reads)
    monkeypatch.setattr(spec_prefetch, "PARALLEL_FROM", 2)

    def crash(*args):
        raise MemoryError("the child ran out of memory")

    monkeypatch.setattr(spec_prefetch, "read_plainly", crash)  # runs in the child only
    reads.clear()
    assert outcome(project) == alone
    assert len(reads) == read_alone, "every file read here after the child failed"


def test_no_child_where_other_threads_run_or_for_a_small_mesh(project, monkeypatch):
    files = loader.spec_files(project.specs_dir)
    monkeypatch.setattr(spec_prefetch, "PARALLEL_FROM", 2)
    with spec_prefetch.Prefetch(files, project.specs_dir, 262144) as forked:
        assert forked._child is not None
    monkeypatch.setattr(spec_prefetch, "PARALLEL_FROM", 10**9)
    with spec_prefetch.Prefetch(files, project.specs_dir, 262144) as small:
        assert small._child is None and small.document(files[-1]) is None
    monkeypatch.undo()  # the real _can_fork
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not spec_prefetch._can_fork()
    finally:
        stop.set()
        other.join()
