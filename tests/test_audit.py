"""The audit log on a real SQLite file: the chain verifies, every kind of tampering is
caught at the right entry, checkpoints are signed and checkable elsewhere, the log holds
ids and reasons only, and the data protection officer's queries find what they should."""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph import audit
from graph.audit import (
    AUDIT_DDL,
    GENESIS,
    Checkpoint,
    checkpoint,
    entries,
    entry_hash,
    record,
    verify,
)
from graph.errors import StoreError

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ACTION_CYCLE = ("read.chronology", "fragment.write", "read.person", "disclosure.export", "share.decision")
TRIGGERS = ("audit_no_update", "audit_no_delete", "audit_checkpoints_no_update", "audit_checkpoints_no_delete")


def open_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(AUDIT_DDL)
    return conn


@contextmanager
def tx(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def at(i: int) -> str:
    return (T0 + timedelta(minutes=i)).isoformat()


def add(conn: sqlite3.Connection, i: int, **changes: Any) -> int:
    """One entry, varied by ``i``: actor, action, fragments, people, purpose (None every third)."""
    kw: dict[str, Any] = {
        "at": at(i),
        "actor": f"reader-{i % 4}",
        "action": ACTION_CYCLE[i % len(ACTION_CYCLE)],
        "purpose": None if i % 3 == 0 else f"s47 enquiry {i}",
        "detail": {"fragments": [f"F{i:03d}", f"F{i % 5:03d}"], "people": [f"P{i % 7}"], "n": i},
    }
    kw.update(changes)
    with tx(conn):
        return record(conn, **kw)


def fill(conn: sqlite3.Connection, n: int, start: int = 1) -> None:
    for i in range(start, start + n):
        add(conn, i)


def unlock(conn: sqlite3.Connection) -> None:
    """What someone tampering with the file does first: drop the append-only triggers."""
    for name in TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")


def row(conn: sqlite3.Connection, seq: int) -> tuple[Any, ...]:
    r = conn.execute("SELECT * FROM audit WHERE seq = ?", (seq,)).fetchone()
    assert r is not None
    return tuple(r)


def cut_tail(conn: sqlite3.Connection, first: int) -> None:
    """Delete entries from ``first`` on, with their index rows, as a careful forger would."""
    for table, column in (("audit", "seq"), ("audit_fragments", "audit_seq"), ("audit_people", "audit_seq")):
        conn.execute(f"DELETE FROM {table} WHERE {column} >= ?", (first,))


def shift_up(conn: sqlite3.Connection, after: int) -> None:
    """Renumber every entry after ``after`` one place up, leaving a free slot at ``after + 1``."""
    conn.execute("UPDATE audit SET seq = -seq WHERE seq > ?", (after,))
    conn.execute("UPDATE audit SET seq = -seq + 1 WHERE seq < 0")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(tmp_path / "audit.sqlite")
    yield c
    c.close()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


# ---------------------------------------------------------------------------- the chain holds


def test_empty_log_verifies(conn: sqlite3.Connection) -> None:
    assert verify(conn) == audit.VerifyReport(True, 0)


def test_chain_of_many_entries_verifies(conn: sqlite3.Connection) -> None:
    fill(conn, 60)
    report = verify(conn)
    assert report.ok and report.checked == 60 and report.first_broken is None and report.reason is None
    assert row(conn, 1)[6] == GENESIS
    assert all(row(conn, s)[6] == row(conn, s - 1)[7] for s in range(2, 61))


def test_entries_survive_reopening_and_rolled_back_entries_leave_no_trace(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    c = open_db(path)
    fill(c, 5)
    with pytest.raises(RuntimeError), tx(c):
        add_seq = record(c, at=at(6), actor="r", action="read.person", purpose="why", detail={})
        assert add_seq == 6
        raise RuntimeError("the read failed; its entry must go with it")
    c.close()
    c = open_db(path)
    assert audit.head(c)[0] == 5
    assert add(c, 7) == 6
    assert verify(c).ok
    c.close()


def test_verify_reads_one_snapshot_and_leaves_transactions_as_it_found_them(conn: sqlite3.Connection) -> None:
    fill(conn, 4)
    assert verify(conn).ok and not conn.in_transaction
    conn.execute("BEGIN IMMEDIATE")
    record(conn, at=at(5), actor="r", action="read.person", purpose="why", detail={"fragments": ["F5"]})
    assert verify(conn) == audit.VerifyReport(True, 5)  # sees the caller's uncommitted entry
    assert conn.in_transaction
    conn.execute("ROLLBACK")
    assert verify(conn) == audit.VerifyReport(True, 4)


def test_the_application_cannot_change_or_delete_history(conn: sqlite3.Connection) -> None:
    fill(conn, 3)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET actor = 'x' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit WHERE seq = 3")
    assert verify(conn).ok


# ---------------------------------------------------------------------------- tampering


N = 30
K = 17


@pytest.fixture
def chain(conn: sqlite3.Connection) -> sqlite3.Connection:
    fill(conn, N)
    unlock(conn)
    return conn


def broken_at(conn: sqlite3.Connection, seq: int, **kw: Any) -> str:
    report = verify(conn, **kw)
    assert not report.ok, "tampering went unnoticed"
    assert report.first_broken == seq, report.reason
    assert report.reason
    return report.reason


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("at", "2026-11-23T12:17:00.000001Z"),
        ("actor", "reader-99"),
        ("action", "read.search"),
        ("purpose", "a different reason"),
        ("purpose", None),
        ("detail", b'{"fragments":["F999"],"n":17,"people":["P3"]}'),
        ("prev_hash", bytes(32)),
        ("hash", bytes(32)),
    ],
)
def test_editing_any_column_is_detected_at_that_entry(chain: sqlite3.Connection, column: str, value: Any) -> None:
    assert chain.execute(f"SELECT {column} FROM audit WHERE seq = ?", (K,)).fetchone()[0] != value
    chain.execute(f"UPDATE audit SET {column} = ? WHERE seq = ?", (value, K))
    assert "entry 17" in broken_at(chain, K)


