//! The hash family: HSET and friends, counters, HRANDFIELD, HSCAN.

use crate::ctx::{err, Ctx};
use crate::registry::{Cross, Handler};
use shoal_data::events as ev;
use shoal_data::numeric::{incr_by_float, is_long_double, parse_i64, FloatIncrError};
use shoal_data::{Hash, Value, ValueType};
use shoal_protocol::{Args, Protocol};

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[
    ("hset", Handler::Shard(hset), Cross::Local),
    ("hmset", Handler::Shard(hmset), Cross::Local),
    ("hsetnx", Handler::Shard(hsetnx), Cross::Local),
    ("hget", Handler::Shard(hget), Cross::Local),
    ("hmget", Handler::Shard(hmget), Cross::Local),
    ("hdel", Handler::Shard(hdel), Cross::Local),
    ("hlen", Handler::Shard(hlen), Cross::Local),
    ("hstrlen", Handler::Shard(hstrlen), Cross::Local),
    ("hexists", Handler::Shard(hexists), Cross::Local),
    ("hkeys", Handler::Shard(hkeys), Cross::Local),
    ("hvals", Handler::Shard(hvals), Cross::Local),
    ("hgetall", Handler::Shard(hgetall), Cross::Local),
    ("hincrby", Handler::Shard(hincrby), Cross::Local),
    ("hincrbyfloat", Handler::Shard(hincrbyfloat), Cross::Local),
    ("hrandfield", Handler::Shard(hrandfield), Cross::Local),
    ("hscan", Handler::Shard(hscan), Cross::Local),
];

fn new_hash() -> Value {
    Value::Hash(Default::default())
}

/// The hash of `key` for writing, created when absent; Err when WRONGTYPE was replied.
fn hash_or_create<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<&'c mut Hash, ()> {
    match ctx
        .write_or_create(key, ValueType::Hash, new_hash)?
        .value_mut()
    {
        Value::Hash(h) => Ok(h),
        _ => Err(()),
    }
}

/// The hash of `key` for reading: Ok(None) when absent, Err when WRONGTYPE was replied.
fn read_hash<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<Option<&'c mut Hash>, ()> {
    Ok(match ctx.read_typed(key, ValueType::Hash)? {
        Some(e) => match e.value_mut() {
            Value::Hash(h) => Some(h),
            _ => None,
        },
        None => None,
    })
}

fn set_pairs(ctx: &mut Ctx<'_>, args: &Args<'_>, name: &str) -> Option<i64> {
    if !args.len().is_multiple_of(2) {
        ctx.reply.error(&err::arity(name));
        return None;
    }
    let limits = ctx.settings.limits;
    let longest = args.iter_from(2).map(<[u8]>::len).max().unwrap_or(0);
    let h = hash_or_create(ctx, args.get(1)).ok()?;
    h.prepare(longest, &limits);
    let mut created = 0;
    let mut i = 2;
    while i + 1 < args.len() {
        created += h.set(args.get(i), args.get(i + 1), &limits) as i64;
        i += 2;
    }
    ctx.dirty((args.len() as u64 - 2) / 2);
    ctx.notify(ev::HASH, "hset", args.get(1));
    Some(created)
}

/// HSET key field value [field value ...]
pub fn hset(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if let Some(n) = set_pairs(ctx, &args, "hset") {
        ctx.reply.int(n);
    }
}

/// HMSET key field value [field value ...]
pub fn hmset(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if set_pairs(ctx, &args, "hmset").is_some() {
        ctx.reply.ok();
    }
}

/// HSETNX key field value
pub fn hsetnx(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let limits = ctx.settings.limits;
    let (field, value) = (args.get(2), args.get(3));
    let Ok(h) = hash_or_create(ctx, args.get(1)) else {
        return;
    };
    if h.get(field).is_some() {
        return ctx.reply.int(0);
    }
    h.prepare(field.len().max(value.len()), &limits);
    h.set(field, value, &limits);
    ctx.dirty(1);
    ctx.notify(ev::HASH, "hset", args.get(1));
    ctx.reply.int(1);
}

