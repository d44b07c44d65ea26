"""A child's ego network for the meeting screen, drawn by vis-network through pyvis.

Input is what a reader's view gives (``ReaderView.network``: a networkx graph of people,
events, fragments, agencies and places as that reader may see them) and the placeholder
lines of their chronology; nothing else, so the picture cannot show more than the view.

What it does to that graph:

- fragments are folded into the edge between the agency that recorded them and the event
  they report ("recorded: hearsay"): a meeting asks who knew what, not which record id;
- people whose identity is protected from this reader (the view has already replaced
  them with a pseudonym) and records held back (known to exist, not readable) are drawn
  as grey placeholders with dashed outlines;
- positions are worked out here, in Python, with networkx's circular layout, ring by
  ring: the child in the middle, the people around them, then the events (round the
  ring in date order), then agencies and places (``rings``). Tried first: a spring layout
  seeded from rings by distance; on the demo it pulled everything into a knot around the
  child with a few outliers far out, and it costs O(n^2) a step. Rings read better and
  cost nothing, so the browser only draws: physics is off, and several hundred nodes
  open at once;
- over ``MAX_DRAWN`` nodes it clusters instead of drawing: events by year, then people
  beyond the child's own circle, then places, each cluster one node saying how many.

Types differ by shape as well as colour, and the page lists every node and link as a
table too (the canvas is not readable by a screen reader).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import networkx as nx

from graph.access import PROTECTED_LABEL
from graph.chronology import ChronologyLine
from viz import labels

MAX_DRAWN = 500
SPACING = 110.0  # pixels between neighbours on a ring: room for a label of two short lines
GAP = 150.0  # pixels between rings

# kind -> (words, vis shape, fill, border, label font colour inside the shape or None)
STYLE: dict[str, tuple[str, str, str, str]] = {
    "ego": ("The child this page is about", "star", "#b00020", "#6d0014"),
    "person": ("Person", "dot", "#1d5b99", "#0e3560"),
    "protected": ("Person whose identity is protected from you", "dot", "#ffffff", "#4d4d4d"),
    "event": ("Event", "diamond", "#8a4b00", "#4f2b00"),
    "agency": ("Agency", "box", "#1b6e3a", "#0d3d1f"),
    "place": ("Place", "triangle", "#6b3fa0", "#3f2460"),
    "held": ("Record held back from you", "square", "#ffffff", "#4d4d4d"),
    "cluster": ("Group too large to draw one by one", "database", "#333333", "#000000"),
}
PLACEHOLDER_KINDS = frozenset({"protected", "held"})
# relationships that read the same both ways ("sibling of")
SYMMETRIC = frozenset(
    {"sibling_of", "half_sibling_of", "partner_of", "ex_partner_of", "relative_of", "neighbour_of", "lives_with"}
)
TYPE_ORDER = {k: i for i, k in enumerate(("ego", "person", "protected", "held", "event", "agency", "place", "cluster"))}
SHAPE_WORDS = {
    "star": "star",
    "dot": "circle",
    "diamond": "diamond",
    "box": "box",
    "triangle": "triangle",
    "square": "square",
    "database": "drum",
}


@dataclass
class Node:
    key: str
    kind: str
    label: str
    title: str
    order: tuple[Any, ...] = ()
    members: int = 1


@dataclass
class Link:
    a: str
    b: str
    label: str


@dataclass
class NetworkPicture:
    """Everything the network page needs: vis-network's data, the legend, the table."""

    nodes: list[Node]
    links: list[Link]
    vis: dict[str, Any]
    clustered: bool
    total_nodes: int
    counts: dict[str, int] = field(default_factory=dict)

    def legend(self) -> list[tuple[str, str, str, str, str]]:
        """(kind, words, shape in words, fill, border) for every kind on the picture."""
        kinds = sorted({n.kind for n in self.nodes}, key=TYPE_ORDER.__getitem__)
        return [(k, STYLE[k][0], SHAPE_WORDS[STYLE[k][1]], STYLE[k][2], STYLE[k][3]) for k in kinds]

    def rows(self) -> list[tuple[str, str, list[str]]]:
        """(type in words, name, links in words) per node, for the table."""
        by_key = {n.key: n for n in self.nodes}
        out: dict[str, list[str]] = defaultdict(list)
        for ln in self.links:
            out[ln.a].append(f"{ln.label} → {by_key[ln.b].label.replace(chr(10), ' ')}")
            out[ln.b].append(f"← {ln.label}: {by_key[ln.a].label.replace(chr(10), ' ')}")
        ordered = sorted(self.nodes, key=lambda n: (TYPE_ORDER[n.kind], n.order, n.label))
        return [(STYLE[n.kind][0], n.label.replace("\n", " "), out.get(n.key, [])) for n in ordered]


