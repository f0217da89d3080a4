"""Ingest and rejudge on every core: worker processes read and judge, this process writes.

Work goes out in units: a file, a share of a large file, a chunk of stored measurements to
judge again. Each worker runs the units it is given in order and streams back what they came
to, pickled, a chunk at a time. This process takes the chunks in input order and hands every
item to the one StoreWriter, which so gets exactly the calls one process makes: the same
duplicates, the same quarantine lines, the same batches, the same Parquet files.

Bounded memory: a worker holds at most _AHEAD_BYTES of results the writer has not taken (then
waits), and at most _AHEAD_UNITS units are given to a worker at a time. A file larger than
_SPLIT_BYTES is shared: every worker reads it, and each judges every `jobs`-th chunk of
_CHUNK_ITEMS items, so one huge file still keeps every core busy (reading it is repeated,
judging is not).

Workers are fresh interpreters: they share no file descriptor with the writer but their
socket (not its store lock above all), they die with it (PR_SET_PDEATHSIG, and a closed
socket), and a worker that dies makes the run stop with a WorkerFailed before anything more
is committed.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import io
import marshal
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NoReturn, Protocol

from reachwatch.classify import Fingerprints
from reachwatch.ingest._errors import IngestError
from reachwatch.ingest._judge import Judge
from reachwatch.ingest._lines import file_kind, read_items
from reachwatch.ingest._pipeline import (
    _INVALID,
    _JUDGED,
    _KEEP_RAW,
    _Run,
    wire_item,
)
from reachwatch.ingest._provenance import fingerprints_sha256
from reachwatch.ingest._quarantine import path_text

_CHUNK_ITEMS = 500  # items a chunk of a shared file holds (and a message at most)
_MESSAGE_BYTES = 8 << 20  # a message is sent once its records hold this many bytes
_AHEAD_BYTES = 64 << 20  # results a worker keeps ready that the writer has not taken yet
_AHEAD_UNITS = 2  # units given to a worker beyond those the writer has finished taking
_SPLIT_BYTES = 64 << 20  # a file larger than this on disk is shared by every worker
_PR_SET_PDEATHSIG = 1

# A unit: a module-level generator function, run in a worker as fn(judge, *args); it yields
# ("items", [...], closes_chunk) messages and ends with ("end", detail).
Task = tuple[Callable[..., Iterator[tuple[Any, ...]]], tuple[Any, ...]]


class WorkerFailed(IngestError):
    """A worker process died or failed: the run stopped; what was committed stays whole."""


# -- the worker side --------------------------------------------------------------------------


def worker_main(fd: int, parent: int) -> None:
    """A worker process (`python -c`, see _Pool): runs the units sent on socket `fd`, in
    order, until told to stop. The first message is the writer's fingerprint set, as
    `_portable` gives it, and its SHA-256."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the writer's to handle
    _die_with_parent(parent)
    conn = Connection(fd)
    out = _Outbox(conn)
    try:
        fingerprints, expected = conn.recv()
        judge = Judge(pickle.loads(fingerprints))  # once for the worker's whole life
        if judge.fingerprints_sha256 != expected:
            raise RuntimeError("the fingerprints did not reach the worker unchanged")
        while True:
            try:
                task: Task | None = conn.recv()
            except EOFError:  # the writer is gone
                return
            if task is None:
                break
            fn, args = task
            for message in fn(judge, *args):
                out.put(message)
    except (_WriterGone, EOFError):
        return
    except BaseException as exc:  # sent to the writer, which stops the run with it
        with contextlib.suppress(_WriterGone):
            out.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        out.close()


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when the writer dies (Linux), so a writer killed
    with SIGKILL leaves no worker judging for no one."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request was made
        os._exit(1)


class _WriterGone(Exception):
    pass