/// HGET key field
pub fn hget(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(1);
    let (e, reply) = ctx.lookup_for_reply(key);
    match e.map(|e| e.value()) {
        None => reply.null(),
        Some(Value::Hash(h)) => match h.get(args.get(2)) {
            Some(v) => reply.bulk(v),
            None => reply.null(),
        },
        Some(_) => reply.error(err::WRONGTYPE),
    }
}

/// HMGET key field [field ...]
pub fn hmget(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (e, reply) = ctx.lookup_for_reply(args.get(1));
    let h = match e.map(|e| e.value()) {
        None => None,
        Some(Value::Hash(h)) => Some(h),
        Some(_) => return reply.error(err::WRONGTYPE),
    };
    reply.array(args.len() - 2);
    for f in args.iter_from(2) {
        match h.and_then(|h| h.get(f)) {
            Some(v) => reply.bulk(v),
            None => reply.null(),
        }
    }
}

/// HDEL key field [field ...]
pub fn hdel(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(1);
    let h = match ctx.write_typed(key, ValueType::Hash) {
        Err(()) => return,
        Ok(None) => return ctx.reply.int(0),
        Ok(Some(e)) => match e.value_mut() {
            Value::Hash(h) => h,
            _ => return,
        },
    };
    let mut n = 0;
    for f in args.iter_from(2) {
        n += h.remove(f) as i64;
        if h.is_empty() {
            break;
        }
    }
    if n > 0 {
        ctx.notify(ev::HASH, "hdel", key);
        ctx.remove_if_empty(key);
        ctx.dirty(n as u64);
    }
    ctx.reply.int(n);
}

/// HLEN key
pub fn hlen(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if let Ok(h) = read_hash(ctx, args.get(1)) {
        let n = h.map_or(0, |h| h.len());
        ctx.reply.int(n as i64);
    }
}

/// HSTRLEN key field
pub fn hstrlen(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if let Ok(h) = read_hash(ctx, args.get(1)) {
        let n = h.and_then(|h| h.get(args.get(2))).map_or(0, <[u8]>::len);
        ctx.reply.int(n as i64);
    }
}

