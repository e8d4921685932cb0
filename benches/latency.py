#!/usr/bin/env python3
"""Latency while the keyspace grows: a PING stream's worst case while N keys are inserted.

Each server in turn (Shoal with one shard, then redis-server) runs alone on core 0. A loader
on core 1 streams `SET key:<i> <8 bytes>` for i in 0..N through `redis-cli --pipe` (at nice
19), while a prober on core 1 (at nice -20, so the loader cannot delay it) sends one PING at a
time and records each round trip. The table gives the PING count, p50, p99, p99.9 and max
latency in milliseconds, the load's duration and its rate, Shoal beside Redis:

    cargo build --release
    python3 benches/latency.py                  # 10M keys
    python3 benches/latency.py --keys 1000000

A table that grows by doubling in one step stalls every command queued behind the copy; the
maximum PING latency shows that stall. Shoal keeps one table per hash slot (16384 per
database), so no single table ever holds more than a small share of the keys.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import HOST, free_port  # noqa: E402  (shared with the load benchmark)


def start(kind, port, workdir, core):
    if kind == "redis":
        argv = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "",
                "--appendonly", "no"]
    else:
        shoal = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target",
                             "release", "shoal")
        argv = [shoal, "--port", str(port), "--bind", HOST, "--shards", "1"]
    p = subprocess.Popen(["taskset", "-c", str(core)] + argv, cwd=workdir,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection((HOST, port)) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise RuntimeError(f"{kind} did not start")


def commands(n):
    """The SET commands as RESP, in chunks."""
    chunk = []
    for i in range(n):
        k = b"key:%d" % i
        chunk.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$8\r\n%08d\r\n" % (len(k), k, i % 10**8))
        if len(chunk) == 10000:
            yield b"".join(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk)


def load(port, path, core):
    """Streams the SETs in `path` through redis-cli --pipe; returns seconds taken. (The
    commands are written to a file first, so this process stays idle and the prober thread
    never waits for the interpreter.)"""
    t0 = time.monotonic()
    with open(path, "rb") as f:
        cli = subprocess.run(["taskset", "-c", str(core), "nice", "-n", "19", "redis-cli",
                              "-h", HOST, "-p", str(port), "--pipe"],
                             stdin=f, stdout=subprocess.DEVNULL)
    if cli.returncode != 0:
        raise RuntimeError("redis-cli --pipe failed")
    return time.monotonic() - t0


def probe(port, stop, out):
    s = socket.create_connection((HOST, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while not stop.is_set():
        t0 = time.perf_counter()
        s.sendall(b"PING\r\n")
        buf = b""
        while not buf.endswith(b"\r\n"):
            buf += s.recv(64)
        out.append(time.perf_counter() - t0)
    s.close()


def pct(v, q):
    return v[min(len(v) - 1, int(q * len(v)))]


def run(kind, n, path, tmp, server_core, client_core):
    port = free_port()
    p = start(kind, port, tmp, server_core)
    try:
        os.sched_setaffinity(0, {client_core})
        try:
            os.setpriority(os.PRIO_PROCESS, 0, -20)
        except PermissionError:
            print("note: could not raise the prober's priority", file=sys.stderr)
        lat, stop = [], threading.Event()
        t = threading.Thread(target=probe, args=(port, stop, lat))
        t.start()
        secs = load(port, path, client_core)
        stop.set()
        t.join()
        with socket.create_connection((HOST, port)) as s:
            s.sendall(b"DBSIZE\r\n")
            size = int(s.recv(64)[1:].strip())
        if size != n:
            raise RuntimeError(f"{kind}: DBSIZE {size}, expected {n}")
        lat.sort()
        ms = [x * 1000 for x in lat]
        return len(ms), pct(ms, .5), pct(ms, .99), pct(ms, .999), ms[-1], secs, n / secs
    finally:
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=10_000_000)
    ap.add_argument("--server-core", type=int, default=0)
    ap.add_argument("--client-core", type=int, default=1)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores; {args.keys:,} keys; servers on core "
          f"{args.server_core}, loader and prober on core {args.client_core}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sets.resp")
        with open(path, "wb") as f:
            for c in commands(args.keys):
                f.write(c)
        for kind in ("shoal", "redis"):
            r = run(kind, args.keys, path, tmp, args.server_core, args.client_core)
            print(f"  {kind}: {r}", file=sys.stderr, flush=True)
            rows.append((kind, r))
    print()
    print("| server | PINGs | p50 ms | p99 ms | p99.9 ms | max ms | load s | SET/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind, (cnt, p50, p99, p999, mx, secs, rate) in rows:
        print(f"| {kind} | {cnt:,} | {p50:.3f} | {p99:.3f} | {p999:.3f} | {mx:.3f} "
              f"| {secs:.1f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
