"""Benchmarks for Access (issue 3), not tests: the reader's view and the audit of writes.

    python bench/bench_access.py view --n 1000000 --calls 2000
    python bench/bench_access.py import --n 50000 --runs 3

``view`` opens the 1,000,000-fragment store that bench_core.py built (never rebuilds it)
and, the first time, adds the cases and readers below to it in one transaction:

- the planted 200-event child "Bench Plantedchild" (bench_core.planted_child), with a
  reader from one of its agencies holding every clearance and a reader from an agency
  that holds none of its records, with no clearances;
- the generated child with the most events (realistic markings: health and criminal
  offence data, safeguarding-leads-only and originating-agency-only records), with a
  reader from the agency holding most of the child's component (every clearance) and
  one from the next agency (no clearances);
- a second generated child whose whole component a social worker of their local
  authority may read once on the case of every child in it (their siblings too), so
  that the reader's view takes the fast path on realistic data.

It then times, in-process and interleaved call by call, the unfiltered query
(``system_view().chronology``) against each reader's (``view(reader).chronology``), a
fresh view per call as a request makes one, and the Core's query on the projection with
no view at all (``graph.chronology.chronology``, what bench_core.py timed). It reports
whether each reader's view took the fast path (the store's own projection) or
re-projected the child's component. The first call of each reader is reported apart (a
re-projection fills a cache), and ``--cold`` more calls are made with that cache emptied
first. ``person()`` and ``find_people()`` (by the child's name) are timed likewise, and
``--audit-reads`` chronology reads with the audit entry a served read writes.

``import`` imports the same file into a fresh store once with the audit as it is and
once with ``graph.audit.record`` replaced by a no-op, alternating, a fresh process for
every run, and reports the audit's share of the import time.

Every figure printed is appended to bench/out/results.jsonl (bench_core.record).
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_core import OUT, data_file, pct, record, rss_kb  # noqa: E402
from graph import registry  # noqa: E402
from graph.access import Clearance  # noqa: E402
from graph.chronology import chronology as raw_chronology  # noqa: E402
from graph.embedded import EmbeddedStore  # noqa: E402
from graph.errors import NotFound  # noqa: E402
from graph.projection import Projection  # noqa: E402
from graph.view import ReaderView  # noqa: E402

PURPOSE = "safeguarding"
ALL_CLEARANCES = [c.value for c in Clearance]


def ms(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values), 3),
        "p99_ms": round(pct(values, 0.99), 3),
        "max_ms": round(max(values), 3),
    }


# ---------------------------------------------------------------------------- subjects


def planted_child(store: EmbeddedStore) -> str:
    """The system's person id of the planted child (bench_core adds it; the one with most events)."""
    found = store.system_view().find_people("Bench Plantedchild")
    if not found or max(p.events for p in found) < 200:
        raise SystemExit("no planted child in the store (bench_core.planted_child adds it)")
    return max(found, key=lambda p: p.events).person_id


def _system_id(store: EmbeddedStore, gpid: int) -> str:
    sv = store.system_view()
    return sv._person_ids(sv._part(gpid))(gpid)


def _children(p: Any, seqs: set[int]) -> set[int]:
    """The people a fragment of ``seqs`` mentions in the role of the child."""
    out: set[int] = set()
    for s in seqs:
        eid = p.fragments[s].event
        if eid is not None:
            out.update(q for q, role, src in p.events[eid].people if src == s and role == "child")
    return out


def _ranked_children(p: Any) -> Any:
    """Generated children by events, most first, with their component's fragments."""
    for gpid in sorted(p.people, key=lambda q: (-len(p.people[q].events), q)):
        _, seqs = p.component(gpid)
        if any(p.fragments[s].agency.startswith("bench-") for s in seqs):
            continue
        roles = collections.Counter(
            role for eid in p.people[gpid].events for q, role, _ in p.events[eid].people if q == gpid
        )
        if roles.most_common(1)[0][0] == "child":
            yield gpid, seqs


