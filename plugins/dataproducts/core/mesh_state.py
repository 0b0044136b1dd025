"""The key of the mesh's inputs as they are now, and the cache folder named by it.

A domain DAG file's process asks this first, every parse (every 30 seconds per file), to learn
whether the mesh it validated before still holds: so it imports no spec model and reads no spec.
The key is the exact state of every input: each spec's, dbt project's and manifest's path, size,
modification time and inode, the settings that bound loading (max_spec_bytes) and the naming
rules, the core's own source files, and the day (a deprecated port's sunset turns its readers'
warnings into errors). Any change gives a new key, so a new folder (see mesh_cache, dag_plans).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from dataproducts.core import deprecation, naming_rules, settings
from dataproducts.core.project import Project

FORMAT = 4  # of what the folder holds (mesh_cache's slices): a new format, a new folder


def state_folder(project: Project) -> Path:
    """Where the slices of the inputs' present state are (or will be) kept; a new state, a new folder."""
    return project.state_dir / "cache" / f"mesh-{fingerprint(project)}"


def fingerprint(project: Project) -> str:
    lines = [f"{FORMAT}|{project.root.resolve()}|max_spec_bytes={settings.get('max_spec_bytes')}|today={deprecation.today()}"]
    lines.append(f"naming={naming_rules.fingerprint()}")
    lines += _states(_files_two_deep(project.specs_dir))
    for dbt_project in _dbt_projects(project.dbt_dir):
        lines += _states([os.path.join(dbt_project, "dbt_project.yml"), os.path.join(dbt_project, "target", "manifest.json")])
    lines.append(_code_state())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:24]


def slice_file_name(domain: str) -> str:
    """Domains are folder names, which may hold any character: a file is named by a digest."""
    return hashlib.sha256(domain.encode()).hexdigest()[:20]


def _files_two_deep(top: Path) -> list[str]:
    """Every file at <top>/<folder>/<file> (a superset of the spec files: any change there counts)."""
    try:
        folders = sorted(entry.path for entry in os.scandir(top) if entry.is_dir())
    except OSError:
        return [str(top)]
    files = []
    for folder in folders:
        try:
            files += sorted(entry.path for entry in os.scandir(folder))
        except OSError:  # unreadable: the loader reports it
            files.append(folder)
    return files


def _dbt_projects(top: Path) -> list[str]:
    """The folders <top>/<project> (one without a dbt_project.yml counts as its two files missing)."""
    try:
        return sorted(entry.path for entry in os.scandir(top) if entry.is_dir())
    except OSError:
        return []


def _states(paths: list[str]) -> list[str]:
    lines = []
    for path in paths:
        try:
            stat = os.stat(path)
            lines.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}")
        except OSError:  # gone, a dangling link or a link loop: the loader reports it
            lines.append(f"{path}:missing")
    return lines


@functools.cache
def _code_state() -> str:
    """The core's source files as this process found them: the code that validated is the code that runs."""
    return "\n".join(_states(sorted(str(p) for p in Path(__file__).parent.glob("*.py"))))
