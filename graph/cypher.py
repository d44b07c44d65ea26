"""Every Cypher statement the Neo4j backend runs, by name, and the schema they assume.

All of them are constants: values always travel as parameters (``$name``), never by
building a query string from data. ``tests/test_cypher.py`` parses each statement with
Neo4j's own Cypher parser (the ``@neo4j-cypher/language-support`` npm package, run with
Node), checks that every label, relationship type and property it names is in ``SCHEMA``
(a typo is an error, not an empty answer), and that the parameters each call site passes
are exactly the ones the statement uses.

The graph (``docs/scaling.md`` draws it):

* ``(:Fragment)`` — the journal: one node per version, ``seq`` (commit order), ``fid``,
  ``body`` (the canonical JSON), ``hash``, and what access is decided on (``agency``,
  ``audience``, ``named_agencies``, ``needs`` — the clearances its special-category
  content asks for, ``existence_visible``, ``current``). ``(:Fragment)-[:SUPERSEDES]->``
  its earlier version; ``-[:HELD_BY]->(:Agency)``.
* Derived, written from the journal by ``Neo4jStore`` just behind the writes (its
  projector, ``write_derived``; the same projection code as the embedded store, so both
  backends resolve people alike):
  ``(:Person {key})`` with ``(:Fragment)-[:MENTIONS {idx, role}]->(:Person)``,
  ``(:Event {key})`` with ``-[:RECORDED_IN]->(:Fragment)`` and
  ``(:Person)-[:INVOLVED_IN {role}]->(:Event)``, ``(:Place {key})`` with
  ``(:Event)-[:AT]->(:Place)``.
* Access records: ``(:Reader)-[:MEMBER_OF]->(:Case)``, ``(:Token)``, ``(:ShareRequest)``,
  ``(:ShareDecision)``, ``(:Grant)`` (a fragment released to an agency for a purpose),
  ``(:ResolutionDecision)``.
* ``(:AuditEntry)`` — the hash chain (``graph.audit.entry_hash``), with
  ``-[:CONCERNS]->(:AuditRef {id})`` for each fragment or person id it names.
* ``(:Meta {key})`` — ``journal`` (last seq; writers lock it) and ``audit`` (chain head);
  ``outbox`` (webhook workers lock it to claim deliveries).
* Shared meaning (``graph.meaning``; statements at the end of this file):
  ``(:Acknowledgement)``, ``(:Notice)`` (ids only; ``reader_id`` absent for a notice to a
  whole agency) with ``(:Reader)-[:MARKED_READ {at}]->(:Notice)``, ``(:Webhook {agency})``
  and ``(:Delivery)`` (the webhook outbox).
"""

from __future__ import annotations

from typing import Final

SCHEMA: Final[dict[str, list[str]]] = {
    "labels": [
        "Fragment",
        "Agency",
        "Person",
        "Event",
        "Place",
        "Reader",
        "Case",
        "Token",
        "ShareRequest",
        "ShareDecision",
        "Grant",
        "ResolutionDecision",
        "IncidentDecision",
        "AuditEntry",
        "AuditRef",
        "Meta",
        # shared meaning
        "Acknowledgement",
        "Notice",
        "Webhook",
        "Delivery",
    ],
    "relationshipTypes": [
        "SUPERSEDES",
        "HELD_BY",
        "MENTIONS",
        "RECORDED_IN",
        "INVOLVED_IN",
        "AT",
        "MEMBER_OF",
        "CONCERNS",
        # shared meaning
        "MARKED_READ",
    ],
    "propertyKeys": [
        # Fragment
        "seq",
        "fid",
        "agency",
        "record_ref",
        "hash",
        "body",
        "supersedes",
        "superseded_by",
        "current",
        "audience",
        "named_agencies",
        "needs",
        "existence_visible",
        "recorded_at",
        "shared_at",
        "summary",
        "when_text",
        # derived graph
        "key",
        "idx",
        "role",
        "names",
        "dobs",
        "kind",
        "start",
        "end",
        "precision",
        "text",
        # Meta
        "last_seq",
        "lock",
        "pseudonym_key",
        "head",
        "decisions",
        "created_at",
        # Reader, Case, Token
        "id",
        "display_name",
        "roles",
        "clearances",
        "active",
        "updated_at",
        "fragment_id",
        "mention",
        "opened_at",
        "opened_by",
        "reader_id",
        "expires_at",
        "revoked_at",
        # ShareRequest, ShareDecision, Grant
        "at",
        "requester",
        "holder_agency",
        "person_id",
        "purpose",
        "need",
        "urgency",
        "request_id",
        "reconsiders",
        "decided_by",
        "outcome",
        "necessity",
        "proportionality",
        "lawful_basis",
        "special_condition",
        "released",
        "released_digest",
        "family_told",
        "family_not_told_reason",
        "requester_told_at",
        "decision_id",
        # ResolutionDecision
        "a_fid",
        "a_idx",
        "b_fid",
        "b_idx",
        "reason",
        "by",
        "undoes",
        "evidence",
        # AuditEntry
        "actor",
        "action",
        "detail",
        "prev_hash",
        # shared meaning: Acknowledgement, Notice, Webhook, Delivery
        "subject",
        "subject_kind",
        "correction_id",
        "by_agency",
        "why",
        "url",
        "secret",
        "state",
        "attempts",
        "next_at",
        "last_error",
        "delivered_at",
    ],
}

# ---------------------------------------------------------------------------- schema

