#!/usr/bin/env python3
"""Load benchmark: Shoal and a real redis-server side by side, in one run.

Both servers run at the same time on the same core (`taskset -c 0`); redis-benchmark runs on
another core (`taskset -c 1`). Shoal is started as

    <shoal> --port P --bind 127.0.0.1 --shards N [--shoal-args ...]    (N: --shards, 1)

and Redis as

    redis-server --port P --bind 127.0.0.1 --save '' --appendonly no

each on a free port, with a scratch directory as its working directory. Before any load, each
server is filled with every key redis-benchmark's `-r KEYSPACE` can name (`key:000000000000` ..,
values of `--datasize` bytes), untimed, so GETs hit and SETs overwrite. Then, for every test and
pipeline depth (a "cell"), the two servers are loaded alternately (order flipped each round),
`--repeat` times, with

    taskset -c 1 redis-benchmark -h 127.0.0.1 -p P -c 50 -n N -P DEPTH -t TEST \\
        -r 100000 -d 3 --csv -q

and the medians are printed as a markdown table: ops/s, p50 and p99 latency (ms, as
redis-benchmark reports them: from starting to write a request, or a pipelined batch, to the
first bytes of its reply; every request of a batch gets the batch's figure), and server CPU
microseconds per operation: the change in the server process's utime+stime (/proc/PID/stat,
summed over all its threads by the kernel, in clock ticks) across the run, divided by -n. A tick
is usually 10 ms, so keep runs long enough (the defaults give a few seconds) for that to be small.
Tests such as lrange_100 make redis-benchmark run an LPUSH pass of its own first; their CPU/op
includes it. `zrange` (ZRANGE myzset 0 9), `hget` (HGET myhash element:N) and `publish`
(PUBLISH chan hello, delivered to --subscribers connections that a drain process pinned to the
client core holds subscribed and reads; its CPU/op includes the deliveries) and `eval` (EVAL of
`return redis.call('incr', KEYS[1])` over counter:N) are not -t names:
redis-benchmark sends them as given, and they read what the zadd and hset tests of the same run
wrote, so list those first.

The machine, tool versions and the exact commands are printed above the table; progress goes to
stderr. Servers are stopped on exit, on errors and on Ctrl-C (and die with this script if it is
killed outright).

Usage:
    cargo build --release
    python3 benches/load.py                                   # GET, SET at -P 1, 16, 64
    python3 benches/load.py --tests get,set,incr --pipelines 1,16 --repeat 5
    python3 benches/load.py --requests 50000                  # short run, every depth
    python3 benches/load.py --tests lpush,lpop,sadd,hset,zadd,zrange  # the data types
    python3 benches/load.py --only redis                      # just the baseline

Numbers are only meaningful on an otherwise idle machine with at least two cores.
"""

