"""Ingest and rejudge on every core: worker processes read and judge, this process writes.

Work goes out in units: a file, a share of a large file, a chunk of stored measurements to
judge again. Each worker runs the units it is given in order and streams back what they came
to a chunk at a time: each item's control entry, and the rows of its measurements built
(`judge_chunks`). This process takes the chunks in input order and hands them to `_Run`,
exactly as one process does: the same duplicates, the same quarantine lines, the same
batches, the same Parquet files.

Bounded memory: a worker holds at most _AHEAD_BYTES of results the writer has not taken (then
waits), and at most _AHEAD_UNITS units are given to a worker at a time. A file larger than
_SPLIT_BYTES is shared: every worker reads it, and each judges every `jobs`-th chunk of it
(`judge_chunks`), so one huge file still keeps every core busy (reading it is repeated,
judging is not).

Workers are fresh interpreters: they share no file descriptor with the writer but their
socket (not its store lock above all), they die with it (PR_SET_PDEATHSIG, and a closed
socket), and a worker that dies makes the run stop with a WorkerFailed before anything more
is committed. A chunk's rows cross in shared memory, not through the socket (`_frames`).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import io
import marshal
import mmap
import os
import pickle
import queue
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, Protocol

from reachwatch.classify import Fingerprints
from reachwatch.ingest import _frames as frames
from reachwatch.ingest._errors import IngestError
from reachwatch.ingest._judge import Judge
from reachwatch.ingest._lines import file_kind
from reachwatch.ingest._pipeline import _Run, judge_chunks
from reachwatch.ingest._provenance import fingerprints_sha256
from reachwatch.store import RowChunk, Writable

_AHEAD_BYTES = 64 << 20  # results a worker keeps ready that the writer has not taken yet
# ...and of those in shared memory, at most this many: each is a descriptor in flight, and the
# kernel refuses to pass more than RLIMIT_NOFILE of them for one user at a time.
_AHEAD_SHARED = 32
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
    _room_for_descriptors_in_flight()
    sock = socket.socket(fileno=fd)
    out = _Outbox(sock)
    inbox = _Inbox(sock, out)
    try:
        fingerprints, expected = inbox.take()
        judge = Judge(pickle.loads(fingerprints))  # once for the worker's whole life
        if judge.fingerprints_sha256 != expected:
            raise RuntimeError("the fingerprints did not reach the worker unchanged")
        while (task := inbox.take()) is not None:
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


def _room_for_descriptors_in_flight() -> None:
    """Raise the soft limit on open files to the hard one: the kernel refuses to pass a
    descriptor on a socket once the user's processes have that many in flight, and with many
    workers each may have _AHEAD_SHARED."""
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or hard > soft):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class _WriterGone(Exception):
    pass


class _Outbox:
    """Results on their way to the writer: encoded here, sent by a thread, so judging goes on
    while the writer is busy, up to _AHEAD_BYTES held. A result handed over in shared memory
    is held until the writer says it took it (`taken`), not only until it is sent: its frame
    is a few bytes, and the socket would let any number of them through. At most
    _AHEAD_SHARED of them are held."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._memory = frames.SharedMemory() if frames.SHARED_MEMORY else None
        self._queue: deque[tuple[Encoded, int, int]] = deque()  # payload, memfd, size held
        self._held = 0
        self._shared = 0  # results in shared memory the writer has not taken
        self._closed = False
        self._gone = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._send_all, daemon=True)
        self._thread.start()

    def put(self, message: tuple[Any, ...]) -> None:
        memory = self._memory
        data = _encoded(message, memory or bytearray)
        size = len(data)
        fd = memory.detach() if memory is not None else -1
        with self._cond:
            while not self._gone and (
                (self._held and self._held + size > _AHEAD_BYTES)
                or (fd >= 0 and self._shared >= _AHEAD_SHARED)
            ):
                self._cond.wait()
            if self._gone:
                if fd >= 0:
                    os.close(fd)
                raise _WriterGone
            self._queue.append((b"" if fd >= 0 else data, fd, size))
            self._held += size
            self._shared += fd >= 0
            self._cond.notify_all()

    def taken(self, size: int) -> None:
        """The writer took a result of `size` bytes handed over in shared memory."""
        self._release(size, shared=1)

    def gone(self) -> None:
        with self._cond:
            self._gone = True
            self._cond.notify_all()

    def _release(self, size: int, shared: int = 0) -> None:
        with self._cond:
            self._held -= size
            self._shared -= shared
            self._cond.notify_all()

    def _send_all(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                payload, fd, size = self._queue.popleft()
            try:
                frames.send(self._sock, payload, fd)
            except OSError:
                self.gone()
                return
            finally:
                if fd >= 0:
                    os.close(fd)
            if fd < 0:
                self._release(size)

    def close(self) -> None:
        """Send what is held, then stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        with self._cond:  # what a writer that went away never took
            for _, fd, _ in self._queue:
                if fd >= 0:
                    os.close(fd)
            self._queue.clear()


class _Inbox:
    """What the writer sends, read by a thread: units (and the fingerprints first) to take in
    order, and word of results it took, which free room in the outbox at once, even while
    the worker waits for that room."""

    _GONE = object()

    def __init__(self, sock: socket.socket, out: _Outbox) -> None:
        self._sock = sock
        self._out = out
        self._units: queue.SimpleQueue[Any] = queue.SimpleQueue()
        threading.Thread(target=self._read_all, daemon=True).start()

    def take(self) -> Any:
        """The next unit (None: stop); EOFError when the writer is gone."""
        unit = self._units.get()
        if unit is self._GONE:
            raise EOFError
        return unit

    def _read_all(self) -> None:
        try:
            while True:
                payload, fd = frames.receive(self._sock)
                if fd >= 0:
                    os.close(fd)
                if payload[:1] == _TAKEN:
                    self._out.taken(_LENGTH.unpack_from(payload, 1)[0])
                else:
                    self._units.put(pickle.loads(memoryview(payload)[1:]))
        except (EOFError, OSError):
            self._out.gone()
            self._units.put(self._GONE)


# -- between them ---------------------------------------------------------------------
# A chunk's message goes as its control entries and flag, marshalled, then its rows as
# RowChunk.encode writes them, all in one buffer written once; other messages go as marshal
# data when they can (the writer loads that in half the time pickle takes), else pickled.
# Every microsecond the writer spends here is one judging does not get on a machine with as
# many workers as cores.
_MARSHAL, _PICKLE, _CHUNK = b"M", b"P", b"C"
_UNIT, _TAKEN = b"U", b"T"  # the writer's frames: a unit (pickled), a result taken (its size)
_LENGTH = struct.Struct("<Q")
Encoded = bytes | bytearray | memoryview | mmap.mmap


def _encoded(message: tuple[Any, ...], into: Callable[[int], Writable] = bytearray) -> Encoded:
    """The message as bytes, a chunk's written into what `into` gives for its size."""
    if message[0] == "chunk" and message[2] is not None:
        chunk: RowChunk = message[2]
        control = marshal.dumps((message[1], message[3]))
        return chunk.encode(_CHUNK + _LENGTH.pack(len(control)) + control, into)
    try:
        return _MARSHAL + marshal.dumps(message)
    except ValueError:
        return _PICKLE + pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def _decoded(data: Encoded) -> tuple[Any, ...]:
    message: tuple[Any, ...]
    tag, view = data[:1], memoryview(data)[1:]
    if tag == _CHUNK:
        (length,) = _LENGTH.unpack_from(view)
        start = _LENGTH.size + length
        control, closes = marshal.loads(view[_LENGTH.size : start])
        message = ("chunk", control, RowChunk.decode(view[start:]), closes)
    elif tag == _MARSHAL:
        message = marshal.loads(view)
    else:
        message = pickle.loads(view)
    return message


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
    def __init__(self, number: int, process: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.number = number
        self.process = process
        self.sock = sock
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
                        # No linear algebra here: numpy's OpenBLAS threads would only
                        # spin (about 0.1 CPU s a worker). A value the user set stands.
                        env={"OPENBLAS_NUM_THREADS": "1", **os.environ},
                    )
                worker = _Worker(number, process, ours)
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
            frames.send(worker.sock, _UNIT + pickle.dumps(message, pickle.HIGHEST_PROTOCOL))
        except OSError:
            self._failed(worker)

    def receive(self, ticket: tuple[_Worker, int]) -> tuple[Any, ...]:
        """The next message of a unit; the unit must be the oldest its worker has not ended."""
        worker, number = ticket
        if not worker.units or worker.units[0] != number:
            raise RuntimeError("units are taken in the order they were given")
        data: Encoded
        try:
            data, fd = frames.receive(worker.sock)
            if fd >= 0:  # a result in shared memory: the worker may make the next one
                data = frames.mapped(fd)
                frames.send(worker.sock, _TAKEN + _LENGTH.pack(len(data)))
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
                frames.send(worker.sock, _UNIT + pickle.dumps(None))
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
            worker.sock.close()


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
                        pool.submit(w, (judge_chunks, (path, part, jobs)))
                        for part, w in enumerate(pool.workers)
                    ]
                else:
                    worker = pool.least_busy()
                    if not pool.free(worker):
                        next_file.append(path)
                        return
                    tickets = [pool.submit(worker, (judge_chunks, (path, 0, 1)))]
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
        run.take_chunk(path, message[1], message[2])
        if message[3]:  # that chunk is whole: the next is the next part's
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