def generated_child(store: EmbeddedStore) -> tuple[str, list[str]]:
    """The generated child with the most events, and the agencies of their component by
    how many of its fragments each holds (most first)."""
    with store.locked() as p:
        gpid, seqs = next(_ranked_children(p))
        agencies = collections.Counter(p.fragments[s].agency for s in seqs)
    return _system_id(store, gpid), [a for a, _ in agencies.most_common()]


def family_child(store: EmbeddedStore) -> tuple[str, list[str], str]:
    """The generated child with the most events whose whole component a social worker of
    their local authority on the case of every child in it may read (the fast path):
    every fragment current, none for its originating agency only, none named for another
    agency. Returns the child, every child of the component (one case each) and the agency."""
    with store.locked() as p:
        for gpid, seqs in _ranked_children(p):
            metas = [p.fragments[s] for s in seqs]
            social = collections.Counter(m.agency for m in metas if m.agency.endswith("-social-care"))
            if not social or not all(p.is_current(s) for s in seqs):
                continue
            agency = social.most_common(1)[0][0]
            if any(
                m.agency != agency
                and (m.access.audience == "originating_agency" or not m.access.named_agencies <= {agency})
                for m in metas
            ):
                continue
            child, kids = gpid, _children(p, seqs)
            break
        else:
            raise SystemExit("no generated child whose component a social worker may read whole")
    return _system_id(store, child), [_system_id(store, q) for q in sorted(kids)], agency


def reader_person_id(store: EmbeddedStore, view: ReaderView, system_pid: str) -> str:
    """The id this reader knows the child by: their earliest visible mention of them."""
    gpid = store.global_pid(system_pid)
    with store.locked() as p:
        mentions = sorted(p.people[gpid].mentions)
    for s, i, _ in mentions:
        if view.visible(s):
            fid = view.fid_map([s])[s]
            summary = view.person(f"P{fid[1:17]}-{i}")
            if summary is not None:
                return summary.person_id
    raise SystemExit(f"reader {view.reader.id} sees nothing of {system_pid}")


def ensure_access(store: EmbeddedStore) -> dict[str, Any]:
    """Cases and readers for the benchmark, added (with their audit entries) in one
    transaction the first time; what is already there is left as it is."""
    planted = planted_child(store)
    generated, agencies = generated_child(store)
    family, kids, family_agency = family_child(store)
    cases = {"BENCH-PLANTED": planted, "BENCH-GENERATED": generated}
    cases.update({f"BENCH-FAMILY-{k + 1}": pid for k, pid in enumerate(kids)})
    lead = ["social_worker", "designated_safeguarding_lead"]
    readers: dict[str, tuple[str, list[str], list[str], str, list[str]]] = {
        # reader id: (agency, roles, clearances, subject, cases)
        "bench-planted-lead": (
            "bench-police",
            ["police_officer", "designated_safeguarding_lead"],
            ALL_CLEARANCES,
            "planted",
            ["BENCH-PLANTED"],
        ),
        "bench-planted-sw": ("bench-social-care", ["social_worker"], [], "planted", ["BENCH-PLANTED"]),
        "bench-generated-lead": (agencies[0], lead, ALL_CLEARANCES, "generated", ["BENCH-GENERATED"]),
        "bench-generated-practitioner": (agencies[1], ["practitioner"], [], "generated", ["BENCH-GENERATED"]),
        "bench-family-lead": (
            family_agency,
            lead,
            ALL_CLEARANCES,
            "family",
            [c for c in cases if c.startswith("BENCH-FAMILY-")],
        ),
    }
    added = []
    with store.transaction() as conn:
        at = store.clock()
        have = {c for c, _, _ in registry.cases(conn)}
        for case_id, pid in cases.items():
            if case_id in have:
                continue
            fid, mention = store.person_anchor(pid)
            registry.open_case(conn, case_id=case_id, fragment_id=fid, mention=mention, at=at, by="bench")
            store.record(conn, "bench", "case.change", {"case": case_id, "opened": True, "people": [pid]})
            added.append(case_id)
        for rid, (agency, roles, clearances, _, member_of) in readers.items():
            try:
                registry.get_reader(conn, rid)
                continue
            except NotFound:
                pass
            registry.put_reader(conn, reader_id=rid, agency=agency, roles=roles, clearances=clearances, at=at)
            store.record(conn, "bench", "reader.change", {"reader": rid, "agency": agency, "active": True})
            for case_id in member_of:
                registry.set_membership(conn, rid, case_id, True)
                store.record(conn, "bench", "case.change", {"case": case_id, "reader": rid, "member": True})
            added.append(rid)
    subjects = {"planted": planted, "generated": generated, "family": family}
    return {"subjects": subjects, "readers": readers, "added": added}


