"""Moving a Jigsaw store between backends (embedded SQLite <-> Neo4j), and checking the move.

``copy_store(src, dst)`` first puts the source's audit log into the empty destination
verbatim (every entry with its own time, actor, detail and hash, and the signed
checkpoints), so the destination's chain *is* the source's chain and everything the move
itself writes is audited after it. It then replays the journal in its own order, so every
fragment keeps its id and its place, and copies what access is decided on (readers, cases
and memberships, share requests and decisions with their grants), the reviewers'
resolution decisions, the pseudonym key (identity-protected people keep their
pseudonyms), the bearer tokens' hashes (tokens keep working) and shared meaning
(acknowledgements, correction notices and who read them, webhooks with their signing
secrets, the delivery outbox with states and attempts). Each step is one transaction on
the destination, audited there; a copy stopped part way is started again on an emptied
destination. Readers are copied after the journal on purpose: a correction replayed
while no reader or grant is there yet tells no one again (its notices are copied as they
were).

For a large store, ``write_admin_csv`` writes the journal as the CSV files
``neo4j-admin database import full`` reads (much faster than transactions at millions of
fragments); ``copy_store(..., fragments=False)`` then copies the rest, the audit first
(the bulk import writes no audit), transactionally: these records are small beside the
journal.

``differences(a, b)`` is the check: every person's chronology, as the store itself
resolves them, must be the same in both; ``record_differences(a, b)`` checks the rest:
both audits verify (``b``'s against ``a``'s signed checkpoints too), ``a``'s entries are
the first of ``b``'s, every field and hash equal, and ``b``'s next entry follows ``a``'s
head; the checkpoints, token records and shared meaning are equal (docs/scaling.md, "Moving between backends").
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from graph import moving
from graph.access import FragmentAccess, needed_clearances
from graph.projection import Projection
from graph.retention import RetentionPolicy
from graph.store import Store, body_hash, canonical_bytes
from graph.view import ID_CHARS

Row = tuple[int, str, dict[str, Any], int | None]


@dataclass
class CopyReport:
    fragments: int = 0
    readers: int = 0
    cases: int = 0
    share_decisions: int = 0
    resolution_decisions: int = 0
    incident_decisions: int = 0
    audit_entries: int = 0
    tokens: int = 0
    shared_meaning: dict[str, int] = field(default_factory=dict)


class MoveError(Exception):
    """The destination is not empty, or a fragment did not land where it was."""


def copy_store(src: Any, dst: Any, *, by: str, fragments: bool = True, batch: int = 1000) -> CopyReport:
    """Copy ``src`` into the empty store ``dst`` (see the module docstring)."""
    report = CopyReport()
    if fragments and dst.fragment_count():
        raise MoveError("the destination already holds fragments: move into an empty store")
    verified = src.audit_verify()
    if not verified.ok:
        raise MoveError(
            f"the source's audit does not verify (entry {verified.first_broken}: {verified.reason}): "
            "nothing was moved; find out why before moving it"
        )
    trail = src.all_audit_records()
    _restore(lambda: dst.restore_audit(by, trail))
    report.audit_entries = len(trail.entries)
    if fragments:
        chunk: list[Row] = []
        for row in src.journal():
            chunk.append(row)
            if len(chunk) >= batch:
                report.fragments += _append(dst, chunk, by)
                chunk = []
        if chunk:
            report.fragments += _append(dst, chunk, by)
    dst.set_pseudonym_key(by, src.pseudonym_key)
    for d in src.resolution_decision_records():
        dst.add_resolution_decision(d)
        report.resolution_decisions += 1
    # incident decisions (graph/incidents.py): numbered afresh there, so an undo names
    # the decision's new id
    renumbered: dict[int, int] = {}
    for inc in src.incident_decision_records():
        undoes = None if inc.undoes is None else renumbered[inc.undoes]
        renumbered[inc.id] = dst.add_incident_decision(dataclasses.replace(inc, undoes=undoes))
        report.incident_decisions += 1
    readers = src.list_readers()
    for r in readers:
        dst.put_reader(
            by,
            reader_id=r.id,
            agency=r.agency,
            roles=sorted(r.roles),
            clearances=sorted(r.clearances),
            display_name=r.display_name,
            active=r.active,
        )
        report.readers += 1
    for case_id, fid, mention in src.cases():
        dst.open_case(by, case_id, f"P{fid[1 : 1 + ID_CHARS]}-{mention}")
        report.cases += 1
    for r in readers:
        for case_id in sorted(r.cases):
            dst.set_membership(by, case_id, r.id, True)
    requests, decided = src.all_share_records()
    if requests:
        dst.restore_share_records(by, requests, decided)
    report.share_decisions = len(decided)
    tokens = src.all_token_records()
    _restore(lambda: dst.restore_tokens(by, tokens))
    report.tokens = len(tokens)
    meant = src.all_meaning_records()
    _restore(lambda: dst.restore_meaning(by, meant))
    report.shared_meaning = meant.counts()
    if not fragments and hasattr(dst, "rewrite_derived"):  # a bulk import brought the journal only
        dst.rewrite_derived()
    while dst.write_derived(10_000):  # written behind the appends: bring it up to the journal
        pass
    return report


def _restore(work: Callable[[], None]) -> None:
    """One restore, its refusals as ``MoveError`` (the message names the kind)."""
    try:
        work()
    except (moving.NotEmpty, moving.BrokenChain) as exc:
        raise MoveError(exc.message) from None


def _append(dst: Store, rows: list[Row], by: str) -> int:
    outcomes = dst.append([doc for _, _, doc, _ in rows], all_or_nothing=True, actor=by)
    for (seq, fid, _, _), o in zip(rows, outcomes, strict=True):
        if o.status != "accepted" or o.fragment_id != fid or o.seq != seq:
            raise MoveError(f"fragment {fid} (seq {seq}) came out {o.status} as seq {o.seq}: {o.reason or ''}")
    return len(rows)


# ---------------------------------------------------------------------------- neo4j-admin CSV

FRAGMENT_HEADER = [
    "fid:ID(Fragment)",
    "seq:long",
    "agency",
    "record_ref",
    "hash",
    "body",
    "supersedes:long",
    "superseded_by:long",
    "current:boolean",
    "audience",
    "named_agencies:string[]",
    "needs:string[]",
    "existence_visible:boolean",
    "recorded_at",
    "shared_at",
    "summary",
    "when_text",
    "retention_class",
    "review_on",
    ":LABEL",
]
# Files written before the retention columns: still read (their fragments are classified
# the first time the due list is asked for, ``Neo4jStore.retention_due``).
# A tombstone's class is "erased", which is all the due list needs (no erased_at column:
# neo4j-admin keeps an empty string field as "", not as no property).
_FRAGMENT_HEADER_NO_RETENTION = [h for h in FRAGMENT_HEADER if h not in ("retention_class", "review_on")]


def write_admin_csv(src: Any, folder: Path) -> list[Path]:
    """The journal as CSV files for ``neo4j-admin database import full`` (the command
    to run is in docs/scaling.md). Returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    frag_path, agency_path = folder / "fragments.csv", folder / "agencies.csv"
    held_path, sup_path, meta_path = folder / "held_by.csv", folder / "supersedes.csv", folder / "meta.csv"
    rows = list(src.journal())
    classify = getattr(src, "retention_policy", RetentionPolicy()).classify
    superseded_by = {sup: seq for seq, _, _, sup in rows if sup is not None}
    fid_of = {seq: fid for seq, fid, _, _ in rows}
    agencies: set[str] = set()
    with (
        frag_path.open("w", newline="") as f,
        held_path.open("w", newline="") as h,
        sup_path.open("w", newline="") as s,
    ):
        fw, hw, sw = csv.writer(f), csv.writer(h), csv.writer(s)
        fw.writerow(FRAGMENT_HEADER)
        hw.writerow([":START_ID(Fragment)", ":END_ID(Agency)", ":TYPE"])
        sw.writerow([":START_ID(Fragment)", ":END_ID(Fragment)", ":TYPE"])
        for seq, fid, doc, sup in rows:
            body = canonical_bytes(doc)
            access = FragmentAccess.of(doc)
            ev = doc.get("event") or {}
            agencies.add(access.agency)
            retracted = bool((doc.get("supersedes") or {}).get("retract"))
            fw.writerow(
                [
                    fid,
                    seq,
                    access.agency,
                    doc["record_ref"],
                    body_hash(body).hex(),
                    body.decode(),
                    "" if sup is None else sup,
                    superseded_by.get(seq, ""),
                    str(seq not in superseded_by and not retracted).lower(),
                    access.audience,
                    ";".join(sorted(access.named_agencies)),
                    ";".join(sorted(str(c) for c in needed_clearances(access.special))),
                    str(access.existence_visible).lower(),
                    doc["recorded_at"],
                    doc["shared_at"],
                    ev.get("summary", ""),
                    (ev.get("when") or {}).get("text", ""),
                    *classify(doc),
                    "Fragment",
                ]
            )
            hw.writerow([fid, access.agency, "HELD_BY"])
            if sup is not None:
                sw.writerow([fid, fid_of[sup], "SUPERSEDES"])
    with agency_path.open("w", newline="") as a:
        aw = csv.writer(a)
        aw.writerow(["id:ID(Agency)", ":LABEL"])
        for agency in sorted(agencies):
            aw.writerow([agency, "Agency"])
    with meta_path.open("w", newline="") as m:
        mw = csv.writer(m)
        mw.writerow(["key:ID(Meta)", "last_seq:long", "decisions:long", "pseudonym_key", ":LABEL"])
        mw.writerow(["journal", rows[-1][0] if rows else 0, 0, src.pseudonym_key, "Meta"])
    return [frag_path, agency_path, held_path, sup_path, meta_path]


