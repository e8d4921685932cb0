//! The list family: pushes and pops at both ends, index and range access, LMOVE/LMPOP, and the
//! blocking forms, which ask the runtime to wait (`ctx.notes.block`) when nothing can be served.

use crate::ctx::{err, Ctx};
use crate::registry::{Cross, Handler};
use shoal_data::events as ev;
use shoal_data::numeric::parse_i64;
use shoal_data::{List, Value, ValueType};
use shoal_protocol::Args;

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[
    ("lpush", Handler::Shard(lpush), Cross::Local),
    ("rpush", Handler::Shard(rpush), Cross::Local),
    ("lpushx", Handler::Shard(lpushx), Cross::Local),
    ("rpushx", Handler::Shard(rpushx), Cross::Local),
    ("lpop", Handler::Shard(lpop), Cross::Local),
    ("rpop", Handler::Shard(rpop), Cross::Local),
    ("llen", Handler::Shard(llen), Cross::Local),
    ("lindex", Handler::Shard(lindex), Cross::Local),
    ("lset", Handler::Shard(lset), Cross::Local),
    ("lrange", Handler::Shard(lrange), Cross::Local),
    ("ltrim", Handler::Shard(ltrim), Cross::Local),
    ("linsert", Handler::Shard(linsert), Cross::Local),
    ("lrem", Handler::Shard(lrem), Cross::Local),
    ("lpos", Handler::Shard(lpos), Cross::Local),
    ("lmove", Handler::Shard(lmove), Cross::Gather),
    ("rpoplpush", Handler::Shard(rpoplpush), Cross::Gather),
    ("lmpop", Handler::Shard(lmpop), Cross::Gather),
];

/// The blocking list commands, bound once the runtime serves blocked clients.
pub const BLOCKING: &[(&str, Handler, Cross)] = &[
    ("blpop", Handler::Shard(blpop), Cross::Gather),
    ("brpop", Handler::Shard(brpop), Cross::Gather),
    ("blmove", Handler::Shard(blmove), Cross::Gather),
    ("brpoplpush", Handler::Shard(brpoplpush), Cross::Gather),
    ("blmpop", Handler::Shard(blmpop), Cross::Gather),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

impl End {
    /// The keyspace event of a push at this end.
    fn push_event(self) -> &'static str {
        match self {
            End::Left => "lpush",
            End::Right => "rpush",
        }
    }
    /// The keyspace event of a pop from this end.
    fn pop_event(self) -> &'static str {
        match self {
            End::Left => "lpop",
            End::Right => "rpop",
        }
    }
}

fn parse_end(a: &[u8]) -> Option<End> {
    if a.eq_ignore_ascii_case(b"left") {
        Some(End::Left)
    } else if a.eq_ignore_ascii_case(b"right") {
        Some(End::Right)
    } else {
        None
    }
}

fn list_mut<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<Option<&'c mut List>, ()> {
    Ok(match ctx.write_typed(key, ValueType::List)? {
        Some(e) => match e.value_mut() {
            Value::List(l) => Some(l),
            _ => None,
        },
        None => None,
    })
}

fn list_ref<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<Option<&'c mut List>, ()> {
    Ok(match ctx.read_typed(key, ValueType::List)? {
        Some(e) => match e.value_mut() {
            Value::List(l) => Some(l),
            _ => None,
        },
        None => None,
    })
}

fn push(ctx: &mut Ctx<'_>, args: &Args<'_>, end: End, create: bool) {
    let key = args.get(1);
    let l = if create {
        let size = ctx.settings.limits.list_max_listpack_size;
        match ctx.write_or_create(key, ValueType::List, || {
            Value::List(Box::new(List::new(size)))
        }) {
            Ok(e) => match e.value_mut() {
                Value::List(l) => l,
                _ => return,
            },
            Err(()) => return,
        }
    } else {
        match list_mut(ctx, key) {
            Err(()) => return,
            Ok(None) => return ctx.reply.int(0),
            Ok(Some(l)) => l,
        }
    };
    for e in args.iter_from(2) {
        match end {
            End::Left => l.push_front(e),
            End::Right => l.push_back(e),
        }
    }
    let len = l.len();
    ctx.dirty(args.len() as u64 - 2);
    ctx.signal_ready(key);
    ctx.notify(ev::LIST, end.push_event(), key);
    ctx.reply.int(len as i64);
}

