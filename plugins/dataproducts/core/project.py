"""Where a dataproducts project keeps its parts, and the settings read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

WAREHOUSE_POOL = "dataproducts_warehouse"


@lru_cache(maxsize=256)
def _inside(folder: Path, name: str) -> Path:
    """folder/name, refusing any name that would lead out of folder."""
    path = (folder / name).resolve()
    if folder.resolve() not in path.parents:
        raise ValueError(f"'{name}' would be outside {folder}")
    return path


@dataclass(frozen=True)
class Project:
    root: Path

    @classmethod
    def from_env(cls, default: Path | None = None) -> Project:
        """DATAPRODUCTS_HOME, else the given default, else the working directory."""
        home = os.environ.get("DATAPRODUCTS_HOME")
        return cls(Path(home) if home else (default or Path.cwd()))

    @property
    def specs_dir(self) -> Path:
        return self.root / "product_specs"

    @property
    def dbt_dir(self) -> Path:
        return self.root / "dbt"

    def dbt_project_dir(self, name: str) -> Path:
        return _inside(self.dbt_dir, name)

    def manifest_path(self, dbt_project: str) -> Path:
        return self.dbt_project_dir(dbt_project) / "target" / "manifest.json"

    @property
    def state_dir(self) -> Path:
        """Local, uncommitted state of the embedded default (warehouse, outbox, run artifacts)."""
        return Path(os.environ.get("DATAPRODUCTS_STATE_DIR", self.root / ".local"))

    @property
    def dbt_target(self) -> str:
        return os.environ.get("DATAPRODUCTS_DBT_TARGET", "duckdb")

    @property
    def warehouse_pool(self) -> str:
        return os.environ.get("DATAPRODUCTS_WAREHOUSE_POOL", WAREHOUSE_POOL)
