"""What every request reads through: the store, read-only, and answers cached per store
generation.

A store changes only by a commit appending a line to its manifest (or `store repair` replacing
the manifest), so the manifest's identity (inode, size, modification time) names a generation.
Each generation gets its own snapshot: a DuckDB database file in a private temporary folder
(never in the store) holding

- the views `open_store` makes over the Parquet files committed in that generation (copied
  from its TEMP views, which only its own connection would see), so `evidence_of` and the
  other library functions read the store exactly as the command line does;
- the measurements themselves as a DuckDB table (the view is renamed `store_measurements`),
  sorted so that a filtered page of measurements is a range of DuckDB's own compressed row
  groups (their min/max let it skip the rest) instead of opening every Parquet file of the
  store (one per day and country, thousands in a year); detection, case checks and
  `evidence_of`, which read `measurements` by name, read it there too;
- the blocked observations, what detection asks of the observations (`detection_cursor`);
  one measurement's observations, bytes and facts are read from its own partition's files
  (`partition_cursor`);
- `hourly`: verdict counts per hour, country, network and platform, what series and charts
  aggregate further.

It is then opened read-only, with file access limited to the store's committed files, and
every thread gets its own cursor on it. A new generation gets a new snapshot; the old one's
answers go with it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from reachwatch.cases import Case
from reachwatch.catalog import Catalog, load_catalog
from reachwatch.store import TABLES, open_store
from reachwatch.web._errors import Warming

T = TypeVar("T")

# Files whose change means a commit, a repair or a new store: a new generation.
_MANIFEST = "manifest.jsonl"
_MARKER = "store.json"
# Filtered answers (a page of measurements, a series) kept per generation, least recently used
# dropped first; whole-store answers (overview, incidents, cases) are few and always kept.
_MAX_CACHED = 4096
# How long a request waits for an answer another thread is computing (detection, a case
# check) before it is told to come back (Warming: 503 with Retry-After); None: as long as it
# takes, what the warming thread sets for itself.
PATIENCE: ContextVar[float | None] = ContextVar("patience", default=20.0)
# Seconds between two looks at the store's manifest: how soon a commit is seen.
RECHECK = 0.5

# Tables copied into the snapshot, with the order that makes their usual filters ranges: the
# measurements for pages (country, then newest first).
MATERIALIZED: dict[str, str] = {
    "measurements": "probe_cc, measurement_start_time, measurement_id",
}
# Detection and case checks ask the observations one question, which layers were blocked on a
# network in a span (`verdict = 'blocked'`): those rows only are copied, in the order of that
# question, a small share of the observations (copying all of them made a start minutes long).
BLOCKED_SQL = """
CREATE TABLE blocked_observations AS
SELECT * FROM observations WHERE verdict = 'blocked'
ORDER BY probe_cc, platform, probe_asn, measurement_start_time
"""

HOURLY_SQL = """
CREATE TABLE hourly AS
SELECT date_trunc('hour', measurement_start_time) AS time, probe_cc AS cc,
       probe_asn AS network, platform,
       count(*) FILTER (WHERE verdict = 'blocked') AS blocked,
       count(*) FILTER (WHERE verdict = 'accessible') AS ok,
       count(*) FILTER (WHERE verdict = 'down') AS down,
       count(*) FILTER (WHERE verdict = 'inconclusive') AS inconclusive
FROM measurements
WHERE classified AND platform IS NOT NULL AND verdict IS NOT NULL
  AND probe_cc IS NOT NULL AND probe_asn IS NOT NULL
