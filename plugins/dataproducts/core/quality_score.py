"""A product's quality score from facts: eight parts, each a fraction from 0 to 1 times its weight,
and the total out of 100 (pure: the callers bring the spec, its dbt manifest, the run history and
the open incidents; nothing here reads a file or a clock).

| part | weight | fraction |
|---|---|---|
| ownership | 10 | the owner names a team and a contact |
| descriptions | 10 | the product and each output port have a description |
| column_descriptions | 10 | contract columns with a description (the spec's, else dbt's) |
| contract_coverage | 20 | checks held: every column typed by the dbt model's enforced contract, every required column with a not_null test, every unique one with a unique test |
| quality_rules | 10 | output ports with a quality rule of their own (the default row_count rule does not count) |
| freshness | 15 | of the last 30 days since a port first published, the time its latest publication was within its SLA (a port without an SLA: 0) |
| runs | 15 | successful runs among the runs of the last 30 days |
| incidents | 10 | 1 with no open incident, 0.5 with one, 0 with two or more |

A part without facts (no run, no publication yet) is *n/a*: it is shown, and left out of the
total, whose weights are then those of the parts that have facts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Optional

from dataproducts.core import naming
from dataproducts.core.manifest import Manifest
from dataproducts.core.spec import DataProductSpec, OutputPort

WINDOW = dt.timedelta(days=30)
WEIGHTS = {
    "ownership": 10,
    "descriptions": 10,
    "column_descriptions": 10,
    "contract_coverage": 20,
    "quality_rules": 10,
    "freshness": 15,
    "runs": 15,
    "incidents": 10,
}


@dataclass(frozen=True)
class RunFact:
    """One product run as the run history keeps it."""

    at: dt.datetime  # when it ended (UTC)
    succeeded: bool  # built and published
    published: tuple[str, ...] = ()  # port ids it published (a success publishes every output port)


@dataclass(frozen=True)
class Part:
    name: str
    weight: int
    fraction: Optional[float]  # None: no facts yet (n/a)
    detail: str

    @property
    def points(self) -> Optional[float]:
        return None if self.fraction is None else round(self.weight * self.fraction, 1)

    def as_dict(self) -> dict:
        return {"name": self.name, "weight": self.weight, "fraction": self.fraction, "points": self.points, "detail": self.detail}


@dataclass(frozen=True)
class Score:
    product_id: str
    parts: tuple[Part, ...]

    @property
    def total(self) -> int:
        """0 to 100: the points of the parts with facts, out of their weights."""
        known = [p for p in self.parts if p.fraction is not None]
        weight = sum(p.weight for p in known)
        return round(100 * sum(p.weight * (p.fraction or 0.0) for p in known) / weight) if weight else 0

    def part(self, name: str) -> Part:
        return next(p for p in self.parts if p.name == name)

    def as_dict(self) -> dict:
        return {"product_id": self.product_id, "score": self.total, "parts": [p.as_dict() for p in self.parts]}


def score(
    spec: DataProductSpec,
    manifest: Optional[Manifest],
    history: Iterable[RunFact],
    open_incidents: int,
    now: dt.datetime,
) -> Score:
    """The score of `spec` at `now`; `history`: its runs (older than 30 days are ignored)."""
    recent = sorted((r for r in history if now - WINDOW <= r.at <= now), key=lambda r: r.at)
    parts = (
        _ownership(spec),
        _descriptions(spec),
        _column_descriptions(spec, manifest),
        _contract_coverage(spec, manifest),
        _quality_rules(spec),
        _freshness(spec, recent, now),
        _runs(recent),
        _incidents(open_incidents),
    )
    return Score(spec.id, parts)


def _part(name: str, done: int, of: int, detail: str) -> Part:
    return Part(name, WEIGHTS[name], round(done / of, 3) if of else None, detail)


def _ownership(spec: DataProductSpec) -> Part:
    done = int(bool(spec.owner.team.strip()) and bool(spec.owner.contact.strip()))
    return _part("ownership", done, 1, f"team {spec.owner.team or '-'}, contact {spec.owner.contact or '-'}")


def _descriptions(spec: DataProductSpec) -> Part:
    missing = ([] if spec.description.strip() else ["the product"]) + [
        f"port {p.name}" for p in spec.output_ports if not p.description.strip()
    ]
    total = 1 + len(spec.output_ports)
    return _part("descriptions", total - len(missing), total, f"missing: {', '.join(missing)}" if missing else "all present")


def _column_descriptions(spec: DataProductSpec, manifest: Optional[Manifest]) -> Part:
    columns = [(port, c) for port in spec.output_ports for c in port.contract.columns]
    described = sum(1 for port, c in columns if c.description.strip() or _dbt_doc(manifest, port, c.name))
    return _part("column_descriptions", described, len(columns), f"{described} of {len(columns)} columns described")


def _dbt_doc(manifest: Optional[Manifest], port: OutputPort, column: str) -> str:
    model = manifest.model_for_table(port.table_name) if manifest else None
    return ((model.columns.get(column) or {}).get("description") or "").strip() if model else ""


def _contract_coverage(spec: DataProductSpec, manifest: Optional[Manifest]) -> Part:
    held, gaps, checks = 0, [], 0
    for port in spec.output_ports:
        model = manifest.model_for_table(port.table_name) if manifest else None
        tests = manifest.tests_on(model.unique_id) if manifest and model else {}
        for column in port.contract.columns:
            wanted = [("typed", None)] + [
                (flag, test) for flag, test in (("required", "not_null"), ("unique", "unique")) if getattr(column, flag)
            ]
            for flag, test in wanted:
                checks += 1
                ok = _typed(model, column.name) if test is None else test in tests.get(column.name, set())
                held += ok
                if not ok:
                    gaps.append(
                        f"{port.name}.{column.name} {'not typed by an enforced dbt contract' if test is None else f'{flag} without a {test} test'}"
                    )
    detail = f"{held} of {checks} checks held" + (
        f"; {gaps[0]}" + (f" (+{len(gaps) - 1} more)" if len(gaps) > 1 else "") if gaps else ""
    )
    if manifest is None:
        detail += " (no dbt manifest)"
    return _part("contract_coverage", held, checks, detail)


def _typed(model, column: str) -> bool:
    return bool(model and model.contract_enforced and (model.columns.get(column) or {}).get("data_type"))


def _quality_rules(spec: DataProductSpec) -> Part:
    ruled = [p.name for p in spec.output_ports if p.quality]
    without = [p.name for p in spec.output_ports if not p.quality]
    detail = f"{len(ruled)} of {len(spec.output_ports)} ports have rules of their own" + (
        f" (none on {', '.join(without)})" if without else ""
    )
    return _part("quality_rules", len(ruled), len(spec.output_ports), detail)


def _freshness(spec: DataProductSpec, recent: Sequence[RunFact], now: dt.datetime) -> Part:
    fractions, notes = [], []
    for port in spec.output_ports:
        port_id = naming.port_id(spec.id, port.name)
        if port.freshness is None:
            fractions.append(0.0)
            notes.append(f"{port.name}: no SLA")
            continue
        times = [r.at for r in recent if port_id in r.published]
        if not times:
            continue  # never published in the window: nothing to judge yet
        fresh = fresh_fraction(times, dt.timedelta(hours=port.freshness.max_age_hours), now)
        fractions.append(fresh)
        notes.append(f"{port.name}: {fresh:.0%} of the time within {port.freshness.max_age_hours:g} h")
    if not fractions:
        return Part("freshness", WEIGHTS["freshness"], None, "no publication in the last 30 days")
    return Part("freshness", WEIGHTS["freshness"], round(sum(fractions) / len(fractions), 3), "; ".join(notes))


def fresh_fraction(published: Sequence[dt.datetime], sla: dt.timedelta, now: dt.datetime) -> float:
    """Of the time from the first publication to `now`, the share in which the latest publication
    was at most `sla` old (the rule of core/freshness, applied to every moment)."""
    times = sorted(published)
    span = (now - times[0]).total_seconds()
    if span <= 0:
        return 1.0
    stale = sum(max(0.0, (end - start - sla).total_seconds()) for start, end in zip(times, [*times[1:], now], strict=True))
    return round(max(0.0, 1 - stale / span), 3)


def _runs(recent: Sequence[RunFact]) -> Part:
    ok = sum(1 for r in recent if r.succeeded)
    return _part(
        "runs",
        ok,
        len(recent),
        f"{ok} of {len(recent)} runs succeeded in the last 30 days" if recent else "no run in the last 30 days",
    )


def _incidents(open_incidents: int) -> Part:
    fraction = max(0.0, 1 - open_incidents / 2)
    return Part("incidents", WEIGHTS["incidents"], fraction, f"{open_incidents} open" if open_incidents else "none open")


def describe(result: Score) -> list[str]:
    """`quality score 82/100`, then one line per part: points, weight and why."""
    lines = [f"quality score {result.total}/100"]
    for part in result.parts:
        points = "n/a" if part.points is None else f"{part.points:g}"
        lines.append(f"{part.name:20} {points:>5} / {part.weight:<3} {part.detail}")
    return lines
