//! Generator for the bitmap family: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO, valid and invalid, over the shared keys (strings of other families included).
//! Offsets stay under a few thousand bits so values stay small; a few invalid, huge or negative
//! ones check the errors (none large enough to make either server allocate much).

use crate::suite::diff::{name, pick, Cmp};
use crate::{int, key};
use rand::rngs::SmallRng;
use rand::Rng;

/// A bit offset: mostly small, sometimes invalid.
fn offset(rng: &mut SmallRng) -> String {
    match rng.gen_range(0..20) {
        0..=9 => rng.gen_range(0..64).to_string(),
        10..=17 => rng.gen_range(0..2000).to_string(),
        _ => pick(
            rng,
            &[
                "-1",
                "abc",
                "",
                "1.5",
                "4294967296",
                "9223372036854775807",
                "-9223372036854775808",
                "+1",
                "01",
            ],
        )
        .to_string(),
    }
}

/// A BITFIELD offset: plain, `#n`, or invalid.
fn field_offset(rng: &mut SmallRng) -> String {
    match rng.gen_range(0..20) {
        0..=9 => rng.gen_range(0..100).to_string(),
        10..=17 => format!("#{}", rng.gen_range(0..20)),
        _ => pick(
            rng,
            &[
                "-1",
                "#-1",
                "#",
                "#abc",
                "abc",
                "4294967296",
                "#2305843009213693952",
                "#9223372036854775807",
                "1500",
            ],
        )
        .to_string(),
    }
}

/// A BITFIELD type, sometimes invalid.
fn field_type(rng: &mut SmallRng) -> String {
    match rng.gen_range(0..20) {
        0..=18 => {
            let signed = rng.gen_bool(0.5);
            let bits = match rng.gen_range(0..4) {
                0 => rng.gen_range(1..=8),
                1 => pick(rng, &["8", "16", "32"]).parse().unwrap_or(8),
                2 => rng.gen_range(1..=64),
                _ => rng.gen_range(1..=16),
            };
            let bits = if !signed && bits == 64 { 63 } else { bits };
            format!("{}{bits}", if signed { 'i' } else { 'u' })
        }
        _ => pick(
            rng,
            &[
                "u64", "i65", "u0", "i0", "x8", "U8", "I8", "u", "i", "", "u-1", "i08",
            ],
        )
        .to_string(),
    }
}

/// A BITFIELD value or increment.
fn field_value(rng: &mut SmallRng) -> String {
    match rng.gen_range(0..6) {
        0..=2 => rng.gen_range(-300..300).to_string(),
        3 => pick(
            rng,
            &[
                "9223372036854775807",
                "-9223372036854775808",
                "4294967295",
                "-4294967296",
                "127",
                "-128",
                "255",
                "256",
            ],
        )
        .to_string(),
        _ => int(rng),
    }
}

/// A BITCOUNT / BITPOS range bound.
fn bound(rng: &mut SmallRng) -> String {
    if rng.gen_bool(0.85) {
        rng.gen_range(-40..40).to_string()
    } else {
        int(rng)
    }
}

fn unit(rng: &mut SmallRng) -> String {
    pick(rng, &["BIT", "BYTE", "bit", "byte", "Bit", "bits", "x"]).to_string()
}

/// One command of the family.
pub fn command(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    let k = key(rng);
    let s = |x: &str| x.to_string();
    match rng.gen_range(0..40) {
        0..=7 => {
            let bit = if rng.gen_bool(0.9) {
                pick(rng, &["0", "1", "1"])
            } else {
                pick(rng, &["2", "-1", "x", "", "01"])
            };
            (
                vec![name(rng, "SETBIT"), k, offset(rng), s(bit)],
                Cmp::Exact,
            )
        }
        8..=10 => (vec![name(rng, "GETBIT"), k, offset(rng)], Cmp::Exact),
        11..=15 => {
            let mut c = vec![name(rng, "BITCOUNT"), k];
            match rng.gen_range(0..8) {
                0 => {}
                1 => c.push(bound(rng)),
                2..=4 => c.extend([bound(rng), bound(rng)]),
                5..=6 => c.extend([bound(rng), bound(rng), unit(rng)]),
                _ => c.extend([bound(rng), bound(rng), s("BIT"), s("x")]),
            }
            (c, Cmp::Exact)
        }
        16..=20 => {
            let bit = if rng.gen_bool(0.9) {
                pick(rng, &["0", "1"])
            } else {
                pick(rng, &["2", "-1", "x"])
            };
            let mut c = vec![name(rng, "BITPOS"), k, s(bit)];
            match rng.gen_range(0..8) {
                0..=1 => {}
                2..=3 => c.push(bound(rng)),
                4..=5 => c.extend([bound(rng), bound(rng)]),
                6 => c.extend([bound(rng), bound(rng), unit(rng)]),
                _ => c.extend([bound(rng), bound(rng), s("BYTE"), s("x")]),
            }
            (c, Cmp::Exact)
        }
        21..=24 => {
            let op = pick(
                rng,
                &["AND", "OR", "XOR", "NOT", "and", "Or", "xor", "not", "NAND"],
            );
            let n = if op.eq_ignore_ascii_case("not") && rng.gen_bool(0.8) {
                1
            } else {
                rng.gen_range(1..=3)
            };
            let mut c = vec![name(rng, "BITOP"), s(op), key(rng)];
            c.extend((0..n).map(|_| key(rng)));
            (c, Cmp::Exact)
        }
        25..=33 => {
            let ro = rng.gen_bool(0.2);
            let mut c = vec![
                if ro {
                    name(rng, "BITFIELD_RO")
                } else {
                    name(rng, "BITFIELD")
                },
                k,
            ];
            for _ in 0..rng.gen_range(0..=4) {
                match rng.gen_range(0..20) {
                    0..=5 => c.extend([s("GET"), field_type(rng), field_offset(rng)]),
                    6..=9 if !ro || rng.gen_bool(0.2) => c.extend([
                        s(pick(rng, &["SET", "set"])),
                        field_type(rng),
                        field_offset(rng),
                        field_value(rng),
                    ]),
                    10..=14 if !ro || rng.gen_bool(0.2) => c.extend([
                        s(pick(rng, &["INCRBY", "incrby"])),
                        field_type(rng),
                        field_offset(rng),
                        field_value(rng),
                    ]),
                    15..=17 => c.extend([
                        s("OVERFLOW"),
                        s(pick(
                            rng,
                            &["WRAP", "SAT", "FAIL", "wrap", "sat", "fail", "x"],
                        )),
                    ]),
                    18 => c.push(s(pick(rng, &["GET", "SET", "INCRBY", "OVERFLOW", "FOO"]))),
                    _ => c.extend([s("GET"), field_type(rng), field_offset(rng)]),
                }
            }
            (c, Cmp::Exact)
        }
        34 => (
            vec![
                s("SET"),
                k,
                s(pick(
                    rng,
                    &[
                        "foobar",
                        "123",
                        "-5",
                        "",
                        "\x00\x01\x7f",
                        "`",
                        "a longer string value",
                    ],
                )),
            ],
            Cmp::Exact,
        ),
        35 => (vec![s("EXPIRE"), k, s("1000")], Cmp::Exact),
        36..=37 => (vec![s("GET"), k], Cmp::Exact),
        38 => (vec![s("OBJECT"), s("ENCODING"), k], Cmp::Exact),
        _ => (vec![s("STRLEN"), k], Cmp::Exact),
    }
}
