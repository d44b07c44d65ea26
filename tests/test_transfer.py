"""Moving a store between backends: embedded -> Neo4j -> embedded, and through the CSV
files for neo4j-admin, each checked person by person (``graph.transfer.differences``).
The Neo4j side runs on the statement emulator (``tests/neo4j_emulator.py``): no Neo4j
server can be installed here."""

from __future__ import annotations

import csv
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from api.cli import DEMO_NOW, demo_files, setup_demo_access
from graph import audit, moving
from graph.embedded import EmbeddedStore
from graph.neo4j_store import Neo4jStore
from graph.transfer import (
    MoveError,
    copy_store,
    differences,
    person_ids,
    read_admin_csv,
    record_differences,
    write_admin_csv,
)
from ingest.linkage import Linker
from ingest.pipeline import import_files
from tests.neo4j_emulator import Emulator
from tests.test_store import canon, frag

DSL = "dsl-hollybank"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedStore:
    s = EmbeddedStore.open(tmp_path_factory.mktemp("src") / "s.sqlite", create=True, matcher=Linker.from_file(None))
    import_files(s, demo_files(), now=DEMO_NOW)
    setup_demo_access(s)
    # a share decision to move: the police release one record to children's social care
    system = s.system_view()
    (mia,) = [p for p in system.find_people("Mia Walsh") if "2019-03-14" in p.dobs]
    police = next(
        src.fragment_id
        for ln in system.chronology(mia.person_id)
        for src in ln.sources
        if src.agency == "northshire-police"
    )
    req = s.request_share(
        DSL,
        holder_agency="northshire-police",
        person_id=mia.person_id,
        purpose="safeguarding",
        need="n",
        urgency="routine",
    )
    s.decide_share(
        "pc-northshire-2291",
        req.id,
        outcome="share_in_full",
        necessity="n",
        proportionality="p",
        lawful_basis="b",
        released=[police],
        family_told=True,
    )
    _give_it_shared_meaning_tokens_and_a_checkpoint(s)
    return s


TOKENS: dict[str, str] = {}


def _give_it_shared_meaning_tokens_and_a_checkpoint(s: EmbeddedStore) -> None:
    """Everything that is not the journal, in every state: a live and a revoked token,
    an acknowledgement and a query, a correction's notice marked read, a webhook with
    one delivery failed once (pending) and one delivered, and a signed checkpoint."""
    police = ("northshire-police", "police")
    live, token = s.issue_token("admin", DSL)
    TOKENS[live] = token
    gone, _ = s.issue_token("admin", DSL)
    s.revoke_token("admin", gone)
    s.put_webhook("admin", agency="northshire-csws", url="https://csws.example/jigsaw", secret="whsec_" + "k" * 40)
    sw = s.view("sw-northshire-118", "safeguarding")
    for ref in ("MOVE-1", "MOVE-2"):
        (seen,) = s.append([canon(frag(ref, ag=police))])
        s.audit_read(sw, "read.fragment", {"fragments": [seen.fragment_id]})
        s.acknowledge(sw, seen.fragment_id, kind="understood" if ref == "MOVE-1" else "query", text="why?")
        fix = frag(ref + "a", ag=police, supersedes={"record_ref": ref, "reason": "r"})
        s.append([canon(fix)], actor="pc-northshire-2291")
    first, _ = s.notices(sw)
    s.mark_notice_read(sw, first.id)
    d1, d2 = s.due_deliveries()
    s.record_delivery(d1.id, ok=False, error="HTTP 503")
    s.record_delivery(d2.id, ok=True)
    with s.transaction() as conn:
        audit.checkpoint(conn, Ed25519PrivateKey.generate(), at=s.clock())
    s.audit_read(sw, "read.fragment", {"fragments": []})  # an entry after the checkpoint


def _dsl_picture(s: EmbeddedStore | Neo4jStore) -> list[object]:
    v = s.view(DSL, "safeguarding")
    return [v.chronology(pid) for pid in person_ids(s)]


