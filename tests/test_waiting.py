"""The one polling loop (ops/waiting.py) and what waits through it without runs: a stack coming up,
against tests/fake_airflow.py (the runs' waits are in test_cli's reruns and the end-to-end tests)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fake_airflow import FakeAirflow

from dataproducts.core.project import Project
from dataproducts.ops.stack import AirflowStack
from dataproducts.ops.waiting import WaitTimedOut, wait_until


def test_wait_until_answers_once_the_probe_has_kept_answering_and_times_out_saying_for_what():
    answers = iter([None, "a", None, "b", "c", "d"])
    assert wait_until(lambda: next(answers), 5, lambda: "-", interval=0.01, settle=0.015) == "d"
    with pytest.raises(WaitTimedOut, match=r"waited 0 s for the mesh: still waiting for x"):
        wait_until(lambda: None, 0.05, lambda: "the mesh: still waiting for x", interval=0.01)


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
