"""Benchmarks for the Core (not tests): bulk import, reopen, chronology, memory.

    python bench/bench_core.py import --n 200000 --runs 5
    python bench/bench_core.py reopen --n 1000000 --runs 5
    python bench/bench_core.py chronology --n 1000000 --calls 2000

Data comes from the synthetic generator (ingest.generate), written once to bench/out/
and reused. The 1,000,000-fragment store is built once into bench/out/ and reused by
``reopen`` and ``chronology``. Every figure printed is also appended, with the machine
and the command, to bench/out/results.jsonl; docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graph.embedded import EmbeddedStore  # noqa: E402
from ingest.pipeline import import_files  # noqa: E402

OUT = ROOT / "bench" / "out"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def record(name: str, figures: dict[str, Any]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    row = {
        "benchmark": name,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        **figures,
    }
    with (OUT / "results.jsonl").open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=2))


def data_file(n: int, seed: int = 1) -> Path:
    path = OUT / f"fragments-{n}-s{seed}.jsonl"
    if not path.exists():
        from ingest.generate import generate, write_jsonl

        OUT.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        write_jsonl(path, generate(n, seed=seed, people_per_fragment=3))
        print(f"generated {n} fragments in {time.perf_counter() - t:.1f}s -> {path}", file=sys.stderr)
    return path


def bench_import(args: argparse.Namespace) -> None:
    src = data_file(args.n)
    rates = []
    for run in range(args.runs):
        store_path = OUT / f"import-run-{run}.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store_path}{suffix}").unlink(missing_ok=True)
        s = EmbeddedStore.open(store_path, create=True)
        t = time.perf_counter()
        summary = import_files(s, [src], now=NOW)
        dt = time.perf_counter() - t
        s.close()
        assert summary.rejected == 0, summary.errors[:5]
        rates.append(summary.accepted / dt)
        print(f"run {run}: {summary.accepted} fragments in {dt:.2f}s = {rates[-1]:,.0f}/s", file=sys.stderr)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store_path}{suffix}").unlink(missing_ok=True)
    record(
        "bulk import (JSON Lines file -> validated -> durable journal -> projection)",
        {
            "fragments": args.n,
            "runs": args.runs,
            "median_fragments_per_s": round(statistics.median(rates)),
            "slowest_run_fragments_per_s": round(min(rates)),
            "fastest_run_fragments_per_s": round(max(rates)),
        },
    )


def big_store(n: int) -> Path:
    """The n-fragment store, built once (by the real import path) and reused."""
    path = OUT / f"store-{n}.sqlite"
    if not path.exists():
        src = data_file(n)
        tmp = path.with_suffix(".building")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
        s = EmbeddedStore.open(tmp, create=True)
        t = time.perf_counter()
        summary = import_files(s, [src], now=NOW)
        s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        s.close()
        print(f"built {summary.accepted} in {time.perf_counter() - t:.0f}s", file=sys.stderr)
        tmp.rename(path)
        Path(f"{tmp}-wal").unlink(missing_ok=True)
        Path(f"{tmp}-shm").unlink(missing_ok=True)
    return path


_REOPEN_CHILD = """
import sys, time, json
sys.path.insert(0, {root!r})
from bench.bench_core import rss_kb
import graph.embedded, graph.chronology, orjson, networkx
before = rss_kb()
t = time.perf_counter()
s = graph.embedded.EmbeddedStore.open({path!r})
dt = time.perf_counter() - t
print(json.dumps({{"seconds": dt, "rss_kb": rss_kb() - before, "fragments": len(s.projection.fragments),
                   "people": len(s.projection.people), "events": len(s.projection.events)}}))
