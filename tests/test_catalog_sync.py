"""The catalogue follows the specs, before any run: new and changed specs are published, a
deleted spec's product is marked removed, a broken spec keeps its last good metadata."""

from __future__ import annotations

import pytest
import yaml

from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.metadata import delivery, urns
from dataproducts.metadata.catalog_sync import sync_catalog
from dataproducts.metadata.sinks import open_lite


@pytest.fixture
def project(project_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    return Project(project_copy)


def sync_and_flush(project):
    report = sync_catalog(load_mesh(project), "rev-1", "http://airflow.example")
    assert delivery.flush(project).remaining_batches == 0
    return report


def aspects(project, urn):
    lite = open_lite(project.state_dir / "datahub" / "lite.db", read_only=True)
    try:
        return lite.get(urn, None) or {}
    finally:
        lite.close()


def test_specs_reach_the_catalogue_and_follow_changes(project):
    first = sync_and_flush(project)
    mesh = load_mesh(project)
    assert first.published == sorted(mesh.products)
    product = aspects(project, urns.data_product_urn("pricing.market_prices"))
    assert product["dataProductProperties"]["externalUrl"] == "http://airflow.example/dags/pricing.market_prices"
    assert product["dataProductProperties"]["customProperties"]["git_revision"] == "rev-1"
    assert product["status"] == {"removed": False}
    assert sync_and_flush(project).published == [], "unchanged specs are not sent again"

    spec_path = project.specs_dir / "pricing" / "market_prices.yaml"
    document = yaml.safe_load(spec_path.read_text())
    document["version"] = "1.1.0"
    spec_path.write_text(yaml.safe_dump(document))
    assert sync_and_flush(project).published == ["pricing.market_prices"]
    product = aspects(project, urns.data_product_urn("pricing.market_prices"))
    assert product["dataProductProperties"]["customProperties"]["spec_version"] == "1.1.0"


def test_deleted_spec_is_marked_removed_and_broken_spec_keeps_its_metadata(project):
    sync_and_flush(project)
    (project.specs_dir / "advertising" / "promotion_candidates.yaml").unlink()
    broken = project.specs_dir / "user_behaviour" / "listing_engagement.yaml"
    broken.write_text(broken.read_text().replace("version:", "versoin:", 1))

    report = sync_and_flush(project)

    assert report.removed == ["advertising.promotion_candidates"]
    assert report.kept_broken == ["user_behaviour.listing_engagement"]
    assert aspects(project, urns.data_product_urn("advertising.promotion_candidates"))["status"] == {"removed": True}
    assert aspects(project, urns.data_product_urn("user_behaviour.listing_engagement"))["status"] == {"removed": False}


def test_a_product_whose_catalogue_batch_was_quarantined_is_sent_again(project):
    from dataproducts.metadata.outbox import safe_label

    sync_catalog(load_mesh(project), "rev-1", "http://airflow.example")
    outbox = delivery.outbox_for(project)
    (torn,) = [b for b in outbox.pending() if b.label == safe_label("catalog-pricing.market_prices")]
    torn.path.write_bytes(torn.path.read_bytes()[:100])  # disk trouble: it can never be read back
    flushed = delivery.flush(project)
    assert flushed.quarantined == 1 and [q.name for q in flushed.quarantine] == [torn.name]
    assert aspects(project, urns.data_product_urn("pricing.market_prices")) == {}

    again = sync_and_flush(project)
    assert again.published == ["pricing.market_prices"], "its digest was remembered, but it never arrived"
    assert aspects(project, urns.data_product_urn("pricing.market_prices"))["dataProductProperties"]["name"] == "Market prices"
    assert sync_and_flush(project).published == [], "delivered now: unchanged again, though the torn batch stays quarantined"
