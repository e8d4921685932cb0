//! Generator for the geo family: GEOADD, GEOPOS, GEOHASH, GEODIST, GEOSEARCH, GEOSEARCHSTORE,
//! GEORADIUS, GEORADIUSBYMEMBER and the _RO variants, with valid and invalid arguments over
//! the shared keys (so geo sets meet plain sorted sets with scores that are not geohashes,
//! missing keys and keys of other types).
//!
//! Coordinates come from a pool of real places (some nudged at random, some repeated exactly so
//! distances tie) plus the edges of the valid range and invalid pairs; radii and boxes come in
//! every unit. Replies whose order Redis defines (ASC/DESC, or COUNT without ANY, which sorts)
//! are compared exactly, ties included; unsorted searches as multisets.

use crate::suite::diff::{name, pick, Cmp};
use crate::{elem, key};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::Rng;

/// Real places (longitude, latitude), the edges of the valid range, and a duplicate.
const PLACES: &[(&str, &str)] = &[
    ("13.361389", "38.115556"), // Palermo
    ("15.087269", "37.502669"), // Catania
    ("2.3522", "48.8566"),      // Paris
    ("-0.1276", "51.5072"),     // London
    ("-74.006", "40.7128"),     // New York
    ("139.6917", "35.6895"),    // Tokyo
    ("151.2093", "-33.8688"),   // Sydney
    ("-43.1729", "-22.9068"),   // Rio
    ("12.4964", "41.9028"),     // Rome
    ("-122.4194", "37.7749"),   // San Francisco
    ("18.4241", "-33.9249"),    // Cape Town
    ("25.7482", "66.5039"),     // Rovaniemi (above 66)
    ("-68.3", "-82.5"),         // Antarctica (below -80)
    ("0", "0"),
    ("13.361389", "38.115556"), // Palermo again
    ("180", "85.05112878"),
    ("-180", "-85.05112878"),
    ("179.99", "0.5"),
    ("-179.99", "-0.5"),
];

/// Invalid coordinate pairs (out of range, or not numbers).
const BAD_COORDS: &[(&str, &str)] = &[
    ("200", "100"),
    ("-180.5", "0"),
    ("0", "85.06"),
    ("0", "-86"),
    ("abc", "1"),
    ("1", ""),
    ("inf", "0"),
    ("nan", "0"),
    ("1e400", "0"),
    (" 1", "2"),
];

const UNITS: &[&str] = &["m", "km", "ft", "mi", "M", "KM", "Mi", "fT", "km", "km"];
const BAD_UNITS: &[&str] = &["", "meters", "kmm", "k", "m\0"];
const RADII: &[&str] = &[
    "0", "1", "10", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "20000", "0.5",
    "1e3", "-0", "300",
];
const BAD_RADII: &[&str] = &["-1", "abc", "", "nan", "-0.5", "1e400"];

/// Members: the shared elements, or place names (bigger sets).
const NAMES: &[&str] = &[
    "Palermo", "Catania", "Paris", "London", "NYC", "Tokyo", "Sydney", "Rio", "Rome", "SF", "Cape",
    "North", "South",
];

/// Keys geo commands favour, so geo sets grow there (any shared key otherwise).
const GEO_KEYS: &[&str] = &["a", "b", "{t}1", "{t}2", "d"];

/// The sorted set generator's lex keys: it resets their scores to 0 before a lex range, which
/// may run steps later, so no geo command writes there.
const LEX_KEYS: &[&str] = &["k1", "k2"];

fn s(x: &str) -> String {
    x.to_string()
}

/// Destinations of STORE options: mostly keys outside `GEO_KEYS`, so searches keep sources.
const DSTS: &[&str] = &["dst", "{t}dst", "c", "{t}3"];

/// Any shared key but the lex keys.
fn write_key(rng: &mut SmallRng) -> String {
    loop {
        let k = key(rng);
        if !LEX_KEYS.contains(&k.as_str()) {
            return k;
        }
    }
}

fn dst_key(rng: &mut SmallRng) -> String {
    if rng.gen_ratio(6, 7) {
        s(pick(rng, DSTS))
    } else {
        write_key(rng)
    }
}

/// A key to read from (any shared key, mostly one of `GEO_KEYS`).
fn geo_key(rng: &mut SmallRng) -> String {
    if rng.gen_ratio(3, 4) {
        s(pick(rng, GEO_KEYS))
    } else {
        key(rng)
    }
}

/// A key to add to.
fn add_key(rng: &mut SmallRng) -> String {
    if rng.gen_ratio(3, 4) {
        s(pick(rng, GEO_KEYS))
    } else {
        write_key(rng)
    }
}

/// A member: mostly a place name (so lookups find it), else a shared element.
fn member(rng: &mut SmallRng) -> String {
    if rng.gen_ratio(7, 10) {
        s(pick(rng, NAMES))
    } else {
        elem(rng)
    }
}

