//! Generator for the sorted set family: every zset command with valid and invalid arguments
//! over the shared keys, so listpacks, skiplists, missing keys and keys of other types all meet.
//!
//! Replies are compared exactly except where Redis answers at random (ZRANDMEMBER: shape only)
//! or in hash-table order (ZSCAN of a skiplist: as a multiset, with a COUNT that returns the
//! whole set). Lex ranges are only asked of `LEX_KEYS`, whose members all get the score 0:
//! Redis's answer for a lex range over members of different scores depends on the random shape
//! of its skiplist.

use crate::suite::diff::{name, pick, Cmp};
use rand::rngs::SmallRng;
use rand::Rng;
use std::cell::{Cell, RefCell};

/// Keys whose members all have score 0, for lex ranges.
const LEX_KEYS: &[&str] = &["k1", "k2"];

/// Destinations of STORE commands (never a lex key).
const DSTS: &[&str] = &["dst", "{t}dst", "{t}1", "a", "{t}2"];

/// Valid scores.
const SCORES: &[&str] = &[
    "1", "1", "2", "3", "0", "-1.5", "2.5", "10", "-3", "inf", "-inf", "+inf", "1e308", "-1e308",
    "0.1", "-0", "7", "1.5e3", "0x10", "3.0",
];

/// Invalid scores.
const BAD_SCORES: &[&str] = &[
    "nan", "abc", "", "1e400", " 1", "(1", "1 ", "-nan", "1e-400",
];

/// Ends of score ranges, some invalid.
const RANGE_ITEMS: &[&str] = &[
    "-inf", "+inf", "inf", "0", "1", "(1", "2", "(2.5", "-1.5", "(-1.5", "10", "(10", "3", "(3",
    "1e308", "-inf", "+inf", "(0", "-0", "(inf", "(-inf", "nan", "abc", "(", "", " 1", "0x3",
];

/// Ends of lex ranges, some invalid.
const LEX_ITEMS: &[&str] = &[
    "-",
    "+",
    "-",
    "+",
    "[a",
    "(a",
    "[b",
    "(c",
    "[foo",
    "(bar",
    "[",
    "(",
    "[1",
    "(10",
    "[007",
    "[bin",
    "(an",
    "a",
    "",
    "+x",
    "-a",
    "[an element",
    "(2",
];

/// Ranks and offsets.
const RANKS: &[&str] = &[
    "0",
    "0",
    "1",
    "2",
    "-1",
    "-1",
    "-2",
    "3",
    "5",
    "-5",
    "10",
    "-100",
    "100",
    "abc",
    "1.5",
    "",
    "9223372036854775807",
    "-9223372036854775808",
];

fn s(x: &str) -> String {
    x.to_string()
}

fn score(rng: &mut SmallRng) -> String {
    if rng.gen_ratio(1, 25) {
        s(pick(rng, BAD_SCORES))
    } else {
        s(pick(rng, SCORES))
    }
}

fn is_lex(k: &str) -> bool {
    LEX_KEYS.contains(&k)
}

/// A key for a command that may give members any score.
fn score_key(rng: &mut SmallRng) -> String {
    loop {
        let k = crate::key(rng);
        if !is_lex(&k) {
            return k;
        }
    }
}

/// A key for a read or a removal (any key).
fn any_key(rng: &mut SmallRng) -> String {
    crate::key(rng)
}

fn range_item(rng: &mut SmallRng) -> String {
    s(pick(rng, RANGE_ITEMS))
}

fn lex_item(rng: &mut SmallRng) -> String {
    s(pick(rng, LEX_ITEMS))
}

fn rank(rng: &mut SmallRng) -> String {
    s(pick(rng, RANKS))
}

/// LIMIT offset count, sometimes malformed.
fn limit(rng: &mut SmallRng, c: &mut Vec<String>) {
    match rng.gen_range(0..12) {
        0 => c.extend([s("LIMIT"), rank(rng), rank(rng)]),
        1 => c.push(s("LIMIT")),
        2 => c.extend([s("LIMIT"), s("0")]),
        _ => {
            let off = s(pick(rng, &["0", "0", "1", "2", "5", "-1"]));
            let cnt = s(pick(rng, &["-1", "1", "2", "3", "0", "10"]));
            c.extend([s("limit"), off, cnt]);
        }
    }
}