GROUP BY ALL
ORDER BY cc, network, platform, time
"""


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _build(db: Path, path: Path) -> tuple[list[str], list[str]]:
    """The snapshot database at `path` for the store at `db`; the files its views read, and
    the views' definitions as `open_store` made them."""
    opened = open_store(db, read_only=True)  # checks the store: NotAStore, StoreDamaged
    try:
        views = [
            str(sql)
            for (sql,) in opened.execute(
                "SELECT sql FROM duckdb_views() WHERE temporary AND view_name IN "
                f"({', '.join('?' for _ in TABLES)})",
                list(TABLES),
            ).fetchall()
        ]
    finally:
        opened.close()
    con = duckdb.connect(str(path))
    try:
        con.execute("SET enable_progress_bar = false")  # never on the server's terminal
        for sql in views:
            for table in MATERIALIZED:
                sql = sql.replace(f"CREATE TEMP VIEW {table} ", f"CREATE VIEW store_{table} ")
            con.execute(sql.replace("CREATE TEMP VIEW", "CREATE VIEW", 1))
        for table, order in MATERIALIZED.items():
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM store_{table} ORDER BY {order}")
        con.execute(BLOCKED_SQL)
        con.execute(HOURLY_SQL)
    finally:
        con.close()
    # The views name each committed file as a quoted SQL string ('' for a quote inside).
    files = {m.replace("''", "'") for sql in views for m in _QUOTED.findall(sql)}
    return sorted(f for f in files if f.endswith(".parquet")), views


_QUOTED = re.compile(r"'((?:[^']|'')*)'")
# The list of files in a view's definition, as DuckDB gives it back:
# read_parquet(list_value('...', ...), (union_by_name = true)), or [...] as written.
_LISTING = re.compile(
    r"read_parquet\((?:(?:main\.)?list_value\(|\[)(.*?)(?:\)|\]), \(?union_by_name", re.S
)
# The views a one-measurement lookup reads from Parquet (the others are snapshot tables).
PARTITIONED = ("evidence", "facts", "raw", "observations")