# ---------------------------------------------------------------------------- view


def path_of(store: EmbeddedStore, view: ReaderView, pid: str) -> str:
    part = view._part(store.global_pid(pid))
    return "fast path" if part.fast else "re-projection"


def time_calls(
    variants: dict[str, tuple[Callable[[], Any], Callable[[Any], Any]]], calls: int
) -> dict[str, dict[str, list[float]]]:
    """Each variant ``calls`` times, interleaved (the order rotates every round); each call
    makes a fresh view and asks it one question. Times in ms: view creation, the
    question, both; the first call of each variant apart."""
    names = list(variants)
    out: dict[str, dict[str, list[float]]] = {n: {"view": [], "query": [], "total": [], "first": []} for n in names}
    gc.collect()
    for k in range(calls + 1):
        order = names[k % len(names) :] + names[: k % len(names)]
        for name in order:
            make, ask = variants[name]
            t0 = time.perf_counter()
            v = make()
            t1 = time.perf_counter()
            ask(v)
            t2 = time.perf_counter()
            if k == 0:
                out[name]["first"] = [(t2 - t0) * 1000]
                continue
            out[name]["view"].append((t1 - t0) * 1000)
            out[name]["query"].append((t2 - t1) * 1000)
            out[name]["total"].append((t2 - t0) * 1000)
    return out


def ask_chronology(pid: str) -> Callable[[ReaderView], Any]:
    return lambda view: view.chronology(pid)


def ask_projection(gpid: int) -> Callable[[Projection], Any]:
    return lambda p: raw_chronology(p, gpid, p.is_current)


def ask_person(pid: str) -> Callable[[ReaderView], Any]:
    return lambda view: view.person(pid)


def ask_search(name: str) -> Callable[[ReaderView], Any]:
    return lambda view: view.find_people(name)


