//! Differential test: seeded random command sequences run against Shoal and a real
//! redis-server; every reply must be identical (byte for byte, or by a stated equivalence for
//! replies that depend on time or ordering).

mod common;

use common::{parse, Raw, Resp, Server};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const KEYS: &[&str] = &[
    "k1", "k2", "k3", "k4", "k5", "k6", "{u1}:a", "{u1}:b", "{u2}:a", "{u2}:b", "counter", "f",
    "n", "x", "long", "tag{k1}",
];

const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-5",
    "10",
    "123456789",
    "abc",
    "hello world",
    "3.5",
    "9223372036854775807",
    "-9223372036854775808",
    "007",
    "+1",
    " 1",
    "1e3",
    "0.1",
    "a value that is longer than forty-four bytes, so it is raw",
];

/// How two replies are compared.
#[derive(Clone, Copy, PartialEq)]
enum Cmp {
    Exact,
    /// -2, -1, or any non-negative number.
    TtlClass,
    /// An array compared as a sorted multiset.
    Sorted,
    /// Nil versus not nil.
    NilOrNot,
}

fn pick<'a>(rng: &mut SmallRng, v: &[&'a str]) -> &'a str {
    v[rng.gen_range(0..v.len())]
}

fn key(rng: &mut SmallRng) -> String {
    pick(rng, KEYS).to_string()
}

fn value(rng: &mut SmallRng) -> String {
    pick(rng, VALUES).to_string()
}

fn int_arg(rng: &mut SmallRng) -> String {
    pick(
        rng,
        &[
            "0",
            "1",
            "-1",
            "5",
            "-3",
            "100",
            "abc",
            "9223372036854775807",
            "-9223372036854775808",
            "1.5",
            "",
        ],
    )
    .to_string()
}

/// A far-future TTL so nothing expires during the run.
fn ttl_arg(rng: &mut SmallRng) -> String {
    pick(
        rng,
        &[
            "1000",
            "5000",
            "100000",
            "0",
            "-1",
            "abc",
            "9223372036854775807",
        ],
    )
    .to_string()
}

