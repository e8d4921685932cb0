//! Generator for the set family: every set command with valid and invalid arguments over the
//! shared keys, so intsets, hash tables, missing keys and keys of other types all meet.
//!
//! Random commands must leave both servers' keyspaces equal. SPOP without a count, or with a
//! count below the set's size, removes members Redis chooses at random, so on the shared keys
//! SPOP only runs with counts whose outcome is certain (0, or at least the size of any set the
//! generator can build: members come from `ELEMS` and 0..530); random pops run on a private key, in a
//! sequence of steps that builds it, pops, checks what is deterministic (its size) and deletes
//! it, with no other command touching that key in between.

use crate::suite::diff::{name, pick, Cmp};
use rand::rngs::SmallRng;
use rand::Rng;
use std::cell::RefCell;
use std::collections::VecDeque;

/// The key of the random-pop sequences; not in `KEYS`, so no other generator touches it.
const POP_KEY: &str = "{t}spop";

thread_local! {
    /// The rest of a random-pop sequence under way.
    static PENDING: RefCell<VecDeque<(Vec<String>, Cmp)>> = const { RefCell::new(VecDeque::new()) };
}

fn s(x: &str) -> String {
    x.to_string()
}

/// One to `max` members.
fn members(rng: &mut SmallRng, max: usize) -> Vec<String> {
    (0..rng.gen_range(1..=max))
        .map(|_| crate::elem(rng))
        .collect()
}

/// One to `max` keys.
fn keys(rng: &mut SmallRng, max: usize) -> Vec<String> {
    (0..rng.gen_range(1..=max))
        .map(|_| crate::key(rng))
        .collect()
}

/// A SPOP count whose outcome is certain: nothing, everything (no set here holds more than
/// 530 integers and `ELEMS`), or an error.
fn sure_pop_count(rng: &mut SmallRng) -> String {
    s(pick(
        rng,
        &[
            "0",
            "1000",
            "9223372036854775807",
            "-1",
            "abc",
            "",
            "1.5",
            "-9223372036854775808",
        ],
    ))
}

/// Starts a random-pop sequence on the private key and returns its first step.
fn pop_sequence(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    let mut steps: VecDeque<(Vec<String>, Cmp)> = VecDeque::new();
    let mut sadd = vec![s("SADD"), s(POP_KEY)];
    if rng.gen_bool(0.5) {
        // Integers only: an intset.
        let n = rng.gen_range(1..=12);
        sadd.extend((0..n).map(|_| rng.gen_range(-5..20).to_string()));
    } else {
        sadd.extend(members(rng, 12));
    }
    steps.push_back((vec![s("DEL"), s(POP_KEY)], Cmp::Exact));
    steps.push_back((sadd, Cmp::Exact));
    let pop = match rng.gen_range(0..3) {
        0 => vec![name(rng, "SPOP"), s(POP_KEY)],
        _ => vec![
            name(rng, "SPOP"),
            s(POP_KEY),
            rng.gen_range(1..=14).to_string(),
        ],
    };
    steps.push_back((pop, Cmp::Shape));
    steps.push_back((vec![s("SCARD"), s(POP_KEY)], Cmp::Exact));
    if rng.gen_bool(0.5) {
        let count = rng.gen_range(-6..=6).to_string();
        steps.push_back((vec![s("SRANDMEMBER"), s(POP_KEY), count], Cmp::Shape));
    }
    if rng.gen_bool(0.3) {
        steps.push_back((vec![s("SPOP"), s(POP_KEY), s("100")], Cmp::Shape));
    }
    steps.push_back((vec![s("EXISTS"), s(POP_KEY)], Cmp::Exact));
    steps.push_back((vec![s("DEL"), s(POP_KEY)], Cmp::Exact));
    let first = steps.pop_front().unwrap_or((vec![s("PING")], Cmp::Exact));
    PENDING.with(|p| *p.borrow_mut() = steps);
    first
}

/// A SCAN cursor, sometimes malformed.
fn cursor(rng: &mut SmallRng) -> String {
    s(pick(
        rng,
        &[
            "0",
            "0",
            "0",
            "1",
            "5",
            "-1",
            "",
            "abc",
            " 1",
            "+0",
            "18446744073709551616",
        ],
    ))
}

