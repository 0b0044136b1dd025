"""Deprecated products and ports: their consumers are warned until the sunset date, and a consumer
that still reads one after it is a broken spec (its producer and every other product unaffected).

Decided when specs load, against "today" (UTC; a parameter, so tests choose the day). The mesh
cache's fingerprint carries the day too, so a sunset takes effect on the first parse after it.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from dataproducts.core import naming
from dataproducts.core.errors import SpecError

if TYPE_CHECKING:  # annotations only: the mesh state's key asks today() without the spec models
    from dataproducts.core.spec import DataProductSpec, Deprecation, InputPort

Findings = dict[str, list[SpecError]]
MAX_NOTE = 200


def today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


@dataclass(frozen=True)
class DeprecatedRead:
    """An input port that reads a deprecated product or port."""

    reader: DataProductSpec
    index: int  # of the input port
    producer: DataProductSpec
    deprecation: Deprecation
    whole_product: bool

    @property
    def what(self) -> str:
        product, port = self.reader.input_ports[self.index].upstream
        return f"product '{product}'" if self.whole_product else f"output port '{naming.port_id(product, port)}'"

    @property
    def field(self) -> str:
        return f"input_ports[{self.index}].{'product' if self.whole_product else 'port'}"


def deprecated_reads(mesh) -> Iterator[DeprecatedRead]:
    for spec in mesh.products.values():
        for i, port in enumerate(spec.input_ports):
            found = _deprecation_read(mesh, spec, i, port)
            if found is not None:
                yield found


def _deprecation_read(mesh, reader: DataProductSpec, index: int, port: InputPort) -> Optional[DeprecatedRead]:
    if not port.is_product:
        return None
    producer = mesh.products.get(port.product)
    output = next((o for o in producer.output_ports if o.name == port.port), None) if producer else None
    if producer is None or output is None:
        return None
    candidates = [(d, whole) for d, whole in ((producer.deprecation, True), (output.deprecation, False)) if d is not None]
    if not candidates:
        return None
    deprecation, whole = min(candidates, key=lambda c: c[0].sunset)  # the earlier sunset decides
    return DeprecatedRead(reader, index, producer, deprecation, whole)


def findings(mesh, on: datetime.date) -> tuple[Findings, Findings]:
    """(errors, warnings) by product id: reads after the sunset are errors, reads before it warnings;
    a replacement that names no known product or port is an error of the deprecating spec."""
    errors: Findings = defaultdict(list)
    warnings: Findings = defaultdict(list)
    for read in deprecated_reads(mesh):
        path = mesh.entries[read.reader.id].path
        if on > read.deprecation.sunset:
            errors[read.reader.id].append(_after_sunset(path, read))
        else:
            warnings[read.reader.id].append(_before_sunset(path, read, on))
    for pid, problems in _replacement_errors(mesh).items():
        errors[pid].extend(problems)
    return errors, warnings


def _note(deprecation: Deprecation) -> str:
    note = " ".join(deprecation.note.split())
    if not note:
        return ""
    return f" ({note if len(note) <= MAX_NOTE else note[: MAX_NOTE - 1] + '…'})"


def _ask(producer: DataProductSpec) -> str:
    return f"its owner, team {producer.owner.team} ({producer.owner.contact})"


def _before_sunset(path: str, read: DeprecatedRead, on: datetime.date) -> SpecError:
    sunset = read.deprecation.sunset.isoformat()
    days = (read.deprecation.sunset - on).days
    replacement = read.deprecation.replacement
    return SpecError(
        path,
        read.field,
        f"reads {read.what}, which is deprecated{_note(read.deprecation)}: it may be read until its sunset on {sunset} "
        f"({days} days left), after which this spec breaks",
        f"read '{replacement}' instead before {sunset}"
        if replacement
        else f"stop reading it before {sunset}; ask {_ask(read.producer)} what replaces it",
    )


def _after_sunset(path: str, read: DeprecatedRead) -> SpecError:
    replacement = read.deprecation.replacement
    return SpecError(
        path,
        read.field,
        f"reads {read.what}, which reached its sunset on {read.deprecation.sunset.isoformat()} and may no longer be "
        f"read{_note(read.deprecation)}",
        f"read '{replacement}' instead (change this input port), or remove this input port"
        if replacement
        else f"remove this input port; ask {_ask(read.producer)} what replaces it",
    )


def _replacement_errors(mesh) -> Findings:
    errors: Findings = defaultdict(list)
    for pid, spec in mesh.products.items():
        marked = [("deprecation", spec.deprecation)]
        marked += [(f"output_ports[{i}].deprecation", p.deprecation) for i, p in enumerate(spec.output_ports)]
        for where, deprecation in marked:
            if deprecation is not None and deprecation.replacement and not _known(mesh, deprecation.replacement):
                errors[pid].append(
                    SpecError(
                        mesh.entries[pid].path,
                        f"{where}.replacement",
                        f"'{deprecation.replacement}' is not a known product or output port",
                        "name an existing '<product id>.<port>' (`dataproducts list` shows them), or leave replacement out",
                    )
                )
    return errors


def _known(mesh, reference: str) -> bool:
    parts = reference.split(".")
    product = ".".join(parts[:2])
    if product not in mesh.entries:
        return False
    spec = mesh.products.get(product)
    return len(parts) == 2 or spec is None or any(o.name == parts[2] for o in spec.output_ports)