fn gen(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    let k = key(rng);
    let v = value(rng);
    let s = |x: &str| x.to_string();
    let e = Cmp::Exact;
    match rng.gen_range(0..62) {
        0..=5 => (vec![s("SET"), k, v], e),
        6 => {
            let mut c = vec![s("SET"), k, v];
            for _ in 0..rng.gen_range(1..4) {
                match rng.gen_range(0..9) {
                    0 => c.push(s("NX")),
                    1 => c.push(s("XX")),
                    2 => c.push(s("GET")),
                    3 => c.push(s("KEEPTTL")),
                    4 => c.extend([s("EX"), ttl_arg(rng)]),
                    5 => c.extend([s("PX"), ttl_arg(rng)]),
                    6 => c.extend([s("EXAT"), s("4102444800")]),
                    7 => c.extend([s("PXAT"), s("4102444800000")]),
                    _ => c.push(s("BOGUS")),
                }
            }
            (c, e)
        }
        7..=10 => (vec![s("GET"), k], e),
        11 => (vec![s("SETNX"), k, v], e),
        12 => (vec![s("SETEX"), k, ttl_arg(rng), v], e),
        13 => (vec![s("PSETEX"), k, ttl_arg(rng), v], e),
        14 => (vec![s("GETSET"), k, v], e),
        15 => (vec![s("GETDEL"), k], e),
        16 => {
            let mut c = vec![s("GETEX"), k];
            match rng.gen_range(0..6) {
                0 => c.extend([s("EX"), ttl_arg(rng)]),
                1 => c.extend([s("PX"), ttl_arg(rng)]),
                2 => c.push(s("PERSIST")),
                3 => c.extend([s("EXAT"), s("4102444800")]),
                4 => c.extend([s("EX"), s("10"), s("PERSIST")]),
                _ => {}
            }
            (c, e)
        }
        17..=18 => {
            let mut c = vec![s("MGET")];
            for _ in 0..rng.gen_range(1..6) {
                c.push(key(rng));
            }
            (c, e)
        }
        19..=20 => {
            let mut c = vec![s("MSET")];
            for _ in 0..rng.gen_range(1..5) {
                c.push(key(rng));
                c.push(value(rng));
            }
            if rng.gen_bool(0.1) {
                c.push(key(rng));
            }
            (c, e)
        }
        21 => {
            let mut c = vec![s("MSETNX")];
            for _ in 0..rng.gen_range(1..4) {
                c.push(key(rng));
                c.push(value(rng));
            }
            (c, e)
        }
        22 => (vec![s("APPEND"), k, v], e),
        23 => (vec![s("STRLEN"), k], e),
        24 => (vec![s("INCR"), k], e),
        25 => (vec![s("DECR"), k], e),
        26 => (vec![s("INCRBY"), k, int_arg(rng)], e),
        27 => (vec![s("DECRBY"), k, int_arg(rng)], e),
        28 => (
            vec![
                s("INCRBYFLOAT"),
                k,
                pick(
                    rng,
                    &["0.5", "1.25", "-3", "1e3", "abc", "10", "-0.5", "inf", ""],
                )
                .to_string(),
            ],
            e,
        ),
        29 => (
            vec![
                s("SETRANGE"),
                k,
                pick(rng, &["0", "3", "10", "-1", "x"]).to_string(),
                v,
            ],
            e,
        ),
        30 => (
            vec![
                s(pick(rng, &["GETRANGE", "SUBSTR"])),
                k,
                int_arg(rng),
                int_arg(rng),
            ],
            e,
        ),
        31 => {
            let mut c = vec![s("LCS"), k, key(rng)];
            match rng.gen_range(0..5) {
                0 => c.push(s("LEN")),
                1 => c.push(s("IDX")),
                2 => c.extend([s("IDX"), s("MINMATCHLEN"), s("2"), s("WITHMATCHLEN")]),
                3 => c.extend([s("LEN"), s("IDX")]),
                _ => {}
            }
            (c, e)
        }
        32..=33 => {
            let mut c = vec![s(pick(rng, &["DEL", "UNLINK", "EXISTS", "TOUCH"]))];
            for _ in 0..rng.gen_range(1..5) {
                c.push(key(rng));
            }
            (c, e)
        }
        34 => (vec![s("TYPE"), k], e),
        35..=36 => {
            let cmd = pick(rng, &["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"]);
            let t = match cmd {
                "EXPIREAT" => pick(rng, &["4102444800", "4102444900", "1", "abc"]).to_string(),
                "PEXPIREAT" => {
                    pick(rng, &["4102444800000", "4102444900000", "1", "abc"]).to_string()
                }
                _ => ttl_arg(rng),
            };
            let mut c = vec![s(cmd), k, t];
            if rng.gen_bool(0.4) {
                c.push(s(pick(rng, &["NX", "XX", "GT", "LT", "FOO"])));
                if rng.gen_bool(0.2) {
                    c.push(s(pick(rng, &["NX", "XX", "GT", "LT"])));
                }
            }
            (c, e)
        }
        37 => (vec![s(pick(rng, &["TTL", "PTTL"])), k], Cmp::TtlClass),
        38 => (
            vec![s(pick(rng, &["EXPIRETIME", "PEXPIRETIME"])), k],
            Cmp::TtlClass,
        ),
        39 => (vec![s("PERSIST"), k], e),
        40..=41 => (vec![s(pick(rng, &["RENAME", "RENAMENX"])), k, key(rng)], e),
        42 => {
            let mut c = vec![s("COPY"), k, key(rng)];
            if rng.gen_bool(0.3) {
                c.extend([s("DB"), pick(rng, &["0", "1", "2", "99", "x"]).to_string()]);
            }
            if rng.gen_bool(0.3) {
                c.push(s("REPLACE"));
            }
            (c, e)
        }
        43 => (
            vec![
                s("SELECT"),
                pick(rng, &["0", "1", "2", "0", "16", "-1", "x"]).to_string(),
            ],
            e,
        ),
        44 => (vec![s("DBSIZE")], e),
        45 => (
            vec![
                s("KEYS"),
                s(pick(rng, &["*", "k*", "{u1}*", "k[1-3]", "?", "*:a"])),
            ],
            Cmp::Sorted,
        ),
        46 => (vec![s("PING")], e),
        47 => (vec![s("ECHO"), v], e),
        48 => (vec![s("GET")], e),
        49 => (vec![s("NOSUCHCMD"), k], e),
        50 => (
            vec![
                s("OBJECT"),
                s(pick(rng, &["ENCODING", "REFCOUNT", "FOO"])),
                k,
            ],
            e,
        ),
        51 => (vec![s("RANDOMKEY")], Cmp::NilOrNot),
        52 => (vec![s("SET"), k, v, s("EX")], e),
        53 => (vec![s("INCRBY"), k], e),
        54 => (vec![s("EXISTS"), k.clone(), k], e),
        55 => (vec![s("STRLEN"), k], e),
        56 => (
            vec![s("SET"), k, v, s("PX"), s("100000"), s("NX"), s("GET")],
            e,
        ),
        57 => (vec![s("GETEX"), k, s("EXAT"), s("1")], e),
        58 => (vec![s("SETRANGE"), k, s("5"), s("")], e),
        59 => (vec![s("PING"), v], e),
        60 => (
            vec![
                s("SWAPDB"),
                s(pick(rng, &["0", "1"])),
                s(pick(rng, &["1", "2", "x"])),
            ],
            e,
        ),
        _ => (vec![s("FLUSHDB")], e),
    }
}

