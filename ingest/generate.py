"""Synthetic fragments at any scale, deterministic for a seed, with known ground truth.

The generator invents a population of families (households of one or two adults and one
to four children, sometimes a mother's partner, sometimes twins, a grandmother living
nearby, a neighbour), places them at addresses in invented local authorities
("Northshire", "Eastmoor", ...) with invented postcode areas, moves some of them between
authorities over time, and then writes what the agencies of those authorities (police,
community health, hospital, schools, social care, early help, housing, children's
centre) would share about them: one event per fragment, with the people mentioned as
*that agency* holds them. Most families are known to services for an episode of some
months, a few for the whole period; several agencies report some of the same events.

Every fragment is a plain ``dict`` in the input format an agency sends (what
:func:`ingest.validate.check_fragment` accepts), never a pydantic object.

With probability ``variation`` a mention is written the way agencies really vary: a
nickname or diminutive ("Kay" for "Kayleigh"), a hyphenation variant ("Lee-Anne" /
"Leanne"), an initial only ("L Walsh"), a title ("Mrs L Walsh"), the other surname of
someone whose surname changed on marriage or separation, a date of birth with day and
month swapped or one digit off, no date of birth, an NHS number with a typo (its check
digit then fails), or no identifiers. :class:`Truth` records who every mention really
is, and which variations were applied.

All names, addresses, postcodes and identifiers are invented: first names and surnames
are very common English names, postcode areas are letter pairs no real UK postcode area
uses, NHS numbers start with 9 and local authority codes in UPNs are 990 and above.

Usage::

    from ingest.generate import generate, generate_json, generate_with_truth
    for raw in generate(1_000, seed=7):
        ...
    fragments, truth = generate_with_truth(500, seed=7, variation=0.5)
    lines = generate_json(1_000_000)  # the same fragments as orjson bytes, for files

    python -m ingest.generate 100000 out.jsonl --seed 3 --truth truth.json

Fragments come out roughly in the order they were recorded (recorded dates rise with the
fragment's position, with a few days' jitter), as a live feed would deliver them.

How it stays fast (it feeds the 1,000,000-fragment benchmark): the population is built
once; how each kind of agency writes each person is worked out once and kept on the
person; random numbers are drawn by scaling ``random()``; and each fragment is built
as dict literals from precomputed strings. Fragments share no mutable part.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from ingest.normalise import make_nhs_number, make_upn

__all__ = [
    "VARIATION_KINDS",
    "Person",
    "Residence",
    "Truth",
    "generate",
    "generate_json",
    "generate_with_truth",
    "main",
    "write_jsonl",
]

# --------------------------------------------------------------------------- word lists


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


# (given name, diminutives and nicknames, hyphenation and spelling variants)
_FEMALE: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Olivia", ("Liv", "Livvy"), ()),
    ("Amelia", ("Millie", "Amy"), ()),
    ("Isla", (), ()),
    ("Ava", (), ()),
    ("Mia", (), ()),
    ("Ivy", (), ()),
    ("Lily", (), ("Lilly",)),
    ("Isabella", ("Bella", "Izzy"), ()),
    ("Rosie", (), ()),
    ("Sophia", ("Sophie",), ()),
    ("Grace", (), ()),
    ("Freya", (), ()),
    ("Poppy", (), ()),
    ("Evie", (), ()),
    ("Ella", (), ()),
    ("Emily", ("Em", "Emmy"), ()),
    ("Ruby", (), ()),
    ("Daisy", (), ()),
    ("Chloe", (), ()),
    ("Jessica", ("Jess", "Jessie"), ()),
    ("Holly", (), ()),
    ("Megan", ("Meg",), ()),
    ("Lauren", (), ()),
    ("Kayleigh", ("Kay",), ("Kay-Leigh", "Kaylee")),
    ("Leanne", (), ("Lee-Anne", "Lee Anne")),
    ("Lee-Anne", (), ("Leanne", "Lee Anne")),
    ("Mary-Jane", ("MJ",), ("Mary Jane", "Maryjane")),
    ("Stacey", (), ("Stacy",)),
    ("Gemma", ("Gem",), ()),
    ("Kelly", (), ()),
    ("Nicola", ("Nicky", "Nikki"), ()),
    ("Rebecca", ("Becky", "Becca"), ()),
    ("Charlotte", ("Charlie", "Lottie"), ()),
    ("Sarah", (), ("Sara",)),
    ("Hannah", (), ("Hana",)),
    ("Danielle", ("Dani",), ()),
    ("Samantha", ("Sam", "Sammy"), ()),
    ("Jennifer", ("Jen", "Jenny"), ()),
    ("Elizabeth", ("Liz", "Beth", "Lizzie"), ()),
    ("Katherine", ("Kate", "Katie", "Kath"), ()),
    ("Victoria", ("Vicky", "Tori"), ()),
    ("Abigail", ("Abi", "Abby"), ()),
    ("Natalie", ("Nat",), ()),
    ("Amy", (), ("Aimee",)),
    ("Zoe", (), ("Zoë",)),
    ("Jade", (), ()),
    ("Courtney", (), ()),
    ("Shannon", (), ()),
    ("Chelsea", (), ()),
    ("Ellie-Mae", ("Ellie",), ("Ellie Mae", "Elliemae")),
    ("Florence", ("Flo", "Florrie"), ()),
    ("Matilda", ("Tilly",), ()),
)
_MALE: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Oliver", ("Ollie",), ()),
    ("George", ("Georgie",), ()),
    ("Noah", (), ()),
    ("Arthur", ("Art",), ()),
    ("Harry", (), ()),
    ("Leo", (), ()),
    ("Jack", (), ()),
    ("Charlie", (), ()),
    ("Oscar", (), ()),
    ("Jacob", ("Jake",), ()),
    ("Thomas", ("Tom", "Tommy"), ()),
    ("James", ("Jim", "Jamie"), ()),
    ("William", ("Will", "Billy", "Liam"), ()),
    ("Joshua", ("Josh",), ()),
    ("Daniel", ("Dan", "Danny"), ()),
    ("Matthew", ("Matt",), ()),
    ("Samuel", ("Sam", "Sammy"), ()),
    ("Benjamin", ("Ben", "Benji"), ()),
    ("Alexander", ("Alex", "Xander"), ()),
    ("Christopher", ("Chris",), ()),
    ("Jonathan", ("Jon", "Johnny"), ()),
    ("Michael", ("Mike", "Mikey", "Mick"), ()),
    ("Robert", ("Rob", "Bobby", "Bob"), ()),
    ("Richard", ("Rich", "Ricky"), ()),
    ("Anthony", ("Tony", "Ant"), ()),
    ("Nathan", ("Nate",), ()),
    ("Ryan", (), ()),
    ("Connor", (), ("Conor",)),
    ("Kyle", (), ()),
    ("Jordan", (), ()),
    ("Callum", ("Cal",), ("Calum",)),
    ("Jamie", (), ()),
    ("Lewis", (), ("Louis",)),
    ("Craig", (), ()),
    ("Darren", ("Daz",), ()),
    ("Wayne", (), ()),
    ("Dean", (), ()),
    ("Lee", (), ()),
    ("Jay-Den", (), ("Jayden", "Jay Den")),
    ("Alfie", (), ()),
    ("Frederick", ("Fred", "Freddie"), ()),
    ("Edward", ("Ed", "Eddie", "Ted"), ()),
    ("Henry", ("Harry",), ()),
    ("Stephen", ("Steve",), ("Steven",)),
)
_MIDDLE_F = ("Rose", "Mae", "Louise", "Grace", "Jane", "Marie", "Elizabeth", "Anne", "Jade", "Lily")
_MIDDLE_M = ("James", "John", "Lee", "Thomas", "Michael", "David", "Paul", "Alan", "George", "Jay")
_SURNAMES = _words(
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans Walker White "
    "Roberts Green Hall Wood Jackson Clarke Walsh Hughes Edwards Turner Hill Moore Cooper Ward Morris "
    "King Watson Harrison Morgan Baker Young Allen Mitchell Parker Carter Bennett Shaw Cook Price Bell "
    "Lewis Marshall Murphy Bailey Collins Ellis Pearson Fletcher Barker Webb Holmes Lloyd Knight Chapman "
    "Mason Hunt Palmer Gibson Grant Porter Atkinson O'Brien O'Neill Smith-Jones Kelly Doyle"
)

# (name, slug, postcode area, UPN local authority code, towns)
_LAS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("Northshire", "northshire", "NT", "991", ("Northtown", "Highcross", "Fellside")),
    ("Eastmoor", "eastmoor", "EQ", "992", ("Moorbridge", "Eastwick", "Saltby")),
    ("Westvale", "westvale", "WQ", "993", ("Valeford", "Westerby", "Coldharbour")),
    ("Southholt", "southholt", "QS", "994", ("Holtham", "Southgate", "Brambleton")),
    ("Ashdale", "ashdale", "XA", "995", ("Ashby Cross", "Dalebrook", "Thornwell")),
    ("Kingsbrook", "kingsbrook", "KQ", "996", ("Kingsford", "Brookmead", "Larkhill")),
)
_STREET_STEMS = _words(
    "Larch Brook Oak Meadow Church Station Mill Victoria Park Willow Beech Rowan Hawthorn Elm Cedar Ash "
    "Chestnut Holly Orchard Forge Tannery Ferry Market Quarry Kiln Heron Swallow Linnet Kestrel Primrose "
    "Bluebell Foxglove Juniper Alder Sycamore Poplar"
)
_STREET_KINDS = ("Close", "Lane", "Road", "Street", "Avenue", "Way", "Drive", "Crescent", "Grove", "Court", "Walk")
_SCHOOL_STEMS = _words(
    "Brook Lane|Oakfield|Hillside|Meadowbank|St Aidan's|Riverside|Westfield|Greenway|Fairfield|Parkside|"
    "Hollybush|Moorside|Chestnut Grove|Beacon|Millbrook|Orchard",
    "|",
)
_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the letters UK inward codes use

# ----------------------------------------------------------------------------- agencies

# key -> (agency type, name pattern, author roles, event kinds with weights)
_AGENCY_KINDS: dict[str, tuple[str, str, tuple[str, ...], tuple[tuple[str, int], ...]]] = {
    "police": (
        "police",
        "{la} Police",
        ("police constable", "detective constable", "public protection unit officer", "police sergeant"),
        (
            ("police_callout", 40),
            ("incident", 15),
            ("welfare_check", 15),
            ("information_shared", 10),
            ("disclosure", 5),
            ("anonymous_report", 5),
        ),
    ),
    "health": (
        "health",
        "{la} Community Health NHS Trust",
        ("health visitor", "school nurse", "midwife", "named nurse for safeguarding"),
        (
            ("health_appointment", 25),
            ("missed_appointment", 25),
            ("home_visit", 25),
            ("observation", 10),
            ("information_shared", 5),
            ("injury", 10),
        ),
    ),
    "hospital": (
        "health",
        "{la} General Hospital",
        ("emergency department nurse", "paediatric registrar", "hospital safeguarding nurse"),
        (("hospital_attendance", 40), ("injury", 30), ("missed_appointment", 20), ("information_shared", 10)),
    ),
    "school": (
        "school",
        "",
        ("designated safeguarding lead", "class teacher", "attendance officer", "head of year"),
        (
            ("school_attendance", 35),
            ("school_concern", 30),
            ("disclosure", 8),
            ("observation", 12),
            ("meeting", 10),
            ("injury", 5),
        ),
    ),
    "social_care": (
        "social_care",
        "{la} Children's Social Care",
        ("social worker", "MASH duty social worker", "team manager", "senior social worker"),
        (
            ("referral", 15),
            ("contact", 10),
            ("anonymous_report", 5),
            ("assessment", 15),
            ("home_visit", 20),
            ("strategy_discussion", 8),
            ("section47_enquiry", 7),
            ("child_protection_conference", 5),
            ("case_closed", 5),
            ("meeting", 10),
        ),
    ),
    "early_help": (
        "early_help",
        "{la} Early Help Service",
        ("family support worker", "early help practitioner", "parenting practitioner"),
        (
            ("home_visit", 35),
            ("assessment", 15),
            ("meeting", 20),
            ("contact", 15),
            ("referral", 5),
            ("case_closed", 10),
        ),
    ),
    "housing": (
        "housing",
        "{la} Housing Services",
        ("housing officer", "tenancy sustainment officer", "homelessness caseworker"),
        (("change_of_address", 20), ("household_change", 15), ("home_visit", 25), ("contact", 20), ("observation", 20)),
    ),
    "children_centre": (
        "children_centre",
        "",
        ("family support worker", "children's centre worker", "outreach worker"),
        (("home_visit", 20), ("observation", 30), ("contact", 25), ("missed_appointment", 15), ("referral", 10)),
    ),
}
# how often each kind of agency shares something (school and children's centre are
# swapped for another kind when the child is not of that age)
_AGENCY_WEIGHTS = (
    ("police", 16),
    ("health", 14),
    ("hospital", 8),
    ("school", 22),
    ("social_care", 16),
    ("early_help", 10),
    ("housing", 6),
    ("children_centre", 8),
)
_ID_PREFIX = {
    "police": "NOM",
    "health": "CH",
    "hospital": "RX",
    "school": "MIS",
    "social_care": "LCS",
    "early_help": "EH",
    "housing": "HSG",
    "children_centre": "CC",
}
# the kind an agency of this key would give an event first reported as another kind
_SAME_EVENT_KIND = {
    "police_callout": {
        "social_care": "information_shared",
        "school": "information_shared",
        "health": "information_shared",
    },
    "welfare_check": {"social_care": "home_visit", "early_help": "home_visit"},
    "injury": {"school": "injury", "hospital": "hospital_attendance", "social_care": "referral"},
    "hospital_attendance": {"social_care": "information_shared", "health": "information_shared"},
    "disclosure": {"social_care": "referral", "police": "information_shared"},
    "referral": {"police": "information_shared", "health": "information_shared"},
}

# --------------------------------------------------------------------------- scenarios

# kind -> [(summary, narrative, concerns, significance)]; placeholders: {c} child's
# first name, {age} the child's age, {a} the adult ("mother", "father"...), {w} the
# author's role, {place} where.
_SCENARIOS: dict[str, tuple[tuple[str, str, tuple[str, ...], str], ...]] = {
    "police_callout": (
        (
            "Call-out to a domestic incident at the family home",
            "Officers attended after a neighbour reported shouting. {c} ({age}) was in the house. "
            "The {a} had a red mark to the face and declined to make a statement.",
            ("domestic_abuse",),
            "high",
        ),
        (
            "Concern for welfare call: children heard crying",
            "Attended following a 999 call. {c} ({age}) was at home with younger children; no adult present "
            "for about forty minutes until the {a} returned.",
            ("supervision", "neglect"),
            "high",
        ),
        (
            "Call-out to a disturbance; adults intoxicated",
            "Two adults at the address had been drinking heavily. {c} was upstairs and appeared unharmed.",
            ("domestic_abuse", "parental_alcohol_misuse"),
            "medium",
        ),
    ),
    "incident": (
        (
            "{c} reported missing from home, found later that evening",
            "{c} ({age}) did not return home after school. Found by officers at 21:40 near the retail park.",
            ("missing",),
            "high",
        ),
        (
            "{c} found with older youths in possession of cash",
            "{c} was stopped with two older males; had £200 cash and two phones and would not explain them.",
            ("criminal_exploitation",),
            "high",
        ),
    ),
    "welfare_check": (
        (
            "Welfare check at the family home",
            "Welfare check requested by the school. The {a} answered; {c} was seen and spoken to. "
            "Home cold and little food in the kitchen.",
            ("neglect",),
            "medium",
        ),
        (
            "Welfare check: no answer at the address",
            "No answer at the door; curtains drawn. Neighbours said the family had not been seen for some days.",
            ("neglect",),
            "medium",
        ),
    ),
    "information_shared": (
        (
            "Information shared about recent contact with the family",
            "The {w} shared that the family has been known to them recently and that the {a} "
            "has asked for help with money and food.",
            ("neglect",),
            "low",
        ),
        (
            "Information shared after an incident at the address",
            "Sharing for awareness: officers attended the address this week; {c} was present.",
            ("domestic_abuse",),
            "medium",
        ),
    ),
    "disclosure": (
        (
            "{c} disclosed being hit at home",
            "{c} ({age}) told the {w} that the {a} 'hits me with a slipper when I'm naughty'.",
            ("physical_abuse",),
            "high",
        ),
        (
            "{c} said there is often no food at home",
            "{c} said they had not had tea last night and that there is 'never anything in the fridge'.",
            ("neglect",),
            "medium",
        ),
    ),
    "anonymous_report": (
        (
            "Anonymous report: children left alone in the evenings",
            "Caller did not want to be named. Says {c} and siblings are often left on their own until late.",
            ("supervision", "neglect"),
            "medium",
        ),
        (
            "Anonymous report of shouting and banging at the address",
            "Caller reports frequent shouting and banging from the flat, and a child crying.",
            ("domestic_abuse",),
            "medium",
        ),
    ),
    "health_appointment": (
        (
            "Developmental review for {c}",
            "{c} ({age}) seen with the {a}. Weight has dropped from the 50th to the 9th centile.",
            ("unmet_health_needs",),
            "medium",
        ),
        (
            "Routine appointment for {c}",
            "{c} seen for a routine review; no concerns raised at this appointment.",
            (),
            "low",
        ),
    ),
    "missed_appointment": (
        (
            "{c} not brought to appointment",
            "{c} ({age}) was not brought to the appointment. This is the third in six months. Letter sent to the {a}.",
            ("unmet_health_needs", "neglect"),
            "medium",
        ),
        (
            "Missed appointment; no response to calls",
            "The {a} did not attend with {c} and has not answered the phone or letters.",
            ("unmet_health_needs",),
            "low",
        ),
    ),
    "home_visit": (
        (
            "Home visit: home conditions poor",
            "Visited the home. Strong smell of damp, dog faeces on the floor, and {c}'s bed had no sheets. "
            "The {a} said they were struggling.",
            ("neglect", "housing"),
            "medium",
        ),
        (
            "Home visit: {a} low in mood",
            "The {a} presented as low and tearful and said they were not sleeping. {c} was clean and fed.",
            ("parental_mental_health",),
            "medium",
        ),
        (
            "Planned home visit: no concerns observed",
            "Planned visit. {c} ({age}) was seen and appeared happy and well cared for.",
            (),
            "low",
        ),
        (
            "Home visit: children at home alone",
            "Nobody answered. {c} spoke through the letter box and could not open the door. "
            "The {a} returned forty minutes later.",
            ("supervision", "neglect"),
            "high",
        ),
    ),
    "observation": (
        (
            "{c} seemed hungry and unkempt",
            "{c} arrived in the same clothes as the last three days and asked staff for food.",
            ("neglect",),
            "low",
        ),
        (
            "{a} appeared under the influence at collection",
            "The {a} was slurring words at collection time and smelt of alcohol. {c} left with them.",
            ("parental_alcohol_misuse", "supervision"),
            "medium",
        ),
    ),
    "injury": (
        (
            "Bruising noticed on {c}'s arm",
            "Staff noticed finger-tip bruising to {c}'s upper arm. {c} said they 'fell over'.",
            ("physical_abuse",),
            "high",
        ),
        (
            "Minor injury, explanation consistent",
            "{c} ({age}) had a graze to the knee; the {a} explained a fall in the park, consistent with the injury.",
            (),
            "low",
        ),
    ),
    "hospital_attendance": (
        (
            "{c} attended the emergency department with a burn",
            "{c} ({age}) brought in by the {a} with a burn to the hand; the delay in seeking care was two days.",
            ("physical_abuse", "neglect"),
            "high",
        ),
        (
            "{c} attended the emergency department after an overdose",
            "{c} attended having taken tablets. Seen by the mental health liaison team.",
            ("self_harm",),
            "high",
        ),
        (
            "Attendance with a chest infection",
            "{c} seen with a chest infection and discharged home with the {a}.",
            (),
            "low",
        ),
    ),
    "school_attendance": (
        (
            "{c}'s attendance has fallen below 80%",
            "{c}'s attendance this term is 76%, with several unexplained absences on Mondays.",
            ("school_attendance",),
            "medium",
        ),
        (
            "{c} absent for five days without explanation",
            "No contact from the {a}; calls unanswered. Attendance officer to visit.",
            ("school_attendance", "neglect"),
            "medium",
        ),
    ),
    "school_concern": (
        (
            "{c} withdrawn and tired in class",
            "The {w} reports {c} has been withdrawn, falling asleep in lessons and not eating lunch.",
            ("emotional_abuse", "neglect"),
            "medium",
        ),
        (
            "{c} shared explicit images online",
            "{c} ({age}) was found to have been sending images to an unknown adult through a game chat.",
            ("online_safety", "sexual_exploitation"),
            "high",
        ),
        (
            "{c} talked about fighting at home",
            "{c} said mum and her boyfriend 'were fighting again' and that they hid in the bedroom.",
            ("domestic_abuse",),
            "medium",
        ),
    ),
    "meeting": (
        (
            "Team around the family meeting",
            "Meeting with the {a} and professionals to review the plan for {c}.",
            (),
            "low",
        ),
        (
            "Professionals meeting about {c}",
            "Professionals shared information about {c}; "
            "agreed to refer to social care if attendance does not improve.",
            ("school_attendance", "neglect"),
            "medium",
        ),
    ),
    "referral": (
        (
            "Referral to children's social care",
            "Referral made about {c} ({age}) following repeated concerns about neglect and supervision.",
            ("neglect", "supervision"),
            "high",
        ),
        (
            "Referral for early help support",
            "The {a} asked for help with routines and money; referral made with consent.",
            (),
            "low",
        ),
    ),
    "contact": (
        (
            "Contact received about {c}",
            "Contact from a professional raising concern about {c}'s presentation.",
            ("neglect",),
            "medium",
        ),
        (
            "Telephone contact with the {a}",
            "Spoke with the {a}, who said things are 'better at the moment'.",
            (),
            "low",
        ),
    ),
    "assessment": (
        (
            "Child and family assessment started",
            "Assessment started for {c} ({age}). The {a} is engaging.",
            ("neglect",),
            "medium",
        ),
        (
            "Early help assessment completed",
            "Early help assessment completed with the {a}; needs around routines and school attendance.",
            ("school_attendance",),
            "low",
        ),
    ),
    "strategy_discussion": (
        (
            "Strategy discussion held about {c}",
            "Strategy discussion with police and health; threshold for section 47 enquiries met.",
            ("physical_abuse",),
            "high",
        ),
    ),
    "section47_enquiry": (
        (
            "Section 47 enquiry started for {c}",
            "Joint enquiry with police; {c} to be seen alone and a medical arranged.",
            ("physical_abuse",),
            "high",
        ),
    ),
    "child_protection_conference": (
        (
            "Initial child protection conference: plan under neglect",
            "Conference decided {c} should be subject to a child protection plan under the category of neglect.",
            ("neglect",),
            "high",
        ),
    ),
    "case_closed": (
        (
            "Case closed: needs met",
            "Work with the family has ended; the {a} reports things are stable.",
            (),
            "low",
        ),
    ),
    "change_of_address": (
        (
            "Family moved to a new address",
            "The {a} and children have moved into the property; tenancy signed.",
            ("housing",),
            "low",
        ),
    ),
    "household_change": (
        (
            "New adult living at the address",
            "Housing officer noted a new adult male appears to be living at the property.",
            ("domestic_abuse",),
            "medium",
        ),
        (
            "Rent arrears and notice seeking possession",
            "The {a} is in arrears and a notice has been served; risk of homelessness for the family.",
            ("housing",),
            "medium",
        ),
    ),
}
_ACTIONS = (
    "Referred to children's social care.",
    "Discussed with the designated safeguarding lead.",
    "Advice given; will review at the next visit.",
    "Shared with the MASH.",
    "Letter sent; follow-up visit booked.",
    "None recorded.",
)
_NOT_TOLD = (
    "Telling the family now could place the child at increased risk.",
    "Advice sought first; will tell the parent once the plan is agreed.",
    "Police investigation ongoing; informing the family could prejudice it.",
    "Unable to contact the family before sharing.",
)
_CONSENT_SCOPE = (
    "Share with school and health visitor for early help support",
    "Share with professionals involved in the child's care",
    "Referral to the early help service",
)
_RELATIVE_DAYS = ("today", "yesterday", "two days ago", "three days ago", "four days ago", "five days ago")

VARIATION_KINDS: tuple[str, ...] = (
    "nickname",
    "hyphenation",
    "initial",
    "title",
    "surname",
    "dob_swap",
    "dob_digit",
    "dob_missing",
    "nhs_typo",
    "ids_missing",
)
_VARIATION_WEIGHTS = (16, 6, 14, 10, 8, 8, 8, 12, 6, 12)


# ------------------------------------------------------------------------- ground truth


@dataclass(frozen=True, slots=True)
class Residence:
    """Where a household lived from a date on."""

    since: date
    text: str
    postcode: str
    local_authority: str
    # the postcode as some systems hold it: lower case, no space
    postcode_compact: str = field(default="", init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "postcode_compact", self.postcode.replace(" ", "").lower())


@dataclass(slots=True)
class Person:
    """One synthetic person as they really are (the truth agencies write variously)."""

    id: str
    kind: str  # child, mother, father, partner, grandparent, neighbour
    given: str
    middle: str | None
    family: str
    other_families: tuple[str, ...]  # surnames also used: maiden, former married
    sex: str
    dob: date
    family_id: str | None
    nhs: str | None = None
    upn: str | None = None
    joined: date | None = None  # a partner: when they joined the household
    mother: str | None = None  # a child: the person id of their mother / father
    father: str | None = None
    home: Residence | None = None  # someone living outside the household
    # internal, for speed
    idx: int = 0
    dob_ord: int = 0
    dob_iso: str = ""
    joined_ord: int = 0
    nicks: tuple[str, ...] = ()
    hyph: tuple[str, ...] = ()
    apid: int = 0  # with an agency's salt, its person id; -1 for none (neighbours)
    pos: int = 0  # place in the family's household list
    kits: list[Any] | None = None  # how each kind of agency holds them, made when first needed

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "given": self.given,
            "family": self.family,
            "sex": self.sex,
            "dob": self.dob_iso,
            "family_id": self.family_id,
        }
        for k in ("middle", "nhs", "upn", "mother", "father"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        if self.other_families:
            out["other_families"] = list(self.other_families)
        if self.joined is not None:
            out["joined"] = self.joined.isoformat()
        if self.home is not None:
            out["home"] = _residence_json(self.home)
        return out


def _residence_json(r: Residence) -> dict[str, str]:
    return {"since": r.since.isoformat(), "text": r.text, "postcode": r.postcode, "local_authority": r.local_authority}


@dataclass
class Truth:
    """What the generated fragments really say.

    ``mention_person`` maps every mention, keyed ``(agency id, record_ref, index in
    people)``, to the id of the person it refers to. ``families`` lists each family's
    members (household, grandparent; not the neighbours), ``households`` each family's
    address history, ``twins`` the pairs of twins, ``relationships`` the true
    relationships as ``(subject, kind, object)`` person ids (mother_of, father_of,
    sibling_of, half_sibling_of, partner_of, grandparent_of, lives_with, neighbour_of),
    ``fragment_event`` which fragments report the same event (several agencies report
    some events), and ``variations`` the ways a mention was written differently from
    the truth (see :data:`VARIATION_KINDS`; absent when written plainly).

    At a million fragments ``mention_person`` holds three million entries: a few
    hundred megabytes.
    """

    mention_person: dict[tuple[str, str, int], str] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    families: dict[str, list[str]] = field(default_factory=dict)
    households: dict[str, list[Residence]] = field(default_factory=dict)
    twins: list[tuple[str, str]] = field(default_factory=list)
    relationships: list[tuple[str, str, str]] = field(default_factory=list)
    fragment_event: dict[tuple[str, str], str] = field(default_factory=dict)
    variations: dict[tuple[str, str, int], tuple[str, ...]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form (tuple keys become lists)."""
        return {
            "people": {pid: p.as_json() for pid, p in self.people.items()},
            "families": self.families,
            "households": {f: [_residence_json(r) for r in rs] for f, rs in self.households.items()},
            "twins": [list(t) for t in self.twins],
            "relationships": [list(r) for r in self.relationships],
            "mentions": [[a, ref, i, pid] for (a, ref, i), pid in self.mention_person.items()],
            "events": [[a, ref, eid] for (a, ref), eid in self.fragment_event.items()],
            "variations": [[a, ref, i, list(v)] for (a, ref, i), v in self.variations.items()],
        }


