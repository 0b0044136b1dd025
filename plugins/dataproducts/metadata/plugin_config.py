"""The DataHub Airflow plugin's settings that decide URNs and the aspects both of us write.

The plugin (acryl-datahub-airflow-plugin), when enabled, emits every DAG as a DataFlow and every
task as a DataJob. dataproducts emits the same entities for its products' DAGs, so it must name
them exactly as the plugin does and write the aspects both write (ownership, tags, platform
instance) exactly as the plugin would, under whatever configuration the plugin has:

- ``[datahub] cluster`` (default ``prod``): the env of DataFlow, DataJob and run-instance URNs;
- ``[datahub] platform_instance``: prefixed to the DAG id in DataFlow/DataJob URNs, and a
  dataPlatformInstance aspect;
- ``[datahub] capture_ownership_info`` / ``capture_ownership_as_group``: the DAG's owner (the
  spec's team) as a corpuser (the plugin's default), as a corpGroup, or no owner at all. The data
  product and its datasets name the team the same way, so one team is one DataHub entity;
- ``[datahub] capture_tags_info``: the DAG's tags on the DataFlow and DataJobs, or none;
- ``[datahub] datajob_url_link``: a task's link (``tasks`` or ``grid``).

They are read with the plugin's own ``get_lineage_config()`` (airflow.cfg, then
``AIRFLOW__DATAHUB__*``), whether or not the plugin is enabled, at run time only (never at DAG
parse time). The builders take the result as a plain value and stay pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from datahub.emitter import mce_builder


@dataclass(frozen=True)
class PluginConfig:
    cluster: str = mce_builder.DEFAULT_FLOW_CLUSTER  # "prod"
    platform_instance: Optional[str] = None
    capture_ownership: bool = True
    ownership_as_group: bool = False
    capture_tags: bool = True
    datajob_url_link: str = "tasks"  # tasks | grid

    def owner_urn(self, team: str) -> str:
        return mce_builder.make_group_urn(team) if self.ownership_as_group else mce_builder.make_user_urn(team)

    def task_url(self, airflow_base_url: str, dag_id: str, task_id: str) -> str:
        base = airflow_base_url.rstrip("/")
        if self.datajob_url_link == "grid":
            return f"{base}/dags/{dag_id}/grid?task_id={task_id}"
        return f"{base}/dags/{dag_id}/tasks/{task_id}"


PLUGIN_DEFAULTS = PluginConfig()


def plugin_config() -> PluginConfig:
    """The plugin's current settings, read the way its listener reads them."""
    from datahub_airflow_plugin._config import get_lineage_config

    config = get_lineage_config()
    return PluginConfig(
        cluster=config.cluster,
        platform_instance=config.platform_instance or None,
        capture_ownership=bool(config.capture_ownership_info),
        ownership_as_group=bool(config.capture_ownership_as_group),
        capture_tags=bool(config.capture_tags_info),
        datajob_url_link=config.datajob_url_link.value,
    )