/// LPUSH key element [element ...]
pub fn lpush(ctx: &mut Ctx<'_>, args: Args<'_>) {
    push(ctx, &args, End::Left, true)
}

/// RPUSH key element [element ...]
pub fn rpush(ctx: &mut Ctx<'_>, args: Args<'_>) {
    push(ctx, &args, End::Right, true)
}

/// LPUSHX key element [element ...]
pub fn lpushx(ctx: &mut Ctx<'_>, args: Args<'_>) {
    push(ctx, &args, End::Left, false)
}

/// RPUSHX key element [element ...]
pub fn rpushx(ctx: &mut Ctx<'_>, args: Args<'_>) {
    push(ctx, &args, End::Right, false)
}

/// Pops up to `n` elements from `key`'s list (which exists and is a list), deleting the key
/// when it empties.
fn pop_n(ctx: &mut Ctx<'_>, key: &[u8], end: End, n: usize) -> Vec<Vec<u8>> {
    let out = pop_keep(ctx, key, end, n);
    if !out.is_empty() {
        ctx.notify(ev::LIST, end.pop_event(), key);
        ctx.remove_if_empty(key);
    }
    out
}

/// Pops up to `n` elements from `key`'s list, leaving an emptied list for the caller to delete.
fn pop_keep(ctx: &mut Ctx<'_>, key: &[u8], end: End, n: usize) -> Vec<Vec<u8>> {
    let Ok(Some(l)) = list_mut(ctx, key) else {
        return vec![];
    };
    let n = n.min(l.len());
    let out: Vec<Vec<u8>> = (0..n)
        .filter_map(|_| match end {
            End::Left => l.pop_front(),
            End::Right => l.pop_back(),
        })
        .collect();
    ctx.dirty(out.len() as u64);
    out
}

fn pop(ctx: &mut Ctx<'_>, args: &Args<'_>, end: End, name: &str) {
    if args.len() > 3 {
        return ctx.reply.error(&err::arity(name));
    }
    let count = if args.len() == 3 {
        match parse_i64(args.get(2)) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => {
                return ctx
                    .reply
                    .error("ERR value is out of range, must be positive")
            }
        }
    } else {
        None
    };
    let key = args.get(1);
    match list_mut(ctx, key) {
        Err(()) => return,
        Ok(None) => {
            return match count {
                Some(_) => ctx.reply.null_array(),
                None => ctx.reply.null(),
            }
        }
        Ok(Some(_)) => {}
    }
    match count {
        None => {
            let v = pop_n(ctx, key, end, 1);
            match v.first() {
                Some(e) => ctx.reply.bulk(e),
                None => ctx.reply.null(),
            }
        }
        Some(n) => {
            let v = pop_n(ctx, key, end, n);
            ctx.reply.array(v.len());
            for e in &v {
                ctx.reply.bulk(e);
            }
        }
    }
}

/// LPOP key [count]
pub fn lpop(ctx: &mut Ctx<'_>, args: Args<'_>) {
    pop(ctx, &args, End::Left, "lpop")
}

/// RPOP key [count]
pub fn rpop(ctx: &mut Ctx<'_>, args: Args<'_>) {
    pop(ctx, &args, End::Right, "rpop")
}

/// LLEN key
pub fn llen(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if let Ok(l) = list_ref(ctx, args.get(1)) {
        let n = l.map_or(0, |l| l.len());
        ctx.reply.int(n as i64);
    }
}

/// A Redis index (negative from the end) into a list of `len`, if in range.
fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { i.checked_add(len as i64)? } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// LINDEX key index
pub fn lindex(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (e, reply) = ctx.lookup_for_reply(args.get(1));
    let l = match e.map(|e| e.value()) {
        None => return reply.null(),
        Some(Value::List(l)) => l,
        Some(_) => return reply.error(err::WRONGTYPE),
    };
    let Some(i) = parse_i64(args.get(2)) else {
        return reply.error(err::NOT_INTEGER);
    };
    match index(i, l.len()) {
        Some(i) => match l.get(i) {
            Some(v) => reply.bulk(v),
            None => reply.null(),
        },
        None => reply.null(),
    }
}

/// LSET key index element
pub fn lset(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let l = match list_mut(ctx, args.get(1)) {
        Err(()) => return,
        Ok(None) => return ctx.reply.error(err::NO_SUCH_KEY),
        Ok(Some(l)) => l,
    };
    let Some(i) = parse_i64(args.get(2)) else {
        return ctx.reply.error(err::NOT_INTEGER);
    };
    match index(i, l.len()) {
        Some(i) => {
            l.set(i, args.get(3));
            ctx.dirty(1);
            ctx.notify(ev::LIST, "lset", args.get(1));
            ctx.reply.ok();
        }
        None => ctx.reply.error("ERR index out of range"),
    }
}