def test_embedded_to_neo4j_and_back_gives_every_person_the_same_chronology(
    source: EmbeddedStore, tmp_path: Path
) -> None:
    neo = Neo4jStore(Emulator(), matcher=Linker.from_file(None))
    report = copy_store(source, neo, by="migration")
    assert report.fragments == source.fragment_count() and report.cases == 2 and report.share_decisions == 1
    assert len(person_ids(source)) > 10
    assert differences(source, neo) == []
    # readers see exactly what they saw, pseudonyms and the moved grant included
    assert _dsl_picture(neo) == _dsl_picture(source)
    back = EmbeddedStore.open(tmp_path / "back.sqlite", create=True, matcher=Linker.from_file(None))
    copy_store(neo, back, by="migration")
    assert differences(neo, back) == [] and differences(source, back) == []
    assert _dsl_picture(back) == _dsl_picture(source)
    assert [r.id for r in back.list_readers()] == [r.id for r in source.list_readers()]


def _moved_intact(src: Any, dst: Any, by: str) -> None:
    """``dst`` holds ``src``'s audit verbatim, then the move's own entries; the rest equal."""
    assert record_differences(src, dst) == []
    assert src.audit_verify().ok and dst.audit_verify().ok
    theirs, ours = src.all_audit_records(), dst.all_audit_records()
    n = len(theirs.entries)
    assert ours.entries[:n] == theirs.entries  # every field: times, actors, details, hashes
    restored = ours.entries[n]  # the move's first entry follows the copied head
    assert (restored.action, restored.actor, restored.prev_hash) == ("store.restore", by, theirs.head[1])
    assert restored.detail == {
        "restored": "audit",
        "entries": n,
        "checkpoints": len(theirs.checkpoints),
        "head_seq": n,
        "head_hash": theirs.head[1].hex(),
    }
    kinds = [e.detail.get("restored") for e in ours.entries[n:] if e.action == "store.restore"]
    assert kinds == ["audit", "tokens", "shared meaning"]


def test_the_audit_tokens_and_shared_meaning_move_there_and_back(source: EmbeddedStore, tmp_path: Path) -> None:
    meant = source.all_meaning_records()
    # the source has something of every kind to move
    assert meant.counts() == {
        "acknowledgements": 2,
        "notices": 2,
        "notice_reads": 1,
        "webhooks": 1,
        "deliveries": 2,
    }
    assert {(o.state, o.attempts, o.last_error) for o in meant.outbox} == {
        ("pending", 1, "HTTP 503"),
        ("delivered", 1, None),
    }
    assert len(source.all_token_records()) == 2 and len(source.all_audit_records().checkpoints) == 1
    neo = Neo4jStore(Emulator(), matcher=Linker.from_file(None))
    report = copy_store(source, neo, by="migration")
    assert report.audit_entries == len(source.all_audit_records().entries) and report.tokens == 2
    assert report.shared_meaning == meant.counts()
    _moved_intact(source, neo, "migration")
    back = EmbeddedStore.open(tmp_path / "back.sqlite", create=True, matcher=Linker.from_file(None))
    copy_store(neo, back, by="returning")
    _moved_intact(neo, back, "returning")
    # the embedded store checks the moved checkpoint against the chain, with its key
    (cp,) = back.all_audit_records().checkpoints
    assert back.audit_verify(public_key=Ed25519PublicKey.from_public_bytes(cp.public_key)).checkpoints == 1
    assert back.all_meaning_records() == meant
    # a moved token still works, the revoked one does not; the webhook still signs
    ((tid, token),) = TOKENS.items()
    assert back.reader_for_token(token) == neo.reader_for_token(token) == DSL
    assert [t.id for t in back.list_tokens() if t.revoked_at is None] == [tid]
    (hook,) = back.all_meaning_records().webhooks
    assert hook.secret == "whsec_" + "k" * 40 and "whsec" not in repr(hook)
    # and who saw what is answered the same on every store
    (mia,) = [p for p in source.system_view().find_people("Mia Walsh") if "2019-03-14" in p.dobs]
    assert back.who_saw(mia.person_id) == neo.who_saw(mia.person_id) == source.who_saw(mia.person_id)
    assert back.who_saw(mia.person_id)


