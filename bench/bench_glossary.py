"""Benchmark for shared meaning (issue 9), not a test: how long finding terms and
checking a fragment take per narrative, and what they add to an import.

    python bench/bench_glossary.py --fragments 5000 --runs 7

Narratives: the synthetic generator's fragments (``ingest.generate``), each narrative
lengthened with a realistic paragraph of agency shorthand (terms, an ambiguous one, an
unknown one, hearsay and opinion words) so every narrative has something to find; about
600 characters each. Figures, per run over every narrative (median and p99 of the
per-narrative times pooled over all runs, and each run's throughput):

1. ``find_terms`` on the narrative alone (the glossary's two compiled matchers and the
   capitals scan);
2. ``warnings_for`` on the whole fragment (every free-text field, terms and
   opinion-or-hearsay markers): what the API and ``jigsaw ingest`` add per fragment.

With ``--import-fragments N``, also the Core's bulk import of N generated fragments with
the warnings and without them (``warnings_for`` replaced by a no-op), alternating, a
fresh store each run; with ``--page-events N``, the chronology page's rendering (in
process, as bench_pages.py measures it) for N events, with the terms marked and listed
and without, alternating.

Results are appended to bench/out/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.generate import generate
from ingest.glossary import find_terms, shipped_glossary
from ingest.meaning import warnings_for

SHORTHAND = (
    " Strategy discussion held with CSC and police; s47 agreed, CP plan considered at ICPC. "
    "Mum said the HV had not visited since May; the child appears to be underweight and was "
    "not brought to the last two appointments (WNB). Referred to the QRTZ panel and MASH; "
    "DSL and EWO informed. Previous NFA after the DA call-out, PNC checks pending."
)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fragments", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "results.jsonl")
    ap.add_argument("--import-fragments", type=int, default=0)
    ap.add_argument("--page-events", type=int, default=0)
    args = ap.parse_args()
    docs = []
    for doc in generate(args.fragments, seed=9):
        ev = doc.get("event") or {}
        ev["narrative"] = (ev.get("narrative") or "") + SHORTHAND
        docs.append(doc)
    g = shipped_glossary()
    chars = statistics.mean(len(d["event"]["narrative"]) for d in docs)
    result: dict[str, object] = {
        "bench": "glossary",
        "fragments": len(docs),
        "runs": args.runs,
        "glossary_terms": len(g),
        "mean_narrative_chars": round(chars),
    }
    for name, fn in (
        ("find_terms", lambda d: find_terms(d["event"]["narrative"], g)),
        ("warnings_for", lambda d: warnings_for(d, g)),
    ):
        fn(docs[0])  # warm-up: the compiled patterns are built once
        each: list[float] = []
        rates: list[float] = []
        for _ in range(args.runs):
            t_run = time.perf_counter()
            for d in docs:
                t = time.perf_counter()
                fn(d)
                each.append((time.perf_counter() - t) * 1e6)
            rates.append(len(docs) / (time.perf_counter() - t_run))
        result[name] = {
            "median_us": round(statistics.median(each), 1),
            "p99_us": round(pct(each, 99), 1),
            "per_second_median": round(statistics.median(rates)),
        }
        print(
            f"{name}: median {result[name]['median_us']} µs, p99 {result[name]['p99_us']} µs per narrative; "  # type: ignore[index]
            f"{result[name]['per_second_median']:,} narratives/s"
        )  # type: ignore[index]
    if args.import_fragments:
        result["import"] = ab_import(args.import_fragments, args.runs)
    if args.page_events:
        result["chronology_render"] = ab_page(args.page_events, args.runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as fh:
        fh.write(json.dumps(result) + "\n")
    return 0


def ab_import(n: int, runs: int) -> dict[str, object]:
    import tempfile

    import ingest.pipeline as pl
    from bench.bench_core import NOW
    from graph.embedded import EmbeddedStore
    from ingest.generate import write_jsonl

    real = pl.warnings_for
    folder = Path(tempfile.mkdtemp())
    src = folder / "in.jsonl"
    write_jsonl(src, generate(n, seed=1))
    rates: dict[str, list[float]] = {"with": [], "without": []}
    try:
        for r in range(runs):
            for mode in ("with", "without"):
                pl.warnings_for = real if mode == "with" else (lambda doc, g=None: [])  # type: ignore[assignment]
                with EmbeddedStore.open(folder / f"{mode}{r}.sqlite", create=True) as s:
                    t = time.perf_counter()
                    pl.import_files(s, [src], now=NOW)
                    rates[mode].append(n / (time.perf_counter() - t))
    finally:
        pl.warnings_for = real
    out = {k: {"median_per_s": round(statistics.median(v)), "all": [round(x) for x in v]} for k, v in rates.items()}
    print(f"import {n}: with warnings {out['with']}, without {out['without']}")
    return out  # type: ignore[return-value]


def ab_page(events: int, runs: int) -> dict[str, object]:
    import tempfile

    import viz.pages as vp
    from bench.bench_pages import READER, build
    from graph.chronology import ChronologyFilters

    store, bench, _ = build(Path(tempfile.mkdtemp()) / "pages.sqlite", events, 10)
    v = store.view(READER, "meeting")
    lines = v.chronology(bench)
    person = v.person(bench)
    assert person is not None
    real = vp._terms
    ms: dict[str, list[float]] = {"with": [], "without": []}
    try:
        for _ in range(runs + 1):
            for mode in ("with", "without"):
                vp._terms = real if mode == "with" else (lambda lines, g: {"marked": {}, "terms": []})  # type: ignore[assignment]
                t = time.perf_counter()
                vp.chronology_page(
                    vp.Links("/pages"), vp.Viewer(READER, "", "bench", "meeting"), person, lines, ChronologyFilters()
                )
                ms[mode].append((time.perf_counter() - t) * 1e3)
    finally:
        vp._terms = real
    out = {
        k: {"median_ms": round(statistics.median(v[1:]), 1), "p99_ms": round(pct(v[1:], 99), 1)} for k, v in ms.items()
    }
    print(f"chronology page render, {events} events: with terms {out['with']}, without {out['without']}")
    return out  # type: ignore[return-value]


if __name__ == "__main__":
    raise SystemExit(main())