/// Clamps a Redis start/stop pair to a list of `len`: None when the range is empty.
fn range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut stop = if stop < 0 { len + stop } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return None;
    }
    if stop >= len {
        stop = len - 1;
    }
    Some((start as usize, stop as usize))
}

/// LRANGE key start stop
pub fn lrange(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (Some(start), Some(stop)) = (parse_i64(args.get(2)), parse_i64(args.get(3))) else {
        return ctx.reply.error(err::NOT_INTEGER);
    };
    let (e, reply) = ctx.lookup_for_reply(args.get(1));
    match e.map(|e| e.value()) {
        None => reply.array(0),
        Some(Value::List(l)) => match range(start, stop, l.len()) {
            None => reply.array(0),
            Some((a, b)) => {
                reply.array(b - a + 1);
                for e in l.range(a, b) {
                    reply.bulk(e);
                }
            }
        },
        Some(_) => reply.error(err::WRONGTYPE),
    }
}

/// LTRIM key start stop
pub fn ltrim(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (Some(start), Some(stop)) = (parse_i64(args.get(2)), parse_i64(args.get(3))) else {
        return ctx.reply.error(err::NOT_INTEGER);
    };
    let key = args.get(1);
    let l = match list_mut(ctx, key) {
        Err(()) => return,
        Ok(None) => return ctx.reply.ok(),
        Ok(Some(l)) => l,
    };
    let len = l.len();
    let removed = match range(start, stop, len) {
        None => {
            l.clear();
            len
        }
        Some((a, b)) => {
            l.trim(a, b);
            len - (b + 1 - a)
        }
    };
    ctx.notify(ev::LIST, "ltrim", key);
    ctx.remove_if_empty(key);
    ctx.dirty(removed as u64);
    ctx.reply.ok();
}

/// LINSERT key BEFORE|AFTER pivot element
pub fn linsert(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let w = args.get(2);
    let after = if w.eq_ignore_ascii_case(b"after") {
        true
    } else if w.eq_ignore_ascii_case(b"before") {
        false
    } else {
        return ctx.reply.error(err::SYNTAX);
    };
    let key = args.get(1);
    let l = match list_mut(ctx, key) {
        Err(()) => return,
        Ok(None) => return ctx.reply.int(0),
        Ok(Some(l)) => l,
    };
    let Some(p) = l.iter().position(|e| e == args.get(3)) else {
        return ctx.reply.int(-1);
    };
    l.insert(p + after as usize, args.get(4));
    let len = l.len();
    ctx.dirty(1);
    ctx.signal_ready(key);
    ctx.notify(ev::LIST, "linsert", key);
    ctx.reply.int(len as i64);
}

