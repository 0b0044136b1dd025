"""Faults on the distributed stack, each on the session's running Celery stack (conftest.py).

Every test rebuilds the example's business date (builds are idempotent per date, so the right
rows are the ones the end-to-end test checks) and counts only what happened since it started. A
test that needs one product alone pauses the others (a paused DAG queues no asset events).
"""

from __future__ import annotations

import contextlib
import re
import time
from datetime import datetime

import pytest
from airflow_client.client.api.dag_run_api import DagRunApi
from airflow_client.client.api.task_instance_api import TaskInstanceApi
from airflow_client.client.models.asset_event_response import AssetEventResponse
from airflow_client.client.models.dag_run_response import DAGRunResponse
from airflow_client.client.models.task_instance_response import TaskInstanceResponse
from test_e2e import BUSINESS_DATE, EXPECTED_ROWS

from dataproducts.core.mesh import load_mesh
from dataproducts.ops.airflow_api import now_iso

pytestmark = pytest.mark.e2e

LISTINGS = "inventory.listings"
PAIR = ("user_behaviour.listing_engagement", "advertising.campaign_performance")  # the consumer reads only this producer


def only(api, mesh, products: set[str]) -> None:
    for product_id in mesh.products:
        api.set_paused(product_id, product_id not in products)


def task_instance(api, dag_id: str, run_id: str, task_id: str) -> TaskInstanceResponse:
    return TaskInstanceApi(api.client()).get_task_instance(dag_id, run_id, task_id)


def run_state(api, dag_id: str, run_id: str) -> str:
    return DagRunApi(api.client()).get_dag_run(dag_id, run_id).state.value


