"""The measurement explorer: the API's filters as a plain GET form (it works without script),
read back from the query string into the query layer's `Filters`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from reachwatch.errors import ReachwatchError
from reachwatch.web import _queries as q
from reachwatch.web._context import WebContext
from reachwatch.web._errors import Warming
from reachwatch.web._views import measurement_href

DEFAULT_LIMIT = 50
LIMITS = ("20", "50", "100", "500")
# The form's fields, in order: the query string's names are the API's.
FIELDS = (
    "cc", "platform", "network", "verdict", "technique", "rule", "ongoing", "since", "until",
    "limit",
)  # fmt: skip
ONGOING = {"": None, "true": True, "false": False}
TECHNIQUES = (
    "dns.nxdomain", "dns.bogon", "dns.injected", "dns.timeout", "tcp.reset", "tcp.timeout",
    "tls.reset", "tls.timeout", "tls.mitm", "http.blockpage", "http.reset", "http.diff",
    "quic.blocked", "throttled",
)  # fmt: skip
TIME_HINT = "UTC: 2024-02-17 or 2024-02-17T15:00"


class BadFilter(ReachwatchError):
    """A filter value the explorer cannot use (said on the page, next to the form)."""


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    value: str
    type: str = "text"
    choices: tuple[str, ...] = ()
    placeholder: str = ""
    hint: str = ""


def _time(name: str, text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.strip().removesuffix("Z").removesuffix("z"))
    except ValueError:
        raise BadFilter(f"{name}: {text!r} is not a date or time ({TIME_HINT})") from None


def read_filters(params: dict[str, str]) -> tuple[q.Filters, int]:
    """The filters and page size a query string asks for (BadFilter for a value that is not
    one)."""
    text = {k: params.get(k, "").strip() for k in FIELDS}
    verdict = text["verdict"] or None
    if verdict is not None and verdict not in q.VERDICTS:
        raise BadFilter(f"verdict: expected one of {', '.join(q.VERDICTS)}, not {verdict!r}")
    try:
        limit = int(text["limit"]) if text["limit"] else DEFAULT_LIMIT
    except ValueError:
        raise BadFilter(f"limit: {text['limit']!r} is not a number") from None
    if text["ongoing"] not in ONGOING:
        raise BadFilter(f"ongoing: expected true or false, not {text['ongoing']!r}")
    if not 1 <= limit <= q.MAX_LIMIT:
        raise BadFilter(f"limit: expected 1 to {q.MAX_LIMIT}, not {limit}")
    filters = q.Filters(
        cc=text["cc"] or None,
        platform=text["platform"] or None,
        network=text["network"] or None,
        technique=text["technique"] or None,
        verdict=verdict,
        rule=text["rule"] or None,
        ongoing=ONGOING[text["ongoing"]],
        since=_time("since", text["since"]),
        until=_time("until", text["until"]),
    )
    return filters, limit


def fields(ctx: WebContext, params: dict[str, str]) -> list[Field]:
    pairs = q.pairs(ctx)
    value = {k: params.get(k, "").strip() for k in FIELDS}
    return [
        Field("cc", "Country", value["cc"].upper(), choices=tuple(sorted({c for c, _ in pairs}))),
        Field("platform", "Platform", value["platform"].lower(),
              choices=tuple(sorted({p for _, p in pairs}))),
        Field("network", "Network (ASN)", value["network"], placeholder="AS17557"),
        Field("verdict", "Verdict", value["verdict"], choices=q.VERDICTS),
        Field("technique", "Technique", value["technique"], choices=TECHNIQUES),
        Field("rule", "Rule id", value["rule"], placeholder="tls.reset_probe_only"),
        Field("ongoing", "During an incident", value["ongoing"], choices=("true", "false"),
              hint="true: one still going on; false: one that ended"),
        Field("since", "From (UTC)", value["since"], hint=TIME_HINT),
        Field("until", "Until (UTC, excluded)", value["until"], hint=TIME_HINT),
        Field("limit", "Per page", value["limit"] or str(DEFAULT_LIMIT), choices=LIMITS),
    ]  # fmt: skip


def _query(params: dict[str, str], **changes: str | None) -> str:
    kept = {k: v for k, v in params.items() if k in (*FIELDS, "cursor") and v}
    kept.update({k: v for k, v in changes.items() if v is not None})
    for k, v in changes.items():
        if v is None:
            kept.pop(k, None)
    return urlencode(kept)


def explore(ctx: WebContext, params: dict[str, str]) -> dict[str, Any]:
    """The explorer page's values; `error` set (and no rows) when a filter is not valid."""
    values: dict[str, Any] = {
        "fields": fields(ctx, params),
        "rows": [],
        "error": None,
        "summary": "",
        "next_href": None,
        "first_href": None,
        "limit": DEFAULT_LIMIT,
        "api_href": "/api/v1/measurements?" + _query(params),
    }
    try:
        filters, limit = read_filters(params)
        page = q.measurements(ctx, filters, params.get("cursor") or None, limit)
    except Warming:
        raise  # not the reader's mistake: the page says to come back
    except ReachwatchError as exc:  # BadFilter, or the query layer's InvalidParameter
        values["error"] = str(exc)
        return values
    values["limit"] = limit
    values["rows"] = [_row(m) for m in page.items]
    shown = len(page.items)
    values["summary"] = (
        "No measurement matches these filters."
        if shown == 0 and not params.get("cursor")
        else f"{shown:,} measurement(s), newest first"
        + ("; more on the next page." if page.next_cursor else ".")
    )
    if page.next_cursor:
        values["next_href"] = "/measurements?" + _query(params, cursor=page.next_cursor)
    if params.get("cursor"):
        values["first_href"] = "/measurements?" + _query(params, cursor=None)
    return values


def _row(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": m["measurement_start_time"],
        "cc": m["probe_cc"],
        "network": m["probe_asn"],
        "platform": m["platform"],
        "input": m["input"] or "",
        "verdict": m["verdict"],
        "technique": m["technique"],
        "id": m["id"],
        "href": measurement_href(m["id"]),
    }