def read_admin_csv(folder: Path) -> Iterator[Row]:
    """The journal back from ``write_admin_csv``'s files, checking each body's hash."""
    csv.field_size_limit(1 << 30)
    with (folder / "fragments.csv").open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header not in (FRAGMENT_HEADER, _FRAGMENT_HEADER_NO_RETENTION):
            raise MoveError(f"{folder / 'fragments.csv'}: not a Jigsaw fragments file (header differs)")
        col = {name.split(":")[0] or name: i for i, name in enumerate(header)}
        for row in reader:
            body = row[col["body"]].encode()
            if body_hash(body).hex() != row[col["hash"]]:
                raise MoveError(f"fragment {row[col['fid']]}: its body does not match its hash")
            sup = row[col["supersedes"]]
            yield int(row[col["seq"]]), row[col["fid"]], orjson.loads(body), int(sup) if sup else None


# ---------------------------------------------------------------------------- the check


def person_ids(store: Any) -> list[str]:
    """Every person the store resolves, by the id a reader would use (their earliest
    current mention)."""
    p: Projection = store.system_view()._p
    out = []
    for pid, person in p.people.items():
        current = sorted((s, i) for s, i, _ in person.mentions if p.is_current(s))
        if current:
            s, i = current[0]
            out.append(f"P{p.fragments[s].order[1 : 1 + ID_CHARS]}-{i}")
        del pid
    return sorted(out)


