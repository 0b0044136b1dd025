"""The fast path of core/safe_yaml.py (libyaml's composer, implicit tags remembered per text, a lean
walk) reads exactly what PyYAML's safe loader reads and what the careful builder reads, and leaves
to the careful builder every document the bounds refuse."""

from __future__ import annotations

import datetime
import gc
import math
import os
from pathlib import Path

import pytest
import yaml

from dataproducts.core import safe_yaml

REPO = Path(__file__).resolve().parents[1]

# plain scalars whose YAML 1.1 meaning is not text, or looks as if it might be
TRICKY = [
    *("yes", "Yes", "YES", "no", "No", "on", "On", "OFF", "off", "true", "True", "FALSE", "y", "Y", "n", "N"),
    *("~", "null", "Null", "NULL", "none", "None", "nil"),
    *("0", "012", "0o12", "0x1F", "0x1f", "0b101", "1_000", "-1_000", "+1", "-0", "+0", "1:30", "190:20:30", "08", "09"),
    *("1e3", "1.0e3", "1.5", "-1.5", "+1.5", ".5", "1.", "6.8523015e+5", "1_000.5", "1:30.5", "1e", "1.2.3"),
    *(".inf", ".Inf", ".INF", "-.inf", "+.inf", ".nan", ".NaN", ".NAN", ".", ".x"),
    *("2026-12-01", "2026-1-1", "2026-12-01T10:00:00Z", "2026-12-01 10:00:00.5 +01:00", "2026-12-01t10:00:00-05"),
    *("2026-13-45x", "20261201", "name", "table", "nonsense", "onwards", "t", "f", "o", "<<a", "=a"),
    *("0.1.0", "1.0.0", "15 1 * * *", "path:models/x", "Europe/Berlin", "3 days", "-1", "+"),
]


def safe_load(text: str):
    return yaml.load(text, Loader=yaml.SafeLoader)  # PyYAML's own safe loader, in Python