def bench_view(args: argparse.Namespace) -> None:
    path = OUT / f"store-{args.n}.sqlite"
    if not path.exists():
        raise SystemExit(f"{path} is not there: build it with bench/bench_core.py reopen --n {args.n}")
    before = rss_kb()
    t = time.perf_counter()
    s = EmbeddedStore.open(path)
    print(f"opened in {time.perf_counter() - t:.0f}s, +{(rss_kb() - before) / 1024:.0f} MB", file=sys.stderr)
    setup = ensure_access(s)
    print(f"added to the store: {setup['added'] or 'nothing'}", file=sys.stderr)
    fragments = s.fragment_count()
    system = s.system_view

    def maker(rid: str) -> Callable[[], ReaderView]:
        return system if rid == "system" else lambda: s.view(rid, PURPOSE)

    for subject, sys_pid in setup["subjects"].items():
        if args.subjects and subject not in args.subjects:
            continue
        readers = [rid for rid, r in setup["readers"].items() if r[3] == subject]
        pids = {"system": sys_pid}
        info: dict[str, Any] = {}
        for rid in readers:
            pids[rid] = reader_person_id(s, s.view(rid, PURPOSE), sys_pid)
            agency, roles, clearances, _, cases = setup["readers"][rid]
            info[rid] = {
                "agency": agency,
                "roles": roles,
                "clearances": clearances,
                "cases": cases,
                "person_id": pids[rid],
            }
        print(f"{subject}: {len(readers)} readers, {args.calls} calls each", file=sys.stderr)
        s._source.cache.clear()  # so that each reader's first call is cold
        load = os.getloadavg()[0]
        variants: dict[str, tuple[Callable[[], Any], Callable[[Any], Any]]] = {
            rid: (maker(rid), ask_chronology(pid)) for rid, pid in pids.items()
        }
        # the Core's query, on the projection with no view at all (what bench_core timed)
        gpid = s.global_pid(sys_pid)
        variants["projection"] = (lambda: s.projection, ask_projection(gpid))
        res = time_calls(variants, args.calls)
        base = res["system"]
        with s.locked() as p:
            _, seqs = p.component(s.global_pid(sys_pid))
        row: dict[str, Any] = {
            "fragments": fragments,
            "subject": subject,
            "component_fragments": len(seqs),
            "calls": args.calls,
            "load_average_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
            "unfiltered": {
                "person_id": sys_pid,
                "lines": len(system().chronology(sys_pid)),
                "first_call_ms": round(base["first"][0], 3),
                "request": ms(base["total"]),
                "chronology_only": ms(base["query"]),
                "view_creation": ms(base["view"]),
                "projection_without_view": {
                    "lines": len(raw_chronology(s.projection, gpid, s.projection.is_current)),
                    **ms(res["projection"]["total"]),
                },
            },
        }
        for rid in readers:
            r = res[rid]
            v = s.view(rid, PURPOSE)
            lines = v.chronology(pids[rid])
            info[rid].update(
                {
                    "path": path_of(s, v, sys_pid),
                    "lines": len(lines),
                    "held_back_lines": sum(1 for ln in lines if ln.held_back),
                    "first_call_ms": round(r["first"][0], 3),
                    "request": ms(r["total"]),
                    "chronology_only": ms(r["query"]),
                    "view_creation": ms(r["view"]),
                    "overhead_median": round(statistics.median(r["total"]) / statistics.median(base["total"]) - 1, 3),
                    "overhead_p99": round(pct(r["total"], 0.99) / pct(base["total"], 0.99) - 1, 3),
                }
            )
            if info[rid]["path"] == "re-projection" and args.cold:
                cold = []
                for _ in range(args.cold):
                    s._source.cache.clear()
                    t0 = time.perf_counter()
                    s.view(rid, PURPOSE).chronology(pids[rid])
                    cold.append((time.perf_counter() - t0) * 1000)
                info[rid]["cold_cache"] = {"calls": args.cold, **ms(cold)}
        row["readers"] = info
        # person() and find_people() by the child's name: a fresh view each call, interleaved likewise
        sample = max(1, args.calls // 4)
        name = system().person(sys_pid).names[0]  # type: ignore[union-attr]
        small: dict[str, Any] = {"calls": sample, "query": name}
        for what, asks in (
            ("person", {rid: (maker(rid), ask_person(pid)) for rid, pid in pids.items()}),
            ("find_people", {rid: (maker(rid), ask_search(name)) for rid in pids}),
        ):
            small[what] = {rid: ms(r["total"]) for rid, r in time_calls(asks, sample).items()}
        small["find_people_hits"] = {rid: len(maker(rid)().find_people(name)) for rid in pids}
        row["person_and_search"] = small
        record(f"reader's view vs unfiltered, in-process ({subject} child)", row)
        s._source.cache.clear()

    if args.audit_reads:
        # what a served read adds: its audit entry, written durably before the answer
        rid = "bench-planted-lead"
        pid = reader_person_id(s, s.view(rid, PURPOSE), setup["subjects"]["planted"])
        times = []
        for _ in range(args.audit_reads):
            t0 = time.perf_counter()
            v = s.view(rid, PURPOSE)
            lines = v.chronology(pid)
            detail = {  # as api.cli.chronology_audit
                "people": [pid],
                "fragments": sorted({src.fragment_id for ln in lines for src in ln.sources}),
                "held_back": sum(1 for ln in lines if ln.held_back),
            }
            s.audit_read(v, "read.chronology", detail)
            times.append((time.perf_counter() - t0) * 1000)
        record(
            "chronology read with its audit entry (durable write before the answer)",
            {"fragments": fragments, "subject": "planted", "reader": rid, "calls": args.audit_reads, **ms(times)},
        )
    s.close()


# ---------------------------------------------------------------------------- import

_IMPORT_CHILD = """
import sys, time, json
from pathlib import Path
sys.path.insert(0, {root!r})
import graph.audit
inside = [0.0]
if {no_audit!r}:
    graph.audit.record = lambda *a, **k: 0
else:
    real = graph.audit.record
    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return real(*a, **k)
        finally:
            inside[0] += time.perf_counter() - t
    graph.audit.record = timed
from bench.bench_core import NOW
from graph.embedded import EmbeddedStore
from ingest.pipeline import import_files
store_path = Path({store!r})
for suffix in ("", "-wal", "-shm"):
    Path(f"{{store_path}}{{suffix}}").unlink(missing_ok=True)
s = EmbeddedStore.open(store_path, create=True)
t = time.perf_counter()
summary = import_files(s, [{src!r}], now=NOW)
dt = time.perf_counter() - t
entries = s._conn.execute("SELECT count(*) FROM audit").fetchone()[0]
index = s._conn.execute("SELECT count(*) FROM audit_fragments").fetchone()[0]
s.close()
for suffix in ("", "-wal", "-shm"):
    Path(f"{{store_path}}{{suffix}}").unlink(missing_ok=True)
print(json.dumps({{"accepted": summary.accepted, "rejected": summary.rejected, "seconds": dt,
                   "audit_entries": entries, "audit_fragment_rows": index, "in_record_s": inside[0]}}))
"""


def bench_import(args: argparse.Namespace) -> None:
    src = data_file(args.n)
    rates: dict[str, list[float]] = {"audit": [], "no_audit": []}
    audit_rows: dict[str, Any] = {}
    in_record: list[float] = []
    load = os.getloadavg()[0]
    for run in range(args.runs):
        order = ["audit", "no_audit"] if run % 2 == 0 else ["no_audit", "audit"]
        for variant in order:
            code = _IMPORT_CHILD.format(
                root=str(ROOT),
                no_audit=variant == "no_audit",
                store=str(OUT / f"import-access-{variant}.sqlite"),
                src=str(src),
            )
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            info = json.loads(res.stdout)
            assert info["rejected"] == 0
            rates[variant].append(info["accepted"] / info["seconds"])
            audit_rows[variant] = {k: info[k] for k in ("audit_entries", "audit_fragment_rows")}
            if variant == "audit":
                in_record.append(info["in_record_s"] / info["seconds"] * 100)
            print(
                f"run {run} {variant}: {info['accepted']} in {info['seconds']:.2f}s = {rates[variant][-1]:,.0f}/s, "
                f"{info['audit_entries']} audit entries",
                file=sys.stderr,
            )
    with_audit, without = statistics.median(rates["audit"]), statistics.median(rates["no_audit"])
    record(
        "bulk import with and without the audit (fresh process and store each run, alternating)",
        {
            "fragments": args.n,
            "runs": args.runs,
            "with_audit_median_fragments_per_s": round(with_audit),
            "with_audit_runs": [round(r) for r in rates["audit"]],
            "without_audit_median_fragments_per_s": round(without),
            "without_audit_runs": [round(r) for r in rates["no_audit"]],
            "audit_cost_pct_of_speed": round((1 - with_audit / without) * 100, 1),
            "time_inside_audit_record_pct": [round(x, 2) for x in in_record],
            "load_average_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
            "audit_rows_written": audit_rows["audit"],
        },
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("view")
    a.add_argument("--n", type=int, default=1_000_000)
    a.add_argument("--calls", type=int, default=2000)
    a.add_argument("--cold", type=int, default=50, help="calls with the re-projection cache emptied first")
    a.add_argument("--subjects", nargs="*", choices=["planted", "generated", "family"], help="default: all")
    a.add_argument("--audit-reads", type=int, default=200, help="chronology reads with their audit entry (0: none)")
    a.set_defaults(fn=bench_view)
    b = sub.add_parser("import")
    b.add_argument("--n", type=int, default=50_000)
    b.add_argument("--runs", type=int, default=3)
    b.set_defaults(fn=bench_import)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