CONSTRAINTS: Final[tuple[str, ...]] = (
    "CREATE CONSTRAINT fragment_seq IF NOT EXISTS FOR (f:Fragment) REQUIRE f.seq IS UNIQUE",
    "CREATE CONSTRAINT fragment_fid IF NOT EXISTS FOR (f:Fragment) REQUIRE f.fid IS UNIQUE",
    "CREATE CONSTRAINT agency_id IF NOT EXISTS FOR (a:Agency) REQUIRE a.id IS UNIQUE",
    "CREATE CONSTRAINT person_key IF NOT EXISTS FOR (p:Person) REQUIRE p.key IS UNIQUE",
    "CREATE CONSTRAINT event_key IF NOT EXISTS FOR (e:Event) REQUIRE e.key IS UNIQUE",
    "CREATE CONSTRAINT place_key IF NOT EXISTS FOR (p:Place) REQUIRE p.key IS UNIQUE",
    "CREATE CONSTRAINT reader_id IF NOT EXISTS FOR (r:Reader) REQUIRE r.id IS UNIQUE",
    "CREATE CONSTRAINT case_id IF NOT EXISTS FOR (c:Case) REQUIRE c.id IS UNIQUE",
    "CREATE CONSTRAINT token_id IF NOT EXISTS FOR (t:Token) REQUIRE t.id IS UNIQUE",
    "CREATE CONSTRAINT token_hash IF NOT EXISTS FOR (t:Token) REQUIRE t.hash IS UNIQUE",
    "CREATE CONSTRAINT share_request_id IF NOT EXISTS FOR (r:ShareRequest) REQUIRE r.id IS UNIQUE",
    "CREATE CONSTRAINT share_decision_id IF NOT EXISTS FOR (d:ShareDecision) REQUIRE d.id IS UNIQUE",
    "CREATE CONSTRAINT resolution_decision_id IF NOT EXISTS FOR (d:ResolutionDecision) REQUIRE d.id IS UNIQUE",
    "CREATE CONSTRAINT audit_seq IF NOT EXISTS FOR (e:AuditEntry) REQUIRE e.seq IS UNIQUE",
    "CREATE CONSTRAINT audit_ref IF NOT EXISTS FOR (r:AuditRef) REQUIRE r.id IS UNIQUE",
    "CREATE CONSTRAINT meta_key IF NOT EXISTS FOR (m:Meta) REQUIRE m.key IS UNIQUE",
    "CREATE INDEX fragment_supersedes IF NOT EXISTS FOR (f:Fragment) ON (f.supersedes)",
    "CREATE INDEX grant_lookup IF NOT EXISTS FOR (g:Grant) ON (g.fragment_id, g.agency)",
    "CREATE INDEX grant_decision IF NOT EXISTS FOR (g:Grant) ON (g.decision_id)",
    "CREATE INDEX audit_actor IF NOT EXISTS FOR (e:AuditEntry) ON (e.actor)",
    "CREATE INDEX audit_action IF NOT EXISTS FOR (e:AuditEntry) ON (e.action)",
    "CREATE INDEX share_request_agency IF NOT EXISTS FOR (r:ShareRequest) ON (r.agency)",
    "CREATE INDEX share_request_holder IF NOT EXISTS FOR (r:ShareRequest) ON (r.holder_agency)",
    # shared meaning
    "CREATE CONSTRAINT acknowledgement_id IF NOT EXISTS FOR (k:Acknowledgement) REQUIRE k.id IS UNIQUE",
    "CREATE CONSTRAINT notice_id IF NOT EXISTS FOR (n:Notice) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT webhook_agency IF NOT EXISTS FOR (w:Webhook) REQUIRE w.agency IS UNIQUE",
    "CREATE CONSTRAINT delivery_id IF NOT EXISTS FOR (d:Delivery) REQUIRE d.id IS UNIQUE",
    "CREATE INDEX acknowledgement_subject IF NOT EXISTS FOR (k:Acknowledgement) ON (k.subject)",
    "CREATE INDEX notice_reader IF NOT EXISTS FOR (n:Notice) ON (n.reader_id)",
    "CREATE INDEX notice_agency IF NOT EXISTS FOR (n:Notice) ON (n.agency)",
    "CREATE INDEX delivery_due IF NOT EXISTS FOR (d:Delivery) ON (d.state, d.next_at)",
    "CREATE INDEX grant_fragment IF NOT EXISTS FOR (g:Grant) ON (g.fragment_id)",
    "CREATE INDEX share_decision_by IF NOT EXISTS FOR (d:ShareDecision) ON (d.decided_by)",
    # resolution review and erasure (statements at the end of this file)
    "CREATE INDEX resolution_decision_undoes IF NOT EXISTS FOR (d:ResolutionDecision) ON (d.undoes)",
    "CREATE INDEX fragment_review_on IF NOT EXISTS FOR (f:Fragment) ON (f.review_on)",
    # the same incident told twice (graph/incidents.py; statements at the end of this file)
    "CREATE CONSTRAINT incident_decision_id IF NOT EXISTS FOR (d:IncidentDecision) REQUIRE d.id IS UNIQUE",
    "CREATE INDEX incident_decision_undoes IF NOT EXISTS FOR (d:IncidentDecision) ON (d.undoes)",
)

ENSURE_META = """
MERGE (j:Meta {key: 'journal'})
  ON CREATE SET j.last_seq = 0, j.decisions = 0, j.pseudonym_key = $pseudonym_key, j.created_at = $at
MERGE (a:Meta {key: 'audit'})
  ON CREATE SET a.last_seq = 0, a.head = $genesis
MERGE (d:Meta {key: 'derived'})
  ON CREATE SET d.done = 0, d.seq = 0, d.decisions = 0, d.erasures = 0
RETURN j.pseudonym_key AS pseudonym_key
"""

# ---------------------------------------------------------------------------- journal

# Taking the journal's lock: every writer sets a property on the one Meta node first, so
# writers from any replica queue here and seqs are allocated without gaps or races.
LOCK_JOURNAL = """
MATCH (j:Meta {key: 'journal'})
SET j.lock = coalesce(j.lock, 0) + 1
RETURN j.last_seq AS last_seq
"""

# erasures: how many erasures were ever made (each replica rebuilds its projection when it
# changes, so erased content leaves every replica's memory; "resolution review and erasure").
# cases: how many cases were ever opened, and the pseudonym key: a replica that sees either
# change works out its case map again, or takes the key, before its next answer.
JOURNAL_HEAD = """
MATCH (j:Meta {key: 'journal'})
RETURN j.last_seq AS last_seq, j.decisions AS decisions, coalesce(j.erasures, 0) AS erasures,
       coalesce(j.cases, 0) AS cases, j.pseudonym_key AS pseudonym_key
"""
SCHEMA["propertyKeys"].append("cases")

