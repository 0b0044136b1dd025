"""Airflow's own view of a project's mesh: what the dag-processor would make of dags/."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from dataproducts.core import naming
from dataproducts.core.mesh import Mesh


def dagbag_problems(mesh: Mesh) -> list[str]:
    """Import errors, specs without a DAG and broken-spec DAGs, as Airflow's DagBag loads dags/."""
    from airflow.dag_processing.dagbag import DagBag

    root = mesh.project.root
    with _setting("AIRFLOW__DATAPRODUCTS__HOME", str(root)):  # the DAG files build this project's mesh
        bag = DagBag(dag_folder=str(root / "dags"))
    problems = [
        f"{_relative(Path(path), root)}: Airflow cannot import it: {error.strip().splitlines()[-1]}"
        for path, error in bag.import_errors.items()
    ]
    for product_id, entry in sorted(mesh.entries.items()):
        dag = bag.dags.get(naming.dag_id(product_id))
        if dag is None:
            problems.append(
                f"{entry.path}: no Airflow DAG '{naming.dag_id(product_id)}' was made from it (is dags/{entry.domain}.py there?)"
            )
        elif naming.BROKEN_TAG in dag.tags and entry.ok:
            problems.append(f"{entry.path}: its DAG is a broken-spec DAG: {dag.description}")
    return problems


@contextlib.contextmanager
def _setting(variable: str, value: str) -> Iterator[None]:
    before = os.environ.get(variable)
    os.environ[variable] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
