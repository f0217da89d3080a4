"""Download OONI's raw measurements from its public S3 bucket layout, resumably.

The bucket holds `raw/YYYYMMDD/HH/CC/TESTNAME/*.jsonl.gz`, one folder per hour, country and
test (OONI spells the test without underscores there, e.g. `webconnectivity`). Access is
anonymous. A file is downloaded to `NAME.part`, continued from where it stopped when a run
is interrupted, checked against the listed size (and MD5 ETag when the object has one), and
only then renamed.

A second run over the same folder downloads only what is new or changed. Every completed file
is recorded with its size and ETag in a hidden ledger, `OUT/.reachwatch-sync.jsonl`; a file
whose size and ETag still match the listing is skipped, one whose object was replaced (another
size, or the same size and another ETag) is downloaded again. A file from before the ledger
(or from another tool) is checked once against the listing's MD5 ETag and then recorded. The
summary names the files this run wrote, so the caller can ingest only those.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from reachwatch.cluster import Engine
from reachwatch.ingest._errors import SyncError

OONI_BUCKET = "ooni-data-eu-fra"
OONI_REGION = "eu-central-1"
OONI_FIRST_DAY = date(2012, 1, 1)  # the bucket's oldest measurements are from late 2012
_CHUNK = 1024 * 1024
LEDGER = ".reachwatch-sync.jsonl"  # hidden: ingest skips dot files in the folders it reads


@dataclass(frozen=True, slots=True)
class RemoteFile:
    key: str
    size: int
    etag: str


@dataclass(slots=True)
class SyncSummary:
    files: int = 0
    downloaded: int = 0  # new files, and files whose object changed (`changed` of them)
    skipped: int = 0
    resumed: int = 0
    bytes_downloaded: int = 0
    changed: int = 0
    # What this run wrote, in listing order: the files a caller has not read yet.
    new_files: list[Path] = field(default_factory=list)
    # The newest hour folder that held a listed file: OONI writes an hour's files shortly
    # after it, so a later run need not list far before it.
    latest_hour: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "downloaded": self.downloaded,
            "changed": self.changed,
            "skipped": self.skipped,
            "resumed": self.resumed,
            "bytes_downloaded": self.bytes_downloaded,
            "new_files": [str(p) for p in self.new_files],  # under --out, as it was given
            "latest_hour": self.latest_hour.strftime("%Y-%m-%dT%H:00:00Z")
            if self.latest_hour
            else None,
        }


# (bytes just written, the file's key, its size) after every chunk; (0, key, size) at start.
ByteCallback = Callable[[int, str, int], None]


def sync_ooni(
    *,
    cc: str,
    test_name: str,
    since: date,
    until: date,
    out: Path,
    endpoint: str | None = None,
    bucket: str = OONI_BUCKET,
    on_listed: Callable[[list[RemoteFile]], None] | None = None,
    on_bytes: ByteCallback | None = None,
    engine: Engine | None = None,
) -> SyncSummary:
    """Mirror the matching raw files under `out`, keeping the bucket's key layout.
    `since` and `until` are UTC days, both included. With an `engine` on Dask, the cluster's
    workers download the files from the bucket themselves, into `out`, which they must share
    with this process; this process lists, and keeps the ledger."""
    if until < since:
        raise SyncError(f"--until {until} is before --since {since}")
    # One listing per hour: days outside the corpus (before OONI, after today) would be
    # millions of requests for nothing.
    since, until = max(since, OONI_FIRST_DAY), min(until, datetime.now(UTC).date())
    client = _client(endpoint)
    remote = list(list_raw_files(client, bucket, cc.upper(), test_name, since, until))
    if on_listed:
        on_listed(remote)
    summary = SyncSummary(files=len(remote), latest_hour=_latest_hour(remote))
    if not remote:
        return summary
    try:
        ledger = Ledger(out)
    except OSError as exc:
        raise SyncError(f"{out / LEDGER}: cannot read ({exc.strerror})") from None
    if engine is not None and engine.on_dask:
        from reachwatch.ingest._sync_on_dask import fetch_on_dask

        fetch_on_dask(engine, endpoint, bucket, remote, out, summary, on_bytes, ledger)
        return summary
    for item in remote:
        try:
            _fetch(client, bucket, item, out / item.key, summary, on_bytes, ledger)
        except OSError as exc:
            raise SyncError(f"{out}: cannot write {item.key} ({exc.strerror})") from None
    return summary


def _latest_hour(remote: list[RemoteFile]) -> datetime | None:
    hours = {item.key.split("/")[1] + item.key.split("/")[2] for item in remote}
    if not hours:
        return None
    return datetime.strptime(max(hours), "%Y%m%d%H").replace(tzinfo=UTC)


class Ledger:
    """The size and ETag each complete file had when it was downloaded (or first checked).
    Append-only JSON lines, the last line of a key winning: a run killed mid-way loses at
    most the line it was writing, and a torn line is ignored (that file is checked again)."""

    def __init__(self, out: Path) -> None:
        self.path = out / LEDGER
        self.known: dict[str, tuple[int, str]] = {}
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                entry = orjson.loads(line)
                self.known[str(entry["key"])] = (int(entry["size"]), str(entry["etag"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue

    def matches(self, item: RemoteFile) -> bool | None:
        """True when the ledger has the listed size and ETag, False when it has others,
        None when it does not know the file."""
        known = self.known.get(item.key)
        return None if known is None else known == (item.size, item.etag)

    def record(self, item: RemoteFile) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = orjson.dumps({"key": item.key, "size": item.size, "etag": item.etag}) + b"\n"
        # One write of one line in append mode: lines of two runs never interleave mid-line.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        self.known[item.key] = (item.size, item.etag)


def _client(endpoint: str | None) -> Any:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    # No endpoint: AWS's own for the bucket's region (the bucket is addressed by name, so an
    # endpoint that already names the bucket would be wrong). Path-style for any other server.
    addressing = "auto" if endpoint is None else "path"
    config = Config(
        signature_version=UNSIGNED,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": addressing},
    )
    try:
        return boto3.client("s3", region_name=OONI_REGION, endpoint_url=endpoint, config=config)
    except ValueError as exc:  # botocore's word for an endpoint that is not a URL
        raise SyncError(f"--endpoint {endpoint!r}: {exc}") from None


def list_raw_files(
    client: Any, bucket: str, cc: str, test_name: str, since: date, until: date
) -> Iterator[RemoteFile]:
    """The .jsonl.gz objects of one country and test, hour by hour over the days."""
    wanted = test_name.replace("_", "").lower()
    day = since
    while day <= until:
        for hour in range(24):
            prefix = f"raw/{day:%Y%m%d}/{hour:02d}/{cc}/"
            for obj in _list(client, bucket, prefix):
                item = _raw_file(obj, prefix, wanted, bucket)
                if item is not None:
                    yield item
        day += timedelta(days=1)


def _raw_file(obj: dict[str, Any], prefix: str, wanted: str, bucket: str) -> RemoteFile | None:
    """The listed object when it is a raw file of the test asked for. Its key becomes a path
    under --out, so a key outside the prefix asked for (or with '..') is never taken."""
    try:
        key, size = str(obj["Key"]), int(obj["Size"])
    except (KeyError, TypeError, ValueError):
        raise SyncError(f"s3://{bucket}: the endpoint's listing is not an S3 listing") from None
    parts = key.split("/")
    if (
        not key.startswith(prefix)
        or len(parts) != 6
        or parts[4].replace("_", "").lower() != wanted
        or not key.endswith(".jsonl.gz")
        or any(part in ("", ".", "..") for part in parts)
    ):
        return None
    return RemoteFile(key, size, str(obj.get("ETag", "")).strip('"'))


def _list(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            yield from page.get("Contents", [])
    except ClientError as exc:
        raise SyncError(f"cannot list s3://{bucket}/{prefix}: {_s3_error(exc)}") from None
    except BotoCoreError as exc:
        raise SyncError(f"cannot reach the bucket endpoint: {exc}") from None
    except ValueError as exc:  # botocore could not parse what the endpoint answered
        raise SyncError(f"s3://{bucket}: the endpoint's answer is not S3's ({exc})") from None


def _fetch(
    client: Any,
    bucket: str,
    item: RemoteFile,
    target: Path,
    summary: SyncSummary,
    on_bytes: ByteCallback | None,
    ledger: Ledger,
) -> None:
    if not skipped_as_unchanged(item, target, summary, on_bytes, ledger):
        _took(summary, ledger, item, target, fetch_object(client, bucket, item, target, on_bytes))


def skipped_as_unchanged(
    item: RemoteFile,
    target: Path,
    summary: SyncSummary,
    on_bytes: ByteCallback | None,
    ledger: Ledger,
) -> bool:
    """Whether the complete file at `target` is still the listed object: counted as skipped."""
    if not (target.exists() and _unchanged(target, item, ledger)):
        return False
    summary.skipped += 1
    if on_bytes:
        on_bytes(item.size, item.key, item.size)
    return True


@dataclass(frozen=True, slots=True)
class Fetched:
    """What getting one object took: bytes downloaded, whether a part file was continued,
    whether a complete file of an older object was replaced."""

    bytes: int
    resumed: bool
    replaced: bool


def fetch_object(
    client: Any, bucket: str, item: RemoteFile, target: Path, on_bytes: ByteCallback | None = None
) -> Fetched:
    """The object at `target`, whole and checked: continued from `target`.part when one is
    there, renamed into place only once its size (and MD5 ETag) match the listing."""
    replacing = target.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if have > item.size:
        part.unlink()
        have = 0
    if on_bytes:
        on_bytes(have, item.key, item.size)
    downloaded = _download(client, bucket, item, part, have, on_bytes)
    if not _complete(part, item):
        # The partial file did not belong to this object (it changed, or the bytes were
        # damaged): start over once from the beginning.
        part.unlink()
        downloaded += _download(client, bucket, item, part, 0, on_bytes)
        if not _complete(part, item):
            part.unlink()
            raise SyncError(f"{item.key}: downloaded file does not match its size or ETag")
    part.rename(target)
    return Fetched(downloaded, bool(have), replacing)


def _took(
    summary: SyncSummary, ledger: Ledger, item: RemoteFile, target: Path, got: Fetched
) -> None:
    ledger.record(item)
    summary.downloaded += 1
    summary.resumed += got.resumed
    summary.changed += got.replaced
    summary.bytes_downloaded += got.bytes
    summary.new_files.append(target)


def _unchanged(target: Path, item: RemoteFile, ledger: Ledger) -> bool:
    """Whether the complete file at `target` is still the listed object."""
    if target.stat().st_size != item.size:
        return False
    known = ledger.matches(item)
    if known is not None:
        return known
    # Not in the ledger (an older mirror): the bytes themselves are checked, once.
    if _complete(target, item):
        ledger.record(item)
        return True
    return False


def _download(
    client: Any,
    bucket: str,
    item: RemoteFile,
    part: Path,
    start: int,
    on_bytes: ByteCallback | None,
) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    if start >= item.size:
        return 0
    args: dict[str, Any] = {"Bucket": bucket, "Key": item.key}
    if start:
        args["Range"] = f"bytes={start}-"
    try:
        response = client.get_object(**args)
        if start and response.get("ContentRange") is None:
            start = 0  # the server sent the whole object, not the range asked for
        written = 0
        with part.open("r+b" if start else "wb") as fh:
            fh.seek(start)
            fh.truncate()
            for chunk in response["Body"].iter_chunks(_CHUNK):
                fh.write(chunk)
                written += len(chunk)
                if on_bytes:
                    on_bytes(len(chunk), item.key, item.size)
        return written
    except ClientError as exc:
        raise SyncError(f"cannot download {item.key}: {_s3_error(exc)}") from None
    except BotoCoreError as exc:
        raise SyncError(f"download of {item.key} failed: {exc} (run again to resume)") from None
    except ValueError as exc:  # botocore could not parse what the endpoint answered
        raise SyncError(f"cannot download {item.key}: the answer is not S3's ({exc})") from None


def _complete(part: Path, item: RemoteFile) -> bool:
    if part.stat().st_size != item.size:
        return False
    if len(item.etag) != 32 or "-" in item.etag:
        return True  # a multipart ETag is not the file's MD5; the size has to do
    digest = hashlib.md5(usedforsecurity=False)
    with part.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest() == item.etag


def _s3_error(exc: Any) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
