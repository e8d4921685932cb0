//! Generator for the hash family.

use crate::suite::diff::{name, pick, Cmp};
use crate::{elem, int, key};
use rand::rngs::SmallRng;
use rand::Rng;

fn floats(rng: &mut SmallRng) -> String {
    pick(
        rng,
        &[
            "1", "-1.5", "0.1", "10.5", "abc", "", "inf", "-inf", "nan", "1e308", "3.0e2", " 1",
        ],
    )
    .to_string()
}

/// One command of the family.
pub fn command(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    let k = key(rng);
    let s = |x: &str| x.to_string();
    let fields = |rng: &mut SmallRng, lo: usize, hi: usize| -> Vec<String> {
        (0..rng.gen_range(lo..=hi)).map(|_| elem(rng)).collect()
    };
    match rng.gen_range(0..40) {
        0..=7 => {
            let n = rng.gen_range(0..=4);
            let mut c = vec![name(rng, "HSET"), k];
            for _ in 0..n {
                c.push(elem(rng));
                c.push(elem(rng));
            }
            if rng.gen_bool(0.1) {
                c.push(elem(rng));
            }
            (c, Cmp::Exact)
        }
        8 => {
            let mut c = vec![name(rng, "HMSET"), k];
            for _ in 0..rng.gen_range(0..=3) {
                c.push(elem(rng));
                c.push(elem(rng));
            }
            (c, Cmp::Exact)
        }
        9 => (
            vec![name(rng, "HSETNX"), k, elem(rng), elem(rng)],
            Cmp::Exact,
        ),
        10..=13 => (vec![name(rng, "HGET"), k, elem(rng)], Cmp::Exact),
        14..=15 => {
            let mut c = vec![name(rng, "HMGET"), k];
            c.extend(fields(rng, 0, 4));
            (c, Cmp::Exact)
        }
        16..=18 => {
            let mut c = vec![name(rng, "HDEL"), k];
            c.extend(fields(rng, 0, 4));
            (c, Cmp::Exact)
        }
        19 => (vec![name(rng, "HLEN"), k], Cmp::Exact),
        20 => (vec![name(rng, "HSTRLEN"), k, elem(rng)], Cmp::Exact),
        21 => (vec![name(rng, "HEXISTS"), k, elem(rng)], Cmp::Exact),
        22 => (vec![name(rng, "HKEYS"), k], Cmp::Sorted),
        23 => (vec![name(rng, "HVALS"), k], Cmp::Sorted),
        24..=25 => (vec![name(rng, "HGETALL"), k], Cmp::Pairs),
        26..=28 => (
            vec![name(rng, "HINCRBY"), k, elem(rng), int(rng)],
            Cmp::Exact,
        ),
        29..=30 => (
            vec![name(rng, "HINCRBYFLOAT"), k, elem(rng), floats(rng)],
            Cmp::Exact,
        ),
        31..=33 => {
            let mut c = vec![name(rng, "HRANDFIELD"), k];
            match rng.gen_range(0..5) {
                0 => {}
                1 => c.push(int(rng)),
                2 => c.extend([int(rng), s("WITHVALUES")]),
                3 => c.extend([s("-5"), s("withvalues")]),
                _ => c.extend([s("3"), s("BOGUS")]),
            }
            (c, Cmp::Shape)
        }
        34..=36 => {
            // A listpack is returned whole; a table in COUNT-sized steps, from positions that
            // differ between implementations: only cursor 0 with a large COUNT (everything,
            // in both) and invalid cursors are comparable.
            let mut c = vec![
                name(rng, "HSCAN"),
                k,
                s(pick(rng, &["0", "0", "abc", "", "1x"])),
            ];
            match rng.gen_range(0..6) {
                0 => c.extend([s("MATCH"), s(pick(rng, &["*", "a*", "?", "[0-9]*"]))]),
                1 => c.extend([s("COUNT"), s(pick(rng, &["1000", "0", "x"]))]),
                2 => c.extend([s("COUNT"), s("1000"), s("MATCH"), s("*o*")]),
                3 => c.push(s("COUNT")),
                4 => c.extend([s("TYPE"), s("string")]),
                _ => {}
            }
            if c.len() == 3 || c[3] == "MATCH" {
                c.extend([s("COUNT"), s("1000")]);
            }
            (c, Cmp::Unordered)
        }
        _ => (vec![name(rng, "HGETALL"), k], Cmp::Pairs),
    }
}
