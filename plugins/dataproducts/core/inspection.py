"""Looking at the mesh from the command line: one product in full, the product graph, the impact
of a change. Pure: every function takes the loaded mesh and returns text or plain data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from dataproducts.core import access, naming, quality
from dataproducts.core.mesh import Mesh
from dataproducts.core.spec import DataProductSpec


@dataclass(frozen=True)
class Edge:
    producer: str
    port: str
    consumer: str


def edges(mesh: Mesh, domain: Optional[str] = None) -> list[Edge]:
    """Producer -> consumer per port read; with a domain, the edges touching its products."""
    result = [Edge(p.upstream[0], p.upstream[1], pid) for pid in mesh.run_order() for p in mesh.products[pid].product_inputs]
    if domain:
        result = [e for e in result if domain in (_domain(e.producer), _domain(e.consumer))]
    return result


def graph_nodes(mesh: Mesh, domain: Optional[str] = None) -> list[str]:
    """Products of the graph in run order (broken specs last), with a domain: its own products
    and their direct neighbours."""
    shown = mesh.run_order() + sorted(mesh.broken)
    if not domain:
        return shown
    touching = {pid for e in edges(mesh, domain) for pid in (e.producer, e.consumer)}
    return [pid for pid in shown if _domain(pid) == domain or pid in touching]


def graph_text(mesh: Mesh, domain: Optional[str] = None) -> str:
    lines = []
    for pid in graph_nodes(mesh, domain):
        if pid in mesh.broken:
            lines.append(f"{pid}  BROKEN SPEC")
            continue
        reads = [f"{e.producer}.{e.port}" for e in edges(mesh) if e.consumer == pid]
        lines.append(f"{pid}" + (f"  <- {', '.join(reads)}" if reads else "  (root)"))
    return "\n".join(lines)


def graph_mermaid(mesh: Mesh, domain: Optional[str] = None) -> str:
    lines = ["flowchart LR"]
    for dom in sorted({_domain(pid) for pid in graph_nodes(mesh, domain)}):
        lines.append(f"  subgraph {dom}")
        lines += [f'    {_node(pid)}["{pid}"]' for pid in graph_nodes(mesh, domain) if _domain(pid) == dom]
        lines.append("  end")
    lines += [f"  {_node(e.producer)} -->|{e.port}| {_node(e.consumer)}" for e in edges(mesh, domain)]
    broken = [_node(pid) for pid in graph_nodes(mesh, domain) if pid in mesh.broken]
    if broken:
        lines.append("  classDef broken stroke:#d32f2f,color:#d32f2f")
        lines.append(f"  class {','.join(broken)} broken")
    return "\n".join(lines)


def graph_dot(mesh: Mesh, domain: Optional[str] = None) -> str:
    lines = ["digraph mesh {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for dom in sorted({_domain(pid) for pid in graph_nodes(mesh, domain)}):
        lines.append(f'  subgraph "cluster_{dom}" {{')
        lines.append(f'    label="{dom}";')
        for pid in graph_nodes(mesh, domain):
            if _domain(pid) == dom:
                style = ', color="red", fontcolor="red"' if pid in mesh.broken else ""
                lines.append(f'    "{pid}" [label="{pid}"{style}];')
        lines.append("  }")
    lines += [f'  "{e.producer}" -> "{e.consumer}" [label="{e.port}"];' for e in edges(mesh, domain)]
    lines.append("}")
    return "\n".join(lines)


GRAPH_FORMATS = {"text": graph_text, "mermaid": graph_mermaid, "dot": graph_dot}


@dataclass(frozen=True)
class Impacted:
    product_id: str
    owner: str
    contact: str
    depth: int  # 1: reads the changed product itself
    via: tuple[str, ...]  # the ports of the changed product (depth 1) or of upstream products it reads


def impact(mesh: Mesh, product_id: str, port: Optional[str] = None) -> list[Impacted]:
    """Every product a change of the product (or of one of its ports) reaches, in run order,
    with its owner and how far away it is."""
    depth: dict[str, int] = {}
    via: dict[str, set[str]] = {}
    frontier = [(product_id, port)]
    while frontier:
        producer, only_port = frontier.pop(0)
        for e in edges(mesh):
            if e.producer != producer or (only_port and e.port != only_port):
                continue
            via.setdefault(e.consumer, set()).add(f"{e.producer}.{e.port}")
            if e.consumer not in depth:
                depth[e.consumer] = depth.get(producer, 0) + 1
                frontier.append((e.consumer, None))
    result = []
    for pid in mesh.run_order():
        if pid in depth:
            spec = mesh.products[pid]
            result.append(Impacted(pid, spec.owner.team, spec.owner.contact, depth[pid], tuple(sorted(via[pid]))))
    return result


def describe(mesh: Mesh, product_id: str) -> list[str]:
    """`dataproducts show`: the spec as an operator needs it, plus where it sits in the mesh."""
    entry = mesh.entries[product_id]
    spec = entry.spec
    if spec is None or not entry.ok:
        return [f"{product_id}  BROKEN SPEC ({entry.path})"] + [f"  {e}" for e in entry.errors]
    lines = [
        f"{spec.id}  {spec.name}  v{spec.version} ({spec.status.value})",
        f"  spec:        {entry.path}",
        f"  owner:       {spec.owner.team} <{spec.owner.contact}>",
        f"  schedule:    {spec.schedule_summary}",
        f"  dbt:         project {spec.transform.dbt.project}, select {' '.join(spec.transform.dbt.select)}",
    ]
    if spec.tags:
        lines.append(f"  tags:        {', '.join(spec.tags)}")
    lines.append("  reads:")
    lines += [f"    {p.name}: {_input_text(p)}" for p in spec.input_ports] or ["    (nothing)"]
    lines.append("  output ports:")
    for port in spec.output_ports:
        lines += _port_lines(mesh, spec, port)
    lines.append(f"  upstream:    {', '.join(mesh.upstream_products(spec.id)) or '-'}")
    lines.append(f"  downstream:  {', '.join(mesh.downstream_of(spec.id)) or '-'}")
    return lines


def _port_lines(mesh: Mesh, spec: DataProductSpec, port) -> list[str]:
    freshness = f", fresh within {port.freshness.max_age_hours:g} h" if port.freshness else ""
    readers = sorted(
        pid
        for pid in mesh.consumers_of(spec.id)
        if any(p.upstream == (spec.id, port.name) for p in mesh.products[pid].product_inputs)
    )
    lines = [
        f"    {naming.port_id(spec.id, port.name)}: table {naming.table_ref(spec.domain, port.table_name)}{freshness}; read by {', '.join(readers) or '-'}",
        f"      access: {access.describe(spec, port)}",
        "      contract:",
    ]
    for column in port.contract.columns:
        flags = " ".join(f for f, on in (("required", column.required), ("unique", column.unique)) if on)
        lines.append(f"        {column.name:28} {column.type.value:10} {flags}".rstrip())
    lines.append("      quality rules:")
    lines += [f"        {line}" for line in quality.rule_lines(port)]
    return lines


def _input_text(port) -> str:
    if port.is_product:
        return naming.port_id(*port.upstream)
    source = port.source_table
    return f"source {source.schema_}.{source.table}" + (f" ({source.system})" if source.system else "")


def _domain(product_id: str) -> str:
    return product_id.split(".", 1)[0]


def _node(product_id: str) -> str:
    return product_id.replace(".", "__")
