"""Getting metadata to DataHub without ever failing or losing it: write to the outbox, then flush.

Callers (the per-product `emit_metadata` task, the catalogue DAG, the CLI) hand over MCPs, or a
run's record; this module writes them durably first and only then tries to send everything
pending, oldest first. Nothing here raises into the data work: a failed send leaves the batches
for the next flush, and a run whose metadata cannot be built at all leaves its raw record in the
outbox, which every later flush tries to build again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from dataproducts.core import settings
from dataproducts.core.mesh import Mesh
from dataproducts.core.project import Project
from dataproducts.metadata import compiled_sql
from dataproducts.metadata.incident_ledger import incident_ledger
from dataproducts.metadata.outbox import FlushReport, Outbox
from dataproducts.metadata.plugin_config import plugin_config
from dataproducts.metadata.run_record import RunRecord
from dataproducts.metadata.sinks import Sink, resolve_sink

log = logging.getLogger("dataproducts.metadata")


def outbox_for(project: Project) -> Outbox:
    return Outbox(project.state_dir / "datahub" / "outbox")


def conn_id() -> str:
    return settings.get("datahub_conn_id")


def enqueue(project: Project, batch_id: str, mcps: Iterable) -> Path:
    """Durably keep a batch of metadata (raises only if the local disk fails)."""
    return outbox_for(project).write(batch_id, list(mcps))


def flush(project: Project, sink: Optional[Sink] = None) -> FlushReport:
    """Build what waits unbuilt, then send what is pending; report, never raise for the sink's sake."""
    outbox = outbox_for(project)
    _build_unbuilt(project, outbox)
    try:
        sink = sink or resolve_sink(conn_id(), project.state_dir)
    except Exception as exc:  # a malformed connection, a secrets backend that is down: keep everything
        status = outbox.status()
        log.warning("DataHub metadata not sent: %s; outbox: %s", exc, status)
        return FlushReport(0, 0, status.batches, str(exc), status.mcps, quarantine=status.quarantined)
    try:
        report = outbox.flush(sink)  # logs the backlog, quarantine included, after every flush
    finally:
        sink.close()
    if not report.ok:
        log.warning("DataHub metadata will be retried by the next run or `dataproducts metadata flush`: %s", report.error)
    return report


def deliver_run(project: Project, mesh: Mesh, record: RunRecord, git_revision: Optional[str]) -> FlushReport:
    """A run's metadata (its product's catalogue and the run itself) to the outbox, then flush.

    The incident ledger decides what the run does to the product's incident (a failure opens or
    updates one; a success resolves the open one, or records none). Should building the metadata
    fail, the raw record is kept in the outbox instead, to be built by a later flush.
    """
    from dataproducts.metadata.runs import incident_of, run_batch_mcps
    from dataproducts.metadata.score_delivery import record_run, run_score

    batch_id = f"run-{record.product_id}-{record.run_id}-{record.try_number}"
    outbox = outbox_for(project)
    with incident_ledger(project) as ledger:
        record = ledger.attach(record)
        try:
            record = compiled_sql.with_run_sql(mesh, record)
            compiled_sql.remember(project, record.compiled_sql)
        except Exception:  # lineage is a refinement: its trouble must not cost the run its metadata
            log.exception("could not read the SQL dbt compiled in %s", record.dbt_target_path)
        record_run(mesh, record)  # into the run history first: the score judges it
        try:
            mcps = run_batch_mcps(mesh, record, git_revision, plugin_config())
        except Exception:
            log.exception(
                "could not build the DataHub metadata of %s run %s; its record waits in the outbox to be built by a later flush",
                record.product_id,
                record.run_id,
            )
            outbox.defer(batch_id, {"record": record.to_dict(), "git_revision": git_revision})
        else:
            score = run_score(mesh, record, ledger)  # the product's quality score, in the same batch
            score.sent(outbox.write(batch_id, mcps + score.mcps).name)
        ledger.commit(record, incident_of(record, mesh.products.get(record.product_id)))
    return flush(project)


def _build_unbuilt(project: Project, outbox: Outbox) -> None:
    """Turn run records whose metadata could not be built earlier into batches (oldest first)."""
    pending = outbox.unbuilt()
    if not pending:
        return
    from dataproducts.core.mesh import load_mesh
    from dataproducts.metadata.runs import run_batch_mcps

    try:
        mesh = load_mesh(project)
    except Exception as exc:
        log.warning("outbox: %d run records wait to be built; the mesh cannot be loaded now (%s)", len(pending), exc)
        return
    for path in pending:
        try:
            document = json.loads(path.read_text())
            record = RunRecord.from_dict(document["record"])
            mcps = run_batch_mcps(mesh, record, document.get("git_revision"), plugin_config())
        except Exception as exc:
            log.warning(
                "outbox: %s still cannot be built into metadata (%s: %s); kept for the next flush",
                path.name,
                type(exc).__name__,
                exc,
            )
            continue
        outbox.write(document["batch_id"], mcps)
        path.unlink(missing_ok=True)  # a concurrent flush may have built it too: a harmless second batch
        log.info("outbox: built %s into a batch of %d MCPs", path.name, len(mcps))


@dataclass(frozen=True)
class LiteSummary:
    path: Path
    entities: dict[str, list[str]]  # entity type -> urns
    lineage_edges: int  # dataset upstreams
    run_results: dict[str, int]  # SUCCESS/FAILURE -> count of product runs

    def __str__(self) -> str:
        count = {kind: len(urns) for kind, urns in self.entities.items()}
        runs = ", ".join(f"{n} {result.lower()}" for result, n in sorted(self.run_results.items())) or "none"
        return (
            f"DataHub Lite {self.path}: {count.get('dataProduct', 0)} data products in {count.get('domain', 0)} domains, "
            f"{count.get('dataset', 0)} datasets with {self.lineage_edges} lineage edges, "
            f"{count.get('dataFlow', 0)} pipelines, runs: {runs}, {count.get('assertion', 0)} assertions"
        )


def lite_summary(project: Project) -> Optional[LiteSummary]:
    """What the local DataHub Lite store holds, read back through its API (None without a store)."""
    from dataproducts.metadata.sinks import open_lite

    path = project.state_dir / "datahub" / "lite.db"
    if not path.is_file():
        return None
    lite = open_lite(path, read_only=True)
    try:
        entities: dict[str, list[str]] = {}
        for urn in sorted(lite.list_ids()):
            entities.setdefault(urn.split(":")[2], []).append(urn)
        edges = sum(
            len((lite.get(u, ["upstreamLineage"]) or {}).get("upstreamLineage", {}).get("upstreams", []))
            for u in entities.get("dataset", [])
        )
        results: dict[str, int] = {}
        for urn in entities.get("dataProcessInstance", []):
            event = (lite.get(urn, ["dataProcessInstanceRunEvent"]) or {}).get("dataProcessInstanceRunEvent", {})
            result = (event.get("result") or {}).get("type")
            if result:
                results[result] = results.get(result, 0) + 1
        return LiteSummary(path, entities, edges, results)
    finally:
        lite.close()


def git_revision(root: Path) -> Optional[str]:
    """HEAD's commit, read from .git without running git; the git_revision setting overrides."""
    if settings.get("git_revision"):
        return settings.get("git_revision")
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (git / ref).is_file():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        return None
    return None
