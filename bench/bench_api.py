"""Benchmarks for the HTTP API, not tests: the real server, a real load generator, 127.0.0.1.

    python bench/bench_api.py single --connections 1 16 --requests 2000 --runs 5
    python bench/bench_api.py batch --size 1000 --batches 10 --runs 5
    python bench/bench_api.py chronology --n 1000000 --limits 500 50 --connections 1 4 \
        --requests 2000 --runs 3 --posts 2000

The server is ``jigsaw serve --store PATH --port P`` (one worker, its access log as the
command configures it, written to bench/out/api-server-*.log), a separate process,
started afresh on a fresh store for each run of ``single`` and ``batch``, and once for
``chronology`` (opening 1,000,000 fragments takes 90 s or more).

The load generator is wrk (``apt-get install wrk``): closed loop, one wrk thread holding
``--connections`` keep-alive connections, each sending its next request as soon as the
answer to its last one has arrived. A Lua script (written to bench/out/api-wrk.lua)
sends each request of a prepared file once, in order, with its own body and token, and
stops wrk after ``--requests`` answers: runs are bounded by count (and by
``--max-seconds``). wrk times each request from its first byte written to the last byte
of the answer read, in microseconds; the script reads every request's latency back from
wrk's histogram (one bucket a microsecond), so medians and p99s are exact over every
request of a run and over all runs pooled. Throughput is the answers counted over the
time from the first request sent to the last answer counted. A warm-up of ``--warmup``
requests precedes the measured ones in every run.

- ``single``: POST /fragments, one generated fragment (ingest.generate, ~1.6 KB) a
  request, every one new, so each is answered 201 only once it is durable (committed,
  write-ahead log synced). Each agency the fragments come from gets a reader (a
  practitioner) and a token, and each fragment is posted with its own agency's token.
- ``batch``: POST /fragments/batch, ``--size`` generated fragments a request, every one
  relabelled as from one agency (a batch is one agency's), record references kept unique.
- ``chronology``: GET /people/{id}/chronology?limit=L (500: the whole 200 lines; 50: the
  default page) as the police DSL "bench-planted-lead" (bench_access.py) for the
  200-event planted child, on a copy of bench/out/store-1000000.sqlite made once
  (bench/out/api-1m.sqlite: every read appends to the audit; the original is never
  opened for writing). Its readers and tokens are added to the copy in one transaction
  without opening it as a store (that would replay 1M fragments). ``--posts`` then
  times single POSTs into the same 1M store, ``--post-connections`` at a time.

CPU: the server's (from /proc) and wrk's (getrusage of the finished child) during each
measured run are reported in seconds and as a share of one core: client and server share
the machine's 2 cores. The access log's own per-request times (from the app's
access-log middleware to the answer's last byte handed to uvicorn) are reported beside wrk's.
``--profile`` samples the server with py-spy during each measured run (it slows the
server: the figures of a profiled run are not the benchmark's).

Every figure printed is appended to bench/out/results.jsonl (bench_core.record).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_core import OUT, pct, record  # noqa: E402
from graph import audit, registry  # noqa: E402
from graph.embedded import EmbeddedStore, utc_now  # noqa: E402
from ingest.generate import generate  # noqa: E402

PURPOSE = "safeguarding"
PLANTED_READER = "bench-planted-lead"
TICKS = os.sysconf("SC_CLK_TCK")
PROFILE = False  # --profile

# Targets from the issue: (what, connections) -> limit
TARGET_SINGLE_P99_MS = {1: 5.0, 16: 20.0}
TARGET_SINGLE_RATE = 1500.0  # durable fragments/s per worker
TARGET_BATCH_RATE = 15000.0  # fragments/s in batches of 1,000
TARGET_CHRONOLOGY_P99_MS = 25.0

# --------------------------------------------------------------------------- wrk

WRK_LUA = r"""
-- bench_api.py: send each request of a file once, in order; stop after a count of answers;
-- write every request's latency (microseconds) and the statuses as JSON.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")

