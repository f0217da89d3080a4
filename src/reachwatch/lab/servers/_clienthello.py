"""Reading the SNI out of a raw TLS ClientHello, as a DPI box does before any handshake."""

from __future__ import annotations

_HANDSHAKE = 0x16
_CLIENT_HELLO = 0x01
_SERVER_NAME = 0x0000


def record_length(data: bytes) -> int | None:
    """Bytes the first TLS record needs in total, or None if `data` is not a handshake record."""
    if len(data) < 5:
        return 5
    if data[0] != _HANDSHAKE:
        return None
    return 5 + int.from_bytes(data[3:5], "big")


def parse_sni(data: bytes) -> str | None:
    """The server_name of the ClientHello starting `data`, or None if absent or unparseable."""
    try:
        return _parse(data)
    except (IndexError, ValueError):
        return None


def _parse(data: bytes) -> str | None:
    if len(data) < 9 or data[0] != _HANDSHAKE or data[5] != _CLIENT_HELLO:
        return None
    end = min(len(data), 5 + int.from_bytes(data[3:5], "big"))
    pos = 9 + 2 + 32  # record header + handshake header, client_version, random
    pos += 1 + data[pos]  # session_id
    pos += 2 + int.from_bytes(data[pos : pos + 2], "big")  # cipher_suites
    pos += 1 + data[pos]  # compression_methods
    extensions_end = min(end, pos + 2 + int.from_bytes(data[pos : pos + 2], "big"))
    pos += 2
    while pos + 4 <= extensions_end:
        kind = int.from_bytes(data[pos : pos + 2], "big")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        body = data[pos + 4 : pos + 4 + length]
        if kind == _SERVER_NAME:
            return _first_host_name(body)
        pos += 4 + length
    return None


def _first_host_name(body: bytes) -> str | None:
    pos = 2  # server_name_list length
    while pos + 3 <= len(body):
        name_type = body[pos]
        length = int.from_bytes(body[pos + 1 : pos + 3], "big")
        name = body[pos + 3 : pos + 3 + length]
        if name_type == 0:
            return name.decode("ascii").lower()
        pos += 3 + length
    return None
