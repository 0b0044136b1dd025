"""The bad-input corpus (tests/bad_specs/, see its README): every input beside the good test mesh,
all loaded at once through Airflow's own DagBag, each checked on its own."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FIXTURE_MESH

from dataproducts.core import naming

CORPUS = Path(__file__).resolve().parent / "bad_specs"
LIMIT = 256 * 1024


def _link_outside(folder: Path) -> None:
    secret = folder.parents[2] / "outside" / "secret.yaml"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text("password: hunter2-do-not-show\n")
    (folder / "spec.yaml").symlink_to(secret)


def _device(folder: Path) -> None:
    os.mknod(folder / "spec.yaml", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers


NOT_READ = "not a regular file, and is never read. Fix: replace it with a plain YAML file"

# inputs git cannot hold: (maker, expected messages); the DAG id is always <case>.spec
GENERATED: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "link_out_of_product_specs": (
        _link_outside,
        [
            "product_specs/link_out_of_product_specs/spec.yaml: is a link to a file outside product_specs/, which is never "
            "read. Fix: put the spec file itself in product_specs/<domain>/ instead of a link"
        ],
    ),
    "link_to_nowhere": (
        lambda folder: (folder / "spec.yaml").symlink_to(folder / "gone.yaml"),
        [
            "product_specs/link_to_nowhere/spec.yaml: is a link that leads nowhere (its target does not exist). "
            "Fix: remove the link or restore its target"
        ],
    ),
    "named_pipe": (
        lambda folder: os.mkfifo(folder / "spec.yaml"),
        [f"product_specs/named_pipe/spec.yaml: is a named pipe (FIFO), {NOT_READ}"],
    ),
    "huge_file": (
        lambda folder: (folder / "spec.yaml").write_text("x: [" + "1, " * 1_000_000 + "]\n"),
        [
            "product_specs/huge_file/spec.yaml: is 3,000,006 bytes, more than the limit of 262,144 bytes for a spec file. "
            "Fix: split the product into smaller ones, or raise the max_spec_bytes setting"
        ],
    ),
    "deep_nesting": (
        lambda folder: (folder / "spec.yaml").write_text("x: " + "[" * 200_000 + "\n"),
        [
            "product_specs/deep_nesting/spec.yaml:1:36: nests '[' or '{' deeper than 32 levels. "
            "Fix: flatten it: spec fields nest a few levels only"
        ],
    ),
    "too_many_values": (
        lambda folder: (folder / "spec.yaml").write_text("x:\n" + "- 1\n" * 25_000),
        [
            "product_specs/too_many_values/spec.yaml:19999:3: holds more than 20,000 values (aliases count each time "
            "they are used). Fix: write the spec without mass repetition; a spec has tens of values, not thousands"
        ],
    ),
}


if os.geteuid() == 0:  # making a device node takes root (CI runs as root)
    GENERATED["device"] = (_device, [f"product_specs/device/spec.yaml: is a device, {NOT_READ}"])


def expected_messages() -> dict[str, dict[str, list[str]]]:
    """case -> {DAG id: [message, ...]}"""
    result: dict[str, dict[str, list[str]]] = {}
    for folder in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        for line in (folder / "expected.txt").read_text(encoding="utf-8").splitlines():
            if line.strip():
                dag_id, message = line.split(" | ", 1)
                result.setdefault(folder.name, {}).setdefault(dag_id, []).append(message)
    for case, (_, messages) in GENERATED.items():
        result[case] = {f"{case}.spec": messages}
    return result


CASES = expected_messages()


def install_corpus(root: Path) -> None:
    """Every input in product_specs/<case>/, and a DAG file per case domain as for any domain."""
    template = (root / "dags" / "pricing.py").read_text()
    for case in CASES:
        folder = root / "product_specs" / case
        if case in GENERATED:
            folder.mkdir(parents=True)
            GENERATED[case][0](folder)
        else:
            shutil.copytree(CORPUS / case, folder, symlinks=True, ignore=shutil.ignore_patterns("expected.txt"))
        (root / "dags" / f"{case}.py").write_text(template.replace("pricing", case))


def fingerprint(dag) -> dict:
    """What a DAG is, as the scheduler stores it, without where its file lies."""
    from airflow.serialization.serialized_objects import DagSerialization

    data = DagSerialization.to_dict(dag)["dag"]
    for key in ("fileloc", "relative_fileloc", "_processor_dags_folder"):
        data.pop(key, None)
    return data


@pytest.fixture(scope="module")
def bags(tmp_path_factory, compiled_repo):
    """(the good mesh's DagBag, the DagBag with every bad input beside it), each loaded once."""
    from airflow.dag_processing.dagbag import DagBag

    root = tmp_path_factory.mktemp("corpus") / "repo"
    for part in ("dags", "product_specs", "dbt"):
        shutil.copytree(compiled_repo / part, root / part, ignore=shutil.ignore_patterns("logs", "*.duckdb", ".compile"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATAPRODUCTS_HOME", str(root))
        patch.setenv("DATAPRODUCTS_STATE_DIR", str(root / ".local"))
        good = DagBag(dag_folder=str(root / "dags"))
        install_corpus(root)
        bad = DagBag(dag_folder=str(root / "dags"))
    return good, bad


def test_the_corpus_is_big_enough_and_every_case_says_what_it_expects():
    assert len(CASES) >= 60
    assert all(CASES.values())
    assert FIXTURE_MESH.is_dir()


def test_no_import_error_and_every_good_dag_unchanged(bags):
    good, bad = bags
    assert good.import_errors == {} and bad.import_errors == {}
    assert len(good.dags) == 8
    for dag_id, dag in good.dags.items():
        assert dag_id in bad.dags, dag_id
        assert naming.BROKEN_TAG not in bad.dags[dag_id].tags, bad.dags[dag_id].description
        assert fingerprint(bad.dags[dag_id]) == fingerprint(dag), dag_id
    expected_ids = {dag_id for per_case in CASES.values() for dag_id in per_case}
    assert set(bad.dags) == set(good.dags) | expected_ids, "every bad input visible, nothing else"


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_bad_input_is_a_broken_spec_dag_with_its_exact_message(bags, case):
    _, bad = bags
    for dag_id, messages in CASES[case].items():
        dag = bad.dags[dag_id]
        assert naming.BROKEN_TAG in dag.tags and [t.task_id for t in dag.tasks] == ["fix_the_spec"]
        failing_with = dag.get_task("fix_the_spec").python_callable.args[-1]
        assert failing_with.split("\n") == messages
        assert dag.description == f"BROKEN SPEC: {messages[0]}"[:500]
        assert "hunter2" not in failing_with + (dag.doc_md or "") + dag.description