def test_editing_the_first_and_the_last_entry_is_detected(chain: sqlite3.Connection) -> None:
    chain.execute("UPDATE audit SET actor = 'someone' WHERE seq = 1")
    broken_at(chain, 1)
    chain.execute("UPDATE audit SET actor = 'reader-1' WHERE seq = 1")
    assert verify(chain).ok
    chain.execute("UPDATE audit SET purpose = 'no reason' WHERE seq = ?", (N,))
    broken_at(chain, N)


def test_editing_an_entry_and_recomputing_its_hash_is_detected_at_that_entry(chain: sqlite3.Connection) -> None:
    seq, _at, _actor, action, purpose, detail, prev, _h = row(chain, K)
    new_at = "2026-11-23T09:00:00.000000Z"
    forged = entry_hash(seq, new_at, "reader-0", action, purpose, detail, prev)
    chain.execute("UPDATE audit SET at = ?, actor = 'reader-0', hash = ? WHERE seq = ?", (new_at, forged, K))
    reason = broken_at(chain, K)
    assert "re-hashed" in reason


def test_deleting_a_middle_entry_is_detected(chain: sqlite3.Connection) -> None:
    chain.execute("DELETE FROM audit WHERE seq = ?", (K,))
    assert "deleted" in broken_at(chain, K)


def test_deleting_several_middle_entries_names_the_first(chain: sqlite3.Connection) -> None:
    chain.execute("DELETE FROM audit WHERE seq BETWEEN 11 AND 14")
    assert "entries 11 to 14 are missing" in broken_at(chain, 11)


def test_deleting_the_first_entry_is_detected(chain: sqlite3.Connection) -> None:
    chain.execute("DELETE FROM audit WHERE seq = 1")
    assert "start of the log" in broken_at(chain, 1)


def test_deleting_an_entry_and_renumbering_the_rest_is_detected(chain: sqlite3.Connection) -> None:
    chain.execute("DELETE FROM audit WHERE seq = ?", (K,))
    chain.execute("UPDATE audit SET seq = -(seq - 1) WHERE seq > ?", (K,))
    chain.execute("UPDATE audit SET seq = -seq WHERE seq < 0")
    broken_at(chain, K)


def test_deleting_the_first_entry_renumbering_and_rehashing_is_detected(chain: sqlite3.Connection) -> None:
    chain.execute("DELETE FROM audit WHERE seq = 1")
    _seq, a, actor, action, purpose, detail, prev, _h = row(chain, 2)
    chain.execute(
        "UPDATE audit SET seq = 1, hash = ? WHERE seq = 2", (entry_hash(1, a, actor, action, purpose, detail, prev),)
    )
    assert "does not begin the chain" in broken_at(chain, 1)