fn same(a: &[u8], b: &[u8], cmp: Cmp) -> bool {
    match cmp {
        Cmp::Exact => a == b,
        Cmp::TtlClass => {
            let class = |r: Resp| match r {
                Resp::Int(n) if n < 0 => n,
                Resp::Int(_) => 0,
                _ => i64::MIN,
            };
            class(parse(a).0) == class(parse(b).0)
        }
        Cmp::Sorted => {
            let sorted = |r: Resp| match r {
                Resp::Array(Some(mut v)) => {
                    v.sort();
                    Resp::Array(Some(v))
                }
                x => x,
            };
            sorted(parse(a).0) == sorted(parse(b).0)
        }
        Cmp::NilOrNot => (parse(a).0 == Resp::Bulk(None)) == (parse(b).0 == Resp::Bulk(None)),
    }
}

fn run(seed: u64, steps: usize, shards: usize) {
    let shoal = Server::shoal(shards);
    let redis = Server::redis();
    const CONNS: usize = 4;
    let mut s: Vec<Raw> = (0..CONNS).map(|_| shoal.raw()).collect();
    let mut r: Vec<Raw> = (0..CONNS).map(|_| redis.raw()).collect();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut history: Vec<String> = vec![];
    for step in 0..steps {
        let conn = rng.gen_range(0..CONNS);
        let (cmd, cmp) = gen(&mut rng);
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        history.push(format!("[conn {conn}] {cmd:?}"));
        let b = r[conn].cmd(&args);
        let Some(a) = s[conn].try_cmd(&args) else {
            let start = history.len().saturating_sub(25);
            panic!(
                "seed {seed} shards {shards} step {step}: no reply from shoal to {cmd:?}\nlast commands:\n{}",
                history[start..].join("\n")
            );
        };
        if !same(&a, &b, cmp) {
            let start = history.len().saturating_sub(60);
            panic!(
                "seed {seed} shards {shards} step {step}: {cmd:?} on conn {conn}\n shoal: {:?}\n redis: {:?}\nlast commands:\n{}",
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b),
                history[start..].join("\n")
            );
        }
    }
    // The final keyspaces must agree too.
    for db in ["0", "1", "2"] {
        s[0].cmd_str(&["SELECT", db]);
        r[0].cmd_str(&["SELECT", db]);
        let a = s[0].cmd_str(&["KEYS", "*"]);
        let b = r[0].cmd_str(&["KEYS", "*"]);
        assert!(
            same(&a, &b, Cmp::Sorted),
            "seed {seed}: final KEYS of db {db} differ"
        );
        let a = s[0].cmd(&[b"MGET", b"k1", b"k2", b"{u1}:a", b"counter", b"f", b"n"]);
        let b = r[0].cmd(&[b"MGET", b"k1", b"k2", b"{u1}:a", b"counter", b"f", b"n"]);
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "seed {seed}: final values differ"
        );
    }
}

fn seeds() -> Vec<u64> {
    match std::env::var("SHOAL_DIFF_SEED") {
        Ok(s) => vec![s.parse().expect("SHOAL_DIFF_SEED must be a number")],
        Err(_) => vec![1, 2, 3],
    }
}

#[test]
fn differential_one_shard() {
    for seed in seeds() {
        run(seed, 3000, 1);
    }
}

#[test]
fn differential_four_shards() {
    for seed in seeds() {
        run(seed + 100, 3000, 4);
    }
}
