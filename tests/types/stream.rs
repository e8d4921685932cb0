//! Generator for the stream family: XADD with explicit IDs (so both servers hold the same
//! entries), ranges, deletion and trimming (exact and approximate, whose results depend on the
//! macro node boundaries), XREAD over several keys (never blocking), consumer groups with
//! their pending entries, claims, XINFO and XSETID, valid and invalid. Replies that carry
//! delivery times or idle times are compared by shape only; minimum idle times are either 0 or
//! an hour, and forced idle times are either 0 or days, so the claims themselves are exact.

use crate::suite::diff::{name, pick, Cmp};
use crate::{elem, int, key};
use rand::rngs::SmallRng;
use rand::Rng;

/// The highest milliseconds part XADD uses: `CAP-*` always appends, so streams keep growing
/// once they reach it, while smaller explicit IDs exercise ordering errors.
const CAP: u64 = 60;

fn s(x: &str) -> String {
    x.to_string()
}

/// An explicit entry ID for XADD: mostly `CAP-*`, else any `ms-seq`, `ms`, `ms-*`, rarely an
/// invalid one.
fn add_id(rng: &mut SmallRng) -> String {
    match rng.gen_range(0..20) {
        0..=8 => format!("{CAP}-*"),
        9..=12 => format!("{}-{}", rng.gen_range(0..=CAP), rng.gen_range(0..4)),
        13..=14 => format!("{}-*", rng.gen_range(0..=CAP)),
        15 => format!("{}", rng.gen_range(0..=CAP)),
        16 => format!("{CAP}-{}", rng.gen_range(0..400)),
        17 => s(pick(
            rng,
            &["0-0", "0", "0-*", "abc", "-", "+", "1-x", "*-1"],
        )),
        _ => s("*-bad"),
    }
}

/// An ID as XRANGE/XDEL/XACK take it, near the ones XADD creates.
fn some_id(rng: &mut SmallRng) -> String {
    match rng.gen_range(0..12) {
        0..=3 => format!("{CAP}-{}", rng.gen_range(0..120)),
        4..=7 => format!("{}-{}", rng.gen_range(0..=CAP), rng.gen_range(0..4)),
        8 => format!("{}", rng.gen_range(0..=CAP)),
        9 => s(pick(rng, &["0", "0-0", "0-1"])),
        10 => s(pick(
            rng,
            &["abc", "-1", "1-", "", "18446744073709551616-0", "1- 2"],
        )),
        _ => s("18446744073709551615-18446744073709551615"),
    }
}

/// A range bound: `-`, `+`, an ID, or an exclusive one.
fn bound(rng: &mut SmallRng) -> String {
    match rng.gen_range(0..8) {
        0 => s("-"),
        1 => s("+"),
        2 => format!("({}", some_id(rng)),
        3 => s(pick(
            rng,
            &[
                "(-",
                "(+",
                "(0-0",
                "(18446744073709551615-18446744073709551615",
            ],
        )),
        _ => some_id(rng),
    }
}

fn group(rng: &mut SmallRng) -> String {
    s(pick(rng, &["g1", "g1", "g2", "nogroup"]))
}

fn consumer(rng: &mut SmallRng) -> String {
    s(pick(rng, &["alice", "bob", "carol"]))
}

fn small_count(rng: &mut SmallRng) -> String {
    match rng.gen_range(0..8) {
        0 => int(rng),
        _ => rng.gen_range(0..6).to_string(),
    }
}

/// A key pair for multi-stream reads: same slot or not.
fn keys2(rng: &mut SmallRng) -> Vec<String> {
    let n = rng.gen_range(1..=3);
    (0..n).map(|_| key(rng)).collect()
}

/// Trimming options: MAXLEN/MINID, =/~, LIMIT.
fn trim_opts(rng: &mut SmallRng, c: &mut Vec<String>) {
    let maxlen = rng.gen_bool(0.6);
    c.push(s(if maxlen { "MAXLEN" } else { "MINID" }));
    let approx = match rng.gen_range(0..3) {
        0 => {
            c.push(s("~"));
            true
        }
        1 => {
            c.push(s("="));
            false
        }
        _ => false,
    };
    if maxlen {
        c.push(match rng.gen_range(0..10) {
            0 => int(rng),
            1..=3 => rng.gen_range(0..5).to_string(),
            _ => rng.gen_range(0..150).to_string(),
        });
    } else {
        c.push(some_id(rng));
    }
    if rng.gen_bool(if approx { 0.4 } else { 0.05 }) {
        c.push(s("LIMIT"));
        c.push(match rng.gen_range(0..4) {
            0 => int(rng),
            _ => rng.gen_range(0..250).to_string(),
        });
    }
}

