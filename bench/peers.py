"""The same DAGs written the ways peers write them: hand-written static files, dag-factory YAML,
and a naive YAML factory.

Everything here is derived from the DAGs the dataproducts factory builds for a generated project
(`describe` reads the built DAG objects), so the peers always express exactly what dataproducts
expresses; `fingerprint.py` then checks that Airflow really gets the same DAGs from every variant.
Task callables are the same tiny functions for every peer (`bench_callables.py`), so a peer pays
for no import that its own DAGs do not need.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml

CALLABLES = '''"""Task callables shared by the peer variants (the benchmark never runs them)."""

from airflow.providers.standard.operators.python import PythonOperator


def build(product_id):
    return {"product_id": product_id}


def publish(product_id):
    return [product_id]


def emit_metadata(product_id):
    return None


class TeardownPythonOperator(PythonOperator):
    """dag-factory has no teardown flag; a subclass is how its users get one."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.as_teardown()
'''

NAIVE_FACTORY = '''"""A naive YAML factory: what a team writes in an afternoon (no validation, no isolation)."""

import datetime

import yaml
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset, AssetAll, AssetAny, CronPartitionTimetable, Param, PartitionedAssetTimetable

import bench_callables

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _asset(item):
    return Asset(name=item["name"], uri=item["uri"], group=item["group"], extra=item["extra"])


def _cron(item):
    return CronPartitionTimetable(
        item["cron"],
        timezone=item["timezone"],
        run_offset=item["run_offset"],
        key_format=item["key_format"],
        run_immediately=datetime.timedelta(seconds=item["run_immediately_s"]),
    )


def _schedule(item):
    if item is None:
        return None
    if not item.get("assets"):
        return _cron(item)
    assets = [_asset(a) for a in item["assets"]]
    condition = AssetAny(*assets) if item["trigger"] == "any" else AssetAll(*assets)
    if item.get("cron"):  # the plugin's own timetable, as the platform registers it
        from airflow.timetables.trigger import CronPartitionTimetable as CoreCron
        from dataproducts.airflow.schedules import PartitionedAssetOrCronTimetable

        cron = CoreCron(
            item["cron"],
            timezone=item["timezone"],
            run_offset=item["run_offset"],
            key_format=item["key_format"],
            run_immediately=datetime.timedelta(seconds=item["run_immediately_s"]),
        )
        return PartitionedAssetOrCronTimetable(cron=cron, assets=condition)
    return PartitionedAssetTimetable(assets=condition)  # the identity mapper by default


def build_dags(path):
    with open(path, encoding="utf-8") as handle:
        config = yaml.load(handle, Loader=Loader)
    dags = {}
    for item in config["dags"]:
        with DAG(
            dag_id=item["dag_id"],
            description=item["description"],
            schedule=_schedule(item["schedule"]),
            catchup=False,
            max_active_runs=item["max_active_runs"],
            tags=item["tags"],
            owner_links=item["owner_links"],
            default_args={"owner": item["owner"], "retries": item["retries"]},
            doc_md=item["doc_md"],
            params={k: Param(p["default"], description=p["description"], schema=p["schema"]) for k, p in item["params"].items()},
        ) as dag:
            previous = None
            for task in item["tasks"]:
                operator = PythonOperator(
                    task_id=task["task_id"],
                    python_callable=getattr(bench_callables, task["task_id"]),
                    op_kwargs={"product_id": item["dag_id"]},
                    pool=task["pool"],
                    inlets=[_asset(a) for a in task["inlets"]],
                    outlets=[_asset(a) for a in task["outlets"]],
                    doc_md=task["doc_md"],
                )
                if task["teardown"]:
                    operator = operator.as_teardown()
                if previous is not None:
                    previous >> operator
                previous = operator
        dags[item["dag_id"].replace(".", "__")] = dag
    return dags
'''

NAIVE_DAG_FILE = '''"""Airflow DAGs of {domain}, from {domain}.yaml by the naive factory."""

from pathlib import Path

from naive_factory import build_dags

globals().update(build_dags(Path(__file__).with_name("{domain}.yaml")))
'''

DAG_FACTORY_DAG_FILE = '''"""Airflow DAGs of {domain}, from {domain}.yml by dag-factory."""

