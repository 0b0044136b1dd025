"""What a product run's task processes import, imported once up front for Airflow's forkserver.

Every Airflow task runs in a process of its own, which imports what its task needs before doing
anything: Airflow's task runner, the plugins (Airflow loads them in every task for their
listeners: ours, and the DataHub plugin's listener module, about 0.4 s), the domain's DAG file,
dbt (about 0.9 s of a build task) and DataHub's metadata classes and SQL parser (a good part of
emit_metadata). With the LocalExecutor under `[scheduler] mp_start_method = forkserver`, Airflow
imports the modules listed in `[scheduler] mp_forkserver_preload` once in the forkserver; the
executor's workers are forked from it and each task process from a worker, so they inherit these
modules copy-on-write instead of importing them again. The embedded default sets both (ops/embedded.py); a production
LocalExecutor can set the same two options.

Importing this module imports, then freezes the garbage collector's view of everything imported
so far (`gc.freeze()`, as Airflow does before it forks LocalExecutor workers itself): otherwise
every full collection in every forked task process walks the hundreds of thousands of objects
these modules hold (about 0.4 s each, measured here), which costs more than importing them saves.
It opens no connection, reads no spec and starts no thread, so forking after it is safe; it makes
no plugin or listener either (the DataHub plugin's module would make its listener, which starts
threads that a fork does not carry over: only its listener module is imported), so every task
still loads the plugins as configured.
"""

from __future__ import annotations

import contextlib
import gc

import airflow.executors.local_executor
import airflow.sdk.execution_time.supervisor
import airflow.sdk.execution_time.task_runner  # noqa: F401
import dbt.adapters.duckdb
import dbt.cli.main
import dbt.task.build
import sqlglot.dialects.duckdb  # the dialects DataHub's SQL parser loads for our adapters
import sqlglot.dialects.postgres  # noqa: F401
from datahub.sql_parsing import sqlglot_lineage  # noqa: F401
from datahub_airflow_plugin import datahub_listener  # noqa: F401  (only the module: no listener is made here)

from dataproducts.airflow import dag_factory, plugin, tasks  # noqa: F401  (plugin: every task loads the plugins)
from dataproducts.metadata import delivery, runs  # noqa: F401

with contextlib.suppress(ImportError):  # the production adapter, where it is installed
    import dbt.adapters.postgres  # noqa: F401

gc.freeze()
