"""Every knob of dataproducts in one place: the `[dataproducts]` section of Airflow's configuration.

A setting is read the way Airflow reads its own options, so operators set it where they set
Airflow's: the environment variable `AIRFLOW__DATAPRODUCTS__<NAME>`, then the short form
`DATAPRODUCTS_<NAME>` (what dbt's profiles.yml and shell users see), then `[dataproducts] <name>`
in airflow.cfg (`$AIRFLOW_CONFIG`, else `$AIRFLOW_HOME/airflow.cfg`), then the default.

The core imports no Airflow, so airflow.cfg is read here with configparser (no interpolation,
no secrets backends: put secrets in Airflow connections, never in these settings).
`dataproducts settings` prints every setting with its value and where the value came from.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SECTION = "dataproducts"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    description: str

    @property
    def env(self) -> str:
        return f"AIRFLOW__{SECTION.upper()}__{self.name.upper()}"

    @property
    def short_env(self) -> str:
        return f"DATAPRODUCTS_{self.name.upper()}"


NAMING_RULES = {  # rule -> the names it applies to (core/naming_rules.py)
    "product_id": "product ids ('<domain>.<name>', matched whole)",
    "port_name": "input and output port names",
    "table_name": "output table names",
    "column_name": "contract column names",
}


def _naming_settings() -> list[Setting]:
    result = []
    for rule, names in NAMING_RULES.items():
        pattern = f"naming_{rule}_pattern"
        result += [
            Setting(pattern, "snake_case", f"Naming rule for {names}: `snake_case` or a Python regex the whole name must match."),
            Setting(
                f"naming_{rule}_severity",
                "error",
                f"A name that does not match {pattern}: error (a broken spec), warn (a warning) or off.",
            ),
        ]
    description = "A table name an earlier spec (by file path) already uses: error, warn or off."
    return [*result, Setting("naming_unique_table_names", "error", description)]


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "home",
            "",
            "Project root (product_specs/, dbt/, dags/); empty: the repository of the DAG file, else the working directory.",
        ),
        Setting("state_dir", "", "Local state: warehouse file, metadata outbox, run work dirs, caches; empty: <home>/.local."),
        Setting("dbt_target", "duckdb", "dbt target of dbt/profiles.yml the runs use (duckdb, postgres)."),
        Setting(
            "pg_role_prefix",
            "dataproducts_",
            "postgres target: each domain's dbt runs as the role <prefix><domain> (see `dataproducts warehouse provision`).",
        ),
        Setting(
            "warehouse_pool",
            "dataproducts_warehouse",
            "Airflow pool every build task runs in (its slots bound concurrent warehouse writes).",
        ),
        Setting(
            "datahub_conn_id",
            "dataproducts_datahub",
            "Airflow connection that says where DataHub metadata goes (none: DataHub Lite in the state dir).",
        ),
        Setting(
            "max_spec_bytes",
            "262144",
            "Largest spec file read, in bytes (checked before parsing); a larger one is a broken spec.",
        ),
        Setting("git_revision", "", "Revision recorded with the metadata; empty: asked of git in <home>."),
        Setting(
            "notify_smtp_conn_id",
            "",
            "Airflow SMTP connection a failed product's owner is e-mailed through (to the spec's owner contact); empty: no e-mail.",
        ),
        Setting(
            "notify_webhook_conn_id",
            "",
            "Airflow HTTP connection a failed product's notice is POSTed to as JSON (host: the URL); empty: no webhook.",
        ),
        Setting(
            "retired_dag_days",
            "7",
            "Days a product whose spec was deleted keeps a retired DAG, whose tasks fail at once so its pending runs end; 0: none.",
        ),
        *_naming_settings(),
    )
}


def get(name: str) -> str:
    return lookup(name)[0]


def lookup(name: str) -> tuple[str, str]:
    """(value, where it came from) of a setting."""
    setting = SETTINGS[name]
    for variable in (setting.env, setting.short_env):
        if os.environ.get(variable):
            return os.environ[variable], f"${variable}"
    from_file = _airflow_cfg_section().get(name)
    if from_file:
        return from_file, f"[{SECTION}] {name} in {_airflow_cfg_path()}"
    return setting.default, "default"


def _airflow_cfg_path() -> Path:
    if os.environ.get("AIRFLOW_CONFIG"):
        return Path(os.environ["AIRFLOW_CONFIG"])
    return Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow")) / "airflow.cfg"


def _airflow_cfg_section() -> dict[str, str]:
    path = _airflow_cfg_path()
    try:
        stat = path.stat()
    except OSError:
        return {}
    return _read_section(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _read_section(path: str, mtime_ns: int, size: int) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return {}
    return dict(parser[SECTION]) if parser.has_section(SECTION) else {}


def markdown_table() -> str:
    """The README's table of settings (a test keeps the two equal)."""
    rows = ["| setting | environment | default | what it does |", "|---|---|---|---|"]
    for s in SETTINGS.values():
        default = f"`{s.default}`" if s.default else "(see text)"
        rows.append(f"| `{s.name}` | `{s.env}` or `{s.short_env}` | {default} | {s.description} |")
    return "\n".join(rows)
