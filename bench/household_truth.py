"""How right the derived household is (not a test): every child's household from
generated fragments against the generator's true families (docs/household.md).

    python bench/household_truth.py 3000 0.3     # fragments, name variation

Members are right when the generator has them living with the child (the mother, the
father unless he lives elsewhere, a partner, the children of the family); periods when
the generator has the family at that postcode at some time.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graph.embedded import EmbeddedStore  # noqa: E402
from graph.household import households_of  # noqa: E402
from graph.patterns.facts import children_of  # noqa: E402
from ingest.generate import generate_with_truth  # noqa: E402
from ingest.pipeline import import_docs  # noqa: E402

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RESIDENT = ("child", "mother", "father", "partner")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("n", type=int, nargs="?", default=3000)
    ap.add_argument("variation", type=float, nargs="?", default=0.0)
    args = ap.parse_args()
    frags, truth = generate_with_truth(args.n, seed=7, variation=args.variation)
    s = EmbeddedStore.open(Path(tempfile.mkdtemp()) / "t.sqlite", create=True)
    import_docs(s, frags, now=NOW)
    p = s.projection
    who: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for seq, doc in s._load(list(p.fragments)).items():
        if doc.get("event") is None:
            continue
        for i, q in enumerate(p.mention_people(seq)):
            t = truth.mention_person.get((doc["agency"]["id"], doc["record_ref"], i))
            if t:
                who[q][t] += 1
    true_of = {q: c.most_common(1)[0][0] for q, c in who.items()}
    kids = list(children_of(p))
    homes = households_of(p, kids, p.is_current)
    right = wrong = missed = at_home = elsewhere = 0
    wrong_kinds: collections.Counter[str] = collections.Counter()
    for k in kids:
        h = homes.get(k)
        t = truth.people[true_of[k]]
        family = truth.families.get(t.family_id or "", [])
        resident = {x for x in family if truth.people[x].kind in RESIDENT and truth.people[x].home is None}
        got = {true_of.get(q) for q in (h.members if h else {}) if q != k}
        for g in got:
            if g in resident:
                right += 1
            else:
                wrong += 1
                wrong_kinds[truth.people[g].kind if g in truth.people else "?"] += 1
        missed += len(resident - got - {true_of[k]})
        postcodes = {r.postcode for r in truth.households.get(t.family_id or "", [])}
        for per in h.periods if h else []:
            if per.place.split("|")[1] in postcodes:
                at_home += 1
            else:
                elsewhere += 1
    print(
        f"{len(kids)} children; members right {right}, wrong {wrong} {dict(wrong_kinds)}, "
        f"true residents not found {missed}; periods at a true address {at_home}, elsewhere {elsewhere}"
    )
    s.close()


if __name__ == "__main__":
    main()
