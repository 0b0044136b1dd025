"""Read-only queries on the warehouse a dbt adapter built, as dbt's profile reaches it: the quality
rules' measurements (dbt/quality_checks) and the output tables' rows and columns
(dbt/output_inspection) run through it, each query in a read-only transaction of its own, as the
domain's role on Postgres (inside dbt/runner.as_role).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

Run = Callable[[str, Sequence[Any]], list[tuple]]  # (sql, parameters) -> rows, read-only
MARKERS = {"duckdb": "?", "postgres": "%s"}  # the drivers' parameter markers (duckdb, psycopg2)
STATEMENT_TIMEOUT_MS = 300_000


@contextmanager
def session(adapter: str) -> Iterator[Run]:
    """A read-only way to run queries on the adapter's warehouse (one of MARKERS)."""
    opened = _duckdb if adapter == "duckdb" else _postgres
    with opened() as run:
        yield run


@contextmanager
def _duckdb() -> Iterator[Run]:
    """The DuckDB file dbt built (DATAPRODUCTS_DUCKDB_PATH), opened with dbt-duckdb's configuration so
    it shares the database dbt may still hold open in this process; each query in a read-only
    transaction."""
    import duckdb

    db = duckdb.connect(os.environ["DATAPRODUCTS_DUCKDB_PATH"])

    def run(sql: str, parameters: Sequence[Any]) -> list[tuple]:
        db.execute("begin transaction read only")
        try:
            return db.execute(sql, list(parameters)).fetchall()
        finally:
            db.execute("rollback")

    try:
        yield run
    finally:
        db.close()


@contextmanager
def _postgres() -> Iterator[Run]:
    """The Postgres warehouse as profiles.yml reaches it (DATAPRODUCTS_PG_*, the domain's role inside
    dbt/runner.as_role), in read-only transactions with a statement timeout."""
    import psycopg2

    from dataproducts.dbt.warehouse import connect_kwargs

    db = psycopg2.connect(**connect_kwargs(options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"))
    db.set_session(readonly=True)

    def run(sql: str, parameters: Sequence[Any]) -> list[tuple]:
        try:
            with db.cursor() as cursor:
                cursor.execute(sql, tuple(parameters) or None)  # None: no %-formatting at all
                return cursor.fetchall()
        finally:
            db.rollback()

    try:
        yield run
    finally:
        db.close()
