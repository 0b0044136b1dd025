"""A broken spec where Airflow shows problems: its DAG fails once, so it looks failed.

Airflow's DAG list shows each DAG's latest run, the home page counts DAGs whose latest run
failed ("Failed Dags"), and a DAG's own page lists its recent failed task logs. A broken spec's
DAG therefore runs once as soon as the spec breaks (BrokenSpecTimetable), its single task fails
with the spec's errors, and that task's display name carries the first error, so the error reads
on the DAG's page without opening a log or the docs. The DAG is unpaused when Airflow first
sees it (it has nothing to protect: it can only fail) and is owned by the spec's team as far as
the file still says who that is.

Why a run and not an import error: Airflow records import errors per file, and an import error
of a domain file marks every DAG of that file stale, healthy ones included.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import TYPE_CHECKING, Any, Optional

import pendulum
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable

from dataproducts.airflow.markdown import cell, text
from dataproducts.core import naming

if TYPE_CHECKING:  # the plugin imports this module in every Airflow process: keep it light
    from dataproducts.core.mesh_cache import DomainSlice
    from dataproducts.core.project import Project

RUN_ID_PREFIX = "broken_spec"


class BrokenSpecTimetable(Timetable):
    """One run at `since` (when the mesh's inputs last changed) and none after it, so every new
    breakage fails once. Registered by the plugin (custom timetables must be, to deserialize)."""

    description = "Runs once when the spec breaks, and fails with its errors"
    periodic = False

    def __init__(self, since: dt.datetime):
        self.since = pendulum.instance(since).in_timezone("UTC")

    @property
    def summary(self) -> str:
        return "broken spec: fails once"

    def serialize(self) -> dict[str, Any]:
        return {"since": self.since.isoformat()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> BrokenSpecTimetable:
        return cls(pendulum.parse(data["since"]))  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BrokenSpecTimetable) and other.since == self.since

    def __hash__(self) -> int:
        return hash(self.since)

    def infer_manual_data_interval(self, *, run_after: pendulum.DateTime) -> DataInterval:
        return DataInterval.exact(run_after)

    def next_dagrun_info(
        self, *, last_automated_data_interval: Optional[DataInterval], restriction: TimeRestriction
    ) -> Optional[DagRunInfo]:
        if last_automated_data_interval is not None and last_automated_data_interval.end >= self.since:
            return None
        return DagRunInfo.exact(self.since)

    def generate_run_id(self, *, run_type, run_after, data_interval, **extra) -> str:
        if str(getattr(run_type, "value", run_type)) == "scheduled":
            return f"{RUN_ID_PREFIX}__{run_after.isoformat()}"
        return super().generate_run_id(run_type=run_type, run_after=run_after, data_interval=data_interval, **extra)


def mesh_changed_at(project: Project) -> dt.datetime:
    """The newest modification of what a spec's validity depends on: every spec and dbt manifest."""
    from dataproducts.core.loader import spec_files

    paths = [*spec_files(project.specs_dir), *project.dbt_dir.glob("*/target/manifest.json")]
    newest = max((p.stat().st_mtime for p in paths if p.exists()), default=0.0)
    return dt.datetime.fromtimestamp(int(newest), tz=dt.UTC)


def owner_of(project: Project, product_id: str, spec_path: str, mesh: Optional[DomainSlice] = None) -> str:
    """The team the broken file names as owner, else the domain's usual owner, else the domain."""
    from dataproducts.core.loader import read_document

    try:  # read as safely as the loader reads it: never a link out of product_specs/, a pipe or a huge file
        team = read_document(project.root / spec_path, project.specs_dir).data["owner"]["team"]
        if isinstance(team, str) and naming.IDENTIFIER.match(team.strip()):
            return team.strip()
    except Exception:  # unreadable or half-written: the file cannot tell
        pass
    domain = product_id.split(".", 1)[0]
    entries = mesh.entries if mesh is not None else []
    teams = Counter(e.spec.owner.team for e in entries if e.spec is not None and e.domain == domain)
    return teams.most_common(1)[0][0] if teams else domain


def task_display_name(spec_path: str, messages: list[str]) -> str:
    """The first error without the file name (the DAG is that file's), short enough for task lists."""
    first = (messages[0] if messages else "the spec is broken").splitlines()[0]
    first = re.sub(rf"^{re.escape(spec_path)}(:\d+:\d+)?: ", "", first)
    text = f"Fix the spec: {first}"
    return text if len(text) <= 200 else text[:199] + "…"


def broken_doc_md(product_id: str, messages: list[str]) -> str:
    return "\n".join(
        [
            f"# Broken spec: {text(product_id)}",
            "",
            "This product's spec did not load, so its DAG runs nothing. Other products are not affected.",
            "",
            *[f"- {cell(m)}" for m in messages],
            "",
            "Fix the spec file and save it; the DAG comes back on the next parse. "
            "`dataproducts validate` shows the same errors without Airflow.",
        ]
    )
