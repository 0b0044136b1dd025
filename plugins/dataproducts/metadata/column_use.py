"""Which columns of an input port a consumer uses, from the column lineage of its output models
(lineage.py: DataHub's SQL parser over the SQL dbt compiled, from the consumer's latest run or the
manifest's compiled_code). Lineage ties output columns to the input columns they are computed
from: columns read only in filters and joins are not in it. Unknown (None) whenever the SQL was
never compiled or the parser could not read it, never a guess."""

from __future__ import annotations

import logging
from typing import Optional

from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.metadata import compiled_sql
from dataproducts.metadata.datasets import InputDataset, ProductDatasets, product_datasets, upstream_inputs
from dataproducts.metadata.lineage import fine_grained_lineage

log = logging.getLogger(__name__)


class ColumnUseFinder:
    def __init__(self, project: Project):
        # the specs as written, not checked against dbt: a breaking change usually breaks the
        # producer's agreement with its dbt model until the model follows, and only tables are needed here
        self.mesh = load_mesh(project, check_dbt=False)
        self.sql = compiled_sql.remembered(project)
        self._found: dict[tuple[str, str], Optional[frozenset[str]]] = {}

    def columns_used(self, consumer: str, input_port: str) -> Optional[frozenset[str]]:
        key = (consumer, input_port)
        if key not in self._found:
            try:
                self._found[key] = self._columns_used(consumer, input_port)
            except Exception as exc:  # any trouble only costs the detail: the consumer is still named
                log.warning("columns %s uses through %s are unknown: %s", consumer, input_port, exc)
                self._found[key] = None
        return self._found[key]

    def _columns_used(self, consumer: str, input_port: str) -> Optional[frozenset[str]]:
        if consumer not in self.mesh.products:
            return None
        datasets = product_datasets(self.mesh, consumer)
        read = next((i for i in datasets.inputs if i.port_name == input_port), None)
        if read is None:
            return None
        used: set[str] = set()
        for output in datasets.outputs:
            inputs = upstream_inputs(datasets, output)
            if read.urn not in {i.urn for i in inputs}:
                continue
            found = _traced(datasets, output, inputs, read, self.sql)
            if found is None:
                return None
            used |= found
        return frozenset(used)


def _traced(datasets: ProductDatasets, output, inputs: list[InputDataset], read: InputDataset, sql) -> Optional[set[str]]:
    if not (sql.get(output.model.unique_id) or output.model.compiled_code):
        return None
    lineage = fine_grained_lineage(datasets, output, inputs, sql)
    if not lineage:
        return None  # the parser found nothing it could tie: unknown rather than "uses nothing"
    prefix = f"urn:li:schemaField:({read.urn},"
    return {u[len(prefix) : -1] for item in lineage for u in item.upstreams or [] if u.startswith(prefix)}
