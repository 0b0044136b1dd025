"""The command line, on the pure core: no Airflow is started."""

from __future__ import annotations

import pytest

from dataproducts.cli import main


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_the_example(compiled_repo, capsys):
    assert run(capsys, "--root", str(compiled_repo), "validate") == (0, "7 products valid, 0 broken, in 4 domains\n", "")


def test_validate_reports_every_error_and_fails(project_copy, capsys):
    spec = project_copy / "product_specs" / "pricing" / "market_prices.yaml"
    spec.write_text(spec.read_text().replace("version: 1.0.0", "version: one"))
    (project_copy / "product_specs" / "marketing").mkdir()
    (project_copy / "product_specs" / "marketing" / "leads.yaml").write_text("id: marketing.leads\n")
    code, out, err = run(capsys, "--root", str(project_copy), "validate")
    assert code == 1
    assert "product_specs/pricing/market_prices.yaml:9:10: version: 'one' is not allowed here. Fix: use a semantic version" in err
    assert "product_specs/marketing/leads.yaml:1:1: owner: required field is missing" in err
    assert "no DAG file builds the domain" not in err  # dags/dataproducts_new_domains.py builds it
    assert out == "6 products valid, 2 broken, in 5 domains\n"


def test_check_runs_dbt_validate_and_airflows_dagbag(project_copy, capsys):
    assert run(capsys, "--root", str(project_copy), "check")[0] == 0
    spec = project_copy / "product_specs" / "pricing" / "market_prices.yaml"
    spec.write_text(spec.read_text().replace("version: 1.0.0", "version: one"))
    (project_copy / "product_specs" / "marketing").mkdir()
    (project_copy / "product_specs" / "marketing" / "leads.yaml").write_text("id: marketing.leads\n")
    (project_copy / "dags" / "dataproducts_new_domains.py").unlink()  # nothing builds a domain without a DAG file now
    code, out, err = run(capsys, "--root", str(project_copy), "check")
    assert code == 1
    assert "product_specs/pricing/market_prices.yaml:9:10: version: 'one' is not allowed" in err
    assert "product_specs/marketing/leads.yaml: no Airflow DAG 'marketing.leads' was made from it" in err
    assert "Airflow DagBag over dags/: 1 problems" in out


