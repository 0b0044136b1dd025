"""The product graph as a picture: a layered left-to-right layout computed here, drawn as SVG.

No JavaScript library and no CDN: the page's template draws the boxes and curves this module
places. Each product sits in the column of its longest path from a root (producers left of their
consumers); within a column products are ordered by the mean position of their producers (one
barycentre pass per column, left to right), which keeps most edges short and uncrossed for
meshes of this size. Broken specs are nodes too, so their consumers' edges still show.
"""

from __future__ import annotations

from graphlib import TopologicalSorter
from typing import Any

NODE_WIDTH, NODE_HEIGHT = 236, 52
COLUMN_GAP, ROW_GAP, MARGIN = 64, 14, 8


def layout(products: list[dict[str, Any]], broken: list[dict[str, Any]]) -> dict[str, Any]:
    """{'width', 'height', 'nodes': [{'id', 'x', 'y', 'item', 'broken'}], 'edges': [{'source', 'target', 'path'}]}."""
    items = {p["id"]: (p, False) for p in products} | {b["id"]: (b, True) for b in broken}
    edges = sorted(
        {
            (port["product"], p["id"])
            for p in products
            for port in p["input_ports"]
            if port.get("product") in items and port["product"] != p["id"]
        }
    )
    producers: dict[str, set[str]] = {node: set() for node in items}
    for source, target in edges:
        producers[target].add(source)
    column = _columns(producers)
    rows = _rows(column, producers, items)
    nodes = {
        node: {
            "id": node,
            "x": MARGIN + column[node] * (NODE_WIDTH + COLUMN_GAP),
            "y": MARGIN + rows[node] * (NODE_HEIGHT + ROW_GAP),
            "item": items[node][0],
            "broken": items[node][1],
        }
        for node in items
    }
    columns = max(column.values(), default=-1) + 1
    height = max((rows[n] for n in rows), default=-1) + 1
    return {
        "width": 2 * MARGIN + columns * NODE_WIDTH + max(columns - 1, 0) * COLUMN_GAP,
        "height": 2 * MARGIN + height * NODE_HEIGHT + max(height - 1, 0) * ROW_GAP,
        "node_width": NODE_WIDTH,
        "node_height": NODE_HEIGHT,
        "nodes": [nodes[n] for n in sorted(nodes, key=lambda n: (column[n], rows[n]))],
        "edges": [{"source": s, "target": t, "path": _curve(nodes[s], nodes[t])} for s, t in edges],
    }


def _columns(producers: dict[str, set[str]]) -> dict[str, int]:
    column: dict[str, int] = {}
    for node in TopologicalSorter(producers).static_order():
        column[node] = 1 + max((column[p] for p in producers[node]), default=-1)
    return column


def _rows(column: dict[str, int], producers: dict[str, set[str]], items) -> dict[str, int]:
    rows: dict[str, int] = {}
    for index in range(max(column.values(), default=-1) + 1):
        members = [n for n in column if column[n] == index]

        def barycentre(node: str) -> tuple[float, str, str]:
            placed = [rows[p] for p in producers[node] if p in rows]
            mean = sum(placed) / len(placed) if placed else float("inf")
            return (mean, items[node][0].get("domain", ""), node)

        for row, node in enumerate(sorted(members, key=barycentre)):
            rows[node] = row
    return rows


def _curve(source: dict[str, Any], target: dict[str, Any]) -> str:
    x1, y1 = source["x"] + NODE_WIDTH, source["y"] + NODE_HEIGHT / 2
    x2, y2 = target["x"], target["y"] + NODE_HEIGHT / 2
    bend = max((x2 - x1) / 2, 24)
    return f"M{x1:g},{y1:g} C{x1 + bend:g},{y1:g} {x2 - bend:g},{y2:g} {x2:g},{y2:g}"