@pytest.mark.parametrize("kind", ["embedded", "neo4j"])
def test_a_tampered_audit_entry_is_refused_and_nothing_is_written(
    source: EmbeddedStore, tmp_path: Path, kind: str
) -> None:
    dst = _empty(kind, tmp_path)
    trail = source.all_audit_records()
    for forged in (
        replace(trail.entries[4], actor="someone-else"),  # changed
        replace(trail.entries[4], detail={**trail.entries[4].detail, "extra": 1}),  # changed
    ):
        entries = [*trail.entries[:4], forged, *trail.entries[5:]]
        with pytest.raises(moving.BrokenChain, match="entry 5 was changed"):
            dst.restore_audit("migration", moving.AuditRecords(entries, trail.checkpoints))
    with pytest.raises(moving.BrokenChain, match="entry 5 is missing"):
        dst.restore_audit("migration", moving.AuditRecords(trail.entries[:4] + trail.entries[5:]))
    cp = trail.checkpoints[0]
    with pytest.raises(moving.BrokenChain, match=f"checkpoint of entry {cp.seq - 1} does not match"):
        dst.restore_audit("migration", moving.AuditRecords(trail.entries, [replace(cp, seq=cp.seq - 1)]))
    assert dst.audit_entries() == []


def test_a_source_whose_audit_was_tampered_with_is_not_moved(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    s = EmbeddedStore.open(path, create=True)
    s.append([canon(frag("T-1", ag=("northshire-police", "police")))])
    s.put_reader("admin", reader_id="r1", agency="northshire-police", roles=["practitioner"])
    s.close()
    raw = sqlite3.connect(path)
    raw.execute("DROP TRIGGER audit_no_update")
    raw.execute("UPDATE audit SET actor = 'nobody' WHERE seq = 2")
    raw.commit()
    raw.close()
    s = EmbeddedStore.open(path)
    dst = Neo4jStore(Emulator())
    with pytest.raises(MoveError, match=r"audit does not verify \(entry 2"):
        copy_store(s, dst, by="migration")
    assert dst.fragment_count() == 0 and dst.audit_entries() == []


def _empty(kind: str, tmp_path: Path) -> Any:
    if kind == "neo4j":
        return Neo4jStore(Emulator(), matcher=Linker.from_file(None))
    return EmbeddedStore.open(tmp_path / "d.sqlite", create=True, matcher=Linker.from_file(None))


@pytest.mark.parametrize("kind", ["embedded", "neo4j"])
def test_restoring_into_a_destination_that_has_records_of_that_kind_is_refused(
    source: EmbeddedStore, tmp_path: Path, kind: str
) -> None:
    dst = _empty(kind, tmp_path)
    dst.put_reader("admin", reader_id="r1", agency="northshire-police", roles=["practitioner"])
    with pytest.raises(moving.NotEmpty, match="already holds 1 audit entries"):
        dst.restore_audit("migration", source.all_audit_records())
    with pytest.raises(MoveError, match="already holds 1 audit entries"):
        copy_store(source, dst, by="migration")
    assert dst.fragment_count() == 0
    dst.issue_token("admin", "r1")
    with pytest.raises(moving.NotEmpty, match="already holds 1 tokens"):
        dst.restore_tokens("migration", source.all_token_records())
    dst.put_webhook("admin", agency="northshire-csws", url="https://x.example/h", secret="whsec_" + "q" * 30)
    with pytest.raises(moving.NotEmpty, match="already holds 1 webhooks"):
        dst.restore_meaning("migration", source.all_meaning_records())
    # nothing of a refused restore was written, and the refusals wrote no audit entries
    assert [h.url for h in dst.webhooks()] == ["https://x.example/h"]
    assert dst.all_meaning_records().notices == [] and len(dst.all_token_records()) == 1
    assert [e.action for e in dst.audit_entries()] == ["reader.change", "token.issue", "webhook.change"]


def test_the_record_check_finds_a_difference(source: EmbeddedStore, tmp_path: Path) -> None:
    db = Emulator()
    neo = Neo4jStore(db, matcher=Linker.from_file(None))
    copy_store(source, neo, by="migration")
    assert record_differences(source, neo) == []
    sw = neo.view("sw-northshire-118", "safeguarding")
    neo.mark_notice_read(sw, neo.notices(sw)[1].id)
    neo.revoke_token("admin", next(iter(TOKENS)))
    assert record_differences(source, neo) == [
        "the token records differ",
        "the shared meaning differs: reads",
    ]
    db.state.audit[2]["actor"] = "someone-else"
    found = record_differences(source, neo)
    assert "the destination's audit does not verify: entry 3: this entry is not what was written" in found
    assert "audit entry 3 differs between the stores" in found


def test_the_check_finds_a_difference(source: EmbeddedStore, tmp_path: Path) -> None:
    partial = EmbeddedStore.open(tmp_path / "p.sqlite", create=True, matcher=Linker.from_file(None))
    partial.append([doc for _, _, doc, _ in list(source.journal())[:-3]])
    assert differences(source, partial) != []


def test_moving_into_a_store_that_holds_fragments_is_refused(source: EmbeddedStore, tmp_path: Path) -> None:
    busy = EmbeddedStore.open(tmp_path / "b.sqlite", create=True)
    busy.append([next(source.journal())[2]])
    with pytest.raises(MoveError, match="empty store"):
        copy_store(source, busy, by="migration")


def admin_import(db: Emulator, folder: Path) -> None:
    """What ``neo4j-admin database import full`` makes of ``write_admin_csv``'s files, on
    the emulator: a Fragment node per row of fragments.csv (typed as its header says; an
    empty typed field is no property, which Neo4j reads back as null) and the journal's
    Meta node. No audit: the bulk import writes none."""
    with (folder / "fragments.csv").open(newline="") as f:
        rows = csv.reader(f)
        header = [h.split(":") for h in next(rows)]
        for row in rows:
            node: dict[str, Any] = {}
            for (name, *kind), value in zip(header, row, strict=True):
                if not name:
                    continue
                typ = kind[0] if kind else "string"
                if typ == "long":
                    node[name] = int(value) if value else None
                elif typ == "boolean":
                    node[name] = value == "true"
                elif typ == "string[]":
                    node[name] = value.split(";") if value else []
                else:
                    node[name] = value
            db.state.fragments[node["seq"]] = node
            db.state.by_fid[node["fid"]] = node["seq"]
    with (folder / "meta.csv").open(newline="") as m:
        (meta,) = list(csv.DictReader(m))
    db.state.meta["journal"] = {
        "last_seq": int(meta["last_seq:long"]),
        "decisions": int(meta["decisions:long"]),
        "pseudonym_key": meta["pseudonym_key"],
    }


def test_admin_csv_round_trip(source: EmbeddedStore, tmp_path: Path) -> None:
    files = write_admin_csv(source, tmp_path / "csv")
    assert {f.name for f in files} == {"fragments.csv", "agencies.csv", "held_by.csv", "supersedes.csv", "meta.csv"}
    rows = list(read_admin_csv(tmp_path / "csv"))
    assert rows == list(source.journal())
    db = Emulator()
    admin_import(db, tmp_path / "csv")
    again = Neo4jStore(db, matcher=Linker.from_file(None))
    assert again.fragment_count() == source.fragment_count()
    report = copy_store(source, again, by="migration", fragments=False)
    assert report.fragments == 0 and report.audit_entries > 0
    assert differences(source, again) == []
    assert _dsl_picture(again) == _dsl_picture(source)
    _moved_intact(source, again, "migration")


def test_a_tampered_csv_is_refused(source: EmbeddedStore, tmp_path: Path) -> None:
    write_admin_csv(source, tmp_path / "csv")
    path = tmp_path / "csv" / "fragments.csv"
    text = path.read_text()
    path.write_text(text.replace("home alone", "home with granny", 1))
    with pytest.raises(MoveError, match="does not match its hash"):
        list(read_admin_csv(tmp_path / "csv"))


def test_the_command_line_writes_the_csv_files_and_says_what_neo4j_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from api.cli import app, build_demo

    store = tmp_path / "demo.sqlite"
    build_demo(store)
    runner = CliRunner()
    done = runner.invoke(app, ["backend", "export-csv", str(tmp_path / "csv"), "--store", str(store)])
    assert done.exit_code == 0, done.output
    assert len(list(read_admin_csv(tmp_path / "csv"))) > 20
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    done = runner.invoke(app, ["backend", "export", "--to", "neo4j", "--store", str(store)])
    assert done.exit_code != 0 and "NEO4J_URI" in done.output


def test_after_a_bulk_import_the_derived_graph_is_written(source: EmbeddedStore, tmp_path: Path) -> None:
    """neo4j-admin brings the journal only: the move then writes people and events."""
    write_admin_csv(source, tmp_path / "csv")
    db = Emulator()
    admin_import(db, tmp_path / "csv")
    neo = Neo4jStore(db, matcher=Linker.from_file(None))
    assert not db.state.people and not db.state.events
    copy_store(source, neo, by="migration", fragments=False)
    assert len(db.state.people) == len(person_ids(source))
    assert db.state.events


def test_the_command_line_moves_the_audit_and_says_what_it_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import api.cli
    from api.cli import app, build_demo

    store = tmp_path / "demo.sqlite"
    build_demo(store)
    db = Emulator()
    monkeypatch.setattr(api.cli, "_neo4j", lambda: Neo4jStore(db, matcher=Linker.from_file(None)))
    done = CliRunner().invoke(app, ["backend", "export", "--to", "neo4j", "--store", str(store), "--by", "ops-1"])
    assert done.exit_code == 0, done.output
    assert "Checked: both audits verify" in done.output and "audit entries" in done.output
    src = EmbeddedStore.open(store)
    assert [e["hash"] for e in db.state.audit][: len(src.all_audit_records().entries)] == [
        e.hash for e in src.all_audit_records().entries
    ]
    # moving again into the same database is refused, naming what is already there
    done = CliRunner().invoke(app, ["backend", "export", "--to", "neo4j", "--store", str(store)])
    assert done.exit_code != 0 and "already holds" in done.output


@pytest.mark.parametrize("kind", ["embedded", "neo4j"])
def test_shared_meaning_is_not_restored_over_notices_already_there(
    source: EmbeddedStore, tmp_path: Path, kind: str
) -> None:
    dst = _empty(kind, tmp_path)
    for r in source.list_readers():
        dst.put_reader("admin", reader_id=r.id, agency=r.agency, roles=sorted(r.roles))
    meant = source.all_meaning_records()
    dst.restore_meaning("migration", moving.MeaningRecords(notices=meant.notices))
    with pytest.raises(moving.NotEmpty, match="already holds 2 notices") as refused:
        dst.restore_meaning("migration", meant)
    assert refused.value.status == 409 and refused.value.field == "notices"
    assert dst.all_meaning_records() == moving.MeaningRecords(notices=meant.notices)
    (restored,) = [e for e in dst.audit_entries() if e.action == "store.restore"]
    assert restored.detail == {"restored": "shared meaning", **moving.MeaningRecords(notices=meant.notices).counts()}


# ---------------------------------------------------------------------------- tombstones and review dates
# An erased record stays erased after every move, and fragments bulk-loaded by
# neo4j-admin have their review dates from the start.


def _with_an_erasure(s: Any) -> list[str]:
    """The demo's journal plus a police record about Mia, corrected, then erased: the
    ids of its two versions."""
    import_files(s, demo_files(), now=DEMO_NOW)
    first = canon(frag("ERASE-1"))
    fix = canon({**frag("ERASE-1a"), "supersedes": {"record_ref": "ERASE-1", "reason": "typo"}})
    ids = [s.append([doc])[0].fragment_id for doc in (first, fix)]
    assert sorted(s.erase(ids[0], authority="court_order", reason="order", by="dpo-1")) == sorted(ids)
    return ids


def _due(s: Any) -> set[str]:
    return {fid for fid, *_ in s.retention_due("2100-01-01", limit=100_000)}


@pytest.mark.parametrize("route", ["neo4j to embedded", "embedded to neo4j", "neo4j-admin csv"])
def test_an_erased_record_stays_erased_after_a_move(route: str, tmp_path: Path) -> None:
    neo_db = Emulator()
    if route == "neo4j to embedded":
        src: Any = Neo4jStore(neo_db, matcher=Linker.from_file(None))
        dst: Any = EmbeddedStore.open(tmp_path / "dst.sqlite", create=True, matcher=Linker.from_file(None))
    else:
        src = EmbeddedStore.open(tmp_path / "src.sqlite", create=True, matcher=Linker.from_file(None))
        dst = None
    erased = _with_an_erasure(src)
    due_before = _due(src)
    assert due_before and not set(erased) & due_before
    if route == "neo4j-admin csv":
        write_admin_csv(src, tmp_path / "csv")
        admin_import(neo_db, tmp_path / "csv")
        dst = Neo4jStore(neo_db, matcher=Linker.from_file(None))
        # classified from the files, not on first use: nothing is left to classify
        assert all(f.get("review_on") is not None for f in neo_db.state.fragments.values())
        copy_store(src, dst, by="migration", fragments=False)
    else:
        if dst is None:
            dst = Neo4jStore(neo_db, matcher=Linker.from_file(None))
        copy_store(src, dst, by="migration")
    assert _due(dst) == due_before  # the same records due, and the tombstones not among them
    for fid in erased:
        stone = dst.get_fragment(fid)
        assert stone is not None and stone["erased"]["authority"] == "court_order"
    assert differences(src, dst) == []
    assert dst.audit_verify().ok


def test_the_csv_files_carry_each_fragments_retention_class_and_review_date(
    source: EmbeddedStore, tmp_path: Path
) -> None:
    write_admin_csv(source, tmp_path / "csv")
    with (tmp_path / "csv" / "fragments.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    expected = {fid: source.retention_policy.classify(doc) for _, fid, doc, _ in source.journal()}
    assert {r["fid:ID(Fragment)"]: (r["retention_class"], r["review_on"]) for r in rows} == expected
    assert "child_record" in {cls for cls, _ in expected.values()}


def test_csv_files_written_before_the_retention_columns_are_still_read(source: EmbeddedStore, tmp_path: Path) -> None:
    write_admin_csv(source, tmp_path / "csv")
    path = tmp_path / "csv" / "fragments.csv"
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    drop = {rows[0].index("retention_class"), rows[0].index("review_on")}
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([[v for i, v in enumerate(r) if i not in drop] for r in rows])
    assert list(read_admin_csv(tmp_path / "csv")) == list(source.journal())
    db = Emulator()
    admin_import(db, tmp_path / "csv")
    neo = Neo4jStore(db, matcher=Linker.from_file(None))
    assert all(f.get("review_on") is None for f in db.state.fragments.values())
    assert _due(neo) == _due(source)  # classified on first use
