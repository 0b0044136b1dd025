"""`dataproducts demo`: the example mesh on a stack, from trigger to report.

The same flow on either stack: prepare it, start it, trigger the roots for a business date, wait
while the scheduler starts every consumer from asset events (`run_mesh`), print what ran and the
local catalogue, stop it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.ops.airflow_api import report
from dataproducts.ops.embedded import EmbeddedAirflow, run_mesh
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
    print(airflow.preparing(), flush=True)
    airflow.prepare()
    print(f"starting {airflow.describe()} ...", flush=True)
    airflow.start()
    try:
        airflow.wait_until_up()
        print(f"Airflow is up at {airflow.url}; triggering {', '.join(mesh.roots())} for {business_date}", flush=True)
        records = run_mesh(airflow.api, load_mesh(project), business_date, timeout)
        print(report(records))
        ok = all(r.state == "success" for r in records)
        print("all products succeeded" if ok else "some product runs FAILED: see the Airflow UI or the task logs")
        print(metadata_report(project))
        if keep_running:
            print(
                f"Airflow keeps running at {airflow.url} (user admin, password in {airflow.home}/simple_auth_manager_passwords.json.generated); Ctrl-C stops it"
            )
            airflow.wait()
        return 0 if ok else 1
    except KeyboardInterrupt:
        return 130
    finally:
        airflow.stop()
