"""The meeting view over real HTTP (no browser): who may open the pages, what each reader's
page holds, errors as pages, the pages' security headers, and the meeting pack in the audit.

The browser tests (test_pages_browser.py) look at the same pages in Chromium."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.routers.pages import PAGE_CSP, PURPOSE_COOKIE, TOKEN_COOKIE
from graph.chronology import ChronologyLine
from tests.pages_site import ALL_MARKERS, DSL, MIA_STORY, PROTECTED, SW, SW_ONLY, Site, site
from viz import network as vnet
from viz import timeline
from viz.forms import FilterError, parse_filters, query_string


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with site(tmp_path_factory.mktemp("pages")) as s:
        yield s


def client(web: Site, reader: str | None, purpose: str | None = "meeting") -> httpx.Client:
    headers = {}
    if reader:
        headers["Authorization"] = f"Bearer {web.server.tokens[reader]}"
    if purpose:
        headers["X-Jigsaw-Purpose"] = purpose
    return httpx.Client(base_url=web.base, headers=headers, timeout=30, follow_redirects=False)


def pages_of(web: Site, reader: str) -> dict[str, str]:
    """Every page of Mia's a reader can open, by name, as text."""
    pid = web.mia[reader]
    with client(web, reader) as c:
        got = {
            "chronology": c.get(f"/pages/people/{pid}/chronology"),
            "network": c.get(f"/pages/people/{pid}/network?radius=2"),
            "pack": c.get(f"/pages/people/{pid}/pack"),
            "pack.csv": c.get(f"/pages/people/{pid}/pack.csv"),
            "search": c.get("/pages/", params={"q": "Walsh"}),
        }
        for eid in sorted(set(re.findall(r"/pages/events/(E[0-9a-f]{16})", got["chronology"].text))):
            got[f"event {eid}"] = c.get(f"/pages/events/{eid}", params={"person": pid})
    for name, r in got.items():
        assert r.status_code == 200, (reader, name, r.status_code)
    return {k: r.text for k, r in got.items()}


def test_a_school_reader_sees_none_of_what_only_the_social_worker_may(web: Site) -> None:
    sw = "\n".join(pages_of(web, SW).values())
    dsl = pages_of(web, DSL)
    # the social worker's pages hold the planted strings: the test is not vacuous
    assert SW_ONLY in sw and PROTECTED[0] in sw and PROTECTED[1] in sw
    for name, text in dsl.items():
        assert not [m for m in ALL_MARKERS if m in text], name
    # what the school may know: that a record is held back, and a protected person exists
    assert "A record held by northshire-csws" in dsl["chronology"]
    assert "identity protected" in dsl["chronology"] and "identity protected" in dsl["network"]


def test_the_chronology_page_tells_the_demo_story_in_order(web: Site) -> None:
    with client(web, SW) as c:
        text = c.get(f"/pages/people/{web.mia[SW]}/chronology").text
    table = text[text.index('<table class="chronology">') :]
    # agency terms ("DSL") are marked up with their meaning: read the words as shown
    table = re.sub(r"<abbr [^>]*>|</abbr>", "", table)
    at = [table.find(phrase) for phrase in MIA_STORY]
    assert -1 not in at and at == sorted(at)
    assert "Corroborated by 2 agencies" in table and "Corrected: an earlier version was replaced" in table
    assert "4 Nov 2026 16:05" in table and "about 4 May 2026 – 3 Jun 2026" in table  # UK dates, precision shown


def test_pages_need_a_token_and_a_case_purpose(web: Site) -> None:
    pid = web.mia[SW]
    with client(web, None, None) as c:
        r = c.get(f"/pages/people/{pid}/chronology")
        assert r.status_code == 401 and 'name="token"' in r.text
        assert 'name="next" value="/pages/people/' in r.text
    with client(web, SW, "administration") as c:
        r = c.get(f"/pages/people/{pid}/chronology")
        assert r.status_code == 403 and "purpose" in r.text
    with httpx.Client(
        base_url=web.base, headers={"Authorization": "Bearer jgs_nonsense", "X-Jigsaw-Purpose": "meeting"}
    ) as c:
        assert c.get(f"/pages/people/{pid}/chronology").status_code == 401


