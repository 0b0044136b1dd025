"""The loaded, validated mesh: every spec of the project and how products connect.

Pure Python: the CLI, the tests and the DAG factory share it, and none of them needs Airflow
to ask who reads what, in what order products run, or what breaks downstream of a product.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Optional

from dataproducts.core.errors import SpecError
from dataproducts.core.loader import LoadedSpec, load_spec_file, spec_files
from dataproducts.core.project import Project
from dataproducts.core.spec import DataProductSpec


@dataclass
class Mesh:
    """Immutable once built: `with_errors` returns a new mesh, so the derived views can be cached."""

    project: Project
    entries: dict[str, LoadedSpec] = field(default_factory=dict)

    @cached_property
    def products(self) -> dict[str, DataProductSpec]:
        """The specs that loaded and validated."""
        return {pid: e.spec for pid, e in self.entries.items() if e.spec is not None and not e.errors}

    @cached_property
    def broken(self) -> dict[str, LoadedSpec]:
        return {pid: e for pid, e in self.entries.items() if not e.ok}

    @cached_property
    def _consumers(self) -> dict[str, list[str]]:
        result: dict[str, set[str]] = {}
        for pid, spec in self.products.items():
            for port in spec.product_inputs:
                result.setdefault(port.upstream[0], set()).add(pid)
        return {producer: sorted(consumers) for producer, consumers in result.items()}

    @property
    def errors(self) -> list[SpecError]:
        return [err for e in self.entries.values() for err in e.errors]

    def domains(self) -> list[str]:
        return sorted({e.domain for e in self.entries.values()})

    def in_domain(self, domain: str) -> list[LoadedSpec]:
        return [e for pid, e in sorted(self.entries.items()) if e.domain == domain]

    def upstream_products(self, product_id: str) -> list[str]:
        spec = self.products.get(product_id)
        return sorted({p.upstream[0] for p in spec.product_inputs}) if spec else []

    def consumers_of(self, product_id: str) -> list[str]:
        return list(self._consumers.get(product_id, []))

    def downstream_of(self, product_id: str) -> list[str]:
        """Every product that reads this one, directly or not, in run order."""
        seen: set[str] = set()
        frontier = [product_id]
        while frontier:
            for consumer in self.consumers_of(frontier.pop()):
                if consumer not in seen:
                    seen.add(consumer)
                    frontier.append(consumer)
        return [pid for pid in self.run_order() if pid in seen]

    def run_order(self) -> list[str]:
        """Valid products, producers before consumers (ties by id)."""
        order: list[str] = []
        placed: set[str] = set()
        pending = sorted(self.products)
        while pending:
            ready = [pid for pid in pending if set(self.upstream_products(pid)) & set(self.products) <= placed]
            if not ready:  # a cycle; validation has already broken those specs, so only defensive
                ready = pending[:1]
            for pid in ready:
                order.append(pid)
                placed.add(pid)
            pending = [pid for pid in pending if pid not in placed]
        return order

    def roots(self) -> list[str]:
        return [pid for pid in self.run_order() if not self.upstream_products(pid)]

    def with_errors(self, errors_by_product: dict[str, list[SpecError]]) -> Mesh:
        entries = dict(self.entries)
        for pid, errors in errors_by_product.items():
            if errors:
                entry = entries[pid]
                entries[pid] = replace(entry, spec=None, errors=entry.errors + tuple(errors))
        return Mesh(self.project, entries)


def load_mesh(project: Project, files: Optional[Iterable[Path]] = None, check_dbt: bool = True) -> Mesh:
    """Load every spec, then validate the graph (and, unless told not to, against dbt's manifests)."""
    from dataproducts.core import validation

    paths = list(files) if files is not None else spec_files(project.specs_dir)
    entries = {}
    for path in paths:
        entry = load_spec_file(path, project.root)
        entries[entry.product_id] = entry
    mesh = Mesh(project, entries)
    mesh = mesh.with_errors(validation.graph_errors(mesh))
    if check_dbt:
        mesh = mesh.with_errors(validation.dbt_errors(mesh))
    return mesh