class _Outbox:
    """Results on their way to the writer: pickled here, sent by a thread, so judging goes on
    while the writer is busy, up to _AHEAD_BYTES held."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._queue: deque[bytes] = deque()
        self._held = 0
        self._closed = False
        self._gone = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._send_all, daemon=True)
        self._thread.start()

    def put(self, message: tuple[Any, ...]) -> None:
        data = _encoded(message)
        with self._cond:
            while self._held and self._held + len(data) > _AHEAD_BYTES and not self._gone:
                self._cond.wait()
            if self._gone:
                raise _WriterGone
            self._queue.append(data)
            self._held += len(data)
            self._cond.notify_all()

    def _send_all(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                data = self._queue[0]
            try:
                self._conn.send_bytes(data)
            except OSError:
                with self._cond:
                    self._gone = True
                    self._cond.notify_all()
                return
            with self._cond:
                self._queue.popleft()
                self._held -= len(data)
                self._cond.notify_all()

    def close(self) -> None:
        """Send what is held, then stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()


def judge_file(
    judge: Judge, path: Path, part: int, parts: int, read_from: Path | None = None
) -> Iterator[tuple[Any, ...]]:
    """A file's items as `wire_item` gives them; with `parts` > 1 only those of every
    `parts`-th chunk from chunk `part` on, each chunk closed by the message that ends it.
    `read_from`: where to read `path` here, when that is not `path` itself."""
    source = path_text(path)
    chunk: list[tuple[Any, ...]] = []
    size = index = 0
    error: str | None = None
    try:
        for item in read_items(read_from or path):
            mine = parts == 1 or (index // _CHUNK_ITEMS) % parts == part
            index += 1
            if not mine:
                continue
            chunk.append(_flat_times(wire_item(judge, path, source, item)))
            size += len(item.raw) if item.raw is not None else 0
            closes = index % _CHUNK_ITEMS == 0
            if closes or size >= _MESSAGE_BYTES:
                yield ("items", chunk, closes)
                chunk, size = [], 0
    except OSError as exc:
        error = str(exc)
    if chunk:
        yield ("items", chunk, True)
    yield ("end", error)


# -- between them ---------------------------------------------------------------------
# Messages go as marshal data when they can (the rows hold only str, int, float, bool, None
# and bytes once their times are flattened): the writer loads that in half the time pickle
# takes (bench/ingest_jobs.py), and every microsecond the writer spends there is one judging
# does not get on a machine with as many workers as cores. Anything else goes pickled.
_MARSHAL, _PICKLE = b"M", b"P"


def _encoded(message: tuple[Any, ...]) -> bytes:
    try:
        return _MARSHAL + marshal.dumps(message)
    except ValueError:
        return _PICKLE + pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def _decoded(data: bytes) -> tuple[Any, ...]:
    message: tuple[Any, ...]
    if data[:1] == _MARSHAL:
        message = marshal.loads(memoryview(data)[1:])
    else:
        message = pickle.loads(memoryview(data)[1:])
    return message


# A row's time (measurements: start, date; raw: start, date) as the fields of the naive
# datetime and None for its date, which is always the start's (see _measurement_row).
_RAW_ROW, _RAW_START = 4, 4


def _flat_times(wire: tuple[Any, ...]) -> tuple[Any, ...]:
    return _times_mapped(wire, _flat_row)


def _flat_row(row: tuple[Any, ...], at: int) -> tuple[Any, ...]:
    start = row[at]
    if type(start) is not datetime or start.tzinfo is not None or row[at + 1] != start.date():
        return row  # left as it is: the message goes pickled
    fields = (start.year, start.month, start.day, start.hour, start.minute, start.second,
              start.microsecond)  # fmt: skip
    return (*row[:at], fields, None, *row[at + 2 :])


def _with_times(wire: tuple[Any, ...]) -> tuple[Any, ...]:
    return _times_mapped(wire, _timed_row)


def _times_mapped(
    wire: tuple[Any, ...], change: Callable[[tuple[Any, ...], int], tuple[Any, ...]]
) -> tuple[Any, ...]:
    """`wire` with `change` applied to the rows of a judged outcome that carry times: the
    measurement row, and the raw row of one kept unclassified."""
    if wire[0] != _JUDGED or wire[5][0] == _INVALID:
        return wire
    outcome = list(wire[5])
    outcome[3] = change(outcome[3], 8)
    if outcome[0] == _KEEP_RAW:
        outcome[_RAW_ROW] = change(outcome[_RAW_ROW], _RAW_START)
    return (*wire[:5], tuple(outcome))


def _timed_row(row: tuple[Any, ...], at: int) -> tuple[Any, ...]:
    fields = row[at]
    if type(fields) is not tuple:
        return row
    start = datetime(*fields)
    return (*row[:at], start, start.date(), *row[at + 2 :])


# -- the writer side ----------------------------------------------------------------------


class _Pickler(pickle.Pickler):
    """Pickles a dataclass as its class and field values: the classifier's fingerprints are
    frozen dataclasses, compiled, which plain pickling cannot set back field by field."""

    def reducer_override(self, obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return type(obj), tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))
        return NotImplemented


