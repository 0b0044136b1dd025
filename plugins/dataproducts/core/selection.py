"""A spec's dbt selection, resolved against its own project's compiled manifest at load time.

`transform.dbt.select` reaches `dbt build --select` at run time, so it must only ever mean nodes
of the spec's own dbt project. The spec model already refuses anything but selector characters
(no flags, no '..'); here each item is resolved the way dbt resolves the common selector methods
(a name or fqn, `path:`, `tag:`, `fqn:`, `resource_type:`, `config.materialized:`, with `+`, `N+`,
`@` graph operators and `,` intersections), and an item that selects nothing, or anything of
another package, breaks the spec instead of building something unexpected.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass

from dataproducts.core.manifest import Manifest

METHODS = ("fqn", "path", "file", "tag", "resource_type", "config.materialized", "package")
_GRAPH = re.compile(r"^(@|\d*\+)?(?P<atom>.+?)(\+\d*)?$")


@dataclass(frozen=True)
class SelectionProblem:
    item: str
    problem: str
    fix: str


def problems(manifest: Manifest, select: list[str]) -> Iterator[SelectionProblem]:
    project = manifest.project_name
    for item in select:
        atoms = [_method_and_value(_atom(a)) for a in item.split(",")]
        unknown = next((method for method, _ in atoms if method not in METHODS), None)
        if unknown is not None:
            yield SelectionProblem(
                item,
                f"selector method '{unknown}:' is not one the platform resolves",
                f"use one of {', '.join(m + ':' for m in METHODS)} or a model name",
            )
            continue
        selected = set.intersection(
            *({n["unique_id"] for n in _candidates(manifest, m, v) if _matches(n, m, v)} for m, v in atoms)
        )
        if not selected:
            yield SelectionProblem(
                item,
                f"selects no model of dbt project '{project}'",
                "select the product's own models, e.g. 'path:models/<product>' (run `dataproducts compile` after adding them)",
            )
            continue
        foreign = sorted(uid for uid in selected if _package(manifest, uid) != project)
        if foreign:
            yield SelectionProblem(
                item,
                f"selects {foreign[0]!r}, which is not in dbt project '{project}'",
                f"select only nodes of dbt project '{project}'",
            )


def _candidates(manifest: Manifest, method: str, value: str) -> list[dict]:
    """The nodes that may match: for a plain path (the usual 'path:models/<product>'), those at that
    path or under it, from the manifest's index; otherwise every selectable node."""
    if method != "path" or _WILDCARD.search(value):
        return manifest.selectable_nodes
    by_path = manifest.selectable_by_path
    return [*by_path.get(value, ()), *by_path.get(value.rstrip("/"), ())]


def _atom(text: str) -> str:
    """The selector without its graph operators ('2+path:models/x+' -> 'path:models/x')."""
    graph = _GRAPH.match(text)
    return graph.group("atom") if graph else text


def _method_and_value(atom: str) -> tuple[str, str]:
    if ":" not in atom:
        return ("path" if "/" in atom or atom.endswith(".sql") else "fqn"), atom
    method, value = atom.split(":", 1)
    return method, value


def _package(manifest: Manifest, unique_id: str) -> str:
    return manifest.raw["nodes"][unique_id].get("package_name", "")


def _matches(node: dict, method: str, value: str) -> bool:
    if method == "fqn":
        return _fqn_matches(node, value)
    if method in ("path", "file"):
        path = node.get("original_file_path", "")
        return (
            path == value
            or _glob(path, value)
            or path.startswith(value.rstrip("/") + "/")
            or (method == "file" and _glob(path.rsplit("/", 1)[-1], value))
        )
    if method == "tag":
        return any(_glob(tag, value) for tag in node.get("tags", []))
    if method == "resource_type":
        return node.get("resource_type") == value
    if method == "config.materialized":
        return (node.get("config") or {}).get("materialized") == value
    if method == "package":
        return node.get("package_name") == value
    return False


def _fqn_matches(node: dict, value: str) -> bool:
    fqn = [str(part) for part in node.get("fqn", [])]
    if _glob(node.get("name", ""), value):
        return True
    parts = value.split(".")
    return any(
        len(parts) <= len(prefix) and all(_glob(f, p) for f, p in zip(prefix, parts, strict=False))
        for prefix in (fqn, fqn[1:])  # with or without the package name
    )


def _glob(text: str, pattern: str) -> bool:
    """fnmatchcase, without compiling a pattern that has no wildcard (most selectors have none)."""
    return fnmatch.fnmatchcase(text, pattern) if _WILDCARD.search(pattern) else text == pattern


_WILDCARD = re.compile(r"[*?\[]")