/// LREM key count element
pub fn lrem(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(count) = parse_i64(args.get(2)) else {
        return ctx.reply.error(err::NOT_INTEGER);
    };
    let key = args.get(1);
    let elem = args.get(3);
    let l = match list_mut(ctx, key) {
        Err(()) => return,
        Ok(None) => return ctx.reply.int(0),
        Ok(Some(l)) => l,
    };
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs().min(usize::MAX as u64) as usize
    };
    let removed = l.remove_matching(elem, limit, count < 0);
    if removed > 0 {
        ctx.notify(ev::LIST, "lrem", key);
        ctx.remove_if_empty(key);
        ctx.dirty(removed as u64);
    }
    ctx.reply.int(removed as i64);
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
pub fn lpos(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (mut rank, mut count, mut maxlen) = (1i64, None::<i64>, 0i64);
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        if i + 1 >= args.len() {
            return ctx.reply.error(err::SYNTAX);
        }
        let n = parse_i64(args.get(i + 1));
        if opt.eq_ignore_ascii_case(b"rank") {
            match n {
                None => return ctx.reply.error(err::NOT_INTEGER),
                Some(0) => return ctx.reply.error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"),
                Some(n) => rank = n,
            }
        } else if opt.eq_ignore_ascii_case(b"count") {
            match n {
                Some(n) if n >= 0 => count = Some(n),
                _ => return ctx.reply.error("ERR COUNT can't be negative"),
            }
        } else if opt.eq_ignore_ascii_case(b"maxlen") {
            match n {
                Some(n) if n >= 0 => maxlen = n,
                _ => return ctx.reply.error("ERR MAXLEN can't be negative"),
            }
        } else {
            return ctx.reply.error(err::SYNTAX);
        }
        i += 2;
    }
    let elem = args.get(2);
    let (e, reply) = ctx.lookup_for_reply(args.get(1));
    let l = match e.map(|e| e.value()) {
        None => {
            return match count {
                Some(_) => reply.array(0),
                None => reply.null(),
            }
        }
        Some(Value::List(l)) => l,
        Some(_) => return reply.error(err::WRONGTYPE),
    };
    let len = l.len();
    let want = match count {
        Some(0) => usize::MAX,
        Some(n) => n as usize,
        None => 1,
    };
    let limit = if maxlen == 0 {
        len
    } else {
        (maxlen as usize).min(len)
    };
    // Redis negates the rank in a C long: LONG_MIN stays negative and then matches the first
    // element found from the tail.
    let mut skip = if rank == i64::MIN {
        0
    } else {
        rank.unsigned_abs() - 1
    };
    let mut found: Vec<i64> = vec![];
    for step in 0..limit {
        let idx = if rank > 0 { step } else { len - 1 - step };
        if l.get(idx) == Some(elem) {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(idx as i64);
            if found.len() >= want {
                break;
            }
        }
    }
    match count {
        Some(_) => {
            reply.array(found.len());
            for f in found {
                reply.int(f);
            }
        }
        None => match found.first() {
            Some(&f) => reply.int(f),
            None => reply.null(),
        },
    }
}

