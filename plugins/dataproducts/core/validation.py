"""Checks that need more than one spec: references, cycles, and agreement with dbt's manifest.

Each check returns {product id: [SpecError, ...]}; the mesh marks those products broken. A
product whose upstream spec is broken stays valid: its schedule only needs the upstream port's
name, which the naming convention gives, so one broken spec never takes its consumers down.
"""

from __future__ import annotations

import difflib
from collections import defaultdict

from dataproducts.core import access, contract, forked, quality, selection
from dataproducts.core.errors import SpecError
from dataproducts.core.manifest import Manifest, ManifestError, load_manifest
from dataproducts.core.safe_yaml import snippet
from dataproducts.core.spec import DataProductSpec

Errors = dict[str, list[SpecError]]
CLOSE_MATCHES = 3  # a fix suggests a few close ids, never the whole mesh (the reader may see one DAG only)


def quality_errors(mesh) -> Errors:
    """Each port's quality rules name columns of that port's contract (core/quality.py)."""
    return {pid: list(quality.column_errors(mesh.entries[pid].path, spec)) for pid, spec in mesh.products.items()}


def graph_errors(mesh) -> Errors:
    errors: Errors = defaultdict(list)
    for pid, spec in mesh.products.items():
        for error in _reference_errors(mesh, pid, spec):
            errors[pid].append(error)
    for component, cycle in _cycles(mesh):
        problem = f"dependency cycle: {_shown(cycle)}{_also_in_the_cycle(component, cycle)}"
        for pid in component:
            errors[pid].append(
                SpecError(
                    mesh.entries[pid].path,
                    "input_ports",
                    problem,
                    "a product cannot (indirectly) read itself; remove one of these input ports",
                )
            )
    for pid, forbidden in access.forbidden_read_errors(mesh).items():
        errors[pid].extend(forbidden)
    return errors


def _shown(cycle: list[str], most: int = 8) -> str:
    """'a -> b -> c -> a'; a long cycle by its first products and its length."""
    if len(cycle) <= most:
        return " -> ".join([*cycle, cycle[0]])
    return " -> ".join(cycle[: most - 1]) + f" -> ... ({len(cycle):,} products) -> {cycle[-1]} -> {cycle[0]}"


def _also_in_the_cycle(component: list[str], cycle: list[str]) -> str:
    others = sorted(set(component) - set(cycle))
    if not others:
        return ""
    shown = ", ".join(others[:CLOSE_MATCHES]) + (
        f" and {len(others) - CLOSE_MATCHES} more" if len(others) > CLOSE_MATCHES else ""
    )
    return f" (other cycles through it also involve {shown})"


def _reference_errors(mesh, pid: str, spec: DataProductSpec):
    path = mesh.entries[pid].path
    for i, port in enumerate(spec.input_ports):
        if not port.is_product:
            continue
        where = f"input_ports[{i}]"
        product, port_name = port.upstream
        target = mesh.entries.get(product)
        if target is None:
            close = difflib.get_close_matches(product, sorted(mesh.entries), n=CLOSE_MATCHES, cutoff=0.6)
            yield SpecError(
                path,
                f"{where}.product",
                f"'{product}' is not a known product (no product_specs/{product.replace('.', '/')}.yaml)",
                f"did you mean one of: {', '.join(close)}?"
                if close
                else "name an existing product ('<domain>.<name>'; `dataproducts list` shows them)",
            )
        elif target.ok and port.port not in {o.name for o in target.spec.output_ports}:
            ports = ", ".join(o.name for o in target.spec.output_ports)
            yield SpecError(
                path,
                f"{where}.port",
                f"product '{port.product}' has no output port '{port.port}'",
                f"use one of its output ports: {ports}",
            )


def _cycles(mesh) -> list[tuple[list[str], list[str]]]:
    """Every dependency cycle (a strongly connected component of more than one product, or a product
    reading itself), each as one closed path in data-flow order (producer before consumer), starting
    at its smallest id. Iterative (Tarjan with an explicit stack): a chain of any length validates."""
    feeds: dict[str, list[str]] = {pid: [] for pid in mesh.products}  # producer -> consumers
    for pid, spec in sorted(mesh.products.items()):
        for port in spec.product_inputs:
            if port.product in feeds and pid not in feeds[port.product]:
                feeds[port.product].append(pid)
    found = []
    for component in _strongly_connected(feeds):
        if len(component) > 1 or component[0] in feeds[component[0]]:
            found.append((component, _closed_path(min(component), set(component), feeds)))
    return sorted(found)


