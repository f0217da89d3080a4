"""What every request reads through: the store, opened read-only, and answers cached per store
generation.

A store changes only by a commit appending a line to its manifest (or `store repair` replacing
the manifest), so the manifest's identity (inode, size, modification time) names a generation.
Each generation gets its own DuckDB snapshot: the views `open_store` makes, over the files
committed when it was taken, and a cache of computed answers. When the manifest changes the
next request takes a new snapshot, and the old answers are dropped with the old snapshot.

DuckDB connections are not shared between threads: each thread gets its own cursor on the
snapshot's database. `open_store` makes its views TEMP, which only its own connection sees,
so the snapshot copies their definitions into a private in-memory database whose views every
cursor sees; the store's files are only ever read (`read_parquet`), never written.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from reachwatch.cases import Case
from reachwatch.catalog import Catalog, load_catalog
from reachwatch.store import TABLES, open_store

T = TypeVar("T")

# Files whose change means a commit, a repair or a new store: a new generation.
_MANIFEST = "manifest.jsonl"
_MARKER = "store.json"
# Filtered answers (a page of measurements, a series) kept per generation, least recently used
# dropped first; whole-store answers (overview, incidents, cases) are few and always kept.
_MAX_CACHED = 4096


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class _Snapshot:
    """One generation of the store: a DuckDB database whose views list that generation's
    files, a cursor per thread on it, and the answers computed from it."""

    def __init__(self, db: Path, generation: str) -> None:
        self.generation = generation
        opened = open_store(db, read_only=True)  # checks the store; NotAStore, StoreDamaged
        try:
            definitions = opened.execute(
                "SELECT sql FROM duckdb_views() WHERE temporary AND view_name IN "
                f"({', '.join('?' for _ in TABLES)})",
                list(TABLES),
            ).fetchall()
        finally:
            opened.close()
        self._con = duckdb.connect(":memory:")
        for (sql,) in definitions:
            self._con.execute(str(sql).replace("CREATE TEMP VIEW", "CREATE VIEW", 1))
        self._local = threading.local()
        self._lock = threading.Lock()
        self._kept: dict[Hashable, Any] = {}
        self._recent: OrderedDict[Hashable, Any] = OrderedDict()
        self._computing: dict[Hashable, threading.Lock] = {}

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            with self._lock:  # creating a cursor touches the shared connection
                cur = self._con.cursor()
            self._local.cursor = cur
        return cur

    def cached(self, key: Hashable, compute: Callable[[], T], *, keep: bool) -> T:
        """The answer for `key`, computed once however many requests ask at the same time."""
        store = self._kept if keep else self._recent
        with self._lock:
            if key in store:
                if not keep:
                    self._recent.move_to_end(key)
                return store[key]  # type: ignore[no-any-return]
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in store:
                    return store[key]  # type: ignore[no-any-return]
            value = compute()
            with self._lock:
                store[key] = value
                self._computing.pop(key, None)
                while len(self._recent) > _MAX_CACHED:
                    self._recent.popitem(last=False)
            return value


@dataclass(frozen=True, slots=True)
class Read:
    """What one request works with: a cursor on one generation, and that generation's cache."""

    snapshot: _Snapshot

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.snapshot.cursor()

    @property
    def generation(self) -> str:
        return self.snapshot.generation

    def cached(self, key: Hashable, compute: Callable[[], T], *, keep: bool = True) -> T:
        return self.snapshot.cached(key, compute, keep=keep)


class WebContext:
    """The store at `db` read-only, the cases checked against it, the platform catalog."""

    def __init__(
        self, db: Path, *, cases: Sequence[Case] = (), catalog: Catalog | None = None
    ) -> None:
        self.db = Path(db)
        self.cases: tuple[Case, ...] = tuple(cases)
        self.catalog = catalog if catalog is not None else load_catalog()
        self._lock = threading.Lock()
        self._snapshot = _Snapshot(self.db, self._generation())

    def _generation(self) -> str:
        ids = (_identity(self.db / _MANIFEST), _identity(self.db / _MARKER))
        return "-".join("none" if i is None else f"{i[0]:x}.{i[1]:x}.{i[2]:x}" for i in ids)

    @property
    def generation(self) -> str:
        """Changes whenever the store commits something new (or is repaired)."""
        return self.read().generation

    def read(self) -> Read:
        """The current generation, a new snapshot taken when the store changed."""
        current = self._generation()
        snapshot = self._snapshot
        if snapshot.generation != current:
            with self._lock:
                if self._snapshot.generation != current:
                    self._snapshot = _Snapshot(self.db, current)
                snapshot = self._snapshot
        return Read(snapshot)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the current generation of the store."""
        return self.read().con

    def cached(self, key: Hashable, compute: Callable[[], T], *, keep: bool = True) -> T:
        """An answer computed once per generation (`keep=False`: may be dropped when many)."""
        return self.read().cached(key, compute, keep=keep)