@pytest.mark.parametrize(("a", "b"), [(5, 12), (7, 8), (1, N)])
def test_reordering_entries_is_detected_at_the_earlier_place(chain: sqlite3.Connection, a: int, b: int) -> None:
    chain.execute("UPDATE audit SET seq = -1 WHERE seq = ?", (a,))
    chain.execute("UPDATE audit SET seq = ? WHERE seq = ?", (a, b))
    chain.execute("UPDATE audit SET seq = ? WHERE seq = -1", (b,))
    assert f"written as entry {b}" in broken_at(chain, a)


def test_inserting_a_forged_entry_with_a_well_formed_hash_is_detected_at_the_forgery(
    chain: sqlite3.Connection,
) -> None:
    prev = row(chain, K)[7]
    shift_up(chain, K)
    detail = b'{"fragments":["F001"],"people":["P1"]}'
    a, actor, action = "2026-11-23T12:17:30.000000Z", "reader-1", "read.person"
    forged = entry_hash(K + 1, a, actor, action, "routine", detail, prev)
    chain.execute(
        "INSERT INTO audit VALUES (?,?,?,?,?,?,?,?)", (K + 1, a, actor, action, "routine", detail, prev, forged)
    )
    reason = broken_at(chain, K + 1)
    assert "inserted" in reason


def test_inserting_two_forged_entries_names_the_first(chain: sqlite3.Connection) -> None:
    prev = row(chain, K)[7]
    shift_up(chain, K)
    shift_up(chain, K)
    for seq in (K + 1, K + 2):
        h = entry_hash(seq, "2026-11-23T12:17:30.000000Z", "x", "read.person", None, b"{}", prev)
        chain.execute(
            "INSERT INTO audit VALUES (?,?,?,?,?,?,?,?)",
            (seq, "2026-11-23T12:17:30.000000Z", "x", "read.person", None, b"{}", prev, h),
        )
        prev = h
    assert "entries 18 to 19 were inserted" in broken_at(chain, K + 1)


def test_inserting_a_crude_forgery_is_detected_at_the_forgery(chain: sqlite3.Connection) -> None:
    shift_up(chain, K)
    chain.execute(
        "INSERT INTO audit VALUES (?,?,?,?,?,?,?,?)",
        (K + 1, "2026-11-23T12:17:30.000000Z", "x", "read.person", None, b"{}", bytes(32), bytes(32)),
    )
    broken_at(chain, K + 1)


def test_an_entry_slipped_in_before_the_start_is_detected(chain: sqlite3.Connection) -> None:
    h = entry_hash(0, "2026-11-23T11:00:00.000000Z", "x", "read.person", None, b"{}", GENESIS)
    chain.execute(
        "INSERT INTO audit VALUES (0, '2026-11-23T11:00:00.000000Z', 'x', 'read.person', NULL, X'7B7D', ?, ?)",
        (GENESIS, h),
    )
    broken_at(chain, 0)


def test_what_the_chain_alone_cannot_see(chain: sqlite3.Connection) -> None:
    """Deleting the newest entries, or appending well-formed ones, leaves a valid shorter
    or longer chain: only checkpoints (below) can tell. This test pins the limitation."""
    cut_tail(chain, 26)
    assert verify(chain) == audit.VerifyReport(True, 25)
    h = entry_hash(26, "2026-11-23T13:00:00.000000Z", "x", "read.person", None, b"{}", row(chain, 25)[7])
    chain.execute(
        "INSERT INTO audit VALUES (26, '2026-11-23T13:00:00.000000Z', 'x', 'read.person', NULL, X'7B7D', ?, ?)",
        (row(chain, 25)[7], h),
    )
    assert verify(chain).ok


def test_a_changed_index_is_detected_and_can_be_rebuilt(chain: sqlite3.Connection) -> None:
    chain.execute("DELETE FROM audit_fragments WHERE audit_seq = ? AND fragment_id = 'F017'", (K,))
    assert "fragment index" in broken_at(chain, K)
    with tx(chain):
        audit.rebuild_index(chain)
    assert verify(chain).ok
    chain.execute("INSERT INTO audit_people VALUES (?, 'P1')", (N + 5,))
    assert "not in the log" in broken_at(chain, N + 5)


