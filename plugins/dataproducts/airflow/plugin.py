"""The Airflow plugin of dataproducts: the "Data mesh" page (dataproducts.airflow.ui) in Airflow's UI,
the timetable of broken specs' DAGs (dataproducts.airflow.broken_spec) and the DAG-run listener
that notes every run's business date (dataproducts.airflow.run_labels).

Mounts the page's FastAPI app under the api-server at /dataproducts and adds "Data mesh" to the
Browse menu (an external view with a url_route: Airflow's UI shows it in an iframe at
/plugin/data-mesh). Importing this module loads no spec and no manifest, so broken specs or
missing dbt manifests can never break Airflow's plugin loading; they show on the page.

How Airflow 3.3 finds it (airflow._shared.plugins_manager):
* an `airflow.plugins` entry point (`dataproducts = dataproducts.airflow.plugin:DataProductsPlugin`)
  finds it where the package is installed;
* the plugins folder (the embedded default sets `[core] plugins_folder` to this repository's
  plugins/) is scanned recursively and every .py file in it is executed as a top-level module
  named after its file stem. `plugins/.airflowignore` keeps the scan out of the package (its
  modules would be executed a second time under bare names such as `tasks` or `spec`), and
  `plugins/dataproducts_plugin.py` is the one file the scan runs.
Airflow registers a plugin name once: a second copy is skipped with a warning and an entry in
the plugin import errors. So when the entry point exists, the folder file steps aside.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from dataproducts.airflow import run_labels, ui
from dataproducts.airflow.broken_spec import BrokenSpecTimetable
from dataproducts.airflow.schedules import PartitionedAssetOrCronTimetable

ENTRY_POINT_GROUP = "airflow.plugins"
ENTRY_POINT_VALUE = "dataproducts.airflow.plugin:DataProductsPlugin"


class DataProductsPlugin(AirflowPlugin):
    name = "dataproducts"
    fastapi_apps = [{"app": ui.app, "url_prefix": ui.URL_PREFIX, "name": "Data products"}]
    listeners = [run_labels]  # notes every product run with the business date it built
    timetables = [BrokenSpecTimetable, PartitionedAssetOrCronTimetable]  # the scheduler must deserialize them
    external_views = [
        {
            "name": ui.TITLE,
            "href": ui.airflow_base_path() + ui.URL_PREFIX + "/",  # [api] base_url's path, if any, first
            "destination": "nav",
            "url_route": "data-mesh",
            "category": "browse",
        }
    ]


def provided_by_entry_point() -> bool:
    """Whether an installed distribution declares this plugin as an `airflow.plugins` entry point."""
    from importlib.metadata import entry_points

    try:
        return any(ep.value.replace(" ", "") == ENTRY_POINT_VALUE for ep in entry_points(group=ENTRY_POINT_GROUP))
    except Exception:  # broken metadata of some other distribution: keep the folder copy
        return False