/// `numkeys key...` over keys of one slot when `tagged` (else any keys), sometimes with a
/// wrong numkeys.
fn numkeys(rng: &mut SmallRng, c: &mut Vec<String>) -> usize {
    let n = rng.gen_range(1..=3);
    let ks: Vec<String> = (0..n).map(|_| any_key(rng)).collect();
    match rng.gen_range(0..20) {
        0 => c.push(s(pick(rng, &["0", "-1", "abc", ""]))),
        1 => c.push((n + 1).to_string()),
        _ => c.push(n.to_string()),
    }
    c.extend(ks);
    n
}

/// A member; in a lex key's commands, one of the shared elements too.
fn member(rng: &mut SmallRng) -> String {
    crate::elem(rng)
}

/// ZADD with options and pairs; scores are 0 on lex keys.
fn zadd(rng: &mut SmallRng) -> Vec<String> {
    let k = if rng.gen_ratio(1, 4) {
        s(pick(rng, LEX_KEYS))
    } else {
        score_key(rng)
    };
    let lex = is_lex(&k);
    let mut c = vec![name(rng, "ZADD"), k];
    let opts = ["NX", "XX", "GT", "LT", "CH", "INCR"];
    let mut incr = false;
    for _ in 0..rng.gen_range(0..=2) {
        let o = pick(rng, &opts);
        if o == "INCR" {
            if lex {
                continue;
            }
            incr = true;
        }
        c.push(s(if rng.gen_bool(0.5) {
            o
        } else {
            match o {
                "NX" => "nx",
                "XX" => "xx",
                "GT" => "gt",
                "LT" => "lt",
                "CH" => "ch",
                _ => "incr",
            }
        }));
    }
    let pairs = if incr && rng.gen_ratio(9, 10) {
        1
    } else {
        rng.gen_range(1..=3)
    };
    for _ in 0..pairs {
        c.push(if lex { s("0") } else { score(rng) });
        c.push(member(rng));
    }
    if rng.gen_ratio(1, 30) {
        // An odd number of arguments.
        c.push(score(rng));
    }
    c
}

/// A range command over a rank, score or lex range.
fn zrange(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    match rng.gen_range(0..3) {
        0 => {
            // By rank.
            let mut c = vec![name(rng, "ZRANGE"), any_key(rng), rank(rng), rank(rng)];
            if rng.gen_bool(0.3) {
                c.push(s("REV"));
            }
            if rng.gen_bool(0.5) {
                c.push(s("WITHSCORES"));
            }
            if rng.gen_ratio(1, 10) {
                limit(rng, &mut c);
            }
            (c, Cmp::Exact)
        }
        1 => {
            let mut c = vec![
                name(rng, "ZRANGE"),
                any_key(rng),
                range_item(rng),
                range_item(rng),
                s("BYSCORE"),
            ];
            if rng.gen_bool(0.4) {
                c.push(s("rev"));
            }
            if rng.gen_bool(0.5) {
                c.push(s("withscores"));
            }
            if rng.gen_bool(0.4) {
                limit(rng, &mut c);
            }
            if rng.gen_ratio(1, 15) {
                c.push(s(pick(rng, &["BYLEX", "REV", "FOO", "BYSCORE"])));
            }
            c[4..].rotate_left(rng.gen_range(0..2));
            (c, Cmp::Exact)
        }
        _ => {
            let mut c = vec![
                name(rng, "ZRANGE"),
                lex_key(rng),
                lex_item(rng),
                lex_item(rng),
                s("BYLEX"),
            ];
            if rng.gen_bool(0.4) {
                c.push(s("REV"));
            }
            if rng.gen_bool(0.4) {
                limit(rng, &mut c);
            }
            if rng.gen_ratio(1, 15) {
                c.push(s(pick(rng, &["WITHSCORES", "BYSCORE", "REV"])));
            }
            (c, Cmp::Exact)
        }
    }
}

thread_local! {
    /// The lex key the command being generated ranges over, if any.
    static LEX_USED: Cell<Option<&'static str>> = const { Cell::new(None) };
    /// A command held back while the step before it runs.
    static PENDING: RefCell<Option<(Vec<String>, Cmp)>> = const { RefCell::new(None) };
}

/// A lex key for a lex range (the command is then preceded by a reset of the key's scores).
fn lex_key(rng: &mut SmallRng) -> String {
    let k = pick(rng, LEX_KEYS);
    LEX_USED.with(|u| u.set(Some(k)));
    s(k)
}