# ---------------------------------------------------------------------------- any single byte


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    c = open_db(tmp_path_factory.mktemp("audit") / "template.sqlite")
    fill(c, 12)
    yield c
    c.close()


COLUMNS = ("at", "actor", "action", "purpose", "detail", "prev_hash", "hash")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.integers(1, 12), column=st.sampled_from(COLUMNS), pos=st.integers(0, 10_000), flip=st.integers(1, 255))
def test_any_single_byte_change_to_any_row_is_detected(
    template: sqlite3.Connection, seq: int, column: str, pos: int, flip: int
) -> None:
    original = template.execute(f"SELECT CAST({column} AS BLOB) FROM audit WHERE seq = ?", (seq,)).fetchone()[0]
    if original is None:  # a purpose never given: changing it means giving one
        original = b""
    changed = bytearray(original or b"\x00")
    changed[pos % len(changed)] ^= flip
    value: Any = bytes(changed)
    setter = "CAST(? AS TEXT)" if column in ("at", "actor", "action", "purpose") else "?"
    template.execute("BEGIN")
    try:
        unlock(template)
        template.execute(f"UPDATE audit SET {column} = {setter} WHERE seq = ?", (value, seq))
        report = verify(template)
    finally:
        template.execute("ROLLBACK")
    assert not report.ok and report.first_broken == seq, report
    assert verify(template).ok


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.integers(1, 12), to=st.integers(-3, 40))
def test_moving_any_entry_to_a_free_number_is_detected(template: sqlite3.Connection, seq: int, to: int) -> None:
    if 1 <= to <= 12:
        return
    template.execute("BEGIN")
    try:
        unlock(template)
        template.execute("UPDATE audit SET seq = ? WHERE seq = ?", (to, seq))
        report = verify(template)
    finally:
        template.execute("ROLLBACK")
    assert not report.ok
    assert report.first_broken == (to if to < 1 else seq), report


# ---------------------------------------------------------------------------- checkpoints


def take_checkpoint(conn: sqlite3.Connection, key: Ed25519PrivateKey, i: int) -> Checkpoint:
    with tx(conn):
        return checkpoint(conn, key, at=at(i), actor="dpo-1")


def test_checkpoint_records_its_own_entry_and_signs_the_head(conn: sqlite3.Connection, key: Ed25519PrivateKey) -> None:
    fill(conn, 10)
    cp = take_checkpoint(conn, key, 11)
    assert cp.seq == 11 and audit.head(conn) == (11, cp.hash)
    assert row(conn, 11)[3] == "audit.checkpoint"
    assert cp.key_id == audit.key_id(key) == audit.key_id(key.public_key())
    assert cp.signed_by(key.public_key())
    assert not cp.signed_by(Ed25519PrivateKey.generate().public_key())
    changed = Checkpoint(cp.seq, cp.at, bytes(32), cp.key_id, cp.public_key, cp.signature)
    assert not changed.signed_by(key.public_key())
    report = verify(conn, public_key=key.public_key())
    assert report.ok and report.checkpoints == 1


def test_checkpoint_needs_a_transaction(conn: sqlite3.Connection, key: Ed25519PrivateKey) -> None:
    with pytest.raises(StoreError, match="transaction"):
        checkpoint(conn, key, at=at(1))


def test_truncating_the_tail_back_past_a_checkpoint_is_detected(
    conn: sqlite3.Connection, key: Ed25519PrivateKey
) -> None:
    fill(conn, 20)
    take_checkpoint(conn, key, 21)
    fill(conn, 5, start=22)
    unlock(conn)
    cut_tail(conn, 19)
    assert "entries 19 to 21 were deleted" in broken_at(conn, 19)
    assert "entries 19 to 21" in broken_at(conn, 19, public_key=key.public_key())


def test_truncating_the_tail_and_the_local_checkpoint_is_caught_by_the_exported_one(
    conn: sqlite3.Connection, key: Ed25519PrivateKey
) -> None:
    fill(conn, 20)
    take_checkpoint(conn, key, 21)
    kept_elsewhere = json.loads(json.dumps(audit.export_checkpoints(conn)))
    fill(conn, 5, start=22)
    unlock(conn)
    cut_tail(conn, 19)
    conn.execute("DELETE FROM audit_checkpoints")
    assert verify(conn).ok  # nothing left in the file to tell
    broken_at(conn, 19, exported=kept_elsewhere, public_key=key.public_key())
    broken_at(conn, 19, exported=kept_elsewhere)


