"""POST an event's JSON to a webhook: bounded time per attempt, a few attempts with a growing
pause between them, and an answer that says what happened rather than an exception. A
webhook is someone else's server: it being down must never stop the watch."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from reachwatch.watch._errors import WatchError

# A 4xx other than these says the request itself is refused: sending it again cannot help.
_TRY_AGAIN = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class Delivery:
    delivered: bool
    attempts: int
    reason: str = ""  # why not, when not
    permanent: bool = False  # the receiver refused this event: never worth sending again


def check_webhook(url: str) -> str:
    """`url` when it is an http(s) URL with a host; WatchError otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WatchError(f"--webhook {url!r}: expected an http:// or https:// URL")
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib turns a redirected POST into a GET without its body: a redirect is a failure."""

    def redirect_request(self, *_args: object, **_kw: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _agent() -> str:
    try:
        return f"reachwatch/{version('reachwatch')}"
    except PackageNotFoundError:
        return "reachwatch"


def post_json(
    url: str,
    body: bytes,
    *,
    timeout: float = 10.0,
    attempts: int = 3,
    backoff: float = 1.0,
    pause: Callable[[float], bool] | None = None,
) -> Delivery:
    """POST `body` (JSON) to `url`; any 2xx answer is delivered. Between attempts it pauses
    `backoff`, then twice that, and so on, through `pause(seconds)`, which returns True when
    the watch is stopping (then no more attempts)."""
    reason = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": _agent()},
        )
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                response.read()
            return Delivery(True, attempt)
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code}"
            if 300 <= exc.code < 500 and exc.code not in _TRY_AGAIN:
                return Delivery(False, attempt, reason, permanent=True)
        except urllib.error.URLError as exc:
            reason = str(exc.reason)
        except (TimeoutError, OSError, ValueError) as exc:  # a read timeout, a reset, a bad port
            reason = str(exc) or type(exc).__name__
        if attempt < attempts and pause is not None and pause(backoff * 2 ** (attempt - 1)):
            return Delivery(False, attempt, f"{reason}; stopped before trying again")
    return Delivery(False, attempts, reason)
