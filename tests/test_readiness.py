"""The per-date rule (dataproducts.core.readiness) without a scheduler: the verdicts, and a
model of Airflow's partitioned asset scheduling (one pending consumer run per date, started when
its asset condition holds for that date) driven by any interleaving of producer runs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from dataproducts.core.readiness import ALL, ANY, decide

D1, D2 = dt.date(2026, 11, 4), dt.date(2026, 11, 5)


def test_all_builds_a_date_only_when_every_input_published_it():
    assert decide(ALL, D1, {"a": {D1}, "b": {D1, D2}}).build
    verdict = decide(ALL, D1, {"a": {D1}, "b": {D2}})
    assert not verdict.build and not verdict.skip
    assert verdict.message == "b has not published 2026-11-04 (trigger: all); nothing was built"


def test_all_names_every_input_that_lacks_the_date():
    verdict = decide(ALL, D1, {"a": set(), "b": {D2}, "c": {D1}})
    assert verdict.message == "a, b have not published 2026-11-04 (trigger: all); nothing was built"


def test_any_builds_a_date_one_input_published_and_says_which_ones_lack_it():
    verdict = decide(ANY, D1, {"a": {D1}, "b": {D2}})
    assert verdict.build and verdict.message == "b has not published 2026-11-04 yet; built without them (trigger: any)"


def test_any_skips_until_every_input_published_once():
    verdict = decide(ANY, D1, {"a": {D1}, "b": set()})
    assert not verdict.build and verdict.skip and "first publication of b" in verdict.message


def test_any_fails_a_date_no_input_published():
    verdict = decide(ANY, D1, {"a": {D2}, "b": {D2}})
    assert not verdict.build and not verdict.skip and "no input has published 2026-11-04" in verdict.message


def test_cron_or_assets_tick_before_the_inputs_is_a_missed_deadline_not_a_build():
    """A cron tick asks for the day before it; with trigger: all it builds only what arrived."""
    assert not decide(ALL, D1, {"a": {D2}}).build
    assert decide(ALL, D1, {"a": {D1}}).build


# A mesh with a diamond: root1 -> mid_a, mid_b -> top (all); root2 + top -> any_of (any);
# cron_all is a cron-or-assets product over root1 and root2 whose tick asks for a date as well.
MESH = {
    "mid_a": (ALL, ["root1"]),
    "mid_b": (ALL, ["root1", "root2"]),
    "top": (ALL, ["mid_a", "mid_b", "root1"]),
    "any_of": (ANY, ["top", "root2"]),
    "cron_all": (ALL, ["root1", "root2"]),
}
ROOTS = ["root1", "root2"]
DATES = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(4)]


@dataclass
class Scheduler:
    """Airflow's partitioned asset scheduling as the 3.3 scheduler does it: per consumer and
    partition key one pending run request collecting the inputs whose event of that key arrived;
    the run is created when the asset condition (all/any) holds, and the next event of that key
    opens a new request."""

    published: dict[str, set] = field(default_factory=lambda: {p: set() for p in [*ROOTS, *MESH]})
    pending: dict[tuple[str, dt.date], set] = field(default_factory=dict)
    runs: list[tuple[str, dt.date]] = field(default_factory=list)
    builds: list[tuple[str, dt.date, dict]] = field(default_factory=list)

    def publish(self, product: str, date: dt.date) -> None:
        self.published[product].add(date)
        for consumer, (trigger, inputs) in MESH.items():
            if product not in inputs:
                continue
            arrived = self.pending.setdefault((consumer, date), set())
            arrived.add(product)
            if (trigger == ANY and arrived) or (trigger == ALL and arrived == set(inputs)):
                del self.pending[(consumer, date)]
                self.runs.append((consumer, date))

    def execute(self, index: int) -> None:
        consumer, date = self.runs.pop(index)
        trigger, inputs = MESH[consumer]
        verdict = decide(trigger, date, {i: self.published[i] for i in inputs})
        if verdict.build:
            self.builds.append((consumer, date, {i: date in self.published[i] for i in inputs}))
            self.publish(consumer, date)


@settings(max_examples=200, deadline=None)
@given(
    order=st.permutations([(root, date) for root in ROOTS for date in DATES]),
    picks=st.lists(st.integers(min_value=0, max_value=50), max_size=400),
    ticks=st.lists(st.sampled_from(DATES), max_size=6),
)
def test_any_interleaving_builds_each_date_once_from_inputs_of_that_date(order, picks, ticks):
    scheduler = Scheduler()
    steps = iter(picks)
    cron_builds = []
    for root, date in order:
        scheduler.publish(root, date)
        while scheduler.runs and (pick := next(steps, None)) is not None and pick % 3:
            scheduler.execute(pick % len(scheduler.runs))  # some runs start now, others later
        if ticks:  # a cron tick of the cron-or-assets product asks for a date in between
            tick = ticks.pop()
            verdict = decide(ALL, tick, {i: scheduler.published[i] for i in MESH["cron_all"][1]})
            cron_builds.append((tick, verdict.build))
    while scheduler.runs:
        scheduler.execute(0)

    for consumer, (trigger, _) in MESH.items():
        built = [date for name, date, _ in scheduler.builds if name == consumer]
        if trigger == ALL:
            assert sorted(built) == DATES, f"{consumer} built each date exactly once"
        else:
            assert set(built) == set(DATES), f"{consumer} built every date"
    for consumer, date, had in scheduler.builds:
        trigger, inputs = MESH[consumer]
        if trigger == ALL:
            assert all(had.values()), f"{consumer} built {date} only from inputs of {date}"
        else:
            assert any(had.values())
    for consumer in MESH:
        for date in DATES:  # the last build of a date saw every input's rows of that date
            last = [had for name, d, had in scheduler.builds if name == consumer and d == date][-1]
            assert all(last.values()), (consumer, date, last)
    published_by_tick = {date for date, built in cron_builds if built}
    assert all(date in scheduler.published["root1"] for date in published_by_tick)