# --------------------------------------------------------------------------- population


@dataclass(slots=True)
class _Agency:
    idx: int
    id: str
    name: str
    type: str
    key: str
    la: str
    prefix: str  # of its record references
    id_prefix: str  # of its own person ids
    authors: tuple[tuple[str, str], ...]  # (role, id)
    kinds: tuple[str, ...]  # a weighted table
    # what it holds: NHS numbers and UPNs (0 never, 1 for some people, 2 always), its own
    # person ids (the salt that makes them, 0 for none), adults' dobs rarely, name style
    k: int = 0  # index of its kind in _AGENCY_KINDS
    nhs: int = 0
    upn: int = 0
    apid: int = 0
    adult_dob_rare: bool = False
    style: int = -1
    place: bool = False  # events happen here (a school, a hospital)


@dataclass(slots=True)
class _Period:
    since_ord: int
    la: int
    res: Residence
    schools: tuple[int, int]  # agency index of the primary and the secondary school
    neighbour: Person


@dataclass(slots=True)
class _Family:
    idx: int
    id: str
    members: list[Person]  # household: children first (eldest first), then adults
    children: list[Person]
    mother: Person | None
    father: Person | None
    partner: Person | None
    grandparent: Person | None
    periods: list[_Period]
    settled_ord: int = 0  # from this day everyone in the household is born and has joined


