"""DataHub URNs of everything a data product touches, built with DataHub's own builders.

Conventions (checked against the acryl-datahub / acryl-datahub-airflow-plugin 1.7.0.17 source):

- Tables: DataHub's dbt source names a node's warehouse table
  ``make_dataset_urn_with_platform_instance(target_platform, "<database>.<schema>.<name>")`` with the
  quotes stripped and, by default (``convert_urns_to_lowercase=True``), lower-cased
  (datahub/ingestion/source/dbt/dbt_common.py: ``DBTNode.get_db_fqn`` / ``DBTNode.get_urn``). The
  Postgres SQL source uses the same three-part, lower-case name. The platform is dbt's adapter
  type ('duckdb', 'postgres'); env PROD; no platform instance unless one is configured.
- Pipelines: the Airflow plugin builds ``DataFlowUrn.create_from_ids(orchestrator="airflow",
  flow_id=dag.dag_id, env=<[datahub] cluster>, platform_instance=<[datahub] platform_instance>)``
  and ``DataJobUrn.create_from_ids(job_id=task.task_id, data_flow_urn=...)``
  (datahub_airflow_plugin/client/airflow_generator.py: ``generate_dataflow``/``generate_datajob``);
  so do we, from the plugin's settings (plugin_config.py).
- Run instances: the plugin keys a task run as ``DataProcessInstanceKey(cluster, orchestrator="airflow",
  id=f"{dag_id}_{task_id}_{run_id}")`` and a DAG run with ``id=run_id``. Ours is the product-level run
  of one try, with an id in a namespace of its own (``dataproducts:<dag_id>:<run_id>:<try>``), so it
  never lands on (or overwrites) an instance the plugin emits, while both hang off the same DataJob.
"""

from __future__ import annotations

from typing import Optional

from datahub.api.entities.dataprocess.dataprocess_instance import DataProcessInstanceKey
from datahub.emitter import mce_builder
from datahub.metadata.urns import DataFlowUrn, DataProcessInstanceUrn, IncidentUrn

from dataproducts.core.manifest import Relation
from dataproducts.metadata.plugin_config import PLUGIN_DEFAULTS, PluginConfig

DEFAULT_ENV = mce_builder.DEFAULT_ENV  # "PROD"
AIRFLOW_ORCHESTRATOR = "airflow"
BUILD_TASK = "build"
PUBLISH_TASK = "publish"
DBT_PLATFORM = "dbt"


def dataset_name(relation: Relation) -> str:
    """'<database>.<schema>.<table>', as DataHub's dbt source names it (quotes stripped, lower-cased)."""
    parts = [relation.database, relation.schema, relation.name]
    return ".".join(p for p in parts if p).replace('"', "").lower()


def dataset_urn(
    manifest_adapter_type: str, relation: Relation, env: str = DEFAULT_ENV, platform_instance: Optional[str] = None
) -> str:
    if not manifest_adapter_type:
        raise ValueError(f"no dbt adapter type for {relation.dotted}: is the manifest compiled?")
    return mce_builder.make_dataset_urn_with_platform_instance(
        platform=manifest_adapter_type.lower(),
        name=dataset_name(relation),
        platform_instance=platform_instance,
        env=env,
    )


def data_product_urn(product_id: str) -> str:
    return mce_builder.make_data_product_urn(product_id)


def domain_urn(domain: str) -> str:
    return mce_builder.make_domain_urn(domain)


def tag_urn(tag: str) -> str:
    return mce_builder.make_tag_urn(tag)


def data_flow_urn(dag_id: str, plugin: PluginConfig = PLUGIN_DEFAULTS) -> str:
    """The DAG's DataFlow, as the DataHub plugin names it under its [datahub] cluster and platform_instance."""
    return str(
        DataFlowUrn.create_from_ids(
            orchestrator=AIRFLOW_ORCHESTRATOR, flow_id=dag_id, env=plugin.cluster, platform_instance=plugin.platform_instance
        )
    )


def data_job_urn(dag_id: str, task_id: str, plugin: PluginConfig = PLUGIN_DEFAULTS) -> str:
    return mce_builder.make_data_job_urn_with_flow(data_flow_urn(dag_id, plugin), task_id)


def assertion_urn(product_id: str, test_unique_id: str) -> str:
    """Stable per (product, dbt test).

    DataHub's dbt source keys a test's assertion as guid({platform: dbt, name: <test unique id>});
    ours adds the product, so the two never write competing AssertionInfo aspects to one URN.
    """
    return mce_builder.make_assertion_urn(
        mce_builder.datahub_guid({"platform": DBT_PLATFORM, "name": test_unique_id, "data_product": product_id})
    )


def incident_urn(product_id: str, opened_by: str) -> str:
    """One run-failure incident per failure episode of a product, keyed by the run that opened it:
    later failures update it, the next success resolves it, and a failure after that opens a new one."""
    return str(
        IncidentUrn(
            mce_builder.datahub_guid({"data_product": product_id, "incident": "product_run_failed", "opened_by": opened_by})
        )
    )


def freshness_assertion_urn(port_id: str) -> str:
    """One freshness assertion per output port (`<product>.<port>`), whatever its SLA."""
    return mce_builder.make_assertion_urn(mce_builder.datahub_guid({"data_product_port": port_id, "assertion": "freshness"}))


def freshness_incident_urn(port_id: str, stale_since: str) -> str:
    """One incident per stale period of a port, keyed by the publication it went stale after: the
    checker raises it once, and a lost ledger can only rewrite it, never duplicate it."""
    return str(
        IncidentUrn(mce_builder.datahub_guid({"data_product_port": port_id, "incident": "stale", "stale_since": stale_since}))
    )


def data_process_instance_id(dag_id: str, run_id: str, try_number: int) -> str:
    return f"dataproducts:{dag_id}:{run_id}:{try_number}"


def data_process_instance_urn(dag_id: str, run_id: str, try_number: int, plugin: PluginConfig = PLUGIN_DEFAULTS) -> str:
    """Same key scheme as DataProcessInstance.from_datajob(<the build job>, id=...).urn (cluster, orchestrator, id)."""
    key = DataProcessInstanceKey(
        cluster=plugin.cluster, orchestrator=AIRFLOW_ORCHESTRATOR, id=data_process_instance_id(dag_id, run_id, try_number)
    )
    return str(DataProcessInstanceUrn(key.guid()))
