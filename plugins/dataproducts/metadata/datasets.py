"""A product's datasets: its output and input ports resolved to warehouse relations and DataHub URNs.

Resolved through the dbt manifests: an output port is the model of its table in the product's own
project; an input port is what the consumer's own dbt source points at (another product's output
table, or an external table). Table-level lineage follows each output model's depends_on through
the product's own (ephemeral or intermediate) models to the declared inputs: lineage is drawn at
the data product boundary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional

from dataproducts.core.manifest import Manifest, Model, Relation, load_manifest
from dataproducts.core.mesh import Mesh
from dataproducts.core.spec import Column, DataProductSpec, OutputPort
from dataproducts.metadata import urns

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutputDataset:
    port: OutputPort
    urn: str
    relation: Relation
    model: Model


@dataclass(frozen=True)
class InputDataset:
    port_name: str
    urn: str
    relation: Relation
    source_unique_id: Optional[str]
    columns: tuple[Column, ...] = ()  # the producer's contract, when another product provides it


@dataclass
class ProductDatasets:
    spec: DataProductSpec
    manifest: Manifest
    outputs: list[OutputDataset] = field(default_factory=list)
    inputs: list[InputDataset] = field(default_factory=list)


def _manifest(mesh: Mesh, spec: DataProductSpec) -> Manifest:
    path = mesh.project.manifest_path(spec.transform.dbt.project)
    manifest = load_manifest(path)
    if manifest is None:
        raise ValueError(f"{spec.id}: no dbt manifest at {path}; run `dataproducts compile` first")
    return manifest


def _output_relation(manifest: Manifest, spec: DataProductSpec, port: OutputPort) -> tuple[Relation, Model]:
    model = manifest.model_for_table(port.table_name)
    if model is None:
        raise ValueError(f"{spec.id}: output port '{port.name}': dbt project has no model for table '{port.table_name}'")
    return model.relation, model


def product_datasets(mesh: Mesh, product_id: str) -> ProductDatasets:
    """The product's output and input datasets, resolved to warehouse relations and URNs."""
    spec = mesh.products.get(product_id)
    if spec is None:
        raise KeyError(f"'{product_id}' is not a valid product of the mesh")
    manifest = _manifest(mesh, spec)
    result = ProductDatasets(spec, manifest)
    for port in spec.output_ports:
        relation, model = _output_relation(manifest, spec, port)
        result.outputs.append(OutputDataset(port, urns.dataset_urn(manifest.adapter_type, relation), relation, model))
    for input_port in spec.input_ports:
        columns: tuple[Column, ...] = ()
        if input_port.is_product:
            product, port_name = input_port.upstream
            producer = mesh.products.get(product)
            producer_port = next((p for p in producer.output_ports if p.name == port_name), None) if producer else None
            if producer is None or producer_port is None:
                # the producer's spec is broken: its table is unknown until it is fixed, and one
                # broken spec must not stop its consumers' metadata (the edge returns on the next sync)
                log.warning("%s: lineage from %s.%s left out while that spec is broken", spec.id, product, port_name)
                continue
            produced, _ = _output_relation(_manifest(mesh, producer), producer, producer_port)
            schema, table = produced.schema, produced.name
            columns = tuple(producer_port.contract.columns)
        else:
            schema, table = input_port.source_table.schema_, input_port.source_table.table
        # The consumer's own dbt source is what its SQL reads: resolve through the consumer's manifest.
        source = manifest.source_relation(schema, table)
        if source is None and not input_port.is_product:
            raise ValueError(f"{spec.id}: input '{input_port.name}': no dbt source for {schema}.{table} in the manifest")
        relation = source or produced
        result.inputs.append(
            InputDataset(
                input_port.name,
                urns.dataset_urn(manifest.adapter_type, relation),
                relation,
                manifest.source_unique_id(schema, table),
                columns,
            )
        )
    return result


def upstream_inputs(datasets: ProductDatasets, output: OutputDataset) -> list[InputDataset]:
    """Declared inputs the output's model reads, following depends_on through the project's models."""
    by_source = {i.source_unique_id: i for i in datasets.inputs if i.source_unique_id}
    found: dict[str, InputDataset] = {}
    seen: set[str] = set()
    frontier = [output.model.unique_id]
    while frontier:
        uid = frontier.pop()
        if uid in seen:
            continue
        seen.add(uid)
        if uid in by_source:
            found[by_source[uid].urn] = by_source[uid]
            continue
        model = datasets.manifest.model(uid)
        if model is not None:
            frontier.extend(model.depends_on)
    return [found[u] for u in sorted(found)]