/// A valid coordinate pair, sometimes nudged.
fn coords(rng: &mut SmallRng) -> (String, String) {
    let (lon, lat) = PLACES[rng.gen_range(0..PLACES.len())];
    if rng.gen_ratio(1, 3) {
        let lon: f64 = lon.parse().unwrap_or(0.0);
        let lat: f64 = lat.parse().unwrap_or(0.0);
        let lon = (lon + rng.gen_range(-2.0..2.0)).clamp(-180.0, 180.0);
        let lat = (lat + rng.gen_range(-1.0..1.0)).clamp(-85.0, 85.0);
        (format!("{lon:.5}"), format!("{lat:.5}"))
    } else {
        (s(lon), s(lat))
    }
}

/// A coordinate pair, sometimes invalid.
fn any_coords(rng: &mut SmallRng) -> (String, String) {
    if rng.gen_ratio(1, 25) {
        let (lon, lat) = BAD_COORDS[rng.gen_range(0..BAD_COORDS.len())];
        (s(lon), s(lat))
    } else {
        coords(rng)
    }
}

fn unit(rng: &mut SmallRng) -> String {
    if rng.gen_ratio(1, 40) {
        s(pick(rng, BAD_UNITS))
    } else {
        s(pick(rng, UNITS))
    }
}

fn radius(rng: &mut SmallRng) -> String {
    if rng.gen_ratio(1, 40) {
        s(pick(rng, BAD_RADII))
    } else {
        s(pick(rng, RADII))
    }
}

fn count(rng: &mut SmallRng) -> String {
    if rng.gen_ratio(1, 20) {
        s(pick(rng, &["0", "-1", "abc", ""]))
    } else {
        s(pick(rng, &["1", "2", "3", "5", "10", "100"]))
    }
}

/// GEOADD key [NX|XX] [CH] lon lat member ...
fn geoadd(rng: &mut SmallRng) -> Vec<String> {
    let mut c = vec![name(rng, "GEOADD"), add_key(rng)];
    for _ in 0..rng.gen_range(0..=2) {
        let o = if rng.gen_ratio(1, 10) {
            pick(rng, &["NX", "XX", "nx", "xx"])
        } else {
            pick(rng, &["CH", "ch", "NX", "XX"])
        };
        if (o.eq_ignore_ascii_case("nx") || o.eq_ignore_ascii_case("xx")) && rng.gen_ratio(3, 4) {
            let other = if o.eq_ignore_ascii_case("nx") {
                "xx"
            } else {
                "nx"
            };
            if c.iter().any(|a| a.eq_ignore_ascii_case(other)) {
                continue;
            }
        }
        c.push(s(o));
    }
    for _ in 0..rng.gen_range(1..=4) {
        let (lon, lat) = any_coords(rng);
        c.extend([lon, lat, member(rng)]);
    }
    if rng.gen_ratio(1, 30) {
        // A trailing partial element.
        let (lon, _) = coords(rng);
        c.push(lon);
    }
    c
}

/// The WITH* flags, ordering and COUNT options of a search, as groups of arguments; whether
/// the reply's order is defined (a sort was asked for, or COUNT without ANY sorts).
fn options(rng: &mut SmallRng, groups: &mut Vec<Vec<String>>, with: bool) -> bool {
    let mut sorted = false;
    if with || rng.gen_ratio(1, 20) {
        for w in ["WITHCOORD", "WITHDIST", "WITHHASH"] {
            if rng.gen_ratio(2, 5) {
                groups.push(vec![name(rng, w)]);
            }
        }
    }
    if rng.gen_bool(0.5) {
        groups.push(vec![s(pick(rng, &["ASC", "DESC", "asc", "desc"]))]);
        sorted = true;
    }
    if rng.gen_ratio(2, 5) {
        let mut g = vec![name(rng, "COUNT"), count(rng)];
        let any = rng.gen_ratio(1, 3);
        if any {
            g.push(name(rng, "ANY"));
        }
        groups.push(g);
        sorted |= !any;
    } else if rng.gen_ratio(1, 40) {
        groups.push(vec![s("ANY")]);
    }
    if rng.gen_ratio(1, 40) {
        groups.push(vec![s(pick(rng, &["COUNT", "FOO", "STORE", "WITHCOORDS"]))]);
    }
    sorted
}

fn flatten(c: &mut Vec<String>, groups: Vec<Vec<String>>) {
    for g in groups {
        c.extend(g);
    }
}

fn cmp_for(sorted: bool) -> Cmp {
    if sorted {
        Cmp::Exact
    } else {
        Cmp::Unordered
    }
}

