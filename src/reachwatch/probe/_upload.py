"""Send measurements to a `reachwatch serve` (POST /api/v1/measurements, bearer token).

Lines go as application/x-ndjson, so the server stores each one's bytes exactly as the probe
wrote them. A request the server finds too large (413) is split in two and sent again; one
it rate-limits (429) is sent again after its Retry-After, up to a bound. Anything else the
server refuses, or a server that cannot be reached, is an UploadError: the caller keeps the
measurements (nothing the server did not acknowledge is ever dropped).
"""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from reachwatch.errors import ReachwatchError

SUBMIT_PATH = "/api/v1/measurements"
_MAX_RETRY_AFTER = 60.0
_RETRIES = 3


class UploadError(ReachwatchError):
    """The server did not accept the measurements; `sent` of them it had accepted before."""

    def __init__(self, message: str, *, sent: int = 0, network: bool = False) -> None:
        super().__init__(message)
        self.sent = sent
        self.network = network  # unreachable (no answer), not refused


@dataclass(slots=True)
class UploadSummary:
    """What the server said: receipts, and outcome counts where it knew them already."""

    url: str
    sent: int = 0
    receipts: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"stored": 0, "duplicate": 0, "quarantined": 0, "queued": 0}
    )

    def line(self) -> str:
        c = self.counts
        known = f"{c['stored']} stored, {c['duplicate']} duplicates, {c['quarantined']} quarantined"
        queued = f", {c['queued']} queued" if c["queued"] else ""
        receipts = ", ".join(self.receipts[:3]) + (" ..." if len(self.receipts) > 3 else "")
        return f"uploaded {self.sent} measurements to {self.url}: {known}{queued} ({receipts})"


def submit_url(base: str) -> str:
    """The upload endpoint for a server's base URL (or the endpoint itself, given whole)."""
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UploadError(f"--submit {base!r}: not an http(s) URL of a reachwatch server")
    path = parts.path.rstrip("/")
    if not path.endswith(SUBMIT_PATH):
        path += SUBMIT_PATH
    return parts._replace(path=path, query="", fragment="").geturl()


def upload(
    base_url: str,
    token: str,
    lines: Sequence[bytes],
    *,
    ca_file: str | None = None,
    batch: int = 500,
    timeout: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> UploadSummary:
    """Send `lines` (one JSON measurement each, no newline) in requests of up to `batch`."""
    url = submit_url(base_url)
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("https:") else None
    summary = UploadSummary(url)
    pending = [list(lines[i : i + batch]) for i in range(0, len(lines), batch)]
    retries = 0
    while pending:
        chunk = pending.pop(0)
        status, doc, retry_after = _post(url, token, chunk, context, timeout, summary.sent)
        if status in (201, 202):
            _count(summary, doc, len(chunk))
            retries = 0
        elif status == 413 and len(chunk) > 1:
            half = len(chunk) // 2
            pending[:0] = [chunk[:half], chunk[half:]]
        elif status == 429 and retries < _RETRIES and retry_after <= _MAX_RETRY_AFTER:
            retries += 1
            sleep(retry_after)
            pending.insert(0, chunk)
        else:
            message = doc.get("message") or f"HTTP {status}"
            raise UploadError(f"{url} refused the upload ({status}: {message})", sent=summary.sent)
    return summary


def _post(
    url: str,
    token: str,
    chunk: list[bytes],
    context: ssl.SSLContext | None,
    timeout: float,
    sent: int,
) -> tuple[int, dict[str, Any], float]:
    """Status, JSON answer and Retry-After seconds of one request."""
    request = urllib.request.Request(
        url + "?wait=10",
        data=b"\n".join(chunk) + b"\n",
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/x-ndjson",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, _json(response.read()), 0.0
    except urllib.error.HTTPError as exc:
        retry = exc.headers.get("Retry-After", "")
        return exc.code, _json(exc.read()), float(retry) if retry.isdigit() else 1.0
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UploadError(f"{url} unreachable ({reason})", sent=sent, network=True) from None


def _json(data: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _count(summary: UploadSummary, doc: dict[str, Any], size: int) -> None:
    summary.sent += size
    receipt = doc.get("receipt")
    if isinstance(receipt, str):
        summary.receipts.append(receipt)
    for result in doc.get("results") or []:
        status = result.get("status") if isinstance(result, dict) else None
        if status in summary.counts:
            summary.counts[status] += 1
