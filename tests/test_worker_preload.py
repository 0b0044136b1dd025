"""The embedded default's scheduler forks LocalExecutor workers from a forkserver that preloaded
what product tasks import (ops/embedded.RUN_LATENCY_SETTINGS, airflow/worker_preload.py): a
worker started the way Airflow starts it has dbt, DataHub's metadata classes and the plugins'
modules imported, the garbage collector's view of them frozen (or every forked task walks them on
each collection), and no thread or DataHub listener that the fork of a task would lose."""

from __future__ import annotations

import json
import subprocess
import sys

from dataproducts.core.project import Project
from dataproducts.ops import airflow_api
from dataproducts.ops.embedded import RUN_LATENCY_SETTINGS, SQLITE_BUSY_TIMEOUT_SECONDS, EmbeddedAirflow

WORKER = """
import gc, json, multiprocessing, sys

def report(queue):
    import threading
    wanted = ("dbt.cli.main", "dbt.adapters.duckdb", "datahub.metadata.schema_classes", "dataproducts.metadata.delivery",
              "dataproducts.airflow.plugin", "datahub_airflow_plugin.datahub_listener")
    listener = sys.modules.get("datahub_airflow_plugin.airflow3.datahub_listener")
    queue.put({
        "preloaded": [m for m in wanted if m in sys.modules],
        "frozen": gc.get_freeze_count(),
        "threads": len(threading.enumerate()),
        "datahub_listener_made": bool(listener and listener._airflow_listener_initialized),
    })

if __name__ == "__main__":
    multiprocessing.set_start_method("forkserver")
    multiprocessing.set_forkserver_preload(sys.argv[1].split(","))  # as airflow.utils.process_utils does
    queue = multiprocessing.Queue()
    worker = multiprocessing.Process(target=report, args=(queue,))
    worker.start()
    print(json.dumps(queue.get(timeout=240)))
    worker.join()
"""


def test_the_schedulers_workers_start_with_dbt_and_datahub_imported_and_frozen(tmp_path):
    assert RUN_LATENCY_SETTINGS["AIRFLOW__SCHEDULER__MP_START_METHOD"] == "forkserver"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    preload = RUN_LATENCY_SETTINGS["AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"]
    done = subprocess.run([sys.executable, str(script), preload], capture_output=True, text=True, timeout=300, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["preloaded"] == [
        "dbt.cli.main",
        "dbt.adapters.duckdb",
        "datahub.metadata.schema_classes",
        "dataproducts.metadata.delivery",
        "dataproducts.airflow.plugin",
        "datahub_airflow_plugin.datahub_listener",
    ]
    assert seen["frozen"] > 100_000, "the preloaded objects are out of the collector's way"
    assert seen["threads"] == 1 and not seen["datahub_listener_made"], "no thread and no listener that a fork would lose"


def test_the_embedded_airflow_waits_a_minute_for_sqlites_write_lock(tmp_path):
    """Airflow's own engine, built from the embedded default's settings, waits
    SQLITE_BUSY_TIMEOUT_SECONDS for the write lock (Python's sqlite3 waits 5 s): under load a
    longer wait ended the scheduler with "database is locked". Its sync and async engines both.
    Our REST client waits longer for an answer than Airflow waits for the lock (or a busy
    Airflow's trigger is given up as hung: seen in CI). Airflow itself keeps SQLite in
    write-ahead-log mode (readers and the one writer do not wait for each other)."""
    stack = EmbeddedAirflow(Project(tmp_path), tmp_path / "airflow", port=1, log_port=2)
    probe = (
        "import json; from airflow import settings\n"
        "with settings.engine.connect() as c:\n"
        "    busy, journal = (c.exec_driver_sql(f'PRAGMA {p}').scalar() for p in ('busy_timeout', 'journal_mode'))\n"
        "print(json.dumps([busy, journal, settings.engine.url.database, str(settings.async_engine.url)]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=stack.env, capture_output=True, text=True, timeout=120, check=True)
    busy, journal, database, async_url = json.loads(done.stdout.strip().splitlines()[-1])
    assert busy == SQLITE_BUSY_TIMEOUT_SECONDS * 1000
    assert journal == "wal"
    assert airflow_api.TIMEOUT_SECONDS[1] > SQLITE_BUSY_TIMEOUT_SECONDS
    assert database == str((tmp_path / "airflow" / "airflow.db").resolve())
    assert async_url.endswith(f"airflow.db?timeout={SQLITE_BUSY_TIMEOUT_SECONDS}")
