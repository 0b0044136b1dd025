"""Property-based tests of the loader (hypothesis): whatever bytes or spec-shaped data a file holds,
loading it returns errors as data (never another exception), stays within a time and memory bound,
and never quotes more than a snippet of the input."""

from __future__ import annotations

import copy
import time
import tracemalloc

import yaml
from conftest import BASE_SPEC
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataproducts.core import safe_yaml
from dataproducts.core.loader import load_spec_file
from dataproducts.core.project import Project

MARKER = "Zq" + "x7" * 30  # 62 characters no error may ever quote whole
BOUNDS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.just(MARKER),
    st.just("--full-refresh"),
    st.just("<svg/onload=alert(1)>"),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10) | st.just(MARKER), inner, max_size=4),
    max_leaves=20,
)


def paths_of(document, prefix=()):
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from paths_of(value, (*prefix, key))
    elif isinstance(document, list):
        for i, value in enumerate(document):
            yield from paths_of(value, (*prefix, i))


SPEC_PATHS = [p for p in paths_of(BASE_SPEC) if p]


def load_bytes(root, data: bytes):
    path = root / "product_specs" / "inventory" / "listings.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    tracemalloc.start()
    started = time.monotonic()
    try:
        entry = load_spec_file(path, root)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return entry, time.monotonic() - started, peak


def check(entry, seconds: float, peak: int) -> None:
    # generous: tracemalloc slows parsing several times and the machine is shared; bench/ has the real figures
    assert seconds < 20, f"took {seconds:.1f} s"
    assert peak < 64 * 1024 * 1024, f"peak {peak:,} bytes"
    for error in entry.errors:
        text = str(error)
        assert MARKER not in text, text
        assert len(text) < 2_000, len(text)
    assert entry.ok or entry.errors


@BOUNDS
@given(st.binary(max_size=4_000), st.integers(min_value=0, max_value=4_000))
def test_any_bytes_load_as_errors_never_as_exceptions(tmp_path_factory, data, where):
    root = tmp_path_factory.mktemp("p")
    at = min(where, len(data))
    check(*load_bytes(root, data[:at] + MARKER.encode() + data[at:]))


@BOUNDS
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=2_000))
def test_any_text_loads_as_errors_never_as_exceptions(tmp_path_factory, text):
    root = tmp_path_factory.mktemp("p")
    check(*load_bytes(root, (text + "\n" + MARKER).encode()))


@BOUNDS
@given(st.lists(st.tuples(st.sampled_from(SPEC_PATHS), values), min_size=1, max_size=4))
def test_any_spec_shaped_document_loads_as_errors_never_as_exceptions(tmp_path_factory, changes):
    document = copy.deepcopy(BASE_SPEC)
    for path, value in changes:
        target = document
        try:
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced this part
    root = tmp_path_factory.mktemp("p")
    check(*load_bytes(root, yaml.safe_dump(document, allow_unicode=True).encode()))


def test_an_unknown_key_is_quoted_as_a_snippet_only(tmp_path):
    document = copy.deepcopy(BASE_SPEC)
    document["owner"][MARKER] = "x"
    entry, seconds, peak = load_bytes(tmp_path, yaml.safe_dump(document).encode())
    (error,) = entry.errors
    assert error.field == "owner.'Zqx7x7x7x7x7x7x7x7x7x7x7x7x7x7x7x7x7x7…"
    check(entry, seconds, peak)


def test_the_bounds_hold_for_the_largest_file_the_limit_allows(tmp_path):
    """A file just under max_spec_bytes of every expensive shape still loads in bounded time and memory."""
    limit = 256 * 1024
    shapes = {
        "long list": "x:\n" + "- 1\n" * (limit // 4 - 1),
        "wide mapping": "".join(f"k{i}: {i}\n" for i in range(limit // 12)),
        "alias fan-out": "a: &a [" + ", ".join(["1"] * 100) + "]\n" + "".join(f"b{i}: *a\n" for i in range(limit // 12)),
        "brackets": "x: " + "[" * (limit - 10),
    }
    for name, text in shapes.items():
        data = text.encode()[:limit]
        entry, seconds, peak = load_bytes(Project(tmp_path).root, data)
        assert len(entry.errors) == 1, (name, entry.errors)
        check(entry, seconds, peak)
    assert safe_yaml.MAX_VALUES == 20_000
