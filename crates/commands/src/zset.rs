//! The sorted set family: ZADD and friends, ranges by rank, score and lex, pops, random members,
//! the set operations (ZUNION, ZINTER, ZDIFF and their STORE forms, ZINTERCARD) and ZSCAN.
//!
//! Replies and errors follow Redis 7.0's t_zset.c: the order in which arguments are checked
//! (and so which error wins) is Redis's. Multi-key commands are bound `Cross::Gather`: when they
//! run, every key they name is readable and writable in `ctx`.

use crate::ctx::{err, Ctx};
use crate::registry::{Cross, Handler};
use shoal_data::dict::Elem;
use shoal_data::events as ev;
use shoal_data::numeric::parse_i64;
use shoal_data::zset::{parse_score, AddFlags, AddOutcome, LexRange, ScoreRange, ZSet};
use shoal_data::{Set, Value, ValueType};
use shoal_protocol::reply::format_double;
use shoal_protocol::{Args, Protocol, Reply};
use smallvec::SmallVec;

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[
    ("zadd", Handler::Shard(zadd), Cross::Local),
    ("zincrby", Handler::Shard(zincrby), Cross::Local),
    ("zrem", Handler::Shard(zrem), Cross::Local),
    ("zcard", Handler::Shard(zcard), Cross::Local),
    ("zcount", Handler::Shard(zcount), Cross::Local),
    ("zlexcount", Handler::Shard(zlexcount), Cross::Local),
    ("zscore", Handler::Shard(zscore), Cross::Local),
    ("zmscore", Handler::Shard(zmscore), Cross::Local),
    ("zrank", Handler::Shard(zrank), Cross::Local),
    ("zrevrank", Handler::Shard(zrevrank), Cross::Local),
    ("zrange", Handler::Shard(zrange), Cross::Local),
    ("zrevrange", Handler::Shard(zrevrange), Cross::Local),
    ("zrangebyscore", Handler::Shard(zrangebyscore), Cross::Local),
    (
        "zrevrangebyscore",
        Handler::Shard(zrevrangebyscore),
        Cross::Local,
    ),
    ("zrangebylex", Handler::Shard(zrangebylex), Cross::Local),
    (
        "zrevrangebylex",
        Handler::Shard(zrevrangebylex),
        Cross::Local,
    ),
    ("zrangestore", Handler::Shard(zrangestore), Cross::Gather),
    (
        "zremrangebyrank",
        Handler::Shard(zremrangebyrank),
        Cross::Local,
    ),
    (
        "zremrangebyscore",
        Handler::Shard(zremrangebyscore),
        Cross::Local,
    ),
    (
        "zremrangebylex",
        Handler::Shard(zremrangebylex),
        Cross::Local,
    ),
    ("zpopmin", Handler::Shard(zpopmin), Cross::Local),
    ("zpopmax", Handler::Shard(zpopmax), Cross::Local),
    ("zmpop", Handler::Shard(zmpop), Cross::Gather),
    ("zrandmember", Handler::Shard(zrandmember), Cross::Local),
    ("zunion", Handler::Shard(zunion), Cross::Gather),
    ("zinter", Handler::Shard(zinter), Cross::Gather),
    ("zdiff", Handler::Shard(zdiff), Cross::Gather),
    ("zunionstore", Handler::Shard(zunionstore), Cross::Gather),
    ("zinterstore", Handler::Shard(zinterstore), Cross::Gather),
    ("zdiffstore", Handler::Shard(zdiffstore), Cross::Gather),
    ("zintercard", Handler::Shard(zintercard), Cross::Gather),
    ("zscan", Handler::Shard(zscan), Cross::Local),
];

const NAN_SCORE: &str = "ERR resulting score is not a number (NaN)";
const RANGE_NOT_FLOAT: &str = "ERR min or max is not a float";
const RANGE_NOT_LEX: &str = "ERR min or max not valid string range item";
const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";

#[inline]
fn eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// The sorted set at `key`, with the reply builder and the random state lent alongside:
/// `Ok(None)` when the key is missing, `Err` once WRONGTYPE was replied. A read counts a hit
/// or a miss and respects NO-TOUCH, as [`Ctx::lookup`]; a write always updates the access time.
#[allow(clippy::type_complexity)]
fn open<'c, 'a>(
    ctx: &'c mut Ctx<'a>,
    key: &[u8],
    write: bool,
) -> Result<(Option<&'c mut ZSet>, &'c mut Reply<'a>, &'c mut u64), ()> {
    let now = ctx.now_ms;
    let slot = ctx.slot_of(key);
    let db = ctx.db;
    let touch = write || !ctx.no_touch;
    // A second probe only while keymiss events are on (the borrow of a hit is returned).
    if !write
        && ctx.keyspace.db(db).notify & ev::KEY_MISS != 0
        && ctx.keyspace.db(db).get_mut_in(slot, key, now).is_none()
    {
        ctx.read_miss(key);
        return Ok((None, &mut ctx.reply, &mut *ctx.rng));
    }
    let e = ctx.keyspace.db(db).get_mut_in(slot, key, now);
    match e {
        None => {
            if !write {
                ctx.counters.misses += 1;
            }
            Ok((None, &mut ctx.reply, &mut *ctx.rng))
        }
        Some(e) => {
            if !write {
                ctx.counters.hits += 1;
            }
            if touch {
                e.touch(now);
            }
            match e.value_mut() {
                Value::ZSet(z) => Ok((Some(z), &mut ctx.reply, &mut *ctx.rng)),
                _ => {
                    ctx.reply.error(err::WRONGTYPE);
                    Err(())
                }
            }
        }
    }
}

