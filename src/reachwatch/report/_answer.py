"""The report's sentences: the answer to "is it blocked, since when, where, how, and was each
order followed", written from the facts document only. Every time is UTC and says so."""

from __future__ import annotations

from typing import Any

from reachwatch.catalog import CatalogError, load_catalog
from reachwatch.report._operators import network_label
from reachwatch.report._svg import parse_time

STATUS_TEXT = {
    "followed": "Followed",
    "followed late": "Followed late",
    "not followed": "Not followed",
    "no data": "Cannot tell: no data",
}


def when(text: str | None) -> str:
    return "-" if not text else f"{text[:16].replace('T', ' ')} UTC"


def days_between(a: str, b: str) -> float:
    return (parse_time(b) - parse_time(a)).total_seconds() / 86400


def platform_title(facts: dict[str, Any]) -> str:
    name = facts["case"]["scope"]["platform"]
    try:
        return load_catalog().get(name).title
    except CatalogError:
        return str(name)


def incident_sentence(facts: dict[str, Any], incident: dict[str, Any]) -> str:
    platform = platform_title(facts)
    cc = facts["case"]["scope"]["cc"]
    nets = ", ".join(network_label(n["network"]) for n in incident["networks"])
    bounds = incident["start_bounds"]
    between = (
        f" (the change lies between {when(bounds[0])} and {when(bounds[1])})"
        if bounds and bounds[0]
        else " (blocked from the first measurement on: the start itself is not in the data)"
    )
    how = ", ".join(incident["techniques"]) or "no single main technique"
    data_end = facts["check"]["data"]["end"]
    state = (
        f"still blocked when the data ends ({when(data_end)})"
        if incident["end"] is None
        else f"blocking ended {when(incident['end'])}"
    )
    return (
        f"{platform} blocked in {cc} from {when(incident['start'])}{between} on "
        f"{len(incident['networks'])} network(s): {nets}; by {how}; {state}."
    )


def no_incident_sentence(facts: dict[str, Any]) -> str:
    data = facts["check"]["data"]
    scope = facts["case"]["scope"]
    if not data["start"]:
        return (
            f"No measurements of {scope['platform']} in {scope['cc']}: nothing is known about "
            "blocking (no data is never read as 'not blocked')."
        )
    return (
        f"No blocking of {scope['platform']} in {scope['cc']} is visible in the data from "
        f"{when(data['start'])} to {when(data['end'])}."
    )


def directive_title(d: dict[str, Any]) -> str:
    who = d["actor"] or "order"
    return f"{who}, {d['date']}: {d['label'] or d['summary']}"


def deadline_text(d: dict[str, Any]) -> str:
    if d["deadline"]:
        return f"deadline {d['deadline']} (due by {when(d['due'])})"
    return f"no deadline: due at once ({when(d['due'])})"


def directive_outcome(facts: dict[str, Any], d: dict[str, Any]) -> str:
    """Whether the directive was followed, on which networks, by how much it was missed, or
    what the data does show when it ends before the deadline."""
    parts: list[str] = []
    nets = d["networks"]
    stuck = [n for n in nets if n["status"] == "not followed"]
    if d["requires"] == "accessible" and stuck:
        each = ", ".join(
            f"{network_label(n['network'])} {n['days_past_deadline']:.1f} days" for n in stuck
        )
        parts.append(
            f"blocking went on past the deadline on {each}, and was still on when the data ends"
        )
    elif stuck:
        parts.append(f"not blocked after it on {_labels(stuck)}")
    for n in nets:
        if n["status"] == "followed late":
            parts.append(
                f"on {network_label(n['network'])} access came back {when(n['since'])}, "
                f"{n['days_past_deadline']:.1f} days after the deadline"
            )
    done = [n for n in nets if n["status"] == "followed"]
    if done and d["requires"] == "accessible":
        parts.append(f"accessible when due on {_labels(done)}")
    elif done:
        parts += [
            f"blocked on {network_label(n['network'])} from {when(n['since'])}"
            + (", still blocked when its data ends" if n["ongoing"] else f" to {when(n['until'])}")
            for n in done
        ]
    unknown = [n for n in nets if n["status"] == "no data"]
    if unknown:
        parts.append(_no_data(facts, d, unknown))
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def _labels(nets: list[dict[str, Any]]) -> str:
    return ", ".join(network_label(n["network"]) for n in nets)


def _no_data(facts: dict[str, Any], d: dict[str, Any], nets: list[dict[str, Any]]) -> str:
    """What the data shows for networks whose data ends before the directive was due."""
    shown: dict[tuple[str, float, str], list[str]] = {}
    silent: list[str] = []
    for n in nets:
        last = facts["last_state"].get(n["network"])
        if last is None:
            silent.append(network_label(n["network"]))
            continue
        state = "blocked" if last["state"] in ("blocked", "partial") else "not blocked"
        key = (last["last_data"], days_between(last["last_data"], d["due"]), state)
        shown.setdefault(key, []).append(network_label(n["network"]))
    platform = platform_title(facts)
    out = [
        f"on {', '.join(labels)} the data ends {when(end)}, {days:.1f} days before the order "
        f"was due; {platform} was {state} then"
        for (end, days, state), labels in shown.items()
    ]
    if silent:
        out.append(f"no measurements at all from {', '.join(silent)}")
    return "; ".join(out)
