"""A large mesh loaded on two cores (core/forked): a forked child reads half the spec files' YAML
(core/spec_prefetch) and checks half the products against dbt (validation.dbt_errors). The mesh is
exactly the one a single process loads, bad inputs and their messages included, and a child that
fails or a process with threads only costs the time it would have saved."""

from __future__ import annotations

import os
import threading

import pytest
from test_bad_specs import install_corpus

from dataproducts.core import forked, loader, spec_prefetch, validation
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project


@pytest.fixture
def project(project_copy, tmp_path, monkeypatch):
    """The test mesh with the whole bad-input corpus beside it (about 90 spec files)."""
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(forked, "can_fork", lambda: True)  # pytest-xdist's workers run threads of their own
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


def test_a_child_loads_half_the_files_and_the_mesh_is_the_one_a_single_process_loads(project, monkeypatch):
    monkeypatch.setattr(forked, "PARALLEL_FROM", 10**9)
    alone = outcome(project)
    assert len(alone) > 80 and sum(1 for _, spec, errors, _ in alone.values() if errors) > 60
    assert any(":transform.dbt" in error or "dbt project" in error for *_, errors, _ in alone.values() for error in errors)
    monkeypatch.setattr(forked, "PARALLEL_FROM", 2)
    reads = reads_here(monkeypatch)
    halves, checked_here = dbt_checks_here(monkeypatch)
    shared = outcome(project)
    assert shared == alone
    files = loader.spec_files(project.specs_dir)
    assert len(files) // 2 <= len(reads) < len(files), "the child read the files of the second half it could read plainly"
    first, second = halves
    assert first and second and checked_here == first, (
        "this process checked the first half of the dbt projects, the child the rest"
    )


def dbt_checks_here(monkeypatch) -> tuple[list, list]:
    """The dbt projects of the two halves, and those this process checks itself (a child's checks
    happen in the child)."""
    halves: list = []
    checked: list = []
    real_halves, real_errors = validation._halves, validation._project_errors

    def names(groups):
        return [products[0][1].transform.dbt.project for products in groups]

    monkeypatch.setattr(
        validation, "_halves", lambda groups: halves.extend(map(names, real_halves(groups))) or real_halves(groups)
    )
    monkeypatch.setattr(
        validation, "_project_errors", lambda mesh, groups: checked.extend(names(groups)) or real_errors(mesh, groups)
    )
    return halves, checked


def test_a_failing_child_costs_only_time(project, monkeypatch):
    parent = os.getpid()
    monkeypatch.setattr(forked, "PARALLEL_FROM", 10**9)
    reads = reads_here(monkeypatch)
    alone = outcome(project)
    read_alone = len(reads)
    monkeypatch.setattr(forked, "PARALLEL_FROM", 2)

    def crash(*args):
        raise MemoryError("the child ran out of memory")

    monkeypatch.setattr(spec_prefetch, "read_plainly", crash)  # runs in the child only
    real = validation._project_errors
    monkeypatch.setattr(
        validation, "_project_errors", lambda mesh, projects: crash() if os.getpid() != parent else real(mesh, projects)
    )
    reads.clear()
    assert outcome(project) == alone
    assert len(reads) == read_alone, "every file read here after the child failed"


def test_no_child_where_other_threads_run_or_for_a_small_mesh(project, monkeypatch):
    files = loader.spec_files(project.specs_dir)
    monkeypatch.setattr(forked, "PARALLEL_FROM", 2)
    with spec_prefetch.Prefetch(files, project.specs_dir, 262144) as prefetch:
        assert prefetch._child.started
    monkeypatch.setattr(forked, "PARALLEL_FROM", 10**9)
    with spec_prefetch.Prefetch(files, project.specs_dir, 262144) as small:
        assert not small._child.started and small.document(files[-1]) is None
    monkeypatch.undo()  # the real can_fork
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not forked.can_fork()
    finally:
        stop.set()
        other.join()
