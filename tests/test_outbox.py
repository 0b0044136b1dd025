"""The metadata outbox (durable, atomic, ordered) and the sinks it delivers to."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

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

from dataproducts.metadata.outbox import QUARANTINE_DIR, SENT_DIR, TMP_PREFIX, FlushReport, Outbox, safe_label
from dataproducts.metadata.sinks import (
    FileSink,
    LiteSink,
    RestSink,
    SinkError,
    default_sink,
    open_lite,
    resolve_sink,
    sink_from_connection,
)

sys.path.insert(0, str(Path(__file__).parent))
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
    bad.write_bytes(bad.read_bytes()[:150])  # disk trouble / a torn copy
    garbage = outbox.directory / (third.name.replace("run3", "run4").replace(third.name[:20], "9" * 20))
    garbage.write_text('{"not": "a list"}')

    sink = RecordingSink()
    with caplog.at_level(logging.INFO, logger="dataproducts.metadata.outbox"):
        report = outbox.flush(sink)

    assert report == FlushReport(sent_batches=2, sent_mcps=8, remaining_batches=0, error=None, remaining_mcps=0, quarantined=2)
    assert [m.entityUrn for m in sink.batches[0]][0] == urn("a") and sink.batches[1][0].entityUrn == urn("c")
    assert sorted(p.name for p in outbox.quarantined()) == sorted([bad.name, garbage.name])
    assert (outbox.directory / QUARANTINE_DIR / bad.name).exists()
    assert any(r.levelno == logging.ERROR and bad.name in r.getMessage() for r in caplog.records)
    assert not first.exists() and not third.exists()


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
    assert len(flush_lines) == 1 and "backlog 3 batches, 12 MCPs" in flush_lines[0]

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
def test_file_sink_appends_atomically_in_datahub_file_format(tmp_path):
    path = tmp_path / "out" / "metadata.json"
    sink = FileSink(path)
    first, second = mcps_for("a"), mcps_for("b", run=2)
    sink.emit(first)
    sink.emit(second)

    back = list(read_metadata_file(path))
    assert [aspect_json(m) for m in back] == [aspect_json(m) for m in first + second]
    assert json.loads(path.read_text())[0]["aspect"].keys() == {"json"}  # the file sink's simplified form
    assert not [p for p in path.parent.iterdir() if p.name.startswith(TMP_PREFIX)]

    path.write_text("[{ broken")
    with pytest.raises(ValueError):
        sink.emit(first)
    assert path.read_text() == "[{ broken"  # never clobbers what it cannot read


def test_file_sink_through_the_outbox(tmp_path):
    outbox = Outbox(tmp_path / "outbox")
    batches = [mcps_for(f"t{i}", run=i) for i in range(3)]
    for i, batch in enumerate(batches):
        outbox.write(f"run{i}", batch)
    sink = FileSink(tmp_path / "datahub.json")
    assert outbox.flush(sink).sent_batches == 3
    assert [aspect_json(m) for m in sink.read()] == [aspect_json(m) for b in batches for m in b]


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


@dataclass
class Conn:
    conn_type: str
    host: Optional[str] = None
    password: Optional[str] = None
    extra: Any = None
    port: Optional[int] = None


def test_sink_from_connection_for_each_type(tmp_path, caplog):
    rest = sink_from_connection(
        Conn(
            "datahub-rest",
            "http://gms.internal:8080/",
            "s3cr3t-token-value",
            json.dumps({"timeout_sec": 3, "retry_max_times": 1, "extra_headers": {"X-A": "b"}, "bogus": 1}),
        )
    )
    assert isinstance(rest, RestSink)
    assert (rest.server, rest.timeout_sec, rest.retries) == ("http://gms.internal:8080", 3.0, 1)
    assert "s3cr3t-token-value" not in rest.describe() + repr(rest)
    assert any("bogus" in r.getMessage() for r in caplog.records)

    with_port = sink_from_connection(Conn("datahub_rest", "datahub-gms", port=8080))  # Airflow URIs split the port off
    assert with_port.server == "http://datahub-gms:8080"

    file_sink = sink_from_connection(Conn("datahub-file", str(tmp_path / "a.json")))
    assert isinstance(file_sink, FileSink) and file_sink.path == tmp_path / "a.json"
    file_from_extra = sink_from_connection(Conn("datahub-file", extra={"filename": str(tmp_path / "b.json")}))
    assert file_from_extra.path == tmp_path / "b.json"

    lite = sink_from_connection(Conn("datahub-lite", str(tmp_path / "lite.db")))
    assert isinstance(lite, LiteSink) and lite.path == tmp_path / "lite.db"

    for bad in (Conn("datahub-kafka", "broker:9092"), Conn("datahub-rest"), Conn("datahub-file")):
        with pytest.raises(ValueError):
            sink_from_connection(bad)

    # a real Airflow connection object
    from airflow.sdk import Connection

    conn = Connection(
        conn_id="x", conn_type="datahub-rest", host="http://gms:8080", password="tok-123456", extra='{"timeout_sec": 2}'
    )
    airflow_rest = sink_from_connection(conn)
    assert (airflow_rest.server, airflow_rest.timeout_sec) == ("http://gms:8080", 2.0)

    assert default_sink(tmp_path).path == tmp_path / "datahub" / "lite.db"


def test_resolve_sink_reads_the_airflow_connection_or_falls_back_to_lite(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(
        "AIRFLOW_CONN_DATAPRODUCTS_DATAHUB",
        json.dumps({"conn_type": "datahub-rest", "host": "http://gms:8080", "password": "resolve-token-42"}),
    )
    sink = resolve_sink(state_dir=tmp_path)
    assert isinstance(sink, RestSink) and sink.server == "http://gms:8080"

    monkeypatch.delenv("AIRFLOW_CONN_DATAPRODUCTS_DATAHUB")
    with caplog.at_level(logging.INFO, logger="dataproducts.metadata.sinks"):
        fallback = resolve_sink("dataproducts_datahub_not_defined", tmp_path)
    assert isinstance(fallback, LiteSink) and fallback.path == tmp_path / "datahub" / "lite.db"
    assert any("no Airflow connection" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------------------- secrets
TOKEN = "tok-9f8e7d6c5b4a-very-secret"


def _all_log_text(caplog) -> str:
    formatter = logging.Formatter("%(name)s %(message)s")
    return "\n".join(formatter.format(r) + str(getattr(r, "exc_text", "") or "") for r in caplog.records)


@pytest.mark.parametrize("failure", ["500", "401"])
def test_rest_sink_never_leaks_the_token(tmp_path, caplog, failure):
    server_token = TOKEN if failure == "500" else "the-server-wants-another-token"
    with FakeGMS(token=server_token, echo_token_in_errors=True) as gms:  # a hostile server echoes our token
        sink = RestSink(gms.url, token=TOKEN, timeout_sec=2, retries=0)
        outbox = Outbox(tmp_path / "outbox")
        outbox.write("run1", mcps_for("a"))
        if failure == "500":
            sink.emit(mcps_for("warmup"))  # handshake done; the next request fails in the ingest path
            gms.fail_next(10, 500)
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(SinkError) as excinfo:
                sink.emit(mcps_for("a"))
            report = outbox.flush(sink)
        sink.close()

    assert failure in str(excinfo.value) or "Unauthorized" in str(excinfo.value) or "injected" in str(excinfo.value)
    assert "<redacted>" in str(excinfo.value)  # the server did echo it; we scrubbed it
    assert excinfo.value.__cause__ is None and excinfo.value.__context__ is None
    assert report.error and TOKEN not in report.error and report.remaining_batches == 1
    for text in (str(excinfo.value), repr(excinfo.value), report.error, repr(sink), sink.describe(), _all_log_text(caplog)):
        assert TOKEN not in text
    assert caplog.records  # the emitter and the outbox did log (scrubbed)


def test_a_clock_stepping_back_does_not_reorder_batches(tmp_path):
    outbox = Outbox(tmp_path / "outbox")
    first = outbox.write("before", mcps_for("a"))
    an_hour_ahead = f"{time.time_ns() + 3600 * 10**9:020d}"  # written before the clock was set back an hour
    future = first.with_name(an_hour_ahead + first.name[20:].replace("before", "written_by_a_fast_clock"))
    first.rename(future)
    second = outbox.write("after", mcps_for("b"))
    assert [b.path for b in outbox.pending()] == [future, second]
