//! Differential tests of the data types against a real redis-server: seeded random command
//! sequences over a small shared key space, so types collide and WRONGTYPE paths are hit, run
//! on 1 and 4 shards. Each family has its generator in `types/`; a run mixes mostly one family
//! with the others. `SHOAL_DIFF_SEED` / `SHOAL_DIFF_STEPS` as in the string differential test.

#[path = "suite/mod.rs"]
mod suite;

#[path = "types/bitmap.rs"]
mod bitmap;
#[path = "types/geo.rs"]
mod geo;
#[path = "types/hash.rs"]
mod hash;
#[path = "types/hll.rs"]
mod hll;
#[path = "types/list.rs"]
mod list;
#[path = "types/set.rs"]
mod set;
#[path = "types/stream.rs"]
mod stream;
#[path = "types/zset.rs"]
mod zset;

use rand::rngs::SmallRng;
use rand::Rng;
use suite::diff::{self, Cmp, Generator};

/// Keys shared by every family: several slots, and hash-tagged keys that share one slot, so
/// multi-key commands can run on one shard or across shards.
pub const KEYS: &[&str] = &[
    "a", "b", "c", "d", "k1", "k2", "{t}1", "{t}2", "{t}3", "dst", "{t}dst",
];

/// Elements (members, fields, values) for every family: integers (intset), short strings,
/// long strings (over the listpack value limit), binary-safe ones.
pub const ELEMS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "-1",
    "10",
    "100",
    "a",
    "b",
    "c",
    "foo",
    "bar",
    "",
    "1.5",
    "007",
    "bin\x00ary",
    "an element longer than sixty-four bytes, so that compact encodings convert",
];

/// A key from the shared pool.
pub fn key(rng: &mut SmallRng) -> String {
    diff::pick(rng, KEYS).to_string()
}

/// An element from the shared pool.
pub fn elem(rng: &mut SmallRng) -> String {
    diff::pick(rng, ELEMS).to_string()
}

/// An integer argument, sometimes invalid.
pub fn int(rng: &mut SmallRng) -> String {
    diff::pick(
        rng,
        &[
            "0",
            "1",
            "-1",
            "2",
            "3",
            "5",
            "-3",
            "10",
            "-10",
            "100",
            "abc",
            "1.5",
            "",
            "9223372036854775807",
            "-9223372036854775808",
        ],
    )
    .to_string()
}

/// Which family a step comes from.
type Family = fn(&mut SmallRng) -> (Vec<String>, Cmp);

const FAMILIES: &[Family] = &[
    list::command,
    hash::command,
    set::command,
    zset::command,
    bitmap::command,
    hll::command,
    stream::command,
    geo::command,
    common,
];

/// Commands every type answers: TYPE, EXISTS, DEL, OBJECT ENCODING, plain strings.
fn common(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    let k = key(rng);
    let s = |x: &str| x.to_string();
    match rng.gen_range(0..10) {
        0..=2 => (vec![s("TYPE"), k], Cmp::Exact),
        3 => (vec![s("DEL"), k], Cmp::Exact),
        4 => (vec![s("EXISTS"), k], Cmp::Exact),
        5..=6 => (vec![s("OBJECT"), s("ENCODING"), k], Cmp::Exact),
        7 => (vec![s("SET"), k, elem(rng)], Cmp::Exact),
        8 => (vec![s("GET"), k], Cmp::Exact),
        _ => (vec![s("COPY"), k, key(rng), s("REPLACE")], Cmp::Exact),
    }
}

/// Mostly `main`'s commands (80%), the rest from every family.
struct Mix {
    main: usize,
}

impl Generator for Mix {
    fn command(&mut self, rng: &mut SmallRng) -> (Vec<String>, Cmp) {
        let f = if rng.gen_bool(0.8) {
            FAMILIES[self.main]
        } else {
            FAMILIES[rng.gen_range(0..FAMILIES.len())]
        };
        f(rng)
    }
    fn keys(&self) -> &[&'static str] {
        KEYS
    }
}

fn run(main: usize, seeds: &[u64]) {
    for seed in diff::seeds(seeds) {
        for shards in [1, 4] {
            diff::run(seed, diff::steps(3000), shards, &mut Mix { main });
        }
    }
}

#[test]
fn lists_agree_with_redis() {
    run(0, &[101, 102]);
}

#[test]
fn hashes_agree_with_redis() {
    run(1, &[201, 202]);
}

#[test]
fn sets_agree_with_redis() {
    run(2, &[301, 302]);
}

#[test]
fn sorted_sets_agree_with_redis() {
    run(3, &[401, 402]);
}

#[test]
fn bitmaps_agree_with_redis() {
    run(4, &[501, 502]);
}

#[test]
fn hyperloglogs_agree_with_redis() {
    run(5, &[601, 602]);
}

#[test]
fn streams_agree_with_redis() {
    run(6, &[701, 702]);
}

#[test]
fn geo_agrees_with_redis() {
    run(7, &[801, 802]);
}
