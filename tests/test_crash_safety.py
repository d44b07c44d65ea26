"""Crash safety with real processes: acknowledged means durable, and nothing is half-written.

A child process appends generated fragments to an ``EmbeddedStore`` in batches of random
size and, after each ``append`` returns, writes what was acknowledged to an ack log
(fsync'd). The parent kills it with SIGKILL at a random moment, over and over, on the
same store file, so later children reopen a store with content. Each child carries on
from the last acknowledged fragment, so it resends the ones that were in flight when its
predecessor was killed (journalled or not), and it resends acknowledged ones too, which
must come back as duplicates: resends are idempotent. After each kill the parent
reopens the store and checks:

- every acknowledged fragment is there, with exactly the body that was sent;
- the journal is whole: seqs are 1..N with no gap, SQLite's integrity check passes, and
  every stored body parses, passes ``check_fragment`` again, has the id and hash of its
  row and is exactly the document its record reference was generated as;
- the reopened projection equals ``store.replay()`` (``tests.graph_compare.canonical``).
"""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from graph.embedded import EmbeddedStore
from graph.store import body_hash, fragment_id
from ingest.normalise import make_nhs_number
from ingest.validate import check_fragment
from tests.conftest import NOW, ROOT
from tests.graph_compare import canonical, first_difference

SEED = 20261123
KILLS = 24
TOTAL = 3_000  # fragments a child may send, numbered 0..TOTAL-1 (caps the journal)

AGENCIES = [
    ("nt-police", "Northshire Police", "police"),
    ("nt-school", "Larch Primary School", "school"),
    ("nt-health", "Northshire Health Visiting", "health"),
]
GIVEN = ["Amy", "Ben", "Cara", "Dan", "Evie", "Finn", "Grace", "Harry"]
FAMILY = ["Walsh", "Reed", "Marsh", "Rourke", "Ahmed"]
ADULTS = ["Leanne", "Dean", "Kerry", "Sean", "Tasha"]
NARRATIVE = "Synthetic narrative for the crash test; no real person. " * 400
KINDS = ["home_visit", "welfare_check", "police_callout", "school_concern", "injury"]


@functools.cache
def _nhs_for(family: int) -> str:
    """A valid synthetic NHS number for a family's child (skipping prefixes with no check digit)."""
    k = 0
    while True:
        value = make_nhs_number(f"{900_000_000 + family * 37 + k}")
        if value is not None:
            return value
        k += 1