def place_words(key: str) -> str:
    """A place key as people read it.

    >>> place_words("14 larch close, northtown|NT4 2QP")
    '14 Larch Close, Northtown, NT4 2QP'
    """
    parts = [p for p in key.split("|") if p]
    if not parts:
        return "A place"
    first = " ".join(w[:1].upper() + w[1:] for w in parts[0].split(" "))
    return ", ".join([first, *parts[1:]])


def _event_when(d: dict[str, Any]) -> str:
    start, end = d.get("start"), d.get("end")
    if not isinstance(start, int):
        return ""
    s = date.fromordinal(start)
    precision = d.get("precision", "day")
    if precision == "month":
        return labels.month_label(s)
    if precision == "year":
        return str(s.year)
    if isinstance(end, int) and end != start:
        prefix = "about " if precision == "approximate" else ""
        return f"{prefix}{labels.uk_date(s)} – {labels.uk_date(date.fromordinal(end))}"
    return labels.uk_date(s)


def collect(
    g: nx.MultiDiGraph,
    ego: str,
    *,
    person_name: Callable[[str, dict[str, Any]], str],
    agency_names: dict[str, str],
    held: Sequence[ChronologyLine] = (),
) -> tuple[dict[str, Node], list[Link]]:
    """The graph as the meeting reads it: fragments folded, placeholders added, labels in words."""
    nodes: dict[str, Node] = {}
    folded: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (kind, ident), d in g.nodes(data=True):
        key = f"{kind}:{ident}"
        if kind == "person":
            name = person_name(str(ident), d)
            k = "ego" if ident == ego else ("protected" if PROTECTED_LABEL in name else "person")
            title = name + (f"\nBorn {labels.uk_date(d['dob'])}" if d.get("dob") else "")
            nodes[key] = Node(key, k, name, title, (name,))
        elif kind == "event":
            when = _event_when(d)
            what = labels.words(str(d.get("kind", "event")))
            precision = labels.PRECISION.get(str(d.get("precision", "")), "")
            nodes[key] = Node(
                key, "event", f"{what}\n{when}", f"{what}, {when} ({precision})", (d.get("start", 0), what)
            )
        elif kind == "agency":
            name = agency_names.get(str(ident)) or labels.agency_from_id(str(ident))
            nodes[key] = Node(key, "agency", name, name, (name,))
        elif kind == "place":
            words = place_words(str(ident))
            nodes[key] = Node(key, "place", words, words, (words,))
    links: list[Link] = []
    for a, b, k, d in g.edges(keys=True, data=True):
        if a[0] == "agency" and b[0] == "fragment":
            continue  # folded below, from the fragment's side
        if a[0] == "fragment" and b[0] == "event":
            agency = g.nodes[a].get("agency")
            if agency is not None:
                folded[(f"agency:{agency}", f"event:{b[1]}")].add(str(g.nodes[a].get("statement", "")))
            continue
        ka, kb = f"{a[0]}:{a[1]}", f"{b[0]}:{b[1]}"
        if ka not in nodes or kb not in nodes:
            continue
        if a[0] == "person" and b[0] == "event":
            text = labels.words(str(d.get("role", k)))
        elif k == "lives_at":
            text = "lives at"
        elif k == "at":
            text = "at"
        else:
            text = str(k).replace("_", " ")
        links.append(Link(ka, kb, text))
    for (ka, kb), statements in sorted(folded.items()):
        if ka in nodes and kb in nodes:
            kinds = ", ".join(labels.STATEMENT_SHORT.get(s, labels.words(s)).lower() for s in sorted(statements) if s)
            links.append(Link(ka, kb, f"recorded: {kinds}" if kinds else "recorded"))
    ego_key = f"person:{ego}"
    for i, ln in enumerate(held):
        agency = ln.agencies[0] if ln.agencies else ""
        name = agency_names.get(agency) or labels.agency_from_id(agency)
        key = f"held:{i}"
        nodes[key] = Node(
            key,
            "held",
            f"Record held back\n{name}\n{ln.when}",
            ln.held_back or "",
            (date.fromisoformat(ln.start).toordinal(), ""),
        )
        if ego_key in nodes:
            links.append(Link(key, ego_key, "about"))
        akey = f"agency:{agency}"
        if akey not in nodes:
            nodes[akey] = Node(akey, "agency", name, name, (name,))
        links.append(Link(akey, key, "holds"))
    return nodes, links


