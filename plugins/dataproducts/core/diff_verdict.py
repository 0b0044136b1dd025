"""Whether the changes since a base revision may ship: every breaking change needs a major version
bump of its spec, and is reported with the consumers it breaks, down to the columns they use.

A removal has no version to bump: removing a product (or a port without a major bump) is allowed
once it was deprecated at the base revision and its sunset has passed, when its readers are
broken anyway (core/deprecation.py). The consumers are the working tree's: the products that
read the port now. Which columns a consumer uses comes from outside (column lineage, see
metadata/column_use.py); None means unknown.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from dataproducts.core.errors import SpecError
from dataproducts.core.loader import LoadedSpec, placed
from dataproducts.core.spec import DataProductSpec
from dataproducts.core.spec_diff import Change, Level, product_changes

# (consumer product id, its input port name) -> the producer's columns it uses, or None when unknown
ColumnUse = Callable[[str, str], Optional[frozenset[str]]]
LEVELS = (Level.breaking, Level.minor, Level.patch)
Readers = dict[tuple[str, str], list[tuple[str, str]]]  # (producer, port) -> [(consumer, input port)]


@dataclass(frozen=True)
class Consumer:
    product_id: str
    input_port: str
    port: str  # the producer's output port it reads
    columns_used: Optional[frozenset[str]]  # None: unknown

    def described(self, columns: tuple[str, ...]) -> str:
        where = f"{self.product_id} (input port '{self.input_port}'"
        if self.columns_used is None:
            return f"{where}; columns it uses unknown)"
        if not columns:
            return f"{where}, which uses {', '.join(sorted(self.columns_used)) or 'no column'})"
        used = [c for c in columns if c in self.columns_used]
        if used:
            return f"{where}, which uses {', '.join(used)})"
        return f"{where}; column lineage shows no use of {', '.join(columns)}, filters and joins aside)"


@dataclass(frozen=True)
class Finding:
    change: Change
    consumers: tuple[Consumer, ...] = ()
    accepted: Optional[str] = None  # a breaking change: why it may ship, or None when it may not


@dataclass(frozen=True)
class ProductDiff:
    product_id: str
    path: str
    old_version: Optional[str]
    new_version: Optional[str]
    findings: tuple[Finding, ...]

    @property
    def level(self) -> Optional[Level]:
        return next((lv for lv in LEVELS if any(f.change.level is lv for f in self.findings)), None)


@dataclass
class Report:
    base: str
    products: list[ProductDiff] = field(default_factory=list)
    errors: list[SpecError] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)  # specs that do not load on one side


def _no_use(consumer: str, input_port: str) -> Optional[frozenset[str]]:
    return None


def verdict(
    base: str,
    old: dict[str, LoadedSpec],
    new: dict[str, LoadedSpec],
    today: datetime.date,
    column_use: ColumnUse = _no_use,
) -> Report:
    report = Report(base)
    readers = _readers(new)
    for pid in sorted(old.keys() | new.keys()):
        before, after = old.get(pid), new.get(pid)
        broken = [f"{e.path} at {base[:12]}" if e is before else e.path for e in (before, after) if e and e.spec is None]
        if broken:
            report.not_compared.append(f"{pid}: not compared, the spec does not load ({' and '.join(broken)})")
            continue
        found = _product_diff(pid, before, after, readers, today, column_use)
        if found.findings:
            report.products.append(found)
            report.errors += _errors(found, before, after)
    return report


def _readers(new: dict[str, LoadedSpec]) -> Readers:
    """(producer id, output port) -> [(consumer id, input port name)], from the working tree's specs."""
    result: Readers = {}
    for pid, entry in sorted(new.items()):
        for port in entry.spec.product_inputs if entry.spec else []:
            result.setdefault(port.upstream, []).append((pid, port.name))
    return result


def _product_diff(
    pid: str,
    before: Optional[LoadedSpec],
    after: Optional[LoadedSpec],
    readers: Readers,
    today: datetime.date,
    column_use: ColumnUse,
) -> ProductDiff:
    old: Optional[DataProductSpec] = before.spec if before else None
    new: Optional[DataProductSpec] = after.spec if after else None
    changes = product_changes(old, new, lambda p, port: [c for c, _ in readers.get((p, port), [])])
    changes.sort(key=lambda c: LEVELS.index(c.level))  # stable: breaking first, each level in spec order
    spec = old or new
    findings = []
    for change in changes:
        consumers = _consumers(change, spec, readers, column_use) if spec and change.level is Level.breaking else ()
        accepted = _accepted(change, old, new, today) if change.level is Level.breaking else None
        findings.append(Finding(change, consumers, accepted))
    path = after.path if after else before.path if before else pid
    return ProductDiff(pid, path, old.version if old else None, new.version if new else None, tuple(findings))


def _consumers(change: Change, spec: DataProductSpec, readers: Readers, column_use: ColumnUse) -> tuple[Consumer, ...]:
    ports = [change.port] if change.port else [p.name for p in spec.output_ports]
    found = []
    for port in ports:
        for consumer, input_port in readers.get((spec.id, port), []):
            if not change.readers or consumer in change.readers:
                found.append(Consumer(consumer, input_port, port, column_use(consumer, input_port)))
    return tuple(found)


def _major(version: str) -> int:
    return int(version.split(".", 1)[0])


def _accepted(
    change: Change, old: Optional[DataProductSpec], new: Optional[DataProductSpec], today: datetime.date
) -> Optional[str]:
    if new is not None and old is not None and _major(new.version) > _major(old.version):
        return f"major version {old.version} -> {new.version}"
    removal = change.field in ("", "output_ports")
    sunset = _sunset(old, change.port if change.field else None)
    if removal and sunset is not None and today > sunset:
        return f"removed after its sunset on {sunset.isoformat()}"
    return None


def _sunset(spec: Optional[DataProductSpec], port: Optional[str]) -> Optional[datetime.date]:
    """The earliest sunset that applies to the product (port None) or one of its ports at the base."""
    if spec is None:
        return None
    marks = [spec.deprecation] + [p.deprecation for p in spec.output_ports if port is not None and p.name == port]
    dates = [d.sunset for d in marks if d is not None]
    return min(dates) if dates else None


def _errors(found: ProductDiff, before: Optional[LoadedSpec], after: Optional[LoadedSpec]) -> list[SpecError]:
    errors = []
    for finding in found.findings:
        if finding.change.level is not Level.breaking or finding.accepted:
            continue
        problem, fix = _words(found, finding)
        error = SpecError(found.path, finding.change.field or None, problem, fix)
        errors.append(placed(after, error) if after else error)
    return errors


def _words(found: ProductDiff, finding: Finding) -> tuple[str, str]:
    change = finding.change
    readers = [c.described(change.columns) for c in finding.consumers]
    breaks = f"it breaks {'; '.join(readers)}" if readers else "no product of the mesh reads it (readers outside the mesh may)"
    if found.new_version is None:
        return (
            f"{change.message}, a breaking change, and it was not deprecated with a sunset that has passed; {breaks}",
            "deprecate it first (deprecation: {sunset: YYYY-MM-DD, replacement: <product>.<port>}) and remove it "
            "after the sunset, or restore the file",
        )
    old, new = found.old_version or "", found.new_version
    return (
        f"{change.message}, a breaking change, but the version goes from {old} to {new}, not to a new major version; {breaks}",
        f"set version: {_major(old) + 1}.0.0 and agree the change with its consumers, or undo the change",
    )
