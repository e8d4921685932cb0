//! Criterion micro-benchmarks of the request hot path, stage by stage: RESP decode of a
//! pipelined read buffer, command lookup and key routing, keyspace get/set, reply encoding, and
//! one command end to end (parse + lookup + route + handler + reply) as the runtime dispatches it.
//!
//! Run with `cargo bench --bench hot_path` (append `-- <filter>` to run one group, e.g.
//! `-- keyspace`). Everything is set up outside the timed closures; the keyspace holds 100k keys
//! `key:%012d` with 3-byte values, as `benches/load.py` loads the servers.

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shoal_commands::registry::{table, CommandTable, Handler, Lookup};
use shoal_commands::{Counters, Ctx, KeyHint, Notes, ShardSettings};
use shoal_data::{key_slot, Keyspace, Value};
use shoal_protocol::{Args, ParseLimits, Parsed, Protocol, Reply, RequestParser};
use std::time::Duration;

/// Keys loaded into the keyspace benchmarks.
const KEYS: usize = 100_000;
/// Random keys a lookup benchmark cycles through (a power of two): enough that the tables are
/// not all in cache, as under redis-benchmark's `-r 100000`.
const SAMPLE: usize = 1 << 16;
/// A fixed clock (unix ms); no key expires.
const NOW: i64 = 1_700_000_000_000;
/// Value stored by the keyspace benchmarks and the SET requests (redis-benchmark's default size).
const VAL3: &[u8] = b"xxx";

fn key(i: usize) -> Vec<u8> {
    format!("key:{i:012}").into_bytes()
}

/// A RESP multibulk request.
fn resp(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// `n` pipelined requests built by `f(i)`.
fn pipeline(n: usize, f: impl Fn(usize) -> Vec<Vec<u8>>) -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..n {
        let args = f(i);
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        resp(&mut buf, &refs);
    }
    buf
}

/// Parses every request in `buf` as the connection loop does; returns a checksum of the
/// arguments so that nothing is optimized away.
#[inline]
fn parse_all(parser: &mut RequestParser, buf: &[u8], limits: &ParseLimits) -> usize {
    let mut pos = 0;
    let mut sum = 0;
    while pos < buf.len() {
        match parser.parse(&buf[pos..], limits) {
            Ok(Parsed::Request { consumed }) => {
                let args = parser.args(&buf[pos..]);
                sum += args.len() + args.get(args.len() - 1).len();
                pos += consumed;
            }
            _ => unreachable!("benchmark buffers hold whole requests"),
        }
    }
    sum
}

/// A keyspace laid out as a single-shard server's: 16 databases owning all 16384 slots, with
/// `KEYS` keys in database 0.
fn filled_keyspace() -> Keyspace {
    let mut ks = Keyspace::new(16, 0, 16384);
    let db = ks.db(0);
    for i in 0..KEYS {
        let k = key(i);
        db.insert_in(key_slot(&k), &k, Value::string(VAL3), 0, NOW);
    }
    ks
}

/// `SAMPLE` random (key, slot) pairs built by `name(i)` for i drawn from 0..KEYS.
fn sample_keys(seed: u64, name: impl Fn(usize) -> Vec<u8>) -> Vec<(Vec<u8>, u16)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..SAMPLE)
        .map(|_| {
            let k = name(rng.gen_range(0..KEYS));
            let s = key_slot(&k);
            (k, s)
        })
        .collect()
}

fn resp_decode(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("resp_decode");
    let limits = ParseLimits::default();
    let kv = |i: usize| key(12345 + i);
    let val1k = vec![b'v'; 1024];
    let cases: Vec<(String, usize, Vec<u8>)> = vec![
        (
            "get".into(),
            16,
            pipeline(16, |i| vec![b"GET".to_vec(), kv(i)]),
        ),
        (
            "get".into(),
            64,
            pipeline(64, |i| vec![b"GET".to_vec(), kv(i)]),
        ),
        (
            "set_3B".into(),
            16,
            pipeline(16, |i| vec![b"SET".to_vec(), kv(i), VAL3.to_vec()]),
        ),
        (
            "set_1KB".into(),
            16,
            pipeline(16, |i| vec![b"SET".to_vec(), kv(i), val1k.clone()]),
        ),
        ("inline_get".into(), 1, b"GET key:000000012345\r\n".to_vec()),
    ];
    let mut parser = RequestParser::new();
    for (name, n, buf) in &cases {
        g.throughput(Throughput::Elements(*n as u64));
        g.bench_with_input(BenchmarkId::new(name.as_str(), n), buf, |b, buf| {
            b.iter(|| parse_all(&mut parser, black_box(buf), &limits))
        });
    }
    g.finish();
}

