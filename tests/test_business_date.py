"""Which business date a run builds (pure; see dataproducts.core.business_date)."""

from __future__ import annotations

import datetime as dt

import pytest

from dataproducts.core.business_date import BusinessDateError, resolve_business_date

NOW = dt.datetime(2026, 11, 30, 1, 30, tzinfo=dt.UTC)


def resolve(conf=None, extras=(), interval_start=None, tz="Europe/Berlin"):
    return resolve_business_date(conf, list(extras), interval_start, tz, NOW)


def test_conf_wins():
    assert resolve({"business_date": "2026-11-03"}, [{"business_date": "2026-11-05"}]) == (dt.date(2026, 11, 3), "run conf")


def test_asset_triggered_run_builds_the_producers_date_latest_first():
    extras = [{"business_date": "2026-11-03"}, {"business_date": "2026-11-04"}, {"row_count": 3}]
    assert resolve(extras=extras) == (dt.date(2026, 11, 4), "triggering asset events")


def test_cron_run_builds_its_data_interval_start_in_the_product_timezone():
    start = dt.datetime(2026, 11, 28, 23, 30, tzinfo=dt.UTC)  # 00:30 on the 29th in Berlin
    assert resolve(interval_start=start) == (dt.date(2026, 11, 29), "data interval start")
    assert resolve(interval_start=start, tz="UTC")[0] == dt.date(2026, 11, 28)


def test_manual_run_without_anything_builds_yesterday_in_the_product_timezone():
    assert resolve(tz="Asia/Tokyo")[0] == dt.date(2026, 11, 29)  # 10:30 on the 30th in Tokyo
    assert resolve(tz="America/Los_Angeles")[0] == dt.date(2026, 11, 28)  # 17:30 on the 29th


def test_bad_conf_date_says_what_to_write():
    with pytest.raises(
        BusinessDateError, match=r"dag_run.conf.business_date: '03/11/2026' is not a date; use the form YYYY-MM-DD"
    ):
        resolve({"business_date": "03/11/2026"})
