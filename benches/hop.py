#!/usr/bin/env python3
"""Cross-shard hop benchmark: the same workload with every key on the connections' own shard,
then with every key on the other shard, in one run.

Shoal runs with 2 shards of which only shard 0 accepts connections (`--listen-shards 1`), so
every client connection lives on shard 0. Keys carry a hash tag: one whose slot shard 0 owns
("local"), or one whose slot shard 1 owns ("remote": each command crosses to shard 1 and its
reply comes back). Both shards are pinned to the server core, redis-benchmark to the other, as
in load.py; each cell runs `--repeat` times, local and remote alternating, and the medians are
printed: ops/s, p50/p99 latency, server CPU per op (both shards), the remote÷local ops/s ratio
and the hop's cost in CPU time (remote CPU/op − local CPU/op).

    cargo build --release
    python3 benches/hop.py
    python3 benches/hop.py --pipelines 64 --repeat 5
"""

import argparse
import binascii
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load  # noqa: E402  (the load benchmark's server and redis-benchmark plumbing)

SLOTS = 16384


def slot(tag):
    # Redis Cluster's CRC16 is XMODEM, which binascii.crc_hqx computes with a zero seed.
    return binascii.crc_hqx(tag.encode(), 0) % SLOTS


def tag_on(shard, shards):
    """A hash tag whose slot the given shard owns (shards split the slots evenly, in order)."""
    first, end = shard * SLOTS // shards, (shard + 1) * SLOTS // shards
    return next(t for t in (f"t{i}" for i in range(10_000)) if first <= slot(t) < end)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shoal", default="target/release/shoal")
    p.add_argument("--tests", default="set,get", help="set and/or get (%(default)s)")
    p.add_argument("--pipelines", default="1,16,64", help="comma-separated -P depths (%(default)s)")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--requests", type=int, default=2_000_000, help="-n at -P > 1 (%(default)s)")
    p.add_argument("--requests-p1", type=int, default=200_000, help="-n at -P 1 (%(default)s)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--keyspace", type=int, default=100_000)
    p.add_argument("--server-core", type=int, default=0)
    p.add_argument("--client-core", type=int, default=1)
    args = p.parse_args()
    args.datasize = 3
    binary = os.path.abspath(args.shoal)
    if not os.path.exists(binary):
        sys.exit(f"{args.shoal} not found: run `cargo build --release` first")
    local, remote = tag_on(0, 2), tag_on(1, 2)
    commands = {
        "set": lambda t: ["SET", f"{{{t}}}key:__rand_int__", "xxx"],
        "get": lambda t: ["GET", f"{{{t}}}key:__rand_int__"],
    }
    tests = [t for t in args.tests.split(",") if t]
    pipelines = [int(x) for x in args.pipelines.split(",") if x]
    workdir = tempfile.mkdtemp(prefix="shoal-hop-")
    server = load.Server("shoal", [binary, "--port", "{port}", "--bind", load.HOST,
                                   "--shards", "2", "--listen-shards", "1"],
                         args.server_core, workdir)
    results = {}
    try:
        server.start()
        load.log(f"started {server.cmdline}; local tag {{{local}}} (slot {slot(local)}), "
                 f"remote tag {{{remote}}} (slot {slot(remote)})")
        # Fill both key sets first, so GETs hit.
        for tag in (local, remote):
            load.CUSTOM["set"] = commands["set"](tag)
            load.run_one(server, args, "set", 64, args.keyspace * 20)
        for test in tests:
            for depth in pipelines:
                for rep in range(args.repeat):
                    order = [("local", local), ("remote", remote)]
                    for where, tag in order if rep % 2 == 0 else order[::-1]:
                        load.CUSTOM[test] = commands[test](tag)
                        n = args.requests_p1 if depth == 1 else args.requests
                        r = load.run_one(server, args, test, depth, n)
                        results.setdefault((test, depth, where), []).append(r)
                        load.log(f"  {test} P{depth} {where} #{rep + 1}: {r['rps']:,.0f} ops/s "
                                 f"cpu {r['cpu_us']:.2f} us/op")
    finally:
        server.stop()
    print(f"Machine: {load.machine()}")
    print(f"Shoal: {server.cmdline} (taskset -c {args.server_core}); redis-benchmark on core "
          f"{args.client_core}, -c {args.clients} -n {args.requests} (-P 1: {args.requests_p1}) "
          f"-r {args.keyspace}, "
          f"medians of {args.repeat}")
    print()
    print("| test | pipeline | local ops/s | remote ops/s | remote÷local | local p50/p99 ms "
          "| remote p50/p99 ms | local CPU µs/op | remote CPU µs/op | hop CPU ns/op |")
    print("|---|---|---:|---:|---:|---|---|---:|---:|---:|")
    for test in tests:
        for depth in pipelines:
            med = {w: {k: statistics.median(r[k] for r in results[(test, depth, w)])
                       for k in ("rps", "p50", "p99", "cpu_us")}
                   for w in ("local", "remote")}
            lo, re = med["local"], med["remote"]
            print(f"| {test.upper()} | {depth} | {lo['rps']:,.0f} | {re['rps']:,.0f} "
                  f"| {re['rps'] / lo['rps']:.2f} | {lo['p50']:.3f}/{lo['p99']:.3f} "
                  f"| {re['p50']:.3f}/{re['p99']:.3f} | {lo['cpu_us']:.2f} | {re['cpu_us']:.2f} "
                  f"| {(re['cpu_us'] - lo['cpu_us']) * 1000:.0f} |")


if __name__ == "__main__":
    main()
