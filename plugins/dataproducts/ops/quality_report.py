"""The demo's closing quality report: per product its quality score and the quality warnings its
latest run published with (from the run history the runs wrote, scored as DataHub gets it)."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from dataproducts.core import run_history
from dataproducts.core.mesh import Mesh


def quality_report(mesh: Mesh, now: Optional[dt.datetime] = None) -> str:
    """'quality  score  product  lowest parts' lines, then 'warning: ...' lines under their product."""
    from dataproducts.metadata.scoring import scores

    found = scores(mesh, now or dt.datetime.now(dt.UTC))
    history = run_history.read(mesh.project.state_dir)
    lines = [f"{'product':36} {'score':>5}  short of full marks"]
    for pid, result in found.items():
        short = [f"{p.name} {p.points:g}/{p.weight}" for p in result.parts if p.points is not None and p.points < p.weight]
        lines.append(f"{pid:36} {result.total:>5}  {', '.join(short) or '-'}")
        lines += [f"{'':36}        warning: {w}" for w in run_history.latest_warnings(history, pid)]
    warned = sum(1 for pid in found if run_history.latest_warnings(history, pid))
    lines.append(f"quality: {warned} of {len(found)} products published with warnings (dataproducts score <id> shows every part)")
    return "\n".join(lines)
