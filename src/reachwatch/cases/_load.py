"""Read a case YAML file and validate it; every problem is one line naming where it is."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from reachwatch.cases._model import (
    EVENT_KINDS,
    Case,
    Event,
    Requirement,
    Scope,
    SimulatedSpell,
    Simulation,
    Source,
)
from reachwatch.errors import ReachwatchError


class CaseError(ReachwatchError):
    """A case file or name that cannot be read as a case; the message says where."""


_ASN = re.compile(r"^AS\d+$")
_REQUIREMENTS: tuple[Requirement, ...] = ("blocked", "accessible")


class _Loader(yaml.SafeLoader):
    """Safe YAML that leaves dates as text: they are parsed (and checked) here, so an invalid
    date is a one-line error naming the event rather than a crash inside the YAML library."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Ctx:
    """Where in the file we are, for error messages."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, message: str) -> CaseError:
        return CaseError(f"{self.origin}: {where}: {message}")


def shipped_cases() -> list[str]:
    folder = resources.files("reachwatch.cases") / "data"
    return sorted(e.name[:-5] for e in folder.iterdir() if e.name.endswith(".yaml"))


def resolve_case(name_or_path: str | Path) -> tuple[str, str]:
    """(text, origin) of a case given as a file path or as a shipped case's name."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise CaseError(f"{path}: cannot read case ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise CaseError(f"{path}: not UTF-8 text (byte {exc.start}); a case is YAML") from None
    name = str(name_or_path)
    if name in shipped_cases():
        entry = resources.files("reachwatch.cases") / "data" / f"{name}.yaml"
        return entry.read_text(encoding="utf-8"), f"{name}.yaml"
    known = ", ".join(shipped_cases())
    raise CaseError(f"no case file or shipped case named {name!r} (shipped: {known})")


def load_case(name_or_path: str | Path) -> Case:
    """A validated case from a YAML path or the name of a shipped case (e.g. 'pk-x-2024')."""
    text, origin = resolve_case(name_or_path)
    return parse_case(text, origin)


def parse_case(text: str, origin: str = "<case>") -> Case:
    ctx = _Ctx(origin)
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ctx.fail(where, str(problem)) from None
    if not isinstance(data, dict):
        raise ctx.fail("top level", "expected a mapping with id, title, scope and events")
    for key in ("id", "title", "scope", "events"):
        if key not in data:
            raise ctx.fail("top level", f"missing {key!r}")
    _known(ctx, "top level", data, _TOP_KEYS)
    scope = _scope(ctx, data["scope"])
    events = data["events"]
    if not isinstance(events, list) or not events:
        raise ctx.fail("events", "expected a non-empty list")
    parsed = tuple(_event(ctx, f"events[{i}]", e) for i, e in enumerate(events))
    ids = [e.id for e in parsed if e.id]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ctx.fail("events", f"duplicate id {dupes[0]!r}")
    simulation = data.get("simulation")
    return Case(
        id=_text(ctx, "id", data["id"]),
        title=_text(ctx, "title", data["title"]),
        scope=scope,
        events=tuple(sorted(parsed, key=lambda e: e.date)),
        simulation=_simulation(ctx, simulation) if simulation is not None else None,
        path=origin,
    )


_TOP_KEYS = ("id", "title", "scope", "events", "simulation")
_SCOPE_KEYS = ("cc", "platform", "networks", "hosts")
_EVENT_KEYS = (
    "id", "date", "kind", "summary", "sources", "actor", "addressee", "requires", "deadline",
    "within_days", "partial", "label",
)  # fmt: skip
_SOURCE_KEYS = ("name", "url")
_SIMULATION_KEYS = (
    "start", "end", "measurements_per_hour", "blocks", "restorations", "outages", "vanish",
)  # fmt: skip
_SPELL_KEYS = ("start", "end", "networks", "technique")