EXISTING_FRAGMENTS = """
UNWIND $fids AS wanted
MATCH (f:Fragment {fid: wanted})
RETURN f.fid AS fid, f.hash AS hash, f.seq AS seq, f.superseded_by IS NOT NULL AS superseded
"""

CREATE_FRAGMENTS = """
UNWIND $rows AS row
CREATE (f:Fragment)
SET f = row
WITH f
MERGE (a:Agency {id: f.agency})
CREATE (f)-[:HELD_BY]->(a)
"""

LINK_CORRECTIONS = """
UNWIND $pairs AS pair
MATCH (new:Fragment {seq: pair.seq})
MATCH (old:Fragment {seq: pair.supersedes})
SET old.superseded_by = new.seq, old.current = false
CREATE (new)-[:SUPERSEDES]->(old)
"""

SET_JOURNAL_HEAD = "MATCH (j:Meta {key: 'journal'}) SET j.last_seq = $last_seq"

FRAGMENTS_AFTER = """
MATCH (f:Fragment)
WHERE f.seq > $after
RETURN f.seq AS seq, f.fid AS fid, f.body AS body, f.supersedes AS supersedes
ORDER BY f.seq
LIMIT $limit
"""

FRAGMENT_BODY = "MATCH (f:Fragment {fid: $fid}) RETURN f.body AS body"

FRAGMENT_COUNT = "MATCH (f:Fragment) RETURN count(f) AS n"

FRAGMENT_BODIES = """
UNWIND $seqs AS wanted
MATCH (f:Fragment {seq: wanted})
RETURN f.seq AS seq, f.body AS body
"""

FRAGMENT_TEXT = """
UNWIND $seqs AS wanted
MATCH (f:Fragment {seq: wanted})
RETURN f.seq AS seq, f.fid AS fid, f.record_ref AS record_ref, f.recorded_at AS recorded_at,
       f.shared_at AS shared_at, f.summary AS summary, f.when_text AS when_text
"""

FRAGMENT_BY_PREFIX = """
MATCH (f:Fragment)
WHERE f.fid STARTS WITH $prefix
RETURN f.seq AS seq
LIMIT 2
"""

SEQS_OF_FIDS = """
UNWIND $fids AS wanted
MATCH (f:Fragment {fid: wanted})
RETURN f.fid AS fid, f.seq AS seq, f.agency AS agency, f.body AS body
"""

# ---------------------------------------------------------------------------- access

# The access policy of graph.access.decide, evaluated inside the database for a batch of
# fragments, so that what a reader may not see never leaves it. $on_case holds the seqs of
# fragments that mention a child of a case the reader is a member of (resolved by the
# projection: which mentions are the child is derived, not stored in any one fragment).
_DECIDE = """
UNWIND $seqs AS wanted
MATCH (f:Fragment {seq: wanted})
WITH f,
     f.agency = $agency
       OR EXISTS {
         MATCH (g:Grant {fragment_id: f.fid, agency: $agency, purpose: $purpose})
         WHERE g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > $now)
       } AS own_or_granted,
     (f.seq IN $on_case AND $purpose IN ['safeguarding', 'meeting']) AS on_case
WITH f, own_or_granted, on_case,
     on_case
       AND (f.audience = 'case_team'
            OR (f.audience = 'safeguarding_leads' AND 'designated_safeguarding_lead' IN $roles)
            OR (f.audience = 'named_agencies' AND $agency IN coalesce(f.named_agencies, [])))
       AND all(c IN coalesce(f.needs, []) WHERE c IN $clearances) AS allowed
WITH f,
     CASE
       WHEN NOT $active OR NOT $purpose IN ['safeguarding', 'meeting', 'analysis'] THEN 'absent'
       WHEN own_or_granted OR allowed THEN 'see'
       WHEN on_case AND coalesce(f.existence_visible, true) THEN 'placeholder'
       ELSE 'absent'
     END AS decision
"""

DECIDE = _DECIDE + "RETURN f.seq AS seq, decision"

BODIES_AS_READER = _DECIDE + "WITH f, decision WHERE decision = 'see'\nRETURN f.seq AS seq, f.body AS body"

# ---------------------------------------------------------------------------- derived graph

CLEAR_DERIVED = """
UNWIND $seqs AS s
MATCH (f:Fragment {seq: s})
OPTIONAL MATCH (f)-[:MENTIONS]->(p:Person)
OPTIONAL MATCH (e:Event)-[:RECORDED_IN]->(f)
DETACH DELETE p, e
"""

WRITE_PEOPLE = """
UNWIND $people AS person
MERGE (p:Person {key: person.key})
SET p.names = person.names, p.dobs = person.dobs
WITH p, person
UNWIND person.mentions AS m
MATCH (f:Fragment {seq: m.seq})
MERGE (f)-[r:MENTIONS {idx: m.idx}]->(p)
SET r.role = m.role
"""

WRITE_EVENTS = """
UNWIND $events AS event
MERGE (e:Event {key: event.key})
SET e.kind = event.kind, e.start = event.start, e.end = event.end, e.precision = event.precision
WITH e, event
CALL (e, event) {
  UNWIND event.sources AS s
  MATCH (f:Fragment {seq: s})
  MERGE (e)-[:RECORDED_IN]->(f)
}
CALL (e, event) {
  UNWIND event.people AS part
  MATCH (p:Person {key: part.key})
  MERGE (p)-[r:INVOLVED_IN {role: part.role}]->(e)
}
CALL (e, event) {
  UNWIND event.places AS place
  MERGE (pl:Place {key: place.key})
  SET pl.text = place.text
  MERGE (e)-[:AT]->(pl)
}
"""

# ---------------------------------------------------------------------------- readers, cases, tokens

