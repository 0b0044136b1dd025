"""The quality score in DataHub: structured properties on the data product (DataHub 1.7's typed,
searchable properties), built with the SDK's own classes.

Two kinds of MCPs: the property definitions (one `urn:li:structuredProperty:dataproducts.quality_score`
for the total and one per part, numbers, on data products; sent with every score, an idempotent
upsert), and the product's `structuredProperties` aspect with the values (the total out of 100,
each part's points; a part without facts has no value). The aspect is written whole: other
structured properties set on a data product by hand are replaced by these.
"""

from __future__ import annotations

from datahub.api.entities.structuredproperties.structuredproperties import StructuredProperties
from datahub.emitter.mcp import MetadataChangeProposalWrapper as MCPW
from datahub.metadata import schema_classes as models

from dataproducts.core.quality_score import WEIGHTS, Score
from dataproducts.metadata import urns

TOTAL = "dataproducts.quality_score"


def part_property(name: str) -> str:
    return f"{TOTAL}.{name}"


def definition_mcps() -> list[MCPW]:
    """The structured properties the score fills in, defined once per property (idempotent)."""
    definitions = [
        StructuredProperties(
            id=TOTAL,
            qualified_name=TOTAL,
            display_name="Quality score",
            type="number",
            description="The data product's quality score out of 100, from facts (see the dataproducts README).",
            entity_types=["dataProduct"],
            cardinality="SINGLE",
        )
    ]
    definitions += [
        StructuredProperties(
            id=part_property(name),
            qualified_name=part_property(name),
            display_name=f"Quality score: {name.replace('_', ' ')}",
            type="number",
            description=f"Points of the quality score's part '{name}' (out of {weight}).",
            entity_types=["dataProduct"],
            cardinality="SINGLE",
        )
        for name, weight in WEIGHTS.items()
    ]
    return [mcp for d in definitions for mcp in d.generate_mcps()]


def score_mcps(result: Score) -> list[MCPW]:
    """The product's values (send definition_mcps() with them)."""
    values = [(TOTAL, float(result.total))] + [(part_property(p.name), p.points) for p in result.parts if p.points is not None]
    aspect = models.StructuredPropertiesClass(
        properties=[
            models.StructuredPropertyValueAssignmentClass(propertyUrn=f"urn:li:structuredProperty:{key}", values=[float(value)])
            for key, value in values
        ]
    )
    return [MCPW(entityUrn=urns.data_product_urn(result.product_id), aspect=aspect)]
