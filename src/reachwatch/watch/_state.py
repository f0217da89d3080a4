"""What a watch remembers between rounds and across restarts, in one small JSON file of its
own inside the download folder: `OUT/.reachwatch-watch-CC-PLATFORM.json`.

It holds the incidents last reported (so a restart does not announce them again), the files
a sync wrote that are not ingested yet (so a round stopped between sync and ingest loses
nothing), the newest hour folder seen in the bucket (so later rounds list only from there),
and the webhook deliveries still owed. It is replaced whole, by a rename, so a kill leaves
the old state or the new one, never half of one. A lock beside it keeps two watches of the
same country and platform off the same folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from reachwatch.watch._errors import WatchError

STATE_VERSION = 1


def state_path(out: Path, cc: str, platform: str) -> Path:
    return out / f".reachwatch-watch-{cc.upper()}-{platform}.json"


@dataclass(slots=True)
class KnownIncident:
    """An incident as it was last reported: its watch id and its span then."""

    id: str
    start: str
    end: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "start": self.start, "end": self.end}


@dataclass(slots=True)
class WatchState:
    rounds: int = 0
    latest_hour: datetime | None = None
    pending: list[str] = field(default_factory=list)  # paths relative to the folder
    incidents: list[KnownIncident] = field(default_factory=list)
    undelivered: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "rounds": self.rounds,
            "latest_hour": self.latest_hour.isoformat() if self.latest_hour else None,
            "pending": self.pending,
            "incidents": [i.to_json() for i in self.incidents],
            "undelivered": self.undelivered,
        }


def load_state(path: Path) -> WatchState:
    """The state saved at `path`; a fresh one when there is none yet."""
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return WatchState()
    except OSError as exc:
        raise WatchError(f"{path}: cannot read the watch's state ({exc.strerror})") from None
    except orjson.JSONDecodeError:
        raise WatchError(
            f"{path}: the watch's state is not JSON; move it away to start over"
        ) from None
    try:
        if doc["version"] != STATE_VERSION:
            raise WatchError(f"{path}: state version {doc['version']}, expected {STATE_VERSION}")
        latest = doc["latest_hour"]
        return WatchState(
            rounds=int(doc["rounds"]),
            latest_hour=datetime.fromisoformat(latest) if latest else None,
            pending=[str(p) for p in doc["pending"]],
            incidents=[
                KnownIncident(str(i["id"]), str(i["start"]), i["end"]) for i in doc["incidents"]
            ],
            undelivered=list(doc["undelivered"]),
        )
    except (KeyError, TypeError, ValueError):
        raise WatchError(
            f"{path}: the watch's state is damaged; move it away to start over"
        ) from None


def save_state(path: Path, state: WatchState) -> None:
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("wb") as fh:
        fh.write(orjson.dumps(state.to_json(), option=orjson.OPT_INDENT_2))
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


@contextlib.contextmanager
def state_lock(path: Path) -> Any:
    """Held while a watch runs; a second watch on the same state is refused at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WatchError(
                f"{path.parent}: another watch of the same country and platform uses this "
                "folder; stop it first"
            ) from None
        yield
    finally:
        os.close(fd)
