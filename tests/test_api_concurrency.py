"""Many clients at once against one embedded store (one writer at a time, readers
alongside), over real HTTP to a real uvicorn (tests/api_server.py): no errors, no lost
or doubled writes, every read well-formed and audited, the audit chain whole after.

A second writer on the same store file (another ``jigsaw serve`` worker, or ``jigsaw
ingest`` while the server runs), in a process of its own, writing while the server
writes: the server serves every fragment either of them wrote.

And the two ways a write can be refused for a while, each answered 503 with Retry-After
and nothing half-written, then accepted on retry:

- another process holds the store's write lock (a second SQLite connection in
  ``BEGIN IMMEDIATE``) for longer than the store's busy timeout;
- the disk is full (SQLite's ``max_page_count`` caps the file at its current size).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.schemas import BatchReceipt, ChronologyPage, FragmentReceipt, Page
from api.settings import Settings
from graph.audit import AuditEntry
from graph.embedded import EmbeddedStore
from graph.store import PersonSummary, fragment_id
from tests.api_server import Server, demo_server
from tests.conftest import ROOT, fragment

AGENCY = "northshire-childrens-centre"
WRITERS = 16
OWN = 4  # single fragments each writer sends of its own
OWN_BATCH = 5  # and a batch of its own
SHARED = 3  # record references every writer sends, singly, at the same moment
SHARED_BATCH = 4  # a batch every writer sends
READERS = ["sw-northshire-118", "dsl-hollybank", "pc-northshire-2291", "gp-millbrook-lead"]
MIA = ("Mia Walsh", "2019-03-14")
RETRY_AFTER = 3


def _settings(**changes: Any) -> Settings:
    """Settings without a .env, Retry-After fixed (the 503 tests check it), and ``changes``."""
    return Settings(_env_file=None, retry_after=RETRY_AFTER, **changes)  # type: ignore[call-arg]


def _store(server: Server) -> EmbeddedStore:
    assert isinstance(server.store, EmbeddedStore)
    return server.store


def _writer(server: Server, reader_id: str) -> httpx.Client:
    """A practitioner of the example fragment's agency, with a token, and a client as them."""
    store = _store(server)
    store.put_reader("test", reader_id=reader_id, agency=AGENCY, roles=["practitioner"])
    server.tokens[reader_id] = store.issue_token("test", reader_id)[1]
    return server.client(reader_id)


def _last_audit_seq(store: EmbeddedStore) -> int:
    seq = 0
    while page := store.audit_entries(after_seq=seq, limit=1000):
        seq = page[-1].seq
    return seq


def _audit_since(store: EmbeddedStore, after: int) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    while page := store.audit_entries(after_seq=after, limit=1000):
        out += page
        after = page[-1].seq
    return out


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    # record reference -> every status a response gave it ("accepted" / "duplicate")
    statuses: dict[str, list[str]] = field(default_factory=dict)
    written: int = 0  # requests answered 201
    reads: Counter[str] = field(default_factory=Counter)  # audit action -> reads answered 200
    problems: list[str] = field(default_factory=list)

    def note(self, ref: str, status: str) -> None:
        with self.lock:
            self.statuses.setdefault(ref, []).append(status)

    def fail(self, what: str) -> None:
        with self.lock:
            self.problems.append(what)


