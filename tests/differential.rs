//! Differential test: seeded, reproducible random command sequences run against Shoal (1 and 4
//! shards) and a real redis-server, over 4 connections per server in the same interleaving;
//! every reply must be byte-identical, except TTL-like replies (compared by class: -2, -1 or
//! positive) and KEYS (compared as a sorted list).
//!
//! Seeds are fixed; `SHOAL_DIFF_SEED=N` runs only seed N, `SHOAL_DIFF_STEPS=N` changes the
//! length of each run. A mismatch prints the seed, the step, both replies and the last commands.
//!
//! Timing never matters: relative TTLs are at least 1000 s, and GT/LT are only combined with
//! absolute times (EXPIREAT/PEXPIREAT), which are far from any relative expiry, so every reply
//! is the same whatever the speed of either server.

mod suite;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use suite::diff::{self, seeds, Cmp, Generator};

const DEFAULT_STEPS: usize = 4000;
/// Seeds of the one-shard and four-shard runs.
const SEEDS_ONE_SHARD: [u64; 3] = [1, 2, 3];
const SEEDS_FOUR_SHARDS: [u64; 3] = [11, 12, 13];

/// 20 keys on many slots; the `{u1}`/`{u2}` ones share a slot.
const KEYS: &[&str] = &[
    "a", "b", "c", "k1", "k2", "k3", "num", "flt", "str", "long", "{u1}:a", "{u1}:b", "{u1}:c",
    "{u2}:a", "{u2}:b", "user:1", "user:2", "x", "y", "tag{k1}",
];

const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-5",
    "10",
    "42",
    "123456789",
    "abc",
    "hello world",
    "3.5",
    "0.1",
    "-2.5",
    "1e3",
    "9223372036854775807",
    "-9223372036854775808",
    "007",
    "+1",
    " 1",
    "1.5e2",
    "foo bar baz",
    "bin\x00ary\r\nvalue\u{ff}",
    "a value that is longer than forty-four bytes, so it is stored raw",
];

struct Gen {
    rng: SmallRng,
}

