"""`ooni sync` on a Dask cluster: the workers download the bucket's files themselves.

This process lists the bucket, decides which files are missing or changed (its ledger and
the folder), and hands each such file to a worker, which gets it from the bucket straight
into the shared `out` folder with the same checks as a local sync (part file continued,
size and MD5 ETag, renamed only when whole). This process then checks that the file is
there, whole, and records it in the ledger, in listing order: the one writer of the ledger,
as `ingest` has one writer of the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reachwatch.cluster import ClusterError, Engine, dask_client, one_line
from reachwatch.ingest._errors import SyncError
from reachwatch.ingest._ooni_sync import (
    ByteCallback,
    Fetched,
    Ledger,
    RemoteFile,
    SyncSummary,
    _client,
    _took,
    fetch_object,
    skipped_as_unchanged,
)

_clients: dict[str | None, Any] = {}  # a worker's S3 client per endpoint, made once


def fetch_on_dask(
    engine: Engine,
    endpoint: str | None,
    bucket: str,
    remote: list[RemoteFile],
    out: Path,
    summary: SyncSummary,
    on_bytes: ByteCallback | None,
    ledger: Ledger,
) -> None:
    out = out.absolute()
    todo: list[RemoteFile] = []
    for item in remote:
        try:
            if not skipped_as_unchanged(item, out / item.key, summary, on_bytes, ledger):
                todo.append(item)
        except OSError as exc:
            raise SyncError(f"{out}: cannot read {item.key} ({exc.strerror})") from None
    if not todo:
        return
    with dask_client(engine) as client:
        futures = [
            client.submit(_fetch_there, endpoint, bucket, item, str(out / item.key), pure=False)
            for item in todo
        ]
        for item, future in zip(todo, futures, strict=True):
            got = _result(future, item)
            target = out / item.key
            if not (target.is_file() and target.stat().st_size == item.size):
                raise SyncError(
                    f"{item.key} was downloaded by a Dask worker but is not in {out} here: "
                    "--out must be a folder the workers share with this machine"
                )
            _took(summary, ledger, item, target, got)
            if on_bytes:
                on_bytes(item.size, item.key, item.size)


def _result(future: Any, item: RemoteFile) -> Fetched:
    try:
        got: Fetched = future.result()
    except SyncError:
        raise
    except OSError as exc:
        raise SyncError(f"a Dask worker cannot write {item.key} ({exc.strerror})") from None
    except Exception as exc:  # the cluster's own failure (a worker lost, ...)
        raise ClusterError(f"downloading {item.key} on Dask failed ({one_line(exc)})") from None
    return got


def _fetch_there(endpoint: str | None, bucket: str, item: RemoteFile, target: str) -> Fetched:
    """On a worker: the object, whole and checked, at `target`."""
    client = _clients.get(endpoint)
    if client is None:
        client = _clients[endpoint] = _client(endpoint)
    return fetch_object(client, bucket, item, Path(target))
