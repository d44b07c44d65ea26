"""Who may see what: the one decision every read path asks.

``decide(reader, purpose, fragment, cases, granted)`` is the whole access policy for
fragment content. Everything a reader is shown is derived from the fragments this
function lets them see (``graph.view``): a person, event, edge or single value shows iff
a fragment the reader may see supports it. The policy is pure (no store, no clock; the
caller passes what it knows) so that it can be read in one sitting, tested exhaustively,
and applied the same way by every backend.

The rules, in order:

1. An inactive (revoked) reader sees nothing.
2. A reader always sees their own agency's fragments (their agency holds them already),
   for any purpose but administration or audit.
3. A share decision that released this fragment to the reader's agency, for the purpose
   the reader declares and not yet expired or revoked, lets them see it. The decision
   maker weighed the special-category condition when deciding (golden rule 7), so a
   grant stands in for the clearance.
4. Otherwise content is only for working on a child's case: the purpose must be
   ``safeguarding`` or ``meeting``, and the marking's audience decides:
   ``case_team`` — the reader is a member of the case of a child the fragment mentions;
   ``safeguarding_leads`` — that, and the reader is a designated safeguarding lead;
   ``named_agencies`` — that, and the reader's agency is named;
   ``originating_agency`` — nobody else.
   Special-category content then needs the matching clearance: criminal-offence data
   needs ``criminal_offence``, health and the other Article 9 categories need
   ``special_category``.
5. What a reader may not see is a placeholder ("a record held by ...; ask ...") when the
   fragment's marking lets its existence be known and the reader is on the child's case;
   otherwise it is absent, and nothing downstream may betray it.

Identity protection is separate: a person mention marked identity-protected shows its
identifying details only to the originating agency and readers cleared for protected
identities (``may_see_identity``); everyone else sees "Referrer (identity protected)".

>>> sw = Reader("sw1", "northshire-csws", frozenset({Role.social_worker}), frozenset({"C1"}))
>>> health = FragmentAccess("northshire-health", "case_team", frozenset(), frozenset({"health"}), True)
>>> decide(sw, Purpose.safeguarding, health, frozenset({"C1"}), granted=False)
<Decision.placeholder: 'placeholder'>
>>> cleared = Reader("sw2", "northshire-csws", sw.roles, sw.cases, frozenset({Clearance.special_category}))
>>> decide(cleared, Purpose.safeguarding, health, frozenset({"C1"}), granted=False)
<Decision.see: 'see'>
>>> decide(cleared, Purpose.safeguarding, health, frozenset({"C2"}), granted=False)
<Decision.absent: 'absent'>
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    practitioner = "practitioner"
    designated_safeguarding_lead = "designated_safeguarding_lead"
    social_worker = "social_worker"
    mash_worker = "mash_worker"
    police_officer = "police_officer"
    health_professional = "health_professional"
    analyst = "analyst"
    meeting_chair = "meeting_chair"
    data_protection_officer = "data_protection_officer"
    administrator = "administrator"


class Clearance(StrEnum):
    special_category = "special_category"  # health and the other Article 9 categories
    criminal_offence = "criminal_offence"
    protected_identities = "protected_identities"


class Purpose(StrEnum):
    """Why a reader is asking. Declared on every request and written to the audit."""

    safeguarding = "safeguarding"  # working on a child's case: enquiries, assessment, plans
    meeting = "meeting"  # a multi-agency meeting: strategy discussion, conference
    analysis = "analysis"  # looking for patterns across cases
    audit = "audit"  # the data protection officer answering who saw what
    administration = "administration"  # readers, cases and tokens; no case content


class Decision(StrEnum):
    see = "see"
    placeholder = "placeholder"
    absent = "absent"


CASE_PURPOSES = frozenset({Purpose.safeguarding, Purpose.meeting})
CONTENT_PURPOSES = frozenset({Purpose.safeguarding, Purpose.meeting, Purpose.analysis})
CRIMINAL = "criminal_offence"


@dataclass(frozen=True, slots=True)
class Reader:
    """A principal: who they are, where they work, what they do, and which cases."""

    id: str
    agency: str
    roles: frozenset[Role] = frozenset()
    cases: frozenset[str] = frozenset()
    clearances: frozenset[Clearance] = frozenset()
    active: bool = True
    display_name: str = ""

    def has(self, role: Role) -> bool:
        return role in self.roles


@dataclass(frozen=True, slots=True)
class FragmentAccess:
    """What the policy needs to know about one fragment: its origin and its markings."""

    agency: str
    audience: str
    named_agencies: frozenset[str]
    special: frozenset[str]
    existence_visible: bool
    protected_mentions: tuple[int, ...] = field(default=())
    # handling instructions every reader must see: do_not_tell_family, share_with_conditions
    handling: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, doc: dict[str, Any]) -> FragmentAccess:
        """Read the markings of a canonical fragment document."""
        markings = doc.get("markings") or {}
        sharing = doc.get("sharing") or {}
        return cls(
            agency=doc["agency"]["id"],
            audience=markings.get("audience", "case_team"),
            named_agencies=frozenset(markings.get("agencies", ())),
            special=frozenset(sharing.get("special_category", ())),
            existence_visible=bool(markings.get("existence_visible", True)),
            protected_mentions=tuple(i for i, m in enumerate(doc.get("people", ())) if m.get("identity_protected")),
            handling=tuple(sorted(markings.get("handling", ()))),
        )


def needed_clearances(special: Iterable[str]) -> frozenset[Clearance]:
    """The clearances special-category content asks for.

    >>> sorted(needed_clearances(["health", "criminal_offence"]))
    [<Clearance.criminal_offence: 'criminal_offence'>, <Clearance.special_category: 'special_category'>]
    """
    out = set()
    for cat in special:
        out.add(Clearance.criminal_offence if cat == CRIMINAL else Clearance.special_category)
    return frozenset(out)


def decide(
    reader: Reader,
    purpose: Purpose,
    fragment: FragmentAccess,
    cases: frozenset[str],
    *,
    granted: bool,
) -> Decision:
    """May ``reader``, for ``purpose``, see this fragment?

    ``cases`` are the cases of the children the fragment mentions; ``granted`` says a
    live share decision released it to the reader's agency for this purpose.
    """
    if not reader.active or purpose not in CONTENT_PURPOSES:
        return Decision.absent
    if reader.agency == fragment.agency:
        return Decision.see
    if granted:
        return Decision.see
    on_case = bool(reader.cases & cases) and purpose in CASE_PURPOSES
    if not on_case:
        return Decision.absent
    audience = fragment.audience
    if audience == "case_team":
        allowed = True
    elif audience == "safeguarding_leads":
        allowed = reader.has(Role.designated_safeguarding_lead)
    elif audience == "named_agencies":
        allowed = reader.agency in fragment.named_agencies
    else:  # originating_agency, or anything this version does not know: the narrower reading
        allowed = False
    if allowed and needed_clearances(fragment.special) <= reader.clearances:
        return Decision.see
    return Decision.placeholder if fragment.existence_visible else Decision.absent


def may_see_identity(reader: Reader, fragment: FragmentAccess) -> bool:
    """May this reader see who an identity-protected person in this fragment is?"""
    return reader.active and (reader.agency == fragment.agency or Clearance.protected_identities in reader.clearances)


PROTECTED_LABEL = "identity protected"


def redact_protected(doc: dict[str, Any], indexes: Iterable[int], pseudonym: str) -> dict[str, Any]:
    """A copy of ``doc`` in which the given mentions carry nothing that identifies them.

    The mention keeps its role and its place in the fragment's relationships; its name,
    date of birth, identifiers, addresses and description are replaced by a label, so it
    neither shows nor joins anyone through evidence the reader may not see.

    >>> d = {"people": [{"ref": "r", "role": "referrer", "name": {"full": "A Person"}, "dob": "1980-01-01"}]}
    >>> redact_protected(d, [0], "R-1A2B")["people"][0]
    {'ref': 'r', 'role': 'referrer', 'description': 'Referrer (identity protected) R-1A2B', 'identity_protected': True}
    """
    idx = set(indexes)
    if not idx:
        return doc
    people = []
    for i, m in enumerate(doc.get("people", ())):
        if i in idx:
            role = str(m.get("role", "person")).replace("_", " ")
            m = {
                "ref": m["ref"],
                "role": m["role"],
                "description": f"{role.capitalize()} ({PROTECTED_LABEL}) {pseudonym}",
                "identity_protected": True,
            }
        people.append(m)
    return {**doc, "people": people}
