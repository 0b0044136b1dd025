"""A structural fingerprint of the DAGs Airflow gets from a folder, to prove that every variant of
the benchmark produces the same DAGs: ids, tasks and their order, schedules (the timetable with
its assets), inlets and outlets, owners, tags, pools, teardown flags, docs and the trigger form's
params (defaults, descriptions and JSON schemas: Airflow validates them at every parse).

Run as a script in a fresh process: `python fingerprint.py <dags folder>` prints JSON with the
digest, the number of DAGs, the import errors and one canonical line per DAG.
"""

from __future__ import annotations

import hashlib
import json
import sys

DAG_FACTORY_TAG = "dagfactory"  # dag-factory tags every DAG it makes
DAG_FACTORY_DOCS = "\n## YML DAG\n"  # and appends its YAML to the DAG's docs


def schedule_text(timetable) -> str:
    """The timetable with its assets; the plugin's own hybrid timetable has no telling repr, so its
    serialized form (cron and asset condition) stands for it."""
    if type(timetable).__name__ == "PartitionedAssetOrCronTimetable":
        return "PartitionedAssetOrCronTimetable" + json.dumps(timetable.serialize(), sort_keys=True, default=str)
    return repr(timetable)


def params_of(dag) -> dict:
    return {name: {"default": p.value, "description": p.description, "schema": p.schema} for name, p in dag.params.items()}


def dag_line(dag) -> str:
    doc = dag.doc_md or ""
    if DAG_FACTORY_DOCS in doc:
        doc = doc.split(DAG_FACTORY_DOCS, 1)[0]
    tasks = []
    for task_id in sorted(dag.task_dict):
        t = dag.task_dict[task_id]
        tasks.append(
            {
                "id": task_id,
                "up": sorted(t.upstream_task_ids),
                "pool": t.pool,
                "owner": t.owner,
                "retries": t.retries,
                "teardown": bool(t.is_teardown),
                "trigger_rule": str(t.trigger_rule),
                "inlets": [repr(a) for a in t.inlets],
                "outlets": [repr(a) for a in t.outlets],
                "doc_md": t.doc_md,
            }
        )
    return json.dumps(
        {
            "dag_id": dag.dag_id,
            "schedule": schedule_text(dag.timetable),
            "tags": sorted(set(dag.tags) - {DAG_FACTORY_TAG}),
            "owner_links": dict(dag.owner_links or {}),
            "description": dag.description,
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "doc_md": hashlib.sha256(doc.encode()).hexdigest()[:16],
            "params": params_of(dag),
            "tasks": tasks,
        },
        sort_keys=True,
    )


def fingerprint(folder: str) -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=folder)
    lines = sorted(dag_line(dag) for dag in bag.dags.values())
    return {
        "digest": hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16],
        "dags": len(lines),
        "import_errors": {k: v[-500:] for k, v in bag.import_errors.items()},
        "lines": lines,
    }


if __name__ == "__main__":
    print(json.dumps(fingerprint(sys.argv[1])))
