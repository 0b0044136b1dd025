"""Where a dataproducts project keeps its parts (its knobs are in settings)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dataproducts.core import settings


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
        """The `home` setting, else the given default, else the working directory."""
        home = settings.get("home")
        return cls(Path(home) if home else (default or Path.cwd()))

    @property
    def specs_dir(self) -> Path:
        return self.root / "product_specs"

    @property
    def dags_dir(self) -> Path:
        return self.root / "dags"

    def spec_domains(self) -> list[str]:
        """Every domain folder of product_specs/ that holds at least one spec file."""
        if not self.specs_dir.is_dir():
            return []
        return sorted(d.name for d in self.specs_dir.iterdir() if d.is_dir() and any(d.glob("*.yaml")))

    def domain_dag_file(self, domain: str) -> Path:
        return _inside(self.dags_dir, f"{domain}.py")

    def domains_without_dag_file(self) -> list[str]:
        """Domain folders that have no `dags/<domain>.py` yet: the shared loader file builds their DAGs."""
        return [d for d in self.spec_domains() if not self.domain_dag_file(d).is_file()]

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
        configured = settings.get("state_dir")
        return Path(configured) if configured else self.root / ".local"

    @property
    def dbt_target(self) -> str:
        return settings.get("dbt_target")

    @property
    def warehouse_role_prefix(self) -> str | None:
        """On a warehouse with roles (the postgres target), each domain's dbt runs as
        `<prefix><domain>` (core/warehouse_access.py); None on the embedded DuckDB."""
        if self.dbt_target != "postgres":
            return None
        return settings.get("pg_role_prefix")

    @property
    def warehouse_pool(self) -> str:
        return settings.get("warehouse_pool")