def crash_raw(n: int) -> dict[str, Any]:
    """Raw fragment number ``n``: a function of ``n`` alone, so a resend is identical.

    Three people (a child with an NHS number, a parent by name and date of birth, and a
    relative by name and date of birth or by initial only, or an identity-protected
    neighbour), one event. Every tenth corrects, and every seventeenth retracts, the
    fragment three before it (the same agency's).
    """
    f = n % 40
    given, family = GIVEN[f % len(GIVEN)], FAMILY[f // len(GIVEN)]
    agency = AGENCIES[n % 3]
    third: dict[str, Any] = (
        {"ref": "x", "role": "neighbour", "description": "neighbour across the road", "identity_protected": True}
        if n % 7 == 0
        else {"ref": "x", "role": "relative", "name": f"{ADULTS[(f + 2) % 5][0]} {family}"}
        if n % 4 == 1
        else {"ref": "x", "role": "relative", "name": f"{ADULTS[(f + 2) % 5]} {family}", "dob": "1961-10-02"}
    )
    doc: dict[str, Any] = {
        "agency": {"id": agency[0], "name": agency[1], "type": agency[2]},
        "author": {"role": "duty worker", "id": f"{agency[0]}-1"},
        "record_ref": f"CR-{n}",
        "recorded_at": "2026-06-01T09:00:00Z",
        "shared_at": "2026-06-01T09:30:00Z",
        "event": {
            "kind": KINDS[n % len(KINDS)],
            "when": f"2026-05-{1 + n % 28:02d}",
            "summary": f"Synthetic crash-test event {n}",
            # long, so that much of an append is spent hashing and writing (a wider window to kill in)
            "narrative": NARRATIVE[: 12_000 + 997 * n % 8_000],
        },
        "people": [
            {
                "ref": "c",
                "role": "child",
                "name": f"{given} {family}",
                "dob": f"2018-0{1 + f % 9}-1{f % 10}",
                "identifiers": [{"scheme": "nhs", "value": _nhs_for(f)}],
            },
            {"ref": "p", "role": "parent", "name": f"{ADULTS[f % 5]} {family}", "dob": f"198{f % 10}-04-11"},
            third,
        ],
        "relationships": [{"subject": "p", "kind": "parent_of", "object": "c"}],
        "statement": {"kind": "fact"},
        "significance": ["low", "medium", "high"][n % 3],
        "sharing": {"lawful_basis": "public_task", "family_told": True},
    }
    if n >= 3 and (n % 10 == 0 or n % 17 == 0):
        doc["supersedes"] = {"record_ref": f"CR-{n - 3}", "reason": "corrected after checking records"}
        if n % 10:
            doc["supersedes"]["retract"] = True
            del doc["event"]
    return doc


@functools.cache
def crash_doc(n: int) -> dict[str, Any]:
    doc, errors = check_fragment(crash_raw(n), now=NOW)
    assert errors == [], (n, errors)
    assert doc is not None
    return doc


# The child. argv: store path, documents file (one canonical document a line, numbered
# by line), ack log path, seed. It imports only the store, so it starts quickly.
CHILD = r"""
import os, random, sys, time
import orjson
from graph.embedded import EmbeddedStore

store_path, docs_path, ack_path, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rng = random.Random(seed)
with open(docs_path, "rb") as fh:
    docs = [orjson.loads(line) for line in fh]
acked = []
if os.path.exists(ack_path):
    with open(ack_path) as fh:
        for line in fh:
            if line.endswith("\n"):
                status, k, _ = line.split()
                if status == "accepted":
                    acked.append(int(k))
# carry on from the last acknowledged: what was in flight is sent again
n = max(acked, default=-1) + 1
store = EmbeddedStore.open(store_path, create=True)
ack = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    # a few new fragments among many resends: the journal grows slowly, while a good
    # share of the time is spent inside append (where a kill is most telling)
    batch = [rng.choice(acked) for _ in range(rng.randint(0, 80))] if acked else []
    at = 0
    for _ in range(rng.randint(1, 6) if rng.random() < 0.3 or not acked else 0):
        if n < len(docs):  # new ones in order: a correction follows what it corrects
            at = rng.randint(at, len(batch))
            batch.insert(at, n)
            at += 1
            n += 1
    if not batch:
        continue
    # not fsync'd: only tells the parent where the kill landed, and what was being appended
    os.write(ack, f"begin {','.join(map(str, batch))} -\n".encode())
    outcomes = store.append([docs[k] for k in batch], all_or_nothing=rng.random() < 0.3)
    lines = "".join(f"{o.status} {k} {o.fragment_id}\n" for k, o in zip(batch, outcomes, strict=True))
    os.write(ack, lines.encode())
    os.fsync(ack)
    acked.extend(k for k, o in zip(batch, outcomes, strict=True) if o.status == "accepted")
    time.sleep(rng.uniform(0, 0.004))  # keeps the journal to a few thousand fragments
"""


def read_acks(path: Path) -> list[tuple[str, int, str]]:
    """Complete lines of the ack log (a line cut short by the kill was never acknowledged)."""
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.split("\n")[:-1]  # the part after the last newline is incomplete
    out = []
    for line in lines:
        status, n, fid = line.split()
        if status != "begin":
            out.append((status, int(n), fid))
    return out


def interrupted_batch(path: Path) -> list[int] | None:
    """The batch being appended when the child was killed (between starting an append and
    logging its outcome), or None."""
    lines = path.read_text().split("\n")[:-1] if path.exists() else []
    if not lines or not lines[-1].startswith("begin "):
        return None
    return [int(k) for k in lines[-1].split()[1].split(",")]


def check_journal_rows(path: Path, after: int) -> list[int]:
    """Check the journal directly with sqlite3; returns the fragment numbers after ``after``."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count, lo, hi = conn.execute("SELECT count(*), min(seq), max(seq) FROM fragments").fetchone()
        if count:
            assert (lo, hi) == (1, count), f"journal seqs are not 1..{count}: min {lo}, max {hi}"
        rows = conn.execute(
            "SELECT seq, id, agency, record_ref, body_hash, supersedes, body FROM fragments WHERE seq > ? ORDER BY seq",
            (after,),
        ).fetchall()
    finally:
        conn.close()
    assert count == after + len(rows)
    numbers = []
    for seq, fid, agency, record_ref, h, sup, body in rows:
        doc = json.loads(body)
        again, errors = check_fragment(doc, now=NOW)
        assert errors == [] and again is not None, (seq, errors)
        assert body_hash(body) == h, f"seq {seq}: body does not match its hash"
        assert (agency, record_ref) == (doc["agency"]["id"], doc["record_ref"])
        assert fid == fragment_id(agency, record_ref)
        n = int(record_ref.removeprefix("CR-"))
        assert doc == crash_doc(n), f"seq {seq}: stored body is not the fragment that was sent"
        if "supersedes" in doc:
            assert sup is not None and sup < seq
        numbers.append(n)
    return numbers


@pytest.mark.slow
def test_killed_writer_loses_nothing_acknowledged_and_leaves_nothing_half_written(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    store_path = tmp_path / "crash.sqlite"
    ack_path = tmp_path / "acks.log"
    docs_path = tmp_path / "docs.jsonl"
    docs_path.write_bytes(b"".join(orjson.dumps(crash_doc(n)) + b"\n" for n in range(TOTAL)))
    in_flight_runs = 0
    inside_append = 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    journalled: set[int] = set()
    for run in range(KILLS):
        started = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(store_path), str(docs_path), str(ack_path), str(rng.randrange(2**32))],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None
        # Most kills land while appending; every fourth may land while starting or opening.
        if run % 4:
            assert child.stdout.readline() == b"ready\n", child.communicate()[1].decode()[-2000:]
        time.sleep(rng.uniform(0.05, 1.0))
        alive = child.poll() is None
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=30)
        assert alive, f"run {run}: the child stopped on its own:\n{err.decode()[-2000:]}"
        assert child.returncode == -signal.SIGKILL

        interrupted = interrupted_batch(ack_path)
        inside_append += interrupted is not None
        acks = read_acks(ack_path)
        if not store_path.exists():  # killed before it created the store
            assert not acks
            continue
        store = EmbeddedStore.open(store_path)
        try:
            acknowledged = {n: fid for status, n, fid in acks if status in ("accepted", "duplicate")}
            for n, fid in acknowledged.items():
                assert fid == fragment_id(crash_doc(n)["agency"]["id"], f"CR-{n}")
                assert store.get_fragment(fid) == crash_doc(n), f"run {run}: acknowledged fragment {n} lost"
            bad = [a for a in acks if a[0] not in ("accepted", "duplicate")]
            assert not bad, f"run {run}: a deterministic resend was not accepted or a duplicate: {bad[:3]}"
            seen: set[int] = set()
            for status, n, _fid in acks:
                # once acknowledged, a resend changes nothing
                assert status == "duplicate" or n not in seen, f"run {run}: fragment {n} was accepted twice"
                seen.add(n)
            before = set(journalled)
            journalled.update(check_journal_rows(store_path, len(journalled)))
            if interrupted is not None:
                # the interrupted append went in whole or not at all
                acked = {n for _, n, _ in acks}
                new = {k for k in interrupted if k not in before and k not in acked}
                assert new & journalled in (set(), new), f"run {run}: half of an append was journalled"
            if journalled - {n for _, n, _ in acks}:
                in_flight_runs += 1  # killed after a commit, before its acknowledgement
            assert store.fragment_count() == len(journalled)
            with store.locked() as live:
                reopened = canonical(live, chronology_as_dicts=False)
            replayed = canonical(store.replay(), chronology_as_dicts=False)
            assert reopened == replayed, f"run {run}: {first_difference(reopened, replayed)}"
        finally:
            store.close()
        assert time.monotonic() - started < 30

    # the test did what it says: many fragments acknowledged, resends answered as
    # duplicates, and some kills landing inside an append
    acks = read_acks(ack_path)
    accepted = {n for status, n, _ in acks if status == "accepted"}
    duplicates = sum(1 for status, _, _ in acks if status == "duplicate")
    stats = (
        f"{len(accepted)} accepted, {duplicates} duplicates, {len(journalled)} journalled; of {KILLS} kills "
        f"{inside_append} inside an append, {in_flight_runs} after a commit before its acknowledgement"
    )
    assert len(accepted) >= 500, stats
    assert duplicates >= 100, stats
    assert journalled >= accepted, stats
    assert inside_append >= 2, stats