impl Gen {
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.rng.gen_range(0..v.len())]
    }
    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }
    fn key(&mut self) -> String {
        self.pick(KEYS).to_string()
    }
    fn keys(&mut self, lo: usize, hi: usize) -> Vec<String> {
        let n = self.rng.gen_range(lo..=hi);
        (0..n).map(|_| self.key()).collect()
    }
    fn value(&mut self) -> String {
        self.pick(VALUES).to_string()
    }
    fn int(&mut self) -> String {
        self.pick(&[
            "0",
            "1",
            "-1",
            "2",
            "5",
            "-3",
            "10",
            "100",
            "-100",
            "abc",
            "1.5",
            "",
            " 1",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
        ])
        .to_string()
    }
    /// Relative seconds: valid ones are large (nothing expires); some invalid.
    fn secs(&mut self) -> String {
        self.pick(&[
            "1000",
            "5000",
            "100000",
            "1000",
            "0",
            "-1",
            "abc",
            "",
            "9223372036854775807",
            "922337203685477580",
        ])
        .to_string()
    }
    /// Relative milliseconds: valid ones are >= 1000 s.
    fn millis(&mut self) -> String {
        self.pick(&[
            "10000000",
            "50000000",
            "10000000000",
            "10000000",
            "0",
            "-5",
            "x1",
            "9223372036854775807",
        ])
        .to_string()
    }
    /// Absolute unix seconds: far future (2100+), or invalid, or (if `past`) the past.
    ///
    /// EXPIREAT/PEXPIREAT/GETEX with a past time delete the key at once, but SET with a past
    /// EXAT/PXAT stores a key that is already expired: Redis counts it in DBSIZE until its
    /// expiry cycle happens to reclaim it, which depends on timing, so SET never gets one.
    fn unix_secs(&mut self, past: bool) -> String {
        let t = self.pick(&[
            "4102444800",
            "4102444900",
            "4133980800",
            "4102444800",
            "1",
            "abc",
            "922337203685477580",
        ]);
        if t == "1" && !past { "4102444800" } else { t }.to_string()
    }
    fn unix_millis(&mut self, past: bool) -> String {
        let t = self.pick(&[
            "4102444800000",
            "4102444900000",
            "4133980800000",
            "4102444800000",
            "1",
            "1.5",
        ]);
        if t == "1" && !past {
            "4102444800000"
        } else {
            t
        }
        .to_string()
    }
    /// A command name in random case (Redis is case-insensitive).
    fn name(&mut self, n: &str) -> String {
        diff::name(&mut self.rng, n)
    }

    fn command(&mut self) -> (Vec<String>, Cmp) {
        use Cmp::*;
        let k = self.key();
        let v = self.value();
        let s = |x: &str| x.to_string();
        let c = |g: &mut Gen, n: &str| g.name(n);
        let (cmd, cmp): (Vec<String>, Cmp) = match self.rng.gen_range(0..100) {
            0..=7 => (vec![c(self, "SET"), k, v], Exact),
            8..=12 => {
                // SET with options, including invalid combinations.
                let mut cmd = vec![c(self, "SET"), k, v];
                for _ in 0..self.rng.gen_range(1..=3) {
                    match self.rng.gen_range(0..12) {
                        0 => cmd.push(s("NX")),
                        1 => cmd.push(s("XX")),
                        2 | 3 => cmd.push(s("GET")),
                        4 => cmd.push(s("KEEPTTL")),
                        5 => cmd.extend([s("EX"), self.secs()]),
                        6 => cmd.extend([s("PX"), self.millis()]),
                        7 => cmd.extend([s("EXAT"), self.unix_secs(false)]),
                        8 => cmd.extend([s("PXAT"), self.unix_millis(false)]),
                        9 => cmd.push(s("EX")),
                        10 => cmd.push(s(self.pick(&["nx", "get", "keepttl", "px"]))),
                        _ => cmd.push(s("BOGUS")),
                    }
                }
                (cmd, Exact)
            }
            13..=19 => (vec![c(self, "GET"), k], Exact),
            20 => (vec![c(self, "SETNX"), k, v], Exact),
            21 => (vec![c(self, "SETEX"), k, self.secs(), v], Exact),
            22 => (vec![c(self, "PSETEX"), k, self.millis(), v], Exact),
            23 => (vec![c(self, "GETSET"), k, v], Exact),
            24 => (vec![c(self, "GETDEL"), k], Exact),
            25..=26 => {
                let mut cmd = vec![c(self, "GETEX"), k];
                match self.rng.gen_range(0..9) {
                    0 => cmd.extend([s("EX"), self.secs()]),
                    1 => cmd.extend([s("PX"), self.millis()]),
                    2 => cmd.extend([s("EXAT"), self.unix_secs(true)]),
                    3 => cmd.extend([s("PXAT"), self.unix_millis(true)]),
                    4 => cmd.push(s("PERSIST")),
                    5 => cmd.extend([s("EX"), s("1000"), s("PERSIST")]),
                    6 => cmd.push(s("EX")),
                    7 => cmd.push(s("KEEPTTL")),
                    _ => {}
                }
                (cmd, Exact)
            }
            27..=29 => {
                let mut cmd = vec![c(self, "MGET")];
                cmd.extend(self.keys(1, 6));
                (cmd, Exact)
            }
            30..=32 => {
                let mut cmd = vec![c(self, "MSET")];
                for _ in 0..self.rng.gen_range(1..=4) {
                    cmd.push(self.key());
                    cmd.push(self.value());
                }
                if self.chance(0.1) {
                    cmd.push(self.key()); // odd number of arguments
                }
                (cmd, Exact)
            }
            33 => {
                let mut cmd = vec![c(self, "MSETNX")];
                for _ in 0..self.rng.gen_range(1..=3) {
                    cmd.push(self.key());
                    cmd.push(self.value());
                }
                if self.chance(0.1) {
                    cmd.push(self.key());
                }
                (cmd, Exact)
            }
            34..=35 => (vec![c(self, "APPEND"), k, v], Exact),
            36 => (vec![c(self, "STRLEN"), k], Exact),
            37..=38 => (vec![c(self, "INCR"), k], Exact),
            39 => (vec![c(self, "DECR"), k], Exact),
            40 => (vec![c(self, "INCRBY"), k, self.int()], Exact),
            41 => (vec![c(self, "DECRBY"), k, self.int()], Exact),
            42..=43 => {
                let by = self.pick(&[
                    "0.5", "1.25", "-3", "1e3", "10", "-0.5", "2.5e-1", "abc", "", "1.5.5", "inf",
                    "3",
                ]);
                (vec![c(self, "INCRBYFLOAT"), k, s(by)], Exact)
            }
            44..=45 => {
                let off = self.pick(&["0", "1", "3", "10", "-1", "x", "536870912", "1000000000"]);
                (vec![c(self, "SETRANGE"), k, s(off), v], Exact)
            }
            46..=47 => {
                let name = self.pick(&["GETRANGE", "SUBSTR"]);
                (vec![c(self, name), k, self.int(), self.int()], Exact)
            }
            48..=49 => {
                let mut cmd = vec![c(self, "LCS"), k, self.key()];
                match self.rng.gen_range(0..8) {
                    0 => cmd.push(s("LEN")),
                    1 => cmd.push(s("IDX")),
                    2 => cmd.extend([s("IDX"), s("MINMATCHLEN"), s("2"), s("WITHMATCHLEN")]),
                    3 => cmd.extend([s("IDX"), s("WITHMATCHLEN")]),
                    4 => cmd.extend([s("LEN"), s("IDX")]),
                    5 => cmd.extend([s("IDX"), s("MINMATCHLEN"), s("x")]),
                    6 => cmd.push(s("FOO")),
                    _ => {}
                }
                (cmd, Exact)
            }
            50..=53 => {
                let name = self.pick(&["DEL", "UNLINK", "EXISTS", "TOUCH"]);
                let mut cmd = vec![c(self, name)];
                cmd.extend(self.keys(1, 5));
                (cmd, Exact)
            }
            54 => (vec![c(self, "TYPE"), k], Exact),
            55..=57 => {
                // Relative expiry: only flags whose outcome does not depend on timing.
                let name = self.pick(&["EXPIRE", "PEXPIRE"]);
                let t = if name == "EXPIRE" {
                    self.secs()
                } else {
                    self.millis()
                };
                let mut cmd = vec![c(self, name), k, t];
                if self.chance(0.5) {
                    cmd.push(s(self.pick(&["NX", "XX", "nx", "FOO"])));
                    if self.chance(0.3) {
                        cmd.push(s(self.pick(&["GT", "LT", "XX", "NX"])));
                    }
                }
                (cmd, Exact)
            }
            58..=59 => {
                // Absolute expiry: any flag.
                let name = self.pick(&["EXPIREAT", "PEXPIREAT"]);
                let t = if name == "EXPIREAT" {
                    self.unix_secs(true)
                } else {
                    self.unix_millis(true)
                };
                let mut cmd = vec![c(self, name), k, t];
                if self.chance(0.6) {
                    cmd.push(s(self.pick(&["NX", "XX", "GT", "LT", "gt", "BAD"])));
                    if self.chance(0.2) {
                        cmd.push(s(self.pick(&["NX", "XX", "GT", "LT"])));
                    }
                }
                (cmd, Exact)
            }
            60..=61 => {
                let name = self.pick(&["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]);
                (vec![c(self, name), k], TtlClass)
            }
            62 => (vec![c(self, "PERSIST"), k], Exact),
            63..=64 => {
                let name = self.pick(&["RENAME", "RENAMENX"]);
                (vec![c(self, name), k, self.key()], Exact)
            }
            65..=66 => {
                let mut cmd = vec![c(self, "COPY"), k, self.key()];
                if self.chance(0.4) {
                    cmd.extend([
                        s("DB"),
                        s(self.pick(&["0", "1", "2", "3", "99", "x", "-1"])),
                    ]);
                }
                if self.chance(0.4) {
                    cmd.push(s("REPLACE"));
                }
                if self.chance(0.05) {
                    cmd.push(s("BOGUS"));
                }
                (cmd, Exact)
            }
            67..=68 => {
                let db = self.pick(&["0", "1", "2", "3", "0", "1", "16", "-1", "x"]);
                (vec![c(self, "SELECT"), s(db)], Exact)
            }
            69 => (vec![c(self, "DBSIZE")], Exact),
            70 => {
                let pat = self.pick(&[
                    "*", "k*", "{u1}*", "k[1-2]", "?", "*:a", "user:?", "[^k]*", "nomatch*",
                ]);
                (vec![c(self, "KEYS"), s(pat)], Sorted)
            }
            71 => (vec![c(self, "PING")], Exact),
            72 => (vec![c(self, "PING"), v], Exact),
            73 => (vec![c(self, "ECHO"), v], Exact),
            74..=77 => {
                // Wrong arity.
                let cmd: Vec<String> = match self.rng.gen_range(0..14) {
                    0 => vec![c(self, "GET")],
                    1 => vec![c(self, "SET"), k],
                    2 => vec![c(self, "MGET")],
                    3 => vec![c(self, "MSET")],
                    4 => vec![c(self, "EXPIRE"), k],
                    5 => vec![c(self, "INCRBY"), k],
                    6 => vec![c(self, "GETRANGE"), k, s("0")],
                    7 => vec![c(self, "ECHO")],
                    8 => vec![c(self, "PING"), s("a"), s("b")],
                    9 => vec![c(self, "SELECT")],
                    10 => vec![c(self, "DBSIZE"), k],
                    11 => vec![c(self, "COPY"), k],
                    12 => vec![c(self, "LCS"), k],
                    _ => vec![c(self, "GETDEL"), k, v],
                };
                (cmd, Exact)
            }
            78..=79 => {
                // Unknown commands.
                let name = self.pick(&["NOSUCHCMD", "GETT", "foo", "SETT", "x"]);
                let mut cmd = vec![s(name)];
                cmd.extend(self.keys(0, 3));
                (cmd, Exact)
            }
            80 => (
                vec![
                    c(self, "SWAPDB"),
                    s(self.pick(&["0", "1", "2", "3"])),
                    s(self.pick(&["0", "1", "2", "x", "16"])),
                ],
                Exact,
            ),
            81 => {
                if self.chance(0.3) {
                    (vec![c(self, "FLUSHDB")], Exact)
                } else {
                    (vec![c(self, "DBSIZE")], Exact)
                }
            }
            82 => (vec![c(self, "EXISTS"), k.clone(), k], Exact),
            83..=85 => (vec![c(self, "SET"), k, v, s("KEEPTTL"), s("GET")], Exact),
            86..=87 => (
                vec![
                    c(self, "SET"),
                    k,
                    v,
                    s("EX"),
                    self.secs(),
                    s(self.pick(&["NX", "XX"])),
                    s("GET"),
                ],
                Exact,
            ),
            88 => (
                vec![
                    c(self, "SET"),
                    k,
                    v,
                    s("PXAT"),
                    self.unix_millis(false),
                    s("XX"),
                ],
                Exact,
            ),
            89..=90 => (
                vec![
                    c(self, "INCRBY"),
                    k,
                    s(self.pick(&[
                        "1",
                        "-1",
                        "100",
                        "9223372036854775807",
                        "-9223372036854775808",
                    ])),
                ],
                Exact,
            ),
            91 => (vec![c(self, "SETRANGE"), k, s("0"), s("")], Exact),
            92 => (vec![c(self, "GETRANGE"), k, s("0"), s("-1")], Exact),
            93 => (vec![c(self, "SET"), k, s("12345")], Exact),
            94 => (vec![c(self, "SET"), k, s("1.5")], Exact),
            95 => (vec![c(self, "APPEND"), k, s("1")], Exact),
            96 => (
                vec![c(self, "MSETNX"), k, v, self.key(), self.value()],
                Exact,
            ),
            97 => (vec![c(self, "STRLEN"), k], Exact),
            98 => (
                vec![
                    c(self, "LCS"),
                    k,
                    self.key(),
                    s("IDX"),
                    s("MINMATCHLEN"),
                    s("1"),
                    s("WITHMATCHLEN"),
                ],
                Exact,
            ),
            _ => {
                if self.chance(0.1) {
                    (vec![c(self, "FLUSHALL")], Exact)
                } else {
                    (vec![c(self, "TYPE"), k], Exact)
                }
            }
        };
        (cmd, cmp)
    }
}

impl Generator for Gen {
    fn command(&mut self, rng: &mut SmallRng) -> (Vec<String>, Cmp) {
        std::mem::swap(&mut self.rng, rng);
        let c = Gen::command(self);
        std::mem::swap(&mut self.rng, rng);
        c
    }
    fn keys(&self) -> &[&'static str] {
        KEYS
    }
}

fn run(seed: u64, steps: usize, shards: usize) {
    let mut g = Gen {
        rng: SmallRng::seed_from_u64(seed),
    };
    diff::run(seed, steps, shards, &mut g);
}

fn steps() -> usize {
    diff::steps(DEFAULT_STEPS)
}

#[test]
fn differential_one_shard() {
    for seed in seeds(&SEEDS_ONE_SHARD) {
        run(seed, steps(), 1);
    }
}

#[test]
fn differential_four_shards() {
    for seed in seeds(&SEEDS_FOUR_SHARDS) {
        run(seed, steps(), 4);
    }
}

/// The generator itself is deterministic: the same seed gives the same commands.
#[test]
fn generator_is_reproducible() {
    let mut a = Gen {
        rng: SmallRng::seed_from_u64(7),
    };
    let mut b = Gen {
        rng: SmallRng::seed_from_u64(7),
    };
    for _ in 0..1000 {
        assert_eq!(a.command().0, b.command().0);
    }
}
