"""`dataproducts demo --keep-running` stops everything it started on SIGTERM (and Ctrl-C): no
process of its Airflow home survives the demo."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from tests.test_e2e import free_port

pytestmark = pytest.mark.e2e


def processes_of(airflow_home: str) -> list[psutil.Process]:
    """Every process running with this AIRFLOW_HOME (Airflow's components and whatever they forked)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("AIRFLOW_HOME") == airflow_home:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM])
def test_sigterm_ends_the_demo_and_every_airflow_process_it_started(project_copy, tmp_path, stop_signal):
    state = tmp_path / "state"
    home = str(state / "airflow")
    env = {**os.environ, "DATAPRODUCTS_STATE_DIR": str(state), "DATAPRODUCTS_DUCKDB_PATH": str(state / "warehouse.duckdb")}
    env.pop("AIRFLOW_HOME", None)
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dataproducts.cli",
            "--root",
            str(project_copy),
            "demo",
            "--keep-running",
            "--port",
            str(free_port()),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    up = threading.Event()

    def read() -> None:
        for line in demo.stdout:  # type: ignore[union-attr]
            output.append(line)
            if "Airflow is up at" in line:
                up.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert up.wait(600), "the demo's Airflow did not come up:\n" + "".join(output[-40:])
        running = processes_of(home)
        assert len(running) >= 5, f"Airflow's components should be running: {running}"
        demo.send_signal(stop_signal)
        assert demo.wait(120) == 130
        deadline = time.monotonic() + 30
        while processes_of(home) and time.monotonic() < deadline:
            time.sleep(1)
        assert processes_of(home) == [], "processes of the demo's Airflow survived it"
        assert any("stopping Airflow (SIGTERM)" in line for line in output)
    finally:
        if demo.poll() is None:
            demo.kill()
        for process in processes_of(home):  # never leave a process behind, even when the test fails
            process.kill()
