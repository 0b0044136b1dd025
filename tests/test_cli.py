"""The command line, on the pure core: no Airflow is started."""

from __future__ import annotations

import contextlib
import threading

import pytest
from fake_airflow import DROP, TOKEN, FakeAirflow

from dataproducts.cli import main
from dataproducts.core.run_outcome import BuildOutcome


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


def _closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def airflow():
    with FakeAirflow() as fake:
        yield fake


def rerun_cli(capsys, root, url, *args):
    return run(
        capsys,
        "--root",
        str(root),
        "rerun",
        "pricing.market_prices",
        "--business-date",
        "2026-11-03",
        "--airflow-url",
        url,
        *args,
    )


@pytest.mark.parametrize("case", ["down", "no credentials", "401", "not JSON", "401 on the token"])
def test_rerun_against_an_unusable_airflow_is_one_clear_line(compiled_repo, capsys, monkeypatch, airflow, case):
    for variable in ("AIRFLOW_API_TOKEN", "AIRFLOW_USERNAME", "AIRFLOW_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)
    if case == "not JSON":
        airflow.answer_everything(200, b"<!DOCTYPE html><html>Airflow UI</html>", "text/html")
    url = _closed_port_url() if case == "down" else airflow.url
    credentials = {
        "down": ["--token", "t0ken-abc"],
        "no credentials": [],
        "401": ["--token", "expired-t0ken"],
        "not JSON": ["--token", "t0ken-abc"],
        "401 on the token": ["--user", "admin", "--password", "wrong-pa55"],
    }[case]
    code, out, err = rerun_cli(capsys, compiled_repo, url, *credentials)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rerun: "), err
    expected = {
        "down": f"cannot reach Airflow at {url}",
        "no credentials": "no Airflow credentials: pass --token",
        "401": f"Airflow at {url} refused to trigger a run of pricing.market_prices (401 Unauthorized)",
        "not JSON": "that is not its API's JSON: is that URL Airflow's API server?",
        "401 on the token": f"Airflow at {url} refused to issue a token for user 'admin' (401 Unauthorized)",
    }[case]
    assert expected in lines[0]
    assert "Traceback" not in out + err and "t0ken" not in err and "pa55" not in err


def test_rerun_signs_in_triggers_the_date_and_waits_for_its_build(compiled_repo, capsys, airflow):
    """With a user and password: a token from /auth/token, then the trigger with the date as its
    partition key, and the rebuilt date read from the build's XCom (a stand-in scheduler runs it)."""
    airflow.users["admin"] = "pa55"
    airflow.on_trigger = lambda fake, run: fake.finish(
        run, built=BuildOutcome(business_date=run.partition_key, row_counts={"market_prices": 71}).to_xcom()
    )
    code, out, err = rerun_cli(capsys, compiled_repo, airflow.url, "--user", "admin", "--password", "pa55", "--no-downstream")
    assert (code, err) == (0, "")
    assert "] 1/1  2026-11-03  pricing.market_prices rebuilt" in out
    (line,) = [line for line in out.splitlines() if line.startswith(" 1  pricing.market_prices")]
    assert line.split()[2:5] == ["success", "manual", "trigger"] and "market_prices=71" in line
    (token,) = [r for r in airflow.requests if r.path == "/auth/token"]
    assert token.body == {"username": "admin", "password": "pa55"}
    (trigger,) = [r for r in airflow.requests if r.method == "POST" and r.path.endswith("/dagRuns")]
    assert trigger.headers["Authorization"] == f"Bearer {TOKEN}"
    assert trigger.body["partition_key"] == "2026-11-03" and trigger.body["logical_date"] is None


def test_a_rerun_whose_build_fails_stops_there_saying_what_was_not_rebuilt(compiled_repo, capsys, airflow):
    airflow.on_trigger = lambda fake, run: fake.finish(run, "failed")
    code, _, err = rerun_cli(capsys, compiled_repo, airflow.url, "--token", TOKEN)
    assert code == 1
    assert err.startswith("RERUN STOPPED: pricing.market_prices failed for 2026-11-03; not rebuilt: pricing.price_ratings, ")


def test_a_trigger_that_failed_after_creating_its_run_is_retried_without_a_second_run(airflow):
    from dataproducts.ops.airflow_api import AirflowApi

    airflow.fail_next(1, 503, applied=True)
    run_id = AirflowApi(airflow.url, token=TOKEN).trigger("pricing.market_prices", partition_key="2026-11-03")
    assert [r.dag_run_id for r in airflow.runs["pricing.market_prices"]] == [run_id]
    assert [r.method for r in airflow.requests] == ["POST", "POST"], "retried once, answered 409: it exists"


def test_a_connection_dropped_without_an_answer_is_asked_again(airflow):
    """A kept-alive connection that the server closes as a request goes out ends in 'Connection
    reset by peer' or 'closed connection without response' (seen in the end-to-end test against
    Airflow's uvicorn): the call is repeated, a trigger without a second run."""
    from dataproducts.ops.airflow_api import AirflowApi

    api = AirflowApi(airflow.url, token=TOKEN)
    airflow.fail_next(2, DROP, applied=True)
    run_id = api.trigger("pricing.market_prices", partition_key="2026-11-03")
    assert [r.dag_run_id for r in airflow.runs["pricing.market_prices"]] == [run_id]
    airflow.fail_next(2, DROP)
    assert [r.dag_run_id for r in api.runs_since("pricing.market_prices", "2026-11-01T00:00:00Z")] == [run_id]
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in airflow.requests] == [("POST", "dagRuns")] * 3 + [("POST", "list")] * 3


def test_a_server_that_never_answers_is_not_asked_again(monkeypatch):
    """A read timeout is not a dropped connection: an Airflow that takes the request and hangs is
    said to be unreachable after one timeout, not after three (urllib3 counts both as 'read')."""
    import socket

    from dataproducts.ops import airflow_api

    monkeypatch.setattr(airflow_api, "TIMEOUT_SECONDS", (0.3, 0.3))
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.2)
        api = airflow_api.AirflowApi(f"http://127.0.0.1:{server.getsockname()[1]}", token=TOKEN)
        accepted = []
        with pytest.raises(airflow_api.AirflowUnreachable, match="Read timed out"), _accepting(server, accepted):
            api.dag("pricing.market_prices")
        assert len(accepted) == 1


@contextlib.contextmanager
def _accepting(server, accepted):
    """Accept every connection to `server` in a thread and keep it open without a word."""
    done = threading.Event()

    def accept():
        while not done.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        for connection in accepted:
            connection.close()


def test_show_names_a_products_ports_with_their_access(compiled_repo, capsys):
    code, out, _ = run(
        capsys, "--root", str(compiled_repo), "show", "pricing.price_ratings", "--airflow-url", "http://127.0.0.1:9"
    )
    assert code == 0
    assert "  owner:       pricing <pricing-team@example.com>" in out
    assert "    pricing.price_ratings.ratings: table pricing.price_ratings" in out
    assert "      access: restricted to domain pricing and domains advertising" in out
    assert "  downstream:  advertising.promotion_candidates" in out
