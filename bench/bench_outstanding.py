"""How ``outstanding(agency)`` grows with the audit (not a test).

    python bench/bench_outstanding.py --n 20000 --reads 2000 20000 --runs 7

Writes ``--n`` generated fragments to a fresh embedded store, then, for each figure of
``--reads``, that many audited reads of five of the busiest agency's fragments by a
reader of another agency, and times ``outstanding`` for the busiest agency (median and
slowest of ``--runs`` calls). What it shows: the call reads every audited read of the
agency's fragments, so it grows with the audit's history, not with what is outstanding.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graph.embedded import EmbeddedStore
from ingest.generate import generate
from ingest.validate import check_fragment

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--reads", type=int, nargs="+", default=[2_000, 20_000])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    docs = [d for raw in generate(args.n, seed=1, people_per_fragment=3) if (d := check_fragment(raw, now=NOW)[0])]
    with tempfile.TemporaryDirectory() as tmp:
        s = EmbeddedStore.open(Path(tmp) / "s.sqlite", create=True)
        for k in range(0, len(docs), 1000):
            s.append(docs[k : k + 1000])
        agency = Counter(d["agency"]["id"] for d in docs).most_common(1)[0][0]
        fids = s._fids(range(1, len(docs) + 1))
        mine = [fids[q] for q in range(1, len(docs) + 1) if docs[q - 1]["agency"]["id"] == agency]
        other = next(d["agency"]["id"] for d in docs if d["agency"]["id"] != agency)
        s.put_reader("bench", reader_id="r-other", agency=other, roles=["social_worker"])
        view = s.view("r-other", "safeguarding")
        done = 0
        for reads in sorted(args.reads):
            for i in range(done, reads):
                k = (i * 5) % len(mine)
                s.audit_read(view, "read.chronology", {"fragments": mine[k : k + 5]})
            done = reads
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                items = s.outstanding(agency)
                times.append((time.perf_counter() - t) * 1000)
            print(
                f"{len(mine):,} fragments of the busiest agency, {reads:,} audited reads of 5 of them: "
                f"outstanding gives {len(items):,} items in median {statistics.median(times):.0f} ms "
                f"(slowest {max(times):.0f} ms of {args.runs})"
            )
        s.close()


if __name__ == "__main__":
    main()
