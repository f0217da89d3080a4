"""The watch's rounds through its library API, in this process, against the moto server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.watch.conftest import CUT, Bucket, _hour, gz

from reachwatch.store import open_store
from reachwatch.watch import (
    Callbacks,
    RoundReport,
    Watch,
    WatchConfig,
    WatchError,
    load_state,
    state_path,
)
from reachwatch.watch._state import save_state, state_lock

SINCE, UNTIL = CUT.date() - timedelta(days=5), CUT.date() + timedelta(days=6)


def _watch(endpoint: str, bucket: Bucket, tmp: Path) -> tuple[Watch, list[Any]]:
    seen: list[Any] = []
    config = WatchConfig(
        cc="PK", platform="x", db=tmp / "db", out=tmp / "ooni", every=timedelta(hours=1),
        since=SINCE, until=UNTIL, endpoint=endpoint, bucket=bucket.name, rounds=1,
    )  # fmt: skip
    callbacks = Callbacks(on_event=seen.append, on_round=seen.append, on_warning=seen.append)
    return Watch(config, callbacks), seen


def _stored(db: Path) -> int:
    con = open_store(db, read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM measurements").fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])


def _report(seen: list[Any]) -> RoundReport:
    [report] = [s for s in seen if isinstance(s, RoundReport)]
    return report


def test_unchanged_bucket_ingests_nothing_and_one_new_object_exactly_that_file(
    s3_server: tuple[str, Any], bucket: Bucket, objects: dict[str, list[bytes]], tmp_path: Path
) -> None:
    bucket.put_corpus(objects, before=True)
    watch, seen = _watch(s3_server[0], bucket, tmp_path)
    assert watch.run() == 1
    first = _report(seen)
    before = _stored(tmp_path / "db")
    assert first.ingested_files == first.new_files > 0 and first.stored == before

    seen.clear()
    watch.run()
    second = _report(seen)
    assert (second.new_files, second.ingested_files, second.stored) == (0, 0, 0)
    assert second.events == [] and _stored(tmp_path / "db") == before

    key = min(k for k in objects if _hour(k) >= CUT)  # the next hour's upload
    bucket.put(key, gz(objects[key]))
    seen.clear()
    watch.run()
    third = _report(seen)
    assert (third.new_files, third.ingested_files) == (1, 1)
    assert third.stored == len(objects[key]) == _stored(tmp_path / "db") - before
    assert load_state(watch.state_file).pending == []


def test_files_a_stopped_round_left_unread_are_ingested_by_the_next(
    s3_server: tuple[str, Any], bucket: Bucket, objects: dict[str, list[bytes]], tmp_path: Path
) -> None:
    """A round stopped between its sync and its ingest leaves the files it wrote as pending
    in the state; the next round's sync writes nothing, and still they are ingested."""
    keys = bucket.put_corpus(objects, before=True)[:3]
    watch, seen = _watch(s3_server[0], bucket, tmp_path)
    for key in keys:  # the bucket's bytes, as the stopped round's sync left them
        (tmp_path / "ooni" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "ooni" / key).write_bytes(gz(objects[key]))
    state = load_state(watch.state_file)
    state.pending = list(keys)
    save_state(watch.state_file, state)
    watch.run()
    report = _report(seen)
    # The three were on disk without a ledger line: checked by their MD5, kept, not new.
    assert report.new_files == report.listed - 3
    assert report.ingested_files == report.new_files + 3
    assert _stored(tmp_path / "db") == sum(len(v) for k, v in objects.items() if _hour(k) < CUT)


def test_a_second_watch_of_the_same_country_and_platform_on_one_folder_is_refused(
    tmp_path: Path,
) -> None:
    path = state_path(tmp_path, "PK", "x")
    with state_lock(path), pytest.raises(WatchError, match="another watch"), state_lock(path):
        pass
    with state_lock(state_path(tmp_path, "PK", "youtube")):  # another platform: its own
        pass


def test_a_damaged_state_file_is_one_error_that_says_what_to_do(tmp_path: Path) -> None:
    path = state_path(tmp_path, "PK", "x")
    path.write_bytes(b"{not json")
    with pytest.raises(WatchError, match="move it away"):
        load_state(path)
    path.write_bytes(orjson.dumps({"version": 1}))
    with pytest.raises(WatchError, match="damaged"):
        load_state(path)


def test_the_listing_window_starts_a_day_before_the_newest_hour_seen(tmp_path: Path) -> None:
    from datetime import UTC, date, datetime

    from reachwatch.watch import WatchState

    def since(given: date | None, seen: datetime | None) -> date:
        config = WatchConfig(
            cc="PK", platform="x", db=tmp_path / "db", out=tmp_path, every=timedelta(hours=1),
            since=given,
        )  # fmt: skip
        return Watch(config)._since(WatchState(latest_hour=seen))

    seen = datetime(2024, 2, 18, 23, tzinfo=UTC)
    assert since(date(2024, 2, 14), seen) == date(2024, 2, 17)
    assert since(date(2024, 2, 18), seen) == date(2024, 2, 18)  # never before --since
    assert since(None, seen) == date(2024, 2, 17)  # a restart after days away catches up
    assert since(date(2024, 2, 14), None) == date(2024, 2, 14)
    assert since(None, None) == datetime.now(UTC).date() - timedelta(days=1)