def test_removing_a_checkpoint_row_is_detected(conn: sqlite3.Connection, key: Ed25519PrivateKey) -> None:
    fill(conn, 5)
    take_checkpoint(conn, key, 6)
    fill(conn, 3, start=7)
    unlock(conn)
    conn.execute("DELETE FROM audit_checkpoints")
    assert "removed" in broken_at(conn, 6)


def test_changing_a_stored_checkpoint_breaks_its_signature(conn: sqlite3.Connection, key: Ed25519PrivateKey) -> None:
    fill(conn, 5)
    take_checkpoint(conn, key, 6)
    unlock(conn)
    conn.execute("UPDATE audit_checkpoints SET at = '2026-01-01T00:00:00.000000Z'")
    assert "signature" in broken_at(conn, 6)
    assert "signature" in broken_at(conn, 6, public_key=key.public_key())


def test_rewriting_the_whole_log_is_caught_by_a_checkpoint(conn: sqlite3.Connection, key: Ed25519PrivateKey) -> None:
    """A forger changes entry 4 and re-hashes everything after it: the chain is valid again,
    but no longer matches the checkpoint; re-signing that needs the private key."""
    fill(conn, 10)
    take_checkpoint(conn, key, 11)
    fill(conn, 4, start=12)
    unlock(conn)
    prev = row(conn, 3)[7]
    for seq in range(4, 16):
        _s, a, actor, action, purpose, detail, _p, _h = row(conn, seq)
        if seq == 4:
            actor = "someone-else"
        h = entry_hash(seq, a, actor, action, purpose, detail, prev)
        conn.execute("UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?", (actor, prev, h, seq))
        prev = h
    assert "rewritten" in broken_at(conn, 11)

    # the forger also re-signs the checkpoint with a key of their own
    theirs = Ed25519PrivateKey.generate()
    cp_at, new_hash = row(conn, 11)[1], row(conn, 11)[7]
    kid = audit.key_id(theirs)
    sig = theirs.sign(audit.checkpoint_message(11, new_hash, cp_at, kid))
    conn.execute(
        "UPDATE audit_checkpoints SET hash = ?, key_id = ?, public_key = ?, signature = ?",
        (new_hash, kid, theirs.public_key().public_bytes_raw(), sig),
    )
    assert verify(conn).ok  # self-consistent: only the trusted key can tell
    assert "another key" in broken_at(conn, 11, public_key=key.public_key())


def test_exported_checkpoints_verify_with_only_the_public_key(conn: sqlite3.Connection, key: Ed25519PrivateKey) -> None:
    fill(conn, 3)
    take_checkpoint(conn, key, 4)
    fill(conn, 2, start=5)
    take_checkpoint(conn, key, 7)
    exported = json.loads(json.dumps(audit.export_checkpoints(conn)))
    assert [d["seq"] for d in exported] == [4, 7]
    assert set(exported[0]) == {"scheme", "seq", "at", "hash", "key_id", "public_key", "signature"}
    assert audit.export_checkpoints(conn, after_seq=4) == exported[1:]

    # the other system holds only the hex public key it was given
    pub = audit.public_key_from_hex(audit.public_key_hex(key))
    assert all(audit.verify_exported_checkpoint(d, pub) for d in exported)
    assert Checkpoint.from_dict(exported[0]).to_dict() == exported[0]

    other = Ed25519PrivateKey.generate().public_key()
    assert not audit.verify_exported_checkpoint(exported[0], other)
    for field, value in [("hash", "00" * 32), ("seq", 5), ("at", "2026-11-23T12:00:00.000000Z"), ("key_id", "0" * 16)]:
        assert not audit.verify_exported_checkpoint({**exported[0], field: value}, pub), field
    assert not audit.verify_exported_checkpoint({**exported[0], "public_key": audit.public_key_hex(other)}, pub)
    assert not audit.verify_exported_checkpoint({"seq": 4}, pub)
    assert not audit.verify_exported_checkpoint(["not", "a", "dict"], pub)  # type: ignore[arg-type]
    assert not audit.verify_exported_checkpoint({**exported[0], "signature": "not base64!"}, pub)
    with pytest.raises(ValueError, match="not an exported audit checkpoint"):
        verify(conn, exported=[{"seq": "4"}])