def test_list_shows_run_order_and_consumers(compiled_repo, capsys):
    code, out, _ = run(capsys, "--root", str(compiled_repo), "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 7
    assert lines[0].startswith("inventory.listings")
    assert "read by: pricing.market_prices, pricing.price_ratings" in lines[0]


def test_downstream_and_rerun_plan(compiled_repo, capsys):
    assert run(capsys, "--root", str(compiled_repo), "downstream", "pricing.market_prices")[1].split() == [
        "pricing.price_ratings",
        "advertising.promotion_candidates",
    ]
    code, out, _ = run(
        capsys, "--root", str(compiled_repo), "rerun", "pricing.market_prices", "--business-date", "2026-11-03", "--dry-run"
    )
    assert (code, out) == (
        0,
        "rebuilding 2026-11-03 of, in this order: pricing.market_prices, pricing.price_ratings, advertising.promotion_candidates\n",
    )


def test_unknown_product_and_bad_date_are_usage_errors(compiled_repo, capsys):
    code, _, err = run(capsys, "--root", str(compiled_repo), "downstream", "pricing.prices")
    assert code == 2 and err.startswith("'pricing.prices' is not a known product; those are: advertising.campaign_performance,")
    code, _, err = run(capsys, "--root", str(compiled_repo), "rerun", "pricing.market_prices", "--business-date", "3.11.2026")
    assert code == 2 and "--business-date: '3.11.2026' is not a date; use the form YYYY-MM-DD" in err


def test_rerun_of_a_date_range_is_each_date_in_turn(compiled_repo, capsys):
    args = ("--root", str(compiled_repo), "rerun", "pricing.price_ratings")
    code, out, _ = run(capsys, *args, "--start", "2026-11-02", "--end", "2026-11-05", "--dry-run")
    assert (code, out) == (
        0,
        "rebuilding 2026-11-02 .. 2026-11-05 (4 dates, one after the other) of, in this order: "
        "pricing.price_ratings, advertising.promotion_candidates\n",
    )
    code, out, _ = run(
        capsys, *args, "--start", "2026-11-02", "--end", "2026-11-03", "--full-refresh", "--no-downstream", "--dry-run"
    )
    assert (code, out) == (
        0,
        "rebuilding 2026-11-02 .. 2026-11-03 (2 dates, one after the other) of, in this order: "
        "pricing.price_ratings; pricing.price_ratings recreated with 2026-11-02 (full refresh)\n",
    )
    code, _, err = run(capsys, *args, "--start", "2026-11-05", "--end", "2026-11-02", "--dry-run")
    assert code == 2 and "--end 2026-11-02 is before --start 2026-11-05" in err
    code, _, err = run(capsys, *args, "--start", "2026-11-05", "--dry-run")
    assert code == 2 and "give --business-date D, or --start D1 and --end D2" in err


def test_metadata_status_shows_quarantined_batches_and_quarantine_inspects_retries_drops(tmp_path, monkeypatch, capsys):
    from datahub.emitter.mcp import MetadataChangeProposalWrapper
    from datahub.metadata.schema_classes import StatusClass

    from dataproducts.core.project import Project
    from dataproducts.metadata.delivery import outbox_for

    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("AIRFLOW_CONN_DATAPRODUCTS_DATAHUB", raising=False)
    monkeypatch.delenv("DATAPRODUCTS_DATAHUB_CONN_ID", raising=False)
    outbox = outbox_for(Project(tmp_path))
    mcps = [MetadataChangeProposalWrapper(entityUrn="urn:li:corpuser:u", aspect=StatusClass(removed=False))]
    outbox.write("run-ok", mcps)
    torn = outbox.write("catalog-pricing.market_prices", mcps)
    intact = torn.read_bytes()
    torn.write_bytes(intact[:30])
    root = ("--root", str(tmp_path))

    code, out, _ = run(capsys, *root, "metadata", "flush")  # to the local DataHub Lite store
    assert code == 0
    assert "sent 1 batches (1 MCPs); 0 batches wait; 1 quarantined: " + torn.name in out and "JSONDecodeError" in out
    code, out, _ = run(capsys, *root, "metadata", "status")
    assert code == 0 and "0 batches (0 MCPs) waiting, 1 quarantined" in out
    assert f"quarantined {torn.name} (1 MCPs, quarantined " in out and "JSONDecodeError" in out
    assert run(capsys, *root, "metadata", "quarantine", "list")[1].startswith(f"{torn.name} (1 MCPs")
    code, out, _ = run(capsys, *root, "metadata", "quarantine", "show", torn.name)
    assert code == 0 and "JSONDecodeError" in out and intact[:30].decode() in out

    code, _, err = run(capsys, *root, "metadata", "quarantine", "retry", torn.name)
    assert code == 1 and "still unreadable" in err
    (tmp_path / "state" / "datahub" / "outbox" / "quarantine" / torn.name).write_bytes(intact)  # repaired by hand
    code, out, _ = run(capsys, *root, "metadata", "quarantine", "retry", torn.name)
    assert code == 0 and "back in the queue" in out
    assert "sent 1 batches (1 MCPs); 0 batches wait\n" in run(capsys, *root, "metadata", "flush")[1]

    torn = outbox.write("run-x", mcps)
    torn.write_bytes(b"[")
    run(capsys, *root, "metadata", "flush")
    code, out, _ = run(capsys, *root, "metadata", "quarantine", "drop", torn.name)
    assert code == 0 and f"{torn.name}: dropped\n" in out
    assert "quarantined" not in run(capsys, *root, "metadata", "quarantine", "list")[1]
    code, _, err = run(capsys, *root, "metadata", "quarantine", "show", torn.name)
    assert code == 1 and "no quarantined batch" in err
    assert run(capsys, *root, "metadata", "quarantine", "drop")[0] == 2


class _Airflow:
    """A local HTTP server standing in for an Airflow that answers badly: 401, or HTML instead of JSON."""

    def __init__(self, status: int, body: bytes, content_type: str):
        import http.server
        import threading

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                outer.requests.append(self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

        self.requests: list[str] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("case", ["down", "no credentials", "401", "not JSON", "401 on the token"])
def test_rerun_against_an_unusable_airflow_is_one_clear_line(compiled_repo, capsys, monkeypatch, case):
    for variable in ("AIRFLOW_API_TOKEN", "AIRFLOW_USERNAME", "AIRFLOW_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)
    server = None
    if case in ("401", "401 on the token"):
        server = _Airflow(401, b'{"detail": "Not authenticated"}', "application/json")
    elif case == "not JSON":
        server = _Airflow(200, b"<!DOCTYPE html><html>Airflow UI</html>", "text/html")
    url = server.url if server else _closed_port_url()
    credentials = {
        "down": ["--token", "t0ken-abc"],
        "no credentials": [],
        "401": ["--token", "expired-t0ken"],
        "not JSON": ["--token", "t0ken-abc"],
        "401 on the token": ["--user", "admin", "--password", "wrong-pa55"],
    }[case]
    try:
        code, out, err = run(
            capsys, "--root", str(compiled_repo), "rerun", "pricing.market_prices", "--business-date", "2026-11-03",
            "--airflow-url", url, *credentials,
        )  # fmt: skip
    finally:
        if server:
            server.close()
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rerun: "), err
    expected = {
        "down": f"cannot reach Airflow at {url}",
        "no credentials": "no Airflow credentials: pass --token",
        "401": f"Airflow at {url} refused POST /api/v2/dags/pricing.market_prices/dagRuns (401 Unauthorized)",
        "not JSON": "that is not JSON: is that URL Airflow's API server?",
        "401 on the token": f"Airflow at {url} refused POST /auth/token (401 Unauthorized)",
    }[case]
    assert expected in lines[0]
    assert "Traceback" not in out + err and "t0ken" not in err and "pa55" not in err


def test_show_names_a_products_ports_with_their_access(compiled_repo, capsys):
    code, out, _ = run(
        capsys, "--root", str(compiled_repo), "show", "pricing.price_ratings", "--airflow-url", "http://127.0.0.1:9"
    )
    assert code == 0
    assert "  owner:       pricing <pricing-team@example.com>" in out
    assert "    pricing.price_ratings.ratings: table pricing.price_ratings" in out
    assert "      access: restricted to domain pricing and domains advertising" in out
    assert "  downstream:  advertising.promotion_candidates" in out