PUT_READER = """
MERGE (r:Reader {id: $id})
SET r.agency = $agency, r.display_name = $display_name, r.roles = $roles, r.clearances = $clearances,
    r.active = $active, r.updated_at = $at
"""

SET_READER_ACTIVE = """
MATCH (r:Reader {id: $id})
SET r.active = $active, r.updated_at = $at
RETURN r.id AS id
"""

GET_READER = """
MATCH (r:Reader {id: $id})
OPTIONAL MATCH (r)-[:MEMBER_OF]->(c:Case)
RETURN r.id AS id, r.agency AS agency, r.roles AS roles, r.clearances AS clearances, r.active AS active,
       r.display_name AS display_name, collect(c.id) AS cases
"""

LIST_READERS = """
MATCH (r:Reader)
OPTIONAL MATCH (r)-[:MEMBER_OF]->(c:Case)
WITH r, collect(c.id) AS cases
RETURN r.id AS id, r.agency AS agency, r.roles AS roles, r.clearances AS clearances, r.active AS active,
       r.display_name AS display_name, cases
ORDER BY r.id
"""

OPEN_CASE = """
OPTIONAL MATCH (existing:Case {id: $id})
WITH existing
WHERE existing IS NULL
CREATE (c:Case {id: $id, fragment_id: $fragment_id, mention: $mention, opened_at: $at, opened_by: $by})
WITH c
MATCH (j:Meta {key: 'journal'})
SET j.cases = coalesce(j.cases, 0) + 1
RETURN c.id AS id
"""

CASES = "MATCH (c:Case) RETURN c.id AS id, c.fragment_id AS fragment_id, c.mention AS mention"

ADD_MEMBER = """
MATCH (r:Reader {id: $reader_id})
MATCH (c:Case {id: $case_id})
MERGE (r)-[:MEMBER_OF]->(c)
RETURN r.id AS id
"""

REMOVE_MEMBER = """
MATCH (r:Reader {id: $reader_id})
MATCH (c:Case {id: $case_id})
OPTIONAL MATCH (r)-[m:MEMBER_OF]->(c)
DELETE m
RETURN r.id AS id
"""

ISSUE_TOKEN = """
MATCH (r:Reader {id: $reader_id})
CREATE (t:Token {id: $id, reader_id: $reader_id, hash: $hash, created_at: $at, expires_at: $expires_at})
RETURN t.id AS id
"""

REVOKE_TOKEN = """
MATCH (t:Token {id: $id})
SET t.revoked_at = coalesce(t.revoked_at, $at)
RETURN t.reader_id AS reader_id
"""

LIST_TOKENS = """
MATCH (t:Token)
WHERE $reader_id IS NULL OR t.reader_id = $reader_id
RETURN t.id AS id, t.reader_id AS reader_id, t.created_at AS created_at, t.expires_at AS expires_at,
       t.revoked_at AS revoked_at
ORDER BY t.created_at, t.id
"""

READER_FOR_TOKEN = """
MATCH (t:Token {hash: $hash})
WHERE t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $now)
MATCH (r:Reader {id: t.reader_id})
WHERE r.active
RETURN r.id AS id
"""

# ---------------------------------------------------------------------------- share decisions

CREATE_REQUEST = """
CREATE (r:ShareRequest {id: $id, at: $at, requester: $requester, agency: $agency, holder_agency: $holder_agency,
                        person_id: $person_id, purpose: $purpose, need: $need, urgency: $urgency})
"""

GET_REQUEST = """
MATCH (r:ShareRequest {id: $id})
RETURN r.id AS id, r.at AS at, r.requester AS requester, r.agency AS agency, r.holder_agency AS holder_agency,
       r.person_id AS person_id, r.purpose AS purpose, r.need AS need, r.urgency AS urgency
"""

REQUESTS_FOR = """
MATCH (r:ShareRequest)
WHERE r.agency = $agency OR r.holder_agency = $agency
RETURN r.id AS id, r.at AS at, r.requester AS requester, r.agency AS agency, r.holder_agency AS holder_agency,
       r.person_id AS person_id, r.purpose AS purpose, r.need AS need, r.urgency AS urgency
ORDER BY r.at, r.id
"""

DECISION_REQUEST = "MATCH (d:ShareDecision {id: $id}) RETURN d.request_id AS request_id"

REVOKE_GRANTS = """
MATCH (g:Grant {decision_id: $decision_id})
WHERE g.revoked_at IS NULL
SET g.revoked_at = $at
"""

CREATE_DECISION = """
CREATE (d:ShareDecision)
SET d = $decision
WITH d
UNWIND $grants AS grant
CREATE (g:Grant)
SET g = grant
"""

SHARE_DECISIONS = """
MATCH (d:ShareDecision)
WHERE $request_id IS NULL OR d.request_id = $request_id
RETURN d {.*} AS decision
ORDER BY d.at, d.id
"""


# ---------------------------------------------------------------------------- resolution decisions

ADD_RESOLUTION_DECISION = """
MATCH (j:Meta {key: 'journal'})
SET j.decisions = j.decisions + 1
CREATE (d:ResolutionDecision {id: j.decisions, kind: $kind, a_fid: $a_fid, a_idx: $a_idx, b_fid: $b_fid,
                              b_idx: $b_idx, reason: $reason, by: $by, at: $at, undoes: $undoes,
                              evidence: $evidence})
RETURN d.id AS id
"""

RESOLUTION_DECISIONS = """
MATCH (d:ResolutionDecision)
RETURN d.id AS id, d.kind AS kind, d.a_fid AS a_fid, d.a_idx AS a_idx, d.b_fid AS b_fid, d.b_idx AS b_idx,
       d.reason AS reason, d.by AS by, d.at AS at, d.undoes AS undoes, d.evidence AS evidence
ORDER BY d.id
"""

# ---------------------------------------------------------------------------- audit

LOCK_AUDIT = """
MATCH (a:Meta {key: 'audit'})
SET a.lock = coalesce(a.lock, 0) + 1
RETURN a.last_seq AS last_seq, a.head AS head
"""

