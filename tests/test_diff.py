"""`dataproducts diff` on a real git repository: the test mesh committed on main, changed on a branch,
compared with the merge base (or --base) and classified; exit codes, JSON and GitHub annotations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dataproducts.cli import main

MARKET_PRICES = "product_specs/pricing/market_prices.yaml"
PRICE_RATINGS = "product_specs/pricing/price_ratings.yaml"
LISTINGS = "product_specs/inventory/listings.yaml"
SEGMENT = "        - {name: segment, type: string, description: Market segment from the vehicle catalog.}\n"
MEDIAN = "        - {name: median_price_eur, type: number, required: true, description: Median asking price in EUR.}\n"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def edit(root: Path, path: str, old: str, new: str) -> None:
    file = root / path
    text = file.read_text()
    assert text.count(old) == 1, old
    file.write_text(text.replace(old, new))


@pytest.fixture
def repo(project_copy, monkeypatch):
    """The test mesh committed on main, and a branch 'change' checked out for the change under test."""
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(project_copy / ".local"))
    (project_copy / ".gitignore").write_text(".local/\n")
    git(project_copy, "init", "-q", "-b", "main")
    git(project_copy, "config", "user.email", "test@example.com")
    git(project_copy, "config", "user.name", "test")
    commit(project_copy, "the mesh")
    git(project_copy, "checkout", "-q", "-b", "change")
    return project_copy


def diff(capsys, root: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--root", str(root), "diff", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_breaking_change_without_a_major_bump_fails_naming_its_consumers(repo, capsys):
    edit(repo, MARKET_PRICES, SEGMENT, "")
    edit(repo, MARKET_PRICES, MEDIAN, MEDIAN.replace("type: number", "type: integer"))
    commit(repo, "drop segment, median as integer")

    code, out, err = diff(capsys, repo)

    assert code == 1
    assert err.splitlines() == [
        f"{MARKET_PRICES}:38:9: output_ports[0].contract.columns: column 'segment' of output port 'daily' was removed, "
        "a breaking change, but the version goes from 1.0.0 to 1.0.0, not to a new major version; it breaks "
        "pricing.price_ratings (input port 'market_prices'; columns it uses unknown). "
        "Fix: set version: 2.0.0 and agree the change with its consumers, or undo the change",
        f"{MARKET_PRICES}:48:42: output_ports[0].contract.columns[10].type: column 'median_price_eur' of output port 'daily' "
        "changed type from number to integer, a breaking change, but the version goes from 1.0.0 to 1.0.0, not to a new "
        "major version; it breaks pricing.price_ratings (input port 'market_prices'; columns it uses unknown). "
        "Fix: set version: 2.0.0 and agree the change with its consumers, or undo the change",
    ]
    assert out.splitlines()[0] == "pricing.market_prices  1.0.0 -> 1.0.0  breaking"
    assert (
        "            migration: the dates already in the table keep the old type (incremental runs append new dates, never "
        "rewrite old ones); to change the whole table, rebuild its history with a full refresh: `dataproducts rerun "
        "pricing.market_prices --start FIRST --end LAST --full-refresh`"
    ) in out
    assert out.splitlines()[-1].endswith(
        ": 2 breaking, 0 minor, 0 patch changes; 2 breaking changes without a major version bump"
    )


def test_a_major_bump_accepts_the_breaking_change(repo, capsys):
    edit(repo, MARKET_PRICES, SEGMENT, "")
    edit(repo, MARKET_PRICES, "version: 1.0.0", "version: 2.0.0")
    commit(repo, "drop segment in 2.0.0")

    code, out, err = diff(capsys, repo)

    assert (code, err) == (0, "")
    assert out.splitlines()[:5] == [
        "pricing.market_prices  1.0.0 -> 2.0.0  breaking",
        "  breaking  output_ports[0].contract.columns: column 'segment' of output port 'daily' was removed",
        "            accepted: major version 1.0.0 -> 2.0.0",
        "            breaks pricing.price_ratings (input port 'market_prices'; columns it uses unknown)",
        "            migration: the column stays in the table with the values of the dates already built, and holds null "
        "from the next date on (on_schema_change: append_new_columns never drops a column); to drop it, rebuild the "
        "history with a full refresh: `dataproducts rerun pricing.market_prices --start FIRST --end LAST --full-refresh` "
        "once it is deployed (FIRST, LAST: `select min(business_date), max(business_date) from pricing.market_prices`); "
        "its consumers rebuild each date after it",
    ]


def test_minor_and_patch_changes_pass(repo, capsys):
    edit(repo, LISTINGS, "tags: [", "tags: [fresh, ")
    edit(repo, MARKET_PRICES, SEGMENT, SEGMENT + "        - {name: fuel, type: string, description: Fuel type.}\n")
    edit(repo, MARKET_PRICES, "Median asking price in EUR.", "Median asking price (EUR).")
    edit(repo, PRICE_RATINGS, "      visibility: restricted\n      domains: [advertising]\n", "      visibility: open\n")
    commit(repo, "additions and words")

    code, out, err = diff(capsys, repo)

    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "inventory.listings  1.0.0 -> 1.0.0  patch",
        "  patch     tags: tags changed",
        "pricing.market_prices  1.0.0 -> 1.0.0  minor",
        "  minor     output_ports[0].contract.columns[6]: column 'fuel' was added to output port 'daily'",
        "            migration: the column is added to the existing table with every date kept (on_schema_change: "
        "append_new_columns); the dates built before hold null in it unless rebuilt: `dataproducts rerun "
        "pricing.market_prices --start FIRST --end LAST` once it is deployed (FIRST, LAST: `select min(business_date), "
        "max(business_date) from pricing.market_prices`); its consumers rebuild each date after it",
        "  patch     output_ports[0].contract.columns[12].description: column 'median_price_eur' of output port 'daily' "
        "has a new description",
        "pricing.price_ratings  1.0.0 -> 1.0.0  minor",
        "  minor     output_ports[0].access: output port 'ratings''s access widened from restricted (advertising) to open",
        f"3 products changed since {git(repo, 'rev-parse', 'main')[:12]}: 0 breaking, 2 minor, 2 patch changes; "
        "0 breaking changes without a major version bump",
    ]


def test_access_narrowed_for_a_current_consumer_and_a_renamed_table_are_breaking(repo, capsys):
    edit(repo, PRICE_RATINGS, "      visibility: restricted\n      domains: [advertising]\n", "      visibility: domain\n")
    edit(repo, MARKET_PRICES, "    table: market_prices\n", "    table: market_prices_v1\n")
    commit(repo, "narrow and rename")

    code, out, err = diff(capsys, repo, "--format", "json")

    assert code == 1
    report = json.loads(out)
    changes = {c["field"]: c for p in report["products"] for c in p["changes"]}
    assert changes["output_ports[0].access"]["message"] == (
        "output port 'ratings''s access narrowed from restricted (advertising) to domain: "
        "advertising.promotion_candidates may no longer read it"
    )
    assert changes["output_ports[0].access"]["consumers"] == [
        {"product": "advertising.promotion_candidates", "input_port": "price_ratings", "port": "ratings", "columns_used": None}
    ]
    assert (
        changes["output_ports[0].table"]["message"]
        == "output port 'daily''s table was renamed from 'market_prices' to 'market_prices_v1'"
    )
    assert [(e["file"], e["field"]) for e in report["errors"]] == [
        (MARKET_PRICES, "output_ports[0].table"),
        (PRICE_RATINGS, "output_ports[0].access"),
    ]
    assert report["summary"] == {"breaking": 2, "minor": 0, "patch": 0, "errors": 2}


def test_json_report(repo, capsys):
    base = git(repo, "rev-parse", "main")
    edit(repo, MARKET_PRICES, MEDIAN, MEDIAN.replace("required: true, ", ""))
    commit(repo, "median may be missing")
    git(repo, "checkout", "-q", "main")  # main moves on: the default base stays the merge base
    edit(repo, LISTINGS, "tags: [", "tags: [main_moved, ")
    commit(repo, "elsewhere")
    git(repo, "checkout", "-q", "change")

    code, out, _ = diff(capsys, repo, "--format", "json")

    assert code == 1
    report = json.loads(out)
    assert report["base"] == base
    assert report["products"] == [
        {
            "id": "pricing.market_prices",
            "file": MARKET_PRICES,
            "old_version": "1.0.0",
            "new_version": "1.0.0",
            "level": "breaking",
            "changes": [
                {
                    "level": "breaking",
                    "field": "output_ports[0].contract.columns[11].required",
                    "message": "column 'median_price_eur' of output port 'daily' is no longer required",
                    "port": "daily",
                    "columns": ["median_price_eur"],
                    "accepted": None,
                    "migration": None,  # dropping "required" leaves the history as it is
                    "consumers": [
                        {"product": "pricing.price_ratings", "input_port": "market_prices", "port": "daily", "columns_used": None}
                    ],
                }
            ],
        }
    ]
    (error,) = report["errors"]
    assert (error["file"], error["line"], error["field"]) == (MARKET_PRICES, 49, "output_ports[0].contract.columns[11].required")


def test_github_annotations(repo, capsys):
    edit(repo, MARKET_PRICES, SEGMENT, "")
    commit(repo, "drop segment")

    code, out, _ = diff(capsys, repo, "--format", "github")

    assert code == 1
    assert out.splitlines()[0] == (
        f"::error file={MARKET_PRICES},line=38,col=9,title=Breaking change without a major version bump::"
        "output_ports[0].contract.columns: column 'segment' of output port 'daily' was removed, a breaking change, "
        "but the version goes from 1.0.0 to 1.0.0, not to a new major version; it breaks pricing.price_ratings "
        "(input port 'market_prices'; columns it uses unknown). Fix: set version: 2.0.0 and agree the change with "
        "its consumers, or undo the change"
    )


def test_annotations_name_files_from_the_top_of_the_repository(repo, capsys):
    import shutil

    shutil.copytree(repo / "product_specs", repo / "mesh" / "product_specs")
    commit(repo, "a second copy of the specs, one folder down")
    edit(repo, "mesh/" + MARKET_PRICES, SEGMENT, "")
    commit(repo, "drop segment there")

    code, out, _ = diff(capsys, repo / "mesh", "--format", "github", "--base", "HEAD~1")

    assert code == 1
    assert out.startswith(f"::error file=mesh/{MARKET_PRICES},line=38,col=9,title=")


def test_a_removed_product_is_breaking_unless_its_sunset_has_passed(repo, capsys):
    (repo / PRICE_RATINGS).unlink()
    commit(repo, "drop price ratings")
    code, out, err = diff(capsys, repo)
    assert code == 1
    assert err.startswith(
        f"{PRICE_RATINGS}: product 'pricing.price_ratings' was removed, a breaking change, and it was not deprecated with "
        "a sunset that has passed; it breaks advertising.promotion_candidates (input port 'price_ratings'; columns it uses unknown)"
    )

    git(repo, "checkout", "-q", "main")
    edit(
        repo, PRICE_RATINGS, "output_ports:\n", "deprecation: {sunset: 2020-01-31, note: Nobody needs ratings.}\noutput_ports:\n"
    )
    sunset = commit(repo, "deprecate price ratings")
    git(repo, "checkout", "-q", "change")
    code, out, err = diff(capsys, repo, "--base", sunset)
    assert (code, err) == (0, "")
    assert "            accepted: removed after its sunset on 2020-01-31" in out.splitlines()


def test_column_use_comes_from_column_lineage(repo, capsys):
    """With the SQL the consumer's latest run compiled (real `dbt compile`, remembered as a run does),
    each consumer is named with the columns it uses of what changed."""
    from dataproducts.core.manifest import compiled_sql, load_manifest
    from dataproducts.core.project import Project
    from dataproducts.metadata import compiled_sql as remembered

    work = repo / ".local" / "compile"
    script = (
        "import sys; from pathlib import Path; from dataproducts.core.project import Project; from dataproducts.dbt import runner; "
        "p = Project(Path(sys.argv[1])); runner.warehouse_env(p); "
        "r = runner.invoke(runner.dbt_args(p, 'compile', 'pricing', Path(sys.argv[2]), [])); sys.exit(0 if r.success else 1)"
    )
    subprocess.run([sys.executable, "-c", script, str(repo), str(work)], check=True, capture_output=True)
    project = Project(repo)
    manifest = load_manifest(project.manifest_path("pricing"))
    model = manifest.model_for_table("price_ratings")
    remembered.remember(project, {model.unique_id: compiled_sql(work / "target", manifest.project_name, model)})
    edit(repo, MARKET_PRICES, SEGMENT, "")
    edit(repo, MARKET_PRICES, MEDIAN, MEDIAN.replace("type: number", "type: integer"))
    commit(repo, "drop segment, median as integer")

    code, out, _ = diff(capsys, repo)

    assert code == 1
    assert [line.strip() for line in out.splitlines() if "breaks" in line] == [
        "breaks pricing.price_ratings (input port 'market_prices'; column lineage shows no use of segment, filters and joins aside)",
        "breaks pricing.price_ratings (input port 'market_prices', which uses median_price_eur)",
    ]


@pytest.mark.parametrize("args", [["--base", "no-such-revision"], ["--base=--output=/tmp/x"]])
def test_a_revision_that_cannot_be_read_is_a_usage_error(repo, capsys, args):
    code, out, err = diff(capsys, repo, *args)
    assert (code, out) == (2, "")
    assert err.startswith("dataproducts diff: '") and "is not a" in err


def test_outside_a_git_repository_is_a_usage_error(project_copy, capsys):
    code, _, err = diff(capsys, project_copy)
    assert code == 2
    assert "no merge base of HEAD with main or origin/main" in err


def test_each_kind_of_change_is_classified():
    """The classification itself, on specs in memory (the CLI tests above cover the rest end to end)."""
    from conftest import spec

    from dataproducts.core.spec import DataProductSpec
    from dataproducts.core.spec_diff import product_changes

    column = {"name": "listing_id", "type": "string", "required": True, "unique": True}
    port = {"name": "listings", "contract": {"columns": [column]}, "access": {"visibility": "restricted", "domains": ["pricing"]}}
    old = DataProductSpec.model_validate(spec(output_ports=[port, {**port, "name": "extra", "table": "extra"}]))
    now = {
        **port,
        "contract": {"columns": [{**column, "unique": False}, {"name": "city", "type": "string"}]},
        "access": {"visibility": "restricted", "domains": ["pricing"], "products": ["fleet.routes"]},
        "deprecation": {"sunset": "2030-01-31"},
        "quality": [{"metric": "row_count", "must_be_greater_than": 0, "severity": "error"}],
    }
    new = DataProductSpec.model_validate(spec(output_ports=[now, {**port, "name": "added", "table": "added"}]))

    changes = product_changes(old, new, lambda product, port: ["pricing.market_prices"])

    assert [(c.level.value, c.field, c.message) for c in changes] == [
        ("minor", "output_ports[0].quality", "output port 'listings''s quality rules changed"),
        ("minor", "output_ports[0].deprecation", "output port 'listings' is deprecated, sunset 2030-01-31"),
        (
            "minor",
            "output_ports[0].access",
            "output port 'listings''s access widened from restricted (pricing) to restricted (pricing, fleet.routes)",
        ),
        (
            "breaking",
            "output_ports[0].contract.columns[0].unique",
            "column 'listing_id' of output port 'listings' is no longer unique",
        ),
        ("minor", "output_ports[0].contract.columns[1]", "column 'city' was added to output port 'listings'"),
        ("breaking", "output_ports", "output port 'extra' was removed"),
        ("minor", "output_ports[1]", "output port 'added' was added"),
    ]
    withdrawn = [c.message for c in product_changes(new, old, lambda product, port: []) if c.field.endswith("deprecation")]
    assert withdrawn == ["output port 'listings' is no longer deprecated"]
    narrowed = product_changes(new, old, lambda product, port: ["fleet.routes"])
    assert [c.readers for c in narrowed if c.field.endswith("access")] == [("fleet.routes",)]
