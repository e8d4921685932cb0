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
        _ => vec![name(rng, "LRANGE"), k, s("0"), s("-1")],
    };
    (cmd, Cmp::Exact)
}
