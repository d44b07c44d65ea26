"""The synthetic generator: deterministic, valid fragments, real variation, complete truth."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from graph.text import fold
from ingest.generate import (
    VARIATION_KINDS,
    Truth,
    generate,
    generate_json,
    generate_with_truth,
    main,
    write_jsonl,
)
from ingest.normalise import nhs_number_is_valid, upn_is_valid
from ingest.validate import check_fragment

NOW = datetime(2026, 11, 23, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run() -> tuple[list[dict[str, Any]], Truth]:
    return generate_with_truth(6_000, seed=11)


def _key(frag: dict[str, Any], i: int) -> tuple[str, str, int]:
    return (frag["agency"]["id"], frag["record_ref"], i)


def _valid(frags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every fragment's canonical form; fails naming the fields of the first few errors."""
    out, problems = [], Counter[str]()
    for frag in frags:
        canonical, errors = check_fragment(frag, now=NOW)
        for e in errors:
            problems[str(e)] += 1
        if canonical is not None:
            out.append(canonical)
    assert not problems, problems.most_common(10)
    return out


def test_same_seed_same_output() -> None:
    a = list(generate(800, seed=3))
    assert a == list(generate(800, seed=3))
    assert a != list(generate(800, seed=4))
    assert a == generate_with_truth(800, seed=3)[0]


def test_json_is_what_generate_yields() -> None:
    texts = list(generate_json(500, seed=5, variation=0.8))
    assert [orjson.loads(t) for t in texts] == list(generate(500, seed=5, variation=0.8))


def test_fragments_are_fresh_objects() -> None:
    a, b = list(generate(50, seed=1))[:2]
    a["people"][0]["name"] = "changed"
    a["agency"]["id"] = "changed"
    assert b["agency"]["id"] != "changed"
    assert next(iter(generate(50, seed=1)))["agency"]["id"] != "changed"


def test_every_fragment_passes_validation(run: tuple[list[dict[str, Any]], Truth]) -> None:
    frags, _ = run
    _valid(frags[:4_000])


@pytest.mark.parametrize(
    ("people", "variation", "seed"),
    [(1, 0.3, 2), (5, 1.0, 3), (8, 0.0, 4)],
)
def test_other_settings_pass_validation(people: int, variation: float, seed: int) -> None:
    frags, truth = generate_with_truth(700, seed=seed, people_per_fragment=people, variation=variation)
    _valid(frags)
    counts = Counter(len(f["people"]) for f in frags)
    assert max(counts) == people if people <= 5 else max(counts) <= people  # fewer when the family is smaller
    assert sum(n * c for n, c in counts.items()) / len(frags) >= min(people, 3.5)
    if variation == 0.0:
        assert not truth.variations


def test_dates_are_inside_the_window(run: tuple[list[dict[str, Any]], Truth]) -> None:
    frags, truth = run
    start, end = date(2024, 1, 1), date(2026, 11, 1)
    recorded = []
    for frag, canonical in zip(frags[:1500], _valid(frags[:1500]), strict=True):
        rec = datetime.fromisoformat(frag["recorded_at"])
        shared = datetime.fromisoformat(frag["shared_at"])
        assert start <= rec.date() <= end
        assert rec <= shared and shared.date() <= end
        when = canonical["event"]["when"]
        assert date.fromisoformat(when["start"]) <= rec.date()
        child = truth.people[truth.mention_person[_key(frag, 0)]]
        assert date.fromisoformat(when["end"]) >= child.dob
        recorded.append(rec)
    # a feed: in the order recorded, give or take a few days
    assert all(a <= b for a, b in zip(recorded, recorded[100:], strict=False))


def test_truth_covers_every_mention(run: tuple[list[dict[str, Any]], Truth]) -> None:
    frags, truth = run
    keys = {_key(f, i) for f in frags for i in range(len(f["people"]))}
    assert keys == set(truth.mention_person)
    assert set(truth.mention_person.values()) <= set(truth.people)
    assert {(f["agency"]["id"], f["record_ref"]) for f in frags} == set(truth.fragment_event)
    assert len(frags) == len(truth.fragment_event)  # record_ref unique per agency
    # the child comes first and really is a child of the family
    for f in frags[:500]:
        child = truth.people[truth.mention_person[_key(f, 0)]]
        assert f["people"][0]["role"] == "child" and child.kind == "child"
        assert child.family_id is not None and child.id in truth.families[child.family_id]
    # several agencies report some of the same events
    assert Counter(truth.fragment_event.values()).most_common(1)[0][1] >= 2


def test_population_is_realistic(run: tuple[list[dict[str, Any]], Truth]) -> None:
    frags, truth = run
    people = truth.people.values()
    assert all(p.nhs is None or (p.nhs[0] == "9" and nhs_number_is_valid(p.nhs)) for p in people)
    upns = [p.upn for p in people if p.upn]
    assert upns and all(upn_is_valid(u) for u in upns) and len(set(upns)) == len(upns)
    nhs = [p.nhs for p in people if p.nhs]
    assert len(set(nhs)) == len(nhs)
    sizes = Counter(sum(truth.people[m].kind == "child" for m in ms) for ms in truth.families.values())
    assert set(sizes) >= {1, 2, 3, 4}
    # families move, some across local authorities
    moved = [h for h in truth.households.values() if len(h) > 1]
    assert moved and any(len({r.local_authority for r in h}) > 1 for h in moved)
    assert all(r.postcode == r.postcode.upper() and " " in r.postcode for h in truth.households.values() for r in h)
    # agencies of every kind, named by local authority
    types = Counter(f["agency"]["type"] for f in frags)
    expected = ("police", "health", "school", "social_care", "early_help", "housing", "children_centre")
    assert set(expected) <= set(types)
    ids = {f["agency"]["id"] for f in frags}
    assert {"northshire-police", "eastmoor-childrens-social-care", "westvale-housing"} & ids
    # a mix of events, statements, lawful bases
    assert len({f["event"]["kind"] for f in frags}) >= 15
    assert {f["statement"]["kind"] for f in frags} == {"fact", "opinion", "hearsay", "allegation"}
    assert {"public_task", "consent", "legal_obligation"} <= {f["sharing"]["lawful_basis"] for f in frags}
    assert any(f.get("relationships") for f in frags)
    assert any(m["role"] == "partner" for f in frags for m in f["people"])