/// The argument ranges of the one request in `buf`, as the parser records them.
fn ranges_of(buf: &[u8]) -> Vec<(u32, u32)> {
    let mut parser = RequestParser::new();
    let parsed = parser.parse(buf, &ParseLimits::default());
    assert_eq!(
        parsed,
        Ok(Parsed::Request {
            consumed: buf.len()
        })
    );
    parser.args(buf).ranges().to_vec()
}

fn lookup_route(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("lookup_route");
    g.throughput(Throughput::Elements(1));
    let commands = table();
    for name in ["get", "GET", "set", "SET", "hset", "HSET", "zadd", "ZAdd"] {
        // The request's arguments, as the parser hands them to dispatch.
        let mut buf = Vec::new();
        resp(
            &mut buf,
            &[name.as_bytes(), b"key:000000012345", b"f", b"v"],
        );
        let ranges = ranges_of(&buf);
        let args = Args::new(&buf, &ranges);
        assert!(matches!(commands.lookup(&args), Lookup::Found(_)));
        g.bench_function(BenchmarkId::new("lookup", name), |b| {
            b.iter(|| match commands.lookup(black_box(&args)) {
                Lookup::Found(cmd) => cmd.id,
                _ => usize::MAX,
            })
        });
    }
    for (name, k) in [
        ("short", &b"foo"[..]),
        ("key16", b"key:000000012345"),
        ("tagged", b"{user1000}.following"),
        ("tagged_mid", b"user:{000000012345}:profile"),
    ] {
        g.bench_with_input(BenchmarkId::new("key_slot", name), k, |b, k| {
            b.iter(|| key_slot(black_box(k)))
        });
    }
    // What dispatch does before running a single-key command: look it up, check its arity,
    // find its key positions and hash the key.
    let mut buf = Vec::new();
    resp(&mut buf, &[b"GET", b"key:000000012345"]);
    let ranges = ranges_of(&buf);
    let args = Args::new(&buf, &ranges);
    assert_eq!(args.get(1), b"key:000000012345");
    g.bench_function("lookup+route/GET", |b| {
        b.iter(|| {
            let args = black_box(args);
            let Lookup::Found(cmd) = commands.lookup(&args) else {
                unreachable!()
            };
            assert!(cmd.arity_ok(args.len()));
            let (first, _, _) = cmd.key_range(args.len());
            key_slot(args.get(first))
        })
    });
    g.finish();
}

fn keyspace(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("keyspace");
    g.throughput(Throughput::Elements(1));
    let mut ks = filled_keyspace();
    let hits = sample_keys(1, key);
    let misses = sample_keys(2, |i| format!("nokey:{i:012}").into_bytes());
    let db = ks.db(0);
    let mask = SAMPLE - 1;

    let mut i = 0;
    g.bench_function("get_hit", |b| {
        b.iter(|| {
            let (k, s) = &hits[i & mask];
            i += 1;
            match db.get_mut_in(*s, black_box(k), NOW) {
                Some(e) => e.str_len(),
                None => unreachable!(),
            }
        })
    });
    let mut i = 0;
    g.bench_function("get_miss", |b| {
        b.iter(|| {
            let (k, s) = &misses[i & mask];
            i += 1;
            db.get_mut_in(*s, black_box(k), NOW).is_none()
        })
    });
    let mut i = 0;
    g.bench_function("set_overwrite", |b| {
        b.iter(|| {
            let (k, s) = &hits[i & mask];
            i += 1;
            db.insert_in(*s, black_box(k), Value::string(black_box(VAL3)), 0, NOW)
        })
    });
    // Inserts of new keys, in rounds of CHUNK; between rounds (untimed) they are removed again,
    // so the database stays at 100k-110k keys.
    const CHUNK: usize = 10_000;
    let fresh: Vec<(Vec<u8>, u16)> = (0..CHUNK)
        .map(|i| {
            let k = format!("new:{i:012}").into_bytes();
            let s = key_slot(&k);
            (k, s)
        })
        .collect();
    g.bench_function("set_insert", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let n = left.min(CHUNK);
                let t = ThreadCpuTime.start();
                for (k, s) in &fresh[..n] {
                    db.insert_in(*s, black_box(k), Value::string(black_box(VAL3)), 0, NOW);
                }
                total += ThreadCpuTime.end(t);
                for (k, _) in &fresh[..n] {
                    db.remove(k, NOW);
                }
                left -= n;
            }
            total
        })
    });
    assert_eq!(db.len(), KEYS);
    g.finish();
}

