"""Messages between the ingest writer and its worker processes on a Unix socket: each framed
by its length, and one that is large (a chunk's rows) handed over as shared memory.

A chunk's rows are most of what a worker sends (every measurement's own bytes among them).
Through the socket they would be copied three times (into the kernel, out of it, and into
the message) by the two processes that share the cores with judging. Instead the worker copies
them once, into a memfd (`SharedMemory`), and passes its descriptor with the frame; the writer
maps it (`mapped`) and reads the tables in place. The memory is the kernel's to
free once both have let go of it, whichever process dies first.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import socket
import struct

Payload = bytes | bytearray | memoryview | mmap.mmap

# A frame: its payload's length, and 1 when a file descriptor rides on the frame (then the
# payload is usually empty: the message is in the memory the descriptor names).
_HEADER = struct.Struct("<QB")
_FD_BYTES = struct.calcsize("i")

# Linux: memfd, descriptors passed on the socket, and mappings populated in one call.
SHARED_MEMORY = all(
    (
        hasattr(os, "memfd_create"),
        hasattr(socket, "SCM_RIGHTS"),
        hasattr(mmap, "MAP_POPULATE"),
    )
)


class SharedMemory:
    """Where a worker writes the messages it hands over in shared memory. Calling it with a
    size gives a buffer to write one message into; `detach` then copies the message into a
    fresh memfd and gives its descriptor, to send (and close after). The buffer is kept for
    the next message: one write() into the memfd costs less than faulting in the pages of a
    fresh mapping one by one."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._size = -1  # of the message written, -1 when none is waiting

    def __call__(self, size: int) -> memoryview:
        if len(self._buffer) < size:
            self._buffer = bytearray(size)  # a new one: the old may still be exported
        self._size = size
        return memoryview(self._buffer)[:size]

    def detach(self) -> int:
        """The message written in a memfd of its own (-1: none was written)."""
        if self._size < 0:
            return -1
        with memoryview(self._buffer)[: self._size] as view:
            self._size = -1
            fd = os.memfd_create("reachwatch-chunk", os.MFD_CLOEXEC)
            try:
                done = 0
                while done < len(view):
                    done += os.write(fd, view[done:])
            except BaseException:
                os.close(fd)
                raise
        return fd


def mapped(fd: int) -> mmap.mmap:
    """The memory a received descriptor names, read-only; the descriptor is closed. The
    mapping is unmapped when the last object reading it is gone."""
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise OSError("an empty shared message")
        return mmap.mmap(fd, size, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE, prot=mmap.PROT_READ)
    finally:
        os.close(fd)


def send(sock: socket.socket, payload: Payload, fd: int = -1) -> None:
    """One frame: `payload`, and the descriptor `fd` when given (the caller still closes
    it). The descriptor goes with the header, which the other side reads with recvmsg."""
    header = _HEADER.pack(len(memoryview(payload)), fd >= 0)
    if fd >= 0:
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))]
        if sock.sendmsg([header], rights) != len(header):  # a blocking socket sends it whole
            raise OSError("a frame's header was cut")
    else:
        sock.sendall(header)
    sock.sendall(payload)


def receive(sock: socket.socket) -> tuple[bytearray, int]:
    """The next frame's payload and the descriptor that came with it (-1: none; the caller
    owns it). EOFError: the other side closed the socket between frames."""
    header, fds = _header(sock)
    try:
        length, has_fd = _HEADER.unpack(header)
        if len(fds) != has_fd:
            raise OSError(f"a frame came with {len(fds)} descriptors, not {has_fd}")
        payload = bytearray(length)
        view = memoryview(payload)
        got = 0
        while got < length:
            n = sock.recv_into(view[got:])
            if n == 0:
                raise OSError("the socket closed inside a frame")
            got += n
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return payload, fds[0] if fds else -1


def _header(sock: socket.socket) -> tuple[bytes, list[int]]:
    header = b""
    fds: list[int] = []
    flags = getattr(socket, "MSG_CMSG_CLOEXEC", 0)
    try:
        while len(header) < _HEADER.size:
            data, ancillary, msg_flags, _ = sock.recvmsg(
                _HEADER.size - len(header), socket.CMSG_SPACE(_FD_BYTES), flags
            )
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    whole = len(value) - len(value) % _FD_BYTES
                    fds.extend(struct.unpack(f"{whole // _FD_BYTES}i", value[:whole]))
            if msg_flags & getattr(socket, "MSG_CTRUNC", 0):
                raise OSError("a frame came with more descriptors than it may carry")
            if not data:
                if header:
                    raise OSError("the socket closed inside a frame")
                raise EOFError
            header += data
    except BaseException:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise
    return header, fds
