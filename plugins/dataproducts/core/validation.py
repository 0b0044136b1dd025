"""Checks that need more than one spec: references, cycles, and agreement with dbt's manifest.

Each check returns {product id: [SpecError, ...]}; the mesh marks those products broken. A
product whose upstream spec is broken stays valid: its schedule only needs the upstream port's
name, which the naming convention gives, so one broken spec never takes its consumers down.
"""

from __future__ import annotations

from collections import defaultdict

from dataproducts.core.errors import SpecError
from dataproducts.core.manifest import Manifest, load_manifest
from dataproducts.core.spec import DataProductSpec

Errors = dict[str, list[SpecError]]


def graph_errors(mesh) -> Errors:
    errors: Errors = defaultdict(list)
    for pid, spec in mesh.products.items():
        for error in _reference_errors(mesh, pid, spec):
            errors[pid].append(error)
    for cycle in _cycles(mesh):
        shown = " -> ".join(cycle + [cycle[0]])
        for pid in cycle:
            errors[pid].append(
                SpecError(
                    mesh.entries[pid].path,
                    "input_ports",
                    f"dependency cycle: {shown}",
                    "a product cannot (indirectly) read itself; remove one of these input ports",
                )
            )
    return errors


def _reference_errors(mesh, pid: str, spec: DataProductSpec):
    path = mesh.entries[pid].path
    for i, port in enumerate(spec.input_ports):
        if not port.is_product:
            continue
        where = f"input_ports[{i}]"
        product, port_name = port.upstream
        target = mesh.entries.get(product)
        if target is None:
            known = ", ".join(sorted(mesh.entries)) or "none"
            yield SpecError(
                path,
                f"{where}.product",
                f"'{product}' is not a known product (no product_specs/{product.replace('.', '/')}.yaml)",
                f"use one of: {known}",
            )
        elif target.ok and port.port not in {o.name for o in target.spec.output_ports}:
            ports = ", ".join(o.name for o in target.spec.output_ports)
            yield SpecError(
                path,
                f"{where}.port",
                f"product '{port.product}' has no output port '{port.port}'",
                f"use one of its output ports: {ports}",
            )


def _cycles(mesh) -> list[list[str]]:
    """Strongly connected components with more than one product, or a product reading itself."""
    graph = {pid: [p.product for p in spec.product_inputs if p.product in mesh.products] for pid, spec in mesh.products.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan; the mesh is small enough for recursion
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def dbt_errors(mesh) -> Errors:
    errors: Errors = defaultdict(list)
    for pid, spec in mesh.products.items():
        path = mesh.entries[pid].path
        manifest, problem = _manifest_for(mesh.project, spec)
        if problem:
            errors[pid].append(SpecError(path, "transform.dbt.project", problem[0], problem[1]))
            continue
        errors[pid].extend(_output_port_errors(path, spec, manifest))
        errors[pid].extend(_input_port_errors(mesh, path, spec, manifest))
    return errors


def _manifest_for(project, spec: DataProductSpec):
    name = spec.transform.dbt.project
    project_dir = project.dbt_project_dir(name)
    if not (project_dir / "dbt_project.yml").is_file():
        return None, (f"there is no dbt project at dbt/{name}/", f"create dbt/{name}/dbt_project.yml or name an existing project")
    manifest = load_manifest(project.manifest_path(name))
    if manifest is None:
        return None, (
            f"dbt project '{name}' has not been compiled (no dbt/{name}/target/manifest.json)",
            "run `dataproducts compile` (it runs `dbt parse` for every project)",
        )
    return manifest, None


def _output_port_errors(path: str, spec: DataProductSpec, manifest: Manifest):
    project = spec.transform.dbt.project
    for i, port in enumerate(spec.output_ports):
        where = f"output_ports[{i}]"
        model = manifest.model_for_table(port.table_name)
        if model is None:
            yield SpecError(
                path,
                f"{where}.table",
                f"dbt project '{project}' has no model named '{port.table_name}'",
                f"add models/{spec.product_name}/{port.table_name}.sql to dbt/{project}, or set table: to an existing model",
            )
            continue
        if model.relation.schema != spec.domain:
            yield SpecError(
                path,
                f"{where}.table",
                f"dbt model '{model.name}' builds into schema '{model.relation.schema}', not the domain's schema '{spec.domain}'",
                f"set +schema: {spec.domain} for the model in dbt/{project}/dbt_project.yml",
            )
        tests = manifest.tests_on(model.unique_id)
        for j, column in enumerate(port.contract.columns):
            col_where = f"{where}.contract.columns[{j}]"
            if column.name not in model.columns:
                yield SpecError(
                    path,
                    f"{col_where}.name",
                    f"column '{column.name}' is not documented on dbt model '{model.name}'",
                    f"add it under columns: of '{model.name}' in {model.original_file_path.rsplit('/', 1)[0]}/*.yml, or remove it from the contract",
                )
                continue
            for flag, test in (("required", "not_null"), ("unique", "unique")):
                if getattr(column, flag) and test not in tests.get(column.name, set()):
                    yield SpecError(
                        path,
                        f"{col_where}.{flag}",
                        f"the contract says '{column.name}' is {flag} but dbt model '{model.name}' has no '{test}' test on it",
                        f"add '- {test}' to the column's data_tests in dbt/{project}, or set {flag}: false",
                    )


def _input_port_errors(mesh, path: str, spec: DataProductSpec, manifest: Manifest):
    project = spec.transform.dbt.project
    for i, port in enumerate(spec.input_ports):
        schema, table = _input_relation(mesh, port)
        if table is None or manifest.source_relation(schema, table) is not None:
            continue
        yield SpecError(
            path,
            f"input_ports[{i}]",
            f"input port '{port.name}' reads {schema}.{table}, but dbt project '{project}' declares no source for that table",
            f"add a source with schema: {schema} and a table '{table}' to dbt/{project}/models/sources.yml",
        )


def _input_relation(mesh, port) -> tuple[str, str | None]:
    """(schema, table) an input port reads; table None when the upstream spec is broken."""
    if not port.is_product:
        return port.source.schema_, port.source.table
    upstream = mesh.products.get(port.product)
    if upstream is None:
        return port.product.split(".")[0], None
    output = next((o for o in upstream.output_ports if o.name == port.port), None)
    return upstream.domain, output.table_name if output else None
