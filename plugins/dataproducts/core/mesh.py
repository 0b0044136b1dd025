"""The loaded, validated mesh: every spec of the project and how products connect.

Pure Python: the CLI, the tests and the DAG factory share it, and none of them needs Airflow
to ask who reads what, in what order products run, or what breaks downstream of a product.
"""

from __future__ import annotations

import datetime
import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Optional

from dataproducts.core import naming
from dataproducts.core.errors import SpecError, capped
from dataproducts.core.loader import LoadedSpec, forget_folders, load_spec_file, max_spec_bytes, placed, spec_files
from dataproducts.core.project import Project
from dataproducts.core.spec import DataProductSpec, OutputPort
from dataproducts.core.spec_prefetch import Prefetch


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

    @cached_property
    def output_tables(self) -> dict[tuple[str, str], list[tuple[str, OutputPort]]]:
        """(domain, table) -> the valid products' output ports that write it, in the mesh's order."""
        result: dict[tuple[str, str], list[tuple[str, OutputPort]]] = {}
        for pid, spec in self.products.items():
            for port in spec.output_ports:
                result.setdefault((spec.domain, port.table_name), []).append((pid, port))
        return result

    @property
    def errors(self) -> list[SpecError]:
        return [err for e in self.entries.values() for err in e.errors]

    @property
    def warnings(self) -> list[SpecError]:
        return [warning for e in self.entries.values() for warning in e.warnings]

    def domains(self) -> list[str]:
        return sorted({e.domain for e in self.entries.values()})

    def in_domain(self, domain: str) -> list[LoadedSpec]:
        return list(self._by_domain.get(domain, []))

    @cached_property
    def _by_domain(self) -> dict[str, list[LoadedSpec]]:
        result: dict[str, list[LoadedSpec]] = {}
        for _, entry in sorted(self.entries.items()):
            result.setdefault(entry.domain, []).append(entry)
        return result

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
        """Valid products, producers before consumers (ties by id); linear in the mesh's size."""
        valid = self.products
        waiting = {pid: len(set(self.upstream_products(pid)) & valid.keys()) for pid in valid}
        wave = sorted(pid for pid, n in waiting.items() if n == 0)
        order: list[str] = []
        while wave:  # each wave: every product whose producers are all placed, by id
            order += wave
            following = []
            for pid in wave:
                for consumer in self.consumers_of(pid):
                    if consumer in waiting:
                        waiting[consumer] -= 1
                        if waiting[consumer] == 0:
                            following.append(consumer)
            wave = sorted(following)
        placed = set(order)  # a cycle left over: validation has already broken those specs, so only defensive
        return order + sorted(pid for pid in valid if pid not in placed)

    def roots(self) -> list[str]:
        return [pid for pid in self.run_order() if not self.upstream_products(pid)]

    def with_errors(self, errors_by_product: dict[str, list[SpecError]]) -> Mesh:
        entries = dict(self.entries)
        for pid, errors in errors_by_product.items():
            if errors:
                entry = entries[pid]
                new = [placed(entry, e) for e in errors]
                entries[pid] = replace(entry, spec=None, errors=tuple(capped([*entry.errors, *new])))
        return Mesh(self.project, entries)

    def with_warnings(self, warnings_by_product: dict[str, list[SpecError]]) -> Mesh:
        entries = dict(self.entries)
        for pid, warnings in warnings_by_product.items():
            entry = entries[pid]
            entries[pid] = replace(entry, warnings=(*entry.warnings, *(placed(entry, w) for w in warnings)))
        return Mesh(self.project, entries)

    def with_findings(self, errors: dict[str, list[SpecError]], warnings: dict[str, list[SpecError]]) -> Mesh:
        return self.with_errors(errors).with_warnings(warnings)


def _add(entries: dict[str, LoadedSpec], entry: LoadedSpec) -> None:
    """Two files never hide each other: a second file of the same id (x.yaml beside x.yml) breaks
    that id naming both; a second badly named file gets a placeholder id of its own."""
    if entry.product_id not in entries:
        entries[entry.product_id] = entry
        return
    first = entries[entry.product_id]
    if not naming.file_place_is_valid(Path(entry.path)):
        n = 2
        while f"{entry.product_id}_{n}" in entries:
            n += 1
        entries[f"{entry.product_id}_{n}"] = replace(entry, product_id=f"{entry.product_id}_{n}")
        return
    error = SpecError(
        entry.path,
        None,
        f"{first.path} and {entry.path} both make the product id '{entry.product_id}'",
        f"keep one of the two files (delete or rename {entry.path} or {first.path})",
    )
    entries[entry.product_id] = replace(first, spec=None, errors=tuple(capped([*first.errors, *entry.errors, error])))


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Loading a mesh allocates millions of objects (specs, manifests) and frees almost none, so
    Python's cycle collector would walk them again and again for nothing (a quarter of the time).
    Afterwards they go straight to the oldest generation (freeze, then unfreeze), instead of being
    walked once more by the next young collection; full collections still see them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def load_mesh(
    project: Project, files: Optional[Iterable[Path]] = None, check_dbt: bool = True, today: Optional[datetime.date] = None
) -> Mesh:
    """Load every spec, then validate the graph (and, unless told not to, against dbt's manifests);
    deprecation sunsets are compared with `today` (default: today in UTC); naming rules as the settings say."""
    with _cycle_collector_paused():
        return _load_mesh(project, files, check_dbt, today)


def _load_mesh(project: Project, files: Optional[Iterable[Path]], check_dbt: bool, today: Optional[datetime.date]) -> Mesh:
    from dataproducts.core import deprecation, naming_findings, validation

    paths = list(files) if files is not None else spec_files(project.specs_dir)
    entries: dict[str, LoadedSpec] = {}
    forget_folders()
    limit = max_spec_bytes()
    with Prefetch(paths, project.specs_dir, limit) as prefetched:  # half the files' YAML on a second core
        for path in paths:
            _add(entries, load_spec_file(path, project.root, project.specs_dir, limit, prefetched.document(path)))
    mesh = Mesh(project, entries)
    mesh = mesh.with_findings(*naming_findings.pattern_findings(mesh))
    mesh = mesh.with_errors(validation.quality_errors(mesh))
    mesh = mesh.with_errors(validation.graph_errors(mesh))
    errors, warnings = deprecation.findings(mesh, today or deprecation.today())
    mesh = mesh.with_errors(errors).with_warnings(warnings)
    if check_dbt:
        mesh = mesh.with_errors(validation.dbt_errors(mesh))
    return mesh.with_findings(*naming_findings.table_findings(mesh))  # last: only valid specs claim table names
