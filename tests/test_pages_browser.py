"""The meeting view in a real headless Chromium (Debian's), driven by Playwright.

The real app over HTTP on 127.0.0.1, on a real store file (the demo, with two planted
records: tests/pages_site.py). Every request the browser makes goes through a route
handler that lets 127.0.0.1 through and fails anything else, so a page that reached for a
CDN, a font or an analytics host fails its test. Console errors and uncaught page errors
fail a test too (a Content-Security-Policy violation is a console error).

Screenshots of every page go to tests/artefacts/ (not committed); their paths are printed.
axe-core (from npm: package.json, ``npm ci``) runs inside each page; serious or critical
violations fail.

Chromium: /usr/bin/chromium (``apt-get install chromium``; .ci/run installs it), or the
path in JIGSAW_CHROMIUM. Without it these tests skip locally, saying why, and fail in CI
(CI=true): a browser test that silently did not run is worse than none.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.api_server import CHROMIUM_ARGS
from tests.pages_site import ALL_MARKERS, DSL, MIA_STORY, SW, SW_ONLY, Site, site

ROOT = Path(__file__).resolve().parent.parent
ARTEFACTS = ROOT / "tests" / "artefacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("JIGSAW_CHROMIUM", "/usr/bin/chromium")
LOCAL = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what}: the browser tests must run in CI (.ci/run installs it)", pytrace=False)
    pytest.skip(f"{what}; install it to run the browser tests")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set JIGSAW_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with site(tmp_path_factory.mktemp("browser")) as s:
        yield s


@dataclass
class Watch:
    """What a page did that it should not: console errors, page errors, outside requests."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    expected_status: set[int] = field(default_factory=set)

    def clean(self) -> None:
        assert self.outside == [], f"requests outside this machine: {self.outside}"
        assert self.errors == [], f"console or page errors: {self.errors}"


