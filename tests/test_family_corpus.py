"""The family corpus (bench/family_corpus.py): deterministic, valid, and every hard case present."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from bench.family_corpus import NOW, Corpus, generate_corpus, iter_mentions, load_pool
from ingest.normalise import nhs_number_is_valid, upn_is_valid
from ingest.validate import check_fragment

FAMILIES = 80


@pytest.fixture(scope="module")
def main() -> Corpus:
    return generate_corpus("main", FAMILIES)


@pytest.fixture(scope="module")
def heldout() -> Corpus:
    return generate_corpus("heldout", FAMILIES)


@pytest.fixture(scope="module")
def docs(main: Corpus) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for raw in main.fragments:
        doc, errors = check_fragment(raw, now=NOW)
        assert doc is not None, (raw["record_ref"], errors)
        out[(raw["agency"]["id"], raw["record_ref"])] = doc
    return out


def _ids(m: dict[str, Any], scheme: str) -> list[str]:
    return [i["value"] for i in m.get("identifiers", ()) if i["scheme"] == scheme]


def test_deterministic_for_a_seed(main: Corpus) -> None:
    again = generate_corpus("main", FAMILIES)
    assert again.fragments == main.fragments
    assert again.truth.mention_person == main.truth.mention_person
    assert again.truth.fragment_incident == main.truth.fragment_incident
    assert again.truth.ambiguous == main.truth.ambiguous
    assert generate_corpus("heldout", FAMILIES).fragments != main.fragments


def test_every_fragment_validates(docs: dict[tuple[str, str], dict[str, Any]], heldout: Corpus) -> None:
    assert len(docs) > 400
    for raw in heldout.fragments:
        doc, errors = check_fragment(raw, now=NOW)
        assert doc is not None, (raw["record_ref"], errors)


def test_truth_is_complete(main: Corpus) -> None:
    keys = [k for _, _, k, _ in iter_mentions(main)]
    assert len(keys) == len(set(keys)) == len(main.truth.mention_person)
    assert set(main.truth.fragment_incident) == {(r["agency"]["id"], r["record_ref"]) for r in main.fragments}
    assert main.truth.ambiguous <= set(main.truth.mention_person)
    for hid, members in main.truth.households.items():
        assert 2 <= len(members) <= 6, hid
        assert all(main.truth.people[p]["household"] == hid for p in members if not hid.endswith("-F"))


def test_blended_families_and_partners_by_first_name(main: Corpus) -> None:
    assert main.truth.features["step_parents"]
    found = 0
    for raw in main.fragments:
        refs = {m["ref"]: m for m in raw["people"]}
        for r in raw["relationships"]:
            m = refs[r["subject"]]
            if r["kind"] == "partner_of" and m["role"] == "partner" and " " not in m["name"] and "dob" not in m:
                found += 1
    assert found


def test_school_records_title_initial_no_addresses(main: Corpus) -> None:
    schools = [r for r in main.fragments if r["agency"]["type"] == "school"]
    assert schools
    titled = 0
    for raw in schools:
        assert all("addresses" not in m for m in raw["people"])
        for m in raw["people"]:
            if m["role"] == "child":
                assert all(upn_is_valid(u) for u in _ids(m, "upn")) and _ids(m, "upn")
            elif isinstance(m["name"], str) and m["name"].split()[0] in ("Mrs", "Ms", "Mr"):
                assert "dob" not in m
                titled += 1
    assert titled


def test_health_records_carry_valid_nhs_numbers(main: Corpus) -> None:
    health = [r for r in main.fragments if r["agency"]["type"] == "health"]
    numbers = [n for r in health for m in r["people"] for n in _ids(m, "nhs")]
    assert numbers and all(nhs_number_is_valid(n) for n in numbers)


def test_maiden_names_with_and_without_previous_names(main: Corpus) -> None:
    people = main.truth.people
    with_prev = without_prev = 0
    for _, _, key, pid in iter_mentions(main):
        if key not in {tuple(k) for k in main.truth.features.get("maiden_with_previous", ())} | {
            tuple(k) for k in main.truth.features.get("maiden_without_previous", ())
        }:
            continue
        raw = next(r for r in main.fragments if (r["agency"]["id"], r["record_ref"]) == key[:2])
        m = next(m for m in raw["people"] if m["ref"] == key[2])
        assert people[pid]["maiden"] and people[pid]["maiden"].lower() in str(m["name"]).lower()
        if "previous_names" in m:
            with_prev += 1
            assert any(people[pid]["family"].lower() in n.lower() for n in m["previous_names"])
        else:
            without_prev += 1
    assert with_prev and without_prev


def test_police_records_naming_adults_only(main: Corpus) -> None:
    keys = main.truth.features["police_adults_only"]
    assert keys
    by_key = {(r["agency"]["id"], r["record_ref"]): r for r in main.fragments}
    for key in keys:
        raw = by_key[tuple(key)]
        assert raw["agency"]["type"] == "police"
        assert all(m["role"] != "child" for m in raw["people"])


def test_same_incident_from_two_agencies_one_with_a_vague_date(
    main: Corpus, docs: dict[tuple[str, str], dict[str, Any]]
) -> None:
    by_incident: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for fk, inc in main.truth.fragment_incident.items():
        by_incident[inc].append(fk)
    vague = exact = 0
    for fks in by_incident.values():
        if len(fks) < 2:
            continue
        assert len({a for a, _ in fks}) == len(fks)  # two agencies, not one twice
        precisions = {docs[fk]["event"]["when"]["precision"] for fk in fks}
        if precisions & {"approximate", "month"}:
            vague += 1
        else:
            exact += 1
    assert vague and exact
    forms = set()
    for inc in main.truth.features["approx_same_incident"]:
        for fk in by_incident[inc]:
            w = next(r for r in main.fragments if (r["agency"]["id"], r["record_ref"]) == fk)["event"]["when"]
            forms.add("object" if isinstance(w, dict) else "month" if w[:4].isdigit() else "words")
    assert forms == {"object", "month", "words"}
    assert main.truth.features["same_day_different_incidents"]


def test_moves_between_local_authorities(main: Corpus) -> None:
    assert main.truth.features["moves"]
    las: dict[str, set[str]] = defaultdict(set)
    for raw in main.fragments:
        for m in raw["people"]:
            for a in m.get("addresses", ()):
                las[main.truth.mention_person[(raw["agency"]["id"], raw["record_ref"], m["ref"])]].add(
                    a["local_authority"]
                )
    assert any(len(v) == 2 for v in las.values())


def test_twins_same_names_and_half_siblings(main: Corpus) -> None:
    people = main.truth.people
    for a, b in main.truth.features["twins"]:
        assert people[a]["dob"] == people[b]["dob"] and people[a]["family"] == people[b]["family"]
        assert people[a]["household"] == people[b]["household"]
    for parent, child in main.truth.features["parent_child_same_name"]:
        assert (people[parent]["given"], people[parent]["family"]) == (people[child]["given"], people[child]["family"])
        assert people[parent]["adult"] and not people[child]["adult"]
    pairs = main.truth.features["same_name_half_siblings"]
    assert pairs
    for a, b in pairs:
        assert (people[a]["given"], people[a]["family"]) == (people[b]["given"], people[b]["family"])
        assert people[a]["dob"] != people[b]["dob"] and people[a]["household"] != people[b]["household"]


def test_ambiguous_mentions_fit_two_relatives(main: Corpus) -> None:
    amb = main.truth.ambiguous
    assert amb
    people = main.truth.people
    by_key = {(r["agency"]["id"], r["record_ref"]): r for r in main.fragments}
    for key in amb:
        m = next(m for m in by_key[key[:2]]["people"] if m["ref"] == key[2])
        assert "dob" not in m and "identifiers" not in m
        given, family = m["name"].split()
        pid = main.truth.mention_person[key]
        hid = people[pid]["household"]
        fits = [
            q
            for q in main.truth.households[hid]
            if people[q]["family"] == family and people[q]["given"].startswith(given)
        ]
        assert len(fits) >= 2, key


def test_heldout_name_pools_are_disjoint() -> None:
    a, b = load_pool("main"), load_pool("heldout")

    def words(pool: dict[str, Any]) -> set[str]:
        out = set(pool["female_given"]) | set(pool["male_given"]) | set(pool["surnames"]) | set(pool["streets"])
        for la in pool["local_authorities"]:
            out |= {la["name"], la["postcode_area"], la["upn_la"], *la["towns"], *la["schools"]}
        return out

    assert not words(a) & words(b)


def test_bench_measures_a_small_corpus() -> None:
    """The benchmark's plumbing: load into a real store, read people and events, score."""
    from bench.bench_family_resolution import load, report

    corpus = generate_corpus("main", 12)
    loaded = load(corpus, review=False, matcher=None)
    assert set(loaded.people) == set(corpus.truth.mention_person)
    assert set(loaded.events) == set(corpus.truth.fragment_incident)
    lines = report("main", loaded, None, splink=False)
    assert any(line.startswith("| pairwise precision |") for line in lines)
