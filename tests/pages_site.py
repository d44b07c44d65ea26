"""The meeting view's test site: the demo store, two planted records, the real app over HTTP.

Two records are added to the demo (the Walsh family) so that there is something a school
reader must not see and a social worker must:

- a Northshire social care note kept to its own agency (audience ``originating_agency``)
  whose summary carries ``ZQXSWONLY``: the school DSL may know it exists (a placeholder),
  never read it;
- a social care record about Mia naming an identity-protected neighbour,
  "Zqxhidden Neighbour", described as ``ZQXPROTECTED``: only readers cleared for protected
  identities (the social worker) see the name; the school sees a pseudonym.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api.cli import DEMO_SCHOOL_DSL, DEMO_SOCIAL_WORKER
from ingest.pipeline import import_docs
from tests.api_server import Server, demo_server
from tests.conftest import fragment

SW = DEMO_SOCIAL_WORKER
DSL = DEMO_SCHOOL_DSL
SW_ONLY = "ZQXSWONLY"
PROTECTED = ("Zqxhidden", "ZQXPROTECTED")
ALL_MARKERS = (SW_ONLY, *PROTECTED)

CSWS = {
    "id": "northshire-csws",
    "name": "Northshire Children's Social Work Service",
    "type": "social_care",
    "local_authority": "Northshire",
}
MIA = {"ref": "c1", "role": "child", "name": "Mia Walsh", "dob": "2019-03-14", "sex": "female"}
# the demo's story in date order, as the chronology must show it (a phrase of each summary)
MIA_STORY = [
    "Anonymous call",
    "Joint visit with police",
    "malicious",
    "Social worker phoned the DSL",
    "Case closed",
    "Records check",
    "father works away",
    "September attendance",
    "not collected",
    "cosmetic dental surgery",
    "absent at morning registration",
    "found at home alone",
    "at the dentist",
    "told the DSL",
]


def planted() -> list[dict[str, Any]]:
    sharing = {"lawful_basis": "public_task", "family_told": False, "family_not_told_reason": "Strategy first."}
    return [
        fragment(
            agency=CSWS,
            author={"role": "team manager", "id": "CSWS-TM-002"},
            record_ref="CSWS-2026-11-9001",
            recorded_at="2026-11-20T16:00:00Z",
            shared_at="2026-11-20T16:05:00Z",
            event={"kind": "assessment", "when": "2026-11-20", "summary": f"Manager's note {SW_ONLY}"},
            people=[MIA],
            relationships=[],
            statement={"kind": "opinion", "whose": "team manager"},
            concerns=["neglect"],
            significance="medium",
            sharing=sharing,
            markings={"audience": "originating_agency"},
        ),
        fragment(
            agency=CSWS,
            author={"role": "duty social worker", "id": "CSWS-DSW-031"},
            record_ref="CSWS-2026-11-9002",
            recorded_at="2026-11-21T10:00:00Z",
            shared_at="2026-11-21T10:05:00Z",
            event={"kind": "contact", "when": "2026-11-21T09:00", "summary": "A neighbour phoned with worries"},
            people=[
                MIA,
                {
                    "ref": "n",
                    "role": "neighbour",
                    "name": "Zqxhidden Neighbour",
                    "description": "ZQXPROTECTED, lives at number 12",
                    "identity_protected": True,
                },
            ],
            relationships=[],
            statement={"kind": "hearsay", "reported_by": "n"},
            concerns=["supervision"],
            significance="medium",
            sharing=sharing,
            markings={"audience": "case_team"},
        ),
    ]


@dataclass
class Site:
    server: Server
    mia: dict[str, str]  # reader -> Mia's person id as that reader knows her

    @property
    def base(self) -> str:
        return self.server.base


def mia_of(server: Server, reader: str) -> str:
    v = server.store.view(reader, "meeting")
    (mia,) = [p for p in v.find_people("Mia Walsh") if "2019-03-14" in p.dobs]
    return mia.person_id


@contextmanager
def site(folder: Path) -> Iterator[Site]:
    with demo_server(folder) as server:
        summary = import_docs(server.store, planted(), now=datetime(2026, 11, 23, tzinfo=UTC))
        assert summary.rejected == 0, summary.errors
        yield Site(server, {r: mia_of(server, r) for r in (SW, DSL)})
