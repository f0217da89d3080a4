"""The platform catalog: platforms as data files, and the lookups every stage needs."""

from reachwatch.catalog._catalog import (
    Catalog,
    CatalogError,
    Host,
    Platform,
    load_catalog,
    platform_for_host,
)

__all__ = ["Catalog", "CatalogError", "Host", "Platform", "load_catalog", "platform_for_host"]
