"""Inline SVG charts: the blocked share per network over time with the case's events on the
same axis, and the technique breakdown. Plain markup: no script, no external resource."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

WIDTH, HEIGHT = 960, 170
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 14, 30
HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Marker:
    """A dated event drawn across every timeline chart: `label` is its short tag ('3')."""

    at: datetime
    label: str
    title: str
    deadline: bool = False


def parse_time(text: str) -> datetime:
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")


class _Axis:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, max(end, start + HOUR)
        self.span = (self.end - self.start).total_seconds()

    def x(self, t: datetime) -> float:
        frac = (t - self.start).total_seconds() / self.span
        return round(LEFT + frac * (WIDTH - LEFT - RIGHT), 1)

    @staticmethod
    def y(share: float) -> float:
        return round(TOP + (1 - share) * (HEIGHT - TOP - BOTTOM), 1)

    def ticks(self) -> list[datetime]:
        days = self.span / 86400
        step = 1 if days <= 10 else 7 if days <= 70 else 14 if days <= 140 else 30
        first = datetime(self.start.year, self.start.month, self.start.day) + timedelta(days=1)
        out, t = [], first
        while t < self.end:
            out.append(t)
            t += timedelta(days=step)
        return out


def timeline_chart(
    network: str,
    label: str,
    rows: list[list[Any]],
    gaps: list[dict[str, Any]],
    markers: list[Marker],
    span: tuple[datetime, datetime],
    *,
    synthetic: bool,
) -> str:
    """Hourly blocked share (blocked / decisive measurements) of one network."""
    axis = _Axis(*span)
    parts = [
        f'<svg class="chart timeline" data-network="{escape(network)}" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>Blocked share per hour on {escape(label)} (UTC)</title>",
    ]
    parts += _frame(axis)
    for gap in gaps:
        x0 = axis.x(parse_time(gap["start"]))
        x1 = axis.x(parse_time(gap["end"])) if gap["end"] else WIDTH - RIGHT
        parts.append(
            f'<rect class="nodata" x="{x0}" y="{TOP}" width="{max(x1 - x0, 1)}" '
            f'height="{HEIGHT - TOP - BOTTOM}"><title>no data {escape(gap["start"])} to '
            f"{escape(gap['end'] or 'end of data')}</title></rect>"
        )
    parts.append(_bars(axis, rows))
    for m in markers:
        x = axis.x(m.at)
        if not LEFT <= x <= WIDTH - RIGHT:
            continue
        cls = "marker deadline" if m.deadline else "marker"
        parts.append(
            f'<g class="{cls}"><line x1="{x}" x2="{x}" y1="{TOP - 4}" y2="{HEIGHT - BOTTOM}"/>'
            f'<text x="{x + 2}" y="{TOP + 6}">{escape(m.label)}</text>'
            f"<title>{escape(m.title)}</title></g>"
        )
    if synthetic:
        parts.append(_watermark())
    parts.append("</svg>")
    return "".join(parts)


def _frame(axis: _Axis) -> list[str]:
    out = [
        f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{HEIGHT - TOP - BOTTOM}"/>'
    ]
    for share in (0.0, 0.5, 1.0):
        y = axis.y(share)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        out.append(f'<text class="ylab" x="{LEFT - 4}" y="{y + 4}">{share:.0%}</text>')
    for t in axis.ticks():
        x = axis.x(t)
        out.append(
            f'<line class="tick" x1="{x}" x2="{x}" y1="{HEIGHT - BOTTOM}" '
            f'y2="{HEIGHT - BOTTOM + 4}"/>'
        )
        out.append(f'<text class="xlab" x="{x}" y="{HEIGHT - 10}">{t:%m-%d}</text>')
    return out


def _bars(axis: _Axis, rows: list[list[Any]]) -> str:
    """One column per hour with data, as high as its blocked share: one path, so that a
    long series stays small. Hours without decisive data draw nothing."""
    width = max(axis.x(axis.start + HOUR) - axis.x(axis.start), 0.3)
    base, top = axis.y(0.0), axis.y(1.0)
    measured, blocked_cmds = [], []
    for hour, blocked, decisive in rows:
        if not decisive:
            continue
        x = axis.x(parse_time(hour))
        measured.append(f"M{x} {base}V{top}h{width:.2f}V{base}z")
        y = axis.y(blocked / decisive)
        if y < base:
            blocked_cmds.append(f"M{x} {base}V{y}h{width:.2f}V{base}z")
    return (
        f'<path class="measured" d="{"".join(measured)}"/>'
        f'<path class="share" d="{"".join(blocked_cmds)}"/>'
    )


def _watermark() -> str:
    return (
        f'<text class="watermark" x="{WIDTH / 2}" y="{HEIGHT / 2 + 10}" '
        f'text-anchor="middle">SYNTHETIC</text>'
    )


def technique_chart(counts: dict[str, int], *, synthetic: bool) -> str:
    """Blocked measurements per technique, all networks together, largest first."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    row, label_w, height = 26, 150, 26 * max(len(items), 1) + 12
    top = max((n for _, n in items), default=1)
    parts = [
        f'<svg class="chart techniques" role="img" viewBox="0 0 {WIDTH} {height}" '
        'xmlns="http://www.w3.org/2000/svg"><title>Blocked measurements by technique</title>'
    ]
    for i, (technique, n) in enumerate(items):
        y = 6 + i * row
        w = round((WIDTH - label_w - 90) * n / top, 1)
        parts.append(
            f'<text class="tlab" x="{label_w - 6}" y="{y + 16}">{escape(technique)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{max(w, 1)}" height="{row - 8}"/>'
            f'<text class="tval" x="{label_w + w + 6}" y="{y + 16}">{n:,}</text>'
        )
    if not items:
        parts.append('<text class="tval" x="10" y="24">no blocked measurements</text>')
    if synthetic:
        parts.append(
            f'<text class="watermark" x="{WIDTH / 2}" y="{height / 2 + 10}" '
            'text-anchor="middle">SYNTHETIC</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