fn reply_encode(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("reply_encode");
    g.throughput(Throughput::Elements(1));
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    let val1k = vec![b'v'; 1024];
    let bulks: Vec<Vec<u8>> = (0..10)
        .map(|i| format!("member:{i}").into_bytes())
        .collect();

    g.bench_function("bulk_3B", |b| {
        b.iter(|| {
            out.clear();
            Reply::new(&mut out, Protocol::Resp2).bulk(black_box(VAL3));
            out.len()
        })
    });
    g.bench_function("bulk_1KB", |b| {
        b.iter(|| {
            out.clear();
            Reply::new(&mut out, Protocol::Resp2).bulk(black_box(&val1k));
            out.len()
        })
    });
    g.bench_function("int", |b| {
        b.iter(|| {
            out.clear();
            Reply::new(&mut out, Protocol::Resp2).int(black_box(1_234_567));
            out.len()
        })
    });
    g.bench_function("ok", |b| {
        b.iter(|| {
            out.clear();
            Reply::new(&mut out, Protocol::Resp2).ok();
            out.len()
        })
    });
    g.bench_function("null", |b| {
        b.iter(|| {
            out.clear();
            Reply::new(&mut out, Protocol::Resp2).null();
            out.len()
        })
    });
    g.bench_function("array_10_bulks", |b| {
        b.iter(|| {
            out.clear();
            let mut r = Reply::new(&mut out, Protocol::Resp2);
            r.array(bulks.len());
            for m in black_box(&bulks) {
                r.bulk(m);
            }
            out.len()
        })
    });
    g.finish();
}

/// The per-shard state a `Ctx` borrows (what `Shard::ctx` in the runtime lends it).
struct Shard {
    commands: &'static CommandTable,
    keyspace: Keyspace,
    settings: ShardSettings,
    counters: Counters,
    notes: Notes,
    rng: u64,
}

impl Shard {
    /// Handles every request of `buf` as the connection loop and `dispatch`/`dispatch_keyed`
    /// do on the shard owning the keys: parse, look up, check arity, route the first key, run
    /// the handler with the routing hint, append the reply to `out`.
    #[inline]
    fn run_buffer(&mut self, parser: &mut RequestParser, buf: &[u8], out: &mut Vec<u8>) {
        let limits = ParseLimits::default();
        let mut pos = 0;
        while pos < buf.len() {
            let Ok(Parsed::Request { consumed }) = parser.parse(&buf[pos..], &limits) else {
                unreachable!("benchmark buffers hold whole requests")
            };
            let args = parser.args(&buf[pos..]);
            pos += consumed;
            let Lookup::Found(cmd) = self.commands.lookup(&args) else {
                unreachable!()
            };
            if !cmd.arity_ok(args.len()) {
                unreachable!()
            }
            let Handler::Shard(f) = cmd.handler else {
                unreachable!()
            };
            let (first, _, _) = cmd.key_range(args.len());
            let k = args.get(first);
            let hint = KeyHint::new(k, key_slot(k));
            let mut ctx = Ctx {
                keyspace: &mut self.keyspace,
                db: 0,
                now_ms: NOW,
                reply: Reply::new(out, Protocol::Resp2),
                settings: &self.settings,
                no_touch: false,
                counters: &mut self.counters,
                key_hint: Some(hint),
                notes: &mut self.notes,
                rng: &mut self.rng,
                may_block: false,
            };
            f(&mut ctx, args);
        }
    }
}

