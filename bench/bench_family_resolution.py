"""How well the store resolves people and incidents on the family corpus.

    PYTHONPATH=. python -m bench.bench_family_resolution [--variant main|heldout|both] [--families N]

For each variant (``bench/family_corpus.py``): every fragment is validated and appended
to a real ``EmbeddedStore`` in a temporary directory (the bulk path: ``check_fragment``
then ``store.append`` in batches, as ``ingest.pipeline.import_rows`` does), then for every
mention the person the store's projection gives it (``p.person_of(seq, idx)``) and for
every fragment its event (``p.fragments[seq].event``) are compared with the truth:

* pairwise precision, recall and F1 over mention pairs (a true pair: one true person),
  leaving out the ambiguous-by-design mentions, which are scored on their own;
* false joins inside households (two different people of one household sharing a
  person), and of them twins, a parent and child of one name, same-name half-siblings;
* ambiguous-by-design mentions joined to anyone (target 0);
* how each kind of weak mention fared: joined to its own person / to someone else;
* same-incident fragment pairs (two agencies' reports of one incident) merged into one
  event, or offered for review (``Store.incident_queue``); different incidents merged
  into one event (target 0).

Splink (``bench/linkage_splink.py``, ``run_splink_people``) runs on the same mentions for
comparison when it is installed (the ``bench`` extra); otherwise its column says so.
Timings: validate + append (the load), and reopening the store (the whole-store link).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.family_corpus import NOW, VARIANTS, Corpus, FragmentKey, MentionKey, generate_corpus
from graph.embedded import EmbeddedStore
from graph.projection import Projection
from ingest.linkage import Linker
from ingest.validate import check_fragment

BATCH = 500
# weak or hard kinds of mention the corpus marks (Truth.features), reported one by one
MENTION_KINDS = (
    "title_initial",
    "title_initial_maiden",
    "partner_first_name_only",
    "maiden_with_previous",
    "maiden_without_previous",
    "current_with_previous",
    "same_name_by_elimination",
)


@dataclass
class Loaded:
    corpus: Corpus
    docs: list[dict[str, Any]]  # canonical documents, in corpus order
    seq: dict[FragmentKey, int]
    load_seconds: float
    reopen_seconds: float
    people: dict[MentionKey, str]  # mention -> the store's person (as text)
    people_reopened: dict[MentionKey, str]
    events: dict[FragmentKey, int | None]
    review_pairs: list[tuple[MentionKey, MentionKey]] = field(default_factory=list)
    review_seconds: float = 0.0
    incident_review: set[frozenset[FragmentKey]] = field(default_factory=set)


def _read(p: Projection, docs: list[dict[str, Any]], seq: Mapping[FragmentKey, int]) -> dict[MentionKey, str]:
    out: dict[MentionKey, str] = {}
    for doc in docs:
        fk = (doc["agency"]["id"], doc["record_ref"])
        s = seq[fk]
        for idx, m in enumerate(doc["people"]):
            pid = p.person_of(s, idx)
            out[(*fk, m["ref"])] = f"J{pid}" if pid is not None else f"none:{s}:{idx}"
    return out


def incident_review(store: EmbeddedStore, seq_key: Mapping[int, FragmentKey]) -> set[frozenset[FragmentKey]]:
    """Pairs of fragments the store offers a reviewer as possibly one incident
    (``Store.incident_queue``, as the system sees it), as frozensets of two
    (agency id, record_ref)."""
    by_fid: dict[str, FragmentKey] = {}
    with store.locked() as p:
        for s, text in p.details(sorted(seq_key)).items():
            by_fid[text.fid] = seq_key[s]
    offered: set[frozenset[FragmentKey]] = set()
    for item in store.incident_queue(store.system_view(), 1_000_000):
        a, b = by_fid.get(item.a.fragment_id), by_fid.get(item.b.fragment_id)
        if a is not None and b is not None:
            offered.add(frozenset((a, b)))
    return offered


def load(corpus: Corpus, *, review: bool = True, matcher: Linker | None = None) -> Loaded:
    """Load ``corpus`` into a new store with ``matcher`` (the deployed store's entity
    resolution; None: the Core's exact keys only) and read back its people and events."""
    with tempfile.TemporaryDirectory(prefix="jigsaw-family-") as tmp:
        path = Path(tmp) / "store.db"
        t0 = time.perf_counter()
        store = EmbeddedStore.open(path, create=True, matcher=matcher)
        docs: list[dict[str, Any]] = []
        seq: dict[FragmentKey, int] = {}
        pending: list[dict[str, Any]] = []

        def flush() -> None:
            for doc, out in zip(pending, store.append(pending, actor="bench"), strict=True):
                if out.status != "accepted" or out.seq is None:
                    raise RuntimeError(f"fragment {doc['record_ref']} not accepted: {out.status} {out.reason}")
                seq[(doc["agency"]["id"], doc["record_ref"])] = out.seq
            pending.clear()

        for raw in corpus.fragments:
            doc, errors = check_fragment(raw, now=NOW)
            if doc is None:
                raise ValueError(f"generated fragment {raw['record_ref']} rejected: {errors[:3]}")
            docs.append(doc)
            pending.append(doc)
            if len(pending) >= BATCH:
                flush()
        flush()
        with store.locked() as p:
            people = _read(p, docs, seq)
            events = {fk: p.fragments[s].event for fk, s in seq.items()}
        load_seconds = time.perf_counter() - t0
        seq_key = {s: fk for fk, s in seq.items()}
        offered = incident_review(store, seq_key)
        review_pairs: list[tuple[MentionKey, MentionKey]] = []
        t = time.perf_counter()
        if review and matcher is not None:
            for item in store.review_queue(store.system_view(), limit=1_000_000):
                a, b = item.a, item.b
                review_pairs.append(
                    ((a.agency, a.record_ref, a.mention["ref"]), (b.agency, b.record_ref, b.mention["ref"]))
                )
        review_seconds = time.perf_counter() - t
        store.close()
        t = time.perf_counter()
        store = EmbeddedStore.open(path, matcher=matcher)
        with store.locked() as p:
            people_reopened = _read(p, docs, seq)
        reopen_seconds = time.perf_counter() - t
        store.close()
    return Loaded(
        corpus,
        docs,
        seq,
        load_seconds,
        reopen_seconds,
        people,
        people_reopened,
        events,
        review_pairs,
        review_seconds,
        offered,
    )


# --------------------------------------------------------------------------- measures


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise_scores(pred: Mapping[str, Any], truth: Mapping[str, str]) -> dict[str, Any]:
    """Pairwise precision, recall and F1 of ``pred`` (record -> cluster) against ``truth``
    (record -> entity), over the records of ``truth``, without enumerating pairs (as
    ``bench.linkage_data.pairwise_scores``, which needs pandas to import)."""
    cells: Counter[tuple[Any, str]] = Counter()
    clusters: Counter[Any] = Counter()
    entities: Counter[str] = Counter()
    for uid, entity in truth.items():
        c = pred.get(uid, ("single", uid))
        cells[(c, entity)] += 1
        clusters[c] += 1
        entities[entity] += 1
    tp = sum(_pairs(n) for n in cells.values())
    predicted = sum(_pairs(n) for n in clusters.values())
    true = sum(_pairs(n) for n in entities.values())
    precision = tp / predicted if predicted else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tp": tp,
        "fp": predicted - tp,
        "fn": true - tp,
        "predicted_clusters": len(clusters),
        "true_entities": len(entities),
    }


