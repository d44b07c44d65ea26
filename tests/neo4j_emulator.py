"""A stand-in for a Neo4j server, for tests only: no Neo4j can be installed on our
development and CI machines.

It is NOT a Cypher engine. It knows each statement of ``graph.cypher`` by name and does
what that statement means, on Python dicts, so that the Neo4j backend's own Python
(transactions, batching, seq allocation, the audit chain, the registry, the reader's
view over decisions and bodies from the database) runs end to end in the normal suite.
What it cannot check is that the Cypher text means what this file does: that is what
the live tests (``NEO4J_URI``) are for, and ``tests/test_cypher.py`` checks the text with
Neo4j's own parser and the parameters each call passes against the ones each statement
uses (``calls`` records them).

Write transactions are atomic (the state is copied first and put back on an error), and
the driver's interface is the part ``Neo4jStore`` uses: ``session(database=)``,
``session.run``, ``execute_read``, ``execute_write``, ``tx.run(statement, params)``,
``close``.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from graph import cypher
from graph.access import Decision, FragmentAccess, Purpose, Reader, Role, decide

_NAMES = {text: name for name, text in cypher.statements().items()}


class _State:
    def __init__(self) -> None:
        self.meta: dict[str, dict[str, Any]] = {}
        self.fragments: dict[int, dict[str, Any]] = {}
        self.by_fid: dict[str, int] = {}
        self.people: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.readers: dict[str, dict[str, Any]] = {}
        self.cases: dict[str, dict[str, Any]] = {}
        self.members: set[tuple[str, str]] = set()
        self.tokens: dict[str, dict[str, Any]] = {}
        self.requests: dict[str, dict[str, Any]] = {}
        self.decisions: dict[str, dict[str, Any]] = {}
        self.grants: list[dict[str, Any]] = []
        self.resolution: list[dict[str, Any]] = []
        self.incidents: list[dict[str, Any]] = []
        self.audit: list[dict[str, Any]] = []
        self.refs: dict[str, set[int]] = {}


class Emulator:
    """The driver object ``Neo4jStore(driver)`` takes."""

    def __init__(self, transient_failures: int = 0, *, atomic: bool = True) -> None:
        self.state = _State()
        # copying the state per write makes rollback exact; the benchmark turns it off
        self.copy_on_write = atomic
        self.calls: list[tuple[str, frozenset[str]]] = []
        self.closed = False
        # fail each write transaction this many times at commit, as a cluster does when
        # its leader changes: the driver then runs the work again (``execute_write``)
        self.transient_failures = transient_failures
        self.attempts = 0
        # write transactions run one at a time, as if each locked everything it touches
        # (so tests may run writers in threads; a real server's locking is for live tests)
        self.write_lock = threading.RLock()
        self.bookmark_managers: list[Any] = []
        self.routed: list[str] = []

    # the driver's interface. One copy of the data, so no replication lag: bookmarks are
    # recorded (which manager each session was given, how each query was routed), not
    # waited on; what they guarantee on a cluster only a live cluster can show.
    def session(self, database: str = "neo4j", bookmark_manager: Any = None) -> _Session:
        self.bookmark_managers.append(bookmark_manager)
        return _Session(self)

    def execute_query(
        self,
        query: str,
        parameters_: dict[str, Any] | None = None,
        *,
        routing_: str = "w",
        database_: str | None = None,
        bookmark_manager_: Any = None,
    ) -> tuple[list[dict[str, Any]], None, list[str]]:
        """The driver's one-shot query (retried, routed by ``routing_``)."""
        self.bookmark_managers.append(bookmark_manager_)
        self.routed.append(routing_)
        with self.write_lock:
            rows = self.run(query, parameters_)
        return rows, None, list(rows[0]) if rows else []

    def close(self) -> None:
        self.closed = True

    def run(self, statement: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        name = _NAMES.get(statement)
        if name is None:
            raise AssertionError(f"a statement that is not in graph.cypher: {statement[:80]!r}")
        params = params or {}
        self.calls.append((name, frozenset(params)))
        if name.startswith("CONSTRAINTS["):
            return []
        more = _MORE_STATEMENTS.get(name)  # statements taught in their own sections below
        if more is not None:
            return more(self, params)
        handler: Callable[[Emulator, dict[str, Any]], list[dict[str, Any]]] = getattr(self, "_" + name.lower())
        return handler(params)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        if not self.copy_on_write:
            yield
            return
        saved = copy.deepcopy(self.state)
        try:
            yield
        except BaseException:
            self.state = saved
            raise

    # ------------------------------------------------------------------ statements

    def _ensure_meta(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        m = self.state.meta
        m.setdefault("journal", {"last_seq": 0, "decisions": 0, "pseudonym_key": p["pseudonym_key"]})
        m.setdefault("audit", {"last_seq": 0, "head": p["genesis"]})
        m.setdefault("derived", {"done": 0, "seq": 0, "decisions": 0, "erasures": 0})
        return [{"pseudonym_key": m["journal"]["pseudonym_key"]}]

    def _lock_journal(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"last_seq": self.state.meta["journal"]["last_seq"]}]

    def _journal_head(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        j = self.state.meta.get("journal")
        return [] if j is None else [{"last_seq": j["last_seq"], "decisions": j["decisions"]}]

    def _existing_fragments(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for fid in p["fids"]:
            seq = self.state.by_fid.get(fid)
            if seq is not None:
                f = self.state.fragments[seq]
                out.append(
                    {"fid": fid, "hash": f["hash"], "seq": seq, "superseded": f.get("superseded_by") is not None}
                )
        return out

    def _create_fragments(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        for row in p["rows"]:
            if row["seq"] in self.state.fragments or row["fid"] in self.state.by_fid:
                raise AssertionError("constraint violated: fragment seq and fid are unique")
            self.state.fragments[row["seq"]] = dict(row)
            self.state.by_fid[row["fid"]] = row["seq"]
        return []

    def _link_corrections(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        for pair in p["pairs"]:
            old = self.state.fragments[pair["supersedes"]]
            old["superseded_by"] = pair["seq"]
            old["current"] = False
        return []

    def _set_journal_head(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        self.state.meta["journal"]["last_seq"] = p["last_seq"]
        return []

    def _fragments_after(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        seqs = sorted(s for s in self.state.fragments if s > p["after"])[: p["limit"]]
        return [
            {"seq": s, "fid": f["fid"], "body": f["body"], "supersedes": f["supersedes"]}
            for s in seqs
            for f in [self.state.fragments[s]]
        ]

    def _fragment_body(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        seq = self.state.by_fid.get(p["fid"])
        return [] if seq is None else [{"body": self.state.fragments[seq]["body"]}]

    def _fragment_count(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"n": len(self.state.fragments)}]

    def _fragment_bodies(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        fr = self.state.fragments
        return [{"seq": s, "body": fr[s]["body"]} for s in p["seqs"] if s in fr]

    def _fragment_text(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        keys = ("fid", "record_ref", "recorded_at", "shared_at", "summary", "when_text")
        fr = self.state.fragments
        return [{"seq": s, **{k: fr[s][k] for k in keys}} for s in p["seqs"] if s in fr]

    def _fragment_by_prefix(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        found = sorted(seq for fid, seq in self.state.by_fid.items() if fid.startswith(p["prefix"]))
        return [{"seq": s} for s in found[:2]]

    def _seqs_of_fids(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for fid in p["fids"]:
            seq = self.state.by_fid.get(fid)
            if seq is not None:
                f = self.state.fragments[seq]
                out.append({"fid": fid, "seq": seq, "agency": f["agency"], "body": f["body"]})
        return out

    def _decisions_for(self, p: dict[str, Any]) -> list[tuple[int, Decision]]:
        """What DECIDE means, by the policy of graph.access (see the module docstring)."""
        reader = Reader(
            "r",
            p["agency"],
            frozenset(Role(r) for r in p["roles"]),
            frozenset({"case"}),
            frozenset(p["clearances"]),
            p["active"],
        )
        try:
            purpose = Purpose(p["purpose"])
        except ValueError:
            return [(s, Decision.absent) for s in p["seqs"]]
        out = []
        on_case = set(p["on_case"])
        for s in p["seqs"]:
            f = self.state.fragments.get(s)
            if f is None:
                continue
            granted = any(
                g["fragment_id"] == f["fid"]
                and g["agency"] == p["agency"]
                and g["purpose"] == p["purpose"]
                and g.get("revoked_at") is None
                and (g["expires_at"] is None or g["expires_at"] > p["now"])
                for g in self.state.grants
            )
            access = FragmentAccess(
                f["agency"],
                f["audience"],
                frozenset(f["named_agencies"]),
                frozenset("criminal_offence" if c == "criminal_offence" else "health" for c in f["needs"]),
                f["existence_visible"],
            )
            cases = frozenset({"case"}) if s in on_case else frozenset()
            out.append((s, decide(reader, purpose, access, cases, granted=granted)))
        return out

    def _decide(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"seq": s, "decision": str(d)} for s, d in self._decisions_for(p)]

    def _bodies_as_reader(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"seq": s, "body": self.state.fragments[s]["body"]} for s, d in self._decisions_for(p) if d is Decision.see
        ]

    def _clear_derived(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        seqs = set(p["seqs"])
        for key in [k for k, v in self.state.people.items() if {m["seq"] for m in v["mentions"]} & seqs]:
            del self.state.people[key]
        for key in [k for k, v in self.state.events.items() if set(v["sources"]) & seqs]:
            del self.state.events[key]
        return []

    def _write_people(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        for person in p["people"]:
            self.state.people[person["key"]] = person
        return []

    def _write_events(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        for event in p["events"]:
            self.state.events[event["key"]] = event
        return []

    def _reader_row(self, rid: str) -> dict[str, Any]:
        r = self.state.readers[rid]
        cases = sorted(c for reader, c in self.state.members if reader == rid)
        return {**{k: r[k] for k in ("id", "agency", "roles", "clearances", "active", "display_name")}, "cases": cases}

    def _put_reader(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        self.state.readers[p["id"]] = {
            k: p[k] for k in ("id", "agency", "display_name", "roles", "clearances", "active")
        }
        return []

    def _set_reader_active(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        r = self.state.readers.get(p["id"])
        if r is None:
            return []
        r["active"] = p["active"]
        return [{"id": p["id"]}]

    def _get_reader(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._reader_row(p["id"])] if p["id"] in self.state.readers else []

    def _list_readers(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._reader_row(rid) for rid in sorted(self.state.readers)]

    def _open_case(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        if p["id"] in self.state.cases:
            return []
        self.state.cases[p["id"]] = {"id": p["id"], "fragment_id": p["fragment_id"], "mention": p["mention"]}
        j = self.state.meta["journal"]
        j["cases"] = j.get("cases", 0) + 1
        return [{"id": p["id"]}]

    def _cases(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(c) for c in self.state.cases.values()]

    def _add_member(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        if p["reader_id"] not in self.state.readers or p["case_id"] not in self.state.cases:
            return []
        self.state.members.add((p["reader_id"], p["case_id"]))
        return [{"id": p["reader_id"]}]

    def _remove_member(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        if p["reader_id"] not in self.state.readers or p["case_id"] not in self.state.cases:
            return []
        self.state.members.discard((p["reader_id"], p["case_id"]))
        return [{"id": p["reader_id"]}]

    def _issue_token(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        if p["reader_id"] not in self.state.readers:
            return []
        self.state.tokens[p["id"]] = {
            "id": p["id"],
            "reader_id": p["reader_id"],
            "hash": p["hash"],
            "created_at": p["at"],
            "expires_at": p["expires_at"],
            "revoked_at": None,
        }
        return [{"id": p["id"]}]

    def _revoke_token(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        t = self.state.tokens.get(p["id"])
        if t is None:
            return []
        t["revoked_at"] = t["revoked_at"] or p["at"]
        return [{"reader_id": t["reader_id"]}]

    def _list_tokens(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        ts = [t for t in self.state.tokens.values() if p["reader_id"] is None or t["reader_id"] == p["reader_id"]]
        ts.sort(key=lambda t: (t["created_at"], t["id"]))
        return [{k: v for k, v in t.items() if k != "hash"} for t in ts]

    def _reader_for_token(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        for t in self.state.tokens.values():
            if (
                t["hash"] == p["hash"]
                and t["revoked_at"] is None
                and (t["expires_at"] is None or t["expires_at"] > p["now"])
            ):
                r = self.state.readers.get(t["reader_id"])
                if r is not None and r["active"]:
                    return [{"id": r["id"]}]
        return []

    def _create_request(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        self.state.requests[p["id"]] = dict(p)
        return []

    def _get_request(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        r = self.state.requests.get(p["id"])
        return [] if r is None else [dict(r)]

    def _requests_for(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        rs = [r for r in self.state.requests.values() if p["agency"] in (r["agency"], r["holder_agency"])]
        return [dict(r) for r in sorted(rs, key=lambda r: (r["at"], r["id"]))]

    def _decision_request(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        d = self.state.decisions.get(p["id"])
        return [] if d is None else [{"request_id": d["request_id"]}]

    def _revoke_grants(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        for g in self.state.grants:
            if g["decision_id"] == p["decision_id"] and g.get("revoked_at") is None:
                g["revoked_at"] = p["at"]
        return []

    def _create_decision(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        d = {k: v for k, v in p["decision"].items() if v is not None}  # Neo4j stores no nulls
        self.state.decisions[d["id"]] = d
        self.state.grants += [{k: v for k, v in g.items()} for g in p["grants"]]
        return []

    def _share_decisions(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        ds = [d for d in self.state.decisions.values() if p["request_id"] is None or d["request_id"] == p["request_id"]]
        return [{"decision": dict(d)} for d in sorted(ds, key=lambda d: (d["at"], d["id"]))]

    def _add_resolution_decision(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        j = self.state.meta["journal"]
        j["decisions"] += 1
        self.state.resolution.append({"id": j["decisions"], **p})
        return [{"id": j["decisions"]}]

    def _resolution_decisions(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(d) for d in self.state.resolution]

    def _set_pseudonym_key(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        self.state.meta["journal"]["pseudonym_key"] = p["pseudonym_key"]
        return []

    def _all_requests(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(r) for r in sorted(self.state.requests.values(), key=lambda r: (r["at"], r["id"]))]

    def _restore_shares(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        for r in p["requests"]:
            self.state.requests[r["id"]] = dict(r)
        for d in p["decisions"]:
            self.state.decisions[d["id"]] = {k: v for k, v in d.items() if v is not None}
        self.state.grants += [dict(g) for g in p["grants"]]
        return []

    def _lock_audit(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        a = self.state.meta["audit"]
        return [{"last_seq": a["last_seq"], "head": a["head"]}]

    def _append_audit(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        a = self.state.meta["audit"]
        a["last_seq"], a["head"] = p["seq"], p["hash"]
        keys = ("seq", "at", "actor", "action", "purpose", "detail", "prev_hash", "hash")
        self.state.audit.append({k: p[k] for k in keys})
        for ref in p["refs"]:
            self.state.refs.setdefault(ref, set()).add(p["seq"])
        return []

    def _audit_entries(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        out = [
            dict(e)
            for e in self.state.audit
            if e["seq"] > p["after_seq"]
            and (p["actor"] is None or e["actor"] == p["actor"])
            and (p["actions"] is None or e["action"] in p["actions"])
            and (p["since"] is None or e["at"] >= p["since"])
            and (p["until"] is None or e["at"] < p["until"])
        ]
        return out[: p["limit"]]

    def _audit_concerning(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        seqs = set().union(*(self.state.refs.get(i, set()) for i in p["ids"]))
        return [dict(e) for e in self.state.audit if e["seq"] in seqs and e["action"] in p["actions"]]

    def _audit_by_actions(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(e) for e in self.state.audit if e["action"] in p["actions"]]

    def _audit_chain(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(e) for e in self.state.audit if e["seq"] > p["after_seq"]][: p["limit"]]


class _Tx:
    def __init__(self, db: Emulator) -> None:
        self.db = db

    def run(self, statement: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.db.run(statement, params)


class _Result(list[dict[str, Any]]):
    def consume(self) -> None:
        return None


class _Session:
    def __init__(self, db: Emulator) -> None:
        self.db = db

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, statement: str, params: dict[str, Any] | None = None) -> _Result:
        with self.db.write_lock, self.db.atomic():
            return _Result(self.db.run(statement, params))

    def execute_read(self, work: Callable[[_Tx], Any]) -> Any:
        return work(_Tx(self.db))

    def execute_write(self, work: Callable[[_Tx], Any]) -> Any:
        """Run ``work`` until it commits, as the real driver's managed transactions do."""
        from neo4j.exceptions import TransientError

        for attempt in range(self.db.transient_failures + 1):
            self.db.attempts += 1
            try:
                with self.db.write_lock, self.db.atomic():
                    out = work(_Tx(self.db))
                    if attempt < self.db.transient_failures:
                        raise TransientError("leader switched")
                    return out
            except TransientError:
                continue
        raise AssertionError("unreachable")


# ---------------------------------------------------------------------------- shared meaning (issue 7)
# What the shared-meaning statements of graph.cypher mean (acknowledgements, notices,
# webhooks and their outbox), on Python dicts. Like the rest of this file, a stand-in that
# checks the backend's Python; the Cypher itself is checked by tests/test_cypher.py and on
# a live Neo4j. Its state hangs off the emulator's state, so a failed write puts it back.

Rows = list[dict[str, Any]]


@dataclass
class _Meaning:
    acks: list[dict[str, Any]] = field(default_factory=list)
    notices: dict[str, dict[str, Any]] = field(default_factory=dict)
    reads: dict[tuple[str, str], str] = field(default_factory=dict)  # (reader, notice) -> when marked read
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)


def _meaning(db: Emulator) -> _Meaning:
    found = db.state.__dict__.get("meaning")
    if found is None:
        found = db.state.__dict__["meaning"] = _Meaning()
    assert isinstance(found, _Meaning)
    return found


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}  # Neo4j stores no nulls


def _entries_concerning(db: Emulator, fids: list[str], actions: list[str]) -> list[dict[str, Any]]:
    seqs = set().union(*(db.state.refs.get(f, set()) for f in fids))
    return [e for e in db.state.audit if e["seq"] in seqs and e["action"] in actions]


def _create_acknowledgement(db: Emulator, p: dict[str, Any]) -> Rows:
    _meaning(db).acks.append(dict(p))
    return []


def _acknowledgements(db: Emulator, p: dict[str, Any]) -> Rows:
    want = set(p["subjects"])
    return sorted((dict(k) for k in _meaning(db).acks if k["subject"] in want), key=lambda k: (k["at"], k["id"]))


def _decision_agency(db: Emulator, p: dict[str, Any]) -> Rows:
    d = db.state.decisions.get(p["id"])
    r = None if d is None else db.state.requests.get(d["request_id"])
    return [] if r is None else [{"agency": r["agency"]}]


def _outstanding_fragments(db: Emulator, p: dict[str, Any]) -> Rows:
    out = []
    for f in db.state.fragments.values():
        if f["agency"] != p["agency"] or f.get("superseded_by") is not None:
            continue
        to = {
            db.state.readers[e["actor"]]["agency"]
            for e in _entries_concerning(db, [f["fid"]], p["actions"])
            if e["actor"] in db.state.readers
        }
        to |= {g["agency"] for g in db.state.grants if g["fragment_id"] == f["fid"]}
        to.discard(p["agency"])
        if to:
            out.append({"fid": f["fid"], "body": f["body"], "agencies": sorted(to)})
    return out


def _outstanding_decisions(db: Emulator, p: dict[str, Any]) -> Rows:
    out = []
    for d in db.state.decisions.values():
        r = db.state.readers.get(d["decided_by"])
        q = db.state.requests.get(d["request_id"])
        if r is not None and r["agency"] == p["agency"] and q is not None:
            out.append({"id": d["id"], "to_agency": q["agency"]})
    return out


def _earlier_versions(db: Emulator, p: dict[str, Any]) -> Rows:
    out = []
    seq = p["seq"]
    while seq is not None and seq in db.state.fragments:
        out.append({"fid": db.state.fragments[seq]["fid"]})
        seq = db.state.fragments[seq]["supersedes"]
    return out


def _readers_who_saw(db: Emulator, p: dict[str, Any]) -> Rows:
    readers = db.state.readers
    found = {e["actor"] for e in _entries_concerning(db, p["fids"], p["actions"]) if e["actor"] in readers}
    return [{"reader_id": r, "agency": readers[r]["agency"]} for r in sorted(found)]


def _agencies_released_to(db: Emulator, p: dict[str, Any]) -> Rows:
    fids = set(p["fids"])
    return [{"agency": a} for a in sorted({g["agency"] for g in db.state.grants if g["fragment_id"] in fids})]


def _active_webhooks(db: Emulator, p: dict[str, Any]) -> Rows:
    hooks = _meaning(db).webhooks
    return [{"agency": a} for a in p["agencies"] if a in hooks and hooks[a]["active"]]


def _create_notices(db: Emulator, p: dict[str, Any]) -> Rows:
    m = _meaning(db)
    for n in p["notices"]:
        if n["id"] in m.notices:
            raise AssertionError("constraint violated: notice ids are unique")
        m.notices[n["id"]] = _stored(n)
    for d in p["deliveries"]:
        if d["id"] in m.deliveries:
            raise AssertionError("constraint violated: delivery ids are unique")
        m.deliveries[d["id"]] = _stored(d)
    return []


def _yours(n: dict[str, Any], reader_id: str, agency: str) -> bool:
    return n.get("reader_id") == reader_id or (n.get("reader_id") is None and n["agency"] == agency)


def _notices_for(db: Emulator, p: dict[str, Any]) -> Rows:
    m = _meaning(db)
    keys = ("id", "at", "kind", "fragment_id", "correction_id", "by_agency", "reader_id", "agency", "why")
    mine = [n for n in m.notices.values() if _yours(n, p["reader_id"], p["agency"])]
    mine.sort(key=lambda n: n["id"])
    mine.sort(key=lambda n: n["at"], reverse=True)
    return [
        {**{k: n.get(k) for k in keys}, "read_at": m.reads.get((p["reader_id"], n["id"]))} for n in mine[: p["limit"]]
    ]


def _mark_notice_read(db: Emulator, p: dict[str, Any]) -> Rows:
    m = _meaning(db)
    n = m.notices.get(p["id"])
    if n is None or not _yours(n, p["reader_id"], p["agency"]) or p["reader_id"] not in db.state.readers:
        return []
    m.reads.setdefault((p["reader_id"], p["id"]), p["at"])
    return [{"id": p["id"]}]


def _put_webhook(db: Emulator, p: dict[str, Any]) -> Rows:
    _meaning(db).webhooks[p["agency"]] = {
        "agency": p["agency"],
        "url": p["url"],
        "secret": p["secret"],
        "active": p["active"],
        "updated_at": p["at"],
    }
    return []


def _webhooks(db: Emulator, p: dict[str, Any]) -> Rows:
    hooks = _meaning(db).webhooks
    return [{k: hooks[a][k] for k in ("agency", "url", "active", "updated_at")} for a in sorted(hooks)]


def _claim_deliveries(db: Emulator, p: dict[str, Any]) -> Rows:
    m = _meaning(db)
    lock = db.state.meta.setdefault("outbox", {})
    lock["lock"] = lock.get("lock", 0) + 1
    due = [
        d
        for d in m.deliveries.values()
        if d["state"] == "pending"
        and d["next_at"] <= p["now"]
        and d["agency"] in m.webhooks
        and m.webhooks[d["agency"]]["active"]
    ]
    due.sort(key=lambda d: (d["next_at"], d["id"]))
    out = []
    for d in due[: p["limit"]]:
        d["next_at"] = p["lease"]
        w = m.webhooks[d["agency"]]
        keys = ("id", "agency", "created_at", "kind", "fragment_id", "by_agency", "attempts")
        out.append({**{k: d[k] for k in keys}, "url": w["url"], "secret": w["secret"]})
    return out


def _lock_delivery(db: Emulator, p: dict[str, Any]) -> Rows:
    d = _meaning(db).deliveries.get(p["id"])
    return [] if d is None else [{"attempts": d["attempts"], "agency": d["agency"]}]


def _record_delivery(db: Emulator, p: dict[str, Any]) -> Rows:
    d = _meaning(db).deliveries.get(p["id"])
    if d is None:
        return []
    d["state"], d["attempts"] = p["state"], p["attempts"]
    if p["next_at"] is not None:
        d["next_at"] = p["next_at"]
    if p["delivered_at"] is not None:
        d["delivered_at"] = p["delivered_at"]
    d.pop("last_error", None)
    if p["last_error"] is not None:
        d["last_error"] = p["last_error"]
    return []


def _webhook_outbox(db: Emulator, p: dict[str, Any]) -> Rows:
    keys = ("id", "agency", "created_at", "kind", "state", "attempts", "next_at", "last_error", "delivered_at")
    rows = [d for d in _meaning(db).deliveries.values() if p["agency"] is None or d["agency"] == p["agency"]]
    return [{k: d.get(k) for k in keys} for d in sorted(rows, key=lambda d: (d["created_at"], d["id"]))]


_MORE_STATEMENTS: dict[str, Callable[[Emulator, dict[str, Any]], Rows]] = {
    "CREATE_ACKNOWLEDGEMENT": _create_acknowledgement,
    "ACKNOWLEDGEMENTS": _acknowledgements,
    "DECISION_AGENCY": _decision_agency,
    "OUTSTANDING_FRAGMENTS": _outstanding_fragments,
    "OUTSTANDING_DECISIONS": _outstanding_decisions,
    "EARLIER_VERSIONS": _earlier_versions,
    "READERS_WHO_SAW": _readers_who_saw,
    "AGENCIES_RELEASED_TO": _agencies_released_to,
    "ACTIVE_WEBHOOKS": _active_webhooks,
    "CREATE_NOTICES": _create_notices,
    "NOTICES_FOR": _notices_for,
    "MARK_NOTICE_READ": _mark_notice_read,
    "PUT_WEBHOOK": _put_webhook,
    "WEBHOOKS": _webhooks,
    "CLAIM_DELIVERIES": _claim_deliveries,
    "LOCK_DELIVERY": _lock_delivery,
    "RECORD_DELIVERY": _record_delivery,
    "WEBHOOK_OUTBOX": _webhook_outbox,
}

# ---------------------------------------------------------------------------- patterns (issue 8)
# An analyst's Cypher pattern is not a statement of graph.cypher, and this is not a Cypher
# engine: ``PatternQueryEmulator`` knows a few FIXED TEST QUERIES by their text and does
# what each means in Python, so that graph.patterns.custom's Cypher form runs end to end
# here. It also keeps what each query answered (to show what the caller dropped) and
# refuses a write inside a read transaction, as the server does.

# ignores $visible: answers every fragment that mentions the person, hidden or not
TEST_QUERY_ALL_MENTIONS = """
MATCH (p:Person {key: $person})<-[:MENTIONS]-(f:Fragment)
RETURN f.fid AS fid
"""

# tries to write
TEST_QUERY_WRITES = """
MATCH (p:Person {key: $person})<-[:MENTIONS]-(f:Fragment)
SET f.summary = 'changed by a pattern'
RETURN f.fid AS fid
"""


class PatternQueryEmulator(Emulator):
    """The emulator, plus the fixed test queries of analysts' Cypher patterns."""

    def __init__(self, transient_failures: int = 0) -> None:
        super().__init__(transient_failures)
        self.reading = False
        self.answers: list[list[dict[str, Any]]] = []  # what each test query returned
        self.modes: list[str] = []  # the transaction each ran in

    def session(self, database: str = "neo4j", bookmark_manager: Any = None) -> _Session:
        self.bookmark_managers.append(bookmark_manager)
        return _TrackedSession(self)

    def run(self, statement: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        from graph.patterns.custom import EXAMPLE_MISSED_APPOINTMENTS

        handlers: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
            EXAMPLE_MISSED_APPOINTMENTS: self._missed_appointments,
            TEST_QUERY_ALL_MENTIONS: self._all_mentions,
            TEST_QUERY_WRITES: self._writes,
        }
        handler = handlers.get(statement)
        if handler is None:
            return super().run(statement, params)
        self.modes.append("read" if self.reading else "write")
        rows = handler(params or {})
        self.answers.append(rows)
        return rows

    def _fid(self, seq: int) -> str:
        return str(self.state.fragments[seq]["fid"])

    def _missed_appointments(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        visible = set(p["visible"])
        found = set()
        for event in self.state.events.values():
            if event["kind"] == "missed_appointment" and any(x["key"] == p["person"] for x in event["people"]):
                found |= {self._fid(s) for s in event["sources"]} & visible
        return [{"fid": fid} for fid in sorted(found)]

    def _all_mentions(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        person = self.state.people.get(p["person"])
        return [{"fid": self._fid(m["seq"])} for m in person["mentions"]] if person else []

    def _writes(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        if self.reading:
            from neo4j.exceptions import ClientError

            raise ClientError("Writing in read access mode not allowed")
        raise AssertionError("an analyst's pattern ran in a write transaction")


class _TrackedSession(_Session):
    def execute_read(self, work: Callable[[_Tx], Any]) -> Any:
        db = self.db
        assert isinstance(db, PatternQueryEmulator)
        db.reading = True
        try:
            return super().execute_read(work)
        finally:
            db.reading = False


# ---------------------------------------------------------------------------- moving stores (issue 7)
# What the moving statements of graph.cypher mean (the audit verbatim with its
# checkpoints, token hashes, shared meaning), on the same Python state as the rest.


def _checkpoints(db: Emulator) -> list[dict[str, Any]]:
    found = db.state.__dict__.get("checkpoints")
    if found is None:
        found = db.state.__dict__["checkpoints"] = []
    assert isinstance(found, list)
    return found


def _count(n: int) -> Rows:
    return [{"n": n}]


def _audit_count(db: Emulator, p: dict[str, Any]) -> Rows:
    return _count(len(db.state.audit))


def _restore_audit(db: Emulator, p: dict[str, Any]) -> Rows:
    held = {e["seq"] for e in db.state.audit}
    keys = ("seq", "at", "actor", "action", "purpose", "detail", "prev_hash", "hash")
    for entry in p["entries"]:
        if entry["seq"] in held:
            raise AssertionError("constraint violated: audit entry seqs are unique")
        db.state.audit.append({k: entry[k] for k in keys})
        for ref in entry["refs"]:
            db.state.refs.setdefault(ref, set()).add(entry["seq"])
    db.state.audit.sort(key=lambda e: e["seq"])
    return []


def _set_audit_head(db: Emulator, p: dict[str, Any]) -> Rows:
    a = db.state.meta["audit"]
    a["last_seq"], a["head"] = p["last_seq"], p["head"]
    return []


def _audit_checkpoints(db: Emulator, p: dict[str, Any]) -> Rows:
    return sorted((dict(c) for c in _checkpoints(db)), key=lambda c: c["seq"])


def _restore_audit_checkpoints(db: Emulator, p: dict[str, Any]) -> Rows:
    _checkpoints(db).extend(dict(c) for c in p["checkpoints"])
    return []


def _token_count(db: Emulator, p: dict[str, Any]) -> Rows:
    return _count(len(db.state.tokens))


def _all_tokens(db: Emulator, p: dict[str, Any]) -> Rows:
    keys = ("id", "reader_id", "hash", "created_at", "expires_at", "revoked_at")
    ts = sorted(db.state.tokens.values(), key=lambda t: (t["created_at"], t["id"]))
    return [{k: t.get(k) for k in keys} for t in ts]


def _restore_tokens(db: Emulator, p: dict[str, Any]) -> Rows:
    made = 0
    for t in p["tokens"]:
        if t["reader_id"] not in db.state.readers:
            continue
        if t["id"] in db.state.tokens or any(o["hash"] == t["hash"] for o in db.state.tokens.values()):
            raise AssertionError("constraint violated: token ids and hashes are unique")
        db.state.tokens[t["id"]] = dict(t)
        made += 1
    return _count(made)


def _meaning_counts(db: Emulator, p: dict[str, Any]) -> Rows:
    m = _meaning(db)
    return [
        {
            "acknowledgements": len(m.acks),
            "notices": len(m.notices),
            "reads": len(m.reads),
            "webhooks": len(m.webhooks),
            "deliveries": len(m.deliveries),
        }
    ]


def _all_acknowledgements(db: Emulator, p: dict[str, Any]) -> Rows:
    return sorted((dict(k) for k in _meaning(db).acks), key=lambda k: (k["at"], k["id"]))


def _all_notices(db: Emulator, p: dict[str, Any]) -> Rows:
    keys = ("id", "at", "kind", "fragment_id", "correction_id", "by_agency", "reader_id", "agency", "why")
    ns = sorted(_meaning(db).notices.values(), key=lambda n: (n["at"], n["id"]))
    return [{k: n.get(k) for k in keys} for n in ns]


def _all_notice_reads(db: Emulator, p: dict[str, Any]) -> Rows:
    m = _meaning(db)
    rows = [
        {"notice_id": n, "reader_id": r, "at": at}
        for (r, n), at in m.reads.items()
        if r in db.state.readers and n in m.notices
    ]
    return sorted(rows, key=lambda x: (x["at"], x["notice_id"], x["reader_id"]))


def _all_webhooks(db: Emulator, p: dict[str, Any]) -> Rows:
    hooks = _meaning(db).webhooks
    return [{k: hooks[a][k] for k in ("agency", "url", "secret", "active", "updated_at")} for a in sorted(hooks)]


def _all_deliveries(db: Emulator, p: dict[str, Any]) -> Rows:
    keys = (
        "id",
        "agency",
        "created_at",
        "kind",
        "fragment_id",
        "by_agency",
        "state",
        "attempts",
        "next_at",
        "last_error",
        "delivered_at",
    )
    ds = sorted(_meaning(db).deliveries.values(), key=lambda d: (d["created_at"], d["id"]))
    return [{k: d.get(k) for k in keys} for d in ds]


def _restore_meaning(db: Emulator, p: dict[str, Any]) -> Rows:
    m = _meaning(db)
    m.acks += [dict(a) for a in p["acknowledgements"]]
    for n in p["notices"]:
        if n["id"] in m.notices:
            raise AssertionError("constraint violated: notice ids are unique")
        m.notices[n["id"]] = _stored(n)
    for w in p["webhooks"]:
        if w["agency"] in m.webhooks:
            raise AssertionError("constraint violated: one webhook per agency")
        m.webhooks[w["agency"]] = dict(w)
    for d in p["deliveries"]:
        if d["id"] in m.deliveries:
            raise AssertionError("constraint violated: delivery ids are unique")
        m.deliveries[d["id"]] = _stored(d)
    return []


def _restore_notice_reads(db: Emulator, p: dict[str, Any]) -> Rows:
    m = _meaning(db)
    made = 0
    for mark in p["reads"]:
        if mark["reader_id"] in db.state.readers and mark["notice_id"] in m.notices:
            m.reads[(mark["reader_id"], mark["notice_id"])] = mark["at"]
            made += 1
    return _count(made)


# ---------------------------------------------------------------------------- resolution review and erasure (issue 7)
# What the review and erasure statements of graph.cypher mean, on the emulator's state
# (decisions are its ``resolution`` list; review dates and erasures are properties of its
# fragments). A stand-in like the rest of this file: the Cypher is checked by
# tests/test_cypher.py and on a live Neo4j.


def _journal_head_with_erasures(db: Emulator, p: dict[str, Any]) -> Rows:
    j = db.state.meta.get("journal")
    return (
        []
        if j is None
        else [
            {
                "last_seq": j["last_seq"],
                "decisions": j["decisions"],
                "erasures": j.get("erasures", 0),
                "cases": j.get("cases", 0),
                "pseudonym_key": j["pseudonym_key"],
            }
        ]
    )


def _resolution_decision(db: Emulator, p: dict[str, Any]) -> Rows:
    keys = ("id", "kind", "a_fid", "a_idx", "b_fid", "b_idx", "reason", "by", "at", "undoes", "evidence")
    for d in db.state.resolution:
        if d["id"] == p["id"]:
            undone = any(u.get("undoes") == p["id"] for u in db.state.resolution)
            return [{**{k: d.get(k) for k in keys}, "undone": undone}]
    return []


def _erasure_versions(db: Emulator, p: dict[str, Any]) -> Rows:
    fr = db.state.fragments
    start = db.state.by_fid.get(p["fid"])
    if start is None:
        return []
    found, todo = {start}, [start]
    while todo:  # along SUPERSEDES either way
        f = fr[todo.pop()]
        for other in (f.get("supersedes"), f.get("superseded_by")):
            if other is not None and other in fr and other not in found:
                found.add(other)
                todo.append(other)
    return [{"seq": s, "fid": fr[s]["fid"], "body": fr[s]["body"]} for s in sorted(found)]


def _erase_derived(db: Emulator, p: dict[str, Any]) -> Rows:
    seqs = set(p["seqs"])
    people = db.state.people
    for key in [k for k, v in people.items() if {m["seq"] for m in v["mentions"]} & seqs]:
        del people[key]
    for key in [k for k, v in db.state.events.items() if set(v["sources"]) & seqs]:
        del db.state.events[key]  # places are kept on the emulator's events: they go with them
    return []


def _erase_fragments(db: Emulator, p: dict[str, Any]) -> Rows:
    for row in p["rows"]:
        f = db.state.fragments[row["seq"]]
        for k in ("body", "audience", "named_agencies", "needs", "existence_visible", "erased_at"):
            f[k] = row[k]
        f.setdefault("retention_class", "erased")
        f.setdefault("review_on", "")
        f["summary"] = f["when_text"] = None  # REMOVE: the property reads as null
        f.pop("facts", None)
        f.pop("facts_version", None)
    return []


def _count_erasure(db: Emulator, p: dict[str, Any]) -> Rows:
    j = db.state.meta["journal"]
    j["erasures"] = j.get("erasures", 0) + 1
    return [{"erasures": j["erasures"]}]


def _retention_due(db: Emulator, p: dict[str, Any]) -> Rows:
    due = [
        f
        for f in db.state.fragments.values()
        if f.get("review_on") is not None
        and f["review_on"] <= p["on"]
        and f.get("erased_at") is None
        and f["retention_class"] != "erased"
    ]
    due.sort(key=lambda f: (f["review_on"], f["seq"]))
    keys = ("fid", "agency", "retention_class", "review_on", "seq")
    return [{k: f[k] for k in keys} for f in due[: p["limit"]]]


def _unclassified_fragments(db: Emulator, p: dict[str, Any]) -> Rows:
    fr = db.state.fragments
    seqs = sorted(s for s, f in fr.items() if f.get("review_on") is None)[: p["limit"]]
    return [{"seq": s, "body": fr[s]["body"]} for s in seqs]


def _classify_fragments(db: Emulator, p: dict[str, Any]) -> Rows:
    for row in p["rows"]:
        f = db.state.fragments.get(row["seq"])
        if f is not None and f.get("review_on") is None:
            f["retention_class"], f["review_on"] = row["retention_class"], row["review_on"]
    return []


_MORE_STATEMENTS.update(
    {
        "AUDIT_COUNT": _audit_count,
        "RESTORE_AUDIT": _restore_audit,
        "SET_AUDIT_HEAD": _set_audit_head,
        "AUDIT_CHECKPOINTS": _audit_checkpoints,
        "RESTORE_AUDIT_CHECKPOINTS": _restore_audit_checkpoints,
        "TOKEN_COUNT": _token_count,
        "ALL_TOKENS": _all_tokens,
        "RESTORE_TOKENS": _restore_tokens,
        "MEANING_COUNTS": _meaning_counts,
        "ALL_ACKNOWLEDGEMENTS": _all_acknowledgements,
        "ALL_NOTICES": _all_notices,
        "ALL_NOTICE_READS": _all_notice_reads,
        "ALL_WEBHOOKS": _all_webhooks,
        "ALL_DELIVERIES": _all_deliveries,
        "RESTORE_MEANING": _restore_meaning,
        "RESTORE_NOTICE_READS": _restore_notice_reads,
        "JOURNAL_HEAD": _journal_head_with_erasures,  # JOURNAL_HEAD now returns the erasure count too
        "RESOLUTION_DECISION": _resolution_decision,
        "ERASURE_VERSIONS": _erasure_versions,
        "ERASE_DERIVED": _erase_derived,
        "ERASE_FRAGMENTS": _erase_fragments,
        "COUNT_ERASURE": _count_erasure,
        "RETENTION_DUE": _retention_due,
        "UNCLASSIFIED_FRAGMENTS": _unclassified_fragments,
        "CLASSIFY_FRAGMENTS": _classify_fragments,
    }
)


# ---------------------------------------------------------------------------- the derived graph behind the journal
# The 'derived' Meta node (how far the derived graph is written, and from which journal
# state). ENSURE_META's MERGE of it is emulated here: a store opened before it existed
# gets it on first use, as the live MERGE gives it on start.

_DERIVED_START = {"done": 0, "seq": 0, "decisions": 0, "erasures": 0}


def _derived(db: Emulator) -> dict[str, Any]:
    return db.state.meta.setdefault("derived", dict(_DERIVED_START))


def _derived_done(db: Emulator, p: dict[str, Any]) -> Rows:
    return [{"done": _derived(db)["done"]}]


def _lock_derived(db: Emulator, p: dict[str, Any]) -> Rows:
    d = _derived(db)
    return [{k: d[k] for k in _DERIVED_START}]


def _set_derived(db: Emulator, p: dict[str, Any]) -> Rows:
    _derived(db).update({k: p[k] for k in _DERIVED_START})
    return []


def _refuse_older_derived(db: Emulator, p: dict[str, Any]) -> Rows:
    j = db.state.meta["journal"]
    _derived(db).update(decisions=j["decisions"], erasures=j.get("erasures", 0))
    return []


_MORE_STATEMENTS.update(
    {
        "REFUSE_OLDER_DERIVED": _refuse_older_derived,
        "DERIVED_DONE": _derived_done,
        "LOCK_DERIVED": _lock_derived,
        "SET_DERIVED": _set_derived,
    }
)


# ---------------------------------------------------------------------------- pattern facts kept on fragments


def _kept_facts_after(db: Emulator, p: dict[str, Any]) -> Rows:
    out = []
    for seq in sorted(db.state.fragments):
        f = db.state.fragments[seq]
        if seq > p["after"] and f.get("facts_version") == p["version"]:
            out.append({"seq": seq, "facts": f["facts"]})
            if len(out) == p["limit"]:
                break
    return out


def _kept_facts(db: Emulator, p: dict[str, Any]) -> Rows:
    frags = db.state.fragments
    return [
        {"seq": s, "facts": frags[s]["facts"]}
        for s in p["seqs"]
        if s in frags and frags[s].get("facts_version") == p["version"]
    ]


def _keep_facts(db: Emulator, p: dict[str, Any]) -> Rows:
    for row in p["rows"]:
        f = db.state.fragments.get(row["seq"])
        if f is not None and f.get("erased_at") is None:
            f["facts"], f["facts_version"] = row["facts"], p["version"]
    return []


_MORE_STATEMENTS.update({"KEPT_FACTS_AFTER": _kept_facts_after, "KEPT_FACTS": _kept_facts, "KEEP_FACTS": _keep_facts})


# ---------------------------------------------------------------------------- incident decisions
# (the emulator's ``incidents`` list; numbered with the resolution decisions)

_INCIDENT_KEYS = ("id", "kind", "a_fid", "b_fid", "reason", "by", "at", "undoes")


def _add_incident_decision(db: Emulator, p: dict[str, Any]) -> Rows:
    j = db.state.meta["journal"]
    j["decisions"] += 1
    db.state.incidents.append({"id": j["decisions"], **p})
    return [{"id": j["decisions"]}]


def _incident_decisions(db: Emulator, p: dict[str, Any]) -> Rows:
    return [{k: d.get(k) for k in _INCIDENT_KEYS} for d in db.state.incidents]


def _incident_decision(db: Emulator, p: dict[str, Any]) -> Rows:
    for d in db.state.incidents:
        if d["id"] == p["id"]:
            undone = any(u.get("undoes") == p["id"] for u in db.state.incidents)
            return [{**{k: d.get(k) for k in _INCIDENT_KEYS}, "undone": undone}]
    return []


_MORE_STATEMENTS.update(
    {
        "ADD_INCIDENT_DECISION": _add_incident_decision,
        "INCIDENT_DECISIONS": _incident_decisions,
        "INCIDENT_DECISION": _incident_decision,
    }
)
