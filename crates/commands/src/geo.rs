//! The geo family: GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH, GEOSEARCHSTORE, GEORADIUS,
//! GEORADIUSBYMEMBER and their read-only variants.
//!
//! A geo set is a sorted set whose scores are 52-bit interleaved geohashes. This is a port of
//! Redis 7.0's geohash.c, geohash_helper.c and geo.c: the same floating point operations in the
//! same order (so distances and coordinates print identically), the same 9-box neighbour search
//! (whose order decides what COUNT ANY returns), the same sorts (glibc's stable merge sort for a
//! full sort, Redis's pqsort for a COUNT-limited one, which decide the order of ties) and the
//! same errors, checked in the same order. Scores that are not geohashes (written by ZADD) are
//! decoded as Redis does on x86-64, through C's double to integer conversions.

use crate::ctx::{err, Ctx};
use crate::registry::{Cross, Handler};
use shoal_data::dict::Elem;
use shoal_data::events as ev;
use shoal_data::numeric::parse_i64;
use shoal_data::zset::{parse_score, AddFlags, AddOutcome, ScoreRange, ZSet};
use shoal_data::{Value, ValueType};
use shoal_protocol::{Args, Protocol, Reply};
use smallvec::SmallVec;

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[
    ("geoadd", Handler::Shard(geoadd), Cross::Local),
    ("geodist", Handler::Shard(geodist), Cross::Local),
    ("geohash", Handler::Shard(geohash), Cross::Local),
    ("geopos", Handler::Shard(geopos), Cross::Local),
    ("geosearch", Handler::Shard(geosearch), Cross::Local),
    (
        "geosearchstore",
        Handler::Shard(geosearchstore),
        Cross::Gather,
    ),
    ("georadius", Handler::Shard(georadius), Cross::Gather),
    (
        "georadiusbymember",
        Handler::Shard(georadiusbymember),
        Cross::Gather,
    ),
    ("georadius_ro", Handler::Shard(georadius_ro), Cross::Local),
    (
        "georadiusbymember_ro",
        Handler::Shard(georadiusbymember_ro),
        Cross::Local,
    ),
];

// ---------------------------------------------------------------------------------------------
// geohash.c
// ---------------------------------------------------------------------------------------------

const GEO_STEP_MAX: u8 = 26;
const GEO_LAT_MIN: f64 = -85.05112878;
const GEO_LAT_MAX: f64 = 85.05112878;
const GEO_LONG_MIN: f64 = -180.0;
const GEO_LONG_MAX: f64 = 180.0;

/// A geohash of `step` bits per coordinate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct HashBits {
    bits: u64,
    step: u8,
}