function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local nthreads, target = tonumber(args[2]), tonumber(args[3])
  out_path = args[4]
  reqs = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      local method, path, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = { ["Authorization"] = "Bearer " .. token, ["X-Jigsaw-Purpose"] = "safeguarding" }
      if body == "" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      reqs[#reqs + 1] = wrk.format(method, path, headers, body)
    end
    i = i + 1
  end
  want = math.floor(target / nthreads) + (id < target % nthreads and 1 or 0)
  sent, answered, s201, s200, other, first_bad, t_first, t_last = 0, 0, 0, 0, 0, "", 0, 0
end

function request()
  if sent == 0 then
    t_first = now_us()
  end
  sent = sent + 1
  if sent > #reqs then
    sent = 1  -- never reached when the file holds enough requests (bench_api.py sees to it)
  end
  return reqs[sent]
end

function response(status, headers, body)
  answered = answered + 1
  if status == 201 then
    s201 = s201 + 1
  elseif status == 200 then
    s200 = s200 + 1
  else
    other = other + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.sub(body or "", 1, 300)
    end
  end
  if answered == want then
    t_last = now_us()
    wrk.thread:stop()
    -- wrk's main thread sleeps out -d whatever the threads do; SIGINT ends the sleep (and
    -- the run). Sent from the background: system() ignores SIGINT until the shell (whose
    -- parent is wrk) has exited. One wrk thread: bench_api.py uses one.
    os.execute("(sleep 0.01; kill -INT $PPID) &")
  end
end

local function q(s)
  return '"' .. s:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub('%c', ' ') .. '"'
end

function done(summary, latency, requests)
  local f = assert(io.open(threads[1]:get("out_path"), "w"))
  local e = summary.errors
  f:write(string.format('{"duration_us":%d,"requests":%d,"bytes":%d,',
    summary.duration, summary.requests, summary.bytes))
  f:write(string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},',
    e.connect, e.read, e.write, e.status, e.timeout))
  local c201, c200, cother, sent_total, bad = 0, 0, 0, 0, ""
  -- from the first request sent to the last answer counted (wrk's own duration runs on
  -- to its stop, ~10 ms more)
  f:write(string.format('"window_us":%d,', threads[1]:get("t_last") - threads[1]:get("t_first")))
  for _, t in ipairs(threads) do
    c201 = c201 + t:get("s201")
    c200 = c200 + t:get("s200")
    cother = cother + t:get("other")
    sent_total = sent_total + t:get("sent")
    if bad == "" then bad = t:get("first_bad") end
  end
  f:write(string.format('"status_201":%d,"status_200":%d,"status_other":%d,"sent":%d,"first_bad":%s,',
    c201, c200, cother, sent_total, q(bad)))
  -- every request's latency, smallest first: wrk keeps a histogram with one bucket a
  -- microsecond, and the rank-k value is its percentile (k - 0.5) / n * 100
  f:write('"latencies_us":[')
  local n = summary.requests
  for k = 1, n do
    f:write((k > 1 and "," or "") .. string.format("%d", latency:percentile((k - 0.5) / n * 100)))
  end
  f:write("]}\n")
  f:close()
