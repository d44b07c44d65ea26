"""Benchmarks for the meeting view's pages, not tests: the real app on 127.0.0.1, a real
store file, Debian's Chromium.

    python bench/bench_pages.py --events 500 --network-events 300 --runs 30 --browser-runs 10

Two synthetic children are written to a fresh store in bench/out/pages.sqlite:

- "Bench Child": ``--events`` events (default 500) over three years from six agencies,
  each with the child, a parent and one of a few dozen other adults; statement kinds,
  significance, concerns, precisions (a tenth approximate or a month) all mixed;
- "Net Child": ``--network-events`` events, each with the child and a new adult every
  second event, at one of 40 addresses, from six agencies: an ego network of about 500
  nodes (just under the clustering threshold, so all are drawn).

A social worker on both children's cases reads them. Figures (median and p99 of each
run set; with 10 runs the p99 is the slowest):

1. server: GET /pages/people/{id}/chronology over HTTP on loopback, first byte sent to
   last byte read (httpx), after a warm-up request: the whole server side, including the
   reader's view, the page and the audit entry written and fsync'd before answering;
   and in-process, the view's chronology and viz's rendering timed apart;
2. browser, chronology: a fresh page in headless Chromium for each run; "usable" is the
   load event (HTML, stylesheet and the timeline drawn: everything on the page can be
   read and clicked), from the navigation's start (Navigation Timing);
3. browser, network: from the navigation's start to vis-network's first drawing of the
   picture (a performance mark network.js sets), for the 500-node network.

Targets (issue 6): chronology server-side <= 100 ms, usable in the browser <= 1 s; a
500-node network open <= 2 s. Results are appended to bench/out/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_core import OUT, pct, record  # noqa: E402
from graph.chronology import ChronologyFilters  # noqa: E402
from graph.embedded import EmbeddedStore  # noqa: E402
from ingest.pipeline import import_docs  # noqa: E402
from tests.api_server import CHROMIUM_ARGS, serve  # noqa: E402

EXAMPLE = json.loads((ROOT / "docs" / "examples" / "fragment.json").read_text())
AGENCIES = [
    ("bench-csws", "Benchshire Children's Social Work", "social_care"),
    ("bench-police", "Benchshire Police", "police"),
    ("bench-school", "Bench Lane Primary School", "school"),
    ("bench-gp", "Bench Surgery", "health"),
    ("bench-early-help", "Benchshire Early Help", "early_help"),
    ("bench-housing", "Benchshire Housing", "housing"),
]
KINDS = ["home_visit", "contact", "school_concern", "school_attendance", "referral", "assessment", "incident"]
CONCERNS = [["neglect"], ["supervision"], ["school_attendance"], ["domestic_abuse"], [], ["emotional_abuse", "neglect"]]
STATEMENTS = ["fact", "fact", "fact", "opinion", "hearsay", "allegation"]
READER = "sw-bench"


def _doc(
    i: int, child: dict[str, Any], others: list[dict[str, Any]], day: date, place: int, tag: str
) -> dict[str, Any]:
    agency_id, name, kind = AGENCIES[i % len(AGENCIES)]
    statement: dict[str, Any] = {"kind": STATEMENTS[i % len(STATEMENTS)]}
    if statement["kind"] == "opinion":
        statement["whose"] = "social worker"
    elif statement["kind"] in ("hearsay", "allegation"):
        statement["reported_by"] = others[0]["ref"]
    when: Any = f"{day.isoformat()}T{9 + i % 8:02d}:{i % 60:02d}"
    if i % 10 == 3:
        when = {"start": day.isoformat(), "end": (day + timedelta(days=20)).isoformat(), "approximate": True}
    elif i % 10 == 7:
        when = day.isoformat()[:7]
    return {
        **EXAMPLE,
        "agency": {"id": agency_id, "name": name, "type": kind, "local_authority": "Benchshire"},
        "author": {"role": "practitioner", "id": f"A{i % 17}"},
        "record_ref": f"{tag}-{i:05d}",
        "recorded_at": f"{day.isoformat()}T18:00:00Z",
        "shared_at": f"{day.isoformat()}T18:30:00Z",
        "event": {
            "kind": KINDS[i % len(KINDS)],
            "when": when,
            "summary": f"Synthetic event {i} about the bench child",
            "place": {
                "description": "Home",
                "address": {"text": f"{place} Bench Road, Benchtown", "postcode": "BT1 1AA"},
            },
        },
        "people": [child, *others],
        "relationships": [],
        "statement": statement,
        "concerns": CONCERNS[i % len(CONCERNS)],
        "significance": ("low", "medium", "high")[i % 3],
        "sharing": {"lawful_basis": "public_task", "family_told": True},
        "markings": {"audience": "case_team"},
    }


def build(path: Path, events: int, network_events: int) -> tuple[EmbeddedStore, str, str]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = EmbeddedStore.open(path, create=True)
    start = date(2023, 11, 1)
    child = {"ref": "c", "role": "child", "name": "Bench Child", "dob": "2018-02-03"}
    parent = {"ref": "m", "role": "parent", "name": "Bench Parent", "dob": "1990-04-05"}
    docs = []
    for i in range(events):
        other = {"ref": "o", "role": "other", "name": f"Adult{i % 37} Benchman", "dob": f"{1950 + i % 37}-01-01"}
        docs.append(_doc(i, child, [parent, other], start + timedelta(days=i * 1095 // events), i % 9, "BC"))
    net_child = {"ref": "c", "role": "child", "name": "Net Child", "dob": "2017-06-07"}
    for i in range(network_events):
        adult = {
            "ref": "a",
            "role": "relative",
            "name": f"Relative{i // 2} Netson",
            "dob": f"{1940 + (i // 2) % 50}-02-{1 + (i // 2) % 28:02d}",
        }
        docs.append(_doc(i, net_child, [adult], start + timedelta(days=i * 3), 100 + i % 40, "NC"))
    t0 = time.perf_counter()
    summary = import_docs(store, docs, now=datetime(2026, 11, 23, tzinfo=UTC))
    assert summary.rejected == 0, summary.errors[:3]
    print(f"imported {summary.accepted} fragments in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    system = store.system_view()
    (bench,) = [p.person_id for p in system.find_people("Bench Child")]
    (net,) = [p.person_id for p in system.find_people("Net Child")]
    store.put_reader(
        "bench",
        reader_id=READER,
        agency="bench-csws",
        roles=["social_worker"],
        clearances=["special_category", "criminal_offence", "protected_identities"],
        display_name="bench social worker",
    )
    for case, pid in (("BENCH-1", bench), ("BENCH-2", net)):
        store.open_case("bench", case, pid)
        store.set_membership("bench", case, READER, True)
    return store, bench, net


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values), 1),
        "p99_ms": round(pct(values, 0.99), 1),
        "runs": len(values),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--network-events", type=int, default=300)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--browser-runs", type=int, default=10)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    store, bench, net = build(OUT / "pages.sqlite", a.events, a.network_events)
    token = store.issue_token("bench", READER)[1]
    headers = {"Authorization": f"Bearer {token}", "X-Jigsaw-Purpose": "meeting"}
    figures: dict[str, Any] = {}
    try:
        # in-process: the view and the rendering apart
        from viz import pages

        v = store.view(READER, "meeting")
        lines = v.chronology(bench)
        person = v.person(bench)
        assert person is not None
        shown = sum(1 for ln in lines if not ln.held_back)
        view_ms, render_ms = [], []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            v = store.view(READER, "meeting")
            lines = v.chronology(bench)
            t1 = time.perf_counter()
            html = pages.chronology_page(
                pages.Links("/pages"),
                pages.Viewer(READER, "", "bench-csws", "meeting"),
                person,
                lines,
                ChronologyFilters(),
            )
            t2 = time.perf_counter()
            view_ms.append((t1 - t0) * 1e3)
            render_ms.append((t2 - t1) * 1e3)
        figures["chronology_lines"] = shown
        figures["chronology_page_bytes"] = len(html.encode())
        figures["chronology_view_in_process"] = summary(view_ms)
        figures["chronology_render_in_process"] = summary(render_ms)

        with serve(store) as base, httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            url = f"/pages/people/{bench}/chronology"
            assert c.get(url).status_code == 200  # warm-up
            server = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                r = c.get(url)
                server.append((time.perf_counter() - t0) * 1e3)
                assert r.status_code == 200
            figures["chronology_http"] = summary(server)
            nurl = f"/pages/people/{net}/network"
            r = c.get(nurl)
            assert r.status_code == 200
            figures["network_nodes_drawn"] = r.text.count('"shape":')
            net_server = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                assert c.get(nurl).status_code == 200
                net_server.append((time.perf_counter() - t0) * 1e3)
            figures["network_http"] = summary(net_server)

            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=a.chromium, args=CHROMIUM_ARGS)
                usable, interactive, drawn = [], [], []
                for i in range(a.browser_runs + 1):
                    ctx = browser.new_context(viewport={"width": 1366, "height": 900}, extra_http_headers=headers)
                    page = ctx.new_page()
                    page.goto(base + url, wait_until="load")
                    nav = page.evaluate("JSON.parse(JSON.stringify(performance.getEntriesByType('navigation')[0]))")
                    page.goto(base + nurl, wait_until="load")
                    page.wait_for_selector("#network[data-drawn=true]", timeout=30_000)
                    mark = page.evaluate("performance.getEntriesByName('network-drawn')[0].startTime")
                    ctx.close()
                    if i == 0:
                        continue  # warm-up: Chromium's own first start
                    usable.append(nav["loadEventEnd"])
                    interactive.append(nav["domInteractive"])
                    drawn.append(mark)
                browser.close()
            figures["chronology_browser_dom_interactive"] = summary(interactive)
            figures["chronology_browser_usable_load"] = summary(usable)
            figures["network_browser_drawn"] = summary(drawn)
    finally:
        store.close()
    record("pages", figures)


if __name__ == "__main__":
    main()
