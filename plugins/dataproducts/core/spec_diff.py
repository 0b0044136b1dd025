"""What changed between two versions of one product's spec, each change classified for its consumers.

Breaking: a product, output port or contract column removed; a column's type changed; a column
no longer required or no longer unique; a port's table renamed; access narrowed so that a current
consumer may no longer read the port. Minor: additions (products, ports, columns, a column now
required or unique), access widened or narrowed for nobody who reads it, a deprecation announced,
any other change of what a port promises (freshness, quality rules). Patch: everything else (descriptions, tags,
names, owners, schedule, inputs, transform). Ports and columns are matched by name. Pure: the
consumers and the version rule are diff_verdict.py's.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Optional

from dataproducts.core import access, naming
from dataproducts.core.spec import Access, Column, DataProductSpec, OutputPort, Visibility

# (product id, output port) -> the products that read it now, whose access a narrowed policy may take away
PortReaders = Callable[[str, str], list[str]]


class Level(str, enum.Enum):
    breaking = "breaking"
    minor = "minor"
    patch = "patch"


@dataclass(frozen=True)
class Change:
    product_id: str
    level: Level
    field: str  # where in the new spec; for something removed, the closest field that is still there
    message: str
    port: Optional[str] = None  # the output port concerned (its name before the change); None: the whole product
    columns: tuple[str, ...] = ()  # the contract columns concerned
    readers: tuple[str, ...] = ()  # access narrowed: only these consumers lose it
    migration: Optional[str] = None  # what the change does to the history already in the table, and how to plan it


def rebuild_history(spec: DataProductSpec, table: str, full_refresh: bool) -> str:
    """The command that rebuilds every date the table holds (a planned migration, never a silent one)."""
    ref = naming.table_ref(spec.domain, table)
    refresh = " --full-refresh" if full_refresh else ""
    return (
        f"`dataproducts rerun {spec.id} --start FIRST --end LAST{refresh}` once it is deployed "
        f"(FIRST, LAST: `select min(business_date), max(business_date) from {ref}`); its consumers rebuild each date after it"
    )


def _type_changed_migration(spec: DataProductSpec, port: OutputPort) -> str:
    return (
        "the dates already in the table keep the old type (incremental runs append new dates, never rewrite old ones); "
        f"to change the whole table, rebuild its history with a full refresh: {rebuild_history(spec, port.table_name, True)}"
    )


def _column_removed_migration(spec: DataProductSpec, port: OutputPort) -> str:
    return (
        "the column stays in the table with the values of the dates already built, and holds null from the next date on "
        "(on_schema_change: append_new_columns never drops a column); to drop it, rebuild the history with a full refresh: "
        f"{rebuild_history(spec, port.table_name, True)}"
    )


def _column_added_migration(spec: DataProductSpec, port: OutputPort) -> str:
    return (
        "the column is added to the existing table with every date kept (on_schema_change: append_new_columns); the dates "
        f"built before hold null in it unless rebuilt: {rebuild_history(spec, port.table_name, False)}"
    )


def _table_renamed_migration(spec: DataProductSpec, old: OutputPort, new: OutputPort) -> str:
    return (
        f"the new table {naming.table_ref(spec.domain, new.table_name)} starts with the next date only, and the old one "
        f"stays until dropped; to carry the history over: {rebuild_history(spec, new.table_name, False)}"
    )


PATCH_FIELDS = ("name", "description", "status", "owner", "tags", "terms", "schedule", "input_ports", "transform")


def product_changes(old: Optional[DataProductSpec], new: Optional[DataProductSpec], readers: PortReaders) -> list[Change]:
    """Every change from old to new (None: the product does not exist on that side)."""
    if new is None:
        return [Change(old.id, Level.breaking, "", f"product '{old.id}' was removed")] if old else []
    if old is None:
        return [Change(new.id, Level.minor, "", f"product '{new.id}' was added")]
    return [*_product_field_changes(old, new), *_port_changes(old, new, readers)]


def _product_field_changes(old: DataProductSpec, new: DataProductSpec) -> Iterator[Change]:
    for name in PATCH_FIELDS:
        if getattr(old, name) != getattr(new, name):
            yield Change(new.id, Level.patch, name, f"{name} changed")
    if old.deprecation != new.deprecation:
        yield _deprecation_change(new.id, "deprecation", new.deprecation, None)


def _deprecation_change(product_id: str, field: str, deprecation, port: Optional[str]) -> Change:
    what = f"output port '{port}'" if port else "the product"
    if deprecation is None:
        return Change(product_id, Level.minor, field, f"{what} is no longer deprecated", port)
    return Change(product_id, Level.minor, field, f"{what} is deprecated, sunset {deprecation.sunset.isoformat()}", port)


def _port_changes(old: DataProductSpec, new: DataProductSpec, readers: PortReaders) -> Iterator[Change]:
    new_ports = {p.name: (i, p) for i, p in enumerate(new.output_ports)}
    for port in old.output_ports:
        if port.name not in new_ports:
            yield Change(new.id, Level.breaking, "output_ports", f"output port '{port.name}' was removed", port.name)
            continue
        i, now = new_ports[port.name]
        yield from _one_port_changes(new, f"output_ports[{i}]", port, now, readers(new.id, port.name))
    old_names = {p.name for p in old.output_ports}
    for i, port in enumerate(new.output_ports):
        if port.name not in old_names:
            yield Change(new.id, Level.minor, f"output_ports[{i}]", f"output port '{port.name}' was added", port.name)


def _one_port_changes(
    new_spec: DataProductSpec, where: str, old: OutputPort, new: OutputPort, consumers: list[str]
) -> Iterator[Change]:
    pid, name = new_spec.id, old.name
    if old.table_name != new.table_name:
        message = f"output port '{name}''s table was renamed from '{old.table_name}' to '{new.table_name}'"
        migration = _table_renamed_migration(new_spec, old, new)
        yield Change(pid, Level.breaking, f"{where}.table", message, name, migration=migration)
    if old.description != new.description:
        yield Change(pid, Level.patch, f"{where}.description", f"output port '{name}''s description changed", name)
    if old.freshness != new.freshness:
        yield Change(pid, Level.minor, f"{where}.freshness", f"output port '{name}''s freshness changed", name)
    if old.quality != new.quality:
        yield Change(pid, Level.minor, f"{where}.quality", f"output port '{name}''s quality rules changed", name)
    if old.deprecation != new.deprecation:
        yield _deprecation_change(pid, f"{where}.deprecation", new.deprecation, name)
    if old.access != new.access:
        yield _access_change(new_spec, f"{where}.access", old, new, consumers)
    yield from _column_changes(new_spec, f"{where}.contract.columns", new, old.contract.columns, new.contract.columns)


def _column_changes(
    spec: DataProductSpec, where: str, port: OutputPort, old: list[Column], new: list[Column]
) -> Iterator[Change]:
    pid, name = spec.id, port.name
    now = {c.name: (j, c) for j, c in enumerate(new)}
    for column in old:
        if column.name not in now:
            message = f"column '{column.name}' of output port '{name}' was removed"
            migration = _column_removed_migration(spec, port)
            yield Change(pid, Level.breaking, where, message, name, (column.name,), migration=migration)
            continue
        j, current = now[column.name]
        yield from _one_column_changes(spec, f"{where}[{j}]", port, column, current)
    before = {c.name for c in old}
    for j, column in enumerate(new):
        if column.name not in before:
            message = f"column '{column.name}' was added to output port '{name}'"
            migration = _column_added_migration(spec, port)
            yield Change(pid, Level.minor, f"{where}[{j}]", message, name, (column.name,), migration=migration)


def _one_column_changes(spec: DataProductSpec, where: str, port: OutputPort, old: Column, new: Column) -> Iterator[Change]:
    def change(level: Level, field: str, words: str, migration: Optional[str] = None) -> Change:
        message = f"column '{old.name}' of output port '{port.name}' {words}"
        return Change(spec.id, level, f"{where}.{field}", message, port.name, (old.name,), migration=migration)

    if old.type != new.type:
        words = f"changed type from {old.type.value} to {new.type.value}"
        yield change(Level.breaking, "type", words, _type_changed_migration(spec, port))
    for flag in ("required", "unique"):
        was, now = getattr(old, flag), getattr(new, flag)
        if was and not now:
            yield change(Level.breaking, flag, f"is no longer {flag}")
        elif now and not was:
            yield change(Level.minor, flag, f"is now {flag}")
    if old.description != new.description:
        yield change(Level.patch, "description", "has a new description")


def _access_change(spec: DataProductSpec, where: str, old_port: OutputPort, new_port: OutputPort, consumers: list[str]) -> Change:
    port, old, new = old_port.name, old_port.access, new_port.access
    lost = tuple(c for c in consumers if access.may_read(spec, old_port, c) and not access.may_read(spec, new_port, c))
    described = f"from {_policy(old)} to {_policy(new)}"
    if lost:
        message = f"output port '{port}''s access narrowed {described}: {', '.join(lost)} may no longer read it"
        return Change(spec.id, Level.breaking, where, message, port, readers=lost)
    kind = "widened" if _covers(new, old) else "narrowed, for none of its current consumers,"
    return Change(spec.id, Level.minor, where, f"output port '{port}''s access {kind} {described}", port)


def _policy(policy: Access) -> str:
    listed = [*policy.domains, *policy.products]
    return policy.visibility.value + (f" ({', '.join(listed)})" if listed else "")


def _covers(wide: Access, narrow: Access) -> bool:
    """Whether `wide` lets every reader in that `narrow` lets in."""
    if wide.visibility is Visibility.open:
        return True
    if narrow.visibility is Visibility.open:
        return False
    if narrow.visibility is Visibility.domain:
        return True
    if wide.visibility is Visibility.domain:
        return False
    domains = set(wide.domains)
    return set(narrow.domains) <= domains and all(p in wide.products or p.split(".")[0] in domains for p in narrow.products)