impl HashBits {
    /// Redis's HASHISZERO.
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Range {
    min: f64,
    max: f64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Area {
    longitude: Range,
    latitude: Range,
}

#[derive(Clone, Copy, Debug, Default)]
struct Neighbors {
    north: HashBits,
    east: HashBits,
    west: HashBits,
    south: HashBits,
    north_east: HashBits,
    south_east: HashBits,
    north_west: HashBits,
    south_west: HashBits,
}

const LONG_RANGE: Range = Range {
    min: GEO_LONG_MIN,
    max: GEO_LONG_MAX,
};
const LAT_RANGE: Range = Range {
    min: GEO_LAT_MIN,
    max: GEO_LAT_MAX,
};

/// Interleaves the low 32 bits of x (even positions) and y (odd positions).
fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let mut x = xlo as u64;
    let mut y = ylo as u64;
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

/// The inverse of [`interleave64`]: even bits in the low half, odd bits in the high half.
fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// C's conversion of a double to uint32_t for a value the caller keeps in range.
fn c_u32(v: f64) -> u32 {
    v as u32
}

/// geohashEncode: None where Redis returns 0 (leaving the hash unset).
fn encode(long_range: Range, lat_range: Range, lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(GEO_LONG_MIN..=GEO_LONG_MAX).contains(&lon) || !(GEO_LAT_MIN..=GEO_LAT_MAX).contains(&lat)
    {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < long_range.min || lon > long_range.max {
        return None;
    }
    let mut lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (lon - long_range.min) / (long_range.max - long_range.min);
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    Some(HashBits {
        bits: interleave64(c_u32(lat_offset), c_u32(long_offset)),
        step,
    })
}

/// geohashEncodeWGS84.
fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    encode(LONG_RANGE, LAT_RANGE, lon, lat, step)
}

/// geohashDecode: None for a zero hash.
fn decode(long_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let step = hash.step;
    let hash_sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = hash_sep as u32;
    let ilono = (hash_sep >> 32) as u32;
    let div = (1u64 << step) as f64;
    Some(Area {
        latitude: Range {
            min: lat_range.min + (ilato as f64 * 1.0 / div) * lat_scale,
            max: lat_range.min + (ilato.wrapping_add(1) as f64 * 1.0 / div) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (ilono as f64 * 1.0 / div) * long_scale,
            max: long_range.min + (ilono.wrapping_add(1) as f64 * 1.0 / div) * long_scale,
        },
    })
}

/// geohashDecodeAreaToLongLat: the centre of the area, clamped to the valid range.
fn area_to_lonlat(area: &Area) -> [f64; 2] {
    // (Redis's two comparisons; the centre is never NaN.)
    let x = ((area.longitude.min + area.longitude.max) / 2.0).clamp(GEO_LONG_MIN, GEO_LONG_MAX);
    let y = ((area.latitude.min + area.latitude.max) / 2.0).clamp(GEO_LAT_MIN, GEO_LAT_MAX);
    [x, y]
}

/// geohashDecodeToLongLatWGS84.
fn decode_to_lonlat(hash: HashBits) -> Option<[f64; 2]> {
    decode(LONG_RANGE, LAT_RANGE, hash).map(|a| area_to_lonlat(&a))
}

fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> (64 - hash.step as u32 * 2);
    if d > 0 {
        x = x.wrapping_add(zz.wrapping_add(1));
    } else {
        x |= zz;
        x = x.wrapping_sub(zz.wrapping_add(1));
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> (64 - hash.step as u32 * 2);
    hash.bits = x | y;
}

fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> (64 - hash.step as u32 * 2);
    if d > 0 {
        y = y.wrapping_add(zz.wrapping_add(1));
    } else {
        y |= zz;
        y = y.wrapping_sub(zz.wrapping_add(1));
    }
    y &= 0x5555555555555555u64 >> (64 - hash.step as u32 * 2);
    hash.bits = x | y;
}

/// geohashNeighbors.
fn neighbors_of(hash: &HashBits) -> Neighbors {
    let moved = |dx: i8, dy: i8| {
        let mut h = *hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    Neighbors {
        east: moved(1, 0),
        west: moved(-1, 0),
        south: moved(0, -1),
        north: moved(0, 1),
        north_west: moved(-1, 1),
        north_east: moved(1, 1),
        south_east: moved(1, -1),
        south_west: moved(-1, -1),
    }
}

// ---------------------------------------------------------------------------------------------
// geohash_helper.c
// ---------------------------------------------------------------------------------------------

const D_R: f64 = std::f64::consts::PI / 180.0;
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

#[inline]
fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

#[inline]
fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// The search area: a circle or an axis-aligned box around a centre.
#[derive(Clone, Copy, Debug, Default)]
struct Shape {
    /// Centre: longitude, latitude.
    xy: [f64; 2],
    /// Meters per unit.
    conversion: f64,
    kind: ShapeKind,
}

#[derive(Clone, Copy, Debug)]
enum ShapeKind {
    Circle { radius: f64 },
    Box { width: f64, height: f64 },
}

impl Default for ShapeKind {
    fn default() -> Self {
        ShapeKind::Circle { radius: 0.0 }
    }
}

/// geohashEstimateStepsByRadius.
fn estimate_steps_by_radius(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// geohashBoundingBox: [min_lon, min_lat, max_lon, max_lat].
fn bounding_box(shape: &Shape) -> [f64; 4] {
    let longitude = shape.xy[0];
    let latitude = shape.xy[1];
    let (height, width) = match shape.kind {
        ShapeKind::Circle { radius } => (shape.conversion * radius, shape.conversion * radius),
        ShapeKind::Box { width, height } => (
            shape.conversion * (height / 2.0),
            shape.conversion * (width / 2.0),
        ),
    };
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
    let southern = latitude < 0.0;
    [
        if southern {
            longitude - long_delta_bottom
        } else {
            longitude - long_delta_top
        },
        latitude - lat_delta,
        if southern {
            longitude + long_delta_bottom
        } else {
            longitude + long_delta_top
        },
        latitude + lat_delta,
    ]
}

/// The boxes to search: the centre box and its eight neighbours (zero where useless).
struct SearchArea {
    hash: HashBits,
    neighbors: Neighbors,
}

/// geohashCalculateAreasByShapeWGS84.
fn areas_by_shape(shape: &Shape) -> SearchArea {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let longitude = shape.xy[0];
    let latitude = shape.xy[1];
    let mut radius_meters = match shape.kind {
        ShapeKind::Circle { radius } => radius,
        ShapeKind::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    };
    radius_meters *= shape.conversion;
    let mut steps = estimate_steps_by_radius(radius_meters, latitude);
    let at = |steps: u8| {
        let hash = encode(LONG_RANGE, LAT_RANGE, longitude, latitude, steps).unwrap_or_default();
        let neighbors = neighbors_of(&hash);
        let area = decode(LONG_RANGE, LAT_RANGE, hash).unwrap_or_default();
        (hash, neighbors, area)
    };
    let (mut hash, mut neighbors, mut area) = at(steps);
    let dec = |h: HashBits| decode(LONG_RANGE, LAT_RANGE, h).unwrap_or_default();
    let north = dec(neighbors.north);
    let south = dec(neighbors.south);
    let east = dec(neighbors.east);
    let west = dec(neighbors.west);
    let decrease_step = north.latitude.max < max_lat
        || south.latitude.min > min_lat
        || east.longitude.max < max_lon
        || west.longitude.min > min_lon;
    if steps > 1 && decrease_step {
        steps -= 1;
        (hash, neighbors, area) = at(steps);
    }
    if steps >= 2 {
        let zero = HashBits::default();
        if area.latitude.min < min_lat {
            neighbors.south = zero;
            neighbors.south_west = zero;
            neighbors.south_east = zero;
        }
        if area.latitude.max > max_lat {
            neighbors.north = zero;
            neighbors.north_east = zero;
            neighbors.north_west = zero;
        }
        if area.longitude.min < min_lon {
            neighbors.west = zero;
            neighbors.south_west = zero;
            neighbors.north_west = zero;
        }
        if area.longitude.max > max_lon {
            neighbors.east = zero;
            neighbors.south_east = zero;
            neighbors.north_east = zero;
        }
    }
    SearchArea { hash, neighbors }
}

/// geohashAlign52Bits.
fn align52(hash: HashBits) -> u64 {
    hash.bits << (52 - hash.step as u32 * 2)
}

/// geohashGetLatDistance.
fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// geohashGetDistance: the haversine great circle distance in meters.
fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// geohashGetDistanceIfInRectangle.
fn distance_if_in_rectangle(
    width_m: f64,
    height_m: f64,
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
) -> Option<f64> {
    if lat_distance(y2, y1) > height_m / 2.0 {
        return None;
    }
    if distance(x2, y2, x1, y2) > width_m / 2.0 {
        return None;
    }
    Some(distance(x1, y1, x2, y2))
}

// ---------------------------------------------------------------------------------------------
// C conversions and Redis's number formats
// ---------------------------------------------------------------------------------------------

const TWO63: f64 = 9223372036854775808.0;

/// x86-64's cvttsd2si: truncation, or i64::MIN for NaN and values out of range (C's
/// `(long long)` of a double).
fn c_i64(v: f64) -> i64 {
    if !(-TWO63..TWO63).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// C's `(uint64_t)` of a double as gcc compiles it on x86-64.
fn c_u64(v: f64) -> u64 {
    if v >= TWO63 {
        (c_i64(v - TWO63) as u64) ^ (1u64 << 63)
    } else {
        c_i64(v) as u64
    }
}

/// Redis's decodeGeohash: the coordinates a score stands for.
fn decode_score(score: f64) -> Option<[f64; 2]> {
    decode_to_lonlat(HashBits {
        bits: c_u64(score),
        step: GEO_STEP_MAX,
    })
}

/// llrint in the default rounding mode (i64::MIN when out of range).
fn llrint(x: f64) -> i64 {
    if !(-TWO63..TWO63).contains(&x) {
        i64::MIN
    } else {
        x.round_ties_even() as i64
    }
}

/// Redis's fixedpoint_d2string(d, 4), used for distances.
fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    let sv = llrint(d * 10000.0);
    let value = sv.unsigned_abs();
    let mut digits = value.to_string();
    while digits.len() < 5 {
        digits.insert(0, '0');
    }
    let (int, frac) = digits.split_at(digits.len() - 4);
    format!("{}{int}.{frac}", if sv < 0 { "-" } else { "" })
}

/// ld2string(LD_STR_HUMAN) of a double: `%.17Lf` without trailing zeros.
fn format_human(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let mut s = format!("{d:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// addReplyHumanLongDouble.
fn reply_human(reply: &mut Reply<'_>, d: f64) {
    let s = format_human(d);
    match reply.protocol() {
        Protocol::Resp2 => reply.bulk(s.as_bytes()),
        Protocol::Resp3 => {
            reply.raw(b",");
            reply.raw(s.as_bytes());
            reply.raw(b"\r\n");
        }
    }
}

/// strcasecmp of an argument (a C string: up to its first NUL) with a lower-case literal.
fn c_eq(arg: &[u8], lit: &str) -> bool {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    arg[..end].eq_ignore_ascii_case(lit.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Argument helpers (geo.c)
// ---------------------------------------------------------------------------------------------

/// extractLongLatOrReply.
fn parse_lonlat(reply: &mut Reply<'_>, lon: &[u8], lat: &[u8]) -> Option<[f64; 2]> {
    let mut xy = [0.0; 2];
    for (i, a) in [lon, lat].into_iter().enumerate() {
        match parse_score(a) {
            Some(v) => xy[i] = v,
            None => {
                reply.error(err::NOT_FLOAT);
                return None;
            }
        }
    }
    if xy[0] < GEO_LONG_MIN || xy[0] > GEO_LONG_MAX || xy[1] < GEO_LAT_MIN || xy[1] > GEO_LAT_MAX {
        reply.error(&format!(
            "ERR invalid longitude,latitude pair {:.6},{:.6}",
            xy[0], xy[1]
        ));
        return None;
    }
    Some(xy)
}

/// extractUnitOrReply: meters per unit.
fn parse_unit(reply: &mut Reply<'_>, u: &[u8]) -> Option<f64> {
    if c_eq(u, "m") {
        Some(1.0)
    } else if c_eq(u, "km") {
        Some(1000.0)
    } else if c_eq(u, "ft") {
        Some(0.3048)
    } else if c_eq(u, "mi") {
        Some(1609.34)
    } else {
        reply.error("ERR unsupported unit provided. please use M, KM, FT, MI");
        None
    }
}

/// extractDistanceOrReply: (radius, conversion).
fn parse_distance(reply: &mut Reply<'_>, r: &[u8], unit: &[u8]) -> Option<(f64, f64)> {
    let Some(d) = parse_score(r) else {
        reply.error("ERR need numeric radius");
        return None;
    };
    if d < 0.0 {
        reply.error("ERR radius cannot be negative");
        return None;
    }
    let conv = parse_unit(reply, unit)?;
    Some((d, conv))
}

/// extractBoxOrReply: (width, height, conversion).
fn parse_box(reply: &mut Reply<'_>, w: &[u8], h: &[u8], unit: &[u8]) -> Option<(f64, f64, f64)> {
    let Some(w) = parse_score(w) else {
        reply.error("ERR need numeric width");
        return None;
    };
    let Some(h) = parse_score(h) else {
        reply.error("ERR need numeric height");
        return None;
    };
    if h < 0.0 || w < 0.0 {
        reply.error("ERR height or width cannot be negative");
        return None;
    }
    let conv = parse_unit(reply, unit)?;
    Some((w, h, conv))
}

/// The sorted set at `key` without statistics or type errors (None for another type): for
/// second looks at a key already read with [`Ctx::read_typed`].
fn peek<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Option<&'c ZSet> {
    let (now, slot, db) = (ctx.now_ms, ctx.slot_of(key), ctx.db);
    match ctx.keyspace.db(db).get_mut_in(slot, key, now) {
        Some(e) => match e.value() {
            Value::ZSet(z) => Some(z),
            _ => None,
        },
        None => None,
    }
}

/// Reads `key` as a sorted set (counting a hit or miss): Err once WRONGTYPE was replied,
/// Ok(true) when it exists.
fn exists_typed(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<bool, ()> {
    ctx.read_typed(key, ValueType::ZSet).map(|e| e.is_some())
}

// ---------------------------------------------------------------------------------------------
// GEOADD
// ---------------------------------------------------------------------------------------------

/// GEOADD key [NX|XX] [CH] longitude latitude member [longitude latitude member ...]
pub fn geoadd(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut longidx = 2;
    while longidx < args.len() {
        let o = args.get(longidx);
        if c_eq(o, "nx") {
            nx = true;
        } else if c_eq(o, "xx") {
            xx = true;
        } else if c_eq(o, "ch") {
            ch = true;
        } else {
            break;
        }
        longidx += 1;
    }
    if !(args.len() - longidx).is_multiple_of(3) || (xx && nx) {
        return ctx.reply.error(err::SYNTAX);
    }
    let elements = (args.len() - longidx) / 3;
    let mut scores: SmallVec<[f64; 8]> = SmallVec::with_capacity(elements);
    for i in 0..elements {
        let at = longidx + i * 3;
        let Some(xy) = parse_lonlat(&mut ctx.reply, args.get(at), args.get(at + 1)) else {
            return;
        };
        let bits = encode_wgs84(xy[0], xy[1], GEO_STEP_MAX)
            .map(align52)
            .unwrap_or(0);
        scores.push(bits as f64);
    }
    // What follows is ZADD's (geoadd hands the scores to zaddCommand).
    if elements == 0 {
        return ctx.reply.error(err::SYNTAX);
    }
    let key = args.get(1);
    let limits = ctx.settings.limits;
    let exists = match ctx.write_typed(key, ValueType::ZSet) {
        Err(()) => return,
        Ok(e) => e.is_some(),
    };
    if !exists {
        if xx {
            return ctx.reply.int(0);
        }
        let first = args.get(longidx + 2).len();
        let (now, slot, db) = (ctx.now_ms, ctx.slot_of(key), ctx.db);
        let z = ZSet::for_first_member(first, &limits);
        ctx.keyspace
            .db(db)
            .insert_in(slot, key, Value::ZSet(z), 0, now);
    }
    let f = AddFlags {
        nx,
        xx,
        ..AddFlags::default()
    };
    let (mut added, mut updated) = (0i64, 0i64);
    let (now, slot, db) = (ctx.now_ms, ctx.slot_of(key), ctx.db);
    if let Some(e) = ctx.keyspace.db(db).get_mut_in(slot, key, now) {
        if let Value::ZSet(z) = e.value_mut() {
            for (i, &s) in scores.iter().enumerate() {
                match z.add(s, args.get(longidx + i * 3 + 2), f, &limits) {
                    AddOutcome::Added(_) => added += 1,
                    AddOutcome::Updated(_) => updated += 1,
                    _ => {}
                }
            }
        }
    }
    if added > 0 {
        ctx.signal_ready(key);
    }
    if added + updated > 0 {
        ctx.notify(ev::ZSET, "zadd", key);
    } else {
        // Nothing added to a set created for it (XX on a missing key): Redis never made it.
        let now = ctx.now_ms;
        let db = ctx.db();
        if db
            .get_mut(key, now)
            .is_some_and(|e| e.is_empty_collection())
        {
            db.remove(key, now);
        }
    }
    ctx.dirty((added + updated) as u64);
    ctx.reply.int(if ch { added + updated } else { added });
}

// ---------------------------------------------------------------------------------------------
// GEODIST, GEOHASH, GEOPOS
// ---------------------------------------------------------------------------------------------

/// GEODIST key member1 member2 [M|KM|FT|MI]
pub fn geodist(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let mut to_meter = 1.0;
    if args.len() == 5 {
        match parse_unit(&mut ctx.reply, args.get(4)) {
            Some(u) => to_meter = u,
            None => return,
        }
    } else if args.len() > 5 {
        return ctx.reply.error(err::SYNTAX);
    }
    let key = args.get(1);
    match exists_typed(ctx, key) {
        Err(()) => return,
        Ok(false) => return ctx.reply.null(),
        Ok(true) => {}
    }
    let (s1, s2) = match peek(ctx, key) {
        Some(z) => (z.score(args.get(2)), z.score(args.get(3))),
        None => (None, None),
    };
    let (Some(s1), Some(s2)) = (s1, s2) else {
        return ctx.reply.null();
    };
    match (decode_score(s1), decode_score(s2)) {
        (Some(a), Some(b)) => {
            let d = distance(a[0], a[1], b[0], b[1]) / to_meter;
            ctx.reply.bulk(format_distance(d).as_bytes());
        }
        _ => ctx.reply.null(),
    }
}

/// The scores of the members named from argument 2 on (None for missing ones); Err once
/// WRONGTYPE was replied.
fn member_scores(ctx: &mut Ctx<'_>, args: &Args<'_>) -> Result<Vec<Option<f64>>, ()> {
    let key = args.get(1);
    let exists = exists_typed(ctx, key)?;
    let z = if exists { peek(ctx, key) } else { None };
    Ok(args
        .iter_from(2)
        .map(|m| z.as_ref().and_then(|z| z.score(m)))
        .collect())
}

/// GEOHASH key [member ...]
pub fn geohash(ctx: &mut Ctx<'_>, args: Args<'_>) {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let Ok(scores) = member_scores(ctx, &args) else {
        return;
    };
    let reply = &mut ctx.reply;
    reply.array(scores.len());
    for s in scores {
        let Some(xy) = s.and_then(decode_score) else {
            reply.null();
            continue;
        };
        let r = [
            Range {
                min: -180.0,
                max: 180.0,
            },
            Range {
                min: -90.0,
                max: 90.0,
            },
        ];
        let bits = encode(r[0], r[1], xy[0], xy[1], 26)
            .map(|h| h.bits)
            .unwrap_or(0);
        let mut buf = [b'0'; 11];
        for (i, c) in buf.iter_mut().enumerate().take(10) {
            let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
            *c = ALPHABET[idx as usize];
        }
        reply.bulk(&buf);
    }
}

/// GEOPOS key [member ...]
pub fn geopos(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Ok(scores) = member_scores(ctx, &args) else {
        return;
    };
    let reply = &mut ctx.reply;
    reply.array(scores.len());
    for s in scores {
        match s.and_then(decode_score) {
            None => reply.null_array(),
            Some(xy) => {
                reply.array(2);
                reply_human(reply, xy[0]);
                reply_human(reply, xy[1]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The searches
// ---------------------------------------------------------------------------------------------

/// One point found by a search (Redis's geoPoint).
#[derive(Clone, Debug, Default)]
struct Point {
    lon: f64,
    lat: f64,
    dist: f64,
    score: f64,
    member: Elem,
}

/// Whether the point of `score` is in the shape: its coordinates and distance from the centre.
fn within_shape(shape: &Shape, score: f64) -> Option<([f64; 2], f64)> {
    let xy = decode_score(score)?;
    let d = match shape.kind {
        ShapeKind::Circle { radius } => {
            let d = distance(shape.xy[0], shape.xy[1], xy[0], xy[1]);
            if d > radius * shape.conversion {
                return None;
            }
            d
        }
        ShapeKind::Box { width, height } => distance_if_in_rectangle(
            width * shape.conversion,
            height * shape.conversion,
            shape.xy[0],
            shape.xy[1],
            xy[0],
            xy[1],
        )?,
    };
    Some((xy, d))
}

/// membersOfGeoHashBox / geoGetPointsInRange: the members with min <= score < max of the box
/// that are in the shape, in order, stopping once `limit` (0 = none) points are collected.
fn members_of_box(z: &ZSet, hash: HashBits, shape: &Shape, out: &mut Vec<Point>, limit: usize) {
    let min = align52(hash);
    let max = align52(HashBits {
        bits: hash.bits.wrapping_add(1),
        step: hash.step,
    });
    let range = ScoreRange {
        min: min as f64,
        minex: false,
        max: max as f64,
        maxex: true,
    };
    let (a, b) = z.score_range(&range, false, 0, None);
    let mut done = false;
    z.for_each_rank(a, b, false, |m, s| {
        if done {
            return;
        }
        if let Some((xy, d)) = within_shape(shape, s) {
            out.push(Point {
                lon: xy[0],
                lat: xy[1],
                dist: d,
                score: s,
                member: Elem::from_slice(m),
            });
        }
        if !out.is_empty() && limit != 0 && out.len() >= limit {
            done = true;
        }
    });
}

/// membersOfAllNeighbors: the centre box then the eight neighbours, skipping zeroed boxes and
/// a box equal to the last one searched (as Redis does, never the centre box).
fn members_of_all_neighbors(z: &ZSet, n: &SearchArea, shape: &Shape, limit: usize) -> Vec<Point> {
    let boxes = [
        n.hash,
        n.neighbors.north,
        n.neighbors.south,
        n.neighbors.east,
        n.neighbors.west,
        n.neighbors.north_east,
        n.neighbors.north_west,
        n.neighbors.south_east,
        n.neighbors.south_west,
    ];
    let mut out = Vec::new();
    let mut last_processed = 0usize;
    for i in 0..boxes.len() {
        if boxes[i].is_zero() {
            continue;
        }
        if last_processed != 0 && boxes[i] == boxes[last_processed] {
            continue;
        }
        if !out.is_empty() && limit != 0 && out.len() >= limit {
            break;
        }
        members_of_box(z, boxes[i], shape, &mut out, limit);
        last_processed = i;
    }
    out
}

type CmpFn = fn(&Point, &Point) -> i32;

fn sort_asc(a: &Point, b: &Point) -> i32 {
    if a.dist > b.dist {
        1
    } else if a.dist == b.dist {
        0
    } else {
        -1
    }
}

fn sort_desc(a: &Point, b: &Point) -> i32 {
    -sort_asc(a, b)
}

/// glibc's qsort (its merge sort): top-down, the left element first unless it compares greater.
fn msort(v: &mut Vec<Point>, cmp: CmpFn) {
    fn rec(idx: &mut [usize], tmp: &mut Vec<usize>, v: &[Point], cmp: CmpFn) {
        let n = idx.len();
        if n <= 1 {
            return;
        }
        let n1 = n / 2;
        rec(&mut idx[..n1], tmp, v, cmp);
        rec(&mut idx[n1..], tmp, v, cmp);
        tmp.clear();
        let (mut i, mut j) = (0, n1);
        while i < n1 && j < n {
            if cmp(&v[idx[i]], &v[idx[j]]) <= 0 {
                tmp.push(idx[i]);
                i += 1;
            } else {
                tmp.push(idx[j]);
                j += 1;
            }
        }
        tmp.extend_from_slice(&idx[i..n1]);
        let k = tmp.len();
        idx[..k].copy_from_slice(tmp);
    }
    let mut idx: Vec<usize> = (0..v.len()).collect();
    let mut tmp = Vec::with_capacity(v.len());
    rec(&mut idx, &mut tmp, v, cmp);
    let mut old: Vec<Point> = std::mem::take(v);
    *v = idx.iter().map(|&i| std::mem::take(&mut old[i])).collect();
}

fn med3(v: &[Point], a: usize, b: usize, c: usize, cmp: CmpFn) -> usize {
    if cmp(&v[a], &v[b]) < 0 {
        if cmp(&v[b], &v[c]) < 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) > 0 {
        b
    } else if cmp(&v[a], &v[c]) < 0 {
        a
    } else {
        c
    }
}

fn insertion_sort(v: &mut [Point], a: usize, n: usize, cmp: CmpFn) {
    for pm in a + 1..a + n {
        let mut pl = pm;
        while pl > a && cmp(&v[pl - 1], &v[pl]) > 0 {
            v.swap(pl, pl - 1);
            pl -= 1;
        }
    }
}

/// Redis 7.0's pqsort (NetBSD's qsort that only sorts the parts overlapping the ranks
/// `[lrange, rrange]`; 7.0's has no switch to insertion sort when a pass swapped nothing), in
/// element indexes.
fn pqsort(v: &mut [Point], mut a: usize, mut n: usize, cmp: CmpFn, lrange: usize, rrange: usize) {
    let outside = |s: usize, e: usize| (lrange < s && rrange < s) || (lrange > e && rrange > e);
    loop {
        if n < 7 {
            insertion_sort(v, a, n, cmp);
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&v[pb], &v[a]);
                if r > 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&v[pc], &v[a]);
                if r < 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        for k in 0..r {
            v.swap(a + k, pb - r + k);
        }
        let r = (pd - pc).min(pn - pd - 1);
        for k in 0..r {
            v.swap(pb + k, pn - r + k);
        }
        let r = pb - pa;
        if r > 1 && !outside(a, a + r - 1) {
            pqsort(v, a, r, cmp, lrange, rrange);
        }
        let r = pd - pc;
        if r > 1 {
            a = pn - r;
            n = r;
            if !outside(a, a + r - 1) {
                continue;
            }
        }
        return;
    }
}

const RADIUS_COORDS: u8 = 1;
const RADIUS_MEMBER: u8 = 2;
const RADIUS_NOSTORE: u8 = 4;
const GEOSEARCH: u8 = 8;
const GEOSEARCHSTORE: u8 = 16;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

const COULD_NOT_DECODE: &str = "ERR could not decode requested zset member";

/// The coordinates of `member` of the set at `key`, or None (error replied) when it has none.
fn member_lonlat(ctx: &mut Ctx<'_>, key: &[u8], member: &[u8]) -> Option<[f64; 2]> {
    let xy = peek(ctx, key)
        .and_then(|z| z.score(member))
        .and_then(decode_score);
    if xy.is_none() {
        ctx.reply.error(COULD_NOT_DECODE);
    }
    xy
}

/// Redis's georadiusGeneric.
fn georadius_generic(ctx: &mut Ctx<'_>, args: Args<'_>, src_idx: usize, flags: u8) {
    let store_event = if flags & (GEOSEARCH | GEOSEARCHSTORE) != 0 {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    let src = args.get(src_idx);
    let Ok(exists) = exists_typed(ctx, src) else {
        return;
    };
    let mut storekey: Option<&[u8]> = None;
    let mut storedist = false;
    let mut shape = Shape::default();
    let base_args;
    if flags & RADIUS_COORDS != 0 {
        base_args = 6;
        let Some(xy) = parse_lonlat(&mut ctx.reply, args.get(2), args.get(3)) else {
            return;
        };
        shape.xy = xy;
        let Some((r, conv)) = parse_distance(&mut ctx.reply, args.get(4), args.get(5)) else {
            return;
        };
        shape.kind = ShapeKind::Circle { radius: r };
        shape.conversion = conv;
    } else if flags & RADIUS_MEMBER != 0 && !exists {
        base_args = 5;
    } else if flags & RADIUS_MEMBER != 0 {
        base_args = 5;
        let Some(xy) = member_lonlat(ctx, src, args.get(2)) else {
            return;
        };
        shape.xy = xy;
        let Some((r, conv)) = parse_distance(&mut ctx.reply, args.get(3), args.get(4)) else {
            return;
        };
        shape.kind = ShapeKind::Circle { radius: r };
        shape.conversion = conv;
    } else {
        // GEOSEARCH / GEOSEARCHSTORE
        if flags & GEOSEARCHSTORE != 0 {
            base_args = 3;
            storekey = Some(args.get(1));
        } else {
            base_args = 2;
        }
    }

    let (mut withdist, mut withhash, mut withcoords) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let search = flags & GEOSEARCH != 0;
    let can_store = flags & RADIUS_NOSTORE == 0 && !search;
    if args.len() > base_args {
        let remaining = args.len() - base_args;
        let mut i = 0;
        while i < remaining {
            let arg = args.get(base_args + i);
            let at = |k: usize| args.get(base_args + i + k);
            if c_eq(arg, "withdist") {
                withdist = true;
            } else if c_eq(arg, "withhash") {
                withhash = true;
            } else if c_eq(arg, "withcoord") {
                withcoords = true;
            } else if c_eq(arg, "any") {
                any = true;
            } else if c_eq(arg, "asc") {
                sort = Sort::Asc;
            } else if c_eq(arg, "desc") {
                sort = Sort::Desc;
            } else if c_eq(arg, "count") && i + 1 < remaining {
                let Some(n) = parse_i64(at(1)) else {
                    return ctx.reply.error(err::NOT_INTEGER);
                };
                if n <= 0 {
                    return ctx.reply.error("ERR COUNT must be > 0");
                }
                count = n;
                i += 1;
            } else if c_eq(arg, "store") && i + 1 < remaining && can_store {
                storekey = Some(at(1));
                storedist = false;
                i += 1;
            } else if c_eq(arg, "storedist") && i + 1 < remaining && can_store {
                storekey = Some(at(1));
                storedist = true;
                i += 1;
            } else if c_eq(arg, "storedist") && search && flags & GEOSEARCHSTORE != 0 {
                storedist = true;
            } else if c_eq(arg, "frommember") && i + 1 < remaining && search && !fromloc {
                if exists {
                    let Some(xy) = member_lonlat(ctx, src, at(1)) else {
                        return;
                    };
                    shape.xy = xy;
                }
                frommember = true;
                i += 1;
            } else if c_eq(arg, "fromlonlat") && i + 2 < remaining && search && !frommember {
                let Some(xy) = parse_lonlat(&mut ctx.reply, at(1), at(2)) else {
                    return;
                };
                shape.xy = xy;
                fromloc = true;
                i += 2;
            } else if c_eq(arg, "byradius") && i + 2 < remaining && search && !bybox {
                let Some((r, conv)) = parse_distance(&mut ctx.reply, at(1), at(2)) else {
                    return;
                };
                shape.kind = ShapeKind::Circle { radius: r };
                shape.conversion = conv;
                byradius = true;
                i += 2;
            } else if c_eq(arg, "bybox") && i + 3 < remaining && search && !byradius {
                let Some((w, h, conv)) = parse_box(&mut ctx.reply, at(1), at(2), at(3)) else {
                    return;
                };
                shape.kind = ShapeKind::Box {
                    width: w,
                    height: h,
                };
                shape.conversion = conv;
                bybox = true;
                i += 3;
            } else {
                return ctx.reply.error(err::SYNTAX);
            }
            i += 1;
        }
    }

    if storekey.is_some() && (withdist || withhash || withcoords) {
        let what = if flags & GEOSEARCHSTORE != 0 {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return ctx.reply.error(&format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        ));
    }
    if search && !(frommember || fromloc) {
        let mut msg = b"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ".to_vec();
        msg.extend_from_slice(args.get(0));
        return ctx.reply.error_bytes(&msg);
    }
    if search && !(byradius || bybox) {
        let mut msg = b"ERR exactly one of BYRADIUS and BYBOX can be specified for ".to_vec();
        msg.extend_from_slice(args.get(0));
        return ctx.reply.error_bytes(&msg);
    }
    if any && count == 0 {
        return ctx
            .reply
            .error("ERR the ANY argument requires COUNT argument");
    }

    if !exists {
        match storekey {
            Some(dst) => {
                let now = ctx.now_ms;
                if ctx.db().remove(dst, now).is_some() {
                    ctx.dirty(1);
                    ctx.notify(ev::GENERIC, "del", dst);
                }
                ctx.reply.int(0);
            }
            None => ctx.reply.array(0),
        }
        return;
    }

    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }

    let area = areas_by_shape(&shape);
    let limit = if any { count as usize } else { 0 };
    let mut points = match peek(ctx, src) {
        Some(z) => members_of_all_neighbors(z, &area, &shape, limit),
        None => Vec::new(),
    };

    if points.is_empty() && storekey.is_none() {
        return ctx.reply.array(0);
    }

    let result_length = points.len();
    let returned = if count == 0 || (result_length as u64) < count as u64 {
        result_length
    } else {
        count as usize
    };
    if sort != Sort::None {
        let cmp: CmpFn = if sort == Sort::Asc {
            sort_asc
        } else {
            sort_desc
        };
        if returned == result_length {
            msort(&mut points, cmp);
        } else {
            pqsort(&mut points, 0, result_length, cmp, 0, returned - 1);
        }
    }
    points.truncate(returned);
    for p in points.iter_mut() {
        p.dist /= shape.conversion;
    }

    match storekey {
        None => {
            let options = withdist as usize + withcoords as usize + withhash as usize;
            let reply = &mut ctx.reply;
            reply.array(returned);
            for p in &points {
                if options > 0 {
                    reply.array(options + 1);
                }
                reply.bulk(&p.member);
                if withdist {
                    reply.bulk(format_distance(p.dist).as_bytes());
                }
                if withhash {
                    reply.int(c_i64(p.score));
                }
                if withcoords {
                    reply.array(2);
                    reply_human(reply, p.lon);
                    reply_human(reply, p.lat);
                }
            }
        }
        Some(dst) => {
            let now = ctx.now_ms;
            if returned > 0 {
                let mut items: Vec<(Elem, f64)> = points
                    .into_iter()
                    .map(|p| (p.member, if storedist { p.dist } else { p.score }))
                    .collect();
                items.sort_by(|a, b| {
                    a.1.partial_cmp(&b.1)
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then_with(|| a.0.as_slice().cmp(b.0.as_slice()))
                });
                let limits = ctx.settings.limits;
                let z = ZSet::from_sorted(&items, &limits);
                ctx.db().insert(dst, Value::ZSet(z), 0, now);
                ctx.signal_ready(dst);
                ctx.dirty(returned as u64);
                ctx.notify(ev::ZSET, store_event, dst);
            } else if ctx.db().remove(dst, now).is_some() {
                ctx.dirty(1);
                ctx.notify(ev::GENERIC, "del", dst);
            }
            ctx.reply.int(returned as i64);
        }
    }
}

/// GEORADIUS key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
/// [COUNT count [ANY]] [ASC|DESC] [STORE key|STOREDIST key]
pub fn georadius(ctx: &mut Ctx<'_>, args: Args<'_>) {
    georadius_generic(ctx, args, 1, RADIUS_COORDS);
}

/// GEORADIUSBYMEMBER key member radius M|KM|FT|MI [...]
pub fn georadiusbymember(ctx: &mut Ctx<'_>, args: Args<'_>) {
    georadius_generic(ctx, args, 1, RADIUS_MEMBER);
}

/// GEORADIUS_RO key longitude latitude radius M|KM|FT|MI [...]
pub fn georadius_ro(ctx: &mut Ctx<'_>, args: Args<'_>) {
    georadius_generic(ctx, args, 1, RADIUS_COORDS | RADIUS_NOSTORE);
}

/// GEORADIUSBYMEMBER_RO key member radius M|KM|FT|MI [...]
pub fn georadiusbymember_ro(ctx: &mut Ctx<'_>, args: Args<'_>) {
    georadius_generic(ctx, args, 1, RADIUS_MEMBER | RADIUS_NOSTORE);
}

/// GEOSEARCH key FROMMEMBER member|FROMLONLAT longitude latitude BYRADIUS radius unit|BYBOX
/// width height unit [ASC|DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]
pub fn geosearch(ctx: &mut Ctx<'_>, args: Args<'_>) {
    georadius_generic(ctx, args, 1, GEOSEARCH);
}

/// GEOSEARCHSTORE destination source ... [STOREDIST]
pub fn geosearchstore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    georadius_generic(ctx, args, 2, GEOSEARCH | GEOSEARCHSTORE);
}

#[cfg(test)]
mod tests {
    use super::*;

    // The literal is the double Redis computes, printed in full.
    #[allow(clippy::excessive_precision)]
    #[test]
    fn formats() {
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(0.00005), "0.0000");
        assert_eq!(format_distance(0.0001), "0.0001");
        assert_eq!(format_distance(166274.15156960039), "166274.1516");
        assert_eq!(format_distance(f64::NAN), "-922337203685477.5808");
        assert_eq!(format_human(180.0), "180");
        assert_eq!(format_human(-0.0), "0");
        assert_eq!(format_human(85.05112878), "85.0511287799999991");
        assert_eq!(format_human(2f64.powi(-18)), "0.00000381469726562");
    }

    #[test]
    fn conversions() {
        assert_eq!(c_u64(-1.5), u64::MAX);
        assert_eq!(c_u64(1e300), 0);
        assert_eq!(c_u64(f64::INFINITY), 0);
        assert_eq!(c_u64(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(c_u64(TWO63), 1 << 63);
        assert_eq!(c_i64(f64::INFINITY), i64::MIN);
    }

    #[test]
    fn encode_decode() {
        let h = encode_wgs84(13.361389, 38.115556, 26).map(align52);
        assert_eq!(h, Some(3479099956230698));
        let xy = decode_score(3479099956230698.0).unwrap_or_default();
        assert_eq!(format_human(xy[0]), "13.36138933897018433");
        assert_eq!(format_human(xy[1]), "38.11555639549629859");
    }

    fn pts(d: &[f64]) -> Vec<Point> {
        d.iter()
            .enumerate()
            .map(|(i, &dist)| Point {
                dist,
                member: Elem::from_slice(i.to_string().as_bytes()),
                ..Point::default()
            })
            .collect()
    }

    #[test]
    fn sorts() {
        let d: Vec<f64> = (0..100).map(|i| ((i * 37) % 11) as f64).collect();
        let mut a = pts(&d);
        msort(&mut a, sort_asc);
        assert!(a.windows(2).all(|w| w[0].dist <= w[1].dist));
        let mut b = pts(&d);
        let n = b.len();
        pqsort(&mut b, 0, n, sort_desc, 0, 9);
        let mut want = d.clone();
        want.sort_by(|x, y| y.total_cmp(x));
        let got: Vec<f64> = b[..10].iter().map(|p| p.dist).collect();
        assert_eq!(got, want[..10].to_vec());
    }
}
