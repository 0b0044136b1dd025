"""Where the specs of a mesh break the naming rules (core/naming_rules.py), when specs load.

Returns (errors, warnings) by product id, as the other checks across specs do: an error-severity
finding breaks that spec (its own broken-spec DAG, every other product unaffected), a warn one is
a warning of a valid spec. Every finding names the field, the rule and a suggested name. Table
names are unique across the mesh: of two specs using one table name, the later file (by path) is
flagged, naming the earlier one; only valid specs take part, checked last, so a spec broken for
another reason never breaks the one it shares a table name with.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import NamedTuple, Optional

from dataproducts.core.errors import SpecError
from dataproducts.core.loader import LoadedSpec
from dataproducts.core.naming_rules import UNIQUE_TABLE_NAMES, PatternRule, Rules, Severity, configured
from dataproducts.core.spec import DataProductSpec, OutputPort

Findings = dict[str, list[SpecError]]


class Name(NamedTuple):
    """A name written in a spec, the rule it must keep, and how to rename it ({} is the new name).
    A named tuple, not a frozen dataclass: a mesh of 10,000 specs makes 127,000 of them, and a frozen
    dataclass sets each field through object.__setattr__ (0.17 s of CPU instead of 0.07 s)."""

    rule: str
    what: str
    field: str
    value: str
    rename: str


def pattern_findings(mesh, rules: Optional[Rules] = None) -> tuple[Findings, Findings]:
    """Names that do not match their rule's pattern, in every spec that loaded."""
    rules = rules or configured()
    found = _by_severity()
    for entry in sorted((e for e in mesh.entries.values() if e.spec is not None), key=lambda e: e.path):
        for name in _names(entry.spec, rules):
            rule = rules[name.rule]
            if not rule.allows(name.value):
                found[rule.severity][entry.product_id].append(_pattern_error(entry.path, name, rule))
    return found[Severity.error], found[Severity.warn]


def table_findings(mesh, rules: Optional[Rules] = None) -> tuple[Findings, Findings]:
    """Table names used twice, among the valid specs (a broken spec claims no name, so it never breaks another)."""
    severity = (rules or configured()).unique_table_names
    found = _by_severity()
    if severity is not Severity.off:
        for pid, error in _reused_tables(mesh):
            found[severity][pid].append(error)
    return found[Severity.error], found[Severity.warn]


def _by_severity() -> dict[Severity, Findings]:
    return {Severity.error: defaultdict(list), Severity.warn: defaultdict(list)}


def _names(spec: DataProductSpec, rules: Rules) -> Iterator[Name]:
    yield Name("product_id", "product id", "id", spec.id, "")
    for i, reads in enumerate(spec.input_ports):
        yield Name("port_name", "input port name", f"input_ports[{i}].name", reads.name, "rename it to '{}'")
    for i, port in enumerate(spec.output_ports):
        yield from _output_port_names(f"output_ports[{i}]", port, rules)


def _output_port_names(where: str, port: OutputPort, rules: Rules) -> Iterator[Name]:
    yield Name("port_name", "output port name", f"{where}.name", port.name, "rename it to '{}' (its readers name it in port:)")
    if port.table is not None:
        yield Name("table_name", "table name", f"{where}.table", port.table, "rename it to '{}' (table: and the dbt model)")
    elif not _port_finding_covers_table(port.name, rules):
        rename = "add table: {} (and name the dbt model so), or rename the port"
        yield Name("table_name", "table name (the port's name)", f"{where}.name", port.name, rename)
    for j, column in enumerate(port.contract.columns):
        rename = "rename it to '{}' in the contract and in the dbt model"
        yield Name("column_name", "column name", f"{where}.contract.columns[{j}].name", column.name, rename)


def _port_finding_covers_table(name: str, rules: Rules) -> bool:
    """A table named by its port: the port's finding covers it (renaming the port renames the table)
    unless the port's rule is the milder one."""
    port, table = rules["port_name"], rules["table_name"]
    return not port.allows(name) and (port.severity is Severity.error or table.severity is not Severity.error)


def _pattern_error(path: str, name: Name, rule: PatternRule) -> SpecError:
    suggestion = rule.suggestion(name.value)
    if suggestion is None:
        fix = f"rename it so that it matches '{rule.regex.pattern}'"
    elif name.rule == "product_id":
        fix = _rename_product(name.value, suggestion)
    else:
        fix = name.rename.format(suggestion)
    return SpecError(path, name.field, f"{name.what} '{name.value}' {rule.shape} (naming rule {rule.name})", fix)


def _rename_product(old: str, new: str) -> str:
    domain, product = new.split(".", 1)
    also = f" and domain: {domain}" if old.split(".", 1)[0] != domain else ""
    return f"rename the product to '{new}': set id: {new}{also}, and move the file to product_specs/{domain}/{product}.yaml"


def _reused_tables(mesh) -> Iterator[tuple[str, SpecError]]:
    loaded = sorted((mesh.entries[pid] for pid in mesh.products), key=lambda e: e.path)
    taken = {port.table_name for entry in loaded for port in entry.spec.output_ports}
    first_use: dict[str, tuple[LoadedSpec, str]] = {}
    for entry in loaded:
        for i, port in enumerate(entry.spec.output_ports):
            if port.table_name not in first_use:
                first_use[port.table_name] = (entry, port.name)
                continue
            suggestion = _unused_name(entry.spec, port.table_name, taken)
            taken.add(suggestion)
            field = f"output_ports[{i}].{'table' if port.table is not None else 'name'}"
            yield entry.product_id, _reused_table(entry.path, field, port.table_name, first_use[port.table_name], suggestion)


def _reused_table(path: str, field: str, table: str, first_use: tuple[LoadedSpec, str], suggestion: str) -> SpecError:
    earlier, earlier_port = first_use
    problem = (
        f"table name '{table}' is already used by {earlier.product_id} ({earlier.path}, output port '{earlier_port}'); "
        f"table names are unique across the mesh (naming rule {UNIQUE_TABLE_NAMES})"
    )
    return SpecError(path, field, problem, f"rename it, e.g. to '{suggestion}' (table: and the dbt model)")


def _unused_name(spec: DataProductSpec, table: str, taken: set[str]) -> str:
    domain, product = spec.id.split(".", 1)
    first = f"{domain}_{table}" if table.startswith(product) else f"{product}_{table}"
    candidates = [first, f"{domain}_{product}_{table}"]
    candidates += [f"{first}_{n}" for n in range(2, len(taken) + 3)]
    return next(c for c in candidates if c not in taken)