import argparse
import ctypes
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"
CSV_HEADER = ["test", "rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms",
              "p95_latency_ms", "p99_latency_ms", "max_latency_ms"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def _die_with_parent():
    """preexec_fn: have the kernel SIGKILL the child if this script dies without cleaning up."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    """utime + stime of the whole process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # Fields 14 (utime) and 15 (stime) of the line; `rest` starts at field 3.
    return int(rest[11]) + int(rest[12])


class Resp:
    """A minimal RESP client: enough to fill the keyspace and ask DBSIZE."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=30)
        self.buf = b""

    def close(self):
        self.sock.close()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise RuntimeError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def call(self, *args):
        self.sock.sendall(self.encode(*args))
        return self.line()


def wait_ready(server, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with status {server.proc.returncode}:\n"
                               f"  {server.cmdline}\n{server.log_tail()}")
        try:
            c = Resp(server.port)
            try:
                if c.call("PING") == b"+PONG":
                    return
            finally:
                c.close()
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} did not answer PING on port {server.port} "
                       f"within {timeout:.0f}s:\n  {server.cmdline}\n{server.log_tail()}")


class Server:
    def __init__(self, name, argv, core, workdir):
        self.name = name
        self.port = free_port()
        self.argv = ["taskset", "-c", str(core)] + argv
        self.cmdline = shlex.join(self.argv)
        self.logpath = os.path.join(workdir, f"{name}.log")
        self.workdir = os.path.join(workdir, name)
        os.makedirs(self.workdir, exist_ok=True)
        self.proc = None

    def start(self):
        argv = [a.replace("{port}", str(self.port)) for a in self.argv]
        self.cmdline = shlex.join(argv)
        with open(self.logpath, "wb") as logf:
            # taskset execs the server, so proc.pid is the server's pid.
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, cwd=self.workdir,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        wait_ready(self)

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} died (status {self.proc.returncode}):\n"
                               f"{self.log_tail()}")

    def log_tail(self, n=20):
        try:
            with open(self.logpath, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def populate(server, keyspace, datasize, batch=1000):
    """SET key:%012d for every key that redis-benchmark -r KEYSPACE can draw (untimed)."""
    t0 = time.time()
    value = b"x" * datasize
    c = Resp(server.port)
    try:
        for start in range(0, keyspace, batch):
            end = min(start + batch, keyspace)
            c.sock.sendall(b"".join(Resp.encode(b"SET", b"key:%012d" % i, value)
                                    for i in range(start, end)))
            for _ in range(start, end):
                reply = c.line()
                if not reply.startswith(b"+"):
                    raise RuntimeError(f"{server.name}: SET failed while populating: {reply!r}")
        size = c.call("DBSIZE")
    finally:
        c.close()
    size = size[1:].decode() if size.startswith(b":") else "?"
    log(f"  populated {server.name}: {keyspace} keys in {time.time() - t0:.1f}s (DBSIZE {size})")


# Tests that are not redis-benchmark -t names: the command it sends (reading what the -t
# tests of the same run wrote: zrange reads the "myzset" that the zadd test fills).
CUSTOM = {
    "zrange": ["ZRANGE", "myzset", "0", "9"],
    "hget": ["HGET", "myhash", "element:__rand_int__"],
    "publish": ["PUBLISH", "chan", "hello"],
    "eval": ["EVAL", "return redis.call('incr', KEYS[1])", "1", "counter:__rand_int__"],
}

# While a `publish` cell runs, a drain process pinned to the client core holds --subscribers
# connections SUBSCRIBEd to "chan" and reads everything they receive.
DRAIN = r"""
import selectors, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
sel = selectors.DefaultSelector()
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nchan\r\n")
    socks.append(s)
for s in socks:
    buf = b""
    while not buf.endswith(b":1\r\n"):
        buf += s.recv(100)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        try:
            if not key.fileobj.recv(1 << 20):
                sel.unregister(key.fileobj)
        except BlockingIOError:
            pass
"""


def start_drain(args, port):
    d = subprocess.Popen(["taskset", "-c", str(args.client_core), sys.executable, "-c", DRAIN,
                          str(port), str(args.subscribers)],
                         stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                         preexec_fn=_die_with_parent)
    if d.stdout.readline().strip() != "ready":
        d.kill()
        raise RuntimeError("the subscriber drain did not start")
    return d


def bench_cmd(args, port, test, pipeline, requests):
    what = CUSTOM.get(test, ["-t", test])
    return ["taskset", "-c", str(args.client_core), "redis-benchmark",
            "-h", HOST, "-p", str(port), "-c", str(args.clients), "-n", str(requests),
            "-P", str(pipeline), "-r", str(args.keyspace), "-d", str(args.datasize),
            "--csv", "-q"] + what


def parse_csv(out, test):
    """Pick the row for `test` out of redis-benchmark --csv output.

    The header is CSV_HEADER; a row's test name is the upper-cased -t name, sometimes followed
    by a note ("LRANGE_100 (first 100 elements)", "LPUSH (needed to benchmark LRANGE)").
    """
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith('"'):
            continue
        rows.append([f.strip('"') for f in line.split('","')])
    if not rows or rows[0] != CSV_HEADER:
        raise RuntimeError(f"unexpected redis-benchmark output:\n{out}")
    want = test.upper()
    for r in rows[1:]:
        name = r[0].split(" ", 1)[0]
        if name == want:
            rec = dict(zip(CSV_HEADER, r))
            return {"rps": float(rec["rps"]), "p50": float(rec["p50_latency_ms"]),
                    "p99": float(rec["p99_latency_ms"])}
    raise RuntimeError(f"no {want} row in redis-benchmark output:\n{out}")


def run_one(server, args, test, pipeline, requests):
    cmd = bench_cmd(args, server.port, test, pipeline, requests)
    server.check_alive()
    drain = start_drain(args, server.port) if test == "publish" else None
    try:
        before = cpu_ticks(server.proc.pid)
        t0 = time.time()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           preexec_fn=_die_with_parent)
        wall = time.time() - t0
        after = cpu_ticks(server.proc.pid)
    finally:
        if drain:
            drain.kill()
            drain.wait()
    server.check_alive()
    if p.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed ({p.returncode}) against {server.name}:\n"
                           f"  {shlex.join(cmd)}\n{p.stdout}{p.stderr}")
    r = parse_csv(p.stdout, test)
    r["cpu_us"] = (after - before) / TICK * 1e6 / requests
    r["wall"] = wall
    return r


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"nproc {nproc}; CPU: {model}; kernel: {platform.system()} {platform.release()}"


def version(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except Exception:
        return "?"


def csv_list(s):
    return [x.strip() for x in s.split(",") if x.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shoal", default="target/release/shoal", help="Shoal binary (%(default)s)")
    p.add_argument("--shoal-args", default="", help="extra arguments for Shoal, one string: --shoal-args=\"--hz 10\"")
    p.add_argument("--shoal-cmd", default=None, help=argparse.SUPPRESS)  # replaces Shoal
    p.add_argument("--tests", default="get,set", help="redis-benchmark -t names (%(default)s)")
    p.add_argument("--pipelines", default="1,16,64", help="pipeline depths (%(default)s)")
    p.add_argument("--clients", type=int, default=50, help="-c (%(default)s)")
    p.add_argument("--requests", type=int, default=None,
                   help="-n for every depth (overrides the two below)")
    p.add_argument("--requests-p1", type=int, default=200_000, help="-n at -P 1 (%(default)s)")
    p.add_argument("--requests-pipelined", type=int, default=2_000_000,
                   help="-n at -P > 1 (%(default)s)")
    p.add_argument("--repeat", type=int, default=3, help="runs per server per cell (%(default)s)")
    p.add_argument("--datasize", type=int, default=3, help="-d value bytes (%(default)s)")
    p.add_argument("--keyspace", type=int, default=100_000, help="-r (%(default)s)")
    p.add_argument("--server-core", type=int, default=0, help="core for servers (%(default)s)")
    p.add_argument("--client-core", type=int, default=1,
                   help="core for redis-benchmark (%(default)s)")
    p.add_argument("--only", choices=["redis", "shoal"], help="run just one server")
    p.add_argument("--shards", type=int, default=1,
                   help="Shoal's shards, all on the server core (%(default)s)")
    p.add_argument("--subscribers", type=int, default=100,
                   help="connections subscribed to the channel `publish` publishes to (%(default)s)")
    args = p.parse_args()

    tests = csv_list(args.tests)
    pipelines = [int(x) for x in csv_list(args.pipelines)]
    if not tests or not pipelines or args.repeat < 1:
        p.error("need at least one test, one pipeline depth and --repeat >= 1")

    def requests_for(depth):
        if args.requests:
            return args.requests
        return args.requests_p1 if depth == 1 else args.requests_pipelined

    # SIGTERM/SIGHUP unwind like Ctrl-C, so the servers get stopped.
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    workdir = tempfile.mkdtemp(prefix="shoal-load-")
    names = ["redis", "shoal"] if args.only is None else [args.only]
    servers = []
    if "redis" in names:
        servers.append(Server("redis", ["redis-server", "--port", "{port}", "--bind", HOST,
                                        "--save", "", "--appendonly", "no"],
                              args.server_core, workdir))
    if "shoal" in names:
        if args.shoal_cmd:
            argv = shlex.split(args.shoal_cmd)
            shoal_label = f"shoal (replaced by: {args.shoal_cmd})"
        else:
            binary = args.shoal
            if not os.path.exists(binary):
                root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
                if os.path.exists(os.path.join(root, binary)):
                    binary = os.path.join(root, binary)
                else:
                    sys.exit(f"{args.shoal} not found: run `cargo build --release` first "
                             f"(or pass --shoal PATH)")
            argv = [os.path.abspath(binary)]
            shoal_label = f"shoal ({argv[0]})"
        argv += ["--port", "{port}", "--bind", HOST]
        if not args.shoal_cmd:
            argv += ["--shards", str(args.shards)]
        argv += shlex.split(args.shoal_args)
        servers.append(Server("shoal", argv, args.server_core, workdir))

    results = {}
    exit_code = 0
    try:
        for s in servers:
            s.start()
            log(f"started {s.name}: {s.cmdline}")
            populate(s, args.keyspace, args.datasize)
        for test in tests:
            for depth in pipelines:
                n = requests_for(depth)
                for rep in range(args.repeat):
                    order = servers if rep % 2 == 0 else servers[::-1]
                    for s in order:
                        r = run_one(s, args, test, depth, n)
                        results.setdefault((test, depth, s.name), []).append(r)
                        log(f"  {test} P{depth} {s.name} #{rep + 1}: {r['rps']:,.0f} ops/s "
                            f"p50 {r['p50']:.3f} p99 {r['p99']:.3f} ms "
                            f"cpu {r['cpu_us']:.2f} us/op ({r['wall']:.1f}s)")
    except KeyboardInterrupt:
        log("interrupted")
        exit_code = 130
    except Exception as e:  # print what we have, then fail
        log(f"error: {e}")
        exit_code = 1
    finally:
        for s in servers:
            s.stop()

    if results:
        print_report(args, servers, tests, pipelines, requests_for, results,
                     shoal_label if "shoal" in names else None)
    if exit_code == 1:
        log(f"server logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if exit_code:
        sys.exit(exit_code)


def print_report(args, servers, tests, pipelines, requests_for, results, shoal_label):
    print(f"Machine: {machine()}")
    print(f"Tools: {version(['redis-server', '--version'])}; "
          f"{version(['redis-benchmark', '--version'])}")
    if shoal_label:
        print(f"Shoal: {shoal_label}")
    print(f"Each cell: median of {args.repeat} runs per server, servers alternating; "
          f"server CPU from /proc/PID/stat (tick {1e6 / TICK:.0f} µs).")
    print("\nServers:\n")
    for s in servers:
        print(f"    {s.cmdline}")
    print("\nLoad (port is the server's):\n")
    for test in tests:
        for depth in pipelines:
            for s in servers:
                if (test, depth, s.name) in results:
                    print(f"    {shlex.join(bench_cmd(args, s.port, test, depth, requests_for(depth)))}")
    print()

    names = [s.name for s in servers]
    label = {"redis": "Redis", "shoal": "Shoal"}
    both = names == ["redis", "shoal"]
    head = ["test", "pipeline", "clients"]
    for n in names:
        head += [f"{label[n]} ops/s", f"{label[n]} p50 ms", f"{label[n]} p99 ms",
                 f"{label[n]} CPU µs/op"]
    if both:
        head += ["ops/s Shoal÷Redis", "CPU/op Shoal÷Redis"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|")
    for test in tests:
        for depth in pipelines:
            med = {}
            for n in names:
                runs = results.get((test, depth, n))
                if runs:
                    med[n] = {k: statistics.median(r[k] for r in runs)
                              for k in ("rps", "p50", "p99", "cpu_us")}
            if not med:
                continue
            row = [test.upper(), str(depth), str(args.clients)]
            for n in names:
                m = med.get(n)
                row += ([f"{m['rps']:,.0f}", f"{m['p50']:.3f}", f"{m['p99']:.3f}",
                         f"{m['cpu_us']:.2f}"] if m else ["–"] * 4)
            if both:
                r, s = med.get("redis"), med.get("shoal")
                row.append(f"{s['rps'] / r['rps']:.2f}" if r and s and r["rps"] else "–")
                row.append(f"{s['cpu_us'] / r['cpu_us']:.2f}" if r and s and r["cpu_us"] else "–")
            print("| " + " | ".join(row) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