/// The sorted set at `key`, without statistics or type errors (None for another type).
fn zset_mut<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Option<&'c mut ZSet> {
    let (now, slot, db) = (ctx.now_ms, ctx.slot_of(key), ctx.db);
    match ctx.keyspace.db(db).get_mut_in(slot, key, now) {
        Some(e) => match e.value_mut() {
            Value::ZSet(z) => Some(z),
            _ => None,
        },
        None => None,
    }
}

/// Deletes `key` (Redis never keeps an empty sorted set).
/// Deletes an emptied sorted set, with Redis's `del` event.
fn delete_key(ctx: &mut Ctx<'_>, key: &[u8]) {
    let now = ctx.now_ms;
    if ctx.db().remove(key, now).is_some() {
        ctx.notify(ev::GENERIC, "del", key);
    }
}

/// The shard's xorshift64* step (the same generator as [`Ctx::random`]).
#[inline]
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Replies one element of a WITHSCORES-style list: a pair array in RESP3 when `pairs`.
#[inline]
fn reply_elem(reply: &mut Reply<'_>, m: &[u8], score: f64, withscores: bool, pairs: bool) {
    if withscores && pairs {
        reply.array(2);
    }
    reply.bulk(m);
    if withscores {
        reply.double(score);
    }
}

/// The array header for `n` elements WITHSCORES or not: flat pairs in RESP2, nested in RESP3.
#[inline]
fn reply_header(reply: &mut Reply<'_>, n: usize, withscores: bool) {
    if withscores && reply.protocol() == Protocol::Resp2 {
        reply.array(n * 2);
    } else {
        reply.array(n);
    }
}

// ---------------------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM
// ---------------------------------------------------------------------------------------------

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
pub fn zadd(ctx: &mut Ctx<'_>, args: Args<'_>) {
    zadd_generic(ctx, args, false);
}

/// ZINCRBY key increment member
pub fn zincrby(ctx: &mut Ctx<'_>, args: Args<'_>) {
    zadd_generic(ctx, args, true);
}

