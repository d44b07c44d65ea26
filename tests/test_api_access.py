"""Function- and object-level authorisation over real HTTP.

The store is test_access.py's "rich" one: fifteen records about the Penrose family and
another child, with every marking the policy knows, a planted marker in each record and
planted identifying details of two protected people. It is served by the real app on
127.0.0.1, and every read route is driven over HTTP as each reader:

- nothing a reader may not read reaches them through any route (markers absent), and
  what they may read does (the test is not vacuous);
- every request the social worker made, replayed as a reader from another agency,
  answers either what that reader may see or exactly what a request for an id that
  never existed answers, byte for byte;
- the HTTP answers are the reader's view: the API adds nothing and loses nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from graph.access import Decision
from graph.embedded import EmbeddedStore
from tests.api_server import serve
from tests.test_access import (  # the rich store and what each reader may see of it
    EXPECTED,
    IDENTITY_MARKERS,
    IDENTITY_SEEN_BY,
    NO_SUCH_FRAGMENT,
    QUERIES,
    RICH,
    RICH_READERS,
    fid,
    marker,
    rich,
)

__all__ = ["rich"]  # the fixture, imported so pytest finds it here

S = Decision.see
READERS = sorted(RICH_READERS)
NO_SUCH_PERSON = "P0000000000000000-0"
NO_SUCH_EVENT = "E0000000000000000"


@pytest.fixture(scope="module")
def http(rich: EmbeddedStore) -> Iterator[tuple[str, dict[str, str]]]:
    tokens = {rid: rich.issue_token("test", rid)[1] for rid in READERS}
    with serve(rich) as base:
        yield base, tokens


def client(http: tuple[str, dict[str, str]], reader: str, purpose: str = "safeguarding") -> httpx.Client:
    base, tokens = http
    return httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {tokens[reader]}", "X-Jigsaw-Purpose": purpose}, timeout=30
    )


def everything_over_http(c: httpx.Client) -> tuple[str, list[str]]:
    """All a reader can get out of the API for the test's queries and fragment ids, as
    text, and every URL asked (to replay as someone else)."""
    shown: list[Any] = []
    urls: list[str] = []

    def get(url: str, **params: Any) -> httpx.Response:
        r = c.get(url, params=params)
        assert r.status_code < 500, (url, r.text)
        urls.append(str(r.request.url))
        shown.append(r.text)
        return r

    todo: list[str] = []
    for q in QUERIES:
        r = get("/people", q=q)
        assert r.status_code == 200
        todo.extend(p["person_id"] for p in r.json()["items"])
    done: set[str] = set()
    while todo:
        pid = todo.pop()
        if pid in done:
            continue
        done.add(pid)
        assert get(f"/people/{pid}").status_code == 200
        r = get(f"/people/{pid}/chronology", limit=500)
        assert r.status_code == 200
        lines = r.json()["items"]
        todo.extend(pp["person_id"] for ln in lines for pp in ln["people"])
        for ln in lines:
            if ln["event_id"]:
                assert get(f"/events/{ln['event_id']}").status_code == 200
        get(f"/people/{pid}/chronology", format="csv", limit=500)
        r = get(f"/people/{pid}/network", radius=2)
        todo.extend(n["id"].split(":", 1)[1] for n in r.json()["nodes"] if n["kind"] == "person")
    for agency, ref, *_ in RICH:
        get(f"/fragments/{fid(agency, ref)}")
    get(f"/fragments/{NO_SUCH_FRAGMENT}")
    return "\n".join(shown), urls


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("purpose", ["safeguarding", "meeting"])
def test_no_marker_reaches_a_reader_over_http(http: tuple[str, dict[str, str]], reader: str, purpose: str) -> None:
    with client(http, reader, purpose) as c:
        text, _ = everything_over_http(c)
    forbidden = {marker(ref) for ref in EXPECTED if EXPECTED[ref][reader] is not S}
    forbidden |= {m for m, ref in IDENTITY_MARKERS.items() if ref not in IDENTITY_SEEN_BY[reader]}
    if EXPECTED["POL-1"][reader] is not S and EXPECTED["POL-2"][reader] is not S:
        forbidden.add("ZQXPARTNER")
    allowed = {marker(ref) for ref in EXPECTED if EXPECTED[ref][reader] is S} - forbidden
    assert not sorted(m for m in forbidden if m in text), reader
    assert not sorted(m for m in allowed if m not in text), reader


def _not_found_body(c: httpx.Client, url: str) -> tuple[int, Any]:
    """What the API answers for an id of the same shape that never existed."""
    path = httpx.URL(url).path
    kind, _, rest = path.strip("/").partition("/")
    fake = {"people": NO_SUCH_PERSON, "events": NO_SUCH_EVENT, "fragments": NO_SUCH_FRAGMENT}[kind]
    tail = rest.partition("/")[2]
    r = c.get(f"/{kind}/{fake}" + (f"/{tail}" if tail else ""), params=dict(httpx.URL(url).params))
    return r.status_code, r.json() if r.headers["content-type"].endswith("json") else r.text


@pytest.mark.parametrize("other", [r for r in READERS if r != "sw"])
def test_the_social_workers_requests_replayed_as_another_agency(http: tuple[str, dict[str, str]], other: str) -> None:
    with client(http, "sw") as sw:
        _, urls = everything_over_http(sw)
    assert len(urls) > 50
    forbidden = {marker(ref) for ref in EXPECTED if EXPECTED[ref][other] is not S}
    forbidden |= {m for m, ref in IDENTITY_MARKERS.items() if ref not in IDENTITY_SEEN_BY[other]}
    hidden_ids = {fid(a, ref) for a, ref, *_ in RICH if EXPECTED[ref][other] is Decision.absent}
    with client(http, other) as c:
        for url in urls:
            r = c.get(url)
            assert r.status_code in (200, 404), (url, r.status_code)
            assert not [m for m in forbidden if m in r.text], (other, url)
            if r.status_code == 404:
                # exactly the answer for something that never existed: nothing betrayed
                assert (r.status_code, r.json()) == _not_found_body(c, url), url
            if "/fragments/" in url and httpx.URL(url).path.rsplit("/", 1)[1] in hidden_ids:
                assert r.status_code == 404, url


@pytest.mark.parametrize("reader", READERS)
def test_http_answers_are_the_readers_view(rich: EmbeddedStore, http: tuple[str, dict[str, str]], reader: str) -> None:
    v = rich.view(reader, "safeguarding")
    with client(http, reader) as c:
        for agency, ref, *_ in RICH:
            f = fid(agency, ref)
            want = v.fragment(f)
            r = c.get(f"/fragments/{f}")
            if want is None:
                assert r.status_code == 404
            elif want.get("held_back"):
                assert r.json() == {"id": f, "held_back": True, "agency": agency, "ask": want["ask"], "fragment": None}
            else:
                assert r.json()["fragment"] == want
        for person in v.find_people("Penrose"):
            r = c.get(f"/people/{person.person_id}/chronology", params={"limit": 500})
            assert r.json()["items"] == json.loads(json.dumps([ln.as_dict() for ln in v.chronology(person.person_id)]))


def test_other_purposes_see_no_content(http: tuple[str, dict[str, str]]) -> None:
    """The social worker asking for analysis (not on a case) sees only her own agency's
    records; for audit or administration the content routes refuse outright."""
    with client(http, "sw", "analysis") as c:
        text, _ = everything_over_http(c)
    own = {marker(ref) for a, ref, *_ in RICH if a == "ws-csc"}
    others = {marker(ref) for a, ref, *_ in RICH if a != "ws-csc"}
    assert all(m in text for m in own)
    assert not [m for m in others if m in text]
    for purpose in ("audit", "administration"):
        with client(http, "sw", purpose) as c:
            r = c.get("/people", params={"q": "Penrose"})
            assert r.status_code == 403 and r.json()["errors"][0]["field"] == "X-Jigsaw-Purpose"
