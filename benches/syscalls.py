#!/usr/bin/env python3
"""Where a server's time goes per operation: system calls, user and kernel CPU, Shoal beside
Redis in one run.

Both servers run on core 0 (Shoal with one shard), redis-benchmark on core 1, as in load.py, and
every key of `-r 100000` is loaded first (3-byte values). For each test and pipeline depth, each
server serves

    taskset -c 1 redis-benchmark -c 50 -n N -P DEPTH -t TEST -r 100000 -d 3

while `perf stat -e raw_syscalls:sys_enter -p PID` counts the system calls the server makes
(io_uring_enter for Shoal; epoll_wait, read and write for Redis). The table gives ops/s, system
calls per operation, and the server's user and system CPU microseconds per operation (utime and
stime from /proc/PID/stat). Needs perf and permission to trace (root, or a low
perf_event_paranoid).

    cargo build --release
    python3 benches/syscalls.py
    python3 benches/syscalls.py --tests get,set --pipelines 1,16
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import HOST, TICK, Server, bench_cmd, parse_csv, populate  # noqa: E402


def cpu_split(pid):
    """(utime, stime) of the whole process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]), int(rest[12])


def measure(server, args, test, pipeline):
    cmd = bench_cmd(args, server.port, test, pipeline, args.requests[pipeline])
    perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter",
                             "-p", str(server.proc.pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)  # perf attaches
    u0, s0 = cpu_split(server.proc.pid)
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    u1, s1 = cpu_split(server.proc.pid)
    perf.send_signal(signal.SIGINT)
    _, err = perf.communicate()
    calls = next(int(line.split(",")[0]) for line in err.splitlines()
                 if "raw_syscalls:sys_enter" in line)
    n = args.requests[pipeline]
    r = parse_csv(p.stdout, test)
    return (r["rps"], calls / n, (u1 - u0) / TICK * 1e6 / n, (s1 - s0) / TICK * 1e6 / n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", default="get,set")
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--shoal", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "..", "target", "release", "shoal"))
    a = ap.parse_args()
    if shutil.which("perf") is None:
        sys.exit("perf not found")
    pipelines = [int(x) for x in a.pipelines.split(",")]
    args = types.SimpleNamespace(client_core=1, clients=50, keyspace=100_000, datasize=3,
                                 requests={p: 300_000 if p == 1 else 2_000_000
                                           for p in pipelines})
    work = tempfile.mkdtemp(prefix="shoal-syscalls-")
    servers = [
        Server("redis", ["redis-server", "--port", "{port}", "--bind", HOST, "--save", "",
                         "--appendonly", "no"], 0, work),
        Server("shoal", [os.path.abspath(a.shoal), "--port", "{port}", "--bind", HOST,
                         "--shards", "1"], 0, work),
    ]
    rows = []
    try:
        for s in servers:
            s.start()
            populate(s, args.keyspace, args.datasize)
        for test in a.tests.split(","):
            for p in pipelines:
                for s in servers:
                    r = measure(s, args, test, p)
                    print(f"  {test} P{p} {s.name}: {r}", file=sys.stderr, flush=True)
                    rows.append((test.upper(), p, s.name, r))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("| test | pipeline | server | ops/s | syscalls/op | user µs/op | sys µs/op | CPU µs/op |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for test, p, name, (rps, calls, user, sys_) in rows:
        print(f"| {test} | {p} | {name} | {rps:,.0f} | {calls:.3f} | {user:.2f} | {sys_:.2f} "
              f"| {user + sys_:.2f} |")


if __name__ == "__main__":
    main()
