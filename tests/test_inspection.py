"""`show`, `graph` and `impact` on the tests' mesh: output and exit codes."""

from __future__ import annotations

from fake_airflow import TOKEN, FakeAirflow, dag_run

from dataproducts.cli import main


def run(capsys, root, *args) -> tuple[int, str, str]:
    code = main(["--root", str(root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_a_product_with_ports_contract_schedule_owner_and_neighbours(compiled_repo, capsys):
    code, out, _ = run(capsys, compiled_repo, "show", "pricing.market_prices", "--airflow-url", "http://127.0.0.1:9")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "pricing.market_prices  Market prices  v1.0.0 (active)"
    assert "  owner:       pricing <pricing-team@example.com>" in lines
    assert "  schedule:    when all of inventory.listings.daily_snapshot, inventory.vehicle_catalog.models publish" in lines
    assert "    listings: inventory.listings.daily_snapshot" in lines
    assert any(
        line.startswith("    pricing.market_prices.daily: table pricing.market_prices")
        and "read by pricing.price_ratings" in line
        for line in lines
    )
    assert "        market_key                   string     required unique" in lines
    assert "  upstream:    inventory.listings, inventory.vehicle_catalog" in lines
    assert "  downstream:  pricing.price_ratings, advertising.promotion_candidates" in lines
    assert lines[-1].startswith("    unknown (cannot reach Airflow at http://127.0.0.1:9")


def test_show_the_last_runs_from_airflow_newest_first_or_why_they_are_unknown(compiled_repo, capsys):
    with FakeAirflow() as airflow:
        airflow.runs["inventory.listings"] = [
            dag_run("inventory.listings", "manual__1", "failed", run_after="2026-11-04T03:00:00Z"),
            dag_run(
                "inventory.listings", "manual__2", "success", run_after="2026-11-05T03:00:00Z", note="Business date 2026-11-04"
            ),
        ]
        show = ("show", "inventory.listings", "--airflow-url", airflow.url)
        code, out, _ = run(capsys, compiled_repo, *show, "--token", TOKEN)
        assert code == 0
        assert [line.split() for line in out.split("  last runs:\n")[1].splitlines()] == [
            ["2026-11-05T03:00:00+00:00", "success", "Business", "date", "2026-11-04"],
            ["2026-11-04T03:00:00+00:00", "failed", "manual__1"],
        ]
        (listing,) = [r for r in airflow.requests if r.path == "/api/v2/dags/inventory.listings/dagRuns"]
        assert (listing.query["limit"], listing.query["order_by"]) == (["5"], ["-run_after"])

        code, out, _ = run(capsys, compiled_repo, *show, "--token", "expired")
        assert code == 0
        assert out.splitlines()[-1] == (
            f"    unknown (Airflow at {airflow.url} refused to list the runs of inventory.listings (401 Unauthorized): "
            "check the token, or the user and password, and that the user may trigger DAGs)"
        )


def test_show_an_unknown_product(compiled_repo, capsys):
    code, _, err = run(capsys, compiled_repo, "show", "pricing.nope")
    assert code == 2 and "'pricing.nope' is not a known product; those are: advertising.campaign_performance" in err


def test_graph_as_text_mermaid_and_dot_filtered_by_domain(compiled_repo, capsys):
    code, out, _ = run(capsys, compiled_repo, "graph")
    assert code == 0
    assert out.splitlines()[0] == "inventory.listings  (root)"
    assert "pricing.market_prices  <- inventory.listings.daily_snapshot, inventory.vehicle_catalog.models" in out.splitlines()
    code, out, _ = run(capsys, compiled_repo, "graph", "--format", "mermaid", "--domain", "pricing")
    assert code == 0 and out.startswith("flowchart LR\n")
    assert "  inventory__listings -->|daily_snapshot| pricing__market_prices" in out.splitlines()
    assert "user_behaviour" not in out  # not a neighbour of pricing
    code, out, _ = run(capsys, compiled_repo, "graph", "--format", "dot")
    assert code == 0 and out.startswith("digraph mesh {") and out.rstrip().endswith("}")
    assert '  "pricing.price_ratings" -> "advertising.promotion_candidates" [label="ratings"];' in out.splitlines()
    assert out.count("subgraph") == 4
    code, _, err = run(capsys, compiled_repo, "graph", "--domain", "finance")
    assert code == 2 and "no domain 'finance'; the domains are: advertising, inventory, pricing, user_behaviour" in err


def test_impact_of_a_product_and_of_one_port(compiled_repo, capsys):
    code, out, _ = run(capsys, compiled_repo, "impact", "inventory.vehicle_catalog.models")
    assert code == 0
    assert out.splitlines()[0] == "a change of inventory.vehicle_catalog.models reaches 3 products"
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [
        ["1", "pricing.market_prices"],
        ["2", "pricing.price_ratings"],
        ["3", "advertising.promotion_candidates"],
    ]
    assert "owner advertising <ads-analytics@example.com>" in out
    code, out, _ = run(capsys, compiled_repo, "impact", "advertising.promotion_candidates")
    assert (code, out) == (0, "a change of advertising.promotion_candidates reaches 0 products\n")
    code, _, err = run(capsys, compiled_repo, "impact", "inventory.listings.nope")
    assert code == 2 and "inventory.listings has no port 'nope'; its ports are: daily_snapshot" in err
