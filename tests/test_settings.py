"""Settings: one [dataproducts] section, read in Airflow's order, documented in one table."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataproducts.cli import main
from dataproducts.core import settings
from dataproducts.core.project import Project

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for setting in settings.SETTINGS.values():
        monkeypatch.delenv(setting.env, raising=False)
        monkeypatch.delenv(setting.short_env, raising=False)
    monkeypatch.delenv("AIRFLOW_CONFIG", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    return tmp_path / "airflow"


def test_order_is_airflow_env_then_short_env_then_airflow_cfg_then_default(clean_env, monkeypatch):
    assert settings.lookup("dbt_target") == ("duckdb", "default")
    clean_env.mkdir()
    (clean_env / "airflow.cfg").write_text(
        "[core]\ndags_folder = %(AIRFLOW_HOME)s/dags\n\n[dataproducts]\ndbt_target = from_cfg\n"
    )
    assert settings.lookup("dbt_target") == ("from_cfg", f"[dataproducts] dbt_target in {clean_env / 'airflow.cfg'}")
    monkeypatch.setenv("DATAPRODUCTS_DBT_TARGET", "from_short")
    assert settings.get("dbt_target") == "from_short"
    monkeypatch.setenv("AIRFLOW__DATAPRODUCTS__DBT_TARGET", "from_airflow_env")
    assert settings.lookup("dbt_target") == ("from_airflow_env", "$AIRFLOW__DATAPRODUCTS__DBT_TARGET")


def test_the_project_reads_its_places_from_settings(clean_env, monkeypatch, tmp_path):
    assert Project.from_env(tmp_path).state_dir == tmp_path / ".local"
    monkeypatch.setenv("AIRFLOW__DATAPRODUCTS__HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIRFLOW__DATAPRODUCTS__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AIRFLOW__DATAPRODUCTS__WAREHOUSE_POOL", "big_pool")
    project = Project.from_env(tmp_path)
    assert (project.root, project.state_dir, project.warehouse_pool) == (tmp_path / "home", tmp_path / "state", "big_pool")


def test_an_unreadable_airflow_cfg_is_no_setting(clean_env):
    clean_env.mkdir()
    (clean_env / "airflow.cfg").write_bytes(b"\xff\xfe not [ a config")
    assert settings.lookup("warehouse_pool") == ("dataproducts_warehouse", "default")


def test_the_readme_documents_every_setting():
    assert settings.markdown_table() in README.read_text()


def test_cli_prints_every_setting_and_its_source(clean_env, monkeypatch, capsys):
    monkeypatch.setenv("DATAPRODUCTS_DATAHUB_CONN_ID", "my_datahub")
    assert main(["settings"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(settings.SETTINGS)
    assert "my_datahub" in lines[list(settings.SETTINGS).index("datahub_conn_id")]
    assert lines[list(settings.SETTINGS).index("datahub_conn_id")].endswith("$DATAPRODUCTS_DATAHUB_CONN_ID")