/// One command of the family.
pub fn command(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    if let Some(step) = PENDING.with(|p| p.borrow_mut().pop_front()) {
        return step;
    }
    let k = crate::key(rng);
    match rng.gen_range(0..100) {
        0..=19 => {
            let mut c = vec![name(rng, "SADD"), k];
            c.extend(members(rng, 5));
            (c, Cmp::Exact)
        }
        20..=27 => {
            let mut c = vec![name(rng, "SREM"), k];
            c.extend(members(rng, 4));
            (c, Cmp::Exact)
        }
        28..=30 => (vec![name(rng, "SCARD"), k], Cmp::Exact),
        31..=33 => (
            vec![name(rng, "SISMEMBER"), k, crate::elem(rng)],
            Cmp::Exact,
        ),
        34..=36 => {
            let mut c = vec![name(rng, "SMISMEMBER"), k];
            c.extend(members(rng, 4));
            (c, Cmp::Exact)
        }
        37..=42 => (vec![name(rng, "SMEMBERS"), k], Cmp::Sorted),
        43..=46 => {
            let mut c = vec![name(rng, "SRANDMEMBER"), k];
            match rng.gen_range(0..6) {
                0 => {}
                1 => c.extend([crate::int(rng), crate::int(rng)]),
                _ => c.push(crate::int(rng)),
            }
            (c, Cmp::Shape)
        }
        47..=50 => {
            let mut c = vec![name(rng, "SPOP"), k, sure_pop_count(rng)];
            if rng.gen_ratio(1, 8) {
                c.push(s("1"));
            }
            (c, Cmp::Sorted)
        }
        51..=52 => pop_sequence(rng),
        53..=59 => (
            vec![name(rng, "SMOVE"), k, crate::key(rng), crate::elem(rng)],
            Cmp::Exact,
        ),
        60..=71 => {
            let cmd = pick(rng, &["SINTER", "SUNION", "SDIFF"]);
            let mut c = vec![name(rng, cmd), k];
            c.extend(keys(rng, 3).into_iter().skip(rng.gen_range(0..2)));
            (c, Cmp::Sorted)
        }
        72..=75 => {
            let ks = keys(rng, 4);
            let numkeys = match rng.gen_range(0..10) {
                0 => s(pick(rng, &["0", "-1", "abc", ""])),
                1 => (ks.len() + 1).to_string(),
                _ => ks.len().to_string(),
            };
            let mut c = vec![name(rng, "SINTERCARD"), numkeys];
            c.extend(ks);
            match rng.gen_range(0..6) {
                0 | 1 => c.extend([s("LIMIT"), crate::int(rng)]),
                2 => c.extend([s("limit"), s(pick(rng, &["0", "1", "2"]))]),
                3 => c.push(s(pick(rng, &["LIMIT", "FOO"]))),
                _ => {}
            }
            (c, Cmp::Exact)
        }
        76..=85 => {
            let cmd = pick(rng, &["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]);
            let mut c = vec![name(rng, cmd), k];
            c.extend(keys(rng, 3));
            (c, Cmp::Exact)
        }
        86..=93 => {
            let mut c = vec![name(rng, "SSCAN"), k, cursor(rng)];
            let mut exact = c[2] == "0";
            if rng.gen_bool(0.4) {
                c.extend([
                    s("MATCH"),
                    s(pick(rng, &["*", "1*", "?", "[ab]*", "b*", "*o*", "-*"])),
                ]);
            }
            match rng.gen_range(0..6) {
                0..=2 => c.extend([s("COUNT"), s("2000")]),
                3 => c.extend([s("COUNT"), s(pick(rng, &["0", "-1", "abc", "1"]))]),
                4 => c.push(s(pick(rng, &["COUNT", "MATCH", "TYPE"]))),
                // The default COUNT may stop early in a table, at a cursor of its own.
                _ => exact = false,
            }
            // With a COUNT above twice any set's size a table is returned whole (Shoal's table
            // visits COUNT slots, live or freed), as an intset is; only the cursor a partial
            // scan returns is implementation-specific.
            if c.iter().any(|a| a == "1") && c.iter().any(|a| a == "COUNT") {
                exact = false;
            }
            (c, if exact { Cmp::Unordered } else { Cmp::Shape })
        }
        94..=96 => {
            // Too few arguments (SCARD, SPOP and SRANDMEMBER take a key alone).
            let cmd = pick(
                rng,
                &[
                    "SADD",
                    "SREM",
                    "SISMEMBER",
                    "SMISMEMBER",
                    "SMOVE",
                    "SINTERCARD",
                    "SSCAN",
                    "SUNIONSTORE",
                    "SINTERSTORE",
                ],
            );
            (vec![name(rng, cmd), k], Cmp::Exact)
        }
        97 if rng.gen_bool(0.5) => {
            // Past set-max-intset-entries (512) or not: always members 0..n (n <= 530), so no
            // set holds more than 530 integers and `ELEMS`.
            let mut c = vec![name(rng, "SADD"), k];
            c.extend((0..rng.gen_range(500..=530)).map(|n| n.to_string()));
            (c, Cmp::Exact)
        }
        97 => {
            let n = pick(rng, &["2", "3", "5", "512", "512"]);
            (
                vec![s("CONFIG"), s("SET"), s("set-max-intset-entries"), s(n)],
                Cmp::Exact,
            )
        }
        _ => (vec![s("OBJECT"), s("ENCODING"), k], Cmp::Exact),
    }
}
