"""The one polling loop (ops/waiting.py), against tests/fake_airflow.py: the batch list of runs that
every wait for runs asks, and what waits without runs (a stack coming up). The waits of reruns are
in test_cli, those of whole meshes in the end-to-end tests."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from fake_airflow import T0, TOKEN, FakeAirflow, dag_run

from dataproducts.core.project import Project
from dataproducts.ops.airflow_api import AirflowApi
from dataproducts.ops.stack import AirflowStack
from dataproducts.ops.waiting import WaitTimedOut, wait_for_runs, wait_until


def test_wait_until_answers_once_the_probe_has_kept_answering_and_times_out_saying_for_what():
    answers = iter([None, "a", None, "b", "c", "d"])
    assert wait_until(lambda: next(answers), 5, lambda: "-", interval=0.01, settle=0.015) == "d"
    with pytest.raises(WaitTimedOut, match=r"waited 0 s for the mesh: still waiting for x"):
        wait_until(lambda: None, 0.05, lambda: "the mesh: still waiting for x", interval=0.01)


def test_a_wait_for_runs_asks_for_every_dags_runs_in_one_request_a_page_and_sorts_them_per_dag():
    """Airflow's batch list, paged: a poll of a whole mesh is one request per page of runs, not one
    per DAG; a run's DAG, order and the `since` bound survive the paging."""
    hour = dt.timedelta(hours=1)
    with FakeAirflow() as airflow:
        airflow.page_limit = 2
        airflow.runs = {
            "a": [
                dag_run("a", "a0", run_after=T0 - 24 * hour),
                dag_run("a", "a1", run_after=T0),
                dag_run("a", "a2", run_after=T0 + 2 * hour),
            ],
            "b": [dag_run("b", "b1", run_after=T0 + hour), dag_run("b", "b2", run_after=T0 + 3 * hour, state="running")],
            "c": [dag_run("c", "c1", run_after=T0)],
        }
        api = AirflowApi(airflow.url, token=TOKEN)

        def finished(runs):
            return all(run.state == "success" for dag_runs in runs.values() for run in dag_runs)

        with pytest.raises(WaitTimedOut):
            wait_for_runs(api, ["b", "a", "a", "d"], T0.isoformat(), finished, 0, lambda: "-")
        asked = [r for r in airflow.requests if r.path == "/api/v2/dags/~/dagRuns/list"]
        assert [r.body["page_offset"] for r in asked] == [0, 2], "4 runs in pages of 2"
        assert asked[0].body["dag_ids"] == ["a", "b", "d"]
        airflow.runs["b"][1] = dag_run("b", "b2", run_after=T0 + 3 * hour)
        runs = wait_for_runs(api, ["b", "a", "d"], T0.isoformat(), finished, 0, lambda: "-")
        assert {dag: [run.dag_run_id for run in dag_runs] for dag, dag_runs in runs.items()} == {
            "a": ["a1", "a2"],
            "b": ["b1", "b2"],
            "d": [],
        }
        assert all(r.path == "/api/v2/dags/~/dagRuns/list" for r in airflow.requests)


def stack_at(tmp_path, port: int) -> AirflowStack:
    return AirflowStack(Project(tmp_path), tmp_path / "airflow", port, port + 1)


def test_a_stack_is_up_once_its_scheduler_is_healthy_and_the_password_exists(tmp_path):
    with FakeAirflow() as airflow:
        stack = stack_at(tmp_path, int(airflow.url.rsplit(":", 1)[1]))
        stack.home.mkdir(parents=True, exist_ok=True)
        (stack.home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({"admin": "pw"}))
        stack.wait_until_up(timeout=10)
        assert [r.path for r in airflow.requests] == ["/api/v2/monitor/health"]


def test_a_stack_that_does_not_come_up_times_out_and_one_whose_component_exits_fails_at_once(tmp_path):
    with FakeAirflow() as airflow:
        port = int(airflow.url.rsplit(":", 1)[1])
    stack = stack_at(tmp_path, port)  # nothing listens there any more
    with pytest.raises(WaitTimedOut, match=r"for Airflow to come up; see the logs in "):
        stack.wait_until_up(timeout=0.1)
    stack.processes["scheduler"] = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    stack.processes["scheduler"].wait()
    with pytest.raises(RuntimeError, match=r"Airflow components exited: \{'scheduler': 3\}"):
        stack.wait_until_up(timeout=60)