/// GEOSEARCH / GEOSEARCHSTORE.
fn geosearch(rng: &mut SmallRng, store: bool) -> (Vec<String>, Cmp) {
    let mut c = if store {
        vec![name(rng, "GEOSEARCHSTORE"), dst_key(rng), geo_key(rng)]
    } else {
        vec![name(rng, "GEOSEARCH"), geo_key(rng)]
    };
    let mut groups: Vec<Vec<String>> = vec![];
    let from_member = rng.gen_bool(0.5);
    if from_member || rng.gen_ratio(1, 30) {
        groups.push(vec![name(rng, "FROMMEMBER"), member(rng)]);
    }
    if !from_member || rng.gen_ratio(1, 30) {
        let (lon, lat) = any_coords(rng);
        groups.push(vec![name(rng, "FROMLONLAT"), lon, lat]);
    }
    if rng.gen_ratio(1, 40) {
        groups.pop();
    }
    let by_radius = rng.gen_bool(0.5);
    if by_radius || rng.gen_ratio(1, 30) {
        groups.push(vec![name(rng, "BYRADIUS"), radius(rng), unit(rng)]);
    }
    if !by_radius || rng.gen_ratio(1, 30) {
        groups.push(vec![
            name(rng, "BYBOX"),
            radius(rng),
            radius(rng),
            unit(rng),
        ]);
    }
    if rng.gen_ratio(1, 40) {
        groups.pop();
    }
    let sorted = options(rng, &mut groups, !store);
    if store && rng.gen_bool(0.4) {
        groups.push(vec![name(rng, "STOREDIST")]);
    }
    if rng.gen_ratio(1, 3) {
        groups.shuffle(rng);
    }
    flatten(&mut c, groups);
    (c, cmp_for(sorted))
}

/// GEORADIUS[_RO] / GEORADIUSBYMEMBER[_RO].
fn georadius(rng: &mut SmallRng, by_member: bool) -> (Vec<String>, Cmp) {
    let ro = rng.gen_ratio(1, 3);
    let cmd = match (by_member, ro) {
        (false, false) => "GEORADIUS",
        (false, true) => "GEORADIUS_RO",
        (true, false) => "GEORADIUSBYMEMBER",
        (true, true) => "GEORADIUSBYMEMBER_RO",
    };
    let mut c = vec![name(rng, cmd), geo_key(rng)];
    if by_member {
        c.push(member(rng));
    } else {
        let (lon, lat) = any_coords(rng);
        c.extend([lon, lat]);
    }
    c.extend([radius(rng), unit(rng)]);
    let store = !ro && rng.gen_ratio(1, 3) || rng.gen_ratio(1, 40);
    let mut groups: Vec<Vec<String>> = vec![];
    let sorted = options(rng, &mut groups, !store);
    if store {
        let which = if rng.gen_bool(0.5) {
            "STORE"
        } else {
            "STOREDIST"
        };
        groups.push(vec![name(rng, which), dst_key(rng)]);
    }
    if rng.gen_ratio(1, 3) {
        groups.shuffle(rng);
    }
    flatten(&mut c, groups);
    (c, cmp_for(sorted))
}

/// One command of the family.
pub fn command(rng: &mut SmallRng) -> (Vec<String>, Cmp) {
    match rng.gen_range(0..100) {
        0..=24 => (geoadd(rng), Cmp::Exact),
        25..=32 => {
            let mut c = vec![name(rng, "GEOPOS"), geo_key(rng)];
            c.extend((0..rng.gen_range(0..=4)).map(|_| member(rng)));
            (c, Cmp::Exact)
        }
        33..=38 => {
            let mut c = vec![name(rng, "GEOHASH"), geo_key(rng)];
            c.extend((0..rng.gen_range(0..=4)).map(|_| member(rng)));
            (c, Cmp::Exact)
        }
        39..=46 => {
            let mut c = vec![name(rng, "GEODIST"), geo_key(rng), member(rng), member(rng)];
            if rng.gen_bool(0.6) {
                c.push(unit(rng));
            }
            if rng.gen_ratio(1, 30) {
                c.push(s("km"));
            }
            (c, Cmp::Exact)
        }
        47..=66 => geosearch(rng, false),
        67..=74 => geosearch(rng, true),
        75..=85 => georadius(rng, false),
        86..=96 => georadius(rng, true),
        _ => {
            // Scores that are not geohashes: decoded as Redis decodes them.
            let score = pick(
                rng,
                &[
                    "-1.5",
                    "1e300",
                    "inf",
                    "-inf",
                    "3.5",
                    "4503599627370496",
                    "3479099956230698",
                    "3479099956230698.5",
                    "123456789",
                    "9223372036854775808",
                ],
            );
            (
                vec![name(rng, "ZADD"), add_key(rng), s(score), member(rng)],
                Cmp::Exact,
            )
        }
    }
}