/// One command of the family.
///
/// A lex range runs right after `ZINTERSTORE k 1 k WEIGHTS 0` on its key, which gives every
/// member the score 0 again: other families' commands (COPY) may have put any sorted set there.
pub fn command(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    if let Some(step) = PENDING.with(|p| p.borrow_mut().take()) {
        return step;
    }
    LEX_USED.with(|u| u.set(None));
    let step = one(rng);
    match LEX_USED.with(|u| u.take()) {
        Some(k) => {
            PENDING.with(|p| *p.borrow_mut() = Some(step));
            (
                vec![s("ZINTERSTORE"), s(k), s("1"), s(k), s("WEIGHTS"), s("0")],
                Cmp::Exact,
            )
        }
        None => step,
    }
}

fn one(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    match rng.gen_range(0..134) {
        0..=21 => (zadd(rng), Cmp::Exact),
        22..=24 => {
            let k = score_key(rng);
            let incr = if rng.gen_ratio(1, 15) {
                s(pick(rng, &["nx", "incr", "xx"]))
            } else {
                score(rng)
            };
            (vec![name(rng, "ZINCRBY"), k, incr, member(rng)], Cmp::Exact)
        }
        25..=29 => {
            let mut c = vec![name(rng, "ZREM"), any_key(rng)];
            for _ in 0..rng.gen_range(1..=3) {
                c.push(member(rng));
            }
            (c, Cmp::Exact)
        }
        30..=31 => (vec![name(rng, "ZCARD"), any_key(rng)], Cmp::Exact),
        32..=34 => (
            vec![name(rng, "ZSCORE"), any_key(rng), member(rng)],
            Cmp::Exact,
        ),
        35..=36 => {
            let mut c = vec![name(rng, "ZMSCORE"), any_key(rng)];
            for _ in 0..rng.gen_range(1..=3) {
                c.push(member(rng));
            }
            (c, Cmp::Exact)
        }
        37..=39 => {
            let cmd = pick(rng, &["ZRANK", "ZREVRANK"]);
            let mut c = vec![name(rng, cmd), any_key(rng), member(rng)];
            if rng.gen_ratio(1, 15) {
                c.push(s("WITHSCORE"));
            }
            (c, Cmp::Exact)
        }
        40..=42 => (
            vec![
                name(rng, "ZCOUNT"),
                any_key(rng),
                range_item(rng),
                range_item(rng),
            ],
            Cmp::Exact,
        ),
        43..=44 => (
            vec![
                name(rng, "ZLEXCOUNT"),
                lex_key(rng),
                lex_item(rng),
                lex_item(rng),
            ],
            Cmp::Exact,
        ),
        45..=52 => zrange(rng),
        53..=55 => {
            let mut c = vec![name(rng, "ZREVRANGE"), any_key(rng), rank(rng), rank(rng)];
            if rng.gen_bool(0.5) {
                c.push(s("WITHSCORES"));
            }
            if rng.gen_ratio(1, 15) {
                c.push(s(pick(rng, &["REV", "LIMIT"])));
            }
            (c, Cmp::Exact)
        }
        56..=60 => {
            let cmd = pick(rng, &["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]);
            let mut c = vec![
                name(rng, cmd),
                any_key(rng),
                range_item(rng),
                range_item(rng),
            ];
            if rng.gen_bool(0.5) {
                c.push(s("WITHSCORES"));
            }
            if rng.gen_bool(0.4) {
                limit(rng, &mut c);
            }
            if rng.gen_ratio(1, 15) {
                c.push(s(pick(rng, &["REV", "BYSCORE", "WITHSCORES"])));
            }
            (c, Cmp::Exact)
        }
        61..=64 => {
            let cmd = pick(rng, &["ZRANGEBYLEX", "ZREVRANGEBYLEX"]);
            let mut c = vec![name(rng, cmd), lex_key(rng), lex_item(rng), lex_item(rng)];
            if rng.gen_bool(0.4) {
                limit(rng, &mut c);
            }
            if rng.gen_ratio(1, 15) {
                c.push(s(pick(rng, &["WITHSCORES", "BYLEX"])));
            }
            (c, Cmp::Exact)
        }
        65..=67 => {
            // ZRANGESTORE: lex ranges only from lex keys.
            let dst = s(pick(rng, DSTS));
            let mut c = vec![name(rng, "ZRANGESTORE"), dst];
            match rng.gen_range(0..3) {
                0 => c.extend([any_key(rng), rank(rng), rank(rng)]),
                1 => c.extend([any_key(rng), range_item(rng), range_item(rng), s("BYSCORE")]),
                _ => c.extend([lex_key(rng), lex_item(rng), lex_item(rng), s("BYLEX")]),
            }
            if rng.gen_bool(0.3) {
                c.push(s("REV"));
            }
            if (c.len() == 6 && rng.gen_bool(0.3)) || rng.gen_ratio(1, 20) {
                limit(rng, &mut c);
            }
            if rng.gen_ratio(1, 20) {
                c.push(s("WITHSCORES"));
            }
            (c, Cmp::Exact)
        }
        68..=69 => (
            vec![
                name(rng, "ZREMRANGEBYRANK"),
                any_key(rng),
                rank(rng),
                rank(rng),
            ],
            Cmp::Exact,
        ),
        70..=71 => (
            vec![
                name(rng, "ZREMRANGEBYSCORE"),
                any_key(rng),
                range_item(rng),
                range_item(rng),
            ],
            Cmp::Exact,
        ),
        72 => (
            vec![
                name(rng, "ZREMRANGEBYLEX"),
                lex_key(rng),
                lex_item(rng),
                lex_item(rng),
            ],
            Cmp::Exact,
        ),
        73..=76 => {
            let cmd = pick(rng, &["ZPOPMIN", "ZPOPMAX"]);
            let mut c = vec![name(rng, cmd), any_key(rng)];
            match rng.gen_range(0..6) {
                0 | 1 => {}
                2 => c.push(s(pick(rng, &["-1", "abc", "0", "", "100"]))),
                3 => c.extend([s("1"), s("2")]),
                _ => c.push(s(pick(rng, &["1", "2", "3"]))),
            }
            (c, Cmp::Exact)
        }
        77..=79 => {
            let mut c = vec![name(rng, "ZMPOP")];
            numkeys(rng, &mut c);
            match rng.gen_range(0..20) {
                0 => c.push(s("FOO")),
                1 => {}
                _ => c.push(s(pick(rng, &["MIN", "MAX", "min", "max"]))),
            }
            match rng.gen_range(0..6) {
                0 => c.extend([s("COUNT"), s(pick(rng, &["0", "-1", "abc"]))]),
                1 => c.push(s("COUNT")),
                2 | 3 => c.extend([s("COUNT"), s(pick(rng, &["1", "2", "5", "100"]))]),
                _ => {}
            }
            (c, Cmp::Exact)
        }
        80..=83 => {
            let mut c = vec![name(rng, "ZRANDMEMBER"), any_key(rng)];
            match rng.gen_range(0..8) {
                0 | 1 => {}
                2 => c.push(s(pick(
                    rng,
                    &["abc", "-9223372036854775808", "1.5", "0", ""],
                ))),
                3 => c.extend([s("3"), s(pick(rng, &["WITHSCORE", "foo"]))]),
                4 => c.extend([s("2"), s("WITHSCORES"), s("x")]),
                _ => {
                    c.push(s(pick(
                        rng,
                        &["1", "2", "3", "5", "20", "-1", "-3", "-20", "0", "7"],
                    )));
                    if rng.gen_bool(0.5) {
                        c.push(s("WITHSCORES"));
                    }
                }
            }
            (c, Cmp::Shape)
        }
        84..=95 => {
            // ZUNION / ZINTER / ZDIFF, with or without STORE, and ZINTERCARD.
            let cmd = pick(
                rng,
                &[
                    "ZUNION",
                    "ZINTER",
                    "ZDIFF",
                    "ZUNIONSTORE",
                    "ZINTERSTORE",
                    "ZDIFFSTORE",
                    "ZINTERCARD",
                ],
            );
            let store = cmd.ends_with("STORE");
            let mut c = vec![name(rng, cmd)];
            if store {
                c.push(s(pick(rng, DSTS)));
            }
            let n = numkeys(rng, &mut c);
            let setop = cmd != "ZDIFF" && cmd != "ZDIFFSTORE" && cmd != "ZINTERCARD";
            if setop && rng.gen_bool(0.4) {
                c.push(s("WEIGHTS"));
                for _ in 0..n {
                    c.push(s(pick(rng, &["1", "2", "-1", "0", "0.5", "inf", "3"])));
                }
                if rng.gen_ratio(1, 10) {
                    c.push(s(pick(rng, &["abc", "nan", "1"])));
                }
            }
            if setop && rng.gen_bool(0.4) {
                c.extend([
                    s("AGGREGATE"),
                    s(pick(rng, &["SUM", "MIN", "MAX", "min", "max", "avg"])),
                ]);
            }
            if cmd == "ZINTERCARD" && rng.gen_bool(0.5) {
                c.extend([
                    s("LIMIT"),
                    s(pick(rng, &["0", "1", "2", "-1", "abc", "100"])),
                ]);
            }
            if (!store && rng.gen_bool(0.5)) || rng.gen_ratio(1, 30) {
                c.push(s("WITHSCORES"));
            }
            (c, Cmp::Exact)
        }
        96..=100 => {
            let mut c = vec![name(rng, "ZSCAN"), any_key(rng)];
            let cursor = s(pick(rng, &["0", "0", "0", "0", "abc", "-1", "", " 0"]));
            let exact = cursor == "0" || cursor.is_empty();
            c.push(cursor);
            if rng.gen_bool(0.4) {
                c.extend([
                    s("MATCH"),
                    s(pick(rng, &["*", "1*", "?", "[ab]*", "b*", "*o*", "-*"])),
                ]);
            }
            match rng.gen_range(0..10) {
                0 => c.extend([s("COUNT"), s(pick(rng, &["0", "-1", "abc"]))]),
                1 => c.push(s(pick(rng, &["COUNT", "MATCH", "TYPE"]))),
                _ => c.extend([s("COUNT"), s("1000")]),
            }
            (c, if exact { Cmp::Unordered } else { Cmp::Shape })
        }
        101..=104 => (vec![s("OBJECT"), s("ENCODING"), any_key(rng)], Cmp::Exact),
        105..=106 => {
            // A plain set as an input of ZUNION and friends.
            let mut c = vec![s("SADD"), s(pick(rng, &["{t}3", "d"]))];
            for _ in 0..rng.gen_range(1..=3) {
                c.push(member(rng));
            }
            (c, Cmp::Exact)
        }
        // (CONFIG SET zset-max-listpack-* is left out: a shard applies a new configuration at
        // its next cron tick, so commands right after it may see the old limits.)
        107 => (vec![name(rng, "ZCARD"), any_key(rng)], Cmp::Exact),
        108..=110 => {
            // Wrong arity.
            let cmd = pick(
                rng,
                &[
                    "ZADD",
                    "ZREM",
                    "ZCARD",
                    "ZSCORE",
                    "ZRANK",
                    "ZRANGE",
                    "ZCOUNT",
                    "ZPOPMIN",
                    "ZMPOP",
                    "ZUNIONSTORE",
                    "ZINCRBY",
                    "ZSCAN",
                    "ZINTERCARD",
                ],
            );
            (vec![name(rng, cmd), any_key(rng)], Cmp::Exact)
        }
        111..=125 => {
            // A fresh sorted set where another family's value may be: DEL, then ZADD.
            let k = score_key(rng);
            let mut add = vec![s("ZADD"), k.clone()];
            for _ in 0..rng.gen_range(1..=6) {
                add.push(score(rng));
                add.push(member(rng));
            }
            PENDING.with(|p| *p.borrow_mut() = Some((add, Cmp::Exact)));
            (vec![s("DEL"), k], Cmp::Exact)
        }
        126 => {
            // Many members at once: past zset-max-listpack-entries (128).
            let mut c = vec![s("ZADD"), score_key(rng)];
            for _ in 0..rng.gen_range(20..=70) {
                c.push(rng.gen_range(-50..50).to_string());
                c.push(format!("n{}", rng.gen_range(0..200)));
            }
            (c, Cmp::Exact)
        }
        _ => {
            // Plenty of members in one key: a listpack up to its limits and past them.
            let k = score_key(rng);
            let mut c = vec![s("ZADD"), k];
            for i in 0..rng.gen_range(1..=8) {
                c.push(rng.gen_range(-3..6).to_string());
                c.push(format!("m{}", rng.gen_range(0..40) + i));
            }
            (c, Cmp::Exact)
        }
    }
}
