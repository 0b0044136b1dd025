"""Delivery to DataHub GMS over REST survives an outage: nothing lost, order kept, re-sends exact.

Six product runs each write their metadata to the outbox and flush it to the sink pointed at
the fake GMS (tests/fake_gms.py; the real GMS needs Docker), through a datahub-rest Airflow connection
(the DataHub plugin's hook makes the emitter), while GMS answers 500 (runs 1-2),
hangs past the client timeout and applies the request late anyway (run 3), is down
(connection refused, run 4), and then recovers (runs 5-6).
"""

from __future__ import annotations

import collections
import json
import sys
import time
from pathlib import Path

import pytest
from datahub.api.entities.datajob import DataFlow, DataJob
from datahub.api.entities.dataprocess.dataprocess_instance import DataProcessInstance, InstanceRunResult
from datahub.emitter.mce_builder import make_dataset_urn
from datahub.metadata.schema_classes import StatusClass, SystemMetadataClass
from datahub.metadata.urns import DatasetUrn

from dataproducts.metadata.outbox import Outbox
from dataproducts.metadata.sinks import resolve_sink

sys.path.insert(0, str(Path(__file__).parent))
from conftest import set_connection
from fake_gms import FakeGMS

TOKEN = "eyJhbGciOiJIUzI1NiJ9.fake-personal-access-token"
TIMEOUT_SEC = 1.0  # the emitter warns below 1 s
HANG_SEC = 1.6  # > TIMEOUT_SEC: the client gives up, then GMS applies the request anyway