"""


def bench_reopen(args: argparse.Namespace) -> None:
    path = big_store(args.n)
    times, rss = [], []
    info: dict[str, Any] = {}
    for run in range(args.runs):
        code = _REOPEN_CHILD.format(root=str(ROOT), path=str(path))
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        info = json.loads(res.stdout)
        times.append(info["seconds"])
        rss.append(info["rss_kb"])
        print(f"run {run}: reopened in {info['seconds']:.2f}s, +{info['rss_kb'] / 1024:.0f} MB", file=sys.stderr)
    record(
        "reopen (rebuild the projection from the journal, fresh process each run)",
        {
            "fragments": info["fragments"],
            "people": info["people"],
            "events": info["events"],
            "runs": args.runs,
            "median_s": round(statistics.median(times), 2),
            "p99_s": round(pct(times, 0.99), 2),
            "resident_memory_mb": round(statistics.median(rss) / 1024),
            "bytes_per_fragment": round(statistics.median(rss) * 1024 / info["fragments"]),
        },
    )


def planted_child(store: EmbeddedStore, events: int) -> str:
    """A child with ``events`` events from several agencies, added once to the big store."""
    found = [p for p in store.system_view().find_people("Bench Plantedchild") if p.events >= events]
    if found:
        return found[0].person_id
    from ingest.pipeline import import_docs

    agencies = [("bench-police", "police"), ("bench-school", "school"), ("bench-health", "health")]
    raws = []
    for i in range(events):
        aid, atype = agencies[i % 3]
        day = datetime(2020, 1, 1, tzinfo=UTC).toordinal() + i * 9
        d = datetime.fromordinal(day).date().isoformat()
        raws.append(
            {
                "agency": {"id": aid, "name": aid, "type": atype},
                "author": {"role": "officer", "id": "B1"},
                "record_ref": f"PLANT-{i}",
                "recorded_at": f"{d}T18:00:00Z",
                "shared_at": f"{d}T18:00:00Z",
                "event": {"kind": "observation", "when": d, "summary": f"Planted event {i}"},
                "people": [
                    {"ref": "c", "role": "child", "name": "Bench Plantedchild", "dob": "2015-01-01"},
                    {"ref": "m", "role": "parent", "name": "Mum Plantedchild", "dob": "1985-01-01"},
                    {"ref": "d", "role": "parent", "name": "Dad Plantedchild"},
                ],
                "statement": {"kind": "fact"},
                "concerns": ["neglect"] if i % 2 else [],
                "significance": ["low", "medium", "high"][i % 3],
                "sharing": {"lawful_basis": "public_task", "family_told": True},
            }
        )
    summary = import_docs(store, raws, now=NOW)
    assert summary.rejected == 0, summary.errors[:3]
    (p,) = store.system_view().find_people("Bench Plantedchild")
    return p.person_id


def bench_chronology(args: argparse.Namespace) -> None:
    path = big_store(args.n)
    s = EmbeddedStore.open(path)
    pid = planted_child(s, 200)
    n_lines = len(s.system_view().chronology(pid))
    gc.collect()
    times = []
    for _ in range(args.calls):
        t = time.perf_counter()
        s.system_view().chronology(pid)
        times.append((time.perf_counter() - t) * 1000)
    record(
        "chronology of one person (in-process, current versions, no filters)",
        {
            "fragments": len(s.projection.fragments),
            "lines": n_lines,
            "calls": args.calls,
            "median_ms": round(statistics.median(times), 3),
            "p99_ms": round(pct(times, 0.99), 3),
            "max_ms": round(max(times), 3),
        },
    )
    s.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("import")
    a.add_argument("--n", type=int, default=200_000)
    a.add_argument("--runs", type=int, default=5)
    a.set_defaults(fn=bench_import)
    b = sub.add_parser("reopen")
    b.add_argument("--n", type=int, default=1_000_000)
    b.add_argument("--runs", type=int, default=5)
    b.set_defaults(fn=bench_reopen)
    c = sub.add_parser("chronology")
    c.add_argument("--n", type=int, default=1_000_000)
    c.add_argument("--calls", type=int, default=2000)
    c.set_defaults(fn=bench_chronology)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
