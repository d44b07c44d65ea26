"""Entity-resolution speed at scale (not a test): a full re-link of a store of
1,000,000+ mentions, and matching one new mention against 1,000,000 people.

    /tmp/venv/bin/python -m bench.bench_linkage_scale [--people N] [--dup F] [--new K] [--runs R]

The population: N distinct synthetic people (default 1,000,000), names from the
generator's pools (ingest/generate.py: a small pool, so names collide far more than in
a real population and blocks are bigger than they would be), dates of birth over 85
years, sex, and a random UK-shaped postcode and address. A share F (default 0.2) of
them is mentioned a second time by another agency with what agencies do: a nickname,
day and month swapped, one digit of the date wrong, an initial, the surname only, a
spelling variant; so the store holds N * (1 + F) mentions, every one in its own
fragment (one person, one event), built from one fragment checked by the real validator.

1. Full re-link: ``Projection.build`` with the shipped model over every fragment, as a
   store does when it opens or ``jigsaw resolve relink`` runs: index every mention,
   score every candidate pair once, cluster, then project. Seconds per stage.
2. One new mention: K held-out fragments (half a new mention of someone already in the
   store, half someone new) applied one at a time to the built projection, as the store
   applies an accepted fragment (the collector out of the way, as ``_apply`` does). Each
   timing covers everything ``Projection.apply`` does for that one mention: features,
   blocking lookup, scoring the candidates, joining or settling, and projecting the
   fragment's event. Medians and p99 over the K, per run.

Every run is seeded; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import copy
import gc
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graph.projection import Projection
from ingest.generate import _FEMALE, _MALE, _SURNAMES
from ingest.linkage import Linker
from ingest.normalise import split_name
from ingest.validate import check_fragment

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
_UNIT = "ABDEFGHJLNPQRSTUWXYZ"
_AREAS = ("NT", "EQ", "WQ", "QS", "XA", "KQ", "LM", "RB", "TV", "HZ")
_STREETS = ("Larch", "Elm", "Rowan", "Station", "Church", "Market", "Mill", "Foxglove", "Swallow", "Tannery")
_KINDS = ("Close", "Lane", "Road", "Street", "Avenue", "Way", "Grove", "Court")


def _template() -> dict[str, Any]:
    raw = {
        "agency": {"id": "bench-agency", "name": "Bench Agency", "type": "police"},
        "record_ref": "B-0",
        "recorded_at": "2026-03-02T10:00:00Z",
        "shared_at": "2026-03-02T11:00:00Z",
        "author": {"id": "officer-1", "role": "officer"},
        "event": {"kind": "welfare_check", "when": {"start": "2026-03-02"}, "summary": "A visit."},
        "people": [{"ref": "p1", "role": "child", "name": {"full": "Mia Walsh"}}],
        "statement": {"kind": "fact"},
        "significance": "medium",
        "sharing": {"lawful_basis": "public_task", "family_told": True},
    }
    doc, errors = check_fragment(raw, now=NOW)
    if doc is None:
        raise SystemExit(f"template fragment rejected: {errors}")
    return doc


def _names(pool: Any) -> list[tuple[str, tuple[str, ...]]]:
    return [(row[0], tuple(row[1])) for row in pool]


class Population:
    def __init__(self, people: int, dup: float, seed: int) -> None:
        self.rng = random.Random(seed)
        self.given = {"female": _names(_FEMALE), "male": _names(_MALE)}
        self.people = [self._person() for _ in range(people)]
        self.dup = dup

    def _person(self) -> dict[str, Any]:
        r = self.rng
        sex = r.choice(("female", "male"))
        given, nicknames = r.choice(self.given[sex])
        family = r.choice(_SURNAMES)
        year = r.randint(1940, 2025)
        dob = f"{year}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
        area = r.choice(_AREAS)
        postcode = f"{area}{r.randint(1, 99)} {r.randint(1, 9)}{r.choice(_UNIT)}{r.choice(_UNIT)}"
        address = f"{r.randint(1, 250)} {r.choice(_STREETS)} {r.choice(_KINDS)}"
        return {
            "given": given,
            "nicknames": nicknames,
            "family": family,
            "dob": dob,
            "sex": sex,
            "postcode": postcode,
            "address": address,
        }

    def mention(self, p: dict[str, Any], vary: bool) -> dict[str, Any]:
        r = self.rng
        given, family, dob = p["given"], p["family"], p["dob"]
        if vary:
            kind = r.randrange(6)
            if kind == 0 and p["nicknames"]:
                given = r.choice(p["nicknames"])
            elif kind == 1 and int(dob[8:10]) <= 12:
                dob = f"{dob[:4]}-{dob[8:10]}-{dob[5:7]}"
            elif kind == 2:
                dob = f"{dob[:3]}{(int(dob[3]) + 1) % 10}{dob[4:]}"
            elif kind == 3:
                given = given[0]
            elif kind == 4:
                given = given[:-1] + ("e" if given[-1] != "e" else "a")
        m: dict[str, Any] = {
            "ref": "p1",
            "role": "parent" if int(p["dob"][:4]) < 2008 else "child",
            "name": {"given": given, "family": family},
            "dob": dob,
            "sex": p["sex"],
            "addresses": [{"text": p["address"], "postcode": p["postcode"]}],
            "identifiers": [],
            "identity_protected": False,
        }
        parts = split_name(None, given, family)
        m["norm"] = {"given": list(parts.given), "family": parts.family}
        return m


def fragments(pop: Population, template: dict[str, Any]) -> list[tuple[int, str, dict[str, Any], int | None]]:
    mentions = [pop.mention(p, False) for p in pop.people]
    mentions += [pop.mention(p, True) for p in pop.rng.sample(pop.people, int(len(pop.people) * pop.dup))]
    pop.rng.shuffle(mentions)
    rows = []
    for seq, m in enumerate(mentions, 1):
        doc = copy.copy(template)
        doc["record_ref"] = f"B-{seq}"
        doc["people"] = [m]
        rows.append((seq, f"F{seq:024x}", doc, None))
    return rows


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def run(people: int, dup: float, new: int, seed: int) -> dict[str, float]:
    t0 = time.perf_counter()
    pop = Population(people, dup, seed)
    template = _template()
    rows = fragments(pop, template)
    setup = time.perf_counter() - t0
    p = Projection(matcher=Linker(), docs=lambda want: {s: rows[s - 1][2] for s in want})
    stages: dict[str, float] = {}
    gc.disable()
    t = time.perf_counter()
    p.build(lambda: iter(rows), stages=stages)
    relink = time.perf_counter() - t
    gc.enable()
    gc.freeze()
    # held-out mentions: half of people already there, half new people
    held = [pop.mention(x, True) for x in pop.rng.sample(pop.people, new // 2)]
    held += [pop.mention(pop._person(), False) for _ in range(new - new // 2)]
    pop.rng.shuffle(held)
    times = []
    seq = len(rows)
    for m in held:
        seq += 1
        doc = copy.copy(template)
        doc["record_ref"] = f"B-{seq}"
        doc["people"] = [m]
        gc.disable()
        t = time.perf_counter()
        p.apply(seq, f"F{seq:024x}", doc)
        times.append(time.perf_counter() - t)
        gc.enable()
    assert p.candidates is not None
    return {
        "mentions": len(rows),
        "people_built": len(p.people),
        "variants": len(p.candidates.feats),
        "setup_s": setup,
        "relink_s": relink,
        **{f"{k}_s": v for k, v in stages.items()},
        "one_p50_ms": statistics.median(times) * 1e3,
        "one_p99_ms": pct(times, 0.99) * 1e3,
        "one_max_ms": max(times) * 1e3,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--dup", type=float, default=0.2)
    ap.add_argument("--new", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    for r in range(args.runs):
        out = run(args.people, args.dup, args.new, args.seed + r)
        print(
            f"run {r + 1}: " + "  ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in out.items())
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