end
"""


@dataclass
class Req:
    method: str
    path: str
    token: str
    body: bytes = b""


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed: apt-get install wrk (Debian) or build it from github.com/wg/wrk")
    return found


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_cpu_s() -> float:
    """CPU seconds all processes of the machine have used, from /proc/stat (not idle, not
    waiting for the disk)."""
    with open("/proc/stat") as fh:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fh.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICKS


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_wrk(
    base: str, reqs: list[Req], *, count: int, connections: int, timeout_s: int, max_seconds: int, tag: str
) -> dict[str, Any]:
    """Send ``reqs`` in order over ``connections`` connections until ``count`` answers."""
    if len(reqs) < count + connections:
        raise ValueError(f"{len(reqs)} requests prepared for {count} answers on {connections} connections")
    OUT.mkdir(parents=True, exist_ok=True)
    script = OUT / "api-wrk.lua"
    script.write_text(WRK_LUA)
    req_file = OUT / f"api-requests-{tag}.tsv"
    with req_file.open("wb") as fh:
        for r in reqs:
            fh.write(b"\t".join([r.method.encode(), r.path.encode(), r.token.encode(), r.body]) + b"\n")
    result = OUT / f"api-wrk-{tag}.json"
    result.unlink(missing_ok=True)
    threads = 1  # one wrk thread keeps up with this server and leaves the most CPU to it
    cmd = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max_seconds}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(script),
        base,
        "--",
        str(req_file),
        str(threads),
        str(count),
        str(result),
    ]
    cpu0 = children_cpu_s()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    client_cpu = children_cpu_s() - cpu0
    req_file.unlink(missing_ok=True)
    if proc.returncode != 0 or not result.exists():
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    info: dict[str, Any] = orjson.loads(result.read_bytes())
    result.unlink()
    info["client_cpu_s"] = client_cpu
    info["wall_s"] = wall
    info["wrk_stdout"] = proc.stdout
    return info


def latencies_ms(info: dict[str, Any]) -> list[float]:
    values = [us / 1000 for us in info["latencies_us"]]
    if values and min(values) <= 0:
        raise RuntimeError("wrk's latency count does not match its request count")
    return values


def ms(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values), 2),
        "p99_ms": round(pct(values, 0.99), 2),
        "max_ms": round(max(values), 2),
    }


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    pid: int
    log: Path

    def log_offset(self) -> int:
        return self.log.stat().st_size

    def app_times_ms(self, since: int, route: str) -> list[float]:
        """Times the access log wrote for ``route`` since byte ``since`` (the app's own
        measure: from the first middleware to the last byte handed to uvicorn)."""
        pat = re.compile(rf"jigsaw\.access INFO \S+ {re.escape(route)} \d+ ([0-9.]+)ms$")
        with self.log.open("rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
        return [float(m.group(1)) for m in map(pat.search, text.splitlines()) if m]


@contextlib.contextmanager
def serve(store: Path, tag: str, ready_timeout: float = 900) -> Iterator[Server]:
    """``jigsaw serve --store STORE --port P`` as its own process until the block ends."""
    port = free_port()
    exe = Path(sys.executable).parent / "jigsaw"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "api.cli"]
    cmd += ["serve", "--store", str(store), "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIGSAW_")}
    log = OUT / f"api-server-{tag}.log"
    with log.open("wb") as fh:
        # cwd: bench/out, so that no developer's .env is read
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=OUT)
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}); see {log}")
            if time.perf_counter() - t0 > ready_timeout:
                raise RuntimeError(f"the server was not ready in {ready_timeout:.0f}s; see {log}")
            try:
                if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        print(f"server pid {proc.pid} ready in {time.perf_counter() - t0:.1f}s at {base}", file=sys.stderr)
        yield Server(base, proc.pid, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


IDLE_LEAVES = ("Runner.run (asyncio/runners.py", "Condition.wait (threading.py", "WorkerThread.run (anyio/")


def start_profile(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling every thread of the server (waiting ones too) until stopped."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    cmd = [spy, "record", "--pid", str(pid), "--rate", "250", "--idle", "--format", "raw", "--output", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    return proc


def stop_profile(proc: subprocess.Popen[bytes], out: Path, top: int = 25) -> dict[str, Any]:
    """Stop py-spy and say where the server's threads spent the samples that were not
    idle waiting for work (the event loop waiting in uvloop, pool threads waiting for a
    job), by function, inclusive."""
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    total = busy = 0
    inclusive: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        if frames[-1].startswith(IDLE_LEAVES):
            continue
        busy += n
        leaves[re.sub(r":\d+\)$", ")", frames[-1])] += n
        for fn in {re.sub(r":\d+\)$", ")", f) for f in frames}:
            inclusive[fn] += n
    # inclusive: the project's own functions (and the framework's validation), not the
    # wrappers every request passes through; self: any function
    ours = ("(api/", "(graph/", "(ingest/", "solve_dependencies (", "run_in_threadpool (")
    inclusive_ours = [(fn, n) for fn, n in inclusive.most_common() if any(k in fn for k in ours)]
    return {
        "profile": str(out.relative_to(ROOT)),
        "samples": total,
        "busy_samples": busy,
        "inclusive_pct_of_busy": {
            fn: round(n / busy * 100, 1)
            for fn, n in inclusive_ours[:top]
            if not fn.startswith(("serve (api/cli.py", "main (api/cli.py"))
        },
        "self_pct_of_busy": {fn: round(n / busy * 100, 1) for fn, n in leaves.most_common(top)},
    }


def measure(
    server: Server,
    reqs: list[Req],
    *,
    count: int,
    connections: int,
    route: str,
    timeout_s: int,
    max_seconds: int,
    tag: str,
) -> dict[str, Any]:
    """One measured wrk run against ``server``, with the server's CPU and access-log times."""
    since = server.log_offset()
    spy_out = OUT / f"api-profile-{tag}-{time.strftime('%H%M%S')}.txt"
    spy = start_profile(server.pid, spy_out) if PROFILE else None
    cpu0, all0 = proc_cpu_s(server.pid), machine_cpu_s()
    info = run_wrk(
        server.base,
        reqs,
        count=count,
        connections=connections,
        timeout_s=timeout_s,
        max_seconds=max_seconds,
        tag=tag,
    )
    server_cpu = proc_cpu_s(server.pid) - cpu0
    others_cpu = machine_cpu_s() - all0 - server_cpu - info["client_cpu_s"]
    profile = stop_profile(spy, spy_out) if spy else None
    time.sleep(0.2)  # the last access-log lines
    lat = latencies_ms(info)
    if len(lat) < count or info["status_other"]:
        raise RuntimeError(
            f"{len(lat)} of {count} answered, {info['status_other']} not 200/201 "
            f"(first: {info['first_bad']}); errors {info['errors']}"
        )
    seconds = info["window_us"] / 1e6
    app = server.app_times_ms(since, route)
    return {
        "requests": len(lat),
        "status_201": info["status_201"],
        "status_200": info["status_200"],
        "seconds": round(seconds, 3),
        "requests_per_s": round(count / seconds, 2),  # the count-th answer ends the window
        **ms(lat),
        "app_median_ms": round(statistics.median(app), 2) if app else None,
        "app_p99_ms": round(pct(app, 0.99), 2) if app else None,
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_pct_of_core": round(server_cpu / info["wall_s"] * 100),
        "client_cpu_s": round(info["client_cpu_s"], 2),
        "client_cpu_pct_of_core": round(info["client_cpu_s"] / info["wall_s"] * 100),
        # anything else running on the machine meanwhile (this benchmark's own process is idle)
        "others_cpu_pct_of_core": round(max(0.0, others_cpu) / info["wall_s"] * 100),
        "_latencies": lat,
        **({"profile": profile} if profile else {}),
    }


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-run figures (without their raw latencies) and every request of every run pooled."""
    everything = [x for r in runs for x in r["_latencies"]]
    per_run = [{k: v for k, v in r.items() if k != "_latencies"} for r in runs]
    return {
        "runs": per_run,
        "pooled": {"requests": len(everything), **ms(everything)},
        "median_of_run_medians_ms": round(statistics.median(r["median_ms"] for r in runs), 2),
        "median_of_run_p99s_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
        "worst_run_p99_ms": round(max(r["p99_ms"] for r in runs), 2),
        "median_requests_per_s": round(statistics.median(r["requests_per_s"] for r in runs), 1),
    }


def verdict(value: float, limit: float, *, higher_is_better: bool = False) -> str:
    ok = value >= limit if higher_is_better else value <= limit
    if ok:
        return f"met ({value:,.2f} vs {limit:,.0f})"
    factor = limit / value if higher_is_better else value / limit
    return f"missed ({value:,.2f} vs {limit:,.0f}: {factor:.2f}x)"


# --------------------------------------------------------------------------- data


def fragments(n: int, seed: int, ref_prefix: str = "") -> list[dict[str, Any]]:
    """``n`` generated fragments (as bench_core makes them); record refs prefixed if asked
    (to post into a store that already holds the same generator's references)."""
    out = list(generate(n, seed=seed, people_per_fragment=3))
    if ref_prefix:
        for f in out:
            f["record_ref"] = ref_prefix + f["record_ref"]
    return out


def reader_id(agency: str) -> str:
    return f"bench-api-{agency}"


def fresh_store(path: Path, agencies: set[str]) -> dict[str, str]:
    """A new empty store with a practitioner and a token for each agency: {agency: token}."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    s = EmbeddedStore.open(path, create=True)
    tokens = {}
    try:
        for agency in sorted(agencies):
            s.put_reader("bench", reader_id=reader_id(agency), agency=agency, roles=["practitioner"])
            tokens[agency] = s.issue_token("bench", reader_id(agency))[1]
    finally:
        s.close()
    return tokens


def admin_offline(path: Path, readers: dict[str, str], token_for: list[str]) -> dict[str, str]:
    """Readers (id -> agency, as practitioners) and tokens on a store too big to open for
    it (opening replays every fragment: ~90 s at 1M). The same writes as
    EmbeddedStore.put_reader and issue_token, each change with its audit entry, in one
    durable transaction. Readers already there are left as they are. {reader: token}."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        at = utc_now()
        conn.execute("BEGIN IMMEDIATE")
        for rid, agency in readers.items():
            if conn.execute("SELECT 1 FROM readers WHERE id = ?", (rid,)).fetchone():
                continue
            registry.put_reader(conn, reader_id=rid, agency=agency, roles=["practitioner"], at=at)
            audit.record(
                conn,
                at=at,
                actor="bench",
                action="reader.change",
                purpose=None,
                detail={"reader": rid, "agency": agency, "active": True},
            )
        tokens = {}
        for rid in token_for:
            tid, tokens[rid] = registry.issue_token(conn, rid, at=at)
            audit.record(
                conn, at=at, actor="bench", action="token.issue", purpose=None, detail={"reader": rid, "token": tid}
            )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return tokens


def post_requests(frags: list[dict[str, Any]], tokens: dict[str, str]) -> list[Req]:
    return [Req("POST", "/fragments", tokens[f["agency"]["id"]], orjson.dumps(f)) for f in frags]


def stored_fragments(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM fragments").fetchone()[0])
    finally:
        conn.close()


def load() -> float:
    return round(os.getloadavg()[0], 2)


def show(label: str, r: dict[str, Any]) -> None:
    print(
        f"{label}: {r['requests']} in {r['seconds']:.2f}s = {r['requests_per_s']:,.0f}/s; "
        f"median {r['median_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.1f} ms "
        f"(app {r['app_median_ms']} / {r['app_p99_ms']} ms); server CPU {r['server_cpu_pct_of_core']}%, "
        f"wrk {r['client_cpu_pct_of_core']}%, others {r['others_cpu_pct_of_core']}% of a core",
        file=sys.stderr,
    )
    if "profile" in r:
        prof = r["profile"]
        print(f"  profile {prof['profile']}: {prof['busy_samples']} of {prof['samples']} samples busy", file=sys.stderr)
        for fn, share in list(prof["inclusive_pct_of_busy"].items())[:20]:
            print(f"    {share:5.1f}%  {fn}", file=sys.stderr)


# --------------------------------------------------------------------------- single


def single_runs(
    server: Server,
    reqs: list[Req],
    *,
    warmup: int,
    count: int,
    connections: int,
    max_seconds: int,
    tag: str,
) -> dict[str, Any]:
    if warmup:
        run_wrk(
            server.base,
            reqs[: warmup + connections],
            count=warmup,
            connections=connections,
            timeout_s=10,
            max_seconds=max_seconds,
            tag=tag + "-warmup",
        )
    return measure(
        server,
        reqs[warmup + connections :],
        count=count,
        connections=connections,
        route="/fragments",
        timeout_s=10,
        max_seconds=max_seconds,
        tag=tag,
    )


def bench_single(args: argparse.Namespace) -> None:
    wrk_binary()
    top = max(args.connections)
    need = 2 * (args.warmup + top) + args.requests + top
    frags = fragments(need, args.seed)
    agencies = {f["agency"]["id"] for f in frags}
    store = OUT / "api-single.sqlite"
    for c in args.connections:
        runs = []
        load0 = load()
        for run in range(args.runs):
            tokens = fresh_store(store, agencies)
            reqs = post_requests(frags, tokens)
            with serve(store, f"single-c{c}-{run}") as server:
                r = single_runs(
                    server,
                    reqs,
                    warmup=args.warmup,
                    count=args.requests,
                    connections=c,
                    max_seconds=args.max_seconds,
                    tag=f"single-c{c}",
                )
            stored = stored_fragments(store)
            assert r["status_201"] >= args.requests and stored >= args.warmup + args.requests, (r, stored)
            r["stored_after"] = stored
            show(f"single c={c} run {run}", r)
            runs.append(r)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        res = pooled(runs)
        rate = res["median_requests_per_s"]
        record(
            f"HTTP API: POST /fragments, one new fragment a request, {c} connection(s), fresh empty store each run",
            {
                "connections": c,
                "requests_per_run": args.requests,
                "warmup_per_run": args.warmup,
                "store": "fresh, empty but for one reader and token per agency",
                "agencies": len(agencies),
                "load_average_1min": [load0, load()],
                **res,
                "target_p99": verdict(res["pooled"]["p99_ms"], TARGET_SINGLE_P99_MS[c])
                if c in TARGET_SINGLE_P99_MS
                else None,
                "target_rate": verdict(rate, TARGET_SINGLE_RATE, higher_is_better=True),
            },
        )


# --------------------------------------------------------------------------- batch


def bench_batch(args: argparse.Namespace) -> None:
    wrk_binary()
    per_run = args.warmup + args.batches + 2 * max(args.connections)
    frags = fragments(per_run * args.size, args.seed)
    # a batch comes from one agency: every fragment re-labelled as from the agency that
    # sent most of them, its record reference kept unique by the original agency's id
    counts = collections.Counter(f["agency"]["id"] for f in frags)
    agency = counts.most_common(1)[0][0]
    sender = next(f["agency"] for f in frags if f["agency"]["id"] == agency)
    for f in frags:
        if f["agency"]["id"] != agency:
            f["record_ref"] = f"{f['agency']['id']}/{f['record_ref']}"
            f["agency"] = dict(sender)
    store = OUT / "api-batch.sqlite"
    for c in args.connections:
        runs = []
        load0 = load()
        for run in range(args.runs):
            tokens = fresh_store(store, {agency})
            reqs = [
                Req(
                    "POST",
                    "/fragments/batch",
                    tokens[agency],
                    orjson.dumps({"fragments": frags[k * args.size : (k + 1) * args.size]}),
                )
                for k in range(per_run)
            ]
            with serve(store, f"batch-c{c}-{run}") as server:
                if args.warmup:
                    run_wrk(
                        server.base,
                        reqs[: args.warmup + c],
                        count=args.warmup,
                        connections=c,
                        timeout_s=60,
                        max_seconds=args.max_seconds,
                        tag="batch-warmup",
                    )
                r = measure(
                    server,
                    reqs[args.warmup + c :],
                    count=args.batches,
                    connections=c,
                    route="/fragments/batch",
                    timeout_s=60,
                    max_seconds=args.max_seconds,
                    tag="batch",
                )
            stored = stored_fragments(store)
            assert r["status_201"] >= args.batches and stored >= (args.warmup + args.batches) * args.size, (r, stored)
            r["stored_after"] = stored
            r["fragments_per_s"] = round(args.batches * args.size / r["seconds"])
            show(f"batch c={c} run {run}", r)
            print(f"  = {r['fragments_per_s']:,} fragments/s", file=sys.stderr)
            runs.append(r)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        res = pooled(runs)
        rate = statistics.median(r["fragments_per_s"] for r in runs)
        record(
            f"HTTP API: POST /fragments/batch of {args.size}, {c} connection(s), fresh empty store each run",
            {
                "connections": c,
                "batch_size": args.size,
                "batches_per_run": args.batches,
                "warmup_batches_per_run": args.warmup,
                "body_bytes": len(reqs[-1].body),
                "load_average_1min": [load0, load()],
                **res,
                "median_fragments_per_s": round(rate),
                "target_rate": verdict(rate, TARGET_BATCH_RATE, higher_is_better=True),
            },
        )


# --------------------------------------------------------------------------- chronology


def api_store(n: int, recopy: bool) -> Path:
    """A copy of the n-fragment store (reads append to its audit; the original stays as it is)."""
    src = OUT / f"store-{n}.sqlite"
    if not src.exists():
        raise SystemExit(f"{src} is not there: build it with bench/bench_core.py reopen --n {n}")
    if Path(f"{src}-wal").exists() and Path(f"{src}-wal").stat().st_size:
        raise SystemExit(f"{src} has a write-ahead log: open and close it once before copying")
    dst = OUT / f"api-{n // 1_000_000}m.sqlite" if n % 1_000_000 == 0 else OUT / f"api-{n}.sqlite"
    if recopy or not dst.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{dst}{suffix}").unlink(missing_ok=True)
        t = time.perf_counter()
        tmp = dst.with_suffix(".copying")
        shutil.copyfile(src, tmp)
        tmp.rename(dst)
        print(f"copied {src.name} -> {dst.name} in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    return dst


def bench_chronology(args: argparse.Namespace) -> None:
    wrk_binary()
    path = api_store(args.n, args.recopy)
    n_posts = sum(args.warmup + args.posts + 2 * c for c in args.post_connections) * args.runs if args.posts else 0
    # record refs new to the store on every invocation (the copy is kept between them)
    post_frags = fragments(n_posts, args.seed, ref_prefix=f"API{int(time.time())}-") if n_posts else []
    post_agencies = sorted({f["agency"]["id"] for f in post_frags})
    tokens = admin_offline(
        path,
        {reader_id(a): a for a in post_agencies},
        [PLANTED_READER, *(reader_id(a) for a in post_agencies)],
    )
    token = tokens[PLANTED_READER]
    headers = {"Authorization": f"Bearer {token}", "X-Jigsaw-Purpose": PURPOSE}
    t0 = time.perf_counter()
    with serve(path, "chronology") as server:
        opened = time.perf_counter() - t0
        found = httpx.get(f"{server.base}/people", params={"q": "Bench Plantedchild"}, headers=headers, timeout=60)
        found.raise_for_status()
        person = max(found.json()["items"], key=lambda p: p["events"])
        pid = person["person_id"]
        fragments_in_store = stored_fragments(path)
        print(f"person {pid}: {person['events']} events; {fragments_in_store:,} fragments", file=sys.stderr)
        for limit in args.limits:
            url = f"/people/{pid}/chronology?limit={limit}"
            page = httpx.get(server.base + url, headers=headers, timeout=60)
            page.raise_for_status()
            body = page.json()
            lines, total = len(body["items"]), body["total"]
            for c in args.connections:
                reqs = [Req("GET", url, token)] * (max(args.requests, args.warmup) + c)
                runs = []
                load0 = load()
                for run in range(args.runs):
                    if args.warmup:
                        run_wrk(
                            server.base,
                            reqs,
                            count=args.warmup,
                            connections=c,
                            timeout_s=10,
                            max_seconds=args.max_seconds,
                            tag="chronology-warmup",
                        )
                    r = measure(
                        server,
                        reqs,
                        count=args.requests,
                        connections=c,
                        route="/people/{person_id}/chronology",
                        timeout_s=10,
                        max_seconds=args.max_seconds,
                        tag="chronology",
                    )
                    show(f"chronology limit={limit} c={c} run {run}", r)
                    runs.append(r)
                res = pooled(runs)
                record(
                    f"HTTP API: GET /people/{{id}}/chronology, {lines} of {total} lines, {c} connection(s), "
                    f"at {fragments_in_store:,} fragments",
                    {
                        "fragments": fragments_in_store,
                        "reader": PLANTED_READER,
                        "person_events": person["events"],
                        "limit": limit,
                        "lines": lines,
                        "total_lines": total,
                        "response_bytes": len(page.content),
                        "connections": c,
                        "requests_per_run": args.requests,
                        "warmup_per_run": args.warmup,
                        "server_ready_s": round(opened, 1),
                        "load_average_1min": [load0, load()],
                        **res,
                        "target_p99": verdict(res["pooled"]["p99_ms"], TARGET_CHRONOLOGY_P99_MS),
                    },
                )
        if args.posts:
            post_tokens = {a: tokens[reader_id(a)] for a in post_agencies}
            reqs = post_requests(post_frags, post_tokens)
            at = 0
            for c in args.post_connections:
                runs = []
                load0 = load()
                before = stored_fragments(path)
                for run in range(args.runs):  # each run posts new fragments into the same store
                    need = args.warmup + args.posts + 2 * c
                    chunk, at = reqs[at : at + need], at + need
                    r = single_runs(
                        server,
                        chunk,
                        warmup=args.warmup,
                        count=args.posts,
                        connections=c,
                        max_seconds=args.max_seconds,
                        tag=f"single-1m-c{c}",
                    )
                    show(f"POST at 1M c={c} run {run}", r)
                    runs.append(r)
                res = pooled(runs)
                record(
                    f"HTTP API: POST /fragments, one new fragment a request, {c} connection(s), "
                    f"at {before:,} fragments",
                    {
                        "fragments": before,
                        "connections": c,
                        "requests_per_run": args.posts,
                        "warmup_per_run": args.warmup,
                        "load_average_1min": [load0, load()],
                        **res,
                        "target_p99": verdict(res["pooled"]["p99_ms"], TARGET_SINGLE_P99_MS[c])
                        if c in TARGET_SINGLE_P99_MS
                        else None,
                        "target_rate": verdict(res["median_requests_per_s"], TARGET_SINGLE_RATE, higher_is_better=True),
                    },
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=11, help="of the generated fragments that are posted")
    ap.add_argument("--max-seconds", type=int, default=300, help="bound on each wrk run (wrk -d)")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="sample the server with py-spy during each measured run (slows it: for where the time goes, "
        "not for the figures)",
    )
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("single", help="POST /fragments, one fragment a request")
    a.add_argument("--connections", type=int, nargs="+", default=[1, 16])
    a.add_argument("--requests", type=int, default=2000, help="measured requests per run")
    a.add_argument("--warmup", type=int, default=200)
    a.add_argument("--runs", type=int, default=3)
    a.set_defaults(fn=bench_single)
    b = sub.add_parser("batch", help="POST /fragments/batch")
    b.add_argument("--connections", type=int, nargs="+", default=[1])
    b.add_argument("--size", type=int, default=1000)
    b.add_argument("--batches", type=int, default=10, help="measured batches per run")
    b.add_argument("--warmup", type=int, default=1)
    b.add_argument("--runs", type=int, default=3)
    b.set_defaults(fn=bench_batch)
    c = sub.add_parser("chronology", help="GET /people/{id}/chronology at 1M fragments")
    c.add_argument("--n", type=int, default=1_000_000)
    c.add_argument("--connections", type=int, nargs="+", default=[1])
    c.add_argument("--limits", type=int, nargs="+", default=[500], help="page sizes (500: all 200 lines)")
    c.add_argument("--requests", type=int, default=2000)
    c.add_argument("--warmup", type=int, default=100)
    c.add_argument("--runs", type=int, default=3)
    c.add_argument("--posts", type=int, default=0, help="then single POSTs on the same server (0: none)")
    c.add_argument("--post-connections", type=int, nargs="+", default=[1, 16])
    c.add_argument("--recopy", action="store_true", help="copy the store afresh (else reuse bench/out/api-1m.sqlite)")
    c.set_defaults(fn=bench_chronology)
    args = ap.parse_args()
    global PROFILE
    PROFILE = args.profile
    args.fn(args)


if __name__ == "__main__":
    main()
