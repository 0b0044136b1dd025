"""One project's damage stays there: a damaged dbt manifest, a selection that is not the project's,
a mesh of 10,000 products, a compile killed midway, a manifest rewritten while Airflow parses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import consumer, dag_bag, spec

from dataproducts.airflow.retired_dags import RETIRED_TAG
from dataproducts.core import naming
from dataproducts.core.mesh import Mesh, load_mesh
from dataproducts.core.project import Project
from dataproducts.dbt.runner import selection_args

PRICING = {"pricing.market_prices", "pricing.price_ratings"}


def manifest_of(root, project="pricing"):
    return root / "dbt" / project / "target" / "manifest.json"


def damaged(text: str) -> dict[str, str]:
    manifest = json.loads(text)
    node = next(iter(manifest["nodes"].values()))
    del node["unique_id"]
    return {
        "truncated": text[: len(text) // 2],
        "empty list": "[]",
        "node without unique_id": json.dumps(manifest),
        "empty file": "",
    }


def test_a_damaged_manifest_breaks_only_the_products_of_its_project(project_copy):
    path = manifest_of(project_copy)
    for kind, text in damaged(path.read_text()).items():
        path.write_text(text)
        mesh = load_mesh(Project(project_copy))
        assert set(mesh.broken) == PRICING, kind
        assert len(mesh.products) == 5, kind
        for pid in PRICING:
            (error,) = mesh.entries[pid].errors
            assert error.field == "transform.dbt.project"
            assert error.problem.startswith(
                "dbt project 'pricing' has a manifest that cannot be used (dbt/pricing/target/manifest.json: "
            ), kind
            assert error.fix == "run `dataproducts compile` (it rewrites every project's manifest, atomically)"


def test_a_truncated_manifest_in_the_dagbag_costs_its_products_their_dags_and_nothing_else(project_copy, monkeypatch):
    path = manifest_of(project_copy)
    path.write_text(path.read_text()[:1000])
    bag = dag_bag(project_copy, monkeypatch)
    assert bag.import_errors == {}
    assert {pid for pid, dag in bag.dags.items() if naming.BROKEN_TAG in dag.tags} == PRICING
    assert "dbt/pricing/target/manifest.json" in bag.dags["pricing.market_prices"].description
    assert len(bag.dags) == 8


def test_a_manifest_rewritten_while_the_dagbag_loads_never_costs_a_dag(project_copy, monkeypatch):
    """The worst case of a writer that is not atomic (a team's own `dbt parse`): half a file, then all of it."""
    path = manifest_of(project_copy)
    whole = path.read_text()
    stop = threading.Event()

    def rewrite() -> None:
        while not stop.is_set():
            for text in (whole[: len(whole) // 3], whole):
                path.write_text(text)
                time.sleep(0.005)

    writer = threading.Thread(target=rewrite, daemon=True)
    writer.start()
    try:
        bags = [dag_bag(project_copy, monkeypatch) for _ in range(2)]
    finally:
        stop.set()
        writer.join()
    for bag in bags:
        assert bag.import_errors == {}
        assert len(bag.dags) == 8, sorted(bag.dags)
        for pid, dag in bag.dags.items():
            if naming.BROKEN_TAG in dag.tags:
                assert pid in PRICING and "manifest" in dag.description, (pid, dag.description)


def test_compile_replaces_a_manifest_atomically_even_when_killed(project_copy):
    """SIGKILL at several moments of `dataproducts compile`: each manifest is the old one or a whole new one."""
    before = {p: p.read_bytes() for p in (project_copy / "dbt").glob("*/target/manifest.json")}
    for delay in (1.5, 4.0, 7.0):
        process = subprocess.Popen(
            [sys.executable, "-m", "dataproducts.cli", "--root", str(project_copy), "compile"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        for path, old in before.items():
            now = path.read_bytes()
            assert now == old or json.loads(now)["metadata"]["project_name"] == path.parent.parent.name, (delay, path)
        assert not list((project_copy / "dbt").glob("*/target/.tmp-*")), "no temp file left where the factory reads"
    assert load_mesh(Project(project_copy)).broken == {}


def test_a_selection_outside_the_project_or_of_nothing_breaks_the_spec(project_copy):
    path = project_copy / "product_specs" / "pricing" / "market_prices.yaml"
    original = path.read_text()
    cases = {
        "path:models/nothing_here": "'path:models/nothing_here' selects no model of dbt project 'pricing'",
        "listings": "'listings' selects no model of dbt project 'pricing'",
        "package:inventory": "'package:inventory' selects no model of dbt project 'pricing'",
        "state:modified": "'state:modified' selector method 'state:' is not one the platform resolves",
        "+market_prices,tag:nope": "'+market_prices,tag:nope' selects no model of dbt project 'pricing'",
    }
    for item, problem in cases.items():
        path.write_text(original.replace('select: ["path:models/market_prices"]', f'select: ["{item}"]'))
        mesh = load_mesh(Project(project_copy))
        assert set(mesh.broken) == {"pricing.market_prices"}, item
        (error,) = mesh.entries["pricing.market_prices"].errors
        assert (error.field, error.problem) == ("transform.dbt.select[0]", problem)
    for fine in (
        "market_prices",
        "+market_prices",
        "pricing.market_prices",
        "path:models/market_prices/*.sql",
        "config.materialized:incremental",
    ):
        path.write_text(original.replace('select: ["path:models/market_prices"]', f'select: ["{fine}"]'))
        assert load_mesh(Project(project_copy)).broken == {}, fine


def test_selections_reach_dbt_as_values_never_as_flags():
    from dbt.cli.main import cli

    args = [*selection_args(["--full-refresh", "--project-dir=/elsewhere"]), "--profiles-dir", "/tmp", "--project-dir", "/tmp"]
    params = cli.commands["build"].make_context("build", args).params
    assert params["select"] == ("--full-refresh", "--project-dir=/elsewhere")
    assert not params["full_refresh"] and params["project_dir"] == "/tmp"


def test_a_chain_of_10000_products_validates(tmp_project):
    from dataproducts.core import validation
    from dataproducts.core.loader import LoadedSpec
    from dataproducts.core.spec import DataProductSpec

    n = 10_000
    entries = {"inventory.listings": LoadedSpec("inventory.listings", "x", DataProductSpec.model_validate(spec()))}
    previous = ("inventory.listings", "listings")
    for i in range(n):
        pid = f"chain.p{i:05d}"
        entries[pid] = LoadedSpec(
            pid, f"product_specs/chain/p{i:05d}.yaml", DataProductSpec.model_validate(consumer(pid, [previous]))
        )
        previous = (pid, f"p{i:05d}")
    mesh = Mesh(tmp_project, entries)
    started = time.monotonic()
    assert validation.graph_errors(mesh) == {}
    assert mesh.run_order()[-1] == f"chain.p{n - 1:05d}"
    assert len(mesh.downstream_of("inventory.listings")) == n
    # close the chain into one cycle of 10,001 products: found, each product told, in data-flow order
    first = DataProductSpec.model_validate(consumer("chain.p00000", [previous]))
    entries["chain.p00000"] = LoadedSpec("chain.p00000", "product_specs/chain/p00000.yaml", first)
    errors = validation.graph_errors(Mesh(tmp_project, entries))
    assert len(errors) == n
    shown = errors["chain.p00000"][0].problem
    assert shown.startswith("dependency cycle: chain.p00000 -> chain.p00001 -> chain.p00002")
    assert time.monotonic() - started < 60


def test_a_deleted_spec_takes_only_its_dag_away(project_copy, monkeypatch):
    """What the dag-processor sees on its next parse of the domain's file (a consumer of a deleted
    product would break, naming it: here the product is read by nobody). Its DAG becomes a retired
    one, which only ends pending runs (tests/test_retired_dags.py)."""
    before = dag_bag(project_copy, monkeypatch).dags
    assert "advertising.promotion_candidates" in before
    (project_copy / "product_specs" / "advertising" / "promotion_candidates.yaml").unlink()
    bag = dag_bag(project_copy, monkeypatch)
    assert bag.import_errors == {}
    assert RETIRED_TAG in bag.dags["advertising.promotion_candidates"].tags
    others = {dag_id: dag for dag_id, dag in bag.dags.items() if dag_id != "advertising.promotion_candidates"}
    assert len(others) == 7 and not any({naming.BROKEN_TAG, RETIRED_TAG} & set(d.tags) for d in others.values())
    assert all(others[dag_id].tags == before[dag_id].tags for dag_id in others)


@pytest.mark.parametrize("kind", ["unreadable", "gone"])
def test_a_spec_file_unreadable_or_gone_between_listing_and_reading(project_copy, kind, monkeypatch):
    from dataproducts.core import loader

    path = project_copy / "product_specs" / "pricing" / "price_ratings.yaml"
    if kind == "gone":
        files = loader.spec_files(project_copy / "product_specs")
        path.unlink()
        mesh = load_mesh(Project(project_copy), files)
    else:
        os.chmod(path, 0)
        monkeypatch.setattr(os, "open", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
        mesh = load_mesh(Project(project_copy))
    (error,) = mesh.entries["pricing.price_ratings"].errors
    assert error.problem in ("is a link that leads nowhere (its target does not exist)", "cannot be read (Permission denied)")
