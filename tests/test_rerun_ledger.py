"""A backfill that is interrupted resumes where it stopped: the ledger in the state dir, and the
loop over the dates that reads and writes it (each date's rebuild itself runs under the real
scheduler in tests/test_e2e.py; here it is replaced to interrupt the loop at a chosen date)."""

from __future__ import annotations

import pytest

from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.ops import rerun
from dataproducts.ops.rerun_ledger import RerunLedger, RerunRequest

DATES = ("2026-11-02", "2026-11-03", "2026-11-04")


@pytest.fixture
def mesh(compiled_repo):
    return load_mesh(Project(compiled_repo))


def test_a_new_request_starts_afresh_and_a_finished_one_leaves_nothing(tmp_path):
    request = RerunRequest("pricing.market_prices", DATES)
    ledger = RerunLedger.open(tmp_path, request)
    assert ledger.done == []
    ledger.mark_done(DATES[0])
    assert RerunLedger.open(tmp_path, request).done == [DATES[0]]
    assert RerunLedger.open(tmp_path, RerunRequest("pricing.market_prices", DATES, full_refresh=True)).done == []
    assert RerunLedger.open(tmp_path, request, restart=True).done == []
    ledger.finish()
    assert not list((tmp_path / "reruns").glob("*.json"))


def test_an_unreadable_ledger_starts_afresh(tmp_path):
    (tmp_path / "reruns").mkdir()
    (tmp_path / "reruns" / "pricing.market_prices.json").write_text('{"request": [')
    assert RerunLedger.open(tmp_path, RerunRequest("pricing.market_prices", DATES)).done == []


def test_an_interrupted_backfill_resumes_after_the_last_date_it_finished(tmp_path, mesh, monkeypatch):
    calls: list[tuple[str, bool]] = []

    def rebuild(api, mesh, product_id, date, timeout, say, full_refresh, downstream, rebuilt):
        calls.append((date, full_refresh))
        if date == DATES[1] and len(calls) == 2:
            raise KeyboardInterrupt  # the on-call engineer's Ctrl-C, or a lost terminal
        for pid in rerun.plan(mesh, product_id, downstream):
            rebuilt(pid, date)
        return []

    monkeypatch.setattr(rerun, "rerun", rebuild)
    request = RerunRequest("pricing.market_prices", DATES, full_refresh=True)
    with pytest.raises(KeyboardInterrupt):
        rerun.rerun_dates(None, mesh, RerunLedger.open(tmp_path, request), say=lambda _: None)
    assert calls == [(DATES[0], True), (DATES[1], False)]

    said: list[str] = []
    rerun.rerun_dates(None, mesh, RerunLedger.open(tmp_path, request), say=said.append)
    assert calls[2:] == [(DATES[1], False), (DATES[2], False)], "resumed at the interrupted date; no second full refresh"
    assert said[0] == f"resuming: 1 of 3 dates were rebuilt by the interrupted rerun ({DATES[0]})"
    assert said[1] == f"[#########...........] 4/9  {DATES[1]}  pricing.market_prices rebuilt"
    assert said[-1] == f"[####################] 9/9  {DATES[2]}  advertising.promotion_candidates rebuilt"
    assert RerunLedger.open(tmp_path, request).done == [], "a finished backfill leaves no ledger"


def test_no_downstream_plans_the_product_alone(mesh):
    assert rerun.plan(mesh, "pricing.market_prices", downstream=False) == ["pricing.market_prices"]
    assert rerun.plan(mesh, "pricing.market_prices") == [
        "pricing.market_prices",
        "pricing.price_ratings",
        "advertising.promotion_candidates",
    ]
