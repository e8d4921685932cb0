//! Generator for the list family (the non-blocking commands; blocking ones are in tests of
//! their own, since a blocked client has no reply to compare).

use crate::suite::diff::{name, pick, Cmp};
use crate::{elem, int, key};
use rand::rngs::SmallRng;
use rand::Rng;

fn index(rng: &mut SmallRng) -> String {
    pick(
        rng,
        &[
            "0",
            "1",
            "2",
            "-1",
            "-2",
            "5",
            "-10",
            "100",
            "x",
            "9223372036854775807",
            "-9223372036854775808",
        ],
    )
    .to_string()
}

fn end(rng: &mut SmallRng) -> String {
    pick(rng, &["LEFT", "RIGHT", "left", "Right", "UP"]).to_string()
}

/// One command of the family.
pub fn command(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    let k = key(rng);
    let s = |x: &str| x.to_string();
    let elems = |rng: &mut SmallRng, lo: usize, hi: usize| -> Vec<String> {
        (0..rng.gen_range(lo..=hi)).map(|_| elem(rng)).collect()
    };
    let cmd = match rng.gen_range(0..40) {
        0..=5 => {
            let mut c = {
                let n = pick(rng, &["LPUSH", "RPUSH"]);
                vec![name(rng, n), k]
            };
            c.extend(elems(rng, 0, 5));
            c
        }
        6 => {
            let mut c = {
                let n = pick(rng, &["LPUSHX", "RPUSHX"]);
                vec![name(rng, n), k]
            };
            c.extend(elems(rng, 0, 3));
            c
        }
        7..=9 => {
            let mut c = {
                let n = pick(rng, &["LPOP", "RPOP"]);
                vec![name(rng, n), k]
            };
            match rng.gen_range(0..6) {
                0 | 1 => {}
                2 => c.push(s("-1")),
                3 => c.extend([s("1"), s("2")]),
                _ => c.push(int(rng)),
            }
            c
        }
        10 => vec![name(rng, "LLEN"), k],
        11..=12 => vec![name(rng, "LINDEX"), k, index(rng)],
        13 => vec![name(rng, "LSET"), k, index(rng), elem(rng)],
        14..=17 => vec![name(rng, "LRANGE"), k, index(rng), index(rng)],
        18 => vec![name(rng, "LTRIM"), k, index(rng), index(rng)],
        19..=20 => vec![
            name(rng, "LINSERT"),
            k,
            s(pick(rng, &["BEFORE", "AFTER", "after", "MIDDLE"])),
            elem(rng),
            elem(rng),
        ],
        21..=22 => vec![name(rng, "LREM"), k, index(rng), elem(rng)],
        23..=25 => {
            let mut c = vec![name(rng, "LPOS"), k, elem(rng)];
            for _ in 0..rng.gen_range(0..=3) {
                match rng.gen_range(0..4) {
                    0 => c.extend([s("RANK"), index(rng)]),
                    1 => c.extend([s("COUNT"), index(rng)]),
                    2 => c.extend([s("MAXLEN"), index(rng)]),
                    _ => c.push(s("RANK")),
                }
            }
            c
        }
        26..=29 => vec![name(rng, "LMOVE"), k, key(rng), end(rng), end(rng)],
        30..=31 => vec![name(rng, "RPOPLPUSH"), k, key(rng)],
        32..=35 => {
            let n = rng.gen_range(0..=3);
            let mut c = vec![
                name(rng, "LMPOP"),
                if rng.gen_bool(0.9) {
                    n.to_string()
                } else {
                    int(rng)
                },
            ];
            for _ in 0..n {
                c.push(key(rng));
            }
            c.push(end(rng));
            match rng.gen_range(0..4) {
                0 => c.extend([s("COUNT"), index(rng)]),
                1 => c.extend([s("COUNT"), s("2"), s("COUNT"), s("1")]),
                _ => {}
            }
            c
        }
        36..=38 => return sort(rng),
        _ => vec![name(rng, "LRANGE"), k, s("0"), s("-1")],
    };
    (cmd, Cmp::Exact)
}

/// SORT and SORT_RO over any type, with the weight/value keys their patterns read. Patterns
/// carry the `{t}` hash tag and only sort `{t}` keys, so every key involved lives on one core.
fn sort(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    let s = |x: &str| x.to_string();
    if rng.gen_bool(0.3) {
        // Weights and values for the patterns.
        let e = elem(rng);
        return match rng.gen_range(0..3) {
            0 => (vec![s("SET"), format!("{{t}}w_{e}"), elem(rng)], Cmp::Exact),
            1 => (
                vec![s("HSET"), format!("{{t}}h_{e}"), s("f"), elem(rng)],
                Cmp::Exact,
            ),
            _ => (vec![s("SET"), format!("{{t}}w_{e}"), int(rng)], Cmp::Exact),
        };
    }
    let ro = rng.gen_bool(0.2);
    let tagged = rng.gen_bool(0.6);
    let k = if tagged {
        s(pick(rng, &["{t}1", "{t}2", "{t}3"]))
    } else {
        key(rng)
    };
    let mut c = vec![name(rng, if ro { "SORT_RO" } else { "SORT" }), k];
    let mut cmp = Cmp::Exact;
    let (mut alpha, mut by_pattern, mut nosort) = (false, false, false);
    if rng.gen_bool(0.4) {
        let p = if tagged {
            pick(
                rng,
                &["nosort", "{t}w_*", "{t}h_*->f", "{t}h_*->g", "{t}w_"],
            )
        } else {
            "nosort"
        };
        nosort = !p.contains('*');
        by_pattern = !nosort;
        c.extend([s("BY"), s(p)]);
    }
    if rng.gen_bool(0.5) {
        alpha = true;
        c.push(s(pick(rng, &["ALPHA", "alpha"])));
    }
    if rng.gen_bool(0.4) {
        c.push(s(pick(rng, &["ASC", "DESC", "desc"])));
    }
    let ties = (alpha && by_pattern) || nosort;
    if !ties && rng.gen_bool(0.3) {
        c.extend([s("LIMIT"), index(rng), index(rng)]);
    }
    if tagged {
        for _ in 0..rng.gen_range(0..=2) {
            c.extend([
                s("GET"),
                s(pick(rng, &["#", "{t}w_*", "{t}h_*->f", "nopattern"])),
            ]);
        }
    }
    // A numeric sort is never stored: see Cmp::SortNumeric.
    if alpha && !by_pattern && rng.gen_bool(0.25) {
        // Pattern keys are read on the sorted key's core, so a destination on another core
        // (where the command then runs over copies) only goes with patternless sorts.
        let dst = if tagged {
            "{t}dst"
        } else {
            pick(rng, &["{t}dst", "dst"])
        };
        c.extend([s("STORE"), s(dst)]);
    }
    match rng.gen_range(0..12) {
        0 => c.push(s("BOGUS")),
        1 => c.extend([s("LIMIT"), s("x"), s("1")]),
        2 => c.push(s("LIMIT")),
        _ => {}
    }
    if ties || (nosort && !c.iter().any(|a| a == "STORE")) {
        cmp = Cmp::Unordered;
    } else if !alpha {
        cmp = Cmp::SortNumeric;
    }
    (c, cmp)
}
