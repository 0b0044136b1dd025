"""The metadata outbox (durable, atomic, ordered) and the sinks it delivers to."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from datahub.emitter.mce_builder import make_dataset_urn
from datahub.emitter.mcp import MetadataChangeProposalWrapper
from datahub.ingestion.source.file import read_metadata_file
from datahub.metadata.schema_classes import (
    DatasetPropertiesClass,
    GlobalTagsClass,
    StatusClass,
    SubTypesClass,
    TagAssociationClass,
    UpstreamClass,
    UpstreamLineageClass,
)

from dataproducts.metadata.outbox import QUARANTINE_DIR, SENT_DIR, TMP_PREFIX, CorruptBatch, FlushReport, Outbox, safe_label
from dataproducts.metadata.sinks import (
    ConnectionConfigError,
    EmitterSink,
    LiteSink,
    SinkError,
    default_sink,
    open_lite,
    resolve_sink,
)

sys.path.insert(0, str(Path(__file__).parent))
from conftest import set_connection
from fake_gms import FakeGMS


def urn(table: str) -> str:
    return make_dataset_urn("duckdb", f"warehouse.marts.{table}")


def mcps_for(table: str, run: int = 1) -> list[MetadataChangeProposalWrapper]:
    u = urn(table)
    return [
        MetadataChangeProposalWrapper(entityUrn=u, aspect=StatusClass(removed=False)),
        MetadataChangeProposalWrapper(
            entityUrn=u,
            aspect=DatasetPropertiesClass(name=table, description=f"{table} – run {run}", customProperties={"run": str(run)}),
        ),
        MetadataChangeProposalWrapper(entityUrn=u, aspect=SubTypesClass(typeNames=["Table"])),
        MetadataChangeProposalWrapper(
            entityUrn=u,
            aspect=UpstreamLineageClass(upstreams=[UpstreamClass(dataset=urn("raw_" + table), type="TRANSFORMED")]),
        ),
    ]


def aspect_json(mcp: Any) -> tuple[str, str, str]:
    return (mcp.entityUrn, mcp.aspectName, json.dumps(mcp.aspect.to_obj(), sort_keys=True))


class RecordingSink:
    """Accepts batches; fails (raises) for the batches whose number is in fail_on."""

    def __init__(self, fail_on: set[int] = frozenset()):
        self.batches: list[list] = []
        self.calls = 0
        self.fail_on = set(fail_on)

    def emit(self, mcps: list) -> None:
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError(f"sink down at call {self.calls}")
        self.batches.append(list(mcps))

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "recording sink"


# ------------------------------------------------------------------------------ writing
def test_write_round_trips_exactly_and_is_datahub_file_format(tmp_path):
    outbox = Outbox(tmp_path / "outbox")
    built = mcps_for("listings")
    path = outbox.write("inventory.listings/scheduled__2026-01-01", built)

    assert path.parent == outbox.directory
    back = outbox.read(path)
    assert [aspect_json(m) for m in back] == [aspect_json(m) for m in built]
    assert all(isinstance(m, MetadataChangeProposalWrapper) for m in back)
    assert all(m.systemMetadata and m.systemMetadata.lastObserved > 0 for m in back)  # stamped at write time
    assert built[0].systemMetadata is None  # the caller's objects are not modified
    # DataHub's own file reader reads a batch file as it is
    assert [aspect_json(m) for m in read_metadata_file(path)] == [aspect_json(m) for m in built]
    assert outbox.backlog() == (1, 4)


def test_names_sort_in_write_order_and_hostile_ids_stay_inside(tmp_path):
    outbox = Outbox(tmp_path / "outbox")
    ids = ["../../etc/passwd", "/abs/path", "..", "", "a b\nc", "x" * 500, "inventory.listings run#7", "same", "same"]
    paths = [outbox.write(batch_id, mcps_for(f"t{i}")) for i, batch_id in enumerate(ids)]

    assert all(p.parent == outbox.directory for p in paths)
    assert len(set(paths)) == len(ids)  # the same batch id twice: two batches, none lost
    assert [b.path for b in outbox.pending()] == paths  # oldest first = write order
    assert not list(tmp_path.glob("etc*")) and not (tmp_path / "passwd").exists()
    assert safe_label("../../etc/passwd") == "etc_passwd"
    assert safe_label("") == "batch"
    assert len(safe_label("x" * 500)) <= 100
    assert outbox.backlog() == (len(ids), 4 * len(ids))


def test_a_leftover_temp_file_is_ignored_and_swept_when_stale(tmp_path):
    outbox = Outbox(tmp_path / "outbox")
    outbox.write("run1", mcps_for("a"))
    # a crash during a write leaves only the temp file: never a half-written batch name
    leftover = outbox.directory / f"{TMP_PREFIX}deadbeef-00000000000000000001-0000-n00004-run2.json.part"
    leftover.write_text('[{"entityType": "dataset", "entit')
    fresh = outbox.directory / f"{TMP_PREFIX}cafe-in-progress.part"
    fresh.write_text("[")

    assert [b.label for b in outbox.pending()] == ["run1"]
    old = time.time() - 2 * 3600
    os.utime(leftover, (old, old))
    sink = RecordingSink()
    report = outbox.flush(sink)

    assert (report.sent_batches, report.error, report.quarantined) == (1, None, 0)
    assert not leftover.exists()  # a crash's leftover (older than an hour) is removed
    assert fresh.exists()  # a write possibly still in progress is left alone


def test_a_truncated_batch_is_quarantined_and_does_not_block_the_queue(tmp_path, caplog):
    outbox = Outbox(tmp_path / "outbox")
    first = outbox.write("run1", mcps_for("a"))
    bad = outbox.write("run2", mcps_for("b"))
    third = outbox.write("run3", mcps_for("c"))
    intact = bad.read_bytes()
    bad.write_bytes(intact[:150])  # disk trouble / a torn copy
    garbage = outbox.directory / (third.name.replace("run3", "run4").replace(third.name[:20], "9" * 20))
    garbage.write_text('{"not": "a list"}')

    sink = RecordingSink()
    with caplog.at_level(logging.INFO, logger="dataproducts.metadata.outbox"):
        report = outbox.flush(sink)

    assert (report.sent_batches, report.sent_mcps, report.remaining_batches, report.error, report.quarantined) == (
        2,
        8,
        0,
        None,
        2,
    )
    assert [m.entityUrn for m in sink.batches[0]][0] == urn("a") and sink.batches[1][0].entityUrn == urn("c")
    assert [q.name for q in outbox.quarantined()] == [bad.name, garbage.name]
    assert (outbox.directory / QUARANTINE_DIR / bad.name).exists()
    assert any(r.levelno == logging.ERROR and bad.name in r.getMessage() for r in caplog.records)
    assert not first.exists() and not third.exists()

    # counted wherever the backlog is, with the reason
    status = outbox.status()
    assert (status.batches, status.mcps, len(status.quarantined)) == (0, 0, 2)
    assert [q.name for q in report.quarantine] == [bad.name, garbage.name]
    assert "JSONDecodeError" in status.quarantined[0].reason and "JSON array" in status.quarantined[1].reason
    assert "2 quarantined" in str(status) and "2 quarantined" in report.summary() and bad.name in report.summary()
    flush_line = next(r for r in caplog.records if "outbox flush" in r.getMessage())
    assert flush_line.levelno == logging.WARNING and "2 quarantined" in flush_line.getMessage()
    assert "JSONDecodeError" in flush_line.getMessage()
    later = outbox.flush(RecordingSink())  # a later flush still reports what waits in quarantine
    assert later.quarantined == 0 and len(later.quarantine) == 2 and not later.remaining_batches

    # retry: refused while still unreadable, accepted once repaired, then sent in its old place
    with pytest.raises(CorruptBatch):
        outbox.retry_quarantined(bad.name)
    (outbox.directory / QUARANTINE_DIR / bad.name).write_bytes(intact)
    assert outbox.retry_quarantined(bad.name) == bad
    assert [b.path for b in outbox.pending()] == [bad]
    retry_sink = RecordingSink()
    assert outbox.flush(retry_sink).sent_batches == 1 and retry_sink.batches[0][0].entityUrn == urn("b")
    # drop: gone for good
    outbox.drop_quarantined(garbage.name)
    assert outbox.quarantined() == [] and not list((outbox.directory / QUARANTINE_DIR).iterdir())
    with pytest.raises(KeyError, match="no quarantined batch"):
        outbox.drop_quarantined(garbage.name)


# ----------------------------------------------------------------------------- flushing
def test_flush_is_oldest_first_stops_at_the_first_failure_and_keeps_the_rest(tmp_path, caplog):
    outbox = Outbox(tmp_path / "outbox")
    written = [outbox.write(f"run{i}", mcps_for(f"t{i}", run=i)) for i in range(5)]
    sink = RecordingSink(fail_on={3})

    with caplog.at_level(logging.INFO, logger="dataproducts.metadata.outbox"):
        report = outbox.flush(sink)

    assert (report.sent_batches, report.sent_mcps, report.remaining_batches, report.remaining_mcps) == (2, 8, 3, 12)
    assert report.error == "ConnectionError: sink down at call 3" and not report.ok
    assert [b.path for b in outbox.pending()] == written[2:]
    assert [batch[0].entityUrn for batch in sink.batches] == [urn("t0"), urn("t1")]
    flush_lines = [r.getMessage() for r in caplog.records if "outbox flush" in r.getMessage()]
    assert len(flush_lines) == 1 and "backlog 3 batches (12 MCPs) waiting" in flush_lines[0]

    report = outbox.flush(sink, max_batches=2)
    assert (report.sent_batches, report.remaining_batches, report.error) == (2, 1, None)
    report = outbox.flush(sink)
    assert (report.sent_batches, report.remaining_batches, report.error) == (1, 0, None)
    assert [batch[0].entityUrn for batch in sink.batches] == [urn(f"t{i}") for i in range(5)]
    assert outbox.backlog() == (0, 0)


def test_sent_batches_are_kept_for_debugging_but_bounded(tmp_path):
    outbox = Outbox(tmp_path / "outbox", keep_sent=2)
    for i in range(5):
        outbox.write(f"run{i}", mcps_for(f"t{i}"))
    outbox.flush(RecordingSink())
    kept = sorted(p.name for p in (outbox.directory / SENT_DIR).iterdir())
    assert len(kept) == 2 and kept[-1].endswith("run4.json")

    no_keep = Outbox(tmp_path / "outbox2", keep_sent=0)
    no_keep.write("run", mcps_for("t"))
    no_keep.flush(RecordingSink())
    assert not (no_keep.directory / SENT_DIR).exists() and no_keep.backlog() == (0, 0)


def test_only_one_flush_at_a_time(tmp_path):
    outbox = Outbox(tmp_path / "outbox")
    outbox.write("run1", mcps_for("a"))
    outbox.write("run2", mcps_for("b"))
    entered, release = threading.Event(), threading.Event()

    class SlowSink(RecordingSink):
        def emit(self, mcps):
            entered.set()
            assert release.wait(10)
            super().emit(mcps)

    slow = SlowSink()
    results: list[FlushReport] = []
    first = threading.Thread(target=lambda: results.append(outbox.flush(slow)))
    first.start()
    assert entered.wait(10)
    other = RecordingSink()
    started = time.monotonic()
    busy = outbox.flush(other)  # the lock is per open file description: a thread conflicts like a process
    assert time.monotonic() - started < 1
    assert busy.busy and busy.error == "another flush is running" and busy.sent_batches == 0
    assert other.calls == 0
    release.set()
    first.join(10)
    assert results[0].sent_batches == 2 and results[0].error is None

    # and across processes
    code = (
        "import fcntl,os,sys,time; fd=os.open(sys.argv[1], os.O_RDWR|os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(outbox.directory / ".flush.lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        outbox.write("run3", mcps_for("c"))
        report = outbox.flush(RecordingSink())
        assert report.busy and report.remaining_batches == 1
    finally:
        holder.kill()
        holder.wait()
    assert outbox.flush(RecordingSink()).sent_batches == 1


# -------------------------------------------------------------------------------- sinks
def file_sink(monkeypatch, tmp_path, path, conn_id="test_datahub_file"):
    """A datahub-file connection, resolved as in production (the plugin's hook -> SynchronizedFileEmitter)."""
    set_connection(monkeypatch, conn_id, {"conn_type": "datahub-file", "host": str(path)})
    return resolve_sink(conn_id, tmp_path / "state")


def test_file_sink_appends_in_datahub_file_format_with_the_plugins_emitter(tmp_path, monkeypatch):
    from datahub.emitter.synchronized_file_emitter import SynchronizedFileEmitter

    path = tmp_path / "out" / "metadata.json"
    path.parent.mkdir()
    sink = file_sink(monkeypatch, tmp_path, path)
    assert isinstance(sink, EmitterSink) and isinstance(sink._emitter, SynchronizedFileEmitter)
    assert sink.describe() == f"DataHub file {path}"
    first, second = mcps_for("a"), mcps_for("b", run=2)
    sink.emit(first)
    sink.emit(second)
    assert [aspect_json(m) for m in read_metadata_file(path)] == [aspect_json(m) for m in first + second]
    assert path.with_suffix(".lock").exists()  # the same lock file the DataHub plugin takes


def test_a_corrupt_file_sink_target_is_named_in_the_error_and_left_alone(tmp_path, monkeypatch):
    path = tmp_path / "metadata.json"
    path.write_text("[{ broken")
    sink = file_sink(monkeypatch, tmp_path, path)
    with pytest.raises(SinkError) as excinfo:
        sink.emit(mcps_for("a"))
    assert str(path) in str(excinfo.value) and "not a readable DataHub metadata file" in str(excinfo.value)
    assert path.read_text() == "[{ broken"  # never clobbers what it cannot read

    outbox = Outbox(tmp_path / "outbox")
    outbox.write("run1", mcps_for("a"))
    report = outbox.flush(sink)
    assert str(path) in report.error and outbox.backlog() == (1, 4)


def test_file_sink_through_the_outbox(tmp_path, monkeypatch):
    outbox = Outbox(tmp_path / "outbox")
    batches = [mcps_for(f"t{i}", run=i) for i in range(3)]
    for i, batch in enumerate(batches):
        outbox.write(f"run{i}", batch)
    path = tmp_path / "datahub.json"
    assert outbox.flush(file_sink(monkeypatch, tmp_path, path)).sent_batches == 3
    assert [aspect_json(m) for m in read_metadata_file(path)] == [aspect_json(m) for b in batches for m in b]


def test_lite_sink_round_trip_through_the_lite_api(tmp_path):
    store = tmp_path / "state" / "datahub" / "lite.db"
    sink = LiteSink(store)
    tagged = MetadataChangeProposalWrapper(
        entityUrn=urn("listings"), aspect=GlobalTagsClass(tags=[TagAssociationClass(tag="urn:li:tag:gold")])
    )
    sink.emit(mcps_for("listings") + [tagged])
    sink.emit(mcps_for("listings", run=2))  # a newer run: new values win
    sink.emit(mcps_for("listings", run=2))  # a re-send: idempotent
    sink.close()

    lite = open_lite(store, read_only=True)
    try:
        entity = lite.get(urn("listings"), None, typed=True)
        assert set(entity) == {"urn", "status", "datasetProperties", "subTypes", "upstreamLineage", "globalTags"}
        assert entity["datasetProperties"] == mcps_for("listings", run=2)[1].aspect
        assert entity["upstreamLineage"].upstreams[0].dataset == urn("raw_listings")
        assert entity["globalTags"] == tagged.aspect
        details = lite.get(urn("listings"), ["datasetProperties"], details=True)
        assert details["datasetProperties"]["__systemMetadata"]["properties"]["sysVersion"] == "2"  # re-send made no v3
        assert urn("listings") in set(lite.list_ids())
    finally:
        lite.close()


def test_lite_sink_keeps_the_browse_index_a_full_reindex_gives(tmp_path, compiled_repo, monkeypatch):
    """DataHub Lite's own close() rebuilds the browse index of the whole store (its cost grows with
    every run); the sink indexes only what it wrote. Both must give the same index."""
    from dataproducts.core.mesh import load_mesh
    from dataproducts.core.project import Project
    from dataproducts.metadata.catalog import catalog_mcps

    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    mesh = load_mesh(Project(compiled_repo))
    store = tmp_path / "lite.db"
    for product_id in sorted(mesh.products):  # one sink per run, as the emit_metadata tasks do
        sink = LiteSink(store)
        sink.emit(catalog_mcps(mesh, product_id, None, "http://airflow"))
        sink.close()

    def edges() -> set[tuple]:
        lite = open_lite(store)
        try:
            return set(lite._execute("SELECT src_id, relnship, dst_id, dst_label FROM metadata_edge_v2"))
        finally:
            lite._close_connection()

    incremental = edges()
    open_lite(store).close()  # DataHub Lite's close: a full reindex
    assert incremental == edges() and len(incremental) > 20


def test_datahub_lite_cli_reads_our_store(tmp_path):
    store = tmp_path / "state" / "datahub" / "lite.db"
    sink = LiteSink(store)
    sink.emit(mcps_for("listings"))
    sink.close()
    assert (store.parent / ".datahubenv").exists()
    assert sink.cli_hint().startswith(f"HOME={store.parent} ")

    datahub = Path(sys.executable).with_name("datahub")
    env = {**os.environ, "HOME": str(store.parent), "DATAHUB_TELEMETRY_ENABLED": "false"}
    out = subprocess.run(
        [str(datahub), "lite", "get", "--urn", urn("listings")], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["datasetProperties"]["name"] == "listings"


def test_each_connection_type_gets_the_plugins_emitter_or_lite(tmp_path, monkeypatch):
    from datahub.emitter.rest_emitter import DataHubRestEmitter

    set_connection(
        monkeypatch,
        "dh_rest",
        {
            "conn_type": "datahub-rest",
            "host": "http://gms.internal:8080/",
            "password": "s3cr3t-token-value",
            "extra": {"timeout_sec": 3, "retry_max_times": 1},
        },
    )
    rest = resolve_sink("dh_rest", tmp_path)
    assert isinstance(rest, EmitterSink) and isinstance(rest._emitter, DataHubRestEmitter)
    assert rest._emitter._session_config.timeout == 3 and rest._emitter._session_config.retry_max_times == 1
    assert rest.describe() == "DataHub REST http://gms.internal:8080/ (token set)"
    assert "s3cr3t-token-value" not in rest.describe() + repr(rest)

    set_connection(monkeypatch, "dh_uri", "datahub-rest://datahub-gms:8080")  # Airflow URIs split the port off
    assert resolve_sink("dh_uri", tmp_path).describe() == "DataHub REST datahub-gms:8080"

    set_connection(monkeypatch, "dh_lite", {"conn_type": "datahub-lite", "host": str(tmp_path / "lite.db")})
    lite = resolve_sink("dh_lite", tmp_path)
    assert isinstance(lite, LiteSink) and lite.path == tmp_path / "lite.db"

    assert default_sink(tmp_path).path == tmp_path / "datahub" / "lite.db"


def test_resolve_sink_falls_back_to_lite_only_when_no_connection_is_defined(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_DATAPRODUCTS_DATAHUB_NOT_DEFINED", raising=False)
    with caplog.at_level(logging.INFO, logger="dataproducts.metadata.sinks"):
        fallback = resolve_sink("dataproducts_datahub_not_defined", tmp_path)
    assert isinstance(fallback, LiteSink) and fallback.path == tmp_path / "datahub" / "lite.db"
    assert any("no Airflow connection" in r.getMessage() for r in caplog.records)


MALFORMED = {
    "trailing comma": '{"conn_type": "datahub-rest", "host": "http://gms:8080", "password": "tok-123456",}',
    "port not a number (JSON)": '{"conn_type": "datahub-rest", "host": "gms", "port": "eighty"}',
    "port not a number (URI)": "datahub-rest://gms:eighty",
    "extra not JSON": {"conn_type": "datahub-rest", "host": "http://gms:8080", "extra": "{timeout_sec: 3"},
    "no host": {"conn_type": "datahub-rest", "password": "tok-123456"},
    "not a DataHub type": {"conn_type": "http", "host": "http://gms:8080"},
}


@pytest.mark.parametrize("value", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_connection_is_an_error_naming_it_and_nothing_is_sent(tmp_path, monkeypatch, value):
    from dataproducts.core.project import Project
    from dataproducts.metadata import delivery

    set_connection(monkeypatch, "dataproducts_datahub", value)
    monkeypatch.delenv("DATAPRODUCTS_DATAHUB_CONN_ID", raising=False)
    with pytest.raises(ConnectionConfigError) as excinfo:
        resolve_sink("dataproducts_datahub", tmp_path)
    assert "Airflow connection 'dataproducts_datahub'" in str(excinfo.value)
    assert "tok-123456" not in str(excinfo.value)

    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    project = Project(tmp_path)
    delivery.enqueue(project, "run1", mcps_for("a"))
    report = delivery.flush(project)
    assert not report.ok and "'dataproducts_datahub'" in report.error
    assert delivery.outbox_for(project).backlog() == (1, 4), "the outbox keeps everything"
    assert not (project.state_dir / "datahub" / "lite.db").exists(), "nothing filed in the local store instead"


def cli_flush_one_batch(root: Path, connection: str) -> subprocess.CompletedProcess:
    """`dataproducts metadata flush` of one waiting batch, with $AIRFLOW_CONN_DATAPRODUCTS_DATAHUB = connection."""
    state = root / "state"
    Outbox(state / "datahub" / "outbox").write("run1", mcps_for("a"))
    env = {**os.environ, "AIRFLOW_CONN_DATAPRODUCTS_DATAHUB": connection, "DATAPRODUCTS_STATE_DIR": str(state)}
    env.pop("DATAPRODUCTS_DATAHUB_CONN_ID", None)
    env.pop("AIRFLOW__DATAPRODUCTS__DATAHUB_CONN_ID", None)
    command = [sys.executable, "-m", "dataproducts.cli", "--root", str(root), "metadata", "flush"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_metadata_flush_with_a_malformed_connection_exits_non_zero_naming_it(tmp_path):
    state = tmp_path / "state"
    done = cli_flush_one_batch(tmp_path, MALFORMED["trailing comma"])
    assert done.returncode == 1
    assert "Airflow connection 'dataproducts_datahub' ($AIRFLOW_CONN_DATAPRODUCTS_DATAHUB) is malformed" in done.stdout
    assert "1 batches wait" in done.stdout and "Traceback" not in done.stdout + done.stderr
    assert "tok-123456" not in done.stdout + done.stderr
    assert not (state / "datahub" / "lite.db").exists()


# ----------------------------------------------------------------------------- secrets
TOKEN = "tok-9f8e7d6c5b4a-very-secret"
URL_PASSWORD = "url-pw-5e4d3c2b1a"
HEADER_SECRET = "hdr-key-0a1b2c3d4e5f"
BASIC = __import__("base64").b64encode(f"svc-user:{URL_PASSWORD}".encode()).decode()
SECRETS = (TOKEN, URL_PASSWORD, HEADER_SECRET, BASIC)


def _all_log_text(caplog) -> str:
    formatter = logging.Formatter("%(name)s %(message)s")
    return "\n".join(formatter.format(r) + str(getattr(r, "exc_text", "") or "") for r in caplog.records)


def secret_connection(gms, user_in_url: bool) -> dict:
    host = f"http://svc-user:{URL_PASSWORD}@127.0.0.1:{gms.port}" if user_in_url else gms.url
    return {
        "conn_type": "datahub-rest",
        "host": host,
        "password": TOKEN,
        "extra": {"timeout_sec": 2, "retry_max_times": 0, "extra_headers": {"X-DataHub-Api-Key": HEADER_SECRET}},
    }


@pytest.mark.parametrize("failure", ["500", "401"])
def test_every_secret_of_the_connection_is_scrubbed(tmp_path, caplog, monkeypatch, failure):
    from airflow.sdk._shared.secrets_masker import redact

    # A hostile server echoes every request header (our token, the Basic credentials requests makes
    # from the URL's user:password, the extra header) in its error replies.
    with FakeGMS(token="the-server-wants-another-token", echo_headers_in_errors=True) as gms:
        set_connection(monkeypatch, "dh_secret", secret_connection(gms, user_in_url=(failure == "401")))
        sink = resolve_sink("dh_secret", tmp_path)
        outbox = Outbox(tmp_path / "outbox")
        outbox.write("run1", mcps_for("a"))
        if failure == "500":
            gms.fail_next(10, 500, config_too=False)  # the handshake works, every ingest request fails
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(SinkError) as excinfo:
                sink.emit(mcps_for("a"))
            report = outbox.flush(sink)
        sink.close()

    assert "<redacted>" in str(excinfo.value)  # the server did echo secrets; we scrubbed them
    assert excinfo.value.__cause__ is None and excinfo.value.__context__ is None
    assert report.error and report.remaining_batches == 1
    texts = (str(excinfo.value), repr(excinfo.value), report.error, repr(sink), sink.describe(), _all_log_text(caplog))
    for secret in SECRETS if failure == "401" else (TOKEN, HEADER_SECRET):
        for text in texts:
            assert secret not in text
        assert secret not in str(redact(f"a task log line with {secret} in it")), "registered with Airflow's masker"
    assert caplog.records  # the emitter and the outbox did log (scrubbed)


def test_the_cli_never_prints_a_secret_the_server_echoes(tmp_path):
    with FakeGMS(token="the-server-wants-another-token", echo_headers_in_errors=True) as gms:
        done = cli_flush_one_batch(tmp_path, json.dumps(secret_connection(gms, user_in_url=True)))
    assert done.returncode == 1 and "401" in done.stdout + done.stderr
    assert gms.stats.unauthorized >= 1, "the server did get (and echo) our credentials"
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr


def test_a_clock_stepping_back_does_not_reorder_batches(tmp_path):
    outbox = Outbox(tmp_path / "outbox")
    first = outbox.write("before", mcps_for("a"))
    an_hour_ahead = f"{time.time_ns() + 3600 * 10**9:020d}"  # written before the clock was set back an hour
    future = first.with_name(an_hour_ahead + first.name[20:].replace("before", "written_by_a_fast_clock"))
    first.rename(future)
    second = outbox.write("after", mcps_for("b"))
    assert [b.path for b in outbox.pending()] == [future, second]


# ------------------------------------------------------------------------------- faults
WRITER = """
import sys
from datahub.emitter.mce_builder import make_dataset_urn
from datahub.emitter.mcp import MetadataChangeProposalWrapper
from datahub.metadata.schema_classes import DatasetPropertiesClass
from dataproducts.metadata.outbox import Outbox

outbox = Outbox(sys.argv[1])
for i in range(10**6):
    batch = [
        MetadataChangeProposalWrapper(
            entityUrn=make_dataset_urn("duckdb", f"warehouse.kill.t{i}_{t}"),
            aspect=DatasetPropertiesClass(name=f"t{i}_{t}", description="x" * 2000),
        )
        for t in range(BATCH)
    ]
    path = outbox.write(f"kill-{i}", batch)
    print(path.name, flush=True)
""".replace("BATCH", "60")

FLUSHER = """
import sys
from dataproducts.metadata.outbox import Outbox
from dataproducts.metadata.sinks import LiteSink
print("flushing", flush=True)
Outbox(sys.argv[1]).flush(LiteSink(sys.argv[2]))
"""


def test_sigkill_while_writing_or_flushing_loses_nothing_and_nothing_is_read_half(tmp_path):
    import random
    import signal

    directory = tmp_path / "outbox"
    outbox = Outbox(directory)
    written: list[str] = []  # batches whose write() returned before the kill
    half_read: list[str] = []
    stop = threading.Event()

    def read_while_writing():  # a flusher's view of the outbox while a writer dies
        while not stop.is_set():
            for batch in outbox.pending():
                try:
                    outbox.read(batch)
                except FileNotFoundError:
                    pass
                except CorruptBatch as exc:
                    half_read.append(f"{batch.name}: {exc}")

    reader = threading.Thread(target=read_while_writing, daemon=True)
    reader.start()
    rng = random.Random(6)
    for _ in range(5):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(directory)], stdout=subprocess.PIPE, text=True)
        for _ in range(rng.randint(1, 4)):
            written.append(child.stdout.readline().strip())
        time.sleep(rng.uniform(0, 0.05))  # somewhere inside the next write
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
        written += rest.split()
    stop.set()
    reader.join(10)

    assert half_read == [], "a reader saw a half-written batch"
    pending = {b.name: b for b in outbox.pending()}
    assert set(written) <= set(pending), "a batch whose write returned was lost"
    for batch in pending.values():  # every batch in the queue is whole (a kill leaves only temp files)
        assert len(outbox.read(batch)) == batch.mcp_count == 60

    # killed while flushing: every batch is either still queued or already in the store, and the next flush finishes
    store = tmp_path / "lite.db"
    child = subprocess.Popen([sys.executable, "-c", FLUSHER, str(directory), str(store)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "flushing"
    sent = directory / SENT_DIR
    deadline = time.monotonic() + 120
    while len(list(sent.glob("*.json")) if sent.is_dir() else []) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)  # in the middle of the flush: two batches delivered, more to go
    child.wait(30)
    assert 0 < outbox.backlog()[0] < len(pending)
    report = outbox.flush(LiteSink(store))
    assert report.ok and outbox.backlog() == (0, 0) and report.quarantined == 0
    lite = open_lite(store, read_only=True)
    try:
        stored = set(lite.list_ids())
    finally:
        lite.close()
    for name in pending:
        index = name.rsplit("-kill-", 1)[1].removesuffix(".json")
        assert make_dataset_urn("duckdb", f"warehouse.kill.t{index}_59") in stored, f"{name} was lost"