/// One command of the family.
pub fn command(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    let k = key(rng);
    match rng.gen_range(0..100) {
        // XADD
        0..=29 => {
            let mut c = vec![name(rng, "XADD"), k];
            if rng.gen_bool(0.1) {
                c.push(s("NOMKSTREAM"));
            }
            if rng.gen_bool(0.2) {
                trim_opts(rng, &mut c);
            }
            c.push(add_id(rng));
            let pairs = match rng.gen_range(0..10) {
                0..=5 => 1,
                6..=7 => 2,
                _ => rng.gen_range(3..=6),
            };
            let same = rng.gen_bool(0.6);
            for i in 0..pairs {
                c.push(if same { format!("f{i}") } else { elem(rng) });
                c.push(elem(rng));
            }
            if rng.gen_bool(0.03) {
                c.push(elem(rng));
            }
            (c, Cmp::Exact)
        }
        30..=33 => {
            let mut c = vec![name(rng, "XRANGE"), k, bound(rng), bound(rng)];
            if rng.gen_bool(0.4) {
                c.extend([s("COUNT"), small_count(rng)]);
            }
            if rng.gen_bool(0.03) {
                c.push(s("COUNT"));
            }
            (c, Cmp::Exact)
        }
        34..=36 => {
            let mut c = vec![name(rng, "XREVRANGE"), k, bound(rng), bound(rng)];
            if rng.gen_bool(0.4) {
                c.extend([s("COUNT"), small_count(rng)]);
            }
            (c, Cmp::Exact)
        }
        37..=38 => (vec![name(rng, "XLEN"), k], Cmp::Exact),
        39..=41 => {
            let mut c = vec![name(rng, "XDEL"), k];
            let least = usize::from(rng.gen_bool(0.95));
            for _ in 0..rng.gen_range(least..=3) {
                c.push(some_id(rng));
            }
            (c, Cmp::Exact)
        }
        42..=44 => {
            let mut c = vec![name(rng, "XTRIM"), k];
            if rng.gen_bool(0.95) {
                trim_opts(rng, &mut c);
            } else {
                c.extend([s("FOO"), s("1")]);
            }
            (c, Cmp::Exact)
        }
        // XREAD (never BLOCK)
        45..=49 => {
            let mut c = vec![name(rng, "XREAD")];
            if rng.gen_bool(0.5) {
                c.extend([s("COUNT"), small_count(rng)]);
            }
            c.push(s("STREAMS"));
            let ks = keys2(rng);
            let n = ks.len();
            c.extend(ks);
            for _ in 0..n {
                c.push(match rng.gen_range(0..5) {
                    0 => s("$"),
                    1 => s("0"),
                    _ => some_id(rng),
                });
            }
            if rng.gen_bool(0.03) {
                c.pop();
            }
            (c, Cmp::Exact)
        }
        // XGROUP
        50..=55 => {
            let g = group(rng);
            let c = match rng.gen_range(0..12) {
                0..=4 => {
                    let mut c = vec![s("XGROUP"), s("CREATE"), k, g];
                    c.push(match rng.gen_range(0..4) {
                        0 => s("$"),
                        1 => s("0"),
                        _ => some_id(rng),
                    });
                    if rng.gen_bool(0.4) {
                        c.push(s("MKSTREAM"));
                    }
                    if rng.gen_bool(0.2) {
                        c.extend([
                            s("ENTRIESREAD"),
                            pick(rng, &["0", "3", "-1", "-2", "x"]).into(),
                        ]);
                    }
                    c
                }
                5..=6 => {
                    let mut c = vec![s("XGROUP"), s("SETID"), k, g];
                    c.push(match rng.gen_range(0..4) {
                        0 => s("$"),
                        _ => some_id(rng),
                    });
                    if rng.gen_bool(0.2) {
                        c.extend([s("ENTRIESREAD"), pick(rng, &["0", "2", "-1", "x"]).into()]);
                    }
                    c
                }
                7 => vec![s("XGROUP"), s("DESTROY"), k, g],
                8..=9 => vec![s("XGROUP"), s("CREATECONSUMER"), k, g, consumer(rng)],
                10 => vec![s("XGROUP"), s("DELCONSUMER"), k, g, consumer(rng)],
                _ => vec![
                    s("XGROUP"),
                    s(pick(rng, &["HELP", "FOO", "CREATE", "SETID"])),
                ],
            };
            (c, Cmp::Exact)
        }
        // XREADGROUP (never BLOCK)
        56..=63 => {
            let mut c = vec![
                name(rng, "XREADGROUP"),
                s("GROUP"),
                group(rng),
                consumer(rng),
            ];
            if rng.gen_bool(0.5) {
                c.extend([s("COUNT"), small_count(rng)]);
            }
            if rng.gen_bool(0.15) {
                c.push(s("NOACK"));
            }
            c.push(s("STREAMS"));
            let ks = if rng.gen_bool(0.8) {
                vec![k]
            } else {
                keys2(rng)
            };
            let n = ks.len();
            c.extend(ks);
            for _ in 0..n {
                c.push(match rng.gen_range(0..10) {
                    0..=6 => s(">"),
                    7 => s("0"),
                    8 => s("$"),
                    _ => some_id(rng),
                });
            }
            (c, Cmp::Exact)
        }
        64..=67 => {
            let mut c = vec![name(rng, "XACK"), k, group(rng)];
            for _ in 0..rng.gen_range(1..=3) {
                c.push(some_id(rng));
            }
            (c, Cmp::Exact)
        }
        68..=71 => {
            let mut c = vec![name(rng, "XPENDING"), k, group(rng)];
            match rng.gen_range(0..4) {
                0..=1 => (c, Cmp::Exact),
                _ => {
                    let idle = rng.gen_bool(0.3);
                    if idle {
                        c.extend([s("IDLE"), s(pick(rng, &["0", "3600000", "x"]))]);
                    }
                    c.extend([bound(rng), bound(rng), small_count(rng)]);
                    if rng.gen_bool(0.3) {
                        c.push(consumer(rng));
                    }
                    (c, Cmp::Shape)
                }
            }
        }
        72..=76 => {
            let mut c = vec![name(rng, "XCLAIM"), k, group(rng), consumer(rng)];
            c.push(s(pick(rng, &["0", "0", "3600000", "-5", "x"])));
            for _ in 0..rng.gen_range(1..=3) {
                c.push(some_id(rng));
            }
            for _ in 0..rng.gen_range(0..=2) {
                match rng.gen_range(0..7) {
                    0 => c.push(s("JUSTID")),
                    1 => c.push(s("FORCE")),
                    2 => c.extend([s("RETRYCOUNT"), s(pick(rng, &["0", "5", "x"]))]),
                    3 => c.extend([s("IDLE"), s(pick(rng, &["0", "100000000", "x"]))]),
                    4 => c.extend([s("TIME"), s(pick(rng, &["0", "1", "x"]))]),
                    5 => c.extend([s("LASTID"), some_id(rng)]),
                    _ => c.push(s("BOGUS")),
                }
            }
            (c, Cmp::Exact)
        }
        77..=80 => {
            let mut c = vec![name(rng, "XAUTOCLAIM"), k, group(rng), consumer(rng)];
            c.push(s(pick(rng, &["0", "0", "3600000", "x"])));
            c.push(bound(rng));
            if rng.gen_bool(0.5) {
                c.extend([s("COUNT"), s(pick(rng, &["1", "2", "3", "0", "x"]))]);
            }
            if rng.gen_bool(0.3) {
                c.push(s("JUSTID"));
            }
            (c, Cmp::Exact)
        }
        81..=85 => (vec![s("XINFO"), s("STREAM"), k], Cmp::Exact),
        86..=87 => (vec![s("XINFO"), s("GROUPS"), k], Cmp::Exact),
        88 => {
            let mut c = vec![s("XINFO"), s("STREAM"), k, s("FULL")];
            if rng.gen_bool(0.5) {
                c.extend([s("COUNT"), small_count(rng)]);
            }
            (c, Cmp::Shape)
        }
        89 => (vec![s("XINFO"), s("CONSUMERS"), k, group(rng)], Cmp::Shape),
        90 => (
            vec![s("XINFO"), s(pick(rng, &["HELP", "FOO", "STREAM"]))],
            Cmp::Exact,
        ),
        91..=92 => {
            let mut c = vec![name(rng, "XSETID"), k, some_id(rng)];
            if rng.gen_bool(0.3) {
                c.extend([s("ENTRIESADDED"), s(pick(rng, &["0", "5", "100", "-1"]))]);
            }
            if rng.gen_bool(0.3) {
                c.extend([s("MAXDELETEDID"), some_id(rng)]);
            }
            (c, Cmp::Exact)
        }
        // Errors of arity and options.
        93..=94 => {
            let c = match rng.gen_range(0..6) {
                0 => vec![s("XADD"), k, s("*")],
                1 => vec![s("XREAD"), s("STREAMS"), k],
                2 => vec![
                    s("XREADGROUP"),
                    s("GROUP"),
                    s("g1"),
                    s("alice"),
                    s("STREAMS"),
                    k,
                ],
                3 => vec![s("XREAD"), s("NOACK"), s("STREAMS"), k, s("0")],
                4 => vec![s("XREAD"), s("BLOCK"), s("x"), s("STREAMS"), k, s("0")],
                _ => vec![s("XPENDING"), k, s("g1"), s("-"), s("+")],
            };
            (c, Cmp::Exact)
        }
        _ => (vec![s("TYPE"), k], Cmp::Exact),
    }
}