def _guarded(tally: Tally, fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except Exception as exc:  # a thread's failure must fail the test, not vanish
            tally.fail(f"{type(exc).__name__}: {exc}")

    return run


def _post_one(http: httpx.Client, tally: Tally, ref: str) -> None:
    resp = http.post("/fragments", json=fragment(record_ref=ref))
    if resp.status_code not in (200, 201):
        tally.fail(f"POST /fragments {ref}: {resp.status_code} {resp.text[:300]}")
        return
    receipt = FragmentReceipt.model_validate(resp.json())
    expected = "accepted" if resp.status_code == 201 else "duplicate"
    if receipt.status != expected or receipt.id != fragment_id(AGENCY, ref):
        tally.fail(f"POST /fragments {ref}: {resp.status_code} with {receipt}")
    if resp.headers.get("Location") != f"/fragments/{receipt.id}":
        tally.fail(f"POST /fragments {ref}: Location {resp.headers.get('Location')}")
    tally.note(ref, receipt.status)
    if resp.status_code == 201:
        with tally.lock:
            tally.written += 1


def _post_batch(http: httpx.Client, tally: Tally, refs: list[str]) -> None:
    resp = http.post("/fragments/batch", json={"fragments": [fragment(record_ref=r) for r in refs]})
    if resp.status_code not in (200, 201):
        tally.fail(f"POST /fragments/batch {refs[0]}..: {resp.status_code} {resp.text[:300]}")
        return
    receipt = BatchReceipt.model_validate(resp.json())
    items = sorted(receipt.items, key=lambda i: i.index)
    if [i.id for i in items] != [fragment_id(AGENCY, r) for r in refs]:
        tally.fail(f"POST /fragments/batch {refs[0]}..: ids {[i.id for i in items]}")
    accepted = sum(1 for i in items if i.status == "accepted")
    if (resp.status_code == 201) != (accepted > 0) or receipt.accepted != accepted:
        tally.fail(f"POST /fragments/batch {refs[0]}..: {resp.status_code} with {accepted} accepted")
    if receipt.duplicate != len(items) - accepted:
        tally.fail(f"POST /fragments/batch {refs[0]}..: duplicate {receipt.duplicate}")
    for ref, item in zip(refs, items, strict=True):
        tally.note(ref, item.status)
    if resp.status_code == 201:
        with tally.lock:
            tally.written += 1


def _write(http: httpx.Client, w: int, tally: Tally, start: threading.Barrier) -> None:
    start.wait()
    own = [f"CONC-W{w}-{k}" for k in range(OWN)]
    for j in range(SHARED):  # every writer at once: exactly one may be accepted
        _post_one(http, tally, f"CONC-SHARED-{j}")
    for ref in own:
        _post_one(http, tally, ref)
    _post_one(http, tally, own[0])  # a resend: 200 "duplicate"
    _post_batch(http, tally, [f"CONC-W{w}-B{k}" for k in range(OWN_BATCH)])
    _post_batch(http, tally, [f"CONC-SHARED-B{k}" for k in range(SHARED_BATCH)])
    # a batch of new and already-sent fragments: the new ones are accepted, once
    _post_batch(http, tally, [f"CONC-W{w}-M0", own[1], "CONC-SHARED-0", f"CONC-W{w}-M1"])


def _read(http: httpx.Client, tally: Tally, start: threading.Barrier, done: threading.Event) -> None:
    def get(url: str, action: str) -> dict[str, Any] | None:
        resp = http.get(url)
        if resp.status_code != 200:
            tally.fail(f"GET {url}: {resp.status_code} {resp.text[:300]}")
            return None
        with tally.lock:
            tally.reads[action] += 1
        body: dict[str, Any] = resp.json()
        return body

    start.wait()
    rounds = 0
    while rounds < 3 or not done.is_set():  # at least a few rounds, and for as long as writers write
        rounds += 1
        found = get("/people?q=Walsh", "read.search")
        if found is None:
            return
        page = Page[PersonSummary].model_validate(found)
        mia = [p for p in page.items if MIA[0] in p.names and MIA[1] in p.dobs]
        if not page.items or not mia:
            tally.fail(f"search for Walsh: {[p.names for p in page.items]}")
            return
        pid = mia[0].person_id
        body = get(f"/people/{pid}/chronology?limit=500", "read.chronology")
        if body is None:
            return
        chron = ChronologyPage.model_validate(body)
        if chron.person.person_id != pid or chron.total != len(chron.items) or not chron.items:
            tally.fail(f"chronology of {pid}: person {chron.person.person_id}, {len(chron.items)}/{chron.total}")
        for line in chron.items:
            if not line.held_back and not line.sources:
                tally.fail(f"chronology of {pid}: line {line.event_id} has no sources")


def test_many_clients_at_once(tmp_path: Path) -> None:
    with demo_server(tmp_path, _settings()) as server:
        store = _store(server)
        writers = [_writer(server, f"cc-writer-{w}") for w in range(WRITERS)]
        readers = [server.client(r) for r in READERS]
        before = store.fragment_count()
        audit_before = _last_audit_seq(store)
        tally = Tally()
        start = threading.Barrier(WRITERS + len(READERS))
        done = threading.Event()
        write_threads = [
            threading.Thread(target=_guarded(tally, lambda w=w, h=h: _write(h, w, tally, start)))
            for w, h in enumerate(writers)
        ]
        read_threads = [
            threading.Thread(target=_guarded(tally, lambda h=h: _read(h, tally, start, done))) for h in readers
        ]
        for t in write_threads + read_threads:
            t.start()
        for t in write_threads:
            t.join(timeout=120)
        done.set()
        for t in read_threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in write_threads + read_threads), "a client hung"
        for h in writers + readers:
            h.close()

        assert not tally.problems, tally.problems[:10]
        # every record reference accepted exactly once, however many times and ways it was sent
        twice = {ref: s for ref, s in tally.statuses.items() if s.count("accepted") != 1}
        assert not twice, twice
        sent = WRITERS * (OWN + OWN_BATCH + 2) + SHARED + SHARED_BATCH
        assert len(tally.statuses) == sent
        duplicates = sum(len(s) - 1 for s in tally.statuses.values())
        assert duplicates == WRITERS * 3 + (WRITERS - 1) * (SHARED + SHARED_BATCH)

        assert store.fragment_count() == before + sent
        missing = [ref for ref in tally.statuses if store.get_fragment(fragment_id(AGENCY, ref)) is None]
        assert not missing
        # one audit entry per write answered 201 and per read answered 200, nothing else
        entries = _audit_since(store, audit_before)
        actions = Counter(e.action for e in entries)
        assert actions == Counter({"fragment.write": tally.written, **tally.reads})
        written = [f for e in entries if e.action == "fragment.write" for f in e.detail["fragments"]]
        assert sorted(written) == sorted(fragment_id(AGENCY, ref) for ref in tally.statuses)
        assert store.audit_verify().ok


