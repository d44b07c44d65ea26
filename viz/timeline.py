"""The chronology as a timeline: an SVG drawn on the server, one lane per agency.

How it encodes, so that nothing rests on colour alone (every mark also has a text label
that screen readers and the tooltip give, and the table below says the same in words):

- where: the event's lane is the agency that recorded it; an event recorded by several
  agencies (corroborated) is drawn in each of their lanes, joined by a vertical line;
- when: across the page by date; a date known only to within a span (approximate,
  month, a period) is drawn as a bar over the whole span, with the mark at its middle;
- significance: the shape (low a circle, medium a square, high a larger diamond);
- statement kind: the fill (fact solid, opinion hollow, hearsay half-filled, allegation
  hollow with a dashed outline);
- concerns: the colour, by the most serious family of concern recorded;
- held back: a grey hatched box over the month in the holding agency's lane.

Built from chronology lines only (a reader's view): it cannot show what the view did not
give. Pure string building with every text escaped; no scripts, no inline styles (the
pages' Content-Security-Policy allows neither), only SVG presentation attributes and the
classes of the pages' stylesheet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from graph.chronology import ChronologyLine
from viz import labels

WIDTH = 1200
LABEL_W = 270
RIGHT = 24
TOP = 44
ROW = 34
LANE_PAD = 12
MARK = 11  # half the width of a medium mark
MAX_STACK = 6
PLOT_W = WIDTH - LABEL_W - RIGHT
SPAN_PRECISIONS = frozenset({"approximate", "range", "month", "year"})


@dataclass(frozen=True)
class Lane:
    agency: str
    name: str
    top: float
    height: float


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _day(iso: str) -> int:
    return date.fromisoformat(iso).toordinal()


def mark_label(ln: ChronologyLine) -> str:
    """What a mark says in words (its tooltip and accessible name)."""
    if ln.held_back:
        return f"{ln.when}: {ln.held_back}"
    parts = [
        ln.when,
        labels.words(ln.kind),
        ln.summary,
        " / ".join(labels.STATEMENT_SHORT.get(s, labels.words(s)) for s in ln.statements),
        f"{labels.SIGNIFICANCE.get(ln.significance, ln.significance)} significance",
    ]
    if ln.concerns:
        parts.append("concerns: " + ", ".join(labels.concern(c) for c in ln.concerns))
    if ln.corroborated:
        parts.append(f"corroborated by {len(ln.agencies)} agencies")
    if ln.corrected:
        parts.append("corrected")
    return ". ".join(p for p in parts if p)


def shape(significance: str, x: float, y: float, **attrs: str) -> str:
    """One mark: a circle (low), square (medium) or diamond (high), centred on (x, y)."""
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{_attr(v)}"' for k, v in attrs.items())
    if significance == "high":
        r = MARK + 3
        pts = f"{_fmt(x)},{_fmt(y - r)} {_fmt(x + r)},{_fmt(y)} {_fmt(x)},{_fmt(y + r)} {_fmt(x - r)},{_fmt(y)}"
        return f'<polygon points="{pts}"{extra}/>'
    if significance == "medium":
        s = MARK - 1
        return f'<rect x="{_fmt(x - s)}" y="{_fmt(y - s)}" width="{2 * s}" height="{2 * s}"{extra}/>'
    return f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="{MARK - 3}"{extra}/>'


def statement_mark(statement: str, significance: str, x: float, y: float, colour: str) -> str:
    """The mark for one statement kind: fill and outline say which (see the module doc)."""
    if statement == "fact":
        return shape(significance, x, y, fill=colour, stroke=colour, stroke_width="2", class_="mark")
    if statement == "hearsay":
        return shape(significance, x, y, fill="#ffffff", stroke=colour, stroke_width="3", class_="mark") + shape(
            significance, x, y, fill=colour, stroke="none", clip_path="url(#left-half)"
        )
    if statement == "allegation":
        return shape(
            significance,
            x,
            y,
            fill="#ffffff",
            stroke=colour,
            stroke_width="3",
            stroke_dasharray="4 3",
            class_="mark",
        )
    # opinion, and anything else: hollow with a solid outline
    return shape(significance, x, y, fill="#ffffff", stroke=colour, stroke_width="3", class_="mark")


def _strongest(statements: Sequence[str]) -> str:
    """The statement kind a mark shows when a line has several sources: the least certain,
    so a line that is partly allegation never looks like plain fact."""
    for kind in ("allegation", "hearsay", "opinion", "fact"):
        if kind in statements:
            return kind
    return statements[0] if statements else "fact"


class _Scale:
    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def x(self, day: float) -> float:
        return LABEL_W + (day - self.lo) / (self.hi - self.lo) * PLOT_W


def _domain(lines: Sequence[ChronologyLine]) -> tuple[int, int]:
    lo = min(_day(ln.start) for ln in lines)
    hi = max(_day(ln.end) for ln in lines) + 1
    pad = max(7, (hi - lo) // 30)
    return lo - pad, hi + pad


def _ticks(lo: int, hi: int) -> list[tuple[int, str]]:
    """Month boundaries inside the domain, every ``step`` months (at most about ten)."""
    start, end = date.fromordinal(lo), date.fromordinal(hi)
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    step = next((s for s in (1, 2, 3, 6, 12, 24, 60) if months / s <= 10), 120)
    out = []
    index = start.year * 12 + start.month - 1
    while True:
        d = date(index // 12, index % 12 + 1, 1)
        if d.toordinal() > hi:
            break
        if d.toordinal() >= lo and index % step == 0:
            out.append((d.toordinal(), str(d.year) if step >= 12 else labels.month_label(d)))
        index += 1
    return out


def timeline_svg(
    lines: Sequence[ChronologyLine],
    *,
    event_href: Callable[[str], str],
    agency_names: dict[str, str],
    title: str = "Timeline",
) -> str:
    """The SVG for ``lines`` (a reader's chronology, placeholders included)."""
    if not lines:
        return ""
    lo, hi = _domain(lines)
    sc = _Scale(lo, hi)
    # lanes in the order agencies first appear in the story
    order: list[str] = []
    for ln in lines:
        for a in ln.agencies:
            if a not in order:
                order.append(a)
    # stack marks that would overlap within a lane
    levels: dict[str, list[float]] = {a: [] for a in order}
    placed: list[tuple[ChronologyLine, dict[str, tuple[float, int]]]] = []
    for ln in lines:
        mid = (_day(ln.start) + _day(ln.end) + 1) / 2
        x = sc.x(mid)
        where: dict[str, tuple[float, int]] = {}
        for a in ln.agencies:
            lv = levels[a]
            slot = next((i for i, last in enumerate(lv) if x - last >= 2 * MARK + 6), None)
            if slot is None:
                if len(lv) < MAX_STACK:
                    lv.append(x)
                    slot = len(lv) - 1
                else:
                    slot = min(range(len(lv)), key=lv.__getitem__)
            lv[slot] = x
            where[a] = (x, slot)
        placed.append((ln, where))
    lanes: dict[str, Lane] = {}
    y = TOP
    for a in order:
        h = max(1, len(levels[a])) * ROW + 2 * LANE_PAD
        lanes[a] = Lane(a, agency_names.get(a) or labels.agency_from_id(a), y, h)
        y += h
    height = y + 8

    out: list[str] = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {_fmt(height)}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" aria-labelledby="timeline-title" role="group" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="timeline-title">{escape(title)}</title>',
        "<defs>"
        '<clipPath id="left-half" clipPathUnits="objectBoundingBox"><rect x="0" y="0" width="0.5" height="1"/>'
        "</clipPath>"
        '<pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="8" height="8" fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="8" stroke="#6b6b6b" '
        'stroke-width="3"/></pattern>'
        "</defs>",
    ]
    # lanes and their names
    for i, lane in enumerate(lanes.values()):
        fill = "#f2f2f2" if i % 2 == 0 else "#ffffff"
        out.append(
            f'<rect x="0" y="{_fmt(lane.top)}" width="{WIDTH}" height="{_fmt(lane.height)}" fill="{fill}"/>'
            + _lane_label(lane)
        )
    # the date axis
    for day, text in _ticks(lo, hi):
        x = sc.x(day)
        out.append(
            f'<line x1="{_fmt(x)}" y1="{TOP - 8}" x2="{_fmt(x)}" y2="{_fmt(height - 8)}" stroke="#8c8c8c" '
            f'stroke-width="1"/>'
        )
        if x < WIDTH - 80:  # a label that would run off the right edge is left off; its line stays
            out.append(f'<text class="tick" x="{_fmt(x + 4)}" y="{TOP - 14}">{escape(text)}</text>')
    out.append(
        f'<line x1="{LABEL_W}" y1="{TOP}" x2="{LABEL_W}" y2="{_fmt(height - 8)}" stroke="#333333" stroke-width="1"/>'
    )

    def mark_y(a: str, slot: int) -> float:
        lane = lanes[a]
        return lane.top + LANE_PAD + slot * ROW + ROW / 2

    for ln, where in placed:
        label = mark_label(ln)
        if ln.held_back:
            (a,) = ln.agencies
            x0, x1 = sc.x(_day(ln.start)), sc.x(_day(ln.end) + 1)
            ym = mark_y(a, where[a][1])
            out.append(
                f'<g class="held-back"><title>{escape(label)}</title>'
                f'<rect x="{_fmt(x0)}" y="{_fmt(ym - MARK)}" width="{_fmt(max(x1 - x0, 2 * MARK))}" '
                f'height="{2 * MARK}" fill="url(#hatch)" stroke="#4d4d4d" stroke-width="2" stroke-dasharray="5 3"/>'
                "</g>"
            )
            continue
        _, _, colour = labels.concern_family(ln.concerns)
        kind = _strongest(ln.statements)
        parts = [
            f'<a href="{_attr(event_href(ln.event_id))}" aria-label="{_attr(label)}">',
            f"<title>{escape(label)}</title>",
        ]
        ys = [mark_y(a, slot) for a, (_, slot) in where.items()]
        x = next(iter(where.values()))[0]
        if len(ys) > 1:
            # a bracket just right of the marks, so the link does not run through the
            # marks stacked between them
            xr = x + MARK + 7
            parts.append(
                f'<polyline points="{_fmt(x + MARK)},{_fmt(min(ys))} {_fmt(xr)},{_fmt(min(ys))} {_fmt(xr)},'
                f'{_fmt(max(ys))} {_fmt(x + MARK)},{_fmt(max(ys))}" fill="none" stroke="#1a1a1a" stroke-width="3"/>'
            )
        span = ln.precision in SPAN_PRECISIONS or ln.start != ln.end
        for a, (xa, slot) in where.items():
            ym = mark_y(a, slot)
            if span:
                x0, x1 = sc.x(_day(ln.start)), sc.x(_day(ln.end) + 1)
                dash = ' stroke-dasharray="6 4"' if ln.precision == "approximate" else ""
                out_bar = (
                    f'<rect x="{_fmt(x0)}" y="{_fmt(ym - 4)}" width="{_fmt(max(x1 - x0, 2))}" height="8" '
                    f'fill="#ffffff" stroke="{colour}" stroke-width="2"{dash}/>'
                )
                parts.append(out_bar)
            parts.append(statement_mark(kind, ln.significance, xa, ym, colour))
        parts.append("</a>")
        out.append("".join(parts))
    out.append("</svg>")
    return "".join(out)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _lane_label(lane: Lane, width: int = 26) -> str:
    """The agency's name at the lane's left, on two lines if long (SVG text does not wrap)."""
    name = lane.name
    lines = [name]
    if len(name) > width:
        cut = name.rfind(" ", 0, width + 1)
        cut = cut if cut > 0 else width
        lines = [name[:cut].strip(), _clip(name[cut:].strip(), width)]
    mid = lane.top + lane.height / 2
    y0 = mid + 6 - (len(lines) - 1) * 10
    spans = "".join(f'<tspan x="8" y="{_fmt(y0 + i * 20)}">{escape(text)}</tspan>' for i, text in enumerate(lines))
    return f'<text class="lane-label">{spans}<title>{escape(name)}</title></text>'


