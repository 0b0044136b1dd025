"""Every product run says which business date it built, where people look at runs: its note.

Airflow names runs before they start (`manual__<time>`, `asset_triggered__<time>`), when the
business date of an asset-triggered or cron run is not decided yet; the build task decides it
and leaves it in its XCom (also when it fails). When a run ends, the scheduler calls the plugin's
DAG-run listener with the run, inside its own database session: the listener reads that XCom and
sets the run's note to "Business date 2026-11-03" (Airflow shows notes on the run's page and in
its lists of runs). A note someone already wrote is kept; runs of other DAGs are left alone.
The work is one indexed query per finished run, so the scheduler loop does not notice it.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from airflow.listeners import hookimpl

from dataproducts.core.run_outcome import BUILD_TASK, OUTCOME_KEY, RETURN_VALUE_KEY, BuildOutcome, OutcomeUnreadable

log = logging.getLogger(__name__)


@hookimpl
def on_dag_run_success(dag_run, msg: str) -> None:
    label(dag_run)


@hookimpl
def on_dag_run_failed(dag_run, msg: str) -> None:
    label(dag_run)


def label(dag_run) -> None:
    try:
        from sqlalchemy.orm import object_session

        session = object_session(dag_run)
        if session is not None:  # the scheduler's own session: the note is committed with the run's state
            _label(session, dag_run)
            return
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as own:  # a run that left its session already (dag.test)
            run = own.scalar(select(DagRun).where(DagRun.dag_id == dag_run.dag_id, DagRun.run_id == dag_run.run_id))
            if run is not None:
                _label(own, run)
    except Exception:  # a label must never disturb the scheduler
        log.exception("could not label run %s of %s with its business date", dag_run.run_id, dag_run.dag_id)


def _label(session, dag_run) -> None:
    if dag_run.note:
        return
    text = note_for(built_facts(session, dag_run.dag_id, dag_run.run_id), dag_run.conf)
    if text:
        dag_run.note = text


def built_facts(session, dag_id: str, run_id: str) -> Optional[BuildOutcome]:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    rows = session.scalars(
        select(XComModel).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            XComModel.task_id == BUILD_TASK,
            XComModel.key.in_([RETURN_VALUE_KEY, OUTCOME_KEY]),
        )
    ).all()
    for row in sorted(rows, key=lambda r: r.key != RETURN_VALUE_KEY):
        try:
            outcome = BuildOutcome.from_xcom(XComModel.deserialize_value(row))
        except OutcomeUnreadable:  # not an outcome: try the other key
            continue
        if outcome is not None:
            return outcome
    return None


def note_for(build: Optional[BuildOutcome], conf: Optional[dict[str, Any]]) -> Optional[str]:
    if build is None:
        return None
    if build.skipped:
        return f"Built nothing: {build.skipped}"
    if not build.business_date:
        return None
    refresh = " (full refresh)" if (conf or {}).get("full_refresh") else ""
    failed = ": failed" if build.failed else ""
    return f"Business date {build.business_date_iso}{refresh}{failed}"