# ---------------------------------------------------------------------------- what may be written


def test_record_outside_a_transaction_raises_and_writes_nothing(conn: sqlite3.Connection) -> None:
    with pytest.raises(StoreError, match="transaction"):
        record(conn, at=at(1), actor="r", action="read.person", purpose="why", detail={})
    assert audit.head(conn) == (0, GENESIS)


def test_narrative_is_rejected_naming_the_key_and_not_quoting_it(conn: sqlite3.Connection) -> None:
    story = "Mother disclosed that the child was left alone overnight and had bruising " * 4
    with pytest.raises(ValueError, match=r"detail\['share'\]\['reason'\] is \d+ characters") as exc, tx(conn):
        record(conn, at=at(1), actor="r", action="share.decision", purpose="x", detail={"share": {"reason": story}})
    assert "Mother" not in str(exc.value)
    with pytest.raises(ValueError, match=r"detail\['notes'\]\[1\]"), tx(conn):
        record(conn, at=at(1), actor="r", action="read.person", purpose="x", detail={"notes": ["ok", story]})
    with pytest.raises(ValueError, match="purpose"), tx(conn):
        record(conn, at=at(1), actor="r", action="read.person", purpose=story, detail={})
    with pytest.raises(ValueError, match="actor"), tx(conn):
        record(conn, at=at(1), actor=story, action="read.person", purpose=None, detail={})
    assert audit.head(conn) == (0, GENESIS)


@pytest.mark.parametrize(
    ("detail", "message"),
    [
        ({"fragments": "F001"}, r"detail\['fragments'\] must be a list of ids"),
        ({"people": [1, 2]}, r"detail\['people'\] must be a list of ids"),
        ({"items": [{"a": 1}]}, r"detail\['items'\]\[0\] is not a scalar"),
        ({"x": b"bytes"}, r"detail\['x'\] is a bytes"),
        ({"x": float("nan")}, "finite"),
        ({"a": {"b": {"c": {"d": {"e": 1}}}}}, "nests deeper"),
        ({"k" * 65: 1}, "key"),
    ],
)
def test_detail_must_be_ids_and_reasons(conn: sqlite3.Connection, detail: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message), tx(conn):
        record(conn, at=at(1), actor="r", action="read.person", purpose=None, detail=detail)


def test_unknown_action_is_rejected(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match=r"unknown audit action 'read\.everything'"), tx(conn):
        record(conn, at=at(1), actor="r", action="read.everything", purpose=None, detail={})


def test_times_must_be_unambiguous_and_are_kept_in_utc(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="time zone"), tx(conn):
        record(conn, at="2026-11-23T12:00:00", actor="r", action="read.person", purpose=None, detail={})
    add(conn, 1, at="2026-11-23T13:00:00+01:00")
    add(conn, 2, at=T0 + timedelta(seconds=1, microseconds=5))
    assert [e.at for e in entries(conn)] == ["2026-11-23T12:00:00.000000Z", "2026-11-23T12:00:01.000005Z"]


# ---------------------------------------------------------------------------- the data protection officer


