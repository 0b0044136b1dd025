"""`dataproducts demo`: the example mesh on a stack, from trigger to report.

The same flow on either stack: prepare it, start it, trigger the roots for a business date, wait
while the scheduler starts every consumer from asset events (`run_mesh`), print what ran and the
local catalogue, stop it.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import datetime as dt
import os
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.ops.airflow_api import report
from dataproducts.ops.embedded import EmbeddedAirflow, run_mesh
from dataproducts.ops.quality_report import quality_report
from dataproducts.ops.stack import AirflowStack

STACKS = ("embedded", "celery")


def metadata_report(project: Project) -> str:
    """Flush what the runs left in the outbox, then say what the local catalogue holds."""
    import logging

    from dataproducts.metadata import delivery

    logging.getLogger("dataproducts.metadata").setLevel(logging.WARNING)  # the summary below says it all
    flushed = delivery.flush(project)
    summary = delivery.lite_summary(project)
    quarantined = f", {len(flushed.quarantine)} quarantined" if flushed.quarantine else ""
    lines = [
        f"metadata outbox: {flushed.remaining_batches} batches waiting{quarantined}"
        + (f" ({flushed.error})" if flushed.error else "")
    ]
    if summary:
        lines += [
            str(summary),
            f"browse it: HOME={summary.path.parent} DATAHUB_TELEMETRY_ENABLED=false {Path(sys.executable).parent}/datahub lite ls /",
        ]
    return "\n".join(lines)


def make_stack(project: Project, stack: str, port: int) -> AirflowStack:
    home = project.state_dir / "airflow"
    if stack == "celery":
        from dataproducts.ops.celery_stack import CeleryStack, StackSettings

        return CeleryStack(project, home, StackSettings.from_env(), port=port)
    return EmbeddedAirflow(project, home, port)


def run_demo(project: Project, business_date: str, port: int, keep_running: bool, timeout: int, stack: str = "embedded") -> int:
    if stack != "embedded":  # its own outbox, DataHub Lite and Airflow home, next to the embedded one's
        os.environ.setdefault("DATAPRODUCTS_STATE_DIR", str(project.root / ".local" / stack))
    mesh = load_mesh(project, check_dbt=False)
    for error in mesh.errors:
        print(f"warning: {error}", file=sys.stderr)
    airflow = make_stack(project, stack, port)
    with ended_by_signals():
        try:
            print(airflow.preparing(), flush=True)
            airflow.prepare()
            print(f"starting {airflow.describe()} ...", flush=True)
            airflow.start()
            return _run(project, airflow, business_date, keep_running, timeout)
        except KeyboardInterrupt as interrupt:
            print(f"stopping Airflow ({interrupt or 'Ctrl-C'}) ...", file=sys.stderr, flush=True)
            return 130
        finally:
            with signals_ignored():  # a second Ctrl-C or SIGTERM must not cut the stop short
                airflow.stop()


def _run(project: Project, airflow: AirflowStack, business_date: str, keep_running: bool, timeout: int) -> int:
    airflow.wait_until_up()
    mesh = load_mesh(project)
    print(f"Airflow is up at {airflow.url}; triggering {', '.join(mesh.roots())} for {business_date}", flush=True)
    records = run_mesh(airflow.api, mesh, business_date, timeout)
    print(report(records))
    ok = all(r.state == "success" for r in records)
    print("all products succeeded" if ok else "some product runs FAILED: see the Airflow UI or the task logs")
    print(quality_report(mesh))
    print(metadata_report(project))
    if keep_running:
        print(
            f"Airflow keeps running at {airflow.url} (user admin, password in {airflow.home}/simple_auth_manager_passwords.json.generated); "
            "Ctrl-C or SIGTERM stops it",
            flush=True,
        )
        airflow.wait()
    return 0 if ok else 1


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def ended_by_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end the demo as Ctrl-C does, through the `finally` that stops every
    process it started (Airflow runs in sessions of its own, which no terminal signal reaches)."""

    def interrupt(signum, frame) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, interrupt) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, *STOP_SIGNALS)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def default_business_date(project: Project) -> str:
    """The business date the demo builds unless told: the day on which most landing tables (the
    seeds of dbt/landing that `seed-landing` loads) have their newest rows, the latest such day on
    a tie. Landing tables are exports taken together, so their newest rows share the export's last
    day, a day every source has data for, on any mesh. A row's day is its earliest date or
    timestamp (a listing's creation, a campaign's start, an event's time), so ranges that run on
    and old master data do not count. Yesterday (UTC) when no seed holds a date."""
    newest_days = [max(days) for days in map(_row_days, _landing_seeds(project)) if days]
    if not newest_days:
        return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    tables_ending_on = collections.Counter(newest_days)
    return max(tables_ending_on, key=lambda day: (tables_ending_on[day], day)).isoformat()


def _landing_seeds(project: Project) -> list[Path]:
    import yaml

    landing = project.dbt_project_dir("landing")
    try:
        folders = (yaml.safe_load((landing / "dbt_project.yml").read_text()) or {}).get("seed-paths") or ["seeds"]
    except (OSError, yaml.YAMLError, AttributeError):
        folders = ["seeds"]
    return [path for folder in folders for path in sorted((landing / str(folder)).glob("*.csv"))]


DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:$|[ T])")  # a date, or a timestamp's date


def _row_days(path: Path) -> list[dt.date]:
    """Each dated row's earliest date."""
    found = []
    with open(path, newline="", encoding="utf-8") as rows:
        for row in csv.reader(rows):
            days = [day for cell in row if (day := _day(cell)) is not None]
            if days:
                found.append(min(days))
    return found


def _day(cell: str) -> Optional[dt.date]:
    if matched := DAY.match(cell):
        with contextlib.suppress(ValueError):  # 2026-13-45 is no day
            return dt.date.fromisoformat(matched.group(1))
    return None