fn zadd_generic(ctx: &mut Ctx<'_>, args: Args<'_>, incr: bool) {
    let mut f = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut ch = false;
    let mut idx = 2;
    while idx < args.len() {
        let o = args.get(idx);
        if eq(o, "nx") {
            f.nx = true;
        } else if eq(o, "xx") {
            f.xx = true;
        } else if eq(o, "ch") {
            ch = true;
        } else if eq(o, "incr") {
            f.incr = true;
        } else if eq(o, "gt") {
            f.gt = true;
        } else if eq(o, "lt") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let elements = args.len() - idx;
    if elements % 2 == 1 || elements == 0 {
        return ctx.reply.error(err::SYNTAX);
    }
    let elements = elements / 2;
    if f.nx && f.xx {
        return ctx
            .reply
            .error("ERR XX and NX options at the same time are not compatible");
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return ctx
            .reply
            .error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && elements > 1 {
        return ctx
            .reply
            .error("ERR INCR option supports a single increment-element pair");
    }
    let mut scores: SmallVec<[f64; 8]> = SmallVec::with_capacity(elements);
    for j in 0..elements {
        match parse_score(args.get(idx + j * 2)) {
            Some(s) => scores.push(s),
            None => return ctx.reply.error(err::NOT_FLOAT),
        }
    }
    let key = args.get(1);
    let limits = ctx.settings.limits;
    let exists = match ctx.write_typed(key, ValueType::ZSet) {
        Err(()) => return,
        Ok(e) => e.is_some(),
    };
    if !exists {
        if f.xx {
            if f.incr {
                ctx.reply.null();
            } else {
                ctx.reply.int(0);
            }
            return;
        }
        let first = args.get(idx + 1).len();
        let (now, slot, db) = (ctx.now_ms, ctx.slot_of(key), ctx.db);
        let z = ZSet::for_first_member(first, &limits);
        ctx.keyspace
            .db(db)
            .insert_in(slot, key, Value::ZSet(z), 0, now);
    }
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut score = 0.0;
    let mut nan = false;
    if let Some(z) = zset_mut(ctx, key) {
        for (j, &s) in scores.iter().enumerate() {
            match z.add(s, args.get(idx + 1 + j * 2), f, &limits) {
                AddOutcome::Added(n) => {
                    added += 1;
                    processed += 1;
                    score = n;
                }
                AddOutcome::Updated(n) => {
                    updated += 1;
                    processed += 1;
                    score = n;
                }
                AddOutcome::Same(n) => {
                    processed += 1;
                    score = n;
                }
                AddOutcome::Nop => {}
                AddOutcome::Nan => {
                    nan = true;
                    break;
                }
            }
        }
    }
    if added > 0 {
        ctx.signal_ready(key);
    }
    if added + updated > 0 {
        ctx.notify(ev::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    } else if zset_mut(ctx, key).is_some_and(|z| z.is_empty()) {
        // Created for an increment that failed: Redis never added it.
        let now = ctx.now_ms;
        ctx.db().remove(key, now);
    }
    if nan {
        return ctx.reply.error(NAN_SCORE);
    }
    ctx.dirty((added + updated) as u64);
    if f.incr {
        if processed > 0 {
            ctx.reply.double(score);
        } else {
            ctx.reply.null();
        }
    } else {
        ctx.reply.int(if ch { added + updated } else { added });
    }
}

/// ZREM key member [member ...]
pub fn zrem(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(1);
    let mut deleted = 0i64;
    let empty = match open(ctx, key, true) {
        Err(()) => return,
        Ok((None, reply, _)) => return reply.int(0),
        Ok((Some(z), _, _)) => {
            for m in args.iter_from(2) {
                if z.remove(m) {
                    deleted += 1;
                }
                if z.is_empty() {
                    break;
                }
            }
            z.is_empty()
        }
    };
    if deleted > 0 {
        ctx.notify(ev::ZSET, "zrem", key);
    }
    if empty {
        delete_key(ctx, key);
    }
    ctx.dirty(deleted as u64);
    ctx.reply.int(deleted);
}

// ---------------------------------------------------------------------------------------------
// Single-key reads
// ---------------------------------------------------------------------------------------------

/// ZCARD key
pub fn zcard(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match open(ctx, args.get(1), false) {
        Err(()) => {}
        Ok((z, reply, _)) => reply.int(z.map_or(0, |z| z.len()) as i64),
    }
}

/// ZCOUNT key min max
pub fn zcount(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(r) = ScoreRange::parse(args.get(2), args.get(3)) else {
        return ctx.reply.error(RANGE_NOT_FLOAT);
    };
    match open(ctx, args.get(1), false) {
        Err(()) => {}
        Ok((None, reply, _)) => reply.int(0),
        Ok((Some(z), reply, _)) => reply.int(z.score_count(&r)),
    }
}

/// ZLEXCOUNT key min max
pub fn zlexcount(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(r) = LexRange::parse(args.get(2), args.get(3)) else {
        return ctx.reply.error(RANGE_NOT_LEX);
    };
    match open(ctx, args.get(1), false) {
        Err(()) => {}
        Ok((None, reply, _)) => reply.int(0),
        Ok((Some(z), reply, _)) => reply.int(z.lex_count(&r)),
    }
}

/// ZSCORE key member
pub fn zscore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match open(ctx, args.get(1), false) {
        Err(()) => {}
        Ok((z, reply, _)) => match z.and_then(|z| z.score(args.get(2))) {
            Some(s) => reply.double(s),
            None => reply.null(),
        },
    }
}

/// ZMSCORE key member [member ...]
pub fn zmscore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match open(ctx, args.get(1), false) {
        Err(()) => {}
        Ok((z, reply, _)) => {
            reply.array(args.len() - 2);
            for m in args.iter_from(2) {
                match z.as_ref().and_then(|z| z.score(m)) {
                    Some(s) => reply.double(s),
                    None => reply.null(),
                }
            }
        }
    }
}

/// ZRANK key member
pub fn zrank(ctx: &mut Ctx<'_>, args: Args<'_>) {
    rank_generic(ctx, args, false);
}

/// ZREVRANK key member
pub fn zrevrank(ctx: &mut Ctx<'_>, args: Args<'_>) {
    rank_generic(ctx, args, true);
}

fn rank_generic(ctx: &mut Ctx<'_>, args: Args<'_>, rev: bool) {
    match open(ctx, args.get(1), false) {
        Err(()) => {}
        Ok((z, reply, _)) => match z.and_then(|z| z.rank(args.get(2), rev)) {
            Some(r) => reply.int(r as i64),
            None => reply.null(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
pub fn zrange(ctx: &mut Ctx<'_>, args: Args<'_>) {
    range_generic(ctx, args, 1, None, RangeType::Auto, Direction::Auto);
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let dst = args.get(1);
    range_generic(ctx, args, 2, Some(dst), RangeType::Auto, Direction::Auto);
}

/// ZREVRANGE key start stop [WITHSCORES]
pub fn zrevrange(ctx: &mut Ctx<'_>, args: Args<'_>) {
    range_generic(ctx, args, 1, None, RangeType::Rank, Direction::Reverse);
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
pub fn zrangebyscore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    range_generic(ctx, args, 1, None, RangeType::Score, Direction::Forward);
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
pub fn zrevrangebyscore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    range_generic(ctx, args, 1, None, RangeType::Score, Direction::Reverse);
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
pub fn zrangebylex(ctx: &mut Ctx<'_>, args: Args<'_>) {
    range_generic(ctx, args, 1, None, RangeType::Lex, Direction::Forward);
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
pub fn zrevrangebylex(ctx: &mut Ctx<'_>, args: Args<'_>) {
    range_generic(ctx, args, 1, None, RangeType::Lex, Direction::Reverse);
}

/// A parsed range.
enum Range<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// Ranks `[start, end]` (inclusive, negative from the end) as the window `[lo, hi)` of forward
/// ranks they cover, read in reverse when `rev`; None when empty.
fn rank_window(len: usize, start: i64, end: i64, rev: bool) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    let (start, end) = (start as usize, end as usize);
    Some(if rev {
        (len - 1 - end, len - start)
    } else {
        (start, end + 1)
    })
}

/// Redis's zrangeGenericCommand: Z[REV]RANGE[BYSCORE|BYLEX] and ZRANGESTORE.
fn range_generic(
    ctx: &mut Ctx<'_>,
    args: Args<'_>,
    first: usize,
    store: Option<&[u8]>,
    mut rtype: RangeType,
    mut dir: Direction,
) {
    let key = args.get(first);
    let (mut minidx, mut maxidx) = (first + 1, first + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = first + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let o = args.get(j);
        if store.is_none() && eq(o, "withscores") {
            withscores = true;
        } else if eq(o, "limit") && left >= 2 {
            match (parse_i64(args.get(j + 1)), parse_i64(args.get(j + 2))) {
                (Some(a), Some(b)) => {
                    offset = a;
                    limit = b;
                }
                _ => return ctx.reply.error(err::NOT_INTEGER),
            }
            j += 2;
        } else if dir == Direction::Auto && eq(o, "rev") {
            dir = Direction::Reverse;
        } else if rtype == RangeType::Auto && eq(o, "bylex") {
            rtype = RangeType::Lex;
        } else if rtype == RangeType::Auto && eq(o, "byscore") {
            rtype = RangeType::Score;
        } else {
            return ctx.reply.error(err::SYNTAX);
        }
        j += 1;
    }
    if dir == Direction::Auto {
        dir = Direction::Forward;
    }
    if rtype == RangeType::Auto {
        rtype = RangeType::Rank;
    }
    if limit != -1 && rtype == RangeType::Rank {
        return ctx.reply.error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if withscores && rtype == RangeType::Lex {
        return ctx
            .reply
            .error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let rev = dir == Direction::Reverse;
    if rev && rtype != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let range = match rtype {
        RangeType::Score => match ScoreRange::parse(args.get(minidx), args.get(maxidx)) {
            Some(r) => Range::Score(r),
            None => return ctx.reply.error(RANGE_NOT_FLOAT),
        },
        RangeType::Lex => match LexRange::parse(args.get(minidx), args.get(maxidx)) {
            Some(r) => Range::Lex(r),
            None => return ctx.reply.error(RANGE_NOT_LEX),
        },
        _ => match (parse_i64(args.get(minidx)), parse_i64(args.get(maxidx))) {
            (Some(a), Some(b)) => Range::Rank(a, b),
            _ => return ctx.reply.error(err::NOT_INTEGER),
        },
    };
    // A negative offset walks off the end in Redis; a negative count means no limit.
    let limit = usize::try_from(limit).ok();
    let window = |z: &ZSet| -> (usize, usize) {
        match &range {
            Range::Rank(a, b) => rank_window(z.len(), *a, *b, rev).unwrap_or((0, 0)),
            _ if offset < 0 => (0, 0),
            Range::Score(r) => z.score_range(r, rev, offset as usize, limit),
            Range::Lex(r) => z.lex_range(r, rev, offset as usize, limit),
        }
    };
    match store {
        None => match open(ctx, key, false) {
            Err(()) => {}
            Ok((None, reply, _)) => reply.array(0),
            Ok((Some(z), reply, _)) => {
                let (lo, hi) = window(z);
                let pairs = reply.protocol() == Protocol::Resp3;
                reply_header(reply, hi - lo, withscores);
                z.for_each_rank(lo, hi, rev, |m, s| {
                    reply_elem(reply, m, s, withscores, pairs)
                });
            }
        },
        Some(dst) => {
            let items: Vec<(Elem, f64)> = match open(ctx, key, false) {
                Err(()) => return,
                Ok((None, _, _)) => Vec::new(),
                Ok((Some(z), _, _)) => {
                    let (lo, hi) = window(z);
                    let mut v = Vec::with_capacity(hi - lo);
                    z.for_each_rank(lo, hi, false, |m, s| v.push((Elem::from_slice(m), s)));
                    v
                }
            };
            store_result(ctx, dst, &items, "zrangestore");
        }
    }
}

/// Stores a sorted result at `dst` (replacing any value and its TTL) and replies its size; an
/// empty result deletes `dst`.
fn store_result(ctx: &mut Ctx<'_>, dst: &[u8], items: &[(Elem, f64)], event: &'static str) {
    let now = ctx.now_ms;
    if items.is_empty() {
        if ctx.db().remove(dst, now).is_some() {
            ctx.dirty(1);
            ctx.notify(ev::GENERIC, "del", dst);
        }
        return ctx.reply.int(0);
    }
    let limits = ctx.settings.limits;
    let z = ZSet::from_sorted(items, &limits);
    ctx.db().insert(dst, Value::ZSet(z), 0, now);
    ctx.signal_ready(dst);
    ctx.dirty(1);
    ctx.notify(ev::ZSET, event, dst);
    ctx.reply.int(items.len() as i64);
}

/// ZREMRANGEBYRANK key start stop
pub fn zremrangebyrank(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (Some(a), Some(b)) = (parse_i64(args.get(2)), parse_i64(args.get(3))) else {
        return ctx.reply.error(err::NOT_INTEGER);
    };
    remrange_generic(ctx, args.get(1), Range::Rank(a, b));
}

/// ZREMRANGEBYSCORE key min max
pub fn zremrangebyscore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(r) = ScoreRange::parse(args.get(2), args.get(3)) else {
        return ctx.reply.error(RANGE_NOT_FLOAT);
    };
    remrange_generic(ctx, args.get(1), Range::Score(r));
}

/// ZREMRANGEBYLEX key min max
pub fn zremrangebylex(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(r) = LexRange::parse(args.get(2), args.get(3)) else {
        return ctx.reply.error(RANGE_NOT_LEX);
    };
    remrange_generic(ctx, args.get(1), Range::Lex(r));
}

fn remrange_generic(ctx: &mut Ctx<'_>, key: &[u8], range: Range<'_>) {
    let event = match range {
        Range::Rank(..) => "zremrangebyrank",
        Range::Score(_) => "zremrangebyscore",
        Range::Lex(_) => "zremrangebylex",
    };
    let (deleted, empty) = match open(ctx, key, true) {
        Err(()) => return,
        Ok((None, reply, _)) => return reply.int(0),
        Ok((Some(z), _, _)) => {
            let (lo, hi) = match &range {
                Range::Rank(a, b) => rank_window(z.len(), *a, *b, false).unwrap_or((0, 0)),
                Range::Score(r) => z.score_range(r, false, 0, None),
                Range::Lex(r) => z.lex_range(r, false, 0, None),
            };
            let n = z.remove_ranks(lo, hi);
            (n, z.is_empty())
        }
    };
    if deleted > 0 {
        ctx.notify(ev::ZSET, event, key);
    }
    if empty {
        delete_key(ctx, key);
    }
    ctx.dirty(deleted as u64);
    ctx.reply.int(deleted as i64);
}

// ---------------------------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------------------------

/// How a pop replies (Redis's genericZpopCommand flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PopStyle {
    /// Name the key the elements came from (BZPOPMIN/BZPOPMAX, ZMPOP/BZMPOP).
    pub emit_key: bool,
    /// Member-score pairs as nested arrays (RESP3 ZPOPMIN with a count, ZMPOP/BZMPOP); with
    /// `emit_key`, the reply is `[key, [[member, score], ...]]`.
    pub nested: bool,
}

/// What [`pop_first`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopOutcome {
    /// Elements were popped and replied (or, for a count of 0, an empty array replied).
    Popped,
    /// The first existing key holds another type: WRONGTYPE was replied.
    WrongType,
    /// No key exists: nothing was replied (the caller replies, or blocks).
    NoKey,
}

/// The core of ZPOPMIN/ZPOPMAX/ZMPOP and their blocking forms (Redis's genericZpopCommand): pops
/// up to `count` elements (`None`: a plain single pop) from the lowest scores, or the highest
/// when `max`, of the first of `keys` that exists, replying as `style` says. The popped key is
/// deleted when emptied.
pub fn pop_first(
    ctx: &mut Ctx<'_>,
    keys: &[&[u8]],
    max: bool,
    count: Option<u64>,
    style: PopStyle,
) -> PopOutcome {
    for key in keys {
        let (emptied, n) = match open(ctx, key, true) {
            Err(()) => return PopOutcome::WrongType,
            Ok((None, _, _)) => continue,
            Ok((Some(z), reply, _)) => {
                if count == Some(0) {
                    reply.array(0);
                    return PopOutcome::Popped;
                }
                let len = z.len();
                let n = (count.unwrap_or(1).min(len as u64)) as usize;
                match (style.nested, style.emit_key) {
                    (false, false) => reply.array(n * 2),
                    (true, false) => reply.array(n),
                    (false, true) => {
                        reply.array(n * 2 + 1);
                        reply.bulk(key);
                    }
                    (true, true) => {
                        reply.array(2);
                        reply.bulk(key);
                        reply.array(n);
                    }
                }
                let (lo, hi) = if max { (len - n, len) } else { (0, n) };
                z.for_each_rank(lo, hi, max, |m, s| {
                    reply_elem(reply, m, s, true, style.nested)
                });
                z.remove_ranks(lo, hi);
                (z.is_empty(), n)
            }
        };
        ctx.dirty(n as u64);
        if n > 0 {
            ctx.notify(ev::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
        }
        if emptied {
            delete_key(ctx, key);
        }
        return PopOutcome::Popped;
    }
    PopOutcome::NoKey
}

/// ZPOPMIN key [count]
pub fn zpopmin(ctx: &mut Ctx<'_>, args: Args<'_>) {
    pop_command(ctx, args, false);
}

/// ZPOPMAX key [count]
pub fn zpopmax(ctx: &mut Ctx<'_>, args: Args<'_>) {
    pop_command(ctx, args, true);
}

fn pop_command(ctx: &mut Ctx<'_>, args: Args<'_>, max: bool) {
    if args.len() > 3 {
        return ctx.reply.error(err::SYNTAX);
    }
    let count = if args.len() == 3 {
        match parse_i64(args.get(2)) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return ctx.reply.error(MUST_BE_POSITIVE),
        }
    } else {
        None
    };
    let style = PopStyle {
        emit_key: false,
        nested: ctx.protocol() == Protocol::Resp3 && count.is_some(),
    };
    if pop_first(ctx, &[args.get(1)], max, count, style) == PopOutcome::NoKey {
        ctx.reply.array(0);
    }
}

/// Parsed ZMPOP/BZMPOP arguments after `numkeys`.
pub struct MpopArgs<'a> {
    /// The keys, in order.
    pub keys: SmallVec<[&'a [u8]; 8]>,
    /// MAX (true) or MIN.
    pub max: bool,
    /// COUNT, 1 when absent.
    pub count: u64,
}

/// Parses `numkeys key [key ...] MIN|MAX [COUNT count]` with numkeys at `numkeys_idx` (1 for
/// ZMPOP, 2 for BZMPOP), replying Redis's error on failure.
pub fn parse_mpop<'a>(
    ctx: &mut Ctx<'_>,
    args: &Args<'a>,
    numkeys_idx: usize,
) -> Option<MpopArgs<'a>> {
    let numkeys = match parse_i64(args.get(numkeys_idx)) {
        Some(n) if n >= 1 => n as u64,
        _ => {
            ctx.reply.error("ERR numkeys should be greater than 0");
            return None;
        }
    };
    let where_idx = (numkeys_idx as u64)
        .saturating_add(numkeys)
        .saturating_add(1);
    if where_idx >= args.len() as u64 {
        ctx.reply.error(err::SYNTAX);
        return None;
    }
    let where_idx = where_idx as usize;
    let w = args.get(where_idx);
    let max = if eq(w, "min") {
        false
    } else if eq(w, "max") {
        true
    } else {
        ctx.reply.error(err::SYNTAX);
        return None;
    };
    let mut count: Option<u64> = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if count.is_none() && eq(args.get(j), "count") && more > 0 {
            j += 1;
            match parse_i64(args.get(j)) {
                Some(n) if n >= 1 => count = Some(n as u64),
                _ => {
                    ctx.reply.error("ERR count should be greater than 0");
                    return None;
                }
            }
        } else {
            ctx.reply.error(err::SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(MpopArgs {
        keys: args
            .iter_from(numkeys_idx + 1)
            .take(numkeys as usize)
            .collect(),
        max,
        count: count.unwrap_or(1),
    })
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub fn zmpop(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(p) = parse_mpop(ctx, &args, 1) else {
        return;
    };
    let style = PopStyle {
        emit_key: true,
        nested: true,
    };
    if pop_first(ctx, &p.keys, p.max, Some(p.count), style) == PopOutcome::NoKey {
        ctx.reply.null_array();
    }
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER
// ---------------------------------------------------------------------------------------------

/// ZRANDMEMBER key [count [WITHSCORES]]
pub fn zrandmember(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if args.len() >= 3 {
        let l = match parse_i64(args.get(2)) {
            None => return ctx.reply.error(err::NOT_INTEGER),
            Some(i64::MIN) => {
                return ctx.reply.error(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                )
            }
            Some(l) => l,
        };
        if args.len() > 4 || (args.len() == 4 && !eq(args.get(3), "withscores")) {
            return ctx.reply.error(err::SYNTAX);
        }
        return randmember_count(ctx, args.get(1), l, args.len() == 4);
    }
    match open(ctx, args.get(1), false) {
        Err(()) => {}
        Ok((None, reply, _)) => reply.null(),
        Ok((Some(z), reply, rng)) => match z.random(|| next_random(rng)) {
            Some((m, _)) => reply.bulk(m),
            None => reply.null(),
        },
    }
}

fn randmember_count(ctx: &mut Ctx<'_>, key: &[u8], l: i64, withscores: bool) {
    let (z, reply, rng) = match open(ctx, key, false) {
        Err(()) => return,
        Ok((None, reply, _)) => return reply.array(0),
        Ok((Some(z), reply, rng)) => (z, reply, rng),
    };
    let size = z.len();
    let (count, uniq) = if l >= 0 {
        (l as u64, true)
    } else {
        (l.unsigned_abs(), false)
    };
    if count == 0 || size == 0 {
        return reply.array(0);
    }
    let pairs = reply.protocol() == Protocol::Resp3;
    // Repeats allowed (or a single member): independent draws.
    if !uniq || count == 1 {
        reply_header(reply, count as usize, withscores);
        if z.is_listpack() {
            let all: Vec<(&[u8], f64)> = z.iter().collect();
            for _ in 0..count {
                let (m, s) = all[(next_random(rng) % all.len() as u64) as usize];
                reply_elem(reply, m, s, withscores, pairs);
            }
        } else {
            for _ in 0..count {
                if let Some((m, s)) = z.random(|| next_random(rng)) {
                    reply_elem(reply, m, s, withscores, pairs);
                }
            }
        }
        return;
    }
    // The whole set (Redis walks it from the highest score).
    if count >= size as u64 {
        reply_header(reply, size, withscores);
        z.for_each_rank(0, size, true, |m, s| {
            reply_elem(reply, m, s, withscores, pairs)
        });
        return;
    }
    let count = count as usize;
    reply_header(reply, count, withscores);
    if count * 3 > size {
        // Most of the set: a partial shuffle of all of it.
        let mut all: Vec<(&[u8], f64)> = z.iter().collect();
        for i in 0..count {
            let j = i + (next_random(rng) % (all.len() - i) as u64) as usize;
            all.swap(i, j);
            let (m, s) = all[i];
            reply_elem(reply, m, s, withscores, pairs);
        }
    } else {
        // A small part of a large set: draw until enough distinct members.
        let mut seen: hashbrown::HashSet<&[u8]> = hashbrown::HashSet::with_capacity(count);
        while seen.len() < count {
            let Some((m, s)) = z.random(|| next_random(rng)) else {
                break;
            };
            if seen.insert(m) {
                reply_elem(reply, m, s, withscores, pairs);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF (and STORE), ZINTERCARD
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Redis's zunionInterAggregate.
#[inline]
fn aggregate(target: &mut f64, val: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += val;
            // inf + -inf: Redis keeps the convention that the result is 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// A source of a set operation: a sorted set, a plain set (every score 1) or nothing.
enum Source<'c> {
    None,
    Z(&'c ZSet),
    S(&'c Set),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::None => 0,
            Source::Z(z) => z.len(),
            Source::S(s) => s.len(),
        }
    }
    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Source::None => None,
            Source::Z(z) => z.score(m),
            Source::S(s) => s.contains(m).then_some(1.0),
        }
    }
    /// Every (member, score); a sorted set is walked from its highest score, as Redis does.
    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Source::None => {}
            Source::Z(z) => z.for_each_rank(0, z.len(), true, f),
            Source::S(s) => s.for_each(|m| f(m, 1.0)),
        }
    }
}

/// The value at `key` as a set-operation source, without statistics.
fn source<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Source<'c> {
    let (now, slot, db) = (ctx.now_ms, ctx.slot_of(key), ctx.db);
    match ctx.keyspace.db(db).get_mut_in(slot, key, now) {
        Some(e) => match e.value() {
            Value::ZSet(z) => Source::Z(z),
            Value::Set(s) => Source::S(s),
            _ => Source::None,
        },
        None => Source::None,
    }
}

/// ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zunion(ctx: &mut Ctx<'_>, args: Args<'_>) {
    setop_generic(ctx, args, "zunion", None, 1, SetOp::Union, false);
}

/// ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zinter(ctx: &mut Ctx<'_>, args: Args<'_>) {
    setop_generic(ctx, args, "zinter", None, 1, SetOp::Inter, false);
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
pub fn zdiff(ctx: &mut Ctx<'_>, args: Args<'_>) {
    setop_generic(ctx, args, "zdiff", None, 1, SetOp::Diff, false);
}

/// ZUNIONSTORE dst numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]
pub fn zunionstore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let dst = args.get(1);
    setop_generic(ctx, args, "zunionstore", Some(dst), 2, SetOp::Union, false);
}

/// ZINTERSTORE dst numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]
pub fn zinterstore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let dst = args.get(1);
    setop_generic(ctx, args, "zinterstore", Some(dst), 2, SetOp::Inter, false);
}

/// ZDIFFSTORE dst numkeys key [key ...]
pub fn zdiffstore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let dst = args.get(1);
    setop_generic(ctx, args, "zdiffstore", Some(dst), 2, SetOp::Diff, false);
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn zintercard(ctx: &mut Ctx<'_>, args: Args<'_>) {
    setop_generic(ctx, args, "zintercard", None, 1, SetOp::Inter, true);
}

/// Redis's zunionInterDiffGenericCommand.
fn setop_generic(
    ctx: &mut Ctx<'_>,
    args: Args<'_>,
    name: &str,
    dst: Option<&[u8]>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) {
    let Some(setnum) = parse_i64(args.get(numkeys_idx)) else {
        return ctx.reply.error(err::NOT_INTEGER);
    };
    if setnum < 1 {
        return ctx.reply.error(&format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
    }
    if setnum as u64 > (args.len() - (numkeys_idx + 1)) as u64 {
        return ctx.reply.error(err::SYNTAX);
    }
    let setnum = setnum as usize;
    let keys: SmallVec<[&[u8]; 8]> = args.iter_from(numkeys_idx + 1).take(setnum).collect();
    // Every key is looked up (and type-checked) before the options are parsed.
    let mut lens: SmallVec<[usize; 8]> = SmallVec::with_capacity(setnum);
    for key in &keys {
        let len = match ctx.lookup(key).map(|e| e.value()) {
            None => Some(0),
            Some(Value::ZSet(z)) => Some(z.len()),
            Some(Value::Set(s)) => Some(s.len()),
            Some(_) => None,
        };
        match len {
            Some(n) => lens.push(n),
            None => return ctx.reply.error(err::WRONGTYPE),
        }
    }
    let mut weights: SmallVec<[f64; 8]> = SmallVec::from_elem(1.0, setnum);
    let mut how = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: u64 = 0;
    let mut j = numkeys_idx + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let o = args.get(j);
        if op != SetOp::Diff && !card_only && remaining > setnum && eq(o, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                match parse_score(args.get(j)) {
                    Some(v) => *w = v,
                    None => return ctx.reply.error("ERR weight value is not a float"),
                }
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && eq(o, "aggregate") {
            let a = args.get(j + 1);
            how = if eq(a, "sum") {
                Aggregate::Sum
            } else if eq(a, "min") {
                Aggregate::Min
            } else if eq(a, "max") {
                Aggregate::Max
            } else {
                return ctx.reply.error(err::SYNTAX);
            };
            j += 2;
        } else if dst.is_none() && !card_only && eq(o, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && eq(o, "limit") {
            match parse_i64(args.get(j + 1)) {
                Some(n) if n >= 0 => limit = n as u64,
                _ => return ctx.reply.error("ERR LIMIT can't be negative"),
            }
            j += 2;
        } else {
            return ctx.reply.error(err::SYNTAX);
        }
    }
    // Union and intersection visit the inputs from the smallest (a stable order, as the
    // aggregation of floats depends on it).
    let mut order: SmallVec<[usize; 8]> = (0..setnum).collect();
    if op != SetOp::Diff {
        order.sort_by_key(|&i| lens[i]);
    }
    let mut items: Vec<(Elem, f64)> = Vec::new();
    match op {
        SetOp::Inter => {
            let first = order[0];
            if lens[first] > 0 {
                // (member, its score in the first input, aggregated score)
                let mut acc: Vec<(Elem, f64, f64)> = Vec::with_capacity(lens[first]);
                let w0 = weights[first];
                source(ctx, keys[first]).for_each(|m, s| {
                    let mut score = w0 * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    acc.push((Elem::from_slice(m), s, score));
                });
                for &i in &order[1..] {
                    if acc.is_empty() {
                        break;
                    }
                    let w = weights[i];
                    if keys[i] == keys[first] {
                        for (_, orig, score) in acc.iter_mut() {
                            aggregate(score, *orig * w, how);
                        }
                        continue;
                    }
                    let src = source(ctx, keys[i]);
                    acc.retain_mut(|(m, _, score)| match src.score(m) {
                        Some(v) => {
                            aggregate(score, v * w, how);
                            true
                        }
                        None => false,
                    });
                }
                if card_only {
                    let n = acc.len() as u64;
                    let n = if limit > 0 { n.min(limit) } else { n };
                    return ctx.reply.int(n as i64);
                }
                items = acc.into_iter().map(|(m, _, s)| (m, s)).collect();
            } else if card_only {
                return ctx.reply.int(0);
            }
        }
        SetOp::Union => {
            let mut acc: hashbrown::HashMap<Elem, f64> = hashbrown::HashMap::new();
            for &i in &order {
                if lens[i] == 0 {
                    continue;
                }
                let w = weights[i];
                source(ctx, keys[i]).for_each(|m, s| {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, score, how),
                        None => {
                            acc.insert(Elem::from_slice(m), score);
                        }
                    }
                });
            }
            items = acc.into_iter().collect();
        }
        SetOp::Diff => {
            let same_as_first = keys[1..].iter().any(|k| *k == keys[0]);
            if lens[0] > 0 && !same_as_first {
                let mut acc: hashbrown::HashMap<Elem, f64> =
                    hashbrown::HashMap::with_capacity(lens[0]);
                source(ctx, keys[0]).for_each(|m, s| {
                    acc.insert(Elem::from_slice(m), s);
                });
                for key in &keys[1..] {
                    if acc.is_empty() {
                        break;
                    }
                    let src = source(ctx, key);
                    if src.len() == 0 {
                        continue;
                    }
                    acc.retain(|m, _| src.score(m).is_none());
                }
                items = acc.into_iter().collect();
            }
        }
    }
    items.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.as_slice().cmp(b.0.as_slice()))
    });
    match dst {
        Some(dst) => {
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store_result(ctx, dst, &items, event)
        }
        None => {
            let reply = &mut ctx.reply;
            let pairs = reply.protocol() == Protocol::Resp3;
            reply_header(reply, items.len(), withscores);
            for (m, s) in &items {
                reply_elem(reply, m, *s, withscores, pairs);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ZSCAN
// ---------------------------------------------------------------------------------------------

/// A score as a listpack holds it, which ZSCAN replies: an integral score within
/// ±(2^63 - 1) / 2 as an integer, anything else as %.17g.
fn listpack_score_string(s: f64) -> String {
    let bound = (i64::MAX / 2) as f64;
    if s >= -bound && s <= bound && s == s.trunc() {
        return (s as i64).to_string();
    }
    format_double(s)
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
pub fn zscan(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(cursor) = shoal_data::numeric::parse_cursor(args.get(2)) else {
        return ctx.reply.error("ERR invalid cursor");
    };
    let (z, reply) = match open(ctx, args.get(1), false) {
        Err(()) => return,
        Ok((None, reply, _)) => {
            reply.array(2);
            reply.bulk(b"0");
            return reply.array(0);
        }
        Ok((Some(z), reply, _)) => (z, reply),
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - i >= 2;
        let o = args.get(i);
        if eq(o, "count") && more {
            match parse_i64(args.get(i + 1)) {
                None => return reply.error(err::NOT_INTEGER),
                Some(n) if n < 1 => return reply.error(err::SYNTAX),
                Some(n) => count = n as usize,
            }
        } else if eq(o, "match") && more {
            let p = args.get(i + 1);
            pattern = (p != b"*").then_some(p);
        } else {
            return reply.error(err::SYNTAX);
        }
        i += 2;
    }
    let keep = |m: &[u8]| pattern.is_none_or(|p| shoal_data::glob::matches(p, m));
    let mut items: Vec<(Elem, String)> = Vec::new();
    let scanned = z.scan_table(cursor, count, |m, s| {
        if keep(m) {
            items.push((Elem::from_slice(m), format_double(s)));
        }
    });
    let next = match scanned {
        Some(next) => next,
        None => {
            for (m, s) in z.iter() {
                if keep(m) {
                    items.push((Elem::from_slice(m), listpack_score_string(s)));
                }
            }
            0
        }
    };
    reply.array(2);
    reply.bulk(next.to_string().as_bytes());
    reply.array(items.len() * 2);
    for (m, s) in &items {
        reply.bulk(m);
        reply.bulk(s.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Blocking pops
// ---------------------------------------------------------------------------------------------

/// The blocking sorted-set pops (bound with the runtime's blocking support).
pub const BLOCKING: &[(&str, Handler, Cross)] = &[
    ("bzpopmin", Handler::Shard(bzpopmin), Cross::Gather),
    ("bzpopmax", Handler::Shard(bzpopmax), Cross::Gather),
    ("bzmpop", Handler::Shard(bzmpop), Cross::Gather),
];

/// Pops as `style` says, or asks the runtime to block for `ms` when no key exists.
fn pop_or_block(
    ctx: &mut Ctx<'_>,
    keys: &[&[u8]],
    max: bool,
    count: Option<u64>,
    style: PopStyle,
    ms: u64,
) {
    if pop_first(ctx, keys, max, count, style) == PopOutcome::NoKey {
        if ctx.may_block {
            ctx.notes.block = Some(ms);
        } else {
            ctx.reply.null_array();
        }
    }
}

fn bzpop(ctx: &mut Ctx<'_>, args: Args<'_>, max: bool) {
    let Some(ms) = crate::list::timeout_ms(ctx, args.get(args.len() - 1)) else {
        return;
    };
    let keys: SmallVec<[&[u8]; 8]> = (1..args.len() - 1).map(|i| args.get(i)).collect();
    let style = PopStyle {
        emit_key: true,
        nested: false,
    };
    pop_or_block(ctx, &keys, max, None, style, ms);
}

/// BZPOPMIN key [key ...] timeout
pub fn bzpopmin(ctx: &mut Ctx<'_>, args: Args<'_>) {
    bzpop(ctx, args, false)
}

/// BZPOPMAX key [key ...] timeout
pub fn bzpopmax(ctx: &mut Ctx<'_>, args: Args<'_>) {
    bzpop(ctx, args, true)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
pub fn bzmpop(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(ms) = crate::list::timeout_ms(ctx, args.get(1)) else {
        return;
    };
    let Some(p) = parse_mpop(ctx, &args, 2) else {
        return;
    };
    let style = PopStyle {
        emit_key: true,
        nested: true,
    };
    pop_or_block(ctx, &p.keys, p.max, Some(p.count), style, ms);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(rank_window(5, 0, -1, false), Some((0, 5)));
        assert_eq!(rank_window(5, 0, 0, true), Some((4, 5)));
        assert_eq!(rank_window(5, 1, 2, true), Some((2, 4)));
        assert_eq!(rank_window(5, -100, 100, false), Some((0, 5)));
        assert_eq!(rank_window(5, 3, 2, false), None);
        assert_eq!(rank_window(5, 5, 9, false), None);
        assert_eq!(rank_window(0, 0, -1, false), None);
    }

    #[test]
    fn scan_scores() {
        assert_eq!(listpack_score_string(1e17), "100000000000000000");
        assert_eq!(listpack_score_string(1e20), "1e+20");
        assert_eq!(listpack_score_string(-0.0), "0");
        assert_eq!(listpack_score_string(0.1), "0.10000000000000001");
        assert_eq!(listpack_score_string(f64::NEG_INFINITY), "-inf");
    }
}