def test_twins(run: tuple[list[dict[str, Any]], Truth]) -> None:
    frags, truth = run
    assert truth.twins
    for a_id, b_id in truth.twins:
        a, b = truth.people[a_id], truth.people[b_id]
        assert a.id != b.id and a.kind == b.kind == "child"
        assert a.dob == b.dob and a.family == b.family and a.family_id == b.family_id
        assert fold(a.given) != fold(b.given)
        assert a.mother == b.mother and a.father == b.father
        # one household, so one address history
        assert a.family_id is not None and {a_id, b_id} <= set(truth.families[a.family_id])
    # agencies write about both twins in one fragment, with one date of birth and one address
    pairs = {frozenset(t) for t in truth.twins}
    together = 0
    for f in frags:
        ids = [truth.mention_person[_key(f, i)] for i in range(len(f["people"]))]
        for a_id, b_id in truth.twins:
            if a_id in ids and b_id in ids:
                ma, mb = f["people"][ids.index(a_id)], f["people"][ids.index(b_id)]
                if "addresses" in ma and "addresses" in mb:
                    assert ma["addresses"][0]["text"] == mb["addresses"][0]["text"]
                together += 1
    assert pairs and together


def test_variations_occur(run: tuple[list[dict[str, Any]], Truth]) -> None:
    frags, truth = run
    kinds = Counter(k for ks in truth.variations.values() for k in ks)
    assert set(kinds) == set(VARIATION_KINDS), kinds
    varied = len(truth.variations) / len(truth.mention_person)
    assert 0.15 < varied < 0.35  # variation=0.3, less where nothing applies (the neighbour)
    by_key = {_key(f, i): (f, m) for f in frags for i, m in enumerate(f["people"])}
    seen: Counter[str] = Counter()
    for key, ks in truth.variations.items():
        frag, m = by_key[key]
        person = truth.people[truth.mention_person[key]]
        name = m.get("name")
        written = fold(name if isinstance(name, str) else f"{name['given']} {name['family']}")
        if "nickname" in ks and "initial" not in ks:
            assert any(fold(nick) in written.split() for nick in person.nicks)
            seen["nickname"] += 1
        if ks == ("dob_swap",):
            d = date.fromisoformat(m["dob"])
            assert (d.day, d.month) == (person.dob.month, person.dob.day) and d != person.dob
            seen["dob_swap"] += 1
        if ks == ("dob_digit",):
            assert (
                m["dob"] != person.dob_iso and sum(x != y for x, y in zip(m["dob"], person.dob_iso, strict=True)) == 1
            )
            seen["dob_digit"] += 1
        if "dob_missing" in ks:
            assert "dob" not in m
        if ks == ("surname",):
            surname = written.split()[-1]
            assert surname != fold(person.family) and surname in {fold(s) for s in person.other_families}
            seen["surname"] += 1
        if ks == ("title",):
            assert written.split()[0] in ("mr", "mrs", "ms", "miss")
        if "nhs_typo" in ks and "ids_missing" not in ks:
            canonical, errors = check_fragment(frag, now=NOW)
            assert canonical is not None, errors
            mention = canonical["people"][key[2]]
            nhs = [i for i in mention["identifiers"] if i["scheme"] == "nhs"]
            assert nhs and not nhs[0]["verified"] and nhs[0]["value"] != person.nhs
            seen["nhs_typo"] += 1
    assert all(seen[k] > 0 for k in ("nickname", "dob_swap", "dob_digit", "surname", "nhs_typo")), seen
    # unvaried mentions of health agencies carry the true, verified NHS number
    plain_nhs = 0
    for key, (_frag, m) in list(by_key.items())[:3000]:
        if key in truth.variations:
            continue
        for ident in m.get("identifiers", ()):
            if ident["scheme"] == "nhs":
                assert ident["value"].replace(" ", "") == truth.people[truth.mention_person[key]].nhs
                plain_nhs += 1
    assert plain_nhs


def test_write_jsonl_and_command_line(tmp_path: Path) -> None:
    frags = list(generate(120, seed=9))
    out = tmp_path / "a.jsonl"
    assert write_jsonl(out, frags) == 120
    assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == frags
    out2, truth_path = tmp_path / "b.jsonl", tmp_path / "truth.json"
    assert main(["120", str(out2), "--seed", "9", "--truth", str(truth_path)]) == 0
    assert out2.read_bytes() == out.read_bytes()
    truth = orjson.loads(truth_path.read_bytes())
    assert len(truth["mentions"]) == sum(len(f["people"]) for f in frags)
    assert {"people", "families", "households", "twins", "relationships", "events", "variations"} <= set(truth)
    assert main(["10", str(tmp_path / "c.jsonl"), "--variation", "2"]) == 2


def test_module_entry_point(tmp_path: Path) -> None:
    out = tmp_path / "m.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "ingest.generate", "40", str(out), "--seed", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert len(out.read_bytes().splitlines()) == 40


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        generate(10, people_per_fragment=0)
    with pytest.raises(ValueError):
        generate(10, variation=1.5)
    with pytest.raises(ValueError):
        generate(10, start=date(2026, 1, 1), end=date(2025, 1, 1))
    assert list(generate(0)) == []
