"""`./run tests` runs two pytest-xdist workers; the tests that share one running Airflow must stay on
one worker, in their order (tests/conftest.py, ONE_WORKER). Checked on a small suite of the same
layout, with this conftest, under pytest-xdist as `./run tests` starts it: a scheduler that splits a
unit would start a second Airflow for it and run its scenarios out of order without failing them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict

from conftest import ONE_WORKER, REPO, SLOW_FIRST, work_order

RECORD = """
import json, os

def test_{name}():
    with open(os.environ["RAN"], "a") as out:
        out.write(json.dumps([os.path.relpath(__file__), "{name}", os.environ["PYTEST_XDIST_WORKER"]]) + "\\n")
"""


def test_each_shared_airflow_unit_runs_on_one_worker_in_order(tmp_path):
    suite = tmp_path / "suite"
    (suite / "tests").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "conftest.py", suite / "tests" / "conftest.py")
    modules = [p if p.endswith(".py") else p + "test_shared.py" for p in ONE_WORKER]
    modules += [p.replace(".py", "_twin.py") for p in modules if p.endswith(".py") and "/production/" in p]
    modules += [f"tests/test_unit_{i}.py" for i in range(6)]
    for module in modules:
        path = suite / module
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(RECORD.format(name=f"step{i}") for i in range(4)))
    ran_log = tmp_path / "ran.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "t"), "tests"],
        cwd=suite, capture_output=True, text=True, timeout=300, env={**os.environ, "RAN": str(ran_log)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = [json.loads(line) for line in ran_log.read_text().splitlines()]
    assert len(ran) == 4 * len(modules)
    by_unit: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for path, name, worker in ran:
        unit = next((p for p in ONE_WORKER if path.startswith(p)), path)
        by_unit[unit].append((path, name, worker))
    for unit in ONE_WORKER:
        assert len({worker for _, _, worker in by_unit[unit]}) == 1, f"{unit} was split across workers: {by_unit[unit]}"
        assert [(p, n) for p, n, _ in by_unit[unit]] == sorted((p, n) for p, n, _ in by_unit[unit]), f"{unit} ran out of order"
    assert len({worker for _, _, worker in ran}) == 2, "the other tests ran beside them, on the other worker"


def test_the_work_order_hands_out_the_shared_airflow_units_first_then_the_slow_tests_then_the_rest():
    """The critical path first (test_e2e.py), then the other shared-Airflow units in ONE_WORKER's
    order, then SLOW_FIRST's tests in its order, then every other test in collection order."""
    rest = ["tests/test_cli.py::test_a", "tests/test_spec.py::test_b", "tests/test_cli.py::test_c"]
    slow = [f"{path}::test_slow" for path in reversed(SLOW_FIRST)]
    shared = list(reversed(ONE_WORKER))
    scopes = [rest[0], *slow[:2], shared[0], rest[1], *slow[2:], *shared[1:], rest[2]]
    assert work_order(scopes) == [*ONE_WORKER, *(f"{path}::test_slow" for path in SLOW_FIRST), *rest]
    assert ONE_WORKER[0] == "tests/test_e2e.py", "the longest unit, the suite's critical path, goes first"
