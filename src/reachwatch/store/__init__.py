"""The embedded store: DuckDB over a Parquet layout partitioned by date and country.

Readers call `open_store`; `reachwatch ingest` writes through `StoreWriter`.
The layout and columns are documented in docs/store-schema.md.
"""

from reachwatch.store._open import DEFAULT_DB, open_store
from reachwatch.store._writer import StoreWriter, id_hash
from reachwatch.store.schema import (
    MEASUREMENTS_COLUMNS,
    OBSERVATIONS_COLUMNS,
    RAW_COLUMNS,
    TABLES,
)

__all__ = [
    "DEFAULT_DB",
    "MEASUREMENTS_COLUMNS",
    "OBSERVATIONS_COLUMNS",
    "RAW_COLUMNS",
    "TABLES",
    "StoreWriter",
    "id_hash",
    "open_store",
]