/// HEXISTS key field
pub fn hexists(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if let Ok(h) = read_hash(ctx, args.get(1)) {
        let found = h.is_some_and(|h| h.get(args.get(2)).is_some());
        ctx.reply.int(found as i64);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Keys,
    Vals,
    All,
}

fn get_all(ctx: &mut Ctx<'_>, args: &Args<'_>, part: Part) {
    let (e, reply) = ctx.lookup_for_reply(args.get(1));
    let h = match e.map(|e| e.value()) {
        None => None,
        Some(Value::Hash(h)) => Some(h),
        Some(_) => return reply.error(err::WRONGTYPE),
    };
    let n = h.map_or(0, |h| h.len());
    if part == Part::All {
        reply.map(n);
    } else {
        reply.array(n);
    }
    if let Some(h) = h {
        for (f, v) in h.iter() {
            if part != Part::Vals {
                reply.bulk(f);
            }
            if part != Part::Keys {
                reply.bulk(v);
            }
        }
    }
}

/// HKEYS key
pub fn hkeys(ctx: &mut Ctx<'_>, args: Args<'_>) {
    get_all(ctx, &args, Part::Keys)
}

/// HVALS key
pub fn hvals(ctx: &mut Ctx<'_>, args: Args<'_>) {
    get_all(ctx, &args, Part::Vals)
}

/// HGETALL key
pub fn hgetall(ctx: &mut Ctx<'_>, args: Args<'_>) {
    get_all(ctx, &args, Part::All)
}

/// HINCRBY key field increment
pub fn hincrby(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(by) = parse_i64(args.get(3)) else {
        return ctx.reply.error(err::NOT_INTEGER);
    };
    let limits = ctx.settings.limits;
    let field = args.get(2);
    let Ok(h) = hash_or_create(ctx, args.get(1)) else {
        return;
    };
    let cur = match h.get(field) {
        None => 0,
        Some(v) => match parse_i64(v) {
            Some(n) => n,
            None => return ctx.reply.error("ERR hash value is not an integer"),
        },
    };
    let Some(new) = cur.checked_add(by) else {
        return ctx.reply.error(err::OVERFLOW);
    };
    let mut buf = shoal_data::value::itoa_buf::Buffer::new();
    h.set(field, buf.format(new), &limits);
    ctx.dirty(1);
    ctx.notify(ev::HASH, "hincrby", args.get(1));
    ctx.reply.int(new);
}

/// HINCRBYFLOAT key field increment (long double arithmetic, formatted as Redis does)
pub fn hincrbyfloat(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let incr = args.get(3);
    if !is_long_double(incr) {
        return ctx.reply.error(err::NOT_FLOAT);
    }
    if incr.to_ascii_lowercase().windows(3).any(|w| w == b"inf") {
        return ctx.reply.error("ERR value is NaN or Infinity");
    }
    let limits = ctx.settings.limits;
    let field = args.get(2);
    let Ok(h) = hash_or_create(ctx, args.get(1)) else {
        return;
    };
    let result = match h.get(field) {
        Some(cur) if !is_long_double(cur) => {
            return ctx.reply.error("ERR hash value is not a float")
        }
        cur => incr_by_float(cur, incr),
    };
    match result {
        Ok(bytes) => {
            h.prepare(field.len().max(bytes.len()), &limits);
            h.set(field, &bytes, &limits);
            ctx.dirty(1);
            ctx.notify(ev::HASH, "hincrbyfloat", args.get(1));
            ctx.reply.bulk(&bytes);
        }
        Err(FloatIncrError::NotAFloat) => ctx.reply.error("ERR hash value is not a float"),
        Err(FloatIncrError::NanOrInfinity) => ctx
            .reply
            .error("ERR increment would produce NaN or Infinity"),
    }
}

/// HRANDFIELD key [count [WITHVALUES]]
pub fn hrandfield(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let mut withvalues = false;
    let mut count = None;
    if args.len() >= 3 {
        if args.len() > 4 || (args.len() == 4 && !args.get(3).eq_ignore_ascii_case(b"withvalues")) {
            return ctx.reply.error(err::SYNTAX);
        }
        withvalues = args.len() == 4;
        match parse_i64(args.get(2)) {
            None => return ctx.reply.error(err::NOT_INTEGER),
            Some(i64::MIN) => {
                return ctx.reply.error(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                )
            }
            Some(n) if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) => {
                return ctx.reply.error("ERR value is out of range")
            }
            Some(n) => count = Some(n),
        }
    }
    let proto = ctx.protocol();
    // The random picks are drawn before the reply is written (the generator is in ctx).
    let mut seeds: Vec<u64> = Vec::new();
    let len = match ctx.lookup(args.get(1)).map(|e| e.value()) {
        None => 0,
        Some(Value::Hash(h)) => h.len(),
        Some(_) => return ctx.reply.error(err::WRONGTYPE),
    };
    let want = match count {
        None => 1,
        Some(n) if n >= 0 => (n as u64).min(len as u64) as usize,
        Some(n) => n.unsigned_abs() as usize,
    };
    if len > 0 {
        seeds.reserve(want.min(1 << 20));
        for _ in 0..want {
            seeds.push(ctx.random());
        }
    }
    let (e, reply) = ctx.lookup_for_reply(args.get(1));
    let h = match e.map(|e| e.value()) {
        Some(Value::Hash(h)) => h,
        _ => {
            return match count {
                None => reply.null(),
                Some(_) => reply.array(0),
            }
        }
    };
    let Some(n) = count else {
        if let Some((f, _)) = h.random(local_rng(seeds.first().copied().unwrap_or(1))) {
            reply.bulk(f);
        }
        return;
    };
    let pairs = withvalues && proto == Protocol::Resp3;
    let emit = |reply: &mut shoal_protocol::Reply<'_>, f: &[u8], v: &[u8]| {
        if pairs {
            reply.array(2);
        }
        reply.bulk(f);
        if withvalues {
            reply.bulk(v);
        }
    };
    let items = if withvalues && !pairs { want * 2 } else { want };
    reply.array(items);
    if n < 0 {
        // Repetitions allowed: independent picks.
        for seed in &seeds {
            if let Some((f, v)) = h.random(local_rng(*seed)) {
                emit(reply, f, v);
            }
        }
        return;
    }
    let all: Vec<(&[u8], &[u8])> = h.iter().collect();
    // Distinct fields: a partial Fisher-Yates shuffle of the positions.
    let mut idx: Vec<usize> = (0..all.len()).collect();
    for (i, seed) in seeds.iter().enumerate().take(want) {
        let j = i + (*seed % (idx.len() - i) as u64) as usize;
        idx.swap(i, j);
    }
    for &i in &idx[..want] {
        emit(reply, all[i].0, all[i].1);
    }
}