APPEND_AUDIT = """
MATCH (a:Meta {key: 'audit'})
SET a.last_seq = $seq, a.head = $hash
CREATE (e:AuditEntry {seq: $seq, at: $at, actor: $actor, action: $action, purpose: $purpose, detail: $detail,
                      prev_hash: $prev_hash, hash: $hash})
WITH e
UNWIND $refs AS ref
MERGE (r:AuditRef {id: ref})
CREATE (e)-[:CONCERNS]->(r)
"""

_ENTRY = """
RETURN e.seq AS seq, e.at AS at, e.actor AS actor, e.action AS action, e.purpose AS purpose, e.detail AS detail,
       e.prev_hash AS prev_hash, e.hash AS hash
ORDER BY e.seq
"""

AUDIT_ENTRIES = (
    """
MATCH (e:AuditEntry)
WHERE e.seq > $after_seq
  AND ($actor IS NULL OR e.actor = $actor)
  AND ($actions IS NULL OR e.action IN $actions)
  AND ($since IS NULL OR e.at >= $since)
  AND ($until IS NULL OR e.at < $until)
"""
    + _ENTRY
    + "LIMIT $limit"
)

AUDIT_CONCERNING = (
    """
MATCH (r:AuditRef)
WHERE r.id IN $ids
MATCH (e:AuditEntry)-[:CONCERNS]->(r)
WHERE e.action IN $actions
WITH DISTINCT e
"""
    + _ENTRY
)

AUDIT_BY_ACTIONS = (
    """
MATCH (e:AuditEntry)
WHERE e.action IN $actions
"""
    + _ENTRY
)

AUDIT_CHAIN = (
    """
MATCH (e:AuditEntry)
WHERE e.seq > $after_seq
"""
    + _ENTRY
    + "LIMIT $limit"
)

# ---------------------------------------------------------------------------- moving between backends

SET_PSEUDONYM_KEY = "MATCH (j:Meta {key: 'journal'}) SET j.pseudonym_key = $pseudonym_key"

ALL_REQUESTS = """
MATCH (r:ShareRequest)
RETURN r.id AS id, r.at AS at, r.requester AS requester, r.agency AS agency, r.holder_agency AS holder_agency,
       r.person_id AS person_id, r.purpose AS purpose, r.need AS need, r.urgency AS urgency
ORDER BY r.at, r.id
"""

RESTORE_SHARES = """
UNWIND $requests AS request
CREATE (r:ShareRequest)
SET r = request
WITH count(*) AS done
UNWIND $decisions AS decision
CREATE (d:ShareDecision)
SET d = decision
WITH count(*) AS done
UNWIND $grants AS grant
CREATE (g:Grant)
SET g = grant
"""


def statements() -> dict[str, str]:
    """Every statement above by its name (for the parser check)."""
    out = {n: v for n, v in globals().items() if n.isupper() and not n.startswith("_") and isinstance(v, str)}
    out.update({f"CONSTRAINTS[{i}]": s for i, s in enumerate(CONSTRAINTS)})
    return out


# ---------------------------------------------------------------------------- shared meaning
# Read-and-understood, correction notices and their webhook outbox (graph.meaning decides;
# these only store and find). Notices are written by ``append``, inside its transaction.

CREATE_ACKNOWLEDGEMENT = """
CREATE (:Acknowledgement {id: $id, subject: $subject, subject_kind: $subject_kind, reader_id: $reader_id,
                          agency: $agency, kind: $kind, text: $text, at: $at})
"""

ACKNOWLEDGEMENTS = """
UNWIND $subjects AS wanted
MATCH (k:Acknowledgement {subject: wanted})
RETURN k.id AS id, k.subject AS subject, k.subject_kind AS subject_kind, k.reader_id AS reader_id,
       k.agency AS agency, k.kind AS kind, k.text AS text, k.at AS at
ORDER BY at, id
"""

# The agency a share decision answered (the agency that asked), or no row.
DECISION_AGENCY = """
MATCH (d:ShareDecision {id: $id})
MATCH (r:ShareRequest {id: d.request_id})
RETURN r.agency AS agency
"""

# What $agency sent that other agencies received: each of its current fragments with the
# agencies whose readers the audit records reading it ($actions: the read and disclosure
# actions) or that a share decision released it to (revoked or not: they received it).
OUTSTANDING_FRAGMENTS = """
MATCH (:Agency {id: $agency})<-[:HELD_BY]-(f:Fragment)
WHERE f.superseded_by IS NULL
CALL (f) {
  MATCH (:AuditRef {id: f.fid})<-[:CONCERNS]-(e:AuditEntry)
  WHERE e.action IN $actions
  MATCH (r:Reader {id: e.actor})
  RETURN r.agency AS to_agency
  UNION
  MATCH (g:Grant {fragment_id: f.fid})
  RETURN g.agency AS to_agency
}
WITH f, to_agency
WHERE to_agency <> $agency
RETURN f.fid AS fid, f.body AS body, collect(DISTINCT to_agency) AS agencies
"""

# The share decisions readers of $agency made, with the agency each answered.
OUTSTANDING_DECISIONS = """
MATCH (r:Reader {agency: $agency})
MATCH (d:ShareDecision {decided_by: r.id})
MATCH (q:ShareRequest {id: d.request_id})
RETURN d.id AS id, q.agency AS to_agency
"""

# A fragment version and every earlier one, newest first (a correction's notices name the
# first of these, and go to whoever saw any of them).
EARLIER_VERSIONS = """
MATCH path = (:Fragment {seq: $seq})-[:SUPERSEDES*0..]->(e:Fragment)
RETURN e.fid AS fid
ORDER BY length(path)
"""

# Readers the audit records reading or being disclosed any of $fids.
READERS_WHO_SAW = """
MATCH (ref:AuditRef)
WHERE ref.id IN $fids
MATCH (e:AuditEntry)-[:CONCERNS]->(ref)
WHERE e.action IN $actions
MATCH (r:Reader {id: e.actor})
RETURN DISTINCT r.id AS reader_id, r.agency AS agency
"""