class _Random(random.Random):
    """``random.Random`` with the integer and choice helpers done by scaling ``random()``.

    Several times faster than the standard ones (which draw bits until the value fits),
    and just as deterministic for a seed; the tiny bias is of no matter here.
    """

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            return int(self.random() * start)
        return start + int(self.random() * (stop - start))

    def choice(self, seq: Any) -> Any:
        return seq[int(self.random() * len(seq))]


def _table(pairs: Iterable[tuple[str, int]]) -> tuple[str, ...]:
    return tuple(k for k, w in pairs for _ in range(w))


class _Population:
    """Local authorities, agencies, families and people, built once per run."""

    def __init__(self, rng: random.Random, n_families: int, start: date, end: date) -> None:
        self.rng = rng
        self.start = start
        self.end = end
        self.people: list[Person] = []
        self.families: list[_Family] = []
        self.agencies: list[_Agency] = []
        self.twins: list[tuple[str, str]] = []
        self._nhs: set[str] = set()
        self._upn: set[str] = set()
        self._upn_serial: dict[tuple[str, int], int] = {}
        self._addresses: set[tuple[int, int, int]] = set()
        self._dob_iso: dict[date, str] = {}  # one string per date: less memory, warmer caches
        n_la = len(_LAS)
        per_la = max(1, n_families // n_la)
        self._max_house = max(160, per_la // 100)
        # streets: per LA a list of (name, town, postcode)
        self.streets: list[list[tuple[str, str, str]]] = []
        # agencies by LA: key -> agency index (schools separately)
        self.by_la: list[dict[str, int]] = []
        self.primaries: list[list[int]] = []
        self.secondaries: list[list[int]] = []
        self.school_estab: dict[int, str] = {}
        for li, (la, slug, area, _code, towns) in enumerate(_LAS):
            self._make_streets(li, area, towns, max(30, min(600, per_la // 8)))
            keys: dict[str, int] = {}
            for key in ("police", "health", "hospital", "social_care", "early_help", "housing", "children_centre"):
                pattern = _AGENCY_KINDS[key][1]
                if key == "children_centre":
                    name = f"{towns[li % len(towns)]} Children's Centre"
                else:
                    name = pattern.format(la=la)
                suffix = {"health": "community-health", "children_centre": "childrens-centre"}.get(key, key)
                keys[key] = self._add_agency(f"{slug}-{suffix.replace('_', '-')}", name, key, la)
            self.by_la.append(keys)
            n_primary = max(2, per_la // 300)
            n_secondary = max(1, per_la // 900)
            prim: list[int] = []
            sec: list[int] = []
            for si in range(n_primary + n_secondary):
                stem = _SCHOOL_STEMS[si % len(_SCHOOL_STEMS)]
                round_ = si // len(_SCHOOL_STEMS)
                kind = "Primary School" if si < n_primary else "Academy"
                name = f"{stem} {kind}" + (f" {round_ + 1}" if round_ else "")
                sid = f"{slug}-{_slug(stem)}-{'primary' if si < n_primary else 'academy'}" + (
                    f"-{round_ + 1}" if round_ else ""
                )
                a = self._add_agency(sid, name, "school", la)
                self.school_estab[a] = f"{2000 + si * 7 + li:04d}"[-4:]
                (prim if si < n_primary else sec).append(a)
            self.primaries.append(prim)
            self.secondaries.append(sec)
        for fi in range(n_families):
            self._make_family(fi)
        for p in self.people:
            p.apid = p.idx * 7919 if p.kind != "neighbour" else -1  # one id per person per agency
        # only needed while building
        self._nhs.clear()
        self._upn.clear()
        self._addresses.clear()
        self._dob_iso.clear()

    # ---- places and agencies

    def _make_streets(self, li: int, area: str, towns: tuple[str, ...], n: int) -> None:
        rng = self.rng
        seen: set[str] = set()
        names: set[tuple[str, str]] = set()
        streets: list[tuple[str, str, str]] = []
        while len(streets) < n:
            town_i = rng.randrange(len(towns))
            street = f"{rng.choice(_STREET_STEMS)} {rng.choice(_STREET_KINDS)}"
            if (street, towns[town_i]) in names:
                continue  # n is at most 600, half the names there are: this ends
            district = town_i * 3 + rng.randint(1, 3)
            unit = rng.choice(_UNIT_LETTERS) + rng.choice(_UNIT_LETTERS)
            pc = f"{area}{district} {rng.randint(1, 9)}{unit}"
            if pc in seen:
                continue
            seen.add(pc)
            names.add((street, towns[town_i]))
            streets.append((street, towns[town_i], pc))
        self.streets.append(streets)

    def _add_agency(self, aid: str, name: str, key: str, la: str) -> int:
        atype, _pattern, roles, kinds = _AGENCY_KINDS[key]
        idx = len(self.agencies)
        prefix = _ID_PREFIX[key] + f"{idx:03d}"
        authors = []
        for i in range(2 * len(roles)):
            role = roles[i % len(roles)]
            author_id = f"{_ID_PREFIX[key]}-{_initials(role)}-{(idx * 37 + i * 11) % 900 + 100}"
            authors.append((role, author_id))
        ag = _Agency(idx, aid, name, atype, key, la, prefix, _ID_PREFIX[key], tuple(authors), _table(kinds))
        ag.k = _KIND_INDEX[key]
        ag.nhs = 2 if key in ("health", "hospital") else 1 if key == "social_care" else 0
        ag.upn = 2 if key == "school" else 1 if key == "social_care" else 0
        ag.apid = 0 if key == "health" else 1 + idx * 104729
        ag.adult_dob_rare = key in _ADULT_DOB_RARE
        ag.style = 3 if key == "police" else -1
        ag.place = key in ("school", "hospital")
        self.agencies.append(ag)
        return idx

    def _residence(self, li: int, since: date) -> tuple[Residence, Residence]:
        """A free address in the authority, from ``since``, and the free house next door."""
        rng = self.rng
        streets = self.streets[li]
        while True:
            si = rng.randrange(len(streets))
            num = rng.randint(1, self._max_house)
            if (li, si, num) not in self._addresses:
                break
        self._addresses.add((li, si, num))
        street, town, pc = streets[si]
        flat = f"Flat {rng.randint(1, 12)}, " if rng.random() < 0.15 else ""
        home = Residence(since, f"{flat}{num} {street}, {town}", pc, _LAS[li][0])
        other = num + 2
        while (li, si, other) in self._addresses:
            other += 2
        self._addresses.add((li, si, other))
        next_door = Residence(
            since - timedelta(days=rng.randint(0, 5000)), f"{other} {street}, {town}", pc, home.local_authority
        )
        return home, next_door

    # ---- people

    def _person(
        self,
        kind: str,
        sex: str,
        dob: date,
        family: str,
        family_id: str | None,
        *,
        avoid: set[str] | None = None,
    ) -> Person:
        rng = self.rng
        names = _FEMALE if sex == "female" else _MALE
        while True:
            given, nicks, hyph = names[rng.randrange(len(names))]
            folded = given.replace("-", "").replace(" ", "").lower()  # "Lee-Anne" is "Leanne"
            if not avoid or folded not in avoid:
                break
        if avoid is not None:
            avoid.add(folded)
        middle = None
        if rng.random() < 0.5:
            middle = rng.choice(_MIDDLE_F if sex == "female" else _MIDDLE_M)
            if middle == given:
                middle = None
        idx = len(self.people)
        p = Person(
            id=f"P{idx:07d}",
            kind=kind,
            given=given,
            middle=middle,
            family=family,
            other_families=(),
            sex=sex,
            dob=dob,
            family_id=family_id,
            idx=idx,
            dob_ord=dob.toordinal(),
            dob_iso=self._dob_iso.get(dob) or self._dob_iso.setdefault(dob, dob.isoformat()),
            nicks=nicks,
            hyph=hyph,
        )
        if kind != "neighbour" or rng.random() < 0.5:
            p.nhs = self._new_nhs()
        self.people.append(p)
        return p

    def _new_nhs(self) -> str:
        rng = self.rng
        while True:
            v = make_nhs_number(f"9{rng.randrange(10**8):08d}")
            if v is not None and v not in self._nhs:
                self._nhs.add(v)
                return v

    def _new_upn(self, li: int, school: int, year: int) -> str:
        key = (self.agencies[school].id, year)
        serial = self._upn_serial.get(key, 0)
        self._upn_serial[key] = serial + 1
        body = f"{_LAS[li][3]}{self.school_estab[school]}{year % 100:02d}{serial:03d}"
        if serial >= 1000 or body in self._upn:
            # out of serials: a temporary-style body ending in a letter, made unique
            while True:
                body = f"{_LAS[li][3]}{self.rng.randrange(10**8):08d}{self.rng.choice(_UNIT_LETTERS.replace('S', ''))}"
                if body not in self._upn:
                    break
        self._upn.add(body)
        return make_upn(body)

    def _dob_between(self, lo: date, hi: date) -> date:
        span = (hi - lo).days
        return lo + timedelta(days=self.rng.randint(0, max(0, span)))

    def _make_family(self, fi: int) -> None:
        rng = self.rng
        start, end = self.start, self.end
        fid = f"F{fi:06d}"
        surname = rng.choice(_SURNAMES)
        li = rng.randrange(len(_LAS))
        # children: the eldest born before the window, younger ones maybe during it
        eldest = self._dob_between(start - timedelta(days=15 * 365), start - timedelta(days=60))
        n_children = rng.choices((1, 2, 3, 4), (35, 35, 20, 10))[0]
        twins_at = -1  # the index of the elder twin
        if rng.random() < 0.08:
            n_children = max(2, n_children)
            twins_at = rng.randrange(n_children - 1)
        dobs = [eldest]
        while len(dobs) < n_children:
            if len(dobs) - 1 == twins_at:
                dobs.append(dobs[-1])  # twins
                continue
            nxt = dobs[-1] + timedelta(days=rng.randint(380, 5 * 365))
            if nxt > end - timedelta(days=30):
                break
            dobs.append(nxt)
        mother_dob = eldest - timedelta(days=rng.randint(17 * 365, 40 * 365))
        father_only = rng.random() < 0.05
        father_home = father_only or rng.random() < 0.5
        maiden = rng.choice(_SURNAMES)
        while maiden == surname:
            maiden = rng.choice(_SURNAMES)
        mother = father = partner = None
        if not father_only:
            if father_home or rng.random() < 0.5:
                # married or was: uses the family surname, maiden name held elsewhere
                mother = self._person("mother", "female", mother_dob, surname, fid)
                mother.other_families = (maiden,)
            else:
                # separated and went back to her own name; some records still hold the old one
                mother = self._person("mother", "female", mother_dob, maiden, fid)
                mother.other_families = (surname,)
        if father_home:
            fdob = mother_dob + timedelta(days=rng.randint(-3 * 365, 8 * 365))
            father = self._person("father", "male", fdob, surname, fid)
        if mother is not None and not father_home and rng.random() < 0.5:
            pdob = mother_dob + timedelta(days=rng.randint(-5 * 365, 10 * 365))
            partner_surname = rng.choice(_SURNAMES)
            while partner_surname in (surname, maiden):
                partner_surname = rng.choice(_SURNAMES)
            partner = self._person("partner", "male", pdob, partner_surname, fid)
            partner.joined = self._dob_between(start - timedelta(days=730), end - timedelta(days=60))
            partner.joined_ord = partner.joined.toordinal()
            if rng.random() < 0.3:
                # mother married the partner and took his surname
                mother.other_families = tuple(dict.fromkeys((mother.family, *mother.other_families)))
                mother.family = partner.family
        children: list[Person] = []
        # no two children alike, nor named after a parent (rare in life, and a trap best met on purpose)
        used_names = {a.given.replace("-", "").replace(" ", "").lower() for a in (mother, father, partner) if a}
        for i, d in enumerate(dobs):
            sex = "female" if rng.random() < 0.5 else "male"
            c_surname = surname
            c_father = father.id if father else None
            # the youngest, born after the partner joined, is the partner's child
            if (
                partner is not None
                and partner.joined is not None
                and i == len(dobs) - 1
                and i > 0
                and d > partner.joined
                and dobs[i - 1] != d
            ):
                c_surname = partner.family
                c_father = partner.id
            c = self._person("child", sex, d, c_surname, fid, avoid=used_names)
            c.mother = mother.id if mother else None
            c.father = c_father
            if i > 0 and dobs[i - 1] == d:
                self.twins.append((children[-1].id, c.id))
            children.append(c)
        gm = None
        if mother is not None and rng.random() < 0.6:
            gdob = mother_dob - timedelta(days=rng.randint(18 * 365, 30 * 365))
            gm = self._person("grandparent", "female", gdob, maiden, fid)
            gm.home = self._residence(li, gdob + timedelta(days=30 * 365))[0]
        adults = [a for a in (mother, father, partner) if a is not None]
        # where they live: an address before the window, and sometimes moves during it
        periods: list[_Period] = []
        since = start - timedelta(days=rng.randint(200, 3000))
        n_moves = rng.choices((0, 1, 2), (70, 22, 8))[0]
        move_days = sorted(rng.randint(60, (end - start).days - 30) for _ in range(n_moves))
        for k in range(n_moves + 1):
            if k:
                since = start + timedelta(days=move_days[k - 1])
                if rng.random() < 0.6:
                    li = (li + rng.randrange(1, len(_LAS))) % len(_LAS)
            res, next_door = self._residence(li, since)
            neighbour = self._person(
                "neighbour",
                "female" if rng.random() < 0.6 else "male",
                self._dob_between(date(1945, 1, 1), date(2000, 1, 1)),
                rng.choice(_SURNAMES),
                None,
            )
            neighbour.home = next_door
            prim = self.primaries[li]
            sec = self.secondaries[li]
            schools = (prim[fi % len(prim)], sec[fi % len(sec)])
            periods.append(_Period(since.toordinal(), li, res, schools, neighbour))
        # UPNs: allocated by the first school a child joins (reception, the September after 4)
        for c in children:
            sept = date(c.dob.year + 4 + (1 if c.dob.month >= 9 else 0), 9, 1)
            if sept <= end:
                p_li, p_school = periods[0].la, periods[0].schools[0]
                for per in periods:
                    if per.since_ord <= sept.toordinal():
                        p_li, p_school = per.la, per.schools[0]
                c.upn = self._new_upn(p_li, p_school, sept.year)
        members = children + adults
        for pos, m in enumerate(members):
            m.pos = pos
        settled = max(m.joined_ord if m.joined is not None else m.dob_ord for m in members)
        fam = _Family(fi, fid, members, children, mother, father, partner, gm, periods, settled)
        self.families.append(fam)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower().replace("'", "")).strip("-")


def _initials(role: str) -> str:
    return "".join(w[0] for w in role.split() if w[0].isalpha()).upper()


# ----------------------------------------------------------------------- the generator


def _relation(a: Person, b: Person) -> str | None:
    """The true relationship a -> b (a is ... of b), or None."""
    if b.kind == "child":
        if a.id == b.mother:
            return "mother_of"
        if a.id == b.father:
            return "father_of"
        if a.kind == "child":
            same = a.mother == b.mother and a.father == b.father
            return "sibling_of" if same else "half_sibling_of"
        if a.kind == "grandparent":
            return "grandparent_of"
        if a.kind == "partner":
            return "lives_with"  # the mother's partner, not the child's parent
        if a.kind == "neighbour":
            return "neighbour_of"
        return None
    if a.kind in ("mother", "father", "partner") and b.kind in ("mother", "father", "partner"):
        return "partner_of"
    if a.kind == "grandparent" and b.kind == "mother":
        return "mother_of"
    if a.kind == "neighbour" or b.kind == "neighbour":
        return "neighbour_of"
    return None


_AT_HOME = frozenset(("home_visit", "police_callout", "welfare_check"))
_HM = tuple(f"{h:02d}:{m:02d}" for h in range(24) for m in range(60))
_REFS = tuple(f"p{i}" for i in range(1, 51))
_ADULT_ROLE = {"mother": "mother", "father": "father", "partner": "mother's partner", "grandparent": "grandmother"}
_TITLE = {"female": ("Mrs", "Ms", "Miss"), "male": ("Mr",)}


_KIND_INDEX = {k: i for i, k in enumerate(_AGENCY_KINDS)}
_N_KINDS = len(_AGENCY_KINDS)
_ADULT_DOB_RARE = frozenset(("school", "children_centre", "early_help", "housing", "hospital"))


def _name(p: Person, style: int, given: str, family: str) -> str | tuple[str, str]:
    """A name in one of the styles agencies use: a string, or (given, family) for a structured one."""
    if style <= 1:
        return f"{given} {family}"
    if style == 2:
        return (given, family)
    if style == 3:
        return f"{given} {p.middle} {family.upper()}" if p.middle else f"{given} {family.upper()}"
    return (f"{given} {p.middle}" if p.middle else given, family)


_REPORTS = frozenset(("anonymous_report", "referral", "contact"))
_CONDITIONS = "Not to be shared further without the author's agreement."


class _Kit:
    """How agencies of one kind hold one person, before any variation (kept on the person).

    ``name`` is a string, or a (given, family[, known_as]) tuple for a structured name.
    """

    __slots__ = ("compact", "dob", "name", "nhs", "sex", "style", "upn")

    def __init__(self, p: Person, ag: _Agency) -> None:
        h = (p.idx * 2654435761 + ag.k * 40503) & 0xFFFFFF
        child = p.kind == "child"
        self.dob = p.dob_iso if child or not ag.adult_dob_rare or h % 10 >= 7 else None
        self.nhs = None
        if p.nhs is not None and (ag.nhs == 2 or (ag.nhs == 1 and h % 5 < 2)):
            self.nhs = p.nhs if h & 0x30 else f"{p.nhs[:3]} {p.nhs[3:6]} {p.nhs[6:]}"
        self.upn = p.upn if p.upn is not None and (ag.upn == 2 or (ag.upn == 1 and h % 3 == 0)) else None
        self.style = ag.style if ag.style >= 0 else h % 5
        name = _name(p, self.style, p.given, p.family)
        if self.style == 2 and p.nicks and h % 7 == 0:
            name = (*name, p.nicks[0])
        self.name: Any = name
        self.sex = p.sex if child or h % 5 else None
        self.compact = not h & 0x300


class _Generator:
    """One run: the population, then the fragments one after another."""

    def __init__(
        self,
        n_fragments: int,
        *,
        seed: int,
        people_per_fragment: int,
        variation: float,
        start: date,
        end: date,
        families: int | None,
    ) -> None:
        if n_fragments < 0:
            raise ValueError("n_fragments must not be negative")
        if people_per_fragment < 1:
            raise ValueError("people_per_fragment must be at least 1 (the child)")
        if people_per_fragment > len(_REFS):
            raise ValueError(f"people_per_fragment must be at most {len(_REFS)}")
        if not 0.0 <= variation <= 1.0:
            raise ValueError("variation is a probability: 0 to 1")
        if end <= start + timedelta(days=90):
            raise ValueError("end must be at least 90 days after start")
        self.n = n_fragments
        self.seed = seed
        self.ppf = people_per_fragment
        self.variation = variation
        self.start = start
        self.end = end
        n_fam = families if families is not None else max(8, n_fragments // 25)
        if n_fam < 1:
            raise ValueError("families must be at least 1")
        self.pop = _Population(_Random(f"jigsaw-population-{seed}"), n_fam, start, end)
        self.rng = _Random(f"jigsaw-fragments-{seed}")
        self.start_ord = start.toordinal()
        self.days = days = (end - start).days + 1
        # when each family is known to services: an episode of some months for most, the
        # whole window for a few; and how intensely (a few families are known to everyone).
        # Fragments recorded in a week come from the families open that week.
        rr = self.rng.random
        self.weeks: list[list[int]] = [[] for _ in range((days + 6) // 7)]
        for fi in range(n_fam):
            x = rr()
            length = 30 + int(rr() * 150) if x < 0.7 else 180 + int(rr() * 360) if x < 0.95 else days
            first = int(rr() * (days + length)) - length
            intensity = min(6, int(self.rng.paretovariate(1.6)))
            for week in self.weeks[max(0, first // 7) : max(0, (first + length) // 7 + 1)]:
                week.extend([fi] * intensity)
        everyone = list(range(n_fam))
        for i, week in enumerate(self.weeks):
            if not week:
                self.weeks[i] = everyone
        self.agency_table = _table(_AGENCY_WEIGHTS)
        self.variation_table = _table(zip(VARIATION_KINDS, _VARIATION_WEIGHTS, strict=True))
        lo = self.start_ord - 400
        self.day_base = lo
        self.day_iso = [date.fromordinal(o).isoformat() for o in range(lo, end.toordinal() + 1)]
        self.day_uk = [f"{s[8:10]}/{s[5:7]}/{s[0:4]}" for s in self.day_iso]
        self.next_ref = [0] * len(self.pop.agencies)
        self.recent: list[tuple[int, int, int, str, int, str]] = []

    # ---- writing a person as an agency holds them

    def _mention(
        self,
        p: Person,
        role: str,
        ref: str,
        ag: _Agency,
        res: Residence | None,
        event_ord: int,
        rec_year: int,
        varied: list[str] | None,
    ) -> dict[str, Any]:
        """The person as this agency holds them; varied when ``varied`` is a list."""
        kits = p.kits
        if kits is None:
            kits = p.kits = [None] * _N_KINDS
        kit = kits[ag.k]
        if kit is None:
            kit = kits[ag.k] = _Kit(p, ag)
        name = kit.name
        dob = kit.dob
        nhs = kit.nhs
        upn = kit.upn
        apid = f"{ag.id_prefix}{(p.apid + ag.apid) % 10_000_000:07d}" if ag.apid and p.apid >= 0 else None
        if varied is not None:
            name, dob, nhs, upn, apid = self._vary(p, kit, apid, event_ord, rec_year, varied)
        if name.__class__ is tuple:
            if len(name) == 2:
                name = {"given": name[0], "family": name[1]}
            else:
                name = {"given": name[0], "family": name[1], "known_as": name[2]}
        m: dict[str, Any] = {"ref": ref, "role": role, "name": name}
        if dob is not None:
            m["dob"] = dob
        if kit.sex is not None:
            m["sex"] = kit.sex
        if nhs is None and upn is None:
            if apid is not None:
                m["identifiers"] = [{"scheme": "agency_person_id", "value": apid}]
        else:
            ids = []
            if nhs is not None:
                ids.append({"scheme": "nhs", "value": nhs})
            if upn is not None:
                ids.append({"scheme": "upn", "value": upn})
            if apid is not None:
                ids.append({"scheme": "agency_person_id", "value": apid})
            m["identifiers"] = ids
        if res is not None:
            m["addresses"] = [
                {
                    "text": res.text,
                    "postcode": res.postcode_compact if kit.compact else res.postcode,
                    "local_authority": res.local_authority,
                }
            ]
        return m

    def _vary(
        self,
        p: Person,
        kit: _Kit,
        apid: str | None,
        event_ord: int,
        rec_year: int,
        varied: list[str],
    ) -> tuple[Any, str | None, str | None, str | None, str | None]:
        """Write the mention the way agencies vary, recording the kinds applied in ``varied``.

        Returns the name, dob and identifiers (NHS number, UPN, agency person id) to write.
        """
        r = self.rng.random
        adult = p.kind != "child"
        given = p.given
        family = p.family
        title = None
        initial = False
        dob = kit.dob
        nhs, upn = kit.nhs, kit.upn
        table = self.variation_table
        tries = 2 if r() < 0.1 else 1
        while tries:
            for _ in range(4):
                kind = table[int(r() * len(table))]
                if kind in varied:
                    continue
                if kind == "nickname":
                    if not p.nicks or given is not p.given:
                        continue
                    given = p.nicks[int(r() * len(p.nicks))]
                elif kind == "hyphenation":
                    if not p.hyph or given is not p.given:
                        continue
                    given = p.hyph[int(r() * len(p.hyph))]
                elif kind == "initial":
                    initial = True
                elif kind == "title":
                    if not adult:
                        continue
                    titles = _TITLE[p.sex]
                    title = titles[int(r() * len(titles))]
                elif kind == "surname":
                    if not p.other_families:
                        continue
                    family = p.other_families[int(r() * len(p.other_families))]
                elif kind == "dob_swap" or kind == "dob_digit":
                    if dob is None:
                        continue
                    alt = _dob_swap(p.dob) if kind == "dob_swap" else _dob_digit(p.dob, r)
                    if alt is None or alt.toordinal() > event_ord or alt.year < rec_year - 119:
                        continue
                    dob = alt.isoformat()
                elif kind == "dob_missing":
                    if dob is None:
                        continue
                    dob = None
                elif kind == "nhs_typo":
                    if nhs is None:
                        continue
                    nhs = _nhs_typo(nhs.replace(" ", ""), r)
                else:  # ids_missing
                    if nhs is None and upn is None and apid is None:
                        continue
                    nhs = upn = apid = None
                varied.append(kind)
                break
            tries -= 1
        name = kit.name
        if title is not None or initial:
            g = given[0] if initial else given
            name = f"{title} {g} {family}" if title else f"{g} {family}"
        elif given is not p.given or family is not p.family:
            name = _name(p, kit.style, given, family)
        return name, dob, nhs, upn, apid

    # ---- fragments

    def run(self, truth: Truth | None) -> Iterator[dict[str, Any]]:
        """Yield the fragments; fill ``truth`` when given."""
        rng = self.rng
        r = rng.random
        pop = self.pop
        fams = pop.families
        agencies = pop.agencies
        weeks = self.weeks
        atable = self.agency_table
        n = self.n
        want = self.ppf - 1
        variation = self.variation
        days = self.days
        start_ord = self.start_ord
        end_min = days * 1440 - 1
        day_base = self.day_base
        day_iso = self.day_iso
        day_uk = self.day_uk
        recent = self.recent
        next_ref = self.next_ref
        mention = self._mention
        for i in range(n):
            # when it was recorded: rising through the window, with some jitter
            rec_day = int((i + r()) * days / n) + int(r() * 7) - 3
            rec_day = 0 if rec_day < 0 else (days - 1 if rec_day >= days else rec_day)
            x = r()
            rec_min = rec_day * 1440 + (int(x * 14400) if x < 0.1 else 420 + int(r() * 900))
            rec_ord = start_ord + rec_day
            reuse = None
            if recent and r() < 0.08:
                cand = recent[int(r() * len(recent))]
                if cand[2] <= rec_ord and rec_ord - cand[2] <= 60:
                    reuse = cand
            if reuse is not None:
                # another agency's report of an event already reported
                fam = fams[reuse[0]]
                child = pop.people[reuse[1]]
                event_ord = reuse[2]
            else:
                open_now = weeks[rec_day // 7]
                fam = fams[open_now[int(r() * len(open_now))]]
                x = r()
                lag = 0 if x < 0.25 else 1 if x < 0.45 else 2 + int(r() * 6) if x < 0.75 else 8 + int(r() * 53)
                event_ord = rec_ord - lag
                kids = fam.children
                child = kids[int(r() * len(kids))]
                if child.dob_ord > event_ord or event_ord - child.dob_ord >= 6570:
                    kids = [c for c in kids if c.dob_ord <= event_ord and event_ord - c.dob_ord < 6570]
                    child = kids[int(r() * len(kids))] if kids else fam.children[0]
                    if child.dob_ord > event_ord:
                        event_ord = min(child.dob_ord, rec_ord)
            age_days = event_ord - child.dob_ord
            # where the family lived then, and which authority's agency writes
            periods = fam.periods
            pi = len(periods) - 1
            while pi > 0 and periods[pi].since_ord > event_ord:
                pi -= 1
            period = periods[pi]
            if pi > 0 and event_ord - period.since_ord < 180 and r() < 0.15:
                period = periods[pi - 1]  # the old authority's agency, holding the old address
            akey = atable[int(r() * len(atable))]
            if reuse is not None and akey == reuse[5]:
                akey = "social_care" if akey != "social_care" else "police"
            if akey == "school":
                if age_days < 1460 or age_days > 5840:
                    akey = "health"
            elif akey == "children_centre" and age_days > 1825:
                akey = "early_help"
            if akey == "school":
                ag = agencies[period.schools[0 if age_days < 4015 else 1]]
            else:
                ag = agencies[pop.by_la[period.la][akey]]
            if reuse is not None:
                kind = _SAME_EVENT_KIND.get(reuse[3], {}).get(akey, reuse[3])
                event_no = reuse[4]
            else:
                kind = ag.kinds[int(r() * len(ag.kinds))]
                event_no = i
                entry = (fam.idx, child.idx, event_ord, kind, i, akey)
                if len(recent) < 512:
                    recent.append(entry)
                else:
                    recent[i & 511] = entry
            # the people mentioned: the child, then others of the household present then
            members = fam.members
            if event_ord >= fam.settled_ord:
                # everyone is born and has joined: pick without building a list
                nm = len(members) - 1
                if nm <= want:
                    others = [q for q in members if q is not child]
                elif want == 2:
                    a = int(r() * nm)
                    b = int(r() * (nm - 1))
                    b += b >= a
                    others = [members[a + (a >= child.pos)], members[b + (b >= child.pos)]]
                else:
                    others = [q for q in members if q is not child]
                    for k in range(want):
                        j = k + int(r() * (nm - k))
                        others[k], others[j] = others[j], others[k]
                    del others[want:]
            else:
                others = [q for q in members if q is not child and q.dob_ord <= event_ord and q.joined_ord <= event_ord]
                if len(others) > want:
                    for k in range(want):
                        j = k + int(r() * (len(others) - k))
                        others[k], others[j] = others[j], others[k]
                    del others[want:]
            if len(others) < want and fam.grandparent is not None:
                others.append(fam.grandparent)
            if len(others) < want:
                others.append(period.neighbour)
            nref = next_ref[ag.idx] = next_ref[ag.idx] + 1
            rec_iso = day_iso[rec_ord - day_base]
            record_ref = f"{ag.prefix}-{rec_iso[:4]}-{nref:07d}"
            rec_year = int(rec_iso[:4])
            res = period.res
            varied: list[str] | None = [] if r() < variation else None
            mentions = [mention(child, "child", "p1", ag, res if r() < 0.8 else None, event_ord, rec_year, varied)]
            if truth is not None:
                aid = ag.id
                truth.mention_person[(aid, record_ref, 0)] = child.id
                if varied:
                    truth.variations[(aid, record_ref, 0)] = tuple(varied)
                truth.fragment_event[(aid, record_ref)] = f"E{event_no:08d}"
            adult_label = "parent"
            neighbour_ref = None
            for j, p in enumerate(others, 1):
                pk = p.kind
                ref = _REFS[j]
                if pk == "child":
                    role = "sibling" if r() < 0.7 else "child"
                elif pk == "mother" or pk == "father":
                    role = "parent"
                elif pk == "partner":
                    if kind == "police_callout" and r() < 0.5:
                        role = "alleged_perpetrator"
                    else:
                        role = "step_parent" if r() < 0.2 else "partner"
                elif pk == "grandparent":
                    role = "relative" if r() < 0.8 else "carer"
                else:
                    role = "neighbour" if r() < 0.6 else "referrer" if kind in _REPORTS else "witness"
                varied = [] if r() < variation else None
                if pk == "neighbour":
                    neighbour_ref = ref
                    if r() < 0.7:
                        m: dict[str, Any] = {
                            "ref": ref,
                            "role": role,
                            "description": "next-door neighbour" if r() < 0.5 else "neighbour, lives opposite",
                            "identity_protected": True,
                        }
                        varied = None
                    else:
                        m = mention(p, role, ref, ag, p.home, event_ord, rec_year, varied)
                        m["identity_protected"] = True
                else:
                    m = mention(p, role, ref, ag, (p.home or res) if r() < 0.8 else None, event_ord, rec_year, varied)
                    if j == 1 and pk != "child":
                        adult_label = _ADULT_ROLE.get(pk, "parent")
                mentions.append(m)
                if truth is not None:
                    truth.mention_person[(aid, record_ref, j)] = p.id
                    if varied:
                        truth.variations[(aid, record_ref, j)] = tuple(varied)
            # the event
            scen = _SCENARIOS[kind]
            summary, narrative, concerns, sig = scen[int(r() * len(scen))]
            author = ag.authors[int(r() * len(ag.authors))]
            age = age_days // 365
            fill = {
                "c": child.given,
                "age": str(age) if age else f"{age_days // 30} months",
                "a": adult_label,
                "w": author[0],
            }
            lag = rec_ord - event_ord
            ed = event_ord - day_base
            x = r()
            when: Any
            if x < 0.4:
                when = day_iso[ed]
            elif x < 0.6:
                when = f"{day_iso[ed]}T{_HM[int(r() * (rec_min % 1440 if lag == 0 else 1440))]}"
            elif x < 0.7:
                when = day_uk[ed]
            elif x < 0.85:
                when = {"start": day_iso[ed]}
            elif x < 0.9:
                when = {"text": day_iso[ed], "approximate": True}
            elif x < 0.95 and lag < len(_RELATIVE_DAYS):
                when = _RELATIVE_DAYS[lag]
            else:
                when = day_iso[ed][:7] if lag > 31 else day_iso[ed]
            ev: dict[str, Any] = {
                "kind": kind,
                "when": when,
                "summary": summary.format_map(fill),
                "narrative": narrative.format_map(fill),
            }
            if kind in _AT_HOME or (kind == "incident" and r() < 0.3):
                ev["place"] = {"description": "Family home", "address": {"text": res.text, "postcode": res.postcode}}
            elif ag.place and r() < 0.7:
                ev["place"] = {"description": ag.name}
            if r() < 0.4:
                ev["action_taken"] = _ACTIONS[int(r() * len(_ACTIONS))]
            # the statement
            x = r()
            if kind == "anonymous_report":
                statement = {"kind": "hearsay", "reported_by": neighbour_ref or "anonymous caller"}
                ev["source_of_information"] = "Anonymous caller"
            elif x < 0.55:
                statement = {"kind": "fact"}
            elif x < 0.75:
                statement = {"kind": "opinion", "whose": author[0]}
            elif x < 0.9:
                statement = {"kind": "hearsay", "reported_by": neighbour_ref or ("p2" if others else "p1")}
            else:
                statement = {"kind": "allegation"}
            x = r()
            significance = sig if x < 0.7 else ("medium" if sig != "medium" else ("high" if x < 0.85 else "low"))
            # sharing: the lawful basis, special category data, whether the family was told
            x = r()
            sharing: dict[str, Any]
            consent = 0.72 <= x < 0.94
            if x < 0.6:
                sharing = {"lawful_basis": "public_task"}
            elif x < 0.72:
                sharing = {"lawful_basis": "legal_obligation"}
            elif consent:
                sharing = {
                    "lawful_basis": "consent",
                    "consent": {
                        "given_by": "mother" if fam.mother else "father",
                        "scope": _CONSENT_SCOPE[int(r() * len(_CONSENT_SCOPE))],
                        "given_on": day_iso[ed - int(r() * 30)],
                    },
                }
            else:
                sharing = {"lawful_basis": "vital_interests"}
            if ag.type == "health":
                sharing["special_category"] = ["health"]
                sharing["special_category_condition"] = (
                    "health_or_social_care" if r() < 0.5 else "safeguarding_children"
                )
            elif ag.type == "police" and (kind == "police_callout" or kind == "incident"):
                sharing["special_category"] = ["criminal_offence"]
                sharing["special_category_condition"] = "safeguarding_children"
            elif "parental_mental_health" in concerns or "parental_alcohol_misuse" in concerns:
                sharing["special_category"] = ["health"]
                sharing["special_category_condition"] = "safeguarding_children"
            told = consent or r() < 0.75
            sharing["family_told"] = told
            if not told:
                sharing["family_not_told_reason"] = _NOT_TOLD[int(r() * len(_NOT_TOLD))]
            x = r()
            shared_min = rec_min + (int(r() * 60) if x < 0.5 else int(r() * 2880) if x < 0.9 else int(r() * 20160))
            if shared_min > end_min:
                shared_min = end_min if end_min >= rec_min else rec_min
            frag: dict[str, Any] = {
                "agency": {"id": ag.id, "name": ag.name, "type": ag.type, "local_authority": ag.la},
                "author": {"role": author[0], "id": author[1]},
                "record_ref": record_ref,
                "recorded_at": f"{rec_iso}T{_HM[rec_min % 1440]}:00Z",
                "shared_at": f"{day_iso[shared_min // 1440 + start_ord - day_base]}T{_HM[shared_min % 1440]}:00Z",
                "event": ev,
                "people": mentions,
                "statement": statement,
                "concerns": list(concerns),
                "significance": significance,
                "sharing": sharing,
            }
            # relationships the agency asserts
            if others and r() < 0.5:
                rels = []
                for j, q in enumerate(others, 1):
                    rel = _relation(q, child)
                    if rel is not None:
                        rels.append({"subject": _REFS[j], "kind": rel, "object": "p1"})
                    if rel == "mother_of":
                        for k, o in enumerate(others, 1):
                            if o.kind == "father" or o.kind == "partner":
                                rels.append({"subject": _REFS[k], "kind": "partner_of", "object": _REFS[j]})
                if rels:
                    frag["relationships"] = rels
            if ag.type == "police" and r() < 0.6:
                x = r()
                frag["grading"] = {
                    "source": "1" if x < 0.2 else "2" if x < 0.8 else "3",
                    "information": "ABCDE"[int(r() * 5)],
                    "handling": "P" if r() < 0.85 else "C",
                }
            # who may read it: mostly the default (the case team)
            x = r()
            if x < 0.08:
                frag["markings"] = {"audience": "safeguarding_leads"}
            elif x < 0.11:
                frag["markings"] = {"audience": "originating_agency", "existence_visible": r() < 0.7}
            elif x < 0.14:
                other = agencies[pop.by_la[period.la]["social_care"]].id
                frag["markings"] = {"audience": "named_agencies", "agencies": [other]}
            elif x < 0.16:
                frag["markings"] = {"handling": ["share_with_conditions"], "conditions": _CONDITIONS}
            if not told and r() < 0.5:
                frag.setdefault("markings", {}).setdefault("handling", []).append("do_not_tell_family")
            yield frag


def _dob_swap(d: date) -> date | None:
    if d.day > 12 or d.day == d.month:
        return None
    return date(d.year, d.day, d.month)


def _dob_digit(d: date, r: Any) -> date | None:
    """The date with one digit of its ISO form changed (still a real date), or None."""
    x = r()
    try:
        if x < 0.4:
            y = d.year
            last = y % 10
            new = (last + 1) % 10 if r() < 0.5 else (last + 9) % 10
            return d.replace(year=y - last + new)
        if x < 0.8:
            units = d.day % 10
            new = (units + 1 + int(r() * 9)) % 10
            day = d.day - units + new
            return d.replace(day=day) if day >= 1 else None
        units = d.month % 10
        new = (units + 1 + int(r() * 9)) % 10
        month = d.month - units + new
        return d.replace(month=month) if 1 <= month <= 12 else None
    except ValueError:
        return None


def _nhs_typo(value: str, r: Any) -> str:
    """One digit changed: the modulus 11 check then always fails."""
    pos = int(r() * 10)
    old = int(value[pos])
    new = (old + 1 + int(r() * 9)) % 10
    return value[:pos] + str(new) + value[pos + 1 :]


# -------------------------------------------------------------------------- public API


def _generator(
    n_fragments: int,
    seed: int,
    people_per_fragment: int,
    variation: float,
    start: date,
    end: date,
    families: int | None,
) -> _Generator:
    return _Generator(
        n_fragments,
        seed=seed,
        people_per_fragment=people_per_fragment,
        variation=variation,
        start=start,
        end=end,
        families=families,
    )


def generate(
    n_fragments: int,
    *,
    seed: int = 0,
    people_per_fragment: int = 3,
    variation: float = 0.3,
    start: date = date(2024, 1, 1),
    end: date = date(2026, 11, 1),
    families: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield ``n_fragments`` synthetic fragments as raw dicts, deterministic for ``seed``.

    ``people_per_fragment`` mentions per fragment: the child first, then other members of
    the household (then the grandmother and the neighbour when the household is smaller);
    fewer when the family has fewer people born and present at the time. ``variation``
    is the probability that a mention is written differently from the truth (see the
    module docstring). ``recorded_at`` and ``shared_at`` fall within ``[start, end]``
    (any time of day on ``end``); keep ``end`` before the day the fragments are
    validated. ``families`` sets the population size (default: one family per 25
    fragments, at least 8).

    The population is built when this is called (arguments are checked then too); the
    fragments stream out as they are iterated. Every fragment is a fresh dict sharing no
    part with any other. Bad arguments raise ``ValueError``.
    """
    return _generator(n_fragments, seed, people_per_fragment, variation, start, end, families).run(None)


def generate_json(
    n_fragments: int,
    *,
    seed: int = 0,
    people_per_fragment: int = 3,
    variation: float = 0.3,
    start: date = date(2024, 1, 1),
    end: date = date(2026, 11, 1),
    families: int | None = None,
) -> Iterator[bytes]:
    """The fragments of :func:`generate`, each as compact JSON (``orjson.dumps``), for files."""
    gen = _generator(n_fragments, seed, people_per_fragment, variation, start, end, families)
    return map(orjson.dumps, gen.run(None))


def generate_with_truth(
    n_fragments: int,
    *,
    seed: int = 0,
    people_per_fragment: int = 3,
    variation: float = 0.3,
    start: date = date(2024, 1, 1),
    end: date = date(2026, 11, 1),
    families: int | None = None,
) -> tuple[list[dict[str, Any]], Truth]:
    """The fragments :func:`generate` makes from the same arguments, as a list, and their truth."""
    gen = _generator(n_fragments, seed, people_per_fragment, variation, start, end, families)
    truth = Truth()
    enabled = gc.isenabled()
    gc.disable()  # a growing list of fresh dicts makes the cyclic collector rescan them all
    try:
        frags = list(gen.run(truth))
    finally:
        if enabled:
            gc.enable()
    _finish_truth(gen, truth)
    return frags, truth


def _finish_truth(gen: _Generator, truth: Truth) -> None:
    """Fill in what the run does not: people, families, households, relationships, twins."""
    pop = gen.pop
    for p in pop.people:
        p.kits = None
        truth.people[p.id] = p
    for fam in pop.families:
        everyone = [*fam.members, *([fam.grandparent] if fam.grandparent else [])]
        truth.families[fam.id] = [p.id for p in everyone]
        truth.households[fam.id] = [per.res for per in fam.periods]
        for a in everyone:
            for b in everyone:
                if a is not b:
                    rel = _relation(a, b)
                    if rel is not None and (rel not in _SYMMETRIC or a.id < b.id):
                        truth.relationships.append((a.id, rel, b.id))
        for per in fam.periods:
            for c in fam.children:
                truth.relationships.append((per.neighbour.id, "neighbour_of", c.id))
    truth.twins = list(pop.twins)


_SYMMETRIC = frozenset(("sibling_of", "half_sibling_of", "partner_of"))


def write_jsonl(path: str | Path, fragments: Iterable[dict[str, Any] | bytes]) -> int:
    """Write fragments as JSON Lines, one per line, and return how many.

    Each fragment is a dict (serialised with orjson) or JSON from :func:`generate_json`.
    """
    n = 0
    dumps = orjson.dumps
    with open(path, "wb") as fh:
        buf: list[bytes] = []
        for frag in fragments:
            buf.append(frag if isinstance(frag, bytes) else dumps(frag))
            n += 1
            if len(buf) >= 4096:
                fh.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            fh.write(b"\n".join(buf) + b"\n")
    return n


def main(argv: list[str] | None = None) -> int:
    """``python -m ingest.generate N OUT.jsonl [--seed S] [--truth TRUTH.json]``."""
    ap = argparse.ArgumentParser(
        prog="python -m ingest.generate",
        description="Write synthetic safeguarding fragments as JSON Lines, with their ground truth.",
    )
    ap.add_argument("n", type=int, help="number of fragments")
    ap.add_argument("out", type=Path, help="JSON Lines file to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--truth", type=Path, help="also write the ground truth as JSON here")
    ap.add_argument("--people-per-fragment", type=int, default=3)
    ap.add_argument("--variation", type=float, default=0.3)
    ap.add_argument("--families", type=int, default=None, help="population size (default: N / 25)")
    ap.add_argument("--start", type=date.fromisoformat, default=date(2024, 1, 1))
    ap.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 1))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        gen = _generator(
            args.n, args.seed, args.people_per_fragment, args.variation, args.start, args.end, args.families
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    truth = Truth() if args.truth is not None else None
    n = write_jsonl(args.out, map(orjson.dumps, gen.run(truth)))
    if truth is not None and args.truth is not None:
        _finish_truth(gen, truth)
        args.truth.write_bytes(orjson.dumps(truth.as_json()))
    dt = time.perf_counter() - t0
    print(f"wrote {n} fragments to {args.out} in {dt:.1f} s ({n / max(dt, 1e-9):,.0f}/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