def differences(a: Store, b: Store, *, limit: int = 20) -> list[str]:
    """The people whose chronology differs between two stores (empty: the same)."""
    out: list[str] = []
    ids_a, ids_b = person_ids(a), person_ids(b)
    if ids_a != ids_b:
        only = sorted(set(ids_a) ^ set(ids_b))
        out.append(f"{len(only)} people are in one store only, e.g. {', '.join(only[:3])}")
    va, vb = a.system_view(), b.system_view()
    for pid in ids_a:
        if pid in ids_b and va.chronology(pid) != vb.chronology(pid):
            out.append(f"{pid}: the chronologies differ")
            if len(out) >= limit:
                break
    return out


def record_differences(a: Any, b: Any) -> list[str]:
    """What differs between a store ``a`` and the store ``b`` it was moved into, besides
    the chronologies (empty: the move is complete). ``b``'s audit holds ``a``'s entries
    and then the move's own, so ``a``'s must be exactly the first of ``b``'s."""
    out: list[str] = []
    ta, tb = a.all_audit_records(), b.all_audit_records()
    signed = [cp.to_dict() for cp in ta.checkpoints]  # the destination's chain must match them too
    for name, store, exported in (("source", a, []), ("destination", b, signed)):
        v = store.audit_verify(exported=exported)
        if not v.ok:
            out.append(f"the {name}'s audit does not verify: entry {v.first_broken}: {v.reason}")
    n = len(ta.entries)
    if len(tb.entries) < n:
        out.append(f"the destination's audit has {len(tb.entries)} entries, fewer than the source's {n}")
    else:
        changed = next((x.seq for x, y in zip(ta.entries, tb.entries, strict=False) if x != y), None)
        if changed is not None:
            out.append(f"audit entry {changed} differs between the stores")
        head_seq, head_hash = ta.head
        if len(tb.entries) > n and tb.entries[n].prev_hash != head_hash:
            out.append(f"the destination's audit does not continue from the source's head (entry {head_seq})")
    if ta.checkpoints != tb.checkpoints:
        out.append("the audit checkpoints differ")
    if a.all_token_records() != b.all_token_records():
        out.append("the token records differ")
    ma, mb = a.all_meaning_records(), b.all_meaning_records()
    for kind in ("acknowledgements", "notices", "reads", "webhooks", "outbox"):
        if getattr(ma, kind) != getattr(mb, kind):
            out.append(f"the shared meaning differs: {kind}")
    return out
