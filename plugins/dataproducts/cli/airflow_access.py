"""What the commands that ask a running Airflow share: its URL and credentials as options, the
client built from them, and one line on stderr for whatever went wrong (cannot reach it, not
authorised, not found: ops/airflow_api says which, in one line)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the official client takes a second to import: only commands that use it pay
    from dataproducts.ops.airflow_api import AirflowApi, AirflowApiError


def add_airflow_options(command) -> None:
    command.add_argument("--airflow-url", default=os.environ.get("AIRFLOW_API_URL", "http://localhost:8080"))
    command.add_argument("--token", default=os.environ.get("AIRFLOW_API_TOKEN"), help="API token (or $AIRFLOW_API_TOKEN)")
    command.add_argument("--user", default=os.environ.get("AIRFLOW_USERNAME"), help="or a user ($AIRFLOW_USERNAME) ...")
    command.add_argument("--password", default=os.environ.get("AIRFLOW_PASSWORD"), help="... and password ($AIRFLOW_PASSWORD)")


def airflow_api(args) -> AirflowApi:
    from dataproducts.ops.airflow_api import AirflowApi

    return AirflowApi(args.airflow_url, token=args.token, username=args.user, password=args.password)


def airflow_failed(command: str, error: AirflowApiError, exit_code: int) -> int:
    """Say on stderr, in one line, why `command` could not use Airflow; return its exit code."""
    print(f"{command}: {error}", file=sys.stderr)
    return exit_code
