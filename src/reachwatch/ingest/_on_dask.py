"""Ingest and rejudge units on a Dask cluster: the same units `_parallel` gives its worker
processes, run as Dask tasks, their messages taken by this process, the one writer, in the
same order; so the store is the one `--jobs 1` writes.

A task returns all its unit's messages at once (Dask moves results whole), so a unit is a
file, or one of the shares of a file larger than `_parallel._SPLIT_BYTES`: a worker needs
memory for what one file judges to, about ten times the file on disk when it is gzip'd.
At most `_AHEAD_UNITS` units per worker thread are queued beyond those being taken.

Workers read the corpus files themselves, at the path this process names: they need the
same files at the same place (a shared or synced folder). One that cannot see a file fails
the run rather than record the file as unreadable.
"""

from __future__ import annotations

import contextlib
import pickle
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reachwatch.classify import Fingerprints
from reachwatch.cluster import Engine, dask_client, one_line
from reachwatch.ingest._judge import Judge
from reachwatch.ingest._parallel import (
    _AHEAD_UNITS,
    Encoded,
    Task,
    WorkerFailed,
    _decoded,
    _encoded,
    _portable,
)
from reachwatch.ingest._pipeline import judge_chunks
from reachwatch.ingest._provenance import fingerprints_sha256

if TYPE_CHECKING:
    from distributed import Client, Future


@contextlib.contextmanager
def dask_units(engine: Engine, fingerprints: Fingerprints) -> Iterator[DaskUnits]:
    """Units run on the engine's cluster, for as long as the block lasts."""
    with dask_client(engine) as client:
        yield DaskUnits(client, fingerprints)


class _Slot:
    """A worker thread's share of the queue (Dask picks the worker itself)."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.units: deque[_Unit] = deque()


class _Unit:
    def __init__(self, future: Future[list[Encoded]]) -> None:
        self.future = future
        self.messages: deque[Encoded] | None = None


class DaskUnits:
    """`_parallel.Units` on a Dask cluster: one slot per worker thread."""

    def __init__(self, client: Client, fingerprints: Fingerprints) -> None:
        self._client = client
        threads = sum(client.nthreads().values())
        self.workers = [_Slot(n) for n in range(max(threads, 1))]
        self._sha = fingerprints_sha256(fingerprints)
        # Sent once to every worker, which builds its Judge from it once (see _run_unit).
        self._fingerprints = client.scatter(_portable(fingerprints), broadcast=True, hash=False)

    def free(self, worker: _Slot) -> bool:
        return len(worker.units) < _AHEAD_UNITS

    def least_busy(self) -> _Slot:
        return min(self.workers, key=lambda w: len(w.units))

    def submit(self, worker: _Slot, task: Task) -> tuple[_Slot, _Unit]:
        fn, args = task
        if fn is judge_chunks:  # the worker reads the file where this process does
            fn, args = judge_file_there, (*args, Path.cwd())
        future = self._client.submit(_run_unit, self._fingerprints, self._sha, fn, args, pure=False)
        unit = _Unit(future)
        worker.units.append(unit)
        return worker, unit

    def receive(self, ticket: tuple[_Slot, _Unit]) -> tuple[Any, ...]:
        slot, unit = ticket
        if not slot.units or slot.units[0] is not unit:
            raise RuntimeError("units are taken in the order they were given")
        if unit.messages is None:
            unit.messages = deque(self._result(unit.future))
            unit.future.release()
        # A unit's failure is its task's (see _result): it sends no "error" message here.
        message = _decoded(unit.messages.popleft())
        if message[0] == "end":
            slot.units.popleft()
        return message

    @staticmethod
    def _result(future: Future[list[Encoded]]) -> list[Encoded]:
        try:
            result: list[Encoded] = future.result()
        except Exception as exc:  # a task's own error, or the cluster's (KilledWorker, ...)
            raise WorkerFailed(
                f"a Dask task failed ({type(exc).__name__}: {one_line(exc)}): the run stopped, and "
                "nothing after the last committed batch was stored; run it again to finish"
            ) from None
        return result

    def close(self) -> None:
        self.abort()

    def abort(self) -> None:
        """Cancel what was queued and not taken."""
        pending = [unit.future for slot in self.workers for unit in slot.units]
        for slot in self.workers:
            slot.units.clear()
        if pending:
            with contextlib.suppress(Exception):
                self._client.cancel(pending)


# -- on the worker ----------------------------------------------------------------------------

_judges: dict[str, Judge] = {}  # the one Judge of a worker process, by its fingerprints


def _run_unit(
    fingerprints: bytes,
    sha: str,
    fn: Callable[..., Iterator[tuple[Any, ...]]],
    args: tuple[Any, ...],
) -> list[Encoded]:
    """A unit run where Dask put it: its messages, encoded as `_parallel` sends them."""
    judge = _judges.get(sha)
    if judge is None:
        judge = Judge(pickle.loads(fingerprints))
        if judge.fingerprints_sha256 != sha:
            raise RuntimeError("the fingerprints did not reach the worker unchanged")
        _judges.clear()
        _judges[sha] = judge
    return [_encoded(message) for message in fn(judge, *args)]


def judge_file_there(
    judge: Judge, path: Path, part: int, parts: int, cwd: Path
) -> Iterator[tuple[Any, ...]]:
    """`judge_chunks` on a worker, which must see the file where the writer does (`path`
    relative to the writer's `cwd`); the rows name it as the writer does."""
    where = cwd / path
    if not where.exists():
        raise FileNotFoundError(
            f"{where} is not on the Dask worker {_worker_name()}: the workers need the corpus "
            "at the same path as the machine that runs ingest"
        )
    return judge_chunks(judge, path, part, parts, read_from=where)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except ValueError:  # not in a worker
        return "(none)"