def _known(ctx: _Ctx, where: str, data: dict[str, Any], keys: tuple[str, ...]) -> None:
    """A misspelt key (within_day: 7) must not silently drop a deadline: reject it."""
    for key in data:
        if key not in keys:
            raise ctx.fail(where, f"unknown key {key!r} (expected one of {', '.join(keys)})")


def _text(ctx: _Ctx, where: str, value: Any) -> str:
    if not isinstance(value, str | int) or not str(value).strip():
        raise ctx.fail(where, "expected non-empty text")
    return str(value).strip()


def _date(ctx: _Ctx, where: str, value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ctx.fail(where, f"{value!r} is not a date (YYYY-MM-DD)") from None


def _datetime(ctx: _Ctx, where: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        raise ctx.fail(where, f"{value!r} is not a time (YYYY-MM-DDThh:mm:ss, UTC)") from None


def _networks(ctx: _Ctx, where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ctx.fail(where, "expected a list of networks like AS17557")
    out = []
    for i, item in enumerate(value):
        name = str(item).upper()
        if name.isdigit():
            name = f"AS{name}"
        if not _ASN.match(name):
            raise ctx.fail(f"{where}[{i}]", f"{item!r} is not a network (ASxxxx)")
        out.append(name)
    return tuple(out)


def _scope(ctx: _Ctx, data: Any) -> Scope:
    if not isinstance(data, dict):
        raise ctx.fail("scope", "expected a mapping with cc, platform and networks")
    _known(ctx, "scope", data, _SCOPE_KEYS)
    for key in ("cc", "platform"):
        if key not in data:
            raise ctx.fail("scope", f"missing {key!r}")
    cc = _text(ctx, "scope.cc", data["cc"]).upper()
    if not re.fullmatch(r"[A-Z]{2}", cc):
        raise ctx.fail("scope.cc", f"{cc!r} is not a two-letter country code")
    hosts = data.get("hosts", [])
    if not isinstance(hosts, list):
        raise ctx.fail("scope.hosts", "expected a list of hostnames")
    return Scope(
        cc=cc,
        platform=_text(ctx, "scope.platform", data["platform"]).lower(),
        networks=_networks(ctx, "scope.networks", data.get("networks", [])),
        hosts=tuple(str(h).lower() for h in hosts),
    )


def _sources(ctx: _Ctx, where: str, value: Any) -> tuple[Source, ...]:
    if not isinstance(value, list) and value is not None:
        raise ctx.fail(where, "expected a list of sources (each a name or {name, url})")
    if not value:
        raise ctx.fail(where, "every event needs at least one source")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item.strip():
            out.append(Source(item.strip()))
        elif isinstance(item, dict) and str(item.get("name", "")).strip():
            _known(ctx, f"{where}[{i}]", item, _SOURCE_KEYS)
            url = item.get("url")
            if url is not None and not str(url).startswith(("http://", "https://")):
                raise ctx.fail(f"{where}[{i}].url", f"{url!r} is not an http(s) URL")
            out.append(Source(str(item["name"]).strip(), str(url) if url else None))
        else:
            raise ctx.fail(f"{where}[{i}]", "a source is a name or {name, url}")
    return tuple(out)


def _event(ctx: _Ctx, where: str, data: Any) -> Event:
    if not isinstance(data, dict):
        raise ctx.fail(where, "expected a mapping")
    _known(ctx, where, data, _EVENT_KEYS)
    for key in ("date", "kind", "summary"):
        if key not in data:
            raise ctx.fail(where, f"missing {key!r}")
    kind = str(data["kind"])
    if kind not in EVENT_KINDS:
        raise ctx.fail(f"{where}.kind", f"{kind!r} is not one of {', '.join(EVENT_KINDS)}")
    day = _date(ctx, f"{where}.date", data["date"])
    requires = data.get("requires")
    if requires is not None and requires not in _REQUIREMENTS:
        raise ctx.fail(f"{where}.requires", f"{requires!r} is not 'blocked' or 'accessible'")
    deadline = _deadline(ctx, where, data, day)
    if deadline is not None and requires is None:
        raise ctx.fail(where, "a deadline needs 'requires' (what following the order means)")
    return Event(
        date=day,
        kind=kind,
        summary=" ".join(_text(ctx, f"{where}.summary", data["summary"]).split()),
        sources=_sources(ctx, f"{where}.sources", data.get("sources")),
        id=str(data["id"]) if data.get("id") is not None else None,
        actor=str(data["actor"]) if data.get("actor") else None,
        addressee=str(data["addressee"]) if data.get("addressee") else None,
        requires=requires,
        deadline=deadline,
        partial=bool(data.get("partial", False)),
        label=_text(ctx, f"{where}.label", data["label"]) if "label" in data else None,
    )


def _deadline(ctx: _Ctx, where: str, data: dict[str, Any], day: date) -> date | None:
    if "deadline" in data and "within_days" in data:
        raise ctx.fail(where, "give 'deadline' or 'within_days', not both")
    if "deadline" in data:
        deadline = _date(ctx, f"{where}.deadline", data["deadline"])
        if deadline < day:
            raise ctx.fail(f"{where}.deadline", "is before the event's date")
        return deadline
    if "within_days" in data:
        days = data["within_days"]
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise ctx.fail(f"{where}.within_days", f"{days!r} is not a whole number of days")
        return day + timedelta(days=days)
    return None


def _spells(ctx: _Ctx, where: str, value: Any, *, need_end: bool) -> tuple[SimulatedSpell, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ctx.fail(where, "expected a list of {start, end}")
    out = []
    for i, item in enumerate(value):
        w = f"{where}[{i}]"
        if not isinstance(item, dict) or "start" not in item:
            raise ctx.fail(w, "expected a mapping with 'start'")
        _known(ctx, w, item, _SPELL_KEYS)
        start = _datetime(ctx, f"{w}.start", item["start"])
        end = _datetime(ctx, f"{w}.end", item["end"]) if item.get("end") is not None else None
        if end is None and need_end:
            raise ctx.fail(w, "missing 'end'")
        if end is not None and end <= start:
            raise ctx.fail(w, "'end' must be after 'start'")
        nets = _networks(ctx, f"{w}.networks", item["networks"]) if "networks" in item else ()
        technique = str(item["technique"]) if item.get("technique") else None
        out.append(SimulatedSpell(start, end, nets, technique))
    return tuple(out)


def _simulation(ctx: _Ctx, data: Any) -> Simulation:
    if not isinstance(data, dict):
        raise ctx.fail("simulation", "expected a mapping")
    _known(ctx, "simulation", data, _SIMULATION_KEYS)
    for key in ("start", "end"):
        if key not in data:
            raise ctx.fail("simulation", f"missing {key!r}")
    start = _date(ctx, "simulation.start", data["start"])
    end = _date(ctx, "simulation.end", data["end"])
    if end <= start:
        raise ctx.fail("simulation.end", "must be after simulation.start")
    rate = data.get("measurements_per_hour", 2.0)
    if not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0:
        raise ctx.fail("simulation.measurements_per_hour", f"{rate!r} is not a positive number")
    blocks = _spells(ctx, "simulation.blocks", data.get("blocks"), need_end=False)
    for i, block in enumerate(blocks):
        if block.technique is None:
            raise ctx.fail(f"simulation.blocks[{i}]", "missing 'technique'")
    return Simulation(
        start=start,
        end=end,
        measurements_per_hour=float(rate),
        blocks=blocks,
        restorations=_spells(
            ctx, "simulation.restorations", data.get("restorations"), need_end=True
        ),
        outages=_spells(ctx, "simulation.outages", data.get("outages"), need_end=True),
        vanish=_spells(ctx, "simulation.vanish", data.get("vanish"), need_end=True),
    )
