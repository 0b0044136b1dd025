"""Commands on DataHub metadata: sync specs to the catalogue, flush the outbox, show the backlog,
and inspect, retry or drop quarantined batches."""

from __future__ import annotations

import sys

from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project

SHOW_BYTES = 4000  # how much of a quarantined batch `metadata quarantine show` prints


def register(sub) -> None:
    metadata = sub.add_parser(
        "metadata", help="DataHub metadata: sync specs to the catalogue, flush the outbox, show the backlog, quarantine"
    )
    actions = metadata.add_subparsers(dest="action", required=True)
    sync = actions.add_parser("sync", help="publish new and changed specs, then flush the outbox")
    sync.add_argument("--airflow-url", default="http://localhost:8080", help="Airflow base URL for links")
    actions.add_parser("flush", help="send what waits in the outbox, oldest first")
    actions.add_parser("status", help="the backlog: batches waiting and batches quarantined, with why")
    quarantine = actions.add_parser("quarantine", help="batches that could not be read back: list, show, retry, drop")
    quarantine.add_argument("what", choices=["list", "show", "retry", "drop"])
    quarantine.add_argument("batches", nargs="*", help="batch file names, as `list` prints them")
    metadata.set_defaults(handler=cmd_metadata)


def cmd_metadata(project: Project, args) -> int:
    from dataproducts.metadata import delivery

    if args.action == "status":
        outbox = delivery.outbox_for(project)
        status = outbox.status()
        print(f"outbox {outbox.directory}: {status}")
        for batch in status.quarantined:
            print(f"quarantined {batch}")
        return 0
    if args.action == "quarantine":
        return _quarantine(delivery.outbox_for(project), args.what, args.batches)
    if args.action == "sync":
        from dataproducts.metadata.catalog_sync import sync_catalog

        synced = sync_catalog(load_mesh(project), delivery.git_revision(project.root), args.airflow_url)
        print(
            f"catalogue: {len(synced.published)} published, {len(synced.removed)} marked removed, "
            f"{len(synced.unchanged)} unchanged, {len(synced.kept_broken)} broken (last good metadata kept)"
        )
    flushed = delivery.flush(project)
    print(flushed.summary())
    return 0 if flushed.ok else 1


def _quarantine(outbox, what: str, names: list[str]) -> int:
    """Inspect, retry or drop quarantined outbox batches."""
    from dataproducts.metadata.outbox import CorruptBatch

    if what == "list":
        for batch in outbox.quarantined():
            print(batch)
        return 0
    if not names:
        print(f"`metadata quarantine {what}` needs batch names; `metadata quarantine list` prints them", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        try:
            batch = outbox.quarantined_batch(name)
            if what == "show":
                print(f"{batch}\nfile: {batch.path}")
                print(batch.path.read_bytes()[:SHOW_BYTES].decode("utf-8", "replace"))
            elif what == "retry":
                print(f"{name}: back in the queue as {outbox.retry_quarantined(name)}; `dataproducts metadata flush` sends it")
            else:
                outbox.drop_quarantined(name)
                print(f"{name}: dropped")
        except (KeyError, CorruptBatch) as exc:
            hint = " (still unreadable; repair the file or drop it)" if what == "retry" else ""
            print(f"{name}: {exc.args[0]}{hint}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0