def test_an_unknown_person_is_not_found_like_one_you_may_not_see(web: Site) -> None:
    with client(web, "officer-housing-7") as c:  # not on the Walsh case
        hidden = c.get(f"/pages/people/{web.mia[SW]}/chronology")
        never = c.get("/pages/people/P0000000000000000-0/chronology")
        junk = c.get("/pages/people/nonsense/chronology")
    assert hidden.status_code == never.status_code == junk.status_code == 404
    assert hidden.text == never.text == junk.text


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-13-01", "from"),
        ("from=2026-11-01&to=2026-01-01", "from"),
        ("concern=nonsense", "concern"),
        ("statement=rumour", "statement"),
        ("significance=huge", "significance"),
        ("agency=Not%20An%20Id", "agency"),
    ],
)
def test_a_bad_filter_is_a_422_page_naming_the_field(web: Site, query: str, field: str) -> None:
    with client(web, SW) as c:
        r = c.get(f"/pages/people/{web.mia[SW]}/chronology?{query}")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("text/html")
    assert f"<strong>{field}</strong>:" in r.text


def test_a_bad_radius_is_a_422_page(web: Site) -> None:
    with client(web, SW) as c:
        r = c.get(f"/pages/people/{web.mia[SW]}/network?radius=9")
    assert r.status_code == 422 and "<strong>radius</strong>" in r.text


def test_filters_narrow_the_page(web: Site) -> None:
    with client(web, SW) as c:
        everything = c.get(f"/pages/people/{web.mia[SW]}/chronology").text
        hearsay = c.get(f"/pages/people/{web.mia[SW]}/chronology?statement=hearsay").text
        may = c.get(f"/pages/people/{web.mia[SW]}/chronology?from=2026-05-01&to=2026-05-31").text

    def rows(t: str) -> int:
        return t.count('<tr id="ev-')

    assert rows(hearsay) == 3 < rows(everything)  # dentist, dental surgery, the neighbour's call
    assert "cosmetic dental surgery" in hearsay and "Anonymous call" not in hearsay
    assert "Anonymous call" in may and "found at home alone" not in may
    assert 'value="hearsay" checked' in hearsay


def test_page_responses_carry_a_strict_csp(web: Site) -> None:
    with client(web, SW) as c:
        r = c.get(f"/pages/people/{web.mia[SW]}/network")
        asset = c.get("/pages/assets/vis/vis-network.min.js")
    csp = r.headers["content-security-policy"]
    assert csp == PAGE_CSP and "'unsafe-inline'" not in csp and "script-src 'self';" in csp
    assert r.headers["cache-control"] == "no-store"
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", r.text)  # no inline script
    assert " style=" not in r.text
    assert asset.status_code == 200 and "vis" in asset.text[:2000]
    assert "cdn" not in r.text.lower() and "https://" not in r.text


def test_sign_in_sets_a_strict_cookie_and_refuses_other_sites(web: Site) -> None:
    pid = web.mia[SW]
    with httpx.Client(base_url=web.base, follow_redirects=False) as c:
        form = {"token": web.server.tokens[SW], "purpose": "meeting", "next": f"/pages/people/{pid}/chronology"}
        for refused in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
            bad = c.post("/pages/sign-in", data=form, headers=refused)
            assert bad.status_code == 403 and TOKEN_COOKIE not in bad.cookies, refused
        wrong = c.post("/pages/sign-in", data={**form, "token": "jgs_wrong"}, headers={"Origin": web.base})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        r = c.post("/pages/sign-in", data={**form, "next": "https://evil.example/"}, headers={"Origin": web.base})
        assert r.status_code == 303 and r.headers["location"] == "/pages/"
        r = c.post("/pages/sign-in", data=form, headers={"Origin": web.base})
        assert r.status_code == 303 and r.headers["location"] == f"/pages/people/{pid}/chronology"
        cookies = r.headers.get_list("set-cookie")
        assert len(cookies) == 2
        for line in cookies:
            assert line.startswith((TOKEN_COOKIE, PURPOSE_COOKIE))
            assert "HttpOnly" in line and "SameSite=strict" in line and "Path=/pages" in line
            assert "expires" not in line.lower() and "max-age" not in line.lower()  # gone when the browser closes
        assert c.get(f"/pages/people/{pid}/chronology").status_code == 200
        out = c.post("/pages/sign-out", headers={"Origin": web.base})
        assert out.status_code == 303
        assert c.get(f"/pages/people/{pid}/chronology").status_code == 401


