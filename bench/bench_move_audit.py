"""Benchmark: moving an audit trail between stores (issue 7, not a test).

    python -m bench.bench_move_audit --n 100000 --runs 3

Writes ``--n`` audit entries (reads of a fragment and a person, ids only, as the API
records them) into an embedded store, then times, per run: reading the whole trail out
(``all_audit_records``), re-hashing it and writing it into an empty embedded store
(``restore_audit``: one transaction) and into the Neo4j backend on the statement
emulator (its own Python only: no Cypher runs, so a live server adds its time to this),
and ``audit_verify`` on the embedded destination. Prints median and p99 per step.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graph import audit
from graph.embedded import EmbeddedStore
from graph.neo4j_store import Neo4jStore
from tests.neo4j_emulator import Emulator


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp())
    src = EmbeddedStore.open(folder / "src.sqlite", create=True)
    with src.transaction() as conn:
        for i in range(args.n):
            audit.record(
                conn,
                at=src.clock(),
                actor=f"reader-{i % 50}",
                action="read.chronology",
                purpose="safeguarding",
                detail={"fragments": [f"F{i:024x}"], "people": [f"P{i % 997:06d}-0"]},
            )
    times: dict[str, list[float]] = {"export": [], "restore_embedded": [], "restore_neo4j_emulated": [], "verify": []}
    for run in range(args.runs):
        t = time.perf_counter()
        trail = src.all_audit_records()
        times["export"].append(time.perf_counter() - t)
        dst = EmbeddedStore.open(folder / f"dst{run}.sqlite", create=True)
        t = time.perf_counter()
        dst.restore_audit("bench", trail)
        times["restore_embedded"].append(time.perf_counter() - t)
        t = time.perf_counter()
        assert dst.audit_verify().ok
        times["verify"].append(time.perf_counter() - t)
        dst.close()
        neo = Neo4jStore(Emulator(atomic=False))
        t = time.perf_counter()
        neo.restore_audit("bench", trail)
        times["restore_neo4j_emulated"].append(time.perf_counter() - t)
    print(f"audit entries: {args.n:,}, runs: {args.runs}")
    for step, ts in times.items():
        print(f"{step:24s} median {statistics.median(ts):7.2f} s   p99 {pct(ts, 0.99):7.2f} s")


if __name__ == "__main__":
    main()