# another process appending fragments to the store, one commit each, printing their ids
OTHER_WRITER = """
import sys
from graph.embedded import EmbeddedStore
from ingest.validate import check_fragment
from tests.conftest import fragment

store = EmbeddedStore.open(sys.argv[1])
for n in range(int(sys.argv[2])):
    doc, errors = check_fragment(fragment(record_ref=f"OTHER-{n}"))
    assert doc is not None, errors
    (o,) = store.append([doc], actor="other-process")
    assert o.status == "accepted", o
    print(o.fragment_id, flush=True)
store.close()
"""
OTHER = 150


def test_another_process_writing_the_same_store(tmp_path: Path) -> None:
    with demo_server(tmp_path, _settings()) as server:
        store = _store(server)
        clients = [_writer(server, f"cc-writer-{w}") for w in range(4)]
        tally = Tally()
        sent: list[str] = []
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.getenv("PYTHONPATH")])])}
        other = subprocess.Popen(
            [sys.executable, "-c", OTHER_WRITER, str(store.path), str(OTHER)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

        def write(http: httpx.Client, w: int) -> None:
            n = 0
            while other.poll() is None or n < 5:  # for as long as the other process writes
                ref = f"HTTP-W{w}-{n}"
                n += 1
                _post_one(http, tally, ref)
                with tally.lock:
                    sent.append(ref)

        threads = [
            threading.Thread(target=_guarded(tally, lambda w=w, h=h: write(h, w))) for w, h in enumerate(clients)
        ]
        for t in threads:
            t.start()
        out, err = other.communicate(timeout=120)
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "a client hung"
        for h in clients:
            h.close()
        assert other.returncode == 0, err[-2000:]
        theirs = out.split()
        assert len(theirs) == OTHER
        assert not tally.problems, tally.problems[:10]
        assert all(s == ["accepted"] for s in tally.statuses.values())

        # the server's own view of the store is the whole journal, in whichever order it was written
        fresh = EmbeddedStore.open(store.path)
        try:
            journal = fresh.fragment_count()
        finally:
            fresh.close()
        assert store.fragment_count() == journal
        with server.client("cc-writer-0") as http:
            unseen = [fid for fid in theirs if http.get(f"/fragments/{fid}").status_code != 200]
            assert not unseen, f"the server does not serve {len(unseen)} of the other process's {OTHER} fragments"
            for ref in sent[:: max(1, len(sent) // 20)]:
                assert http.get(f"/fragments/{fragment_id(AGENCY, ref)}").status_code == 200
        assert store.audit_verify().ok


def _assert_refused(resp: httpx.Response, kind: str) -> None:
    assert resp.status_code == 503, resp.text[:300]
    assert resp.headers["Retry-After"] == str(RETRY_AFTER)
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["type"] == f"urn:jigsaw:problem:{kind}"


def test_a_write_blocked_by_another_writer_is_refused_then_accepted(tmp_path: Path) -> None:
    # the store waits 0.3 s for another writer before giving up (the app's store is opened
    # by demo_server with the settings' busy_timeout)
    with demo_server(tmp_path, _settings(busy_timeout=0.3)) as server:
        store = _store(server)
        http = _writer(server, "cc-writer")
        count = store.fragment_count()
        audit_at = _last_audit_seq(store)
        single = fragment(record_ref="BUSY-1")
        batch = {"fragments": [fragment(record_ref=f"BUSY-B{k}") for k in range(3)]}
        ids = [fragment_id(AGENCY, r) for r in ("BUSY-1", "BUSY-B0", "BUSY-B1", "BUSY-B2")]

        other = sqlite3.connect(store.path, isolation_level=None)  # another process's writer, in effect
        try:
            other.execute("BEGIN IMMEDIATE")
            _assert_refused(http.post("/fragments", json=single), "busy")
            _assert_refused(http.post("/fragments/batch", json=batch), "busy")
            # nothing half-written, and the store still answers while the lock is held
            assert all(store.get_fragment(fid) is None for fid in ids)
            assert store.fragment_count() == count
            assert _audit_since(store, audit_at) == []
            # a read is audited before it is answered: refused too, never answered unaudited
            known = fragment_id(AGENCY, "CC-2026-11-0201")  # the demo's, of the writer's own agency
            _assert_refused(http.get(f"/fragments/{known}"), "busy")
            other.execute("ROLLBACK")
        finally:
            other.close()

        first = http.post("/fragments", json=single)
        assert first.status_code == 201, first.text[:300]
        assert first.json()["id"] == ids[0]
        whole = http.post("/fragments/batch", json=batch)
        assert whole.status_code == 201, whole.text[:300]
        assert [i["status"] for i in whole.json()["items"]] == ["accepted"] * 3
        assert all(store.get_fragment(fid) is not None for fid in ids)
        assert store.fragment_count() == count + 4
        assert [e.action for e in _audit_since(store, audit_at)] == ["fragment.write"] * 2
        assert store.audit_verify().ok
        assert http.get(f"/fragments/{known}").status_code == 200


@pytest.mark.parametrize("path", ["/fragments", "/fragments/batch"])
def test_a_write_on_a_full_disk_is_refused_then_accepted(tmp_path: Path, path: str) -> None:
    with demo_server(tmp_path, _settings()) as server:
        store = _store(server)
        http = _writer(server, "cc-writer")
        # a long narrative: the fragment needs pages of its own, whatever room is left in others
        doc = fragment(record_ref="FULL-1", event={**fragment()["event"], "narrative": "Synthetic. " * 1800})
        body: dict[str, Any] = doc if path == "/fragments" else {"fragments": [doc]}
        fid = fragment_id(AGENCY, "FULL-1")
        count = store.fragment_count()
        audit_at = _last_audit_seq(store)

        # Test-only reach into the store's connection: cap the file at its current size,
        # as a full disk would, under the store's lock (request threads share the connection).
        with store._lock:
            pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
            assert store._conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
            store._conn.execute(f"PRAGMA max_page_count = {pages}")
        try:
            _assert_refused(http.post(path, json=body), "full")
            assert store.get_fragment(fid) is None
            assert store.fragment_count() == count
            assert _audit_since(store, audit_at) == []
            assert store.audit_verify().ok
        finally:
            with store._lock:
                store._conn.execute("PRAGMA max_page_count = 4294967294")

        again = http.post(path, json=body)
        assert again.status_code == 201, again.text[:300]
        assert store.get_fragment(fid) is not None
        assert store.fragment_count() == count + 1
        assert [e.action for e in _audit_since(store, audit_at)] == ["fragment.write"]
        assert store.audit_verify().ok
        assert http.get(f"/fragments/{fid}").status_code == 200