def test_the_meeting_pack_is_stamped_and_audited_as_a_disclosure(web: Site) -> None:
    pid = web.mia[DSL]
    before = len(web.server.store.audit_entries(action_prefix="disclosure.", limit=10_000))
    with client(web, DSL) as c:
        page = c.get(f"/pages/people/{pid}/pack?statement=fact")
        sheet = c.get(f"/pages/people/{pid}/pack.csv?statement=fact")
    assert page.status_code == sheet.status_code == 200
    assert f"({DSL}, hollybank-primary-school)" in page.text and "for the purpose: meeting" in page.text
    assert "filtered: statement: Fact" in page.text
    assert sheet.headers["content-disposition"].startswith(f'attachment; filename="meeting-pack-{pid}-')
    rows = list(csv.reader(io.StringIO(sheet.text.lstrip("\ufeff"))))
    assert rows[1][1] == f"school DSL ({DSL}, hollybank-primary-school)" and rows[3] == ["Purpose", "meeting"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rows[2][1])
    header = rows.index(["date", *rows[rows.index([]) + 1][1:]])
    assert all(r[10] == "fact" for r in rows[header + 1 :] if r[6] != "record_held_back")
    entries = web.server.store.audit_entries(action_prefix="disclosure.", limit=10_000)[before:]
    assert [(e.actor, e.action, e.purpose, e.detail["format"]) for e in entries] == [
        (DSL, "disclosure.export", "meeting", "html"),
        (DSL, "disclosure.export", "meeting", "csv"),
    ]
    shown = {m for m in re.findall(r"F[0-9a-f]{24}", sheet.text)}
    assert shown and shown <= set(entries[1].detail["fragments"])
    assert entries[1].detail["filters"] == {"statement": ["fact"]} and entries[1].detail["export"] == "meeting_pack"


def test_every_page_read_is_audited(web: Site) -> None:
    pid = web.mia[SW]
    store = web.server.store
    before = store.audit_entries(actor=SW, limit=10_000)
    with client(web, SW) as c:
        c.get(f"/pages/people/{pid}/chronology")
        c.get(f"/pages/people/{pid}/network")
    after = store.audit_entries(actor=SW, limit=10_000)[len(before) :]
    assert [e.action for e in after] == ["read.chronology", "read.network"]
    assert all(e.purpose == "meeting" and pid in e.detail["people"] for e in after)


# ---------------------------------------------------------------------- the viz pieces


def test_filters_round_trip_and_refuse_by_field() -> None:
    pairs = [("from", "2026-01-01"), ("agency", "northshire-police"), ("concern", "neglect"), ("x", "ignored")]
    f = parse_filters(pairs)
    assert parse_filters(httpx.QueryParams(query_string(f)[1:]).multi_items()) == f
    with pytest.raises(FilterError) as e:
        parse_filters([("to", "4/11/2026")])
    assert e.value.field == "to" and "YYYY-MM-DD" in e.value.reason


def _line(**kw: object) -> ChronologyLine:
    base: dict[str, object] = dict(
        event_id="E" + "1" * 16,
        start="2026-05-04",
        end="2026-06-03",
        at=None,
        precision="approximate",
        when="about 4 May 2026 – 3 Jun 2026",
        kind="referral",
        summary="<script>alert(1)</script>",
        people=[],
        agencies=["a", "b"],
        author_roles=[],
        statements=["hearsay"],
        significance="high",
        concerns=["domestic_abuse"],
        corroborated=True,
        corrected=False,
        sources=[],
    )
    base.update(kw)
    return ChronologyLine(**base)  # type: ignore[arg-type]