@pytest.fixture
def history(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Reads, a write, a disclosure and a share decision about two children, P1 and P2."""
    log = [
        ("sw-1", "fragment.write", "new referral", {"fragments": ["F1"], "people": ["P1"]}),
        ("sw-1", "read.chronology", "s47 enquiry", {"fragments": ["F1", "F2"], "people": ["P1"]}),
        ("hv-2", "read.person", "health visit", {"fragments": ["F2"], "people": ["P1"]}),
        ("po-3", "read.search", "missing child", {"people": ["P2"], "query_terms": 2}),
        ("sw-1", "disclosure.export", "strategy meeting", {"fragments": ["F1"], "to": "agency:police"}),
        ("lead-4", "share.decision", "request R7", {"fragments": ["F3"], "people": ["P2"], "decision": "share"}),
        ("hv-2", "read.fragment", "follow-up", {"fragments": ["F3"]}),
        ("sw-1", "token.issue", None, {"reader": "po-3"}),
    ]
    for i, (actor, action, purpose, detail) in enumerate(log, start=1):
        add(conn, i, actor=actor, action=action, purpose=purpose, detail=detail)
    return conn


def seqs(found: list[audit.AuditEntry]) -> list[int]:
    return [e.seq for e in found]


def test_entries_filter_by_fragment_person_actor_action_and_time(history: sqlite3.Connection) -> None:
    assert seqs(entries(history, fragment_ids=["F1"])) == [1, 2, 5]
    assert seqs(entries(history, fragment_ids=["F2", "F3"])) == [2, 3, 6, 7]
    assert seqs(entries(history, person_ids=["P2"])) == [4, 6]
    assert seqs(entries(history, fragment_ids=["F1"], person_ids=["P1"])) == [1, 2]
    assert seqs(entries(history, actor="hv-2")) == [3, 7]
    assert seqs(entries(history, action_prefix="read.")) == [2, 3, 4, 7]
    assert seqs(entries(history, action_prefix="read.", actor="sw-1")) == [2]
    assert seqs(entries(history, since=at(3), until=at(5))) == [3, 4]
    assert seqs(entries(history, fragment_ids=["F-nobody"])) == []
    e = entries(history, fragment_ids=["F2"], actor="hv-2")[0]
    assert (e.actor, e.action, e.purpose, e.detail) == ("hv-2", "read.person", "health visit", row_detail(history, 3))
    with pytest.raises(ValueError, match=r"no audit action starts with 'reads\.'"):
        entries(history, action_prefix="reads.")
    with pytest.raises(TypeError, match="list of ids"):
        entries(history, fragment_ids="F1")


def row_detail(conn: sqlite3.Connection, seq: int) -> Any:
    return json.loads(row(conn, seq)[5])


def test_entries_are_paginated_by_seq(history: sqlite3.Connection) -> None:
    pages, after = [], 0
    while page := entries(history, limit=3, after_seq=after):
        pages.append(seqs(page))
        after = page[-1].seq
    assert pages == [[1, 2, 3], [4, 5, 6], [7, 8]]
    with pytest.raises(ValueError, match="limit"):
        entries(history, limit=0)


def test_who_saw_a_childs_record(history: sqlite3.Connection) -> None:
    saw = audit.who_saw(history, ["F1", "F2"], person_ids=["P1"])
    assert [(e.actor, e.action, e.purpose) for e in saw] == [
        ("sw-1", "read.chronology", "s47 enquiry"),
        ("hv-2", "read.person", "health visit"),
        ("sw-1", "disclosure.export", "strategy meeting"),
    ]
    assert seqs(audit.who_saw(history, person_ids=["P2"])) == [4]
    assert seqs(audit.who_saw(history, ["F3"], since=at(7))) == [7]
    assert audit.who_saw(history, []) == []


def test_what_was_disclosed_to_whom(history: sqlite3.Connection) -> None:
    found = audit.disclosures(history)
    assert [(e.action, e.detail.get("to"), e.detail.get("decision")) for e in found] == [
        ("disclosure.export", "agency:police", None),
        ("share.decision", None, "share"),
    ]
    assert seqs(audit.disclosures(history, person_ids=["P2"])) == [6]
    assert seqs(audit.disclosures(history, fragment_ids=["F1"])) == [5]
    assert seqs(audit.disclosures(history, actor="lead-4")) == [6]


# ---------------------------------------------------------------------------- keys


def test_generate_key_writes_a_private_file_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "audit-signing.pem"
    key = audit.generate_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert audit.public_key_hex(audit.load_private_key(path)) == audit.public_key_hex(key)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        audit.generate_key(path)
    assert path.read_bytes() == before
    link = tmp_path / "planted"
    link.symlink_to(tmp_path / "elsewhere.pem")
    with pytest.raises(FileExistsError):
        audit.generate_key(link)
    assert not (tmp_path / "elsewhere.pem").exists()


def test_keys_by_hex_and_id(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    hexed = audit.public_key_hex(key)
    assert len(hexed) == 64 and audit.public_key_hex(audit.public_key_from_hex(hexed)) == hexed
    assert len(audit.key_id(key)) == 16 and audit.key_id(key) != audit.key_id(Ed25519PrivateKey.generate())
    with pytest.raises(ValueError, match="Ed25519"):
        audit.public_key_from_hex("abcd")
    other = tmp_path / "ec.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ValueError, match="Ed25519"):
        audit.load_private_key(other)
