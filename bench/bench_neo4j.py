"""Benchmarks for the Neo4j backend (not tests).

    NEO4J_URI=neo4j://localhost:7687 NEO4J_PASSWORD=... NEO4J_BENCH_ALLOW_WIPE=1 \
        python -m bench.bench_neo4j --n 100000 --runs 3
    python -m bench.bench_neo4j --emulated --n 20000 --runs 3
    python -m bench.bench_neo4j --emulated --n 20000 --runs 3 --patterns

Live (NEO4J_URI set, and NEO4J_BENCH_ALLOW_WIPE=1 because the database is emptied before
each run): batched writes (fragments/s through ``Neo4jStore.append`` in batches of 1,000,
durable on return: the journal, its audit entry and notices), what follows them (the
replica projecting its writes before its next answer, and the projector writing the
derived graph, ``write_derived``), and a reader's chronology (p50/p99 over random
children).

``--emulated`` runs the same code on the statement emulator of the test suite: it
measures only the backend's own Python (validation excluded, Cypher not executed), the
ceiling the server's time then adds to. Targets (issue 7): >= 5,000 fragments/s via
batched writes; chronology p99 <= 20 ms at 1,000,000 fragments.

``--patterns`` adds, per run, the pattern engine on the same store (issue 8): every
pattern for one child (p50/p99 over the children, each child's first call, so its
documents are read from the database), a first whole-store scan, and a refresh after 100
new fragments. On ``--emulated`` that too is the backend's Python only.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graph.neo4j_store import Neo4jStore
from ingest.generate import generate
from ingest.validate import check_fragment

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def docs(n: int) -> list[dict[str, Any]]:
    out = []
    for raw in generate(n, seed=1, people_per_fragment=3):
        doc, errors = check_fragment(raw, now=NOW)
        assert doc is not None, errors
        out.append(doc)
    return out


def open_store(emulated: bool) -> Neo4jStore:
    if emulated:
        from tests.neo4j_emulator import Emulator

        return Neo4jStore(Emulator(atomic=False))
    import neo4j

    if os.environ.get("NEO4J_BENCH_ALLOW_WIPE") != "1":
        sys.exit("set NEO4J_BENCH_ALLOW_WIPE=1: the benchmark empties the database first")
    uri, db = os.environ["NEO4J_URI"], os.environ.get("NEO4J_DATABASE", "neo4j")
    auth = (os.environ.get("NEO4J_USER", "neo4j"), os.environ.get("NEO4J_PASSWORD", ""))
    with neo4j.GraphDatabase.driver(uri, auth=auth) as d, d.session(database=db) as s:
        s.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
    return Neo4jStore.open(uri, *auth, database=db)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--emulated", action="store_true")
    ap.add_argument("--reads", type=int, default=500)
    ap.add_argument("--patterns", action="store_true", help="also time the pattern engine (issue 8)")
    args = ap.parse_args()
    if not args.emulated and not os.environ.get("NEO4J_URI"):
        print("skipped: NEO4J_URI is not set (no Neo4j server here). Use --emulated for the Python side only.")
        return
    batch = docs(args.n)
    # the input is the benchmark's, not the store's: an API replica receives batches over
    # HTTP and drops them; left in the collector, its 20,000 documents would be rescanned
    # by every full collection and charged to the writes
    gc.collect()
    gc.freeze()
    rates, p50s, p99s = [], [], []
    ack_p50s: list[float] = []
    ack_p99s: list[float] = []
    project_rates: list[float] = []
    derive_rates: list[float] = []
    pattern_runs: list[dict[str, float]] = []
    for run in range(args.runs):
        s = open_store(args.emulated)
        acks = []
        t = time.perf_counter()
        for k in range(0, len(batch), 1000):
            t1 = time.perf_counter()
            s.append(batch[k : k + 1000])
            acks.append((time.perf_counter() - t1) * 1000)
        dt = time.perf_counter() - t
        rates.append(args.n / dt)
        ack_p50s.append(statistics.median(acks))
        ack_p99s.append(pct(acks, 0.99))
        # behind the acknowledgements: this replica projecting what it wrote (before its
        # next answer), and the projector writing the derived graph
        t = time.perf_counter()
        s.put_reader("bench", reader_id="sw", agency=batch[0]["agency"]["id"], roles=["social_worker"])
        system = s.system_view()
        project_rates.append(args.n / (time.perf_counter() - t))
        t = time.perf_counter()
        while s.write_derived():
            pass
        derive_rates.append(args.n / (time.perf_counter() - t))
        if args.emulated:  # the emulator's copy of the database is the server's memory, not the replica's
            gc.freeze()
        print(
            f"run {run}: acknowledged {rates[-1]:,.0f} fragments/s (a batch of 1,000: p50 {ack_p50s[-1]:.0f} ms, "
            f"p99 {ack_p99s[-1]:.0f} ms); behind them: projected {project_rates[-1]:,.0f}/s, derived graph "
            f"written {derive_rates[-1]:,.0f}/s"
        )
        names = sorted({n for d in batch[:2000] for m in d["people"] if (n := (m.get("name") or {}).get("full"))})
        rng = random.Random(run)
        ids = [p.person_id for name in rng.sample(names, min(200, len(names))) for p in system.find_people(name)[:1]]
        times = []
        for _ in range(args.reads):
            pid = rng.choice(ids)
            t = time.perf_counter()
            s.view("sw", "safeguarding").chronology(pid)
            times.append((time.perf_counter() - t) * 1000)
        p50s.append(statistics.median(times))
        p99s.append(pct(times, 0.99))
        print(f"run {run}: {rates[-1]:,.0f} fragments/s; chronology p50 {p50s[-1]:.2f} ms, p99 {p99s[-1]:.2f} ms")
        if args.patterns:
            pattern_runs.append(bench_patterns(s, rng, batch))
        s.close()
    mode = "emulated (Python side only)" if args.emulated else "live Neo4j"
    print(
        f"{mode}, {args.n:,} fragments, {args.runs} runs: writes median {statistics.median(rates):,.0f}/s "
        f"(slowest {min(rates):,.0f}/s); chronology p50 median {statistics.median(p50s):.2f} ms, "
        f"p99 median {statistics.median(p99s):.2f} ms (worst {max(p99s):.2f} ms)"
    )
    print(
        f"{mode}: a batch of 1,000 acknowledged in p50 median {statistics.median(ack_p50s):.0f} ms, p99 median "
        f"{statistics.median(ack_p99s):.0f} ms (worst {max(ack_p99s):.0f} ms); behind the writes: projecting "
        f"median {statistics.median(project_rates):,.0f}/s, derived graph median "
        f"{statistics.median(derive_rates):,.0f}/s"
    )
    if pattern_runs:
        med = {k: statistics.median(r[k] for r in pattern_runs) for k in pattern_runs[0]}
        worst_p99 = max(r["child_p99_ms"] for r in pattern_runs)
        print(
            f"{mode}, patterns: one child p50 median {med['child_p50_ms']:.2f} ms, p99 median "
            f"{med['child_p99_ms']:.2f} ms (worst {worst_p99:.2f} ms); first scan median {med['scan_s']:.2f} s "
            f"({med['children']:,.0f} children; another replica's first scan {med['replica_scan_s']:.2f} s); "
            f"refresh after 100 fragments median {med['refresh_s']:.3f} s"
        )


# ---------------------------------------------------------------------------- patterns (issue 8)


def bench_patterns(s: Neo4jStore, rng: random.Random, batch: list[dict[str, Any]]) -> dict[str, float]:
    """Every pattern for a sample of children (each one's first call), a first scan, and a
    refresh after 100 new fragments (copies of earlier ones under new record refs)."""
    from graph.patterns import selection_of

    sel = selection_of(params={"long_silence": {"as_of": "2026-11-23"}})
    engine = s.patterns()
    kids = list(engine.source.children())
    times = []
    for kid in rng.sample(kids, min(300, len(kids))):
        t = time.perf_counter()
        engine.for_child(kid, sel)
        times.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    engine.scan(sel)
    scan_s = time.perf_counter() - t
    # another replica's first scan: the pattern facts the first one kept on the fragments
    other = Neo4jStore(s._driver, s.database)
    t = time.perf_counter()
    other.patterns().scan(sel)
    replica_scan_s = time.perf_counter() - t
    more = [{**d, "record_ref": d["record_ref"] + "-again"} for d in rng.sample(batch, 100)]
    s.append(more)
    t = time.perf_counter()
    engine.scan(sel)
    refresh_s = time.perf_counter() - t
    out = {
        "child_p50_ms": statistics.median(times),
        "child_p99_ms": pct(times, 0.99),
        "scan_s": scan_s,
        "refresh_s": refresh_s,
        "replica_scan_s": replica_scan_s,
        "children": float(len(kids)),
    }
    print(
        f"  patterns: one child p50 {out['child_p50_ms']:.2f} ms, p99 {out['child_p99_ms']:.2f} ms; "
        f"first scan {scan_s:.2f} s over {len(kids):,} children (another replica's, on the facts kept: "
        f"{replica_scan_s:.2f} s); refresh after 100 fragments {refresh_s:.3f} s "
        f"({engine.last_evaluated} children evaluated)"
    )
    return out


if __name__ == "__main__":
    main()