/// A generator (xorshift64) seeded from the shard's, for structures that draw until they hit
/// an element.
fn local_rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Parsed SCAN-family arguments: cursor, MATCH pattern, COUNT.
pub struct ScanArgs<'a> {
    pub cursor: u64,
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
}

/// Parses the cursor (at 2) of HSCAN/SSCAN/ZSCAN, replying the error Redis replies.
pub fn parse_cursor(ctx: &mut Ctx<'_>, arg: &[u8]) -> Option<u64> {
    let c = shoal_data::numeric::parse_cursor(arg);
    if c.is_none() {
        ctx.reply.error("ERR invalid cursor");
    }
    c
}

/// Parses MATCH/COUNT options from position 3 on, replying the error Redis replies.
pub fn parse_scan_options<'a>(
    ctx: &mut Ctx<'_>,
    args: &Args<'a>,
    cursor: u64,
) -> Option<ScanArgs<'a>> {
    let mut s = ScanArgs {
        cursor,
        pattern: None,
        count: 10,
    };
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        let opt = args.get(i);
        if opt.eq_ignore_ascii_case(b"count") && more {
            match parse_i64(args.get(i + 1)) {
                None => {
                    ctx.reply.error(err::NOT_INTEGER);
                    return None;
                }
                Some(n) if n < 1 => {
                    ctx.reply.error(err::SYNTAX);
                    return None;
                }
                Some(n) => s.count = n as usize,
            }
        } else if opt.eq_ignore_ascii_case(b"match") && more {
            let p = args.get(i + 1);
            s.pattern = (p != b"*").then_some(p);
        } else {
            ctx.reply.error(err::SYNTAX);
            return None;
        }
        i += 2;
    }
    Some(s)
}

/// Writes a SCAN-family reply: the next cursor and the flat list of items.
pub fn scan_reply(ctx: &mut Ctx<'_>, next: u64, items: &[&[u8]]) {
    let mut b = shoal_data::value::itoa_buf::Buffer::new();
    let r = &mut ctx.reply;
    r.array(2);
    r.bulk(b.format(next as i64));
    r.array(items.len());
    for i in items {
        r.bulk(i);
    }
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
pub fn hscan(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(cursor) = parse_cursor(ctx, args.get(2)) else {
        return;
    };
    let exists = match read_hash(ctx, args.get(1)) {
        Err(()) => return,
        Ok(h) => h.is_some(),
    };
    if !exists {
        return scan_reply(ctx, 0, &[]);
    }
    let Some(s) = parse_scan_options(ctx, &args, cursor) else {
        return;
    };
    let mut items: Vec<Vec<u8>> = vec![];
    let now = ctx.now_ms;
    let key = args.get(1);
    let slot = ctx.slot_of(key);
    let Some(Value::Hash(h)) = ctx.db().get_mut_in(slot, key, now).map(|e| e.value()) else {
        return;
    };
    let keep = |f: &[u8]| s.pattern.is_none_or(|p| shoal_data::glob::matches(p, f));
    let next = match h {
        Hash::Pack(_) => {
            for (f, v) in h.iter() {
                if keep(f) {
                    items.push(f.to_vec());
                    items.push(v.to_vec());
                }
            }
            0
        }
        Hash::Table(d) => d.scan(s.cursor, s.count, |f, v| {
            if keep(f) {
                items.push(f.to_vec());
                items.push(v.to_vec());
            }
        }),
    };
    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    scan_reply(ctx, next, &refs);
}