def legend_mark(kind: str, significance: str = "medium", colour: str = "#1a1a1a") -> str:
    """A small SVG of one mark, for the legend (decorative: the legend's words say it)."""
    clip = f"lh-{_attr(kind + significance)}"  # ids are per page: only the hearsay mark has one
    defs = (
        f'<defs><clipPath id="{clip}" clipPathUnits="objectBoundingBox"><rect x="0" y="0" width="0.5" height="1"/>'
        "</clipPath></defs>"
        if kind == "hearsay"
        else ""
    )
    return (
        '<svg class="legend-mark" viewBox="0 0 32 32" width="32" height="32" aria-hidden="true" focusable="false" '
        f'xmlns="http://www.w3.org/2000/svg">{defs}'
        + statement_mark(kind, significance, 16, 16, colour).replace("url(#left-half)", f"url(#{clip})")
        + "</svg>"
    )


def legend_span(approximate: bool) -> str:
    dash = ' stroke-dasharray="6 4"' if approximate else ""
    return (
        '<svg class="legend-mark" viewBox="0 0 48 32" width="48" height="32" aria-hidden="true" focusable="false" '
        'xmlns="http://www.w3.org/2000/svg">'
        f'<rect x="2" y="12" width="44" height="8" fill="#ffffff" stroke="#1a1a1a" stroke-width="2"{dash}/>'
        + shape("medium", 24, 16, fill="#1a1a1a", stroke="#1a1a1a")
        + "</svg>"
    )


def legend_held_back() -> str:
    return (
        '<svg class="legend-mark" viewBox="0 0 48 32" width="48" height="32" aria-hidden="true" focusable="false" '
        'xmlns="http://www.w3.org/2000/svg"><defs><pattern id="lg-hatch" width="8" height="8" '
        'patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#ffffff"/>'
        '<line x1="0" y1="0" x2="0" y2="8" stroke="#6b6b6b" stroke-width="3"/></pattern></defs>'
        '<rect x="2" y="5" width="44" height="22" fill="url(#lg-hatch)" stroke="#4d4d4d" stroke-width="2" '
        'stroke-dasharray="5 3"/></svg>'
    )


def legend_corroborated() -> str:
    return (
        '<svg class="legend-mark" viewBox="0 0 32 40" width="32" height="40" aria-hidden="true" focusable="false" '
        'xmlns="http://www.w3.org/2000/svg"><line x1="16" y1="8" x2="16" y2="32" stroke="#1a1a1a" stroke-width="3"/>'
        + shape("medium", 16, 8, fill="#1a1a1a", stroke="#1a1a1a")
        + shape("medium", 16, 32, fill="#1a1a1a", stroke="#1a1a1a")
        + "</svg>"
    )
