"""Crash during a batch, over HTTP: the server is killed with SIGKILL while clients are
still submitting, and every fragment it answered 201 is there after a restart.

The server is a real process (uvicorn serving ``api.app:create_app`` over a real store
file). Several client threads submit single fragments and batches with distinct record
references, noting every fragment answered 201 and every request that was sent. Once some
of each have been acknowledged, and while requests are in flight, the server is killed
with SIGKILL (no shutdown, no cleanup). Then:

- the reopened store holds every fragment that was answered 201, exactly as sent;
- no batch is half-applied: of every batch sent (answered or cut off), either all its
  fragments are in the store or none are;
- the audit chain still verifies;
- a restarted server serves every acknowledged fragment to the same reader, answers a
  resend of an acknowledged one 200 "duplicate", and accepts a resend of every request
  that was cut off (201, or 200 if it had been committed before the kill).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.embedded import EmbeddedStore
from graph.store import fragment_id
from tests.api_server import free_port
from tests.conftest import ROOT, fragment

AGENCY = "northshire-childrens-centre"
READER = "cc-writer-1"
CLIENTS = 4
BATCH = 12  # fragments in a batch
# kill once this much has been acknowledged (and something is in flight)
ACKED_SINGLES = 5
ACKED_BATCHES = 3
LIMIT = 60.0  # seconds: a safety net against a hang, never a measurement


@contextmanager
def server_process(store: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``uvicorn api.app:create_app --factory`` on a free port, serving ``store``."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIGSAW_")}  # default settings but the store
    env |= {
        "JIGSAW_STORE": str(store),
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    cmd = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    with log.open("ab") as out:
        # cwd: the store's folder, so that no .env of the project's is read
        proc = subprocess.Popen(cmd, cwd=store.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LIMIT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class Request:
    """One submission: its path, body and the ids of the fragments it carries."""

    path: str
    body: dict[str, Any]
    refs: list[str]
    ids: list[str]
    # unsent; sent (not answered yet); cut off (the connection broke with no answer);
    # refused (the server was already gone); or the status code answered
    outcome: str = "unsent"


@dataclass
class Ledger:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[Request] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)  # fragment id -> record_ref, answered 201
    acked_singles: int = 0
    acked_batches: int = 0
    in_flight: int = 0
    cut_off: int = 0
    unexpected: list[str] = field(default_factory=list)


def make_request(client: int, n: int) -> Request:
    """Every third submission a single fragment, the rest batches; record references say
    which client, which submission and (in a batch) which position."""
    if n % 3 == 0:
        refs = [f"CRASH-C{client}-S{n}"]
        return Request("/fragments", fragment(record_ref=refs[0]), refs, [fragment_id(AGENCY, refs[0])])
    refs = [f"CRASH-C{client}-B{n}-{k}" for k in range(BATCH)]
    body = {"fragments": [fragment(record_ref=r) for r in refs]}
    return Request("/fragments/batch", body, refs, [fragment_id(AGENCY, r) for r in refs])


def submit(client: int, base: str, token: str, ledger: Ledger, stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {token}", "X-Jigsaw-Purpose": "safeguarding"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        n = 0
        while not stop.is_set():
            req = make_request(client, n)
            n += 1
            with ledger.lock:
                ledger.requests.append(req)
                req.outcome = "sent"
                ledger.in_flight += 1
            try:
                resp = http.post(req.path, json=req.body)
            except httpx.TransportError as exc:
                with ledger.lock:
                    ledger.in_flight -= 1
                    req.outcome = "refused" if isinstance(exc, httpx.ConnectError) else "cut off"
                    ledger.cut_off += req.outcome == "cut off"
                return  # the server is gone
            with ledger.lock:
                ledger.in_flight -= 1
                req.outcome = str(resp.status_code)
                if resp.status_code != 201:
                    ledger.unexpected.append(f"{req.path} {resp.status_code} {resp.text[:300]}")
                    return
                body = resp.json()
                if req.path == "/fragments":
                    answered = [(body["id"], body["status"])]
                    ledger.acked_singles += 1
                else:
                    answered = [
                        (item["id"], item["status"]) for item in sorted(body["items"], key=lambda i: i["index"])
                    ]
                    ledger.acked_batches += 1
                if [fid for fid, _ in answered] != req.ids or {s for _, s in answered} != {"accepted"}:
                    ledger.unexpected.append(f"{req.path}: answered {answered}, sent {req.ids}")
                    return
                for fid, ref in zip(req.ids, req.refs, strict=True):
                    ledger.acked[fid] = ref


@pytest.mark.slow
def test_every_201_survives_sigkill_mid_batch(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    setup = EmbeddedStore.open(path, create=True)
    try:
        setup.put_reader("test", reader_id=READER, agency=AGENCY, roles=["practitioner"])
        _, token = setup.issue_token("test", READER)
    finally:
        setup.close()
    log = tmp_path / "server.log"
    ledger = Ledger()
    stop = threading.Event()

    with server_process(path, log) as (proc, base):
        threads = [
            threading.Thread(target=submit, args=(c, base, token, ledger, stop), daemon=True) for c in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + LIMIT
        while True:
            with ledger.lock:
                assert not ledger.unexpected, ledger.unexpected
                ready = ledger.acked_singles >= ACKED_SINGLES and ledger.acked_batches >= ACKED_BATCHES
                if ready and ledger.in_flight >= 2:
                    # under the ledger's lock: no client can note an answer until the kill is done
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            assert time.monotonic() < deadline, "not enough was acknowledged to kill the server mid-flight"
            time.sleep(0.005)
        proc.wait()
        stop.set()
        for t in threads:
            t.join(timeout=LIMIT)
            assert not t.is_alive(), "a client did not notice the server had gone"
    assert proc.returncode == -signal.SIGKILL

    assert not ledger.unexpected, ledger.unexpected
    assert ledger.cut_off >= 1, "no request was in flight when the server was killed"
    sent = [r for r in ledger.requests if r.outcome != "unsent"]
    unanswered = [r for r in sent if r.outcome != "201"]
    assert {r.outcome for r in unanswered} <= {"cut off", "refused"}

    s = EmbeddedStore.open(path)
    try:
        missing = [fid for fid in ledger.acked if s.get_fragment(fid) is None]
        assert not missing, f"{len(missing)} of {len(ledger.acked)} fragments answered 201 are not in the store"
        for fid, ref in ledger.acked.items():
            doc = s.get_fragment(fid)
            assert doc is not None
            assert doc["record_ref"] == ref and doc["agency"]["id"] == AGENCY
        for r in sent:
            present = sum(1 for fid in r.ids if s.get_fragment(fid) is not None)
            assert present in (0, len(r.ids)), f"{r.refs[0]}...: {present} of {len(r.ids)} stored (half-applied)"
        stored = s.fragment_count()
        committed = sum(len(r.ids) for r in sent if s.get_fragment(r.ids[0]) is not None)
        assert stored == committed, "the store holds fragments no request sent"
        assert s.audit_verify().ok
    finally:
        s.close()

    headers = {"Authorization": f"Bearer {token}", "X-Jigsaw-Purpose": "safeguarding"}
    with server_process(path, log) as (_, base), httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for fid, ref in ledger.acked.items():
            resp = http.get(f"/fragments/{fid}")
            assert resp.status_code == 200, (fid, resp.status_code, resp.text[:300])
            got = resp.json()
            assert got["id"] == fid and got["held_back"] is False and got["fragment"]["record_ref"] == ref
        # a resend of an acknowledged fragment changes nothing
        first = next(iter(ledger.acked.values()))
        again = http.post("/fragments", json=fragment(record_ref=first))
        assert again.status_code == 200 and again.json()["status"] == "duplicate", again.text[:300]
        # a client retrying what was cut off gets an answer; it is stored once, whole
        for r in unanswered:
            resp = http.post(r.path, json=r.body)
            assert resp.status_code in (200, 201), (r.path, resp.status_code, resp.text[:300])
        total = sum(len(r.ids) for r in sent)
    s = EmbeddedStore.open(path)
    try:
        assert all(s.get_fragment(fid) is not None for r in sent for fid in r.ids)
        assert s.fragment_count() == total
        assert s.audit_verify().ok
    finally:
        s.close()
