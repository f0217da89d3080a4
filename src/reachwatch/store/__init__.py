"""The embedded store: DuckDB over a Parquet layout partitioned by date and country.

Readers call `open_store`; `reachwatch ingest` writes through `StoreWriter`, its rows built
where they are judged (`ChunkBuilder`); `check_store` and `repair_store` verify a store and
rebuild its manifest; `compact_store` rewrites it in fewer files. The layout and columns are
documented in docs/store-schema.md.
"""

from reachwatch.store._check import CheckReport, RepairReport, check_store, repair_store
from reachwatch.store._chunk import ChunkBuilder
from reachwatch.store._compact import CompactReport, compact_store
from reachwatch.store._errors import NotAStore, StoreBusy, StoreDamaged, StoreError
from reachwatch.store._evidence import (
    FACT_SUMMARY_COLUMNS,
    Evidence,
    NoSuchMeasurement,
    evidence_of,
)
from reachwatch.store._open import DEFAULT_DB, committed_files, create_views, open_store
from reachwatch.store._writer import FACT_OWN_COLUMNS, RowChunk, StoreWriter, Writable, id_hash
from reachwatch.store.schema import (
    FACTS_COLUMNS,
    MEASUREMENTS_COLUMNS,
    OBSERVATIONS_COLUMNS,
    RAW_COLUMNS,
    TABLES,
)

__all__ = [
    "DEFAULT_DB",
    "FACTS_COLUMNS",
    "FACT_OWN_COLUMNS",
    "FACT_SUMMARY_COLUMNS",
    "MEASUREMENTS_COLUMNS",
    "OBSERVATIONS_COLUMNS",
    "RAW_COLUMNS",
    "TABLES",
    "CheckReport",
    "ChunkBuilder",
    "CompactReport",
    "Evidence",
    "NoSuchMeasurement",
    "NotAStore",
    "RepairReport",
    "RowChunk",
    "StoreBusy",
    "StoreDamaged",
    "StoreError",
    "StoreWriter",
    "Writable",
    "check_store",
    "committed_files",
    "compact_store",
    "create_views",
    "evidence_of",
    "id_hash",
    "open_store",
    "repair_store",
]