def _cluster(
    nodes: dict[str, Node], links: list[Link], group: Callable[[Node], str | None], words: Callable[[str, int], str]
) -> tuple[dict[str, Node], list[Link]]:
    """Replace every node ``group`` names a group for by one node per group; links to
    members become one link per group, saying how many."""
    members: dict[str, list[str]] = defaultdict(list)
    of: dict[str, str] = {}
    for n in nodes.values():
        gname = group(n)
        if gname is not None:
            members[gname].append(n.key)
            of[n.key] = f"cluster:{gname}"
    out = {k: n for k, n in nodes.items() if k not in of}
    for gname, keys in members.items():
        ckey = f"cluster:{gname}"
        out[ckey] = Node(ckey, "cluster", words(gname, len(keys)), words(gname, len(keys)), (gname,), len(keys))
    counted: dict[tuple[str, str, str], int] = defaultdict(int)
    for ln in links:
        a, b = of.get(ln.a, ln.a), of.get(ln.b, ln.b)
        if a == b:
            continue
        label = ln.label if a == ln.a and b == ln.b else ln.label.split(":")[0]
        counted[(a, b, label)] += 1
    merged = [Link(a, b, label if n == 1 else f"{label} ({n})") for (a, b, label), n in counted.items()]
    return out, merged


def reduce(nodes: dict[str, Node], links: list[Link], ego: str) -> tuple[dict[str, Node], list[Link], bool]:
    """Cluster until at most ``MAX_DRAWN`` nodes remain (or nothing more can be grouped)."""
    if len(nodes) <= MAX_DRAWN:
        return nodes, links, False

    def by_year(n: Node) -> str | None:
        if n.kind != "event":
            return None
        start = n.order[0] if n.order and isinstance(n.order[0], int) and n.order[0] > 0 else None
        return f"events-{date.fromordinal(start).year}" if start else "events-undated"

    def event_words(gname: str, n: int) -> str:
        return f"{n} events in {gname.split('-', 1)[1]}"

    nodes, links = _cluster(nodes, links, by_year, event_words)
    if len(nodes) > MAX_DRAWN:
        ego_key = f"person:{ego}"
        near = {ln.b for ln in links if ln.a == ego_key} | {ln.a for ln in links if ln.b == ego_key}

        def far_people(n: Node) -> str | None:
            return "people" if n.kind in ("person", "protected") and n.key not in near else None

        nodes, links = _cluster(nodes, links, far_people, lambda g, n: f"{n} more people")
    if len(nodes) > MAX_DRAWN:
        nodes, links = _cluster(
            nodes, links, lambda n: "places" if n.kind == "place" else None, lambda g, n: f"{n} places"
        )
    return nodes, links, True


def rings(nodes: dict[str, Node], links: Iterable[Link], centre: str) -> list[list[str]]:
    """The rings of the picture, inside out: the child; the people in the child's life (up
    to two steps: related, or in the same events); what happened (events and records held
    back, round the ring in date order); then agencies, places, groups and anyone further
    out. Events are the many: they get the long ring, so their labels have room."""
    u = nx.Graph()
    u.add_nodes_from(nodes)
    u.add_edges_from((ln.a, ln.b) for ln in links)
    dist = nx.single_source_shortest_path_length(u, centre) if centre in u else {}
    out: list[list[str]] = [[], [], [], []]
    for key, n in nodes.items():
        d = dist.get(key, 99)
        if key == centre:
            ring = 0
        elif n.kind in ("person", "protected") and d <= 2:
            ring = 1
        elif n.kind in ("event", "held"):
            ring = 2
        else:
            ring = 3
        out[ring].append(key)
    by_type = [sorted(r, key=lambda k: (TYPE_ORDER[nodes[k].kind], nodes[k].order, nodes[k].label)) for r in out]
    by_type[2] = sorted(out[2], key=lambda k: (nodes[k].order, nodes[k].label))  # by date alone
    return by_type


def layout(nodes: dict[str, Node], links: Iterable[Link], centre: str) -> dict[str, tuple[float, float]]:
    """Positions in pixels: each ring laid out by networkx's circular layout, its radius
    big enough that neighbours on it are ``SPACING`` apart and at least ``GAP`` outside the
    ring within. Deterministic: the same graph always gets the same picture."""
    pos: dict[str, tuple[float, float]] = {}
    radius = 0.0
    for ring in rings(nodes, links, centre):
        if not ring:
            continue
        if radius == 0.0 and ring == [centre]:
            pos[centre] = (0.0, 0.0)
            radius = 1e-9
            continue
        radius = max(radius + GAP, len(ring) * SPACING / (2 * math.pi))
        # networkx puts a ring of one at the centre: give it its place on the circle
        placed = nx.circular_layout(ring, scale=radius) if len(ring) > 1 else {ring[0]: (radius, 0.0)}
        # turned a quarter: the first at twelve o'clock, then clockwise on screen (y is down)
        pos.update({k: (float(y), -float(x)) for k, (x, y) in placed.items()})
    return {k: (round(x, 1), round(y, 1)) for k, (x, y) in pos.items()}


