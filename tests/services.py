"""The machine's Postgres and Redis, for the tests of the production stack: where they are not
reachable those tests skip, saying why, except under CI=true, where a skip is a failure, so CI can
never pass without running them."""

from __future__ import annotations

import os

import pytest

from dataproducts.ops.celery_stack import StackSettings, reachable


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the production stack's tests must run, not skip)")
    pytest.skip(reason)


def require_services(settings: StackSettings) -> None:
    why = reachable(settings)
    if why:
        skip_or_fail(f"the production stack cannot start: {why}")
