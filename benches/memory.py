#!/usr/bin/env python3
"""Memory benchmark: the same data loaded into Shoal (one shard) and a real redis-server, and
INFO memory's used_memory and the process's RSS before and after, per data shape, printed as a
markdown table with bytes per key (per element for the single big collections). Before the
baseline is taken, the loading connection carries 8 MB of ECHOs, so buffers that any busy
connection touches count in neither server's per-key figure.

    cargo build --release
    python3 benches/memory.py            # every shape
    python3 benches/memory.py --scale 0.1

Shapes (each into a fresh server pair; counts at scale 1):
  strings-100   1M keys, 100-byte values
  strings       1M keys, 8-byte values
  list          one list of 1M 8-byte elements
  small-lists   100k lists of 10 elements
  hash          one hash of 1M fields
  small-hashes  1M hashes of 10 fields (listpack)
  set           one set of 1M strings
  intset        100k sets of 10 integers (intset)
  zset          one sorted set of 1M members
  small-zsets   100k sorted sets of 10 members (listpack)
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import HOST, free_port  # noqa: E402  (shared with the load benchmark)


def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Client:
    def __init__(self, port):
        self.s = socket.create_connection((HOST, port))
        self.f = self.s.makefile("rb")

    def read(self):
        line = self.f.readline()
        t = line[:1]
        if t in b"+-:":
            return line
        if t == b"$":
            n = int(line[1:])
            return b"" if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            return [self.read() for _ in range(int(line[1:]))]
        raise RuntimeError(line)

    def call(self, *a):
        self.s.sendall(enc(*a))
        return self.read()

    def pipeline(self, cmds):
        batch = []
        for c in cmds:
            batch.append(enc(*c))
            if len(batch) == 1000:
                self.flush(batch)
                batch = []
        self.flush(batch)

    def flush(self, batch):
        if batch:
            self.s.sendall(b"".join(batch))
            for _ in batch:
                r = self.read()
                if isinstance(r, bytes) and r.startswith(b"-"):
                    raise RuntimeError(r)

    def used_memory(self):
        # Shoal publishes each shard's allocation count once per cron tick (100 ms at hz 10).
        time.sleep(0.3)
        info = self.call("INFO", "memory").decode()
        for line in info.splitlines():
            if line.startswith("used_memory:"):
                return int(line.split(":")[1])
        raise RuntimeError("no used_memory")


def shapes(scale):
    """(name, keys or elements loaded, commands) per shape."""
    big = int(1_000_000 * scale)
    small = int(100_000 * scale)
    v = lambda i: b"v%07d" % (i % 10_000_000)
    v100 = lambda i: (b"%010d" % i) * 10
    yield "strings-100", big, (("SET", b"key:%d" % i, v100(i)) for i in range(big))
    yield "strings", big, (("SET", b"key:%d" % i, v(i)) for i in range(big))
    yield "list", big, (("RPUSH", "l", *[v(i) for i in range(b, b + 100)])
                        for b in range(0, big, 100))
    yield "small-lists", small, (("RPUSH", b"l:%d" % k, *[v(i) for i in range(10)])
                                 for k in range(small))
    yield "hash", big, (("HSET", "h", *sum(([b"f%d" % i, v(i)] for i in range(b, b + 100)), []))
                        for b in range(0, big, 100))
    yield "small-hashes", big, (("HSET", b"h:%d" % k,
                                 *sum(([b"f%d" % i, v(i)] for i in range(10)), []))
                                for k in range(big))
    yield "set", big, (("SADD", "s", *[b"m%d" % i for i in range(b, b + 100)])
                       for b in range(0, big, 100))
    yield "intset", small, (("SADD", b"s:%d" % k, *range(10)) for k in range(small))
    yield "zset", big, (("ZADD", "z", *sum(([i, b"m%d" % i] for i in range(b, b + 100)), []))
                        for b in range(0, big, 100))
    yield "small-zsets", small, (("ZADD", b"z:%d" % k,
                                  *sum(([i, b"m%d" % i] for i in range(10)), []))
                                 for k in range(small))


def warm_up(c):
    """Pushes 8 MB of ECHOs through the connection first, so that the memory a server touches
    for a busy connection whatever it stores (query and reply buffers, a shard's 4 MB receive
    ring) is in the baseline and the figures are per key."""
    filler = b"x" * 256
    for _ in range(30):
        c.flush([enc("ECHO", filler)] * 1000)


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def start(kind, port, workdir):
    if kind == "redis":
        argv = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "",
                "--appendonly", "no"]
    else:
        shoal = os.path.join(os.path.dirname(__file__), "..", "target", "release", "shoal")
        argv = [shoal, "--port", str(port), "--bind", HOST, "--shards", "1"]
    p = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            c = Client(port)
            c.call("PING")
            return p, c
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise RuntimeError(f"{kind} did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--shapes", default="", help="comma-separated subset of the shapes")
    args = ap.parse_args()
    wanted = set(filter(None, args.shapes.split(",")))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, n, _ in shapes(args.scale):
            if wanted and name not in wanted:
                continue
            result = {}
            for kind in ("redis", "shoal"):
                cmds = next(c for (x, _, c) in shapes(args.scale) if x == name)
                p, c = start(kind, free_port(), tmp)
                try:
                    warm_up(c)
                    before, rss_before = c.used_memory(), rss(p.pid)
                    c.pipeline(cmds)
                    result[kind] = (c.used_memory() - before, rss(p.pid) - rss_before)
                finally:
                    p.kill()
                    p.wait()
            rows.append((name, n, result["redis"], result["shoal"]))
            print(f"  {name}: redis {result['redis']} shoal {result['shoal']}", flush=True)
    print()
    print("| shape | count | Redis used/key | Shoal used/key | used Shoal÷Redis "
          "| Redis RSS/key | Shoal RSS/key | RSS Shoal÷Redis |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, n, (ru, rr), (su, sr) in rows:
        print(f"| {name} | {n:,} | {ru / n:.1f} | {su / n:.1f} | {su / ru:.2f} "
              f"| {rr / n:.1f} | {sr / n:.1f} | {sr / rr:.2f} |")


if __name__ == "__main__":
    main()