def _context(browser: Any, web: Site, reader: str | None, watch: Watch, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {web.server.tokens[reader]}", "X-Jigsaw-Purpose": "meeting"} if reader else {}
    ctx = browser.new_context(viewport={"width": 1366, "height": 900}, extra_http_headers=headers, **kw)

    def route(r: Any) -> None:
        host = urlparse(r.request.url).hostname or ""
        if r.request.url.startswith(("data:", "blob:")) or host in LOCAL:
            r.continue_()
        else:
            watch.outside.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    return ctx


def _page(ctx: Any, watch: Watch) -> Any:
    page = ctx.new_page()

    def console(msg: Any) -> None:
        if msg.type == "error" and not any(f"status of {s}" in msg.text for s in watch.expected_status):
            watch.errors.append(msg.text)

    page.on("console", console)
    page.on("pageerror", lambda e: watch.errors.append(f"uncaught: {e}"))
    return page


def _shot(page: Any, name: str, *, full: bool = True) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    print(f"screenshot: {path}")
    return path


def _open(page: Any, url: str) -> Any:
    resp = page.goto(url, wait_until="load")
    assert resp is not None
    if "/network" in url:
        page.wait_for_selector("#network[data-drawn=true]", timeout=15_000)
    return resp


def _pages(web: Site, reader: str) -> dict[str, str]:
    pid = web.mia[reader]
    return {
        "home": "/pages/?q=Walsh",
        "chronology": f"/pages/people/{pid}/chronology",
        "network": f"/pages/people/{pid}/network",
        "pack": f"/pages/people/{pid}/pack",
    }


@pytest.mark.parametrize("reader", [SW, DSL])
def test_every_page_loads_cleanly_offline_with_a_screenshot(browser: Any, web: Site, reader: str) -> None:
    watch = Watch()
    ctx = _context(browser, web, reader, watch)
    try:
        page = _page(ctx, watch)
        for name, url in _pages(web, reader).items():
            resp = _open(page, web.base + url)
            assert resp.status == 200, (name, resp.status)
            _shot(page, f"{reader}-{name}", full=name != "network")
        # and the provenance page of the first event on the timeline, reached by clicking it
        _open(page, web.base + _pages(web, reader)["chronology"])
        page.locator("svg.timeline a").first.click()
        page.wait_for_url(re.compile(r"/pages/events/E[0-9a-f]{16}"))
        assert page.locator("h1").inner_text() == "Where this came from"
        _shot(page, f"{reader}-provenance")
        watch.clean()
    finally:
        ctx.close()


def test_the_demo_childs_chronology_shows_the_story_in_order(browser: Any, web: Site) -> None:
    watch = Watch()
    ctx = _context(browser, web, SW, watch)
    try:
        page = _page(ctx, watch)
        _open(page, web.base + _pages(web, SW)["chronology"])
        rows = page.locator("table.chronology tbody tr").all_inner_texts()
        found = [next((i for i, r in enumerate(rows) if phrase in r), -1) for phrase in MIA_STORY]
        assert -1 not in found and found == sorted(found), found
        # one mark per event and agency on the timeline; each mark is a link with words
        marks = page.locator("svg.timeline a")
        assert marks.count() == sum(1 for r in rows if "Record held back" not in r)
        assert "Joint visit with police" in (marks.nth(1).get_attribute("aria-label") or "")
        assert page.locator("svg.timeline polyline").count() == 1  # the one corroborated visit
        assert page.locator("table .flag-corroborated").all_inner_texts() == ["Corroborated by 2 agencies"]
        # the patterns flagged above the timeline: open a flag's evidence, follow a link to its line
        flag = page.locator(".pattern-flag", has_text="Concern repeated after closure")
        assert flag.count() == 1
        flag.locator("summary").click()
        link = flag.locator(".flag-evidence a").first
        target = str(link.get_attribute("href"))
        link.click()
        assert page.url.endswith(target) and page.locator(target).is_visible()
        watch.clean()
    finally:
        ctx.close()


def _all_text(page: Any) -> str:
    return str(page.content())


def test_a_school_reader_sees_no_protected_strings_a_social_worker_does(browser: Any, web: Site) -> None:
    seen: dict[str, str] = {}
    for reader in (SW, DSL):
        watch = Watch()
        ctx = _context(browser, web, reader, watch)
        try:
            page = _page(ctx, watch)
            texts = []
            for url in _pages(web, reader).values():
                _open(page, web.base + url)
                texts.append(_all_text(page))
                if "/network" in url:  # what vis-network was given to draw, too
                    texts.append(str(page.evaluate("document.getElementById('network-data').textContent")))
            _open(page, web.base + _pages(web, reader)["chronology"])
            for href in page.locator("svg.timeline a").evaluate_all("els => els.map(e => e.getAttribute('href'))"):
                _open(page, web.base + href)
                texts.append(_all_text(page))
            seen[reader] = "\n".join(texts)
            watch.clean()
        finally:
            ctx.close()
    assert all(m in seen[SW] for m in ALL_MARKERS)  # not vacuous
    assert [m for m in ALL_MARKERS if m in seen[DSL]] == []
    assert "A record held by northshire-csws" in seen[DSL] and SW_ONLY not in seen[DSL]


def test_filters_change_what_is_shown(browser: Any, web: Site) -> None:
    watch = Watch()
    ctx = _context(browser, web, SW, watch)
    try:
        page = _page(ctx, watch)
        _open(page, web.base + _pages(web, SW)["chronology"])
        before = page.locator("table.chronology tbody tr").count()
        page.get_by_label("Hearsay (reported by someone else)").check()
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(re.compile(r"statement=hearsay"))
        rows = page.locator("table.chronology tbody tr").all_inner_texts()
        assert 0 < len(rows) < before and all("Hearsay" in r for r in rows)
        assert "filtered: statement: Hearsay" in page.locator("#counts").inner_text()
        _shot(page, "sw-chronology-hearsay")
        page.get_by_label("From", exact=True).fill("2026-11-19")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(re.compile(r"from=2026-11-19"))
        later = page.locator("table.chronology tbody tr").all_inner_texts()
        assert 0 < len(later) < len(rows) and all("19 Nov 2026" in r or "21 Nov 2026" in r for r in later)
        # a bad value is a readable error page naming the field, not a stack trace
        watch.expected_status.add(422)
        resp = _open(page, web.base + _pages(web, SW)["chronology"] + "?to=31/12/2026")
        assert resp.status == 422 and page.locator(".error-message strong").inner_text() == "to"
        watch.clean()
    finally:
        ctx.close()


def test_keyboard_alone_reaches_an_events_provenance(browser: Any, web: Site) -> None:
    watch = Watch()
    ctx = _context(browser, web, SW, watch)
    try:
        page = _page(ctx, watch)
        _open(page, web.base + _pages(web, SW)["chronology"])
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        page.keyboard.press("Enter")
        for _ in range(200):  # through the tabs and the filter form to the first timeline mark
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.closest('svg.timeline') !== null"):
                break
        else:
            pytest.fail("no timeline mark took the keyboard focus")
        label = page.evaluate("document.activeElement.getAttribute('aria-label')")
        assert "Anonymous call" in label
        _shot(page, "sw-chronology-focus", full=False)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/pages/events/"))
        assert "Lawful basis for sharing" in page.content()
        watch.clean()
    finally:
        ctx.close()


def test_signing_in_through_the_form(browser: Any, web: Site) -> None:
    watch = Watch(expected_status={401})
    ctx = _context(browser, web, None, watch)
    try:
        page = _page(ctx, watch)
        url = web.base + _pages(web, DSL)["chronology"]
        assert _open(page, url).status == 401
        page.get_by_label("Your access token").fill(web.server.tokens[DSL])
        page.get_by_label("A multi-agency meeting").check()
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(url)
        assert "(dsl-hollybank, hollybank-primary-school), purpose: meeting" in page.locator("header").inner_text()
        cookies = {c["name"]: c for c in ctx.cookies()}
        assert cookies["jigsaw_token"]["httpOnly"] and cookies["jigsaw_token"]["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # out of reach of scripts
        watch.clean()
    finally:
        ctx.close()


def test_the_network_is_drawn_from_local_files_with_placeholders(browser: Any, web: Site) -> None:
    watch = Watch()
    ctx = _context(browser, web, DSL, watch)
    try:
        page = _page(ctx, watch)
        requested: list[str] = []
        page.on("request", lambda r: requested.append(urlparse(r.url).path))
        _open(page, web.base + _pages(web, DSL)["network"] + "?radius=2")
        assert page.locator("#network canvas").count() == 1
        assert "/pages/assets/vis/vis-network.min.js" in requested
        data = page.evaluate("JSON.parse(document.getElementById('network-data').textContent)")
        shapes = {n["shape"] for n in data["nodes"]}
        assert {"star", "dot", "diamond", "box"} <= shapes
        dashed = [n["label"] for n in data["nodes"] if n.get("shapeProperties", {}).get("borderDashes")]
        assert any("identity protected" in d for d in dashed) and any("Record held back" in d for d in dashed)
        assert all(e.get("label") for e in data["edges"])
        assert data["options"]["physics"]["enabled"] is False
        _shot(page, "dsl-network-radius-2", full=False)
        watch.clean()
    finally:
        ctx.close()


def test_the_meeting_pack_prints_with_its_stamp(browser: Any, web: Site) -> None:
    watch = Watch()
    ctx = _context(browser, web, DSL, watch)
    try:
        page = _page(ctx, watch)
        _open(page, web.base + _pages(web, DSL)["pack"])
        page.emulate_media(media="print")
        assert page.locator("nav.tabs").is_hidden() and page.locator("header.site").is_hidden()
        stamp = page.locator(".stamp").inner_text()
        assert "Prepared for school DSL (dsl-hollybank, hollybank-primary-school)" in stamp
        assert "for the purpose: meeting" in stamp and re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4} at \d\d:\d\d UTC", stamp)
        _shot(page, "dsl-pack-print")
        pdf = ARTEFACTS / "dsl-pack.pdf"
        page.pdf(path=str(pdf), format="A4", landscape=True)
        assert pdf.stat().st_size > 10_000
        print(f"meeting pack as printed: {pdf}")
        watch.clean()
    finally:
        ctx.close()


@pytest.mark.parametrize("name", ["home", "chronology", "network", "pack", "provenance", "sign-in"])
def test_axe_finds_no_serious_accessibility_violations(browser: Any, web: Site, name: str) -> None:
    if not AXE.is_file():
        _missing(f"axe-core is not installed at {AXE} (npm ci)")
    watch = Watch(expected_status={401})
    # axe is injected as a script: only this context lets the test bypass the page's CSP
    ctx = _context(browser, web, None if name == "sign-in" else SW, watch, bypass_csp=True)
    try:
        page = _page(ctx, watch)
        pages = _pages(web, SW)
        if name == "provenance":
            _open(page, web.base + pages["chronology"])
            url = web.base + str(page.locator("svg.timeline a").nth(1).get_attribute("href"))
        elif name == "sign-in":
            url = web.base + pages["chronology"]
        else:
            url = web.base + pages[name]
        _open(page, url)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', "
            "'wcag22aa', 'best-practice']}})"
        )
        bad = [
            (v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert bad == [], bad
        assert result["passes"], "axe ran no checks"
        watch.clean()
    finally:
        ctx.close()
