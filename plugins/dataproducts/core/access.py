"""Who may read an output port, decided from the producer's spec, and the reads that break it.

A product reads another's port by declaring an input port; a read the port's access policy does
not allow breaks the reader's spec when specs load (its producer and its other consumers are
unaffected). A read that bypasses the input ports, a dbt source on another product's table that
no input port declares, is reported too, so the policy cannot be bypassed by writing SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from dataproducts.core.errors import SpecError
from dataproducts.core.manifest import Manifest
from dataproducts.core.spec import DataProductSpec, OutputPort, Visibility


def may_read(producer: DataProductSpec, port: OutputPort, reader_id: str) -> bool:
    reader_domain = reader_id.split(".", 1)[0]
    access = port.access
    if access.visibility is Visibility.open or reader_domain == producer.domain:
        return True
    if access.visibility is Visibility.domain:
        return False
    return reader_domain in access.domains or reader_id in access.products


def reader_domains(producer: DataProductSpec, port: OutputPort) -> tuple[str, ...] | None:
    """The domains whose products may read the port (all of a product's domain, since warehouse
    roles are per domain), the producer's first; None when the port is open to every domain."""
    access = port.access
    if access.visibility is Visibility.open:
        return None
    others = set(access.domains) | {p.split(".", 1)[0] for p in access.products}
    return (producer.domain, *sorted(others - {producer.domain}))


def describe(producer: DataProductSpec, port: OutputPort) -> str:
    """'open to all products', 'only products of domain pricing', 'domain pricing and: domains
    advertising; products fleet.routes'"""
    access = port.access
    if access.visibility is Visibility.open:
        return "open to all products"
    domains = [d for d in access.domains if d != producer.domain]
    if access.visibility is Visibility.domain or not (domains or access.products):
        return f"only products of domain {producer.domain}"
    listed = []
    if domains:
        listed.append("domains " + ", ".join(domains))
    if access.products:
        listed.append("products " + ", ".join(access.products))
    return f"restricted to domain {producer.domain} and {'; '.join(listed)}"


def forbidden_read_errors(mesh) -> dict[str, list[SpecError]]:
    """Input ports that read a port whose policy does not allow the reader."""
    errors: dict[str, list[SpecError]] = defaultdict(list)
    for pid, spec in mesh.products.items():
        for i, input_port in enumerate(spec.input_ports):
            if not input_port.is_product:
                continue
            producer = mesh.products.get(input_port.product)
            port = next((o for o in producer.output_ports if o.name == input_port.port), None) if producer else None
            if port is None or may_read(producer, port, pid):
                continue
            errors[pid].append(
                SpecError(
                    mesh.entries[pid].path,
                    f"input_ports[{i}].port",
                    f"'{pid}' may not read '{producer.id}.{port.name}': the port's access is {describe(producer, port)}",
                    f"ask its owner, team {producer.owner.team} ({producer.owner.contact}), to add '{pid}' or domain "
                    f"'{spec.domain}' to output port '{port.name}''s access, or remove this input port",
                )
            )
    return errors


def undeclared_read_errors(mesh, path: str, spec: DataProductSpec, manifest: Manifest) -> Iterator[SpecError]:
    """Another product's table that the spec's output models read through a dbt source (directly or
    through other models) without an input port declaring it."""
    declared = {p.upstream for p in spec.product_inputs}
    project = spec.transform.dbt.project
    reported: set[tuple[str, str]] = set()
    for port in spec.output_ports:
        model = manifest.model_for_table(port.table_name)
        if model is None:
            continue
        for relation in sorted(manifest.sources_read_by(model.unique_id)):
            owner = _other_writer(mesh, relation, spec.id)
            if owner is None or (owner[0], owner[1].name) in declared or relation in reported:
                continue
            reported.add(relation)
            product_id, output = owner
            yield SpecError(
                path,
                "input_ports",
                f"dbt model '{port.table_name}' of dbt project '{project}' reads {relation[0]}.{relation[1]}, "
                f"output port '{output.name}' of product '{product_id}', through a dbt source, but no input port declares it",
                f"add an input port {{product: {product_id}, port: {output.name}}} (its access policy then applies), "
                f"or stop reading the table",
            )


def _other_writer(mesh, relation: tuple[str, str], reader_id: str) -> tuple[str, OutputPort] | None:
    """The product (other than the reader) whose output port writes the table; the last in the mesh's order."""
    writers = [writer for writer in mesh.output_tables.get(relation, ()) if writer[0] != reader_id]
    return writers[-1] if writers else None
