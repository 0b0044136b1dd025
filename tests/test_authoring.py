"""A new team's way in: `dataproducts new` alone makes a product (and a domain) that validates,
builds on DuckDB with `dataproducts build`, and becomes an Airflow DAG; a domain folder without a
DAG file of its own still gets its DAGs, and a broken domain hurts no other."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import yaml

from dataproducts.cli import main
from tests.conftest import dag_bag


def cli(root, *args, env=None) -> subprocess.CompletedProcess:
    """The CLI in a subprocess (dbt keeps global state: keep it out of the test process)."""
    return subprocess.run(
        [sys.executable, "-m", "dataproducts.cli", "--root", str(root), *args], capture_output=True, text=True, env=env
    )


def test_new_domain_from_new_alone_validates_builds_and_becomes_a_dag(project_copy, tmp_path, monkeypatch):
    import os

    env = {
        **os.environ,
        "DATAPRODUCTS_STATE_DIR": str(tmp_path / "state"),
        "DATAPRODUCTS_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
    }
    created = cli(
        project_copy, "new", "marketing.lead_scores", "--reads", "inventory.listings.daily_snapshot",
        "--source", "landing.raw_listings", env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    for path in (
        "product_specs/marketing/lead_scores.yaml",
        "dbt/marketing/dbt_project.yml",
        "dbt/marketing/models/lead_scores/lead_scores.sql",
        "dbt/marketing/models/lead_scores/lead_scores.yml",
        "dbt/marketing/models/lead_scores/sources.yml",
        "dags/marketing.py",
    ):
        assert f"wrote {path}" in created.stdout
    assert "dbt parse marketing: ok" in created.stdout
    spec = yaml.safe_load((project_copy / "product_specs/marketing/lead_scores.yaml").read_text())
    assert spec["input_ports"] == [
        {"name": "listings", "product": "inventory.listings", "port": "daily_snapshot"},
        {"name": "raw_listings", "source": {"schema": "landing", "table": "raw_listings"}},
    ]
    assert "+schema" not in (project_copy / "dbt/marketing/dbt_project.yml").read_text()  # schema = domain is shared

    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    assert main(["--root", str(project_copy), "validate"]) == 0

    for step in (["seed-landing"], ["build", "inventory.listings", "--business-date", "2026-11-03"]):
        assert cli(project_copy, *step, env=env).returncode == 0
    built = cli(project_copy, "build", "marketing.lead_scores", "--business-date", "2026-11-03", env=env)
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip().endswith("built marketing.lead_scores for 2026-11-03: lead_scores=1 rows")
    assert "quality: marketing.lead_scores.daily: quality rule 'row_count' holds: row_count is 1, expected > 0" in (
        built.stderr
    ), "the default quality rule, measured as the build task measures it"
    with duckdb.connect(str(tmp_path / "w.duckdb")) as db:
        row = db.execute("select business_date, listings_rows, raw_listings_rows from marketing.lead_scores").fetchall()
        listings = db.execute("select count(*) from inventory.listings where business_date = '2026-11-03'").fetchone()[0]
    assert [(str(r[0]), r[1]) for r in row] == [("2026-11-03", listings)] and row[0][2] > 0

    bag = dag_bag(project_copy, monkeypatch)
    assert not bag.import_errors
    dag = bag.dags["marketing.lead_scores"]
    assert dag.fileloc.endswith("dags/marketing.py") and "broken-spec" not in dag.tags
    assert dag.owner == "marketing"


def test_new_refuses_unknown_inputs_and_existing_products(project_copy, capsys):
    code = main(["--root", str(project_copy), "new", "pricing.x", "--reads", "inventory.listings.nope", "--no-compile"])
    assert code == 2
    assert "the ports of inventory.listings are: daily_snapshot" in capsys.readouterr().err
    assert main(["--root", str(project_copy), "new", "pricing.market_prices", "--no-compile"]) == 2
    assert "'pricing.market_prices' exists already (product_specs/pricing/market_prices.yaml)" in capsys.readouterr().err
    assert main(["--root", str(project_copy), "new", "Pricing", "--no-compile"]) == 2
    assert "is not a product id: give <domain>.<name>" in capsys.readouterr().err
    assert main(["--root", str(project_copy), "new", "pricing.y", "--source", "landing", "--no-compile"]) == 2
    assert "--source landing: give <schema>.<table>" in capsys.readouterr().err
    assert not (project_copy / "product_specs" / "pricing" / "x.yaml").exists()


def test_new_in_an_existing_domain_reuses_its_sources(project_copy, capsys):
    code = main(
        ["--root", str(project_copy), "new", "pricing.price_index", "--reads", "pricing.market_prices.daily", "--no-compile"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "wrote product_specs/pricing/price_index.yaml" in out
    assert "sources.yml" not in out and "dbt_project.yml" not in out and "dags/" not in out  # all there already
    sql = (project_copy / "dbt/pricing/models/price_index/price_index.sql").read_text()
    assert "{{ source('pricing', 'market_prices') }}" in sql


def test_a_domain_folder_without_a_dag_file_gets_its_dags_and_a_broken_one_hurts_no_other(project_copy, monkeypatch, capsys):
    main(["--root", str(project_copy), "new", "marketing.leads", "--source", "landing.raw_listings", "--no-compile"])
    (project_copy / "dags" / "marketing.py").unlink()  # a folder dropped in by hand: no Python written
    (project_copy / "product_specs" / "sales").mkdir()
    (project_copy / "product_specs" / "sales" / "orders.yaml").write_text("id: sales.orders\nname: [unclosed\n")
    capsys.readouterr()
    assert main(["--root", str(project_copy), "validate"]) == 1  # the broken spec, and the uncompiled dbt model
    assert "no DAG file builds the domain" not in capsys.readouterr().err
    bag = dag_bag(project_copy, monkeypatch)
    assert not bag.import_errors
    assert bag.dags["marketing.leads"].fileloc.endswith("dags/dataproducts_new_domains.py")
    assert "broken-spec" in bag.dags["sales.orders"].tags
    assert len([d for d in bag.dags if d.count(".") == 1]) == 9  # the 7 products, and both new ones


def test_a_new_domain_whose_dags_cannot_be_built_shows_failed_dags_and_hurts_no_other(project_copy, monkeypatch):
    """A bug of ours while building one new domain's DAGs: each of its spec files still gets a DAG
    that fails with the error (where the UI shows problems), and the other new domain is untouched."""
    from dataproducts.airflow import new_domains

    for domain in ("marketing", "sales"):
        main(["--root", str(project_copy), "new", f"{domain}.leads", "--source", "landing.raw_listings", "--no-compile"])
        (project_copy / "dags" / f"{domain}.py").unlink()
    build = new_domains.build_domain_dags

    def build_or_fail(domain, default_root=None):
        if domain == "sales":
            raise RuntimeError("simulated bug")
        return build(domain, default_root)

    monkeypatch.setattr(new_domains, "build_domain_dags", build_or_fail)
    bag = dag_bag(project_copy, monkeypatch)
    assert not bag.import_errors
    assert "could not be built" not in bag.dags["marketing.leads"].description  # (broken only by its uncompiled model)
    failed = bag.dags["sales.leads"]
    assert "broken-spec" in failed.tags
    assert failed.default_args["owner"] == "sales"  # the team the file names
    assert "the DAGs of the domain 'sales' could not be built: RuntimeError('simulated bug')" in failed.description
    assert len([d for d in bag.dags if d.count(".") == 1]) == 9


def test_validate_names_a_domain_no_dag_file_builds(project_copy, capsys):
    (project_copy / "dags" / "dataproducts_new_domains.py").unlink()
    main(["--root", str(project_copy), "new", "marketing.leads", "--source", "landing.raw_listings", "--no-compile"])
    (project_copy / "dags" / "marketing.py").unlink()
    capsys.readouterr()
    main(["--root", str(project_copy), "validate"])
    assert "product_specs/marketing/: no DAG file builds the domain. Fix: `dataproducts new marketing.<product>`" in (
        capsys.readouterr().err
    )
