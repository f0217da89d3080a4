"""The messages between ingest's writer and its workers: frames on a real Unix socket pair, a
chunk's rows in shared memory passed with its frame, and a worker that never holds more than
its room of results the writer has not taken."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from tests.store.test_row_chunks import _built, _item

import reachwatch.ingest._parallel as parallel
from reachwatch.ingest import _frames as frames
from reachwatch.store import RowChunk

needs_shared_memory = pytest.mark.skipif(
    not frames.SHARED_MEMORY, reason="memfd and descriptor passing are Linux's"
)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    with a, b:
        yield a, b


def test_frames_arrive_whole_and_in_order(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    payloads = [b"", b"x", os.urandom(3 << 20), b"last"]  # one larger than the socket's buffer

    def send_all() -> None:
        for payload in payloads:
            frames.send(a, payload)

    sender = threading.Thread(target=send_all)
    sender.start()
    got = [frames.receive(b) for _ in payloads]
    sender.join()
    assert got == [(bytearray(p), -1) for p in payloads]


@needs_shared_memory
def test_shared_memory_crosses_with_its_frame(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    data = os.urandom(5 << 20)
    memory = frames.SharedMemory()
    memory(len(data))[:] = data
    fd = memory.detach()
    frames.send(a, b"", fd)
    os.close(fd)  # the sender's copy: the memory lives on in the message
    frames.send(a, b"after")
    payload, received = frames.receive(b)
    assert payload == b"" and received >= 0
    assert frames.mapped(received)[:] == data
    assert frames.receive(b) == (bytearray(b"after"), -1)
    with pytest.raises(OSError):
        os.fstat(received)  # mapped() closed it


@needs_shared_memory
def test_a_chunk_in_shared_memory_decodes_to_the_same_chunk(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    chunk = _built([_item(i) for i in range(40)], sha256=True)
    message = ("chunk", [(1, "control")], chunk, True)
    memory = frames.SharedMemory()
    parallel._encoded(message, memory)
    fd = memory.detach()
    frames.send(a, b"", fd)
    os.close(fd)
    _, received = frames.receive(b)
    kind, control, back, closes = parallel._decoded(frames.mapped(received))
    assert (kind, control, closes) == ("chunk", [(1, "control")], True)
    assert back.digests == chunk.digests and back.at == chunk.at
    assert {n: t.to_pylist() for n, t in back.tables.items()} == {
        n: t.to_pylist() for n, t in chunk.tables.items()
    }


def test_a_peer_gone_between_frames_is_the_end(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    frames.send(a, b"one")
    a.shutdown(socket.SHUT_WR)
    assert frames.receive(b) == (bytearray(b"one"), -1)
    with pytest.raises(EOFError):
        frames.receive(b)


def test_a_peer_gone_inside_a_frame_is_an_error(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    a.sendall(frames._HEADER.pack(100, 0) + b"only part")
    a.shutdown(socket.SHUT_WR)
    with pytest.raises(OSError, match="inside a frame"):
        frames.receive(b)


def test_a_frame_that_promises_a_descriptor_it_lacks_is_an_error(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    a.sendall(frames._HEADER.pack(0, 1))
    with pytest.raises(OSError, match="0 descriptors, not 1"):
        frames.receive(b)


def _put_in_a_thread(out: parallel._Outbox, chunk: RowChunk, count: int) -> list[int]:
    """A worker putting `count` chunk results into `out`, in a thread of its own: the numbers
    of those it has put so far."""
    done: list[int] = []

    def judge() -> None:
        for n in range(count):
            out.put(("chunk", [], chunk, False))
            done.append(n)

    threading.Thread(target=judge, daemon=True).start()
    return done


def _writer_takes(out: parallel._Outbox, writer_end: socket.socket, count: int) -> list[int]:
    """The writer takes `count` results in shared memory, and says so: their sizes."""
    sizes = []
    for _ in range(count):
        _, fd = frames.receive(writer_end)
        sizes.append(len(frames.mapped(fd)))
        out.taken(sizes[-1])
    return sizes


def _soon(done: list[int], count: int) -> list[int]:
    deadline = time.monotonic() + 10
    while len(done) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return done


@needs_shared_memory
def test_a_worker_holds_no_more_than_its_room_until_the_writer_takes(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Results in shared memory have tiny frames: the socket alone would let a worker run any
    distance ahead. Its outbox waits once its room is full, until the writer says it took
    one."""
    worker_end, writer_end = pair
    chunk = _built([_item(i) for i in range(60)], sha256=False)
    size = len(parallel._encoded(("chunk", [], chunk, False)))
    monkeypatch.setattr(parallel, "_AHEAD_BYTES", 2 * size + size // 2)
    out = parallel._Outbox(worker_end)
    done = _put_in_a_thread(out, chunk, 4)
    time.sleep(0.5)
    assert done == [0, 1]  # the third would hold more than the room
    assert _writer_takes(out, writer_end, 2) == [size, size]  # then two more fit
    assert _soon(done, 4) == [0, 1, 2, 3]
    out.close()


@needs_shared_memory
def test_a_worker_holds_few_results_in_shared_memory_however_small(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each result in shared memory is a descriptor in flight, which the kernel counts: small
    results are held to a number, not only to a size."""
    worker_end, writer_end = pair
    chunk = _built([_item(i) for i in range(3)], sha256=False)
    monkeypatch.setattr(parallel, "_AHEAD_SHARED", 3)
    out = parallel._Outbox(worker_end)
    done = _put_in_a_thread(out, chunk, 5)
    time.sleep(0.5)
    assert done == [0, 1, 2]  # far from _AHEAD_BYTES, but three are in flight
    _writer_takes(out, writer_end, 2)
    assert _soon(done, 5) == [0, 1, 2, 3, 4]
    out.close()