/// Moves one element from `src`'s `from` end to `dst`'s `to` end; replies the element, or
/// null when `src` is empty (asking to block when `block` is set and blocking is allowed).
fn move_one(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], from: End, to: End, block: Option<u64>) {
    let has = match list_mut(ctx, src) {
        Err(()) => return,
        Ok(l) => l.is_some_and(|l| !l.is_empty()),
    };
    if !has {
        return match block {
            Some(ms) if ctx.may_block => ctx.notes.block = Some(ms),
            _ => ctx.reply.null(),
        };
    }
    if list_mut(ctx, dst).is_err() {
        return;
    }
    // Redis's order of events: the push to the destination, the pop, then the source's
    // deletion if it emptied.
    let Some(e) = pop_keep(ctx, src, from, 1).pop() else {
        return ctx.reply.null();
    };
    let size = ctx.settings.limits.list_max_listpack_size;
    let Ok(d) = ctx.write_or_create(dst, ValueType::List, || {
        Value::List(Box::new(List::new(size)))
    }) else {
        return;
    };
    if let Value::List(l) = d.value_mut() {
        match to {
            End::Left => l.push_front(&e),
            End::Right => l.push_back(&e),
        }
    }
    ctx.notify(ev::LIST, to.push_event(), dst);
    ctx.notify(ev::LIST, from.pop_event(), src);
    ctx.remove_if_empty(src);
    ctx.signal_ready(dst);
    ctx.reply.bulk(&e);
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
pub fn lmove(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (Some(from), Some(to)) = (parse_end(args.get(3)), parse_end(args.get(4))) else {
        return ctx.reply.error(err::SYNTAX);
    };
    move_one(ctx, args.get(1), args.get(2), from, to, None)
}

/// RPOPLPUSH source destination
pub fn rpoplpush(ctx: &mut Ctx<'_>, args: Args<'_>) {
    move_one(ctx, args.get(1), args.get(2), End::Right, End::Left, None)
}

/// Parses a blocking timeout in seconds (fractions allowed) to milliseconds (0 = forever).
pub(crate) fn timeout_ms(ctx: &mut Ctx<'_>, arg: &[u8]) -> Option<u64> {
    let t = std::str::from_utf8(arg)
        .ok()
        .filter(|_| shoal_data::numeric::is_long_double(arg))
        .and_then(|s| s.parse::<f64>().ok());
    match t {
        None => {
            ctx.reply
                .error("ERR timeout is not a float or out of range");
            None
        }
        Some(t) if t < 0.0 => {
            ctx.reply.error("ERR timeout is negative");
            None
        }
        Some(t) => {
            let ms = t * 1000.0;
            if ms > i64::MAX as f64 / 2.0 {
                ctx.reply.error("ERR timeout is out of range");
                return None;
            }
            // A positive timeout below a millisecond still waits a millisecond.
            Some(if ms > 0.0 {
                (ms.ceil() as u64).max(1)
            } else {
                0
            })
        }
    }
}

/// Pops from the first non-empty of `keys`; replies [key, element(s)] or asks to block.
fn pop_first(
    ctx: &mut Ctx<'_>,
    keys: &[&[u8]],
    end: End,
    count: Option<usize>,
    block: Option<u64>,
) {
    for &k in keys {
        match list_mut(ctx, k) {
            Err(()) => return,
            Ok(Some(l)) if !l.is_empty() => {
                let v = pop_n(ctx, k, end, count.unwrap_or(1));
                let r = &mut ctx.reply;
                r.array(2);
                r.bulk(k);
                match count {
                    None => r.bulk(&v[0]),
                    Some(_) => {
                        r.array(v.len());
                        for e in &v {
                            r.bulk(e);
                        }
                    }
                }
                return;
            }
            Ok(_) => {}
        }
    }
    match block {
        Some(ms) if ctx.may_block => ctx.notes.block = Some(ms),
        _ => ctx.reply.null_array(),
    }
}

/// Parses `numkeys key... LEFT|RIGHT [COUNT n]` of LMPOP/BLMPOP from `at`.
fn mpop_args<'a>(
    ctx: &mut Ctx<'_>,
    args: &Args<'a>,
    at: usize,
) -> Option<(Vec<&'a [u8]>, End, usize)> {
    let numkeys = match parse_i64(args.get(at)) {
        Some(n) if n > 0 => n as usize,
        _ => {
            ctx.reply.error("ERR numkeys should be greater than 0");
            return None;
        }
    };
    if numkeys.saturating_add(at + 1) >= args.len() {
        ctx.reply.error(err::SYNTAX);
        return None;
    }
    let keys: Vec<&[u8]> = (at + 1..=at + numkeys).map(|i| args.get(i)).collect();
    let mut i = at + numkeys + 1;
    let Some(end) = parse_end(args.get(i)) else {
        ctx.reply.error(err::SYNTAX);
        return None;
    };
    i += 1;
    let mut count = None;
    while i < args.len() {
        if args.get(i).eq_ignore_ascii_case(b"count") && i + 1 < args.len() && count.is_none() {
            match parse_i64(args.get(i + 1)) {
                Some(n) if n > 0 => count = Some(n as usize),
                _ => {
                    ctx.reply.error("ERR count should be greater than 0");
                    return None;
                }
            }
            i += 2;
        } else {
            ctx.reply.error(err::SYNTAX);
            return None;
        }
    }
    Some((keys, end, count.unwrap_or(1)))
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn lmpop(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if let Some((keys, end, count)) = mpop_args(ctx, &args, 1) {
        pop_first(ctx, &keys, end, Some(count), None);
    }
}

/// BLPOP key [key ...] timeout
pub fn blpop(ctx: &mut Ctx<'_>, args: Args<'_>) {
    bpop(ctx, args, End::Left)
}

/// BRPOP key [key ...] timeout
pub fn brpop(ctx: &mut Ctx<'_>, args: Args<'_>) {
    bpop(ctx, args, End::Right)
}

fn bpop(ctx: &mut Ctx<'_>, args: Args<'_>, end: End) {
    let Some(ms) = timeout_ms(ctx, args.get(args.len() - 1)) else {
        return;
    };
    let keys: Vec<&[u8]> = (1..args.len() - 1).map(|i| args.get(i)).collect();
    pop_first(ctx, &keys, end, None, Some(ms));
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
pub fn blmove(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (Some(from), Some(to)) = (parse_end(args.get(3)), parse_end(args.get(4))) else {
        return ctx.reply.error(err::SYNTAX);
    };
    let Some(ms) = timeout_ms(ctx, args.get(5)) else {
        return;
    };
    move_one(ctx, args.get(1), args.get(2), from, to, Some(ms))
}

/// BRPOPLPUSH source destination timeout
pub fn brpoplpush(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(ms) = timeout_ms(ctx, args.get(3)) else {
        return;
    };
    move_one(
        ctx,
        args.get(1),
        args.get(2),
        End::Right,
        End::Left,
        Some(ms),
    )
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn blmpop(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(ms) = timeout_ms(ctx, args.get(1)) else {
        return;
    };
    if let Some((keys, end, count)) = mpop_args(ctx, &args, 2) {
        pop_first(ctx, &keys, end, Some(count), Some(ms));
    }
}