def false_joins_between(pred: Mapping[str, Any], truth: Mapping[str, str], pairs: Iterable[tuple[str, str]]) -> int:
    """How many of the pairs of different true people share a predicted cluster."""
    clusters_of: dict[str, set[Any]] = defaultdict(set)
    for uid, entity in truth.items():
        if uid in pred:
            clusters_of[entity].add(pred[uid])
    return sum(1 for a, b in pairs if a != b and clusters_of.get(a, set()) & clusters_of.get(b, set()))


def _uid(k: MentionKey) -> str:
    return "|".join(k)


def _household_pairs(corpus: Corpus) -> list[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for members in corpus.truth.households.values():
        pairs.update(combinations(sorted(set(members)), 2))
    return sorted(pairs)


def _feature_pairs(corpus: Corpus, name: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in corpus.truth.features.get(name, ())]


def person_measures(corpus: Corpus, people: Mapping[MentionKey, Any]) -> dict[str, Any]:
    """Pairwise scores, household false joins, ambiguous joins, and each weak kind's fate."""
    truth = corpus.truth
    amb = truth.ambiguous
    scored = {_uid(k): pid for k, pid in truth.mention_person.items() if k not in amb}
    clusters = {_uid(k): people[k] for k in truth.mention_person}
    s = pairwise_scores(clusters, scored)
    true_people = {_uid(k): pid for k, pid in truth.mention_person.items()}
    out: dict[str, Any] = dict(s)
    out["household"] = false_joins_between(clusters, scored, _household_pairs(corpus))
    for feat in ("twins", "parent_child_same_name", "same_name_half_siblings"):
        out[feat] = false_joins_between(clusters, scored, _feature_pairs(corpus, feat))
    members: dict[Any, list[str]] = defaultdict(list)
    for uid, c in clusters.items():
        members[c].append(uid)

    def fate(k: MentionKey) -> tuple[bool, bool]:
        """(joined to another mention of its own person, joined to someone else)."""
        u = _uid(k)
        others = [true_people[o] for o in members[clusters[u]] if o != u]
        return any(p == true_people[u] for p in others), any(p != true_people[u] for p in others)

    amb_fates = [fate(k) for k in amb]
    out["ambiguous"] = len(amb)
    out["ambiguous_joined"] = sum(1 for r, w in amb_fates if r or w)
    out["ambiguous_joined_wrong"] = sum(1 for _, w in amb_fates if w)
    kinds: dict[str, tuple[int, int, int]] = {}
    for feat in MENTION_KINDS:
        keys = [tuple(k) for k in truth.features.get(feat, ())]
        fates = [fate(k) for k in keys if k in truth.mention_person]
        kinds[feat] = (len(fates), sum(1 for r, _ in fates if r), sum(1 for _, w in fates if w))
    out["kinds"] = kinds
    return out


def event_measures(
    corpus: Corpus, events: Mapping[FragmentKey, int | None], offered: set[frozenset[FragmentKey]]
) -> dict[str, Any]:
    """Same-incident pairs merged or offered; different incidents merged."""
    by_incident: dict[str, list[FragmentKey]] = defaultdict(list)
    for fk, inc in corpus.truth.fragment_incident.items():
        by_incident[inc].append(fk)
    approx = set(corpus.truth.features.get("approx_same_incident", ()))
    label = {
        (r["agency"]["id"], r["record_ref"]): f"{r['agency']['type']} {r['event']['kind']}" for r in corpus.fragments
    }
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # "a + b (dated|vague)" -> [merged, pairs]
    same = merged = offered_n = 0
    same_approx = merged_approx = 0
    for inc, fks in by_incident.items():
        for a, b in combinations(sorted(fks), 2):
            same += 1
            hit = events[a] is not None and events[a] == events[b]
            merged += hit
            tally = by_kind[" + ".join(sorted((label[a], label[b]))) + (" (vague)" if inc in approx else "")]
            tally[0] += hit
            tally[1] += 1
            offered_n += (not hit) and frozenset((a, b)) in offered
            if inc in approx:
                same_approx += 1
                merged_approx += hit
    by_event: dict[int, list[FragmentKey]] = defaultdict(list)
    for fk, ev in events.items():
        if ev is not None:
            by_event[ev].append(fk)
    traps = {frozenset(p) for p in corpus.truth.features.get("same_day_different_incidents", ())}
    wrong = wrong_trap = 0
    for fks in by_event.values():
        for a, b in combinations(fks, 2):
            ia, ib = corpus.truth.fragment_incident[a], corpus.truth.fragment_incident[b]
            wrong += ia != ib
            wrong_trap += ia != ib and frozenset((ia, ib)) in traps
    return {
        "same_pairs": same,
        "merged": merged,
        "offered": offered_n,
        "same_approx": same_approx,
        "merged_approx": merged_approx,
        "different_merged": wrong,
        "different_merged_trap": wrong_trap,
        "traps": len(traps),
        "by_kind": dict(sorted(by_kind.items())),
    }


# --------------------------------------------------------------------------- Splink


def _first(m: Mapping[str, Any], scheme: str) -> str | None:
    for ident in m.get("identifiers", ()):
        if ident["scheme"] == scheme:
            return str(ident["value"])
    return None


def splink_people(loaded: Loaded) -> tuple[dict[MentionKey, Any] | None, float, str]:
    """Splink's people for the same mentions, or None (and why) when it is not installed."""
    try:
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        from bench.linkage_splink import run_splink_people
    except ImportError as exc:
        return None, 0.0, f"Splink not installed ({exc.name}): pip install -e '.[bench]'"
    rows = []
    keys: list[MentionKey] = []
    for doc in loaded.docs:
        for m in doc["people"]:
            k = (doc["agency"]["id"], doc["record_ref"], m["ref"])
            norm = m.get("norm") or {}
            addr = (m.get("addresses") or [{}])[0]
            keys.append(k)
            rows.append(
                {
                    "unique_id": _uid(k),
                    "given_name": (norm.get("given") or [None])[0],
                    "surname": norm.get("family"),
                    "dob": m.get("dob"),
                    "sex": m.get("sex") if m.get("sex") in ("female", "male") else None,
                    "nhs": _first(m, "nhs"),
                    "upn": _first(m, "upn"),
                    "postcode": addr.get("postcode"),
                    "address": addr.get("text"),
                }
            )
    frame = pd.DataFrame(rows).astype(object)
    frame = frame.where(frame.notna(), None)
    try:
        r = run_splink_people(frame)
    except ValueError as exc:  # e.g. EM underflow on a small corpus
        return None, 0.0, f"Splink failed: {str(exc)[:90]}"
    return {k: r.clusters.get(_uid(k), ("single", _uid(k))) for k in keys}, r.seconds, f"{r.n_candidate_pairs} pairs"


# --------------------------------------------------------------------------- report


def _review_note(loaded: Loaded) -> str:
    amb = loaded.corpus.truth.ambiguous
    in_queue = {k for pair in loaded.review_pairs for k in pair}
    return (
        f"people review queue: {len(loaded.review_pairs)} pairs ({loaded.review_seconds:.1f}s); "
        f"ambiguous-by-design mentions in it: {len(amb & in_queue)} of {len(amb)}"
    )


def report(name: str, loaded: Loaded, core: Loaded | None = None, *, splink: bool = True) -> list[str]:
    """The markdown table for one variant: the store with its matcher, the store with the
    Core's exact keys only (``core``), and Splink on the same mentions."""
    c = loaded.corpus
    jig = person_measures(c, loaded.people)
    ev = event_measures(c, loaded.events, loaded.incident_review)
    cor = person_measures(c, core.people) if core is not None else None
    cev = event_measures(c, core.events, core.incident_review) if core is not None else None
    sp, sp_seconds, sp_note = splink_people(loaded) if splink else (None, 0.0, "not run")
    spm = person_measures(c, sp) if sp is not None else None
    reopen_agrees = pairwise_scores(
        {_uid(k): v for k, v in loaded.people_reopened.items()},
        {_uid(k): v for k, v in loaded.people.items()},
    )
    n_people = len(set(c.truth.mention_person.values()))
    cols = (jig, cor, spm)

    def row(label: str, fn: Any) -> str:
        return f"| {label} | " + " | ".join("n/a" if m is None else fn(m) for m in cols) + " |"

    def erow(label: str, fn: Any) -> str:
        return f"| {label} | {fn(ev)} | " + ("n/a" if cev is None else fn(cev)) + " | — |"

    lines = [
        f"### {name}: {len(c.fragments)} fragments, {len(c.truth.mention_person)} mentions, {n_people} people, "
        f"{len(c.truth.households)} households (seed {c.variant.seed})",
        "",
        "| measure | Jigsaw store (shipped model) | Jigsaw store (Core keys only) | Splink |",
        "|---|---|---|---|",
        row("pairwise precision", lambda m: f"{m['precision']:.4f}"),
        row("pairwise recall", lambda m: f"{m['recall']:.4f}"),
        row("pairwise F1", lambda m: f"{m['f1']:.4f}"),
        row("tp / fp / fn pairs", lambda m: f"{m['tp']} / {m['fp']} / {m['fn']}"),
        row(f"people found (true {jig['true_entities']})", lambda m: str(m["predicted_clusters"])),
        row("false joins inside households (pairs of people)", lambda m: str(m["household"])),
        row("… of them twins", lambda m: str(m["twins"])),
        row("… of them parent and child of one name", lambda m: str(m["parent_child_same_name"])),
        row("same-name half-siblings joined", lambda m: str(m["same_name_half_siblings"])),
        row(
            f"ambiguous-by-design joined to anyone (of {jig['ambiguous']}; target 0)",
            lambda m: f"{m['ambiguous_joined']} (wrong {m['ambiguous_joined_wrong']})",
        ),
    ]
    for feat in MENTION_KINDS:
        n = jig["kinds"][feat][0]
        if n:
            lines.append(
                row(
                    f"{feat} ({n}): joined to own person / to another",
                    lambda m, f=feat: f"{m['kinds'][f][1]} / {m['kinds'][f][2]}",
                )
            )
    lines += [
        erow(f"same-incident fragment pairs merged into one event (of {ev['same_pairs']})", lambda e: str(e["merged"])),
        erow(f"… of them with a vague date (of {ev['same_approx']})", lambda e: str(e["merged_approx"])),
        erow("same-incident pairs offered for review", lambda e: str(e["offered"])),
        erow(
            "different incidents merged into one event (fragment pairs; target 0)", lambda e: str(e["different_merged"])
        ),
        erow(
            f"… of them two visits on one day (of {ev['traps']} such pairs)", lambda e: str(e["different_merged_trap"])
        ),
        f"| seconds: load (validate + append + read) / reopen (whole-store link) | {loaded.load_seconds:.1f} / "
        f"{loaded.reopen_seconds:.1f} | "
        + ("n/a" if core is None else f"{core.load_seconds:.1f} / {core.reopen_seconds:.1f}")
        + f" | {sp_seconds:.1f} ({sp_note}) |",
        "",
        "Same-incident pairs merged, by the two reports (shipped model): "
        + "; ".join(f"{k}: {m}/{n}" for k, (m, n) in ev["by_kind"].items())
        + ".",
        "",
        f"Reopened store's people against the loaded store's: pairwise precision {reopen_agrees['precision']:.4f}, "
        f"recall {reopen_agrees['recall']:.4f}. {_review_note(loaded)}.",
        "",
    ]
    return lines


def main(argv: Iterable[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", choices=("main", "heldout", "both"), default="both")
    ap.add_argument("--families", type=int, default=None, help="families (default: the variant's own)")
    ap.add_argument("--no-review", action="store_true", help="skip reading the people review queue")
    ap.add_argument("--no-core", action="store_true", help="skip the Core-keys-only store")
    ap.add_argument("--no-splink", action="store_true", help="skip Splink")
    args = ap.parse_args(None if argv is None else list(argv))
    names = ["main", "heldout"] if args.variant == "both" else [args.variant]
    t = time.perf_counter()
    for name in names:
        corpus = generate_corpus(VARIANTS[name], args.families)
        loaded = load(corpus, review=not args.no_review, matcher=Linker.from_file(None))
        core = None if args.no_core else load(corpus, review=False, matcher=None)
        for line in report(name, loaded, core, splink=not args.no_splink):
            print(line, flush=True)
    print(f"total {time.perf_counter() - t:.1f}s")


if __name__ == "__main__":
    main()