def build_run(product: str, run: int) -> list:
    """The metadata one product run publishes: its table, the DAG, and the run itself."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # datahub.sdk is marked experimental
        from datahub.sdk import Dataset

    domain, name = product.split(".")
    run_id = f"scheduled__2026-01-{run:02d}T02:00:00+00:00"
    dataset = Dataset(
        platform="duckdb",
        name=f"warehouse.{domain}.{name}",
        description=f"{name} of {domain}",
        custom_properties={"last_run_id": run_id, "rows": str(1000 + run), "product": product},
        schema=[("id", "string", "primary key"), ("price", "double"), ("business_date", "date")],
    )
    flow = DataFlow(orchestrator="airflow", id=f"dp__{domain}__{name}", env="prod")
    job = DataJob(id="dbt_build", flow_urn=flow.urn)
    job.outlets.append(DatasetUrn.create_from_string(make_dataset_urn("duckdb", f"warehouse.{domain}.{name}")))
    instance = DataProcessInstance.from_datajob(datajob=job, id=f"{flow.id}__{run_id}")
    started = 1_767_232_800_000 + run * 86_400_000
    mcps = [
        *dataset.as_mcps(),
        *flow.generate_mcp(),
        *job.generate_mcp(),
        *instance.generate_mcp(created_ts_millis=started, materialize_iolets=False),
        *instance.start_event_mcp(started),
        *instance.end_event_mcp(started + 60_000, result=InstanceRunResult.SUCCESS if run % 3 else InstanceRunResult.FAILURE),
    ]
    from datahub.emitter.mcp import MetadataChangeProposalWrapper

    mcps.append(MetadataChangeProposalWrapper(entityUrn=str(dataset.urn), aspect=StatusClass(removed=False)))
    return mcps


def tag_with_batch(mcps: list, batch_id: str) -> list:
    """Mark each MCP with its batch (systemMetadata.runId) so the test can attribute what GMS received."""
    for mcp in mcps:
        if mcp.systemMetadata is None:
            mcp.systemMetadata = SystemMetadataClass(runId=batch_id)
        else:
            mcp.systemMetadata.runId = batch_id
    return mcps


def key(mcp) -> tuple[str, str, str]:
    """(urn, aspect name, aspect JSON as DataHub stores it)."""
    return (mcp.entityUrn, mcp.aspectName, json.dumps(json.loads(mcp.make_mcp().aspect.value), sort_keys=True))


@pytest.mark.parametrize("protocol", ["restli", "openapi"])
def test_runs_during_an_outage_are_all_delivered_in_order(tmp_path, monkeypatch, protocol):
    started = time.monotonic()
    products = ["inventory.listings", "pricing.quotes"]
    gms = FakeGMS(token=TOKEN).start()
    extra = {"timeout_sec": TIMEOUT_SEC, "retry_max_times": 1, "openapi_ingestion": protocol == "openapi"}
    set_connection(monkeypatch, "gms", {"conn_type": "datahub-rest", "host": gms.url, "password": TOKEN, "extra": extra})
    outbox = Outbox(tmp_path / "outbox")
    built: dict[str, list] = {}
    reports = []

    def run(number: int):
        batch_id = f"{products[number % 2]}/run-{number}"
        mcps = tag_with_batch(build_run(products[number % 2], number), batch_id)
        built[batch_id] = mcps
        outbox.write(batch_id, mcps)
        # a fresh sink per flush, as a task resolving its connection each time would have
        sink = resolve_sink("gms", tmp_path)
        try:
            report = outbox.flush(sink)
        finally:
            sink.close()
        reports.append(report)
        return report

    try:
        for number in (1, 2):
            # run 1: GMS answers 500 to everything (the /config handshake fails);
            # run 2: the handshake works, every ingest request gets a 500
            gms.fail_next(10**6, 500, config_too=(number == 1))
            report = run(number)
            assert report.error and ("500" in report.error or "injected" in report.error)
            assert (report.sent_batches, report.remaining_batches) == (0, number)

        gms.hang_next(10**6, HANG_SEC, config_too=False)  # run 3: ingest requests time out
        report = run(3)
        assert report.error and "timed out" in report.error.lower()
        assert (report.sent_batches, report.remaining_batches) == (0, 3)
        gms.behave()
        # A slow GMS applies the timed-out requests late. The flush interval must exceed GMS's own
        # request time, or such a late write could land after newer batches; here we wait for them.
        assert gms.wait_idle(10)

        gms.stop()  # run 4: connection refused
        report = run(4)
        assert report.error and ("refused" in report.error.lower() or "connection" in report.error.lower())
        assert (report.sent_batches, report.remaining_batches) == (0, 4)

        gms.start()  # runs 5-6: recovered, same port
        report = run(5)
        assert (report.sent_batches, report.remaining_batches, report.error) == (5, 0, None)
        report = run(6)
        assert (report.sent_batches, report.remaining_batches, report.error) == (1, 0, None)
        final_sink = resolve_sink("gms", tmp_path)
        final = outbox.flush(final_sink)
        final_sink.close()
        assert (final.sent_batches, final.error) == (0, None)
        assert gms.wait_idle(10)
    finally:
        gms.stop()

    assert outbox.backlog() == (0, 0)
    received = gms.received()
    assert gms.stats.unauthorized == 0
    endpoints = {p.endpoint for p in received}
    assert endpoints == ({"openapi"} if protocol == "openapi" else {"ingestProposalBatch"})

    # every proposal received belongs to a batch we built, and every built MCP arrived
    by_batch: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    system_metadata_by_key: dict[tuple, list] = collections.defaultdict(list)
    for proposal in received:
        batch_id = proposal.system_metadata["runId"]
        by_batch[batch_id][proposal.key()] += 1
        system_metadata_by_key[(batch_id, proposal.key())].append(proposal.system_metadata)
    assert set(by_batch) == set(built)
    duplicates = {}
    for batch_id, mcps in built.items():
        expected = collections.Counter(key(m) for m in mcps)
        got = by_batch[batch_id]
        assert set(got) == set(expected), f"{batch_id}: missing {set(expected) - set(got)}, unexpected {set(got) - set(expected)}"
        assert all(got[k] >= n for k, n in expected.items())
        duplicates[batch_id] = sum(got.values()) - sum(expected.values())
    # the only re-sends are those of the batch whose requests timed out during run 3 (and were applied late)
    first_batch = next(iter(built))
    assert duplicates[first_batch] > 0
    assert all(n == 0 for b, n in duplicates.items() if b != first_batch), duplicates
    # ... and they are exact re-sends: same aspect value and the same system metadata every time
    for sent_versions in system_metadata_by_key.values():
        assert all(v == sent_versions[0] for v in sent_versions)

    # batches arrived in order: every MCP of batch n had arrived before the first of batch n+1
    first_arrival: dict[str, list[int]] = collections.defaultdict(list)
    seen = set()
    for position, proposal in enumerate(received):
        ident = (proposal.system_metadata["runId"], proposal.key())
        if ident not in seen:
            seen.add(ident)
            first_arrival[proposal.system_metadata["runId"]].append(position)
    order = list(built)
    for earlier, later in zip(order, order[1:], strict=False):
        assert max(first_arrival[earlier]) < min(first_arrival[later]), (earlier, later)

    # the final state (last write per urn + aspect) is the built metadata's
    def last_write(items):
        state = {}
        for urn, aspect, value in items:
            state[(urn, aspect)] = value
        return state

    assert last_write(p.key() for p in received) == last_write(key(m) for b in built.values() for m in b)
    assert len(reports) == 6
    print(
        f"{protocol}: {len(received)} proposals received for {sum(map(len, built.values()))} built; duplicates {duplicates}; errors {[r.error for r in reports[:4]]}"
    )
    assert time.monotonic() - started < 30
