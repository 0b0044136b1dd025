"""Where a dataproducts project keeps its parts, and the settings read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

WAREHOUSE_POOL = "dataproducts_warehouse"


@dataclass(frozen=True)
class Project:
    root: Path

    @classmethod
    def from_env(cls, default: Path | None = None) -> "Project":
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
        path = (self.dbt_dir / name).resolve()
        if self.dbt_dir.resolve() not in path.parents:
            raise ValueError(f"dbt project '{name}' would be outside {self.dbt_dir}")
        return path

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