def _portable(fingerprints: Fingerprints) -> bytes:
    out = io.BytesIO()
    _Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(fingerprints)
    return out.getvalue()


class _Worker:
    def __init__(self, number: int, process: subprocess.Popen[bytes], conn: Connection) -> None:
        self.number = number
        self.process = process
        self.conn = conn
        self.units: deque[int] = deque()  # tickets given, in order, not yet ended


# A fresh interpreter, not multiprocessing's spawn: that runs the caller's __main__ again in
# every worker, which a script calling ingest() without a main guard does not survive. `-P`:
# the current folder is not put on sys.path, so a `reachwatch` folder there (a source tree)
# is not imported in place of the installed, compiled package.
_WORKER_CODE = "import sys; from reachwatch.ingest._parallel import worker_main; " \
    "worker_main(int(sys.argv[1]), int(sys.argv[2]))"  # fmt: skip


class _Pool:
    """The worker processes, and the units each was given, in order."""

    def __init__(self, jobs: int, fingerprints: Fingerprints) -> None:
        self.workers: list[_Worker] = []
        self._tickets = 0
        first = (_portable(fingerprints), fingerprints_sha256(fingerprints))
        try:
            for number in range(jobs):
                ours, theirs = socket.socketpair()
                with theirs:  # its only holder is then the worker: its death is our EOF
                    fd = theirs.fileno()
                    process = subprocess.Popen(
                        [sys.executable, "-P", "-c", _WORKER_CODE, str(fd), str(os.getpid())],
                        pass_fds=(fd,),
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,  # the writer's stdout is the output
                        stderr=subprocess.DEVNULL,  # its failures come as messages
                    )
                worker = _Worker(number, process, Connection(ours.detach()))
                self.workers.append(worker)
                self._send(worker, first)
        except BaseException:
            self.abort()
            raise

    def free(self, worker: _Worker) -> bool:
        return len(worker.units) < _AHEAD_UNITS

    def least_busy(self) -> _Worker:
        return min(self.workers, key=lambda w: len(w.units))

    def submit(self, worker: _Worker, task: Task) -> tuple[_Worker, int]:
        self._tickets += 1
        self._send(worker, task)
        worker.units.append(self._tickets)
        return worker, self._tickets

    def _send(self, worker: _Worker, message: Any) -> None:
        try:
            worker.conn.send(message)
        except OSError:
            self._failed(worker)

    def receive(self, ticket: tuple[_Worker, int]) -> tuple[Any, ...]:
        """The next message of a unit; the unit must be the oldest its worker has not ended."""
        worker, number = ticket
        if not worker.units or worker.units[0] != number:
            raise RuntimeError("units are taken in the order they were given")
        try:
            data = worker.conn.recv_bytes()
        except (EOFError, OSError):
            self._failed(worker)
        message = _decoded(data)
        if message[0] == "error":
            raise WorkerFailed(f"a worker process failed ({message[1]}); nothing after the "
                               "last committed batch was stored")  # fmt: skip
        if message[0] == "end":
            worker.units.popleft()
        return message

    def _failed(self, worker: _Worker) -> NoReturn:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(timeout=5)
        code = worker.process.returncode
        if code is not None and code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        elif code is not None:
            how = f"exited with status {code}"
        else:
            how = "closed its pipe"
        raise WorkerFailed(
            f"worker process {worker.number} (pid {worker.process.pid}) {how}: the run "
            "stopped, and nothing after the last committed batch was stored; run it again "
            "to finish"
        )

    def close(self) -> None:
        """Stop the workers once all they were given is done."""
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in self.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(timeout=10)
        self.abort()

    def abort(self) -> None:
        """Kill what still runs (a run that failed or was interrupted)."""
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
        for worker in self.workers:
            worker.process.wait()
            worker.conn.close()