fn end_to_end_command(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("end_to_end_command");
    const DEPTH: usize = 16;
    // Many pipelines of random keys, cycled, so that lookups range over the whole table (and
    // the request bytes are not all in cache, as when they arrive from the network).
    const BUFS: usize = 1024;
    let mut shard = Shard {
        commands: table(),
        keyspace: filled_keyspace(),
        settings: ShardSettings::default(),
        counters: Counters::default(),
        notes: Notes::default(),
        rng: 0x9E37_79B9_7F4A_7C15,
    };
    let mut rng = SmallRng::seed_from_u64(3);
    let mut bufs = |f: &dyn Fn(Vec<u8>) -> Vec<Vec<u8>>, prefix: &str| -> Vec<Vec<u8>> {
        (0..BUFS)
            .map(|_| {
                let ks: Vec<usize> = (0..DEPTH).map(|_| rng.gen_range(0..KEYS)).collect();
                pipeline(DEPTH, |i| f(format!("{prefix}:{:012}", ks[i]).into_bytes()))
            })
            .collect()
    };
    let val1k = vec![b'v'; 1024];
    let get_hit = bufs(&|k| vec![b"GET".to_vec(), k], "key");
    let cases = [
        // The same 16 keys every time: everything in cache, the path's own cost.
        ("get_hit_hot", vec![get_hit[0].clone()]),
        ("get_hit", get_hit),
        ("get_miss", bufs(&|k| vec![b"GET".to_vec(), k], "nokey")),
        (
            "set_3B",
            bufs(&|k| vec![b"SET".to_vec(), k, VAL3.to_vec()], "key"),
        ),
        (
            "set_1KB",
            bufs(&|k| vec![b"SET".to_vec(), k, val1k.clone()], "key"),
        ),
    ];
    let mut parser = RequestParser::new();
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    g.throughput(Throughput::Elements(DEPTH as u64));
    for (name, bufs) in &cases {
        let mut i = 0;
        g.bench_function(BenchmarkId::new(*name, DEPTH), |b| {
            b.iter(|| {
                out.clear();
                shard.run_buffer(&mut parser, black_box(&bufs[i % bufs.len()]), &mut out);
                i += 1;
                out.len()
            })
        });
        // The SET buffers overwrite existing keys: the table keeps its 100k keys.
        assert_eq!(shard.keyspace.db(0).len(), KEYS);
    }
    g.finish();
}

/// The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; the clock id is a constant Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Criterion measurement of the benchmark thread's CPU time rather than wall-clock time: on a
/// machine shared with other work the time slices other processes take while this thread waits
/// are not counted, which removes most of the noise. (The benchmarks never block, so on an idle
/// machine the two agree.)
struct ThreadCpuTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &NanosFormatter
    }
}

/// Formats nanoseconds as criterion's wall-clock measurement does.
struct NanosFormatter;

impl ValueFormatter for NanosFormatter {
    fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if ns < 1.0 {
            (1e3, "ps")
        } else if ns < 1e3 {
            (1.0, "ns")
        } else if ns < 1e6 {
            (1e-3, "µs")
        } else if ns < 1e9 {
            (1e-6, "ms")
        } else {
            (1e-9, "s")
        };
        for v in values {
            *v *= factor;
        }
        unit
    }
    fn scale_throughputs(&self, typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let (n, base, units) = match *t {
            Throughput::Bytes(n) => (n as f64, 1024.0, ["  B/s", "KiB/s", "MiB/s", "GiB/s"]),
            Throughput::BytesDecimal(n) => (n as f64, 1000.0, ["  B/s", "KB/s", "MB/s", "GB/s"]),
            Throughput::Elements(n) => (
                n as f64,
                1000.0,
                [" elem/s", "Kelem/s", "Melem/s", "Gelem/s"],
            ),
        };
        let per_sec = n * 1e9 / typical;
        let mut scale = 0;
        while scale < 3 && per_sec >= f64::powi(base, scale as i32 + 1) {
            scale += 1;
        }
        let denominator = f64::powi(base, scale as i32);
        for v in values {
            *v = n * 1e9 / *v / denominator;
        }
        units[scale]
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn config() -> Criterion<ThreadCpuTime> {
    // Short defaults (CLI flags such as --measurement-time still override them): the figures are
    // for comparing changes on the same machine, not for publication.
    Criterion::default()
        .with_measurement(ThreadCpuTime)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = resp_decode, lookup_route, keyspace, reply_encode, end_to_end_command
}
criterion_main!(benches);
