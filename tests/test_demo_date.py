"""The demo's business date, unless told: the day on which most landing tables have their newest rows."""

from __future__ import annotations

import datetime as dt
import importlib.util

from dataproducts.cli import main
from dataproducts.core.project import Project
from dataproducts.ops import demo


def landing_table(root, name: str, header: str, *rows: str, folder: str = "seeds") -> None:
    path = root / "dbt" / "landing" / folder / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")


def test_the_example_demo_builds_the_last_day_its_landing_data_was_generated_for(compiled_repo):
    spec = importlib.util.spec_from_file_location("generate_seeds", compiled_repo / "dbt" / "landing" / "generate_seeds.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)  # type: ignore[union-attr]

    assert demo.default_business_date(Project(compiled_repo)) == generator.days()[-1].isoformat()


def test_another_mesh_gets_the_day_most_of_its_landing_tables_end_on(tmp_path):
    (tmp_path / "dbt" / "landing").mkdir(parents=True)
    (tmp_path / "dbt" / "landing" / "dbt_project.yml").write_text("name: landing\nseed-paths: ['data']\n")
    days = [f"2027-03-0{d}" for d in range(1, 6)]
    landing_table(tmp_path, "orders", "id,ordered_at", *(f"{i},{d} 10:1{i}:00" for i, d in enumerate(days)), folder="data")
    landing_table(tmp_path, "payments", "id,paid_on,amount", *(f"{i},{d},9.50" for i, d in enumerate(days)), folder="data")
    landing_table(tmp_path, "contracts", "id,start_date,end_date", "1,2027-03-01,2027-12-31", folder="data")  # runs on
    landing_table(tmp_path, "customers", "id,updated_at,note", "1,2026-01-05T08:00:00,2027-99-01 is no date", folder="data")
    landing_table(tmp_path, "ignored", "id,day", "1,2028-01-01")  # not in the project's seed-paths

    assert demo.default_business_date(Project(tmp_path)) == "2027-03-05"


def test_without_dated_landing_data_the_demo_builds_yesterday(tmp_path):
    landing_table(tmp_path, "dealers", "id,name", "1,Autohaus")
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)

    assert demo.default_business_date(Project(tmp_path)) in {yesterday.isoformat(), dt.datetime.now(dt.UTC).date().isoformat()}


def test_the_demo_command_takes_the_derived_date_unless_given_one(project_copy, monkeypatch):
    landing_table(project_copy, "raw_late_events", "id,event_ts", "1,2026-11-07 09:00:00", "2,2026-11-09 09:00:00")
    asked = []
    monkeypatch.setattr(demo, "run_demo", lambda project, business_date, *rest: asked.append(business_date) or 0)

    assert main(["--root", str(project_copy), "demo"]) == 0
    assert main(["--root", str(project_copy), "demo", "--business-date", "2026-11-02"]) == 0
    assert asked == [demo.default_business_date(Project(project_copy)), "2026-11-02"]
    assert asked[0] == "2026-11-07", "the day most tables end on, not the one late table's last"
