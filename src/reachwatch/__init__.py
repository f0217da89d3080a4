"""reachwatch: an open observatory for platform suspensions.

The public API is re-exported here; modules behind it are private unless named below.
"""

from reachwatch.catalog import Catalog, Platform, load_catalog, platform_for_host
from reachwatch.classify.verdicts import (
    LAYERS,
    TECHNIQUES,
    Classified,
    LayerVerdict,
    Observation,
)
from reachwatch.errors import EnvironmentMissing, ReachwatchError

__version__ = "0.1.0"

__all__ = [
    "LAYERS",
    "TECHNIQUES",
    "Catalog",
    "Classified",
    "EnvironmentMissing",
    "LayerVerdict",
    "Observation",
    "Platform",
    "ReachwatchError",
    "__version__",
    "load_catalog",
    "platform_for_host",
]
