//! Generator for the HyperLogLog family: PFADD (a few elements, or hundreds to thousands so
//! sparse HLLs grow and turn dense), PFCOUNT, PFMERGE, PFDEBUG, GET of the exact bytes, and
//! strings that are not, or are corrupted, HLLs.

use crate::suite::diff::{name, pick, Cmp};
use crate::{elem, key};
use rand::rngs::SmallRng;
use rand::Rng;

/// A string SET over a key: garbage, valid sparse HLLs spelled by hand (ZERO opcodes of 64
/// registers; U+00C3 encodes as two VAL opcodes of 4 registers each), broken variants, a dense
/// header of the wrong length. Card bytes "\0..\0\u{80}" end in 0x80: a stale cache.
fn hll_like(rng: &mut SmallRng) -> String {
    const STALE: &str = "\0\0\0\0\0\0\u{80}";
    let sparse = |card: &str| format!("HYLL\x01\0\0\0{card}");
    let zeros = |n: usize| "\x3f".repeat(n);
    match rng.gen_range(0..15) {
        0 => pick(
            rng,
            &["garbage", "HYLL", "", "12345", "HYLLHYLLHYLLHYLLHYLL"],
        )
        .to_string(),
        // Valid, cached cardinality 0.
        1 => sparse("\0\0\0\0\0\0\0\0") + &zeros(256),
        // Valid, cached cardinality 5 or huge (trusted as is by PFCOUNT).
        2 => sparse(pick(rng, &["\x05\0\0\0\0\0\0\0", "\0\0\0\0\0\0\0\x7f"])) + &zeros(256),
        // Valid, stale cache.
        3 => sparse(STALE) + &zeros(256),
        // Valid, stale cache, 8 registers set (ZERO 56, VAL 17 x4, VAL 1 x4).
        4 | 11..=14 => sparse(STALE) + &zeros(255) + "\x37\u{c3}",
        // Too few or too many registers.
        5 => sparse(STALE) + &zeros(rng.gen_range(0..256)),
        6 => sparse(STALE) + &zeros(257),
        // A VAL opcode run past the last register. (Not a truncated XZERO at the end: Redis
        // then reads the byte past the string, which its previous updates may have written.)
        7 => sparse(STALE) + &zeros(255) + "\x3b\u{c3}",
        8 => sparse(STALE) + &zeros(256) + "\u{c3}",
        // Dense of the wrong length, unknown encoding.
        9 => format!("HYLL\0\0\0\0{STALE}abc"),
        _ => format!("HYLL\x02\0\0\0{STALE}") + &zeros(256),
    }
}

/// Elements for a large PFADD: a window of a numbered sequence, so some repeat across calls.
fn many(rng: &mut SmallRng) -> Vec<String> {
    let n = pick(rng, &["50", "200", "600", "1500", "3000"])
        .parse()
        .unwrap_or(100);
    let base = rng.gen_range(0..5000);
    (base..base + n).map(|i| format!("el:{i}")).collect()
}

/// One command of the family.
pub fn command(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    let k = key(rng);
    let s = |x: &str| x.to_string();
    match rng.gen_range(0..40) {
        0..=9 => {
            let mut c = vec![name(rng, "PFADD"), k];
            c.extend((0..rng.gen_range(0..=5)).map(|_| elem(rng)));
            (c, Cmp::Exact)
        }
        10..=13 => {
            let mut c = vec![name(rng, "PFADD"), k];
            c.extend(many(rng));
            (c, Cmp::Exact)
        }
        14..=18 => (vec![name(rng, "PFCOUNT"), k], Cmp::Exact),
        19..=21 => {
            let mut c = vec![name(rng, "PFCOUNT"), k];
            c.extend((0..rng.gen_range(1..=3)).map(|_| key(rng)));
            (c, Cmp::Exact)
        }
        22..=25 => {
            let mut c = vec![name(rng, "PFMERGE"), k];
            c.extend((0..rng.gen_range(0..=3)).map(|_| key(rng)));
            (c, Cmp::Exact)
        }
        26..=30 => (vec![s("GET"), k], Cmp::Exact),
        31 => (vec![s("SET"), k, hll_like(rng)], Cmp::Exact),
        32 => (vec![s("DEL"), k], Cmp::Exact),
        33 => (vec![s("OBJECT"), s("ENCODING"), k], Cmp::Exact),
        34..=35 => (
            vec![
                name(rng, "PFDEBUG"),
                s(pick(
                    rng,
                    &["ENCODING", "DECODE", "decode", "TODENSE", "foo"],
                )),
                k,
            ],
            Cmp::Exact,
        ),
        36 => (vec![name(rng, "PFDEBUG"), s("GETREG"), k], Cmp::Exact),
        37 => (vec![s("EXPIRE"), k, s("1000")], Cmp::Exact),
        // "(" is a ZERO opcode: an opcode ending the string in half an XZERO would make Redis
        // read the byte past the string (see `hll_like`).
        38 => (vec![s("APPEND"), k, s("(")], Cmp::Exact),
        _ => (vec![s("STRLEN"), k], Cmp::Exact),
    }
}