AGENCIES_RELEASED_TO = """
UNWIND $fids AS wanted
MATCH (g:Grant {fragment_id: wanted})
RETURN DISTINCT g.agency AS agency
"""

ACTIVE_WEBHOOKS = """
MATCH (w:Webhook)
WHERE w.agency IN $agencies AND w.active
RETURN w.agency AS agency
"""

CREATE_NOTICES = """
UNWIND $notices AS notice
CREATE (n:Notice)
SET n = notice
WITH count(*) AS done
UNWIND $deliveries AS delivery
CREATE (d:Delivery)
SET d = delivery
"""

# A reader's notices: their own, and their agency's (from shares), each with when this
# reader marked it read.
NOTICES_FOR = """
CALL () {
  MATCH (n:Notice {reader_id: $reader_id})
  RETURN n
  UNION
  MATCH (n:Notice {agency: $agency})
  WHERE n.reader_id IS NULL
  RETURN n
}
OPTIONAL MATCH (:Reader {id: $reader_id})-[m:MARKED_READ]->(n)
WITH n, min(m.at) AS read_at
RETURN n.id AS id, n.at AS at, n.kind AS kind, n.fragment_id AS fragment_id, n.correction_id AS correction_id,
       n.by_agency AS by_agency, n.reader_id AS reader_id, n.agency AS agency, n.why AS why, read_at
ORDER BY at DESC, id
LIMIT $limit
"""

MARK_NOTICE_READ = """
MATCH (n:Notice {id: $id})
WHERE n.reader_id = $reader_id OR (n.reader_id IS NULL AND n.agency = $agency)
MATCH (r:Reader {id: $reader_id})
MERGE (r)-[m:MARKED_READ]->(n)
  ON CREATE SET m.at = $at
RETURN n.id AS id
"""

PUT_WEBHOOK = """
MERGE (w:Webhook {agency: $agency})
SET w.url = $url, w.secret = $secret, w.active = $active, w.updated_at = $at
"""

WEBHOOKS = """
MATCH (w:Webhook)
RETURN w.agency AS agency, w.url AS url, w.active AS active, w.updated_at AS updated_at
ORDER BY agency
"""

# Claiming due deliveries, in one statement: take the outbox's lock first (claimers from
# every replica queue on the one Meta node, so no two see the same delivery as due), then
# move each claimed delivery's next attempt on by the lease.
CLAIM_DELIVERIES = """
MERGE (m:Meta {key: 'outbox'})
SET m.lock = coalesce(m.lock, 0) + 1
WITH m
MATCH (d:Delivery {state: 'pending'})
WHERE d.next_at <= $now
MATCH (w:Webhook {agency: d.agency})
WHERE w.active
WITH d, w
ORDER BY d.next_at, d.id
LIMIT $limit
SET d.next_at = $lease
RETURN d.id AS id, d.agency AS agency, w.url AS url, w.secret AS secret, d.created_at AS created_at,
       d.kind AS kind, d.fragment_id AS fragment_id, d.by_agency AS by_agency, d.attempts AS attempts
"""

# Locks one delivery (its attempt is recorded in the same transaction).
LOCK_DELIVERY = """
MATCH (d:Delivery {id: $id})
SET d.lock = coalesce(d.lock, 0) + 1
RETURN d.attempts AS attempts, d.agency AS agency
"""

RECORD_DELIVERY = """
MATCH (d:Delivery {id: $id})
SET d.state = $state, d.attempts = $attempts, d.next_at = coalesce($next_at, d.next_at),
    d.last_error = $last_error, d.delivered_at = coalesce($delivered_at, d.delivered_at)
"""

WEBHOOK_OUTBOX = """
MATCH (d:Delivery)
WHERE $agency IS NULL OR d.agency = $agency
RETURN d.id AS id, d.agency AS agency, d.created_at AS created_at, d.kind AS kind, d.state AS state,
       d.attempts AS attempts, d.next_at AS next_at, d.last_error AS last_error, d.delivered_at AS delivered_at
ORDER BY created_at, id
"""


# ---------------------------------------------------------------------------- moving stores
# The audit log (verbatim, with its checkpoints), token hashes and shared meaning, out of
# one store and into an empty one (graph.moving, graph.transfer). Restores are refused by
# the backend when the counts below are not zero.

SCHEMA["labels"] += ["AuditCheckpoint"]
SCHEMA["propertyKeys"] += ["key_id", "public_key", "signature"]

AUDIT_COUNT = "MATCH (e:AuditEntry) RETURN count(e) AS n"

# One batch of copied entries (seq order), each with the ids it concerns ($entries[].refs).
RESTORE_AUDIT = """
UNWIND $entries AS entry
CREATE (e:AuditEntry {seq: entry.seq, at: entry.at, actor: entry.actor, action: entry.action, purpose: entry.purpose,
                      detail: entry.detail, prev_hash: entry.prev_hash, hash: entry.hash})
WITH e, entry
UNWIND entry.refs AS ref
MERGE (r:AuditRef {id: ref})
CREATE (e)-[:CONCERNS]->(r)
"""

# The chain head after a restore: the next entry follows the copied ones.
SET_AUDIT_HEAD = "MATCH (a:Meta {key: 'audit'}) SET a.last_seq = $last_seq, a.head = $head"

AUDIT_CHECKPOINTS = """
MATCH (c:AuditCheckpoint)
RETURN c.seq AS seq, c.at AS at, c.hash AS hash, c.key_id AS key_id, c.public_key AS public_key,
       c.signature AS signature
ORDER BY seq
"""

RESTORE_AUDIT_CHECKPOINTS = """
UNWIND $checkpoints AS checkpoint
CREATE (c:AuditCheckpoint)
SET c = checkpoint
"""

TOKEN_COUNT = "MATCH (t:Token) RETURN count(t) AS n"

ALL_TOKENS = """
MATCH (t:Token)
RETURN t.id AS id, t.reader_id AS reader_id, t.hash AS hash, t.created_at AS created_at, t.expires_at AS expires_at,
       t.revoked_at AS revoked_at
ORDER BY created_at, id
"""

