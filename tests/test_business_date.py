"""Which business date a run builds (pure; see dataproducts.core.business_date)."""

from __future__ import annotations

import datetime as dt

import pytest

from dataproducts.core.business_date import BusinessDateError, partition_key, resolve_business_date

NOW = dt.datetime(2026, 11, 30, 1, 30, tzinfo=dt.UTC)


def resolve(conf=None, key=None, interval_start=None, tz="Europe/Berlin"):
    return resolve_business_date(conf, key, interval_start, tz, NOW)


def test_conf_wins_and_may_repeat_the_partition_key():
    assert resolve({"business_date": "2026-11-03"}) == (dt.date(2026, 11, 3), "run conf")
    assert resolve({"business_date": "2026-11-03"}, "2026-11-03") == (dt.date(2026, 11, 3), "run conf")


def test_conf_and_partition_key_that_disagree_fail_naming_both():
    with pytest.raises(BusinessDateError, match="partition key 2026-11-05 and dag_run.conf.business_date 2026-11-03 disagree"):
        resolve({"business_date": "2026-11-03"}, "2026-11-05")


def test_the_partition_key_is_the_business_date():
    assert resolve(key="2026-11-04") == (dt.date(2026, 11, 4), "partition key")
    assert partition_key(dt.date(2026, 11, 4)) == "2026-11-04"


def test_a_partition_key_that_is_no_date_says_what_to_write():
    with pytest.raises(BusinessDateError, match=r"the run's partition key: '2026-11-04T00:00:00' is not a date"):
        resolve(key="2026-11-04T00:00:00")


def test_run_with_a_data_interval_builds_its_start_in_the_product_timezone():
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