from pathlib import Path

from dagfactory import load_yaml_dags

load_yaml_dags(globals_dict=globals(), config_filepath=str(Path(__file__).with_name("{domain}.yml")))
'''

HAND_HEADER = '''"""Hand-written Airflow DAGs: {what}."""

import datetime

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset, AssetAll, AssetAny, CronPartitionTimetable, IdentityMapper, Param, PartitionedAssetTimetable

from bench_callables import build, emit_metadata, publish
{hybrid_imports}'''

# A product with a cron and inputs has the plugin's own timetable (registered by the plugin, as any
# custom timetable must be): the peers import it as a team writing these DAGs by hand would.
HYBRID_IMPORTS = (
    "from airflow.timetables.trigger import CronPartitionTimetable as CoreCronPartitionTimetable\n"
    "from dataproducts.airflow.schedules import PartitionedAssetOrCronTimetable\n"
)

SDK_CLASSES = ("Asset", "AssetAll", "AssetAny", "CronPartitionTimetable", "IdentityMapper", "PartitionedAssetTimetable")


# --------------------------------------------------------------------------------------------
# what a DAG is, independent of how it was written
# --------------------------------------------------------------------------------------------


def describe(dag) -> dict[str, Any]:
    """The parts of a built DAG that every variant must express (see fingerprint.py)."""
    tasks = [dag.task_dict[t] for t in _task_order(dag)]
    owners = {t.owner for t in tasks}
    retries = {t.retries for t in tasks}
    if len(owners) != 1 or len(retries) != 1:
        raise ValueError(f"{dag.dag_id}: tasks with different owners or retries are not supported by the peers")
    return {
        "dag_id": dag.dag_id,
        "description": dag.description,
        "schedule": dag.schedule,
        "max_active_runs": dag.max_active_runs,
        "tags": sorted(dag.tags),
        "owner_links": dict(dag.owner_links or {}),
        "owner": owners.pop(),
        "retries": retries.pop(),
        "doc_md": dag.doc_md,
        "params": {
            name: {"default": p.value, "description": p.description, "schema": p.schema} for name, p in dag.params.items()
        },
        "tasks": [
            {
                "task_id": t.task_id,
                "pool": t.pool,
                "inlets": list(t.inlets),
                "outlets": list(t.outlets),
                "doc_md": t.doc_md,
                "teardown": bool(t.is_teardown),
            }
            for t in tasks
        ],
    }


def _task_order(dag) -> list[str]:
    """Task ids in a chain (every product DAG is a chain); refuses anything else."""
    roots = [t for t in dag.tasks if not t.upstream_task_ids]
    if len(roots) != 1:
        raise ValueError(f"{dag.dag_id}: not a chain of tasks")
    order = [roots[0].task_id]
    while True:
        down = sorted(dag.task_dict[order[-1]].downstream_task_ids)
        if not down:
            break
        if len(down) != 1:
            raise ValueError(f"{dag.dag_id}: not a chain of tasks")
        order.append(down[0])
    if len(order) != len(dag.tasks):
        raise ValueError(f"{dag.dag_id}: not a chain of tasks")
    return order


# --------------------------------------------------------------------------------------------
# hand-written Python
# --------------------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    """The SDK class a value stands for: the core timetable under the hybrid one holds Airflow's
    serialized assets (SerializedAsset, SerializedAssetAny, ...), the SDK's are plain."""
    return type(value).__name__.removeprefix("Serialized")


def _hybrid(schedule: Any) -> bool:
    from dataproducts.airflow.schedules import PartitionedAssetOrCronTimetable

    return isinstance(schedule, PartitionedAssetOrCronTimetable)


def _hybrid_imports(dags: list[dict[str, Any]]) -> str:
    return HYBRID_IMPORTS if any(_hybrid(d["schedule"]) for d in dags) else ""


def _core_cron(cron: Any) -> tuple[str, dict[str, Any]]:
    """The hybrid timetable's cron (Airflow's core CronPartitionTimetable): its expression and arguments."""
    data = cron.serialize()
    arguments = {k: data[k] for k in ("timezone", "run_offset", "key_format")}
    return data["expression"], {**arguments, "run_immediately": dt.timedelta(seconds=data["run_immediately"])}


def python_literal(value: Any) -> str:
    """Python source for the values a DAG holds (SDK assets and timetables included)."""
    from airflow.sdk import Asset, AssetAll, AssetAny, CronPartitionTimetable, IdentityMapper, PartitionedAssetTimetable

    if _hybrid(value):
        expression, arguments = _core_cron(value.cron)
        cron = (
            f"CoreCronPartitionTimetable({expression!r}, "
            + ", ".join(f"{k}={python_literal(v)}" for k, v in arguments.items())
            + ")"
        )
        return f"PartitionedAssetOrCronTimetable(cron={cron}, assets={python_literal(value.asset_condition)})"
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, dt.timedelta):
        return f"datetime.timedelta(seconds={value.total_seconds()!r})"
    if isinstance(value, list):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Asset) or _kind(value) == "Asset":
        return f"Asset(name={value.name!r}, uri={value.uri!r}, group={value.group!r}, extra={python_literal(value.extra)})"
    if isinstance(value, (AssetAll, AssetAny)) or _kind(value) in ("AssetAll", "AssetAny"):
        return f"{_kind(value)}(" + ", ".join(python_literal(o) for o in value.objects) + ")"
    if isinstance(value, PartitionedAssetTimetable) and _identity_only(value):
        return f"PartitionedAssetTimetable(assets={python_literal(value.asset_condition)}, default_partition_mapper=IdentityMapper())"
    if isinstance(value, CronPartitionTimetable):
        return (
            f"CronPartitionTimetable({value.expression!r}, timezone={_timezone_name(value.timezone)!r}, "
            f"run_offset={value.run_offset!r}, key_format={value.key_format!r}, run_immediately={python_literal(value.run_immediately)})"
        )
    if isinstance(value, IdentityMapper):
        return "IdentityMapper()"
    raise TypeError(f"the peers cannot express {type(value).__name__} yet: {value!r}")


def _identity_only(timetable) -> bool:
    """The partitioned assets the dataproducts factory writes: the identity mapper for every asset."""
    return not timetable.partition_mapper_config and type(timetable.default_partition_mapper).__name__ == "IdentityMapper"


def _timezone_name(timezone) -> str:
    return timezone if isinstance(timezone, str) else timezone.name


def hand_written_dag(d: dict[str, Any], var: str) -> str:
    callables = {"build": "build", "publish": "publish", "emit_metadata": "emit_metadata"}
    lines = [
        "",
        "",
        "with DAG(",
        f"    dag_id={d['dag_id']!r},",
        f"    description={d['description']!r},",
        f"    schedule={python_literal(d['schedule'])},",
        "    catchup=False,",
        f"    max_active_runs={d['max_active_runs']!r},",
        f"    tags={d['tags']!r},",
        f"    owner_links={d['owner_links']!r},",
        f"    default_args={{'owner': {d['owner']!r}, 'retries': {d['retries']!r}}},",
        f"    doc_md={d['doc_md']!r},",
        f"    params={hand_written_params(d['params'])},",
        f") as {var}:",
    ]
    names = []
    for i, t in enumerate(d["tasks"]):
        name = f"t{i}"
        names.append(name)
        call = (
            f"    {name} = PythonOperator(task_id={t['task_id']!r}, python_callable={callables[t['task_id']]}, "
            f"op_kwargs={{'product_id': {d['dag_id']!r}}}, pool={t['pool']!r}, inlets={python_literal(t['inlets'])}, "
            f"outlets={python_literal(t['outlets'])}, doc_md={t['doc_md']!r})"
        )
        lines.append(call + (".as_teardown()" if t["teardown"] else ""))
    lines.append("    " + " >> ".join(names))
    return "\n".join(lines) + "\n"


def hand_written_params(params: dict[str, dict]) -> str:
    items = [
        f"{name!r}: Param({p['default']!r}, description={p['description']!r}, schema={p['schema']!r})"
        for name, p in params.items()
    ]
    return "{" + ", ".join(items) + "}"


def write_hand_written(dags: list[dict[str, Any]], by_domain: dict[str, list[dict]], one_per_dag: Path, per_domain: Path) -> None:
    one_per_dag.mkdir(parents=True)
    per_domain.mkdir(parents=True)
    for d in dags:
        (one_per_dag / f"{d['dag_id']}.py").write_text(
            HAND_HEADER.format(what=d["dag_id"], hybrid_imports=_hybrid_imports([d])) + hand_written_dag(d, "dag")
        )
    for domain, items in by_domain.items():
        body = "".join(hand_written_dag(d, d["dag_id"].replace(".", "__")) for d in items)
        (per_domain / f"{domain}.py").write_text(
            HAND_HEADER.format(what=f"the {len(items)} DAGs of {domain}", hybrid_imports=_hybrid_imports(items)) + body
        )


# --------------------------------------------------------------------------------------------
# dag-factory YAML (its `__type__` objects) and the naive factory's YAML
# --------------------------------------------------------------------------------------------


def dag_factory_object(value: Any) -> Any:
    from airflow.sdk import Asset, AssetAll, AssetAny, CronPartitionTimetable, PartitionedAssetTimetable

    if _hybrid(value):
        expression, arguments = _core_cron(value.cron)
        return {
            "__type__": "dataproducts.airflow.schedules.PartitionedAssetOrCronTimetable",
            "cron": {
                "__type__": "airflow.timetables.trigger.CronPartitionTimetable",
                "__args__": [expression],
                **{k: dag_factory_object(v) for k, v in arguments.items()},
            },
            "assets": dag_factory_object(value.asset_condition),
        }
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dt.timedelta):
        return {"__type__": "datetime.timedelta", "seconds": value.total_seconds()}
    if isinstance(value, list):
        return [dag_factory_object(v) for v in value]
    if isinstance(value, Asset) or _kind(value) == "Asset":
        return {
            "__type__": "airflow.sdk.Asset",
            "name": value.name,
            "uri": value.uri,
            "group": value.group,
            "extra": dict(value.extra),
        }
    if isinstance(value, (AssetAll, AssetAny)) or _kind(value) in ("AssetAll", "AssetAny"):
        return {"__type__": f"airflow.sdk.{_kind(value)}", "__args__": [dag_factory_object(o) for o in value.objects]}
    if isinstance(value, PartitionedAssetTimetable) and _identity_only(value):
        return {
            "__type__": "airflow.sdk.PartitionedAssetTimetable",
            "assets": dag_factory_object(value.asset_condition),
            "default_partition_mapper": {"__type__": "airflow.sdk.IdentityMapper"},
        }
    if isinstance(value, CronPartitionTimetable):
        return {
            "__type__": "airflow.sdk.CronPartitionTimetable",
            "__args__": [value.expression],
            "timezone": _timezone_name(value.timezone),
            "run_offset": value.run_offset,
            "key_format": value.key_format,
            "run_immediately": dag_factory_object(value.run_immediately),
        }
    raise TypeError(f"dag-factory YAML cannot express {type(value).__name__} yet: {value!r}")


def dag_factory_config(d: dict[str, Any]) -> dict[str, Any]:
    tasks = []
    previous = None
    for t in d["tasks"]:
        task = {
            "task_id": t["task_id"],
            "operator": "bench_callables.TeardownPythonOperator"
            if t["teardown"]
            else "airflow.providers.standard.operators.python.PythonOperator",
            "python_callable": f"bench_callables.{t['task_id']}",
            "op_kwargs": {"product_id": d["dag_id"]},
            "pool": t["pool"],
            "doc_md": t["doc_md"],
        }
        if t["inlets"]:
            task["inlets"] = dag_factory_object(t["inlets"])
        if t["outlets"]:
            task["outlets"] = dag_factory_object(t["outlets"])
        if previous:
            task["dependencies"] = [previous]
        previous = t["task_id"]
        tasks.append(task)
    return {
        "description": d["description"],
        "schedule": dag_factory_object(d["schedule"]) if d["schedule"] is not None else "None",
        "catchup": False,
        "max_active_runs": d["max_active_runs"],
        "tags": d["tags"],
        "owner_links": d["owner_links"],
        "default_args": {"owner": d["owner"], "retries": d["retries"]},
        "doc_md": d["doc_md"],
        "params": {
            name: {
                "__type__": "airflow.sdk.Param",
                "__args__": [p["default"]],
                "description": p["description"],
                "schema": p["schema"],
            }
            for name, p in d["params"].items()
        },
        "tasks": tasks,
    }


def naive_schedule(schedule: Any) -> Any:
    from airflow.sdk import CronPartitionTimetable, PartitionedAssetTimetable

    if schedule is None:
        return None
    if _hybrid(schedule):
        expression, arguments = _core_cron(schedule.cron)
        run_immediately = arguments.pop("run_immediately")
        cron = {**arguments, "cron": expression, "run_immediately_s": run_immediately.total_seconds()}
        return {**cron, **_naive_assets(schedule.asset_condition)}
    if isinstance(schedule, CronPartitionTimetable):
        return {
            "cron": schedule.expression,
            "timezone": _timezone_name(schedule.timezone),
            "run_offset": schedule.run_offset,
            "key_format": schedule.key_format,
            "run_immediately_s": schedule.run_immediately.total_seconds(),
        }
    if isinstance(schedule, PartitionedAssetTimetable) and _identity_only(schedule):
        return _naive_assets(schedule.asset_condition)
    raise TypeError(f"the naive factory cannot express {type(schedule).__name__} yet: {schedule!r}")


def _naive_assets(condition) -> dict[str, Any]:
    from airflow.sdk import AssetAny

    return {
        "trigger": "any" if isinstance(condition, AssetAny) or _kind(condition) == "AssetAny" else "all",
        "assets": [_naive_asset(a) for a in condition.objects],
    }


def _naive_asset(asset) -> dict[str, Any]:
    return {"name": asset.name, "uri": asset.uri, "group": asset.group, "extra": dict(asset.extra)}


def naive_config(d: dict[str, Any]) -> dict[str, Any]:
    return {
        **{
            k: d[k]
            for k in ("dag_id", "description", "max_active_runs", "tags", "owner_links", "owner", "retries", "doc_md", "params")
        },
        "schedule": naive_schedule(d["schedule"]),
        "tasks": [
            {
                **t,
                "inlets": [_naive_asset(a) for a in t["inlets"]],
                "outlets": [_naive_asset(a) for a in t["outlets"]],
            }
            for t in d["tasks"]
        ],
    }


def write_yaml_variants(by_domain: dict[str, list[dict]], dag_factory: Path, naive: Path) -> None:
    dag_factory.mkdir(parents=True)
    naive.mkdir(parents=True)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    for domain, items in by_domain.items():
        config = {d["dag_id"]: dag_factory_config(d) for d in items}
        (dag_factory / f"{domain}.yml").write_text(yaml.dump(config, Dumper=dumper, sort_keys=False, width=1000))
        (dag_factory / f"{domain}.py").write_text(DAG_FACTORY_DAG_FILE.format(domain=domain))
        (naive / f"{domain}.yaml").write_text(
            yaml.dump({"dags": [naive_config(d) for d in items]}, Dumper=dumper, sort_keys=False, width=1000)
        )
        (naive / f"{domain}.py").write_text(NAIVE_DAG_FILE.format(domain=domain))


def write_lib(lib: Path) -> None:
    lib.mkdir(parents=True)
    (lib / "bench_callables.py").write_text(CALLABLES)
    (lib / "naive_factory.py").write_text(NAIVE_FACTORY)


def write_peers(project_dags: Path, work: Path) -> dict[str, Path]:
    """Builds the dataproducts DAGs of every domain file in project_dags (in this process) and
    writes the peers under work; returns each variant's DAG folder."""
    import importlib.util

    described: dict[str, list[dict]] = {}
    for path in sorted(project_dags.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"bench_source_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        from airflow.sdk import DAG

        described[path.stem] = [describe(v) for v in vars(module).values() if isinstance(v, DAG)]
    flat = [d for items in described.values() for d in items]
    folders = {
        "hand_one_per_dag": work / "hand_one_per_dag",
        "hand_per_domain": work / "hand_per_domain",
        "dag_factory": work / "dag_factory",
        "naive_yaml": work / "naive_yaml",
    }
    write_hand_written(flat, described, folders["hand_one_per_dag"], folders["hand_per_domain"])
    write_yaml_variants(described, folders["dag_factory"], folders["naive_yaml"])
    (work / "peers.json").write_text(json.dumps({k: str(v) for k, v in folders.items()}))
    return folders
