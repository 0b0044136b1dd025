"""Waiting for Airflow: the one polling loop of the package.

`wait_until` asks a probe until it has an answer; `wait_for_runs` asks Airflow for the runs of
some DAGs since a moment until a condition on them holds. The demo and the end-to-end tests wait
for a mesh to build a date (ops/embedded.run_mesh), a rerun for its cascade (ops/rerun), the
end-to-end tests for dates in flight, each through these.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Optional, TypeVar

from airflow_client.client.models.dag_response import DAGResponse
from airflow_client.client.models.dag_run_response import DAGRunResponse

from dataproducts.ops.airflow_api import AirflowApi

POLL_SECONDS = 3.0

T = TypeVar("T")
Runs = dict[str, list[DAGRunResponse]]  # DAG id -> its runs since the moment asked for, oldest first


class WaitTimedOut(TimeoutError):
    pass


def wait_until(
    probe: Callable[[], Optional[T]],
    timeout: float,
    waiting_for: Callable[[], str],
    interval: float = POLL_SECONDS,
    settle: float = 0.0,
) -> T:
    """Call `probe` every `interval` s until it answers something other than None, and has kept
    answering for `settle` s (then its latest answer); WaitTimedOut after `timeout` s, saying what
    it was `waiting_for`."""
    deadline = time.monotonic() + timeout
    answering_since: Optional[float] = None
    while True:
        answer = probe()
        if answer is None:
            answering_since = None
        else:
            answering_since = time.monotonic() if answering_since is None else answering_since
            if time.monotonic() - answering_since >= settle:
                return answer
        if time.monotonic() > deadline:
            raise WaitTimedOut(f"waited {timeout:.0f} s for {waiting_for()}")
        time.sleep(interval)


def wait_for_runs(
    api: AirflowApi,
    dag_ids: Iterable[str],
    since: str,
    finished: Callable[[Runs], bool],
    timeout: float,
    waiting_for: Callable[[], str],
    settle: float = 0.0,
) -> Runs:
    """The runs of `dag_ids` since `since`, once `finished` holds for them (and has held for `settle` s)."""
    dag_ids = sorted(set(dag_ids))

    def probe() -> Optional[Runs]:
        runs = api.runs_of(dag_ids, since)
        return runs if finished(runs) else None

    return wait_until(probe, timeout, waiting_for, settle=settle)


def wait_for_dags(api: AirflowApi, expected: set[str], tag: str, timeout: float = 180) -> dict[str, DAGResponse]:
    """Airflow's DAGs with `tag`, once every one of `expected` is among them."""

    def missing() -> str:
        return f"DAGs to be parsed: {sorted(expected - set(api.dags(tag)))}; import errors: {api.import_errors()}"

    return wait_until(lambda: dags if expected <= set(dags := api.dags(tag)) else None, timeout, missing, interval=2)