def _strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            successors = graph[node]
            if child < len(successors):
                work.append((node, child + 1))
                nxt = successors[child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
            if work:  # back in the parent: take the child's low link
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _closed_path(start: str, members: set[str], feeds: dict[str, list[str]]) -> list[str]:
    """The shortest path from start back to start through members, following data flow."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in feeds[node]:
                if nxt not in members:
                    continue
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return path[::-1]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return [start]


def dbt_errors(mesh) -> Errors:
    """The products checked against their dbt project's manifest, project by project: one look at
    each manifest per pass, and one manifest held at a time (a mesh of 300 projects held all 300
    manifests at once, 340 MB of them, most of the pass's memory). In a large mesh a forked child
    checks the projects of the second half of the products (core/forked); its errors are the ones
    this process would find, and if it fails this process checks them too."""
    by_project: dict[str, list[tuple[str, DataProductSpec]]] = {}
    for pid, spec in mesh.products.items():
        by_project.setdefault(spec.transform.dbt.project, []).append((pid, spec))
    first, second = _halves(list(by_project.values()))
    with forked.Forked(
        lambda: _project_errors(mesh, second), wanted=bool(second) and len(mesh.products) >= forked.PARALLEL_FROM
    ) as child:
        errors = _project_errors(mesh, first)
        theirs = child.result()
    errors.update(theirs if theirs is not None else _project_errors(mesh, second))
    return errors


def _halves(groups: list[list]) -> tuple[list[list], list[list]]:
    """The groups in order, cut in two where the parts hold the nearest to half of their items each."""
    if len(groups) < 2:
        return groups, []
    half, before, cuts = sum(map(len, groups)) / 2, 0, []
    for cut in range(1, len(groups)):
        before += len(groups[cut - 1])
        cuts.append((abs(before - half), cut))
    cut = min(cuts)[1]
    return groups[:cut], groups[cut:]


def _project_errors(mesh, projects: list[list[tuple[str, DataProductSpec]]]) -> Errors:
    errors: Errors = defaultdict(list)
    for products in projects:
        manifest, problem = _manifest_for(mesh.project, products[0][1])
        for pid, spec in products:
            path = mesh.entries[pid].path
            if problem:
                errors[pid].append(SpecError(path, "transform.dbt.project", problem[0], problem[1]))
                continue
            errors[pid].extend(_selection_errors(path, spec, manifest))
            errors[pid].extend(_output_port_errors(path, spec, manifest))
            errors[pid].extend(_input_port_errors(mesh, path, spec, manifest))
            errors[pid].extend(access.undeclared_read_errors(mesh, path, spec, manifest))
            errors[pid].extend(contract.model_contract_errors(path, spec, manifest))
    return errors


def _manifest_for(project, spec: DataProductSpec):
    name = spec.transform.dbt.project
    project_dir = project.dbt_project_dir(name)
    if not (project_dir / "dbt_project.yml").is_file():
        return None, (f"there is no dbt project at dbt/{name}/", f"create dbt/{name}/dbt_project.yml or name an existing project")
    try:
        manifest = load_manifest(project.manifest_path(name))
    except ManifestError as exc:
        return None, (
            f"dbt project '{name}' has a manifest that cannot be used (dbt/{name}/target/manifest.json: {exc})",
            "run `dataproducts compile` (it rewrites every project's manifest, atomically)",
        )
    if manifest is None:
        return None, (
            f"dbt project '{name}' has not been compiled (no dbt/{name}/target/manifest.json)",
            "run `dataproducts compile` (it runs `dbt parse` for every project)",
        )
    return manifest, None


def _selection_errors(path: str, spec: DataProductSpec, manifest: Manifest):
    for found in selection.problems(manifest, list(spec.transform.dbt.select)):
        i = spec.transform.dbt.select.index(found.item)
        yield SpecError(path, f"transform.dbt.select[{i}]", f"{snippet(found.item)} {found.problem}", found.fix)


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