class Units(Protocol):
    """Where units run: this machine's worker processes (`_Pool`), or a Dask cluster
    (`reachwatch.ingest._on_dask.DaskUnits`). A ticket's messages are taken in order, and a
    worker's tickets in the order they were given."""

    @property
    def workers(self) -> Sequence[Any]: ...

    def free(self, worker: Any) -> bool: ...

    def least_busy(self) -> Any: ...

    def submit(self, worker: Any, task: Task) -> Any: ...

    def receive(self, ticket: Any) -> tuple[Any, ...]: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


def local_units(fingerprints: Fingerprints, jobs: int) -> Units:
    """`jobs` worker processes on this machine."""
    return _Pool(jobs, fingerprints)


def ingest_in_workers(run: _Run, files: Sequence[Path], pool: Units) -> None:
    """Each file read and judged in a worker; its items taken by `run` in file order."""
    jobs = len(pool.workers)
    ok = False
    try:
        planned: deque[tuple[Path, list[Any]]] = deque()
        pending = iter(files)
        next_file: list[Path] = []  # a file that waits for free workers

        def plan() -> None:
            while len(planned) < 64 + jobs * _AHEAD_UNITS:
                path = next_file.pop() if next_file else next(pending, None)
                if path is None:
                    return
                if file_kind(path) is None:  # not read at all: no worker needed
                    planned.append((path, []))
                    continue
                if _shared(path, jobs):
                    if not all(pool.free(w) for w in pool.workers):
                        next_file.append(path)
                        return
                    tickets = [
                        pool.submit(w, (judge_file, (path, part, jobs)))
                        for part, w in enumerate(pool.workers)
                    ]
                else:
                    worker = pool.least_busy()
                    if not pool.free(worker):
                        next_file.append(path)
                        return
                    tickets = [pool.submit(worker, (judge_file, (path, 0, 1)))]
                planned.append((path, tickets))

        plan()
        while planned:
            path, tickets = planned.popleft()
            if not tickets:
                run.ingest_file(path)
            else:
                run.ingest_end(path, _take_file(run, pool, path, tickets))
            plan()
        ok = True
    finally:
        if ok:
            pool.close()
        else:
            pool.abort()


def _shared(path: Path, jobs: int) -> bool:
    try:
        return jobs > 1 and path.stat().st_size > _SPLIT_BYTES
    except OSError:
        return False


def _take_file(run: _Run, pool: Units, path: Path, tickets: list[Any]) -> str | None:
    """Hand every item of one file to `run`, in file order; why it could not be read to its
    end, if it could not."""
    turn = 0
    while True:
        message = pool.receive(tickets[turn])
        if message[0] == "end":
            break
        for wire in message[1]:
            run.take_wire(path, _with_times(wire))
        if message[2]:  # that chunk is whole: the next is the next part's
            turn = (turn + 1) % len(tickets)
    for other, ticket in enumerate(tickets):  # the other parts only have their end left
        if other != turn:
            pool.receive(ticket)
    error: str | None = message[1]
    return error


def map_in_workers(
    fn: Callable[..., Iterator[tuple[Any, ...]]],
    chunks: Iterator[tuple[Any, ...]],
    pool: Units,
) -> Iterator[Any]:
    """fn(judge, *chunk) run in workers for every chunk; the items of their ("items", items,
    ...) messages, in the order of the chunks."""
    ok = False
    try:
        planned: deque[Any] = deque()
        more = True
        while True:
            while more and pool.free(pool.least_busy()):
                chunk = next(chunks, None)
                if chunk is None:
                    more = False
                    break
                planned.append(pool.submit(pool.least_busy(), (fn, chunk)))
            if not planned:
                break
            ticket = planned.popleft()
            while (message := pool.receive(ticket))[0] != "end":
                yield from message[1]
        ok = True
    finally:
        if ok:
            pool.close()
        else:
            pool.abort()