def same(a, b) -> bool:
    """Equal and of the same types all the way down (True == 1 and 1 == 1.0 are not enough)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("scalar", TRICKY)
def test_a_plain_scalar_reads_as_the_safe_loader_reads_it_the_first_time_and_again(scalar):
    text = f"value: {scalar}\nlist: [{scalar}, x]\nagain: {scalar}\n"
    expected = safe_load(text)
    for _ in range(2):  # the second time its tag (and value) are remembered ones
        assert same(safe_yaml._plain_data(text), expected)
        assert same(safe_yaml._parse_carefully(text).data, expected)
    quoted = f"value: '{scalar}'\n"
    assert safe_yaml._plain_data(quoted) == {"value": scalar}


def test_the_fast_path_reads_every_spec_of_the_repository_as_the_careful_builder():
    files = sorted(REPO.glob("product_specs/*/*.y*ml")) + sorted(REPO.glob("tests/**/*.y*ml"))
    assert len(files) > 20
    compared = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            careful = safe_yaml._parse_carefully(text).data
        except safe_yaml.ReadError:
            continue
        try:
            fast = safe_yaml._plain_data(text)
        except safe_yaml._NotPlain:
            continue  # tags, merge keys: the careful builder reads those
        assert same(fast, careful), path
        compared += 1
    assert compared > 20


@pytest.mark.parametrize(
    "text",
    [
        "a: !!str 12\nb: !!int '7'\nc: !!float '1'\nd: !!bool 'yes'\ne: !!null ''\n",
        "x: &x {k: [1, 2.5, true, null, 2026-12-01]}\ny: *x\nz: [*x, *x]\n",
        "- [a, {b: c}]\n- {d: [e, f]}\n- []\n- {}\n",
        'multi: |\n  line 1\n  yes\nfolded: >\n  on\n  off\nquoted: "0x1F"\n',
        "empty:\nlist: [a, ]\nnested: {a: , b: ~}\n",
    ],
)
def test_tags_aliases_and_nesting_read_the_same_on_both_paths(text):
    assert same(safe_yaml._plain_data(text), safe_yaml._parse_carefully(text).data)
    assert same(safe_yaml._plain_data(text), safe_load(text))


def nested(depth: int) -> str:
    """A document whose deepest value sits at `depth` (the document itself is at 0)."""
    return "".join(f"{'  ' * level}k:\n" for level in range(depth - 1)) + "  " * (depth - 1) + "k: v\n"


def values(n: int) -> str:
    """A document of exactly n values as the bounds count them (the mapping, each key, each value)."""
    tail = (n - 1) % 2  # 'tail: [x]' is three values
    return "".join(f"k{i}: v\n" for i in range((n - 1 - 3 * tail) // 2)) + ("tail: [x]\n" if tail else "")


def aliased(n_uses: int) -> str:
    """A list of 9 values used n_uses times through an alias: 14 + 10 * n_uses values."""
    return "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [" + ", ".join(["*a"] * n_uses) + "]\n"


@pytest.mark.parametrize(
    ("within", "beyond"),
    [
        (nested(safe_yaml.MAX_DEPTH), nested(safe_yaml.MAX_DEPTH + 1)),
        (values(safe_yaml.MAX_VALUES), values(safe_yaml.MAX_VALUES + 1)),
        (values(safe_yaml.MAX_VALUES - 1), values(safe_yaml.MAX_VALUES + 2)),
        (aliased((safe_yaml.MAX_VALUES - 15) // 10), aliased((safe_yaml.MAX_VALUES - 15) // 10 + 1)),
        ("x: " + "a" * safe_yaml.MAX_TEXT, "x: " + "a" * (safe_yaml.MAX_TEXT + 1)),
        (f"? {'k' * safe_yaml.MAX_TEXT}\n: v", f"? {'k' * (safe_yaml.MAX_TEXT + 1)}\n: v"),
    ],
)
def test_the_fast_path_stops_exactly_where_the_careful_builder_refuses(within, beyond):
    assert same(safe_yaml._plain_data(within), safe_yaml._parse_carefully(within).data)
    with pytest.raises(safe_yaml._NotPlain):
        safe_yaml._plain_data(beyond)
    with pytest.raises(safe_yaml.ReadError):
        safe_yaml._parse_carefully(beyond)


@pytest.mark.parametrize(
    "text", ["a: <<\n", "a: =\n", "a: 1\na: 2\n", "a: !!binary aGk=\n", "<<: {a: 1}\n", "[1]: x\n", "a: !custom x\n"]
)
def test_what_is_not_plain_data_is_left_to_the_careful_builder(text):
    with pytest.raises(safe_yaml._NotPlain):
        safe_yaml._plain_data(text)


def test_reading_leaves_no_reference_cycle_behind():
    """Loading a mesh pauses the cycle collector: a cycle per document kept every loader (and
    libyaml's buffers) alive until the end, 270 MB at 10,000 specs."""
    text = (REPO / "product_specs").glob("*/*.yaml").__next__().read_text() + "when: 2026-12-01\nn: [1, 2.5, true]\n"
    safe_yaml._plain_data(text)
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        safe_yaml._plain_data(text)
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


def test_remembered_tags_stay_bounded(monkeypatch):
    monkeypatch.setattr(safe_yaml, "_TAGS_KEPT", 5)
    text = "".join(f"k{i}: {i}\n" for i in range(40))
    assert safe_yaml._plain_data(text) == {f"k{i}": i for i in range(40)}
    assert len(safe_yaml._implicit_tags) <= 5
    assert safe_yaml._plain_data("d: 2026-12-01") == {"d": datetime.date(2026, 12, 1)}


@pytest.mark.parametrize(
    ("written", "size", "limit", "read"), [(30, 30, 50, 30), (30, 10, 50, 30), (100, 10, 50, 50), (0, 0, 5, 0)]
)
def test_a_file_is_read_to_its_end_or_to_the_limit_whatever_size_it_had(written, size, limit, read):
    """The size taken before reading may be out of date (the file grew, or shrank): it only sizes the first read."""
    reader, writer = os.pipe()
    try:
        os.write(writer, bytes(range(256))[:written] if written <= 256 else b"x" * written)
        os.close(writer)
        data = safe_yaml._read_to_end(reader, limit, size)
        assert len(data) == read
    finally:
        os.close(reader)