class _Snapshot:
    """One generation of the store: its snapshot database opened read-only, a cursor per
    thread on it, and the answers computed from it."""

    def __init__(self, db: Path, generation: str) -> None:
        self.generation = generation
        _sweep()
        folder = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        try:
            path = folder / "snapshot.duckdb"
            files, self._views = _build(db.absolute(), path)
            self._con = duckdb.connect(str(path), read_only=True)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        # Only the store's committed files can be read, nothing else on this machine; the
        # setting cannot be changed back on this connection.
        self._con.execute("SET enable_progress_bar = false")
        # Parquet footers read once, not at every query through the views.
        self._con.execute("SET parquet_metadata_cache = true")
        self._con.execute("SET allowed_paths = ?", [files])
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET lock_configuration = true")
        weakref.finalize(self, _discard, self._con, folder)
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

    def detection_cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on which `observations` are the blocked ones of the snapshot's table:
        all that detection and case checks read of them (`verdict = 'blocked'`), without
        opening every Parquet file of the store for each question. Close it after use."""
        with self._lock:
            cur = self._con.cursor()
        cur.execute("CREATE TEMP VIEW observations AS SELECT * FROM blocked_observations")
        return cur

    def partition_cursor(self, day: date, cc: str) -> duckdb.DuckDBPyConnection:
        """A new cursor on which the Parquet views (`observations`, `evidence`, `facts`, `raw`)
        read only the files of one partition (day and country): what one measurement's lookup
        needs, without opening the thousands of files of a year of data. Close it after use."""
        with self._lock:
            cur = self._con.cursor()
        where = f"/date={day.isoformat()}/cc={cc}/"
        for sql in self._views:
            table = sql.split()[3] if sql.startswith("CREATE TEMP VIEW ") else ""
            if table in MATERIALIZED or table not in PARTITIONED:
                continue
            listing = _LISTING.search(sql)
            if listing is None:  # a table without files: its view already reads nothing
                continue
            mine = [f for f in _QUOTED.findall(listing.group(1)) if where in f]
            if mine:
                files = ", ".join(f"'{f}'" for f in mine)  # still quoted as the store wrote them
                cur.execute(sql[: listing.start(1)] + files + sql[listing.end(1) :])
            else:
                cur.execute(sql.rstrip().rstrip(";") + " WHERE false")  # no file there: no row
        return cur

    def peek(self, key: Hashable) -> Any:
        """The answer for `key` if it is already computed, else None (never waits)."""
        with self._lock:
            return self._kept.get(key, self._recent.get(key))

    def cached(
        self, key: Hashable, compute: Callable[[], T], *, keep: bool, wait: float | None = None
    ) -> T:
        """The answer for `key`, computed once however many requests ask at the same time.
        `wait`: seconds to wait for another thread computing it before giving up (Warming);
        PATIENCE by default."""
        store = self._kept if keep else self._recent
        with self._lock:
            if key in store:
                if not keep:
                    self._recent.move_to_end(key)
                return store[key]  # type: ignore[no-any-return]
            gate = self._computing.setdefault(key, threading.Lock())
        if wait is None:
            wait = PATIENCE.get()
        if not gate.acquire(timeout=-1 if wait is None else wait):
            raise Warming(
                "the service is still computing this answer from the store; retry shortly"
            )
        with _held(gate):
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


@contextmanager
def _held(lock: threading.Lock) -> Iterator[None]:
    try:
        yield
    finally:
        lock.release()


_PREFIX = "reachwatch-serve-"
_OWNED = re.compile(re.escape(_PREFIX) + r"(\d+)-")


def _sweep() -> None:
    """Remove the snapshot folders of services that ended without removing their own (killed):
    only folders named for a process that no longer exists."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        owner = _OWNED.match(folder.name)
        if owner is None or not folder.is_dir():
            continue
        try:
            os.kill(int(owner.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (PermissionError, OverflowError, ValueError):
            continue  # alive (another user's), or not a process id: left alone


def _discard(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    try:
        con.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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

    def partition_cursor(self, day: date, cc: str) -> duckdb.DuckDBPyConnection:
        return self.snapshot.partition_cursor(day, cc)

    def detection_cursor(self) -> duckdb.DuckDBPyConnection:
        return self.snapshot.detection_cursor()

    def cached(
        self,
        key: Hashable,
        compute: Callable[[], T],
        *,
        keep: bool = True,
        wait: float | None = None,
    ) -> T:
        return self.snapshot.cached(key, compute, keep=keep, wait=wait)

    def peek(self, key: Hashable) -> Any:
        return self.snapshot.peek(key)


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
        self._checked = time.monotonic()

    def _generation(self) -> str:
        ids = (_identity(self.db / _MANIFEST), _identity(self.db / _MARKER))
        return "-".join("none" if i is None else f"{i[0]:x}.{i[1]:x}.{i[2]:x}" for i in ids)

    @property
    def generation(self) -> str:
        """Changes whenever the store commits something new (or is repaired); checked now."""
        return self.read(recheck=True).generation

    def read(self, *, recheck: bool = False) -> Read:
        """The current generation. The store's manifest is looked at no more often than every
        RECHECK seconds (a request costs less than that stat); when it changed, one request
        builds the new snapshot while the others go on reading the old one."""
        snapshot = self._snapshot
        now = time.monotonic()
        if not recheck and now - self._checked < RECHECK:
            return Read(snapshot)
        self._checked = now
        current = self._generation()
        if snapshot.generation == current:
            return Read(snapshot)
        if not self._lock.acquire(blocking=recheck):
            return Read(snapshot)  # another request is building it: the old one meanwhile
        with _held(self._lock):
            if self._snapshot.generation != current:
                self._snapshot = _Snapshot(self.db, current)
            return Read(self._snapshot)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the current generation of the store."""
        return self.read().con

    def cached(
        self,
        key: Hashable,
        compute: Callable[[], T],
        *,
        keep: bool = True,
        wait: float | None = None,
    ) -> T:
        """An answer computed once per generation (`keep=False`: may be dropped when many)."""
        return self.read().cached(key, compute, keep=keep, wait=wait)

    def peek(self, key: Hashable) -> Any:
        """The current generation's answer for `key` if computed already, else None."""
        return self.read().peek(key)