def test_the_timeline_encodes_without_colour_alone_and_escapes_text() -> None:
    svg = timeline.timeline_svg([_line()], event_href=lambda e: f"/e/{e}", agency_names={"a": "A & Co"})
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "A &amp; Co" in svg
    assert svg.count("<polygon") == 4  # high: a diamond, half-filled (hearsay), in both lanes
    assert 'clip-path="url(#left-half)"' in svg
    assert 'stroke-dasharray="6 4"' in svg  # the approximate date's span
    assert "<polyline" in svg  # corroborated: the two lanes' marks joined
    assert "#762a83" in svg  # domestic abuse's colour, and its words in the label:
    assert "concerns: Domestic abuse" in svg and "Hearsay" in svg and "High significance" in svg


def test_a_big_network_is_clustered_not_drawn() -> None:
    import networkx as nx

    g = nx.MultiDiGraph()
    g.add_node(("person", "P0"), name="Child", dob=None)
    for i in range(700):
        g.add_node(("event", f"E{i}"), kind="contact", start=739000 + i, end=739000 + i, precision="day")
        g.add_edge(("person", "P0"), ("event", f"E{i}"), key="child", role="child")
        g.add_node(("person", f"Q{i}"), name=f"Person {i}", dob=None)
        g.add_edge(("person", f"Q{i}"), ("event", f"E{i}"), key="parent", role="parent")
    pic = vnet.picture(g, "P0", person_name=lambda i, d: str(d.get("name")), agency_names={})
    assert pic.clustered and pic.total_nodes == 1401 and len(pic.vis["nodes"]) <= vnet.MAX_DRAWN
    assert "event" not in pic.counts  # every event is in a group by year
    labels = [n["label"] for n in pic.vis["nodes"]]
    assert any(re.fullmatch(r"\d+ events in \d{4}", lb) for lb in labels)
    assert pic.vis["options"]["physics"] == {"enabled": False}
    assert all("x" in n and "y" in n and n["physics"] is False for n in pic.vis["nodes"])


def test_static_files_are_in_the_package() -> None:
    from api.routers.pages import vis_assets
    from viz.pages import static_dir

    assert {p.name for p in static_dir().iterdir()} >= {"jigsaw.css", "print.css", "network.js", "favicon.svg"}
    assert (vis_assets() / "vis-network.min.js").stat().st_size > 100_000
    assert Path(static_dir() / "network.js").read_text().count("<script") == 0


# ---------------------------------------------------------------------- pattern flags


def test_the_chronology_page_flags_patterns_linked_to_their_lines(web: Site) -> None:
    pid = web.mia[SW]
    with client(web, SW) as c:
        page = c.get(f"/pages/people/{pid}/chronology").text
    flags = page[page.index('<section class="pattern-flags"') : page.index("</section>", page.index("pattern-flags"))]
    # (no multi-agency flag here: this site adds a social care assessment in November)
    assert "Concern repeated after closure" in flags and "Several agencies worried" not in flags
    assert 'class="severity-label">High<' in flags
    targets = re.findall(r'href="#(ev-E[0-9a-f]{16})"', flags)
    assert targets, "each flag's evidence links to its line in the table"
    for t in targets:
        assert f'id="{t}"' in page
    # flags come before the timeline
    assert page.index("pattern-flags") < page.index("timeline-figure")


def test_the_school_sees_flags_with_whom_to_ask_for_what_it_may_not_read(web: Site) -> None:
    pid = web.mia[DSL]
    with client(web, DSL) as c:
        page = c.get(f"/pages/people/{pid}/chronology").text
    flags = page[page.index('<section class="pattern-flags"') : page.index("</section>", page.index("pattern-flags"))]
    assert "Concern repeated after closure" in flags
    assert "Held by northshire-csws: ask their designated safeguarding lead" in flags
    assert not [m for m in ALL_MARKERS if m in flags]


def test_the_flags_are_in_the_chronology_reads_audit(web: Site) -> None:
    pid = web.mia[SW]
    store = web.server.store
    before = store.audit_entries(actor=SW, limit=10_000)
    with client(web, SW) as c:
        c.get(f"/pages/people/{pid}/chronology")
    (entry,) = store.audit_entries(actor=SW, limit=10_000)[len(before) :]
    assert entry.action == "read.chronology"
    assert "repeat_after_closure" in entry.detail["patterns"] and entry.detail["flags"] >= 1