def picture(
    g: nx.MultiDiGraph,
    ego: str,
    *,
    person_name: Callable[[str, dict[str, Any]], str],
    agency_names: dict[str, str],
    held: Sequence[ChronologyLine] = (),
) -> NetworkPicture:
    """The network page's picture of ``g`` around person ``ego``."""
    from pyvis.network import Network  # imports IPython: only when a network is drawn

    nodes, links = collect(g, ego, person_name=person_name, agency_names=agency_names, held=held)
    total = len(nodes)
    nodes, links, clustered = reduce(nodes, links, ego)
    pos = layout(nodes, links, f"person:{ego}")
    net = Network(height="70vh", width="100%", directed=True, cdn_resources="local")
    for n in sorted(nodes.values(), key=lambda n: (TYPE_ORDER[n.kind], n.order, n.label)):
        _, shape, fill, border = STYLE[n.kind]
        inside = shape in ("box", "database")
        x, y = pos[n.key]
        extra: dict[str, Any] = {}
        if n.kind in PLACEHOLDER_KINDS:
            extra["shapeProperties"] = {"borderDashes": [6, 4]}
        net.add_node(
            n.key,
            label=n.label,
            title=n.title,
            shape=shape,
            color={"background": fill, "border": border, "highlight": {"background": fill, "border": "#000000"}},
            borderWidth=3 if n.kind in PLACEHOLDER_KINDS else 2,
            size=26 if n.kind == "ego" else (16 if n.kind != "cluster" else 24),
            font={
                "size": 24 if n.kind == "ego" else 20,
                "color": "#ffffff" if inside else "#1a1a1a",
                "strokeWidth": 0 if inside else 4,
                "strokeColor": "#ffffff",
                "face": "system-ui, sans-serif",
            },
            x=x,
            y=y,
            physics=False,
            **extra,
        )
    for ln in links:
        net.add_edge(ln.a, ln.b, label=ln.label, title=ln.label, arrows="to")
    net.options = {
        "physics": {"enabled": False},
        "layout": {"improvedLayout": False},
        "interaction": {
            "hover": True,
            "navigationButtons": True,
            "keyboard": {"enabled": True, "bindToWindow": False},
            "tooltipDelay": 150,
        },
        "edges": {
            "smooth": False,
            "color": {"color": "#595959", "highlight": "#000000", "hover": "#000000"},
            "font": {"size": 14, "color": "#1a1a1a", "strokeWidth": 4, "strokeColor": "#ffffff", "align": "middle"},
            "arrows": {"to": {"enabled": True, "scaleFactor": 0.6}},
        },
    }
    vis_nodes, vis_edges, _, _, _, options = net.get_network_data()
    counts: dict[str, int] = defaultdict(int)
    for n in nodes.values():
        counts[n.kind] += n.members
    return NetworkPicture(
        nodes=list(nodes.values()),
        links=links,
        vis={"nodes": vis_nodes, "edges": vis_edges, "options": json.loads(options)},
        clustered=clustered,
        total_nodes=total,
        counts=dict(counts),
    )


def people_around(
    g: nx.MultiDiGraph, ego: str, person_name: Callable[[str, dict[str, Any]], str]
) -> list[tuple[str, str]]:
    """(name, how they are linked to ``ego`` in words) for every other person in ``g``:
    relationships first, then how many of the child's events they appear in."""
    me = ("person", ego)
    events = {b for _, b in g.out_edges(me) if b[0] == "event"}
    out = []
    for node, d in g.nodes(data=True):
        if node[0] != "person" or node == me:
            continue
        how: list[str] = []
        for _, b, k in g.edges(node, keys=True):
            if b == me:
                how.append(f"{str(k).replace('_', ' ')} {person_name(ego, g.nodes[me])}")
        for a, _, k in g.in_edges(node, keys=True):
            if a == me:
                words = str(k).replace("_", " ")
                name = person_name(ego, g.nodes[me])
                how.append(
                    f"{words} {name}" if str(k) in SYMMETRIC else f"{name} is the {words.removesuffix(' of')} of"
                )
        shared = sum(1 for _, b in g.out_edges(node) if b in events)
        if shared:
            how.append(f"in {shared} of the same events")
        out.append((person_name(str(node[1]), d), "; ".join(dict.fromkeys(how)) or "linked through others"))
    return sorted(out)
