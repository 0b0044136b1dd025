"""Commands on DataHub metadata: sync specs to the catalogue, flush the outbox, show the backlog."""

from __future__ import annotations

from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project


def register(sub) -> None:
    metadata = sub.add_parser(
        "metadata", help="DataHub metadata: sync specs to the catalogue, flush the outbox, show the backlog"
    )
    metadata.add_argument("action", choices=["sync", "flush", "status"])
    metadata.add_argument("--airflow-url", default="http://localhost:8080", help="Airflow base URL for links (sync)")
    metadata.set_defaults(handler=cmd_metadata)


def cmd_metadata(project: Project, args) -> int:
    from dataproducts.metadata import delivery

    if args.action == "status":
        batches, mcps = delivery.outbox_for(project).backlog()
        print(f"outbox {delivery.outbox_for(project).directory}: {batches} batches ({mcps} MCPs) waiting")
        return 0
    if args.action == "sync":
        from dataproducts.metadata.catalog_sync import sync_catalog

        synced = sync_catalog(load_mesh(project), delivery.git_revision(project.root), args.airflow_url)
        print(
            f"catalogue: {len(synced.published)} published, {len(synced.removed)} marked removed, "
            f"{len(synced.unchanged)} unchanged, {len(synced.kept_broken)} broken (last good metadata kept)"
        )
    flushed = delivery.flush(project)
    print(
        f"sent {flushed.sent_batches} batches ({flushed.sent_mcps} MCPs); {flushed.remaining_batches} batches wait"
        + (f"; error: {flushed.error}" if flushed.error else "")
    )
    return 0 if flushed.ok else 1
