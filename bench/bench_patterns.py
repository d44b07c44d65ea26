"""Benchmarks for patterns (not tests): one child's patterns, a whole-store scan, and an
incremental refresh after appends.

    python bench/bench_patterns.py child --n 100000 --calls 500
    python bench/bench_patterns.py scan --n 1000000 --runs 3

Stores come from bench_core.big_store (the synthetic generator through the real import
path, built once into bench/out/ and reused). ``child`` times every pattern for one
child through the engine (evaluated on the system's view: the case is built from the
projection each call; the fragments' reports are kept between calls, so after a child's
first call its documents are not read again), cycling through 20 typical children, the
20 with the most mentions, and the 200-event child bench_core plants. ``scan`` times a
full run of every pattern across the store (cold: a new engine each run; the first scan
of a store also makes its pattern facts, which later scans read: ``--drop-facts``
empties them first, to measure that) and then an
incremental refresh after 100 new fragments (which stay in the store: each run adds 100
more). Figures go to bench/out/results.jsonl and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_core import NOW, big_store, pct, planted_child, record  # noqa: E402
from graph.embedded import EmbeddedStore  # noqa: E402
from graph.patterns import PatternEngine, selection_of  # noqa: E402
from graph.patterns.embedded_source import EmbeddedCases  # noqa: E402
from graph.patterns.facts import children_of  # noqa: E402

SELECTION = selection_of(params={"long_silence": {"as_of": "2026-11-23"}})


def _ms(values: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(values), 3), "p99_ms": round(pct(values, 0.99), 3)}


def bench_child(args: argparse.Namespace) -> None:
    path = big_store(args.n)
    t = time.perf_counter()
    s = EmbeddedStore.open(path)
    opened = time.perf_counter() - t
    planted = s.global_pid(planted_child(s, 200))
    engine = s.patterns()
    p = s.projection
    kids = sorted(children_of(p), key=lambda c: -len(p.people[c].mentions))
    busiest = kids[:20]
    typical = kids[len(kids) // 2 : len(kids) // 2 + 20]
    out: dict[str, Any] = {"fragments": len(p.fragments), "children": len(kids), "open_s": round(opened, 1)}
    gc.collect()
    for label, chosen in (
        ("typical child", typical),
        ("busiest children", busiest),
        ("planted 200-event child", [planted]),
    ):
        times = []
        for i in range(args.calls):
            child = chosen[i % len(chosen)]
            t = time.perf_counter()
            engine.for_child(child, SELECTION)
            times.append((time.perf_counter() - t) * 1000)
        events = statistics.median(len(p.people[c].events) for c in chosen)
        out[label] = {"calls": args.calls, "events_median": events, **_ms(times)}
        print(label, out[label], file=sys.stderr)
    record("patterns: every pattern for one child (system view; its reports kept between calls)", out)
    s.close()


def bench_scan(args: argparse.Namespace) -> None:
    path = big_store(args.n)
    t = time.perf_counter()
    s = EmbeddedStore.open(path)
    opened = time.perf_counter() - t
    p = s.projection
    times, found = [], 0
    n_children = sum(1 for _ in children_of(p))
    if args.drop_facts:  # measure a store's first scan, which makes the pattern facts
        with s.transaction() as conn:
            conn.execute("DELETE FROM pattern_facts")
    kept_before = s._conn.execute("SELECT count(*) FROM pattern_facts").fetchone()[0]
    engine = PatternEngine(EmbeddedCases(s))
    for run in range(args.runs):
        engine = PatternEngine(EmbeddedCases(s))  # cold: nothing cached
        gc.collect()
        t = time.perf_counter()
        hits = engine.scan(SELECTION)
        times.append(time.perf_counter() - t)
        found = len(hits)
        print(f"run {run}: {times[-1]:.1f} s, {found} findings", file=sys.stderr)
    later = times[1:] if kept_before == 0 else times
    by_pattern: dict[str, int] = {}
    for _, f in engine.scan(SELECTION):
        by_pattern[f.pattern] = by_pattern.get(f.pattern, 0) + 1
    # incremental: 100 new fragments about existing children, then refresh
    from ingest.pipeline import import_docs

    docs = []
    for i, child in enumerate(list(children_of(p))[: args.appends]):
        name = p.person_values(child, "name", lambda _s: True)
        dob = p.person_values(child, "dob", lambda _s: True)
        if not name or not dob:
            continue
        docs.append(
            {
                "agency": {"id": "bench-school", "name": "Bench School", "type": "school"},
                "author": {"role": "teacher", "id": "B"},
                "record_ref": f"BENCH-PAT-{time.time_ns()}-{i}",
                "recorded_at": "2026-11-20T10:00:00Z",
                "shared_at": "2026-11-20T10:00:00Z",
                "event": {"kind": "school_concern", "when": "2026-11-20", "summary": "Bench concern"},
                "people": [{"ref": "c", "role": "child", "name": name[0][0], "dob": dob[0][0]}],
                "statement": {"kind": "fact"},
                "concerns": ["neglect"],
                "significance": "medium",
                "sharing": {"lawful_basis": "public_task", "family_told": True},
            }
        )
    import_docs(s, docs, now=NOW)
    t = time.perf_counter()
    engine.scan(SELECTION)
    inc = time.perf_counter() - t
    record(
        "patterns: every pattern across the store (cold scan, then incremental after appends)",
        {
            "fragments": len(p.fragments),
            "children": n_children,
            "open_s": round(opened, 1),
            "runs": args.runs,
            "pattern_facts_kept_before": kept_before,
            "scan_s": [round(x, 2) for x in times],
            # the first scan of a store without pattern facts also makes them: reported
            # apart; the median and maximum are of the scans that read them
            "first_scan_made_facts_s": round(times[0], 2) if kept_before == 0 else None,
            "scan_median_s": round(statistics.median(later), 2) if later else None,
            "scan_max_s": round(max(later), 2) if later else None,
            "findings": found,
            "findings_by_pattern": by_pattern,
            "appended": len(docs),
            "incremental_refresh_s": round(inc, 3),
            "children_re_evaluated": engine.last_evaluated,
        },
    )
    s.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("child")
    c.add_argument("--n", type=int, default=100_000)
    c.add_argument("--calls", type=int, default=500)
    sc = sub.add_parser("scan")
    sc.add_argument("--n", type=int, default=100_000)
    sc.add_argument("--runs", type=int, default=3)
    sc.add_argument("--appends", type=int, default=100)
    sc.add_argument("--drop-facts", action="store_true", help="empty the pattern facts cache first")
    args = ap.parse_args()
    {"child": bench_child, "scan": bench_scan}[args.cmd](args)


if __name__ == "__main__":
    main()