# Only tokens whose reader is here are created; the backend compares the count.
RESTORE_TOKENS = """
UNWIND $tokens AS token
MATCH (r:Reader {id: token.reader_id})
CREATE (t:Token)
SET t = token
RETURN count(t) AS n
"""

MEANING_COUNTS = """
CALL () { MATCH (k:Acknowledgement) RETURN count(k) AS acknowledgements }
CALL () { MATCH (n:Notice) RETURN count(n) AS notices }
CALL () { MATCH (:Reader)-[m:MARKED_READ]->(:Notice) RETURN count(m) AS reads }
CALL () { MATCH (w:Webhook) RETURN count(w) AS webhooks }
CALL () { MATCH (d:Delivery) RETURN count(d) AS deliveries }
RETURN acknowledgements, notices, reads, webhooks, deliveries
"""

ALL_ACKNOWLEDGEMENTS = """
MATCH (k:Acknowledgement)
RETURN k.id AS id, k.subject AS subject, k.subject_kind AS subject_kind, k.reader_id AS reader_id,
       k.agency AS agency, k.kind AS kind, k.text AS text, k.at AS at
ORDER BY at, id
"""

ALL_NOTICES = """
MATCH (n:Notice)
RETURN n.id AS id, n.at AS at, n.kind AS kind, n.fragment_id AS fragment_id, n.correction_id AS correction_id,
       n.by_agency AS by_agency, n.reader_id AS reader_id, n.agency AS agency, n.why AS why
ORDER BY at, id
"""

ALL_NOTICE_READS = """
MATCH (r:Reader)-[m:MARKED_READ]->(n:Notice)
RETURN n.id AS notice_id, r.id AS reader_id, m.at AS at
ORDER BY at, notice_id, reader_id
"""

# Webhooks with their signing secrets: only for moving a store.
ALL_WEBHOOKS = """
MATCH (w:Webhook)
RETURN w.agency AS agency, w.url AS url, w.secret AS secret, w.active AS active, w.updated_at AS updated_at
ORDER BY agency
"""

ALL_DELIVERIES = """
MATCH (d:Delivery)
RETURN d.id AS id, d.agency AS agency, d.created_at AS created_at, d.kind AS kind, d.fragment_id AS fragment_id,
       d.by_agency AS by_agency, d.state AS state, d.attempts AS attempts, d.next_at AS next_at,
       d.last_error AS last_error, d.delivered_at AS delivered_at
ORDER BY created_at, id
"""

RESTORE_MEANING = """
UNWIND $acknowledgements AS acknowledgement
CREATE (k:Acknowledgement)
SET k = acknowledgement
WITH count(*) AS done
UNWIND $notices AS notice
CREATE (n:Notice)
SET n = notice
WITH count(*) AS done
UNWIND $webhooks AS webhook
CREATE (w:Webhook)
SET w = webhook
WITH count(*) AS done
UNWIND $deliveries AS delivery
CREATE (d:Delivery)
SET d = delivery
"""

# Read marks, after the notices: only marks whose reader and notice are here are made;
# the backend compares the count.
RESTORE_NOTICE_READS = """
UNWIND $reads AS mark
MATCH (r:Reader {id: mark.reader_id})
MATCH (n:Notice {id: mark.notice_id})
CREATE (r)-[m:MARKED_READ]->(n)
SET m.at = mark.at
RETURN count(m) AS n
"""


# ---------------------------------------------------------------------------- resolution review and erasure
# Reviewers' decisions are (:ResolutionDecision) nodes (ADD_RESOLUTION_DECISION above numbers
# them on the journal's Meta node); graph.resolution decides what may be decided and undone.
# Retention: each Fragment carries ``retention_class`` and ``review_on`` (graph.retention),
# and ``erased_at`` once erased. An erasure replaces every version's body with its
# tombstone, deletes the derived nodes that came from the content, counts itself on the
# journal's Meta node (``erasures``: every replica rebuilds when it moves) and is audited,
# all in one transaction.

SCHEMA["propertyKeys"].extend(["retention_class", "review_on", "erased_at", "erasures"])

# One decision, and whether an undo names it (read after LOCK_JOURNAL, so two reviewers
# cannot both undo it).
RESOLUTION_DECISION = """
MATCH (d:ResolutionDecision {id: $id})
RETURN d.id AS id, d.kind AS kind, d.a_fid AS a_fid, d.a_idx AS a_idx, d.b_fid AS b_fid, d.b_idx AS b_idx,
       d.reason AS reason, d.by AS by, d.at AS at, d.undoes AS undoes, d.evidence AS evidence,
       EXISTS { MATCH (u:ResolutionDecision) WHERE u.undoes = $id } AS undone
"""

# Every version of the record a fragment id belongs to: earlier and later, oldest first.
ERASURE_VERSIONS = """
MATCH (:Fragment {fid: $fid})-[:SUPERSEDES*0..]-(v:Fragment)
WITH DISTINCT v
RETURN v.seq AS seq, v.fid AS fid, v.body AS body
ORDER BY seq
"""

# The derived nodes that came from these fragments' content: the people they mention and
# the events recorded in them (rewritten from the journal for the records that remain just
# after), and places no remaining event is at.
ERASE_DERIVED = """
UNWIND $seqs AS s
MATCH (f:Fragment {seq: s})
OPTIONAL MATCH (f)-[:MENTIONS]->(p:Person)
OPTIONAL MATCH (e:Event)-[:RECORDED_IN]->(f)
OPTIONAL MATCH (e)-[:AT]->(pl:Place)
WITH collect(DISTINCT p) AS people, collect(DISTINCT e) AS events, collect(DISTINCT pl) AS places
FOREACH (x IN people | DETACH DELETE x)
FOREACH (x IN events | DETACH DELETE x)
WITH places
UNWIND places AS pl
WITH pl
WHERE NOT EXISTS { MATCH (pl)<-[:AT]-(:Event) }
DELETE pl
"""