def wait_for(what, timeout: float, interval: float = 1.0, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(message or f"waited {timeout:.0f} s")


def wait_for_run(api, dag_id: str, run_id: str, timeout: float = 600) -> str:
    return wait_for(
        lambda: (s := run_state(api, dag_id, run_id)) in ("success", "failed") and s, timeout, 3, f"{dag_id} {run_id}"
    )


def build_running(api, dag_id: str, run_id: str, for_seconds: float) -> TaskInstanceResponse:
    """The build's task instance once it has been running for a while (dbt is at work by then)."""
    ti = wait_for(lambda: (t := task_instance(api, dag_id, run_id, "build")).state == "running" and t, 300, 0.5)
    time.sleep(for_seconds)
    return ti


def build_alone(stack, product_id: str, running_for: float, also: frozenset[str] | set[str] = frozenset()) -> tuple:
    """Trigger one product with every other paused (but `also`); return (api, since, run id,
    build task instance) once its build has been running for a while."""
    api = stack.stack.api
    only(api, load_mesh(stack.project), {product_id, *also})
    since = now_iso()
    run_id = api.trigger(product_id, {"business_date": BUSINESS_DATE})
    return api, since, run_id, build_running(api, product_id, run_id, running_for)


def events_since(api, dag_id: str, since: str) -> list[AssetEventResponse]:
    return [e for e in api.asset_events(dag_id, limit=1000) if e.timestamp >= instant(since)]


def instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def task_log(api, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    log = TaskInstanceApi(api.client()).get_log(dag_id, run_id, task_id, try_number)
    content = log.content.actual_instance or []
    return "\n".join(str(getattr(line, "event", line)) for line in content)


def published_once_with_the_right_rows(api, warehouse, dag_id: str, run_id: str, since: str) -> None:
    events = events_since(api, dag_id, since)
    assert [e.source_run_id for e in events] == [run_id], f"expected one publication by {run_id}: {events}"
    (event,) = events
    assert event.extra["business_date"] == BUSINESS_DATE
    assert event.extra["row_count"] == EXPECTED_ROWS[dag_id]
    assert warehouse.rows_of_date([dag_id], BUSINESS_DATE) == {dag_id: EXPECTED_ROWS[dag_id]}


@pytest.fixture
def stack(celery_stack):
    mp = pytest.MonkeyPatch()
    mp.setenv("DATAPRODUCTS_STATE_DIR", str(celery_stack.state_dir))
    yield celery_stack
    mp.undo()


@contextlib.contextmanager
def slow_model(stack, seconds: int):
    """inventory.listings' model waits `seconds` in the warehouse before it builds, so a fault
    injected a few seconds into its build always meets dbt at work (a rebuild of a date dbt has
    parsed before takes about as long as the injection waits)."""
    model = stack.project.root / "dbt" / "inventory" / "models" / "listings" / "listings.sql"
    text = model.read_text()
    model.write_text(f'{{{{ config(pre_hook=["select pg_sleep({int(seconds)})"]) }}}}\n{text}')
    try:
        yield
    finally:
        model.write_text(text)


def test_a_worker_killed_mid_build_is_retried_and_publishes_once(stack):
    with slow_model(stack, 20):
        api, since, run_id, ti = build_alone(stack, LISTINGS, running_for=4)
        victim = worker_running(stack.stack, ti.pid)
        stack.stack.crash(victim)  # SIGKILL to the worker and everything it started; it is started again
        assert wait_for_run(api, LISTINGS, run_id) == "success"
    build = task_instance(api, LISTINGS, run_id, "build")
    assert build.try_number == 2, "the killed try is failed by the heartbeat timeout and retried once"
    published_once_with_the_right_rows(api, stack, LISTINGS, run_id, since)


def worker_running(stack, pid: int) -> str:
    import psutil

    for name, process in stack.processes.items():
        if name.startswith("worker") and pid in {p.pid for p in psutil.Process(process.pid).children(recursive=True)}:
            return name
    raise AssertionError(f"no worker runs the task process {pid}")


def test_a_scheduler_crash_mid_run_loses_nothing_and_no_consumer_runs_twice_for_one_batch(stack):
    """The scheduler is SIGKILLed while a producer builds (and started again, as compose or
    Kubernetes would); the producer's run completes, its consumer starts once, from its event."""
    producer, consumer = PAIR
    api, since, run_id, _ = build_alone(stack, producer, running_for=2, also={consumer})
    restarts = len(stack.stack.restarts)
    stack.stack.crash("scheduler")
    wait_for(lambda: len(stack.stack.restarts) > restarts, 30, message="the scheduler was not started again")

    consumer_run = the_consumer_run(api, consumer, since)
    assert run_state(api, producer, run_id) == "success"
    assert consumer_run.run_type == "asset_triggered"
    assert {e.source_run_id for e in api.triggering_events(consumer, consumer_run.dag_run_id)} == {run_id}
    time.sleep(15)  # a duplicate would be created by now
    assert len(api.runs_since(consumer, since)) == 1, "one producer batch, one consumer run"
    assert stack.rows_of_date([consumer], BUSINESS_DATE) == {consumer: EXPECTED_ROWS[consumer]}


def the_consumer_run(api, consumer: str, since: str) -> DAGRunResponse:
    """The consumer's one run since `since`, once it has finished."""

    def finished():
        runs = api.runs_since(consumer, since)
        return runs and all(r.state in ("success", "failed") for r in runs) and runs

    runs = wait_for(finished, 600, 3, f"{consumer} did not run")
    assert [r.state for r in runs] == ["success"], runs
    return runs[0]


def test_runs_recover_when_airflows_database_connections_are_terminated(stack):
    """While a producer builds, every connection to Airflow's metadata database is terminated,
    three times, 5 s apart; the producer's run and its consumer's (started by the asset event)
    complete."""
    producer, consumer = PAIR
    api, since, run_id, _ = build_alone(stack, producer, running_for=2, also={consumer})
    terminated = 0
    for _ in range(3):
        terminated += terminate_backends(stack, stack.stack.settings.metadata_db)
        time.sleep(5)
    assert terminated > 0
    assert wait_for_run(api, producer, run_id) == "success"
    consumer_run = the_consumer_run(api, consumer, since)
    assert consumer_run.run_type == "asset_triggered"
    assert {e.source_run_id for e in api.triggering_events(consumer, consumer_run.dag_run_id)} == {run_id}
    # Airflow's scheduler, dag-processor and triggerer exit on a cut database connection and are
    # started again by the stack (restart: always); the runs above completed across that.
    assert all(p.poll() is None for p in stack.stack.processes.values())


def terminate_backends(stack, database: str) -> int:
    db = stack.warehouse()  # any connection of ours; it is not terminated (pid <> pg_backend_pid())
    try:
        with db.cursor() as cur:
            cur.execute(
                "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity"
                " where datname = %s and pid <> pg_backend_pid()) terminated",
                (database,),
            )
            return cur.fetchone()[0]
    finally:
        db.close()


def test_the_warehouse_down_for_a_minute_fails_builds_clearly_publishes_nothing_partial_then_completes(stack):
    with slow_model(stack, 20):
        api, since, run_id, _ = build_alone(stack, LISTINGS, running_for=3)
        stack.warehouse_proxy.down()  # open connections cut mid-transaction, new ones refused
        try:
            time.sleep(60)
            assert events_since(api, LISTINGS, since) == [], "nothing is published while the warehouse is down"
            assert task_instance(api, LISTINGS, run_id, "build").try_number >= 2, "the build failed and is retried"
        finally:
            stack.warehouse_proxy.up()
        back = now_iso()
        assert wait_for_run(api, LISTINGS, run_id) == "success"
    first_try = task_log(api, LISTINGS, run_id, "build", 1)
    assert re.search(r"(?i)connection refused|server closed the connection|could not connect|connection to server", first_try), (
        first_try[-3000:]
    )
    published_once_with_the_right_rows(api, stack, LISTINGS, run_id, since)
    assert events_since(api, LISTINGS, since)[0].timestamp >= instant(back)
