"""A country's rows, as detection reads them, kept between runs: in memory for a process that
detects again and again (`watch`), or in a DuckDB file that outlives it (`reachwatch detect`
run again and again), with the names of the committed files they were read from.

Committed files never change (their names are new at every commit, and `store check` holds
them to their checksums), so rows read from a file stay right for as long as the store
commits that file. Each update reads only the files committed since; when the store's files
are not the ones kept plus new ones (a `rejudge` or `store compact` replaced some), or the
kept file belongs to another store, another country or another reachwatch, everything is
read again. The rows and the names of their files are written in one transaction: a run
killed midway leaves the file as it was before it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reachwatch.cluster import code_identity
from reachwatch.detect._local import add_country_rows
from reachwatch.store import committed_files, create_views

_TABLES = ("measurements", "observations")
_FORMAT = "1"  # of the kept file's tables; another value reads everything again


@dataclass(slots=True)
class Update:
    files_read: int = 0
    measurements_read: int = 0
    reread_all: bool = False  # rows were kept, but not of the store's files as they are now


def default_rows_file(db: Path, cc: str) -> Path | None:
    """Where `reachwatch detect` keeps a store's rows of one country: under
    $REACHWATCH_CACHE, else $XDG_CACHE_HOME/reachwatch, else ~/.cache/reachwatch (None when
    there is no home), one folder per store path."""
    if os.environ.get("REACHWATCH_CACHE"):
        base = Path(os.environ["REACHWATCH_CACHE"])
    elif os.environ.get("XDG_CACHE_HOME"):
        base = Path(os.environ["XDG_CACHE_HOME"]) / "reachwatch"
    elif os.environ.get("HOME"):
        base = Path.home() / ".cache" / "reachwatch"
    else:
        return None
    store = hashlib.sha256(str(db.resolve()).encode()).hexdigest()[:16]
    return base / "detect" / store / f"{cc.upper()}.duckdb"


class KeptRows:
    """The rows of country `cc` in the store at `db`, on `con` (tables `measurements` and
    `observations`, as `country_rows` makes them, every platform), kept in `path` (None: in
    memory). A kept file that cannot be used (another process has it open, or it is damaged
    beyond opening) leaves the rows in memory for this process."""

    def __init__(self, db: Path, cc: str, path: Path | None = None) -> None:
        self.db = db
        self.cc = cc.upper()
        self.path = path
        self._con: duckdb.DuckDBPyConnection | None = None
        self._files: dict[str, list[str]] = {}

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise RuntimeError("no rows yet: call update() first")
        return self._con

    def update(self) -> Update:
        """Read the files committed since the last update (all of them when needed)."""
        now = committed_files(self.db, self.cc)  # a folder that is no store stops here
        now = {t: now.get(t, []) for t in _TABLES}
        if self._con is None:  # opened only for a store: nothing is made for another folder
            self._con = self._connect()
            self._files = self._loaded()
        key = self._key()
        done = Update()
        kept = self._files
        if self._about() != key or any(now[t][: len(kept[t])] != kept[t] for t in _TABLES):
            done.reread_all = any(kept[t] for t in _TABLES)
            for table in (*_TABLES, "loaded", "about"):
                self.con.execute(f"DROP TABLE IF EXISTS {table}")
            kept = {t: [] for t in _TABLES}
        new = {t: now[t][len(kept[t]) :] for t in _TABLES}
        done.files_read = sum(len(names) for names in new.values())
        fresh = not self._has("measurements")
        if not (fresh or done.files_read):
            return done
        files = duckdb.connect(":memory:")
        self.con.begin()
        try:
            create_views(files, new)
            # Every platform of the country: volume collapses count them all.
            done.measurements_read = add_country_rows(self.con, files, self.cc, None, create=fresh)
            self._record(new, key, fresh)
            self.con.commit()
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self.con.rollback()
            raise
        finally:
            files.close()
        self._files = now
        return done

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    # -- the kept file ------------------------------------------------------------------------
    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self.path is None:
            return duckdb.connect(":memory:")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return duckdb.connect(str(self.path))
        except OSError:
            return duckdb.connect(":memory:")
        except duckdb.Error as exc:
            if "lock" in str(exc).lower():  # another detect of this store and country runs
                return duckdb.connect(":memory:")
        # Damaged: it is reachwatch's own cache file, made again from the store.
        with contextlib.suppress(OSError):
            self.path.unlink()
            Path(f"{self.path}.wal").unlink(missing_ok=True)
        try:
            return duckdb.connect(str(self.path))
        except (OSError, duckdb.Error):
            return duckdb.connect(":memory:")

    def _has(self, table: str) -> bool:
        found = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]
        ).fetchone()
        return bool(found and found[0])

    def _loaded(self) -> dict[str, list[str]]:
        files: dict[str, list[str]] = {t: [] for t in _TABLES}
        if self._has("loaded") and self._has("measurements"):
            rows = self.con.execute("SELECT tab, name FROM loaded ORDER BY tab, pos").fetchall()
            for table, name in rows:
                files.setdefault(str(table), []).append(str(name))
        return files

    def _about(self) -> str | None:
        if not self._has("about"):
            return None
        row = self.con.execute("SELECT key FROM about").fetchone()
        return str(row[0]) if row else None

    def _record(self, new: dict[str, list[str]], key: str, fresh: bool) -> None:
        if fresh:
            self.con.execute("CREATE TABLE loaded (tab VARCHAR, pos BIGINT, name VARCHAR)")
            self.con.execute("CREATE TABLE about (key VARCHAR)")
            self.con.execute("INSERT INTO about VALUES (?)", [key])
        for table, names in new.items():
            if not names:
                continue
            start = len(self._files[table]) if not fresh else 0
            self.con.executemany(
                "INSERT INTO loaded VALUES (?, ?, ?)",
                [(table, start + i, name) for i, name in enumerate(names)],
            )

    def _key(self) -> str:
        """What the kept rows are valid for: this store (its first commit), this country,
        this reachwatch, this layout of the kept file."""
        manifest = self.db / "manifest.jsonl"
        first = b""
        with contextlib.suppress(OSError), manifest.open("rb") as f:
            first = f.readline()
        store = hashlib.sha256(first).hexdigest()
        return f"{_FORMAT}|{self.cc}|{store}|{code_identity()}"
