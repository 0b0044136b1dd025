"""A deprecated product or output port in DataHub: the SDK's Deprecation aspect on the data product
or the port's dataset, with the sunset as its decommission time and the replacement's URN."""

from __future__ import annotations

import datetime
import logging
from typing import Optional

from datahub.metadata import schema_classes as models

from dataproducts.core.mesh import Mesh
from dataproducts.core.spec import Deprecation
from dataproducts.metadata import urns
from dataproducts.metadata.aspects import ACTOR
from dataproducts.metadata.datasets import product_datasets

log = logging.getLogger(__name__)


def decommission_time_ms(sunset: datetime.date) -> int:
    """The first moment reads are errors: midnight UTC after the sunset day."""
    after = datetime.datetime.combine(sunset + datetime.timedelta(days=1), datetime.time(), datetime.UTC)
    return int(after.timestamp() * 1000)


def deprecation_aspect(deprecation: Deprecation, replacement_urn: Optional[str]) -> models.DeprecationClass:
    words = [f"Sunset {deprecation.sunset.isoformat()}: reading it after that day breaks the reader's spec."]
    if deprecation.replacement:
        words.append(f"Read {deprecation.replacement} instead.")
    if deprecation.note:
        words.append(" ".join(deprecation.note.split()))
    return models.DeprecationClass(
        deprecated=True,
        note=" ".join(words),
        actor=ACTOR,
        decommissionTime=decommission_time_ms(deprecation.sunset),
        replacement=replacement_urn,
    )


def replacement_urn(mesh: Mesh, reference: Optional[str]) -> Optional[str]:
    """'<product>.<port>' -> the port's dataset URN; '<product>' (or a port that cannot be resolved
    now, e.g. its spec is broken) -> the data product's URN; None without a replacement."""
    if not reference:
        return None
    parts = reference.split(".")
    product = ".".join(parts[:2])
    if len(parts) == 3 and product in mesh.products:
        try:
            outputs = product_datasets(mesh, product).outputs
        except (KeyError, ValueError) as exc:
            log.warning("replacement %s: its dataset is unknown (%s); naming the data product instead", reference, exc)
        else:
            found = next((o.urn for o in outputs if o.port.name == parts[2]), None)
            if found:
                return found
    return urns.data_product_urn(product)