# Each version's body becomes its tombstone (the hash stays: a resend is a duplicate, not
# restored); what access is decided on is the tombstone's; the words kept for the
# chronology go.
ERASE_FRAGMENTS = """
UNWIND $rows AS row
MATCH (f:Fragment {seq: row.seq})
SET f.body = row.body, f.audience = row.audience, f.named_agencies = row.named_agencies, f.needs = row.needs,
    f.existence_visible = row.existence_visible, f.erased_at = row.erased_at,
    f.retention_class = coalesce(f.retention_class, 'erased'), f.review_on = coalesce(f.review_on, '')
REMOVE f.summary, f.when_text, f.facts, f.facts_version
"""

COUNT_ERASURE = """
MATCH (j:Meta {key: 'journal'})
SET j.erasures = coalesce(j.erasures, 0) + 1
RETURN j.erasures AS erasures
"""

RETENTION_DUE = """
MATCH (f:Fragment)
WHERE f.review_on <= $on AND f.erased_at IS NULL AND f.retention_class <> 'erased'
RETURN f.fid AS fid, f.agency AS agency, f.retention_class AS retention_class, f.review_on AS review_on,
       f.seq AS seq
ORDER BY review_on, seq
LIMIT $limit
"""

# Fragments with no review date: loaded by neo4j-admin from export-csv, or written before
# review dates were kept on Neo4j. Classified by graph.retention before the due list is read.
UNCLASSIFIED_FRAGMENTS = """
MATCH (f:Fragment)
WHERE f.review_on IS NULL
RETURN f.seq AS seq, f.body AS body
ORDER BY seq
LIMIT $limit
"""

CLASSIFY_FRAGMENTS = """
UNWIND $rows AS row
MATCH (f:Fragment {seq: row.seq})
WHERE f.review_on IS NULL
SET f.retention_class = row.retention_class, f.review_on = row.review_on
"""


# ------------------------------------------------------------------------- derived graph behind the journal
# An append commits the journal (and its audit entry and notices) and is acknowledged; the
# derived graph is written behind it by whichever replica's projector gets there first
# (``Neo4jStore.write_derived``). The 'derived' Meta node says how far it is written
# (done: every fragment up to that seq has had its people and events written) and from
# which journal state the last derived write was computed (seq, decisions, erasures): a
# write worked out from an older state than one already written is refused and worked
# out again, so a slow replica never puts back what a newer one replaced.

SCHEMA["propertyKeys"].append("done")

DERIVED_DONE = "MATCH (d:Meta {key: 'derived'}) RETURN d.done AS done"

LOCK_DERIVED = """
MATCH (d:Meta {key: 'derived'})
SET d.lock = coalesce(d.lock, 0) + 1
RETURN d.done AS done, d.seq AS seq, d.decisions AS decisions, d.erasures AS erasures
"""

SET_DERIVED = """
MATCH (d:Meta {key: 'derived'})
SET d.done = $done, d.seq = $seq, d.decisions = $decisions, d.erasures = $erasures
"""

# Inside a resolution decision's or an erasure's own transaction: derived writes worked
# out before it are refused from now on (above all, one from a projection that still
# holds an erased record must never write its people back).
REFUSE_OLDER_DERIVED = """
MATCH (j:Meta {key: 'journal'})
MATCH (d:Meta {key: 'derived'})
SET d.decisions = j.decisions, d.erasures = coalesce(j.erasures, 0)
"""


# ------------------------------------------------------------------------- pattern facts kept on Neo4j
# What the pattern library reads of each fragment (graph.patterns.facts.fact_of, about
# 225 bytes, no names or narratives), kept on its :Fragment node by scans so that every
# replica's first scan need not read and parse every body again. A cache: facts of
# another format ($version) are not read; erasure removes them (ERASE_FRAGMENTS); a
# fragment erased meanwhile is not given any. Facts are a function of the body, so
# replicas keeping the same fragment's facts at once write the same thing.
SCHEMA["propertyKeys"] += ["facts", "facts_version"]

KEPT_FACTS_AFTER = """
MATCH (f:Fragment)
WHERE f.seq > $after AND f.facts_version = $version
RETURN f.seq AS seq, f.facts AS facts
ORDER BY seq
LIMIT $limit
"""

KEPT_FACTS = """
UNWIND $seqs AS wanted
MATCH (f:Fragment {seq: wanted})
WHERE f.facts_version = $version
RETURN f.seq AS seq, f.facts AS facts
"""

KEEP_FACTS = """
UNWIND $rows AS row
MATCH (f:Fragment {seq: row.seq})
WHERE f.erased_at IS NULL
SET f.facts = row.facts, f.facts_version = $version
"""


# ---------------------------------------------------------------------------- incident decisions
# Reviewers' decisions that two records are one incident or two (graph/incidents.py) are
# (:IncidentDecision) nodes, numbered on the journal's Meta node with the resolution
# decisions (``decisions``), so that every replica notices one and applies it.

ADD_INCIDENT_DECISION = """
MATCH (j:Meta {key: 'journal'})
SET j.decisions = j.decisions + 1
CREATE (d:IncidentDecision {id: j.decisions, kind: $kind, a_fid: $a_fid, b_fid: $b_fid, reason: $reason,
                            by: $by, at: $at, undoes: $undoes})
RETURN d.id AS id
"""

INCIDENT_DECISIONS = """
MATCH (d:IncidentDecision)
RETURN d.id AS id, d.kind AS kind, d.a_fid AS a_fid, d.b_fid AS b_fid, d.reason AS reason, d.by AS by,
       d.at AS at, d.undoes AS undoes
ORDER BY d.id
"""

# One decision, and whether an undo names it (read after LOCK_JOURNAL).
INCIDENT_DECISION = """
MATCH (d:IncidentDecision {id: $id})
RETURN d.id AS id, d.kind AS kind, d.a_fid AS a_fid, d.b_fid AS b_fid, d.reason AS reason, d.by AS by,
       d.at AS at, d.undoes AS undoes,
       EXISTS { MATCH (u:IncidentDecision) WHERE u.undoes = $id } AS undone
"""
