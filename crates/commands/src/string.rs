//! The string family: GET, SET and its options, counters, ranges, APPEND, LCS, MGET/MSET parts.
//!
//! Each function is the operation on the shard that owns the keys; when MGET/MSET/MSETNX keys
//! span shards, the runtime runs the same function on each shard's part.

use crate::ctx::{err, Ctx};
use crate::registry::{Cross, Handler};
use shoal_data::events as ev;
use shoal_data::numeric::{incr_by_float, parse_i64, FloatIncrError};
use shoal_data::value::itoa_buf;
use shoal_data::{Entry, Value};
use shoal_protocol::Args;

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[
    ("get", Handler::Shard(get), Cross::Local),
    ("set", Handler::Shard(set), Cross::Local),
    ("setnx", Handler::Shard(setnx), Cross::Local),
    ("setex", Handler::Shard(setex), Cross::Local),
    ("psetex", Handler::Shard(psetex), Cross::Local),
    ("getset", Handler::Shard(getset), Cross::Local),
    ("getdel", Handler::Shard(getdel), Cross::Local),
    ("getex", Handler::Shard(getex), Cross::Local),
    ("mget", Handler::Shard(mget), Cross::Mget),
    ("mset", Handler::Shard(mset), Cross::Mset),
    ("msetnx", Handler::Shard(msetnx), Cross::Msetnx),
    ("append", Handler::Shard(append), Cross::Local),
    ("strlen", Handler::Shard(strlen), Cross::Local),
    ("incr", Handler::Shard(incr), Cross::Local),
    ("decr", Handler::Shard(decr), Cross::Local),
    ("incrby", Handler::Shard(incrby), Cross::Local),
    ("decrby", Handler::Shard(decrby), Cross::Local),
    ("incrbyfloat", Handler::Shard(incrbyfloat), Cross::Local),
    ("setrange", Handler::Shard(setrange), Cross::Local),
    ("getrange", Handler::Shard(getrange), Cross::Local),
    ("substr", Handler::Shard(getrange), Cross::Local),
    ("lcs", Handler::Shard(lcs), Cross::Lcs),
];

/// GET key
pub fn get(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match ctx.lookup_for_reply(args.get(1)) {
        (None, reply) => reply.null(),
        (Some(e), reply) => reply_value(reply, e),
    }
}

/// Replies a string value as a bulk string, or WRONGTYPE for another type.
#[inline]
fn reply_value(reply: &mut shoal_protocol::Reply<'_>, e: &Entry) {
    match e.bytes() {
        Some(b) => reply.bulk(b),
        None => match e.value() {
            Value::Int(n) => reply.bulk_int(*n),
            _ => reply.error(err::WRONGTYPE),
        },
    }
}

/// [`reply_value`] for a value taken out of its record.
fn reply_detached(reply: &mut shoal_protocol::Reply<'_>, v: &Value) {
    match v {
        Value::Int(n) => reply.bulk_int(*n),
        Value::Embstr(b) => reply.bulk(b),
        Value::Raw(b) => reply.bulk(b),
        _ => reply.error(err::WRONGTYPE),
    }
}

/// Whether `key` holds a value that is not a string (replying WRONGTYPE if so).
fn wrong_type(ctx: &mut Ctx<'_>, key: &[u8]) -> bool {
    let wrong = ctx.lookup_write(key).is_some_and(|e| !e.is_string());
    if wrong {
        ctx.reply.error(err::WRONGTYPE);
    }
    wrong
}

#[derive(Default)]
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// (argument index, unit is seconds, absolute)
    expire: Option<(usize, bool, bool)>,
}

/// Parses SET/GETEX options from `from` on, as Redis's parseExtendedStringArgumentsOrReply.
fn parse_set_options(args: &Args<'_>, from: usize, is_set: bool) -> Option<SetOptions> {
    let mut o = SetOptions::default();
    let mut j = from;
    while j < args.len() {
        let opt = args.get(j);
        let has_next = j + 1 < args.len();
        let has_expire = o.expire.is_some();
        let eq = |s: &str| opt.eq_ignore_ascii_case(s.as_bytes());
        if eq("nx") && !o.xx && is_set {
            o.nx = true;
        } else if eq("xx") && !o.nx && is_set {
            o.xx = true;
        } else if eq("get") && is_set {
            o.get = true;
        } else if eq("keepttl") && !o.persist && !has_expire && is_set {
            o.keepttl = true;
        } else if eq("persist") && !is_set && !has_expire && !o.keepttl {
            o.persist = true;
        } else if (eq("ex") || eq("px") || eq("exat") || eq("pxat"))
            && !o.keepttl
            && !o.persist
            && has_next
        {
            let seconds = eq("ex") || eq("exat");
            let absolute = eq("exat") || eq("pxat");
            // The same option may repeat; a different expiry option may not.
            if let Some((_, s, a)) = o.expire {
                if s != seconds || a != absolute {
                    return None;
                }
            }
            o.expire = Some((j + 1, seconds, absolute));
            j += 1;
        } else {
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// Converts an expiry argument to absolute unix ms, replying the error Redis replies on failure.
fn expire_ms(
    ctx: &mut Ctx<'_>,
    arg: &[u8],
    seconds: bool,
    absolute: bool,
    name: &str,
) -> Option<i64> {
    let Some(mut ms) = parse_i64(arg) else {
        ctx.reply.error(err::NOT_INTEGER);
        return None;
    };
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        ctx.reply.error(&err::expire_time(name));
        return None;
    }
    if seconds {
        ms *= 1000;
    }
    if !absolute {
        ms = ms.wrapping_add(ctx.now_ms);
    }
    if ms <= 0 {
        ctx.reply.error(&err::expire_time(name));
        return None;
    }
    Some(ms)
}

/// The core of SET/SETNX/SETEX/PSETEX.
fn set_generic(
    ctx: &mut Ctx<'_>,
    name: &str,
    key: &[u8],
    val: &[u8],
    o: &SetOptions,
    expire_arg: Option<&[u8]>,
    ok_reply: Option<i64>,
) {
    let mut expire = 0;
    if let (Some(arg), Some((_, seconds, absolute))) = (expire_arg, o.expire) {
        match expire_ms(ctx, arg, seconds, absolute, name) {
            Some(ms) => expire = ms,
            None => return,
        }
    }
    let found = ctx
        .lookup_write(key)
        .map(|e| (e.expire_at(), o.get.then(|| e.to_value())));
    if let Some((_, Some(v))) = &found {
        if !v.is_string() {
            return ctx.reply.error(err::WRONGTYPE);
        }
    }
    let found = match found {
        Some((at, old)) => {
            if let Some(v) = old {
                reply_detached(&mut ctx.reply, &v);
            }
            Some(at)
        }
        None => {
            if o.get {
                ctx.read_miss(key);
                ctx.reply.null();
            }
            None
        }
    };
    if (o.nx && found.is_some()) || (o.xx && found.is_none()) {
        if !o.get {
            match ok_reply {
                Some(_) => ctx.reply.int(0),
                None => ctx.reply.null(),
            }
        }
        return;
    }
    if expire == 0 && o.keepttl {
        expire = found.flatten().unwrap_or(0);
    }
    let now = ctx.now_ms;
    ctx.db().insert(key, Value::string(val), expire, now);
    ctx.dirty(1);
    ctx.notify(ev::STRING, "set", key);
    if expire_arg.is_some() && o.expire.is_some() {
        ctx.notify(ev::GENERIC, "expire", key);
    }
    if !o.get {
        match ok_reply {
            Some(n) => ctx.reply.int(n),
            None => ctx.reply.ok(),
        }
    }
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ts|KEEPTTL]
pub fn set(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if args.len() == 3 {
        // The common case: no options.
        let (now, key) = (ctx.now_ms, args.get(1));
        let slot = ctx.slot_of(key);
        ctx.db()
            .insert_in(slot, key, Value::string(args.get(2)), 0, now);
        ctx.dirty(1);
        ctx.notify(ev::STRING, "set", key);
        ctx.reply.ok();
        return;
    }
    let Some(o) = parse_set_options(&args, 3, true) else {
        ctx.reply.error(err::SYNTAX);
        return;
    };
    let expire_arg = o.expire.map(|(i, _, _)| args.get(i));
    set_generic(ctx, "set", args.get(1), args.get(2), &o, expire_arg, None);
}

/// SETNX key value
pub fn setnx(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let o = SetOptions {
        nx: true,
        ..Default::default()
    };
    set_generic(ctx, "setnx", args.get(1), args.get(2), &o, None, Some(1));
}

/// SETEX key seconds value
pub fn setex(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let o = SetOptions {
        expire: Some((2, true, false)),
        ..Default::default()
    };
    set_generic(
        ctx,
        "setex",
        args.get(1),
        args.get(3),
        &o,
        Some(args.get(2)),
        None,
    );
}

/// PSETEX key milliseconds value
pub fn psetex(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let o = SetOptions {
        expire: Some((2, false, false)),
        ..Default::default()
    };
    set_generic(
        ctx,
        "psetex",
        args.get(1),
        args.get(3),
        &o,
        Some(args.get(2)),
        None,
    );
}

/// GETSET key value
pub fn getset(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let o = SetOptions {
        get: true,
        ..Default::default()
    };
    set_generic(ctx, "getset", args.get(1), args.get(2), &o, None, None);
}

/// GETDEL key
pub fn getdel(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(1);
    let now = ctx.now_ms;
    if wrong_type(ctx, key) {
        return;
    }
    match ctx.db().remove(key, now) {
        None => {
            ctx.read_miss(key);
            ctx.reply.null()
        }
        Some(e) => {
            reply_value(&mut ctx.reply, &e);
            ctx.dirty(1);
            ctx.notify(ev::GENERIC, "del", key);
        }
    }
}

/// GETEX key [EX s|PX ms|EXAT ts|PXAT ts|PERSIST]
pub fn getex(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(o) = parse_set_options(&args, 2, false) else {
        ctx.reply.error(err::SYNTAX);
        return;
    };
    let key = args.get(1);
    let Some(e) = ctx.lookup(key) else {
        ctx.reply.null();
        return;
    };
    if !e.is_string() {
        return ctx.reply.error(err::WRONGTYPE);
    }
    let value = e.to_value();
    let mut when = None;
    if let Some((i, seconds, absolute)) = o.expire {
        match expire_ms(ctx, args.get(i), seconds, absolute, "getex") {
            Some(ms) => when = Some((ms, absolute)),
            None => return,
        }
    }
    reply_detached(&mut ctx.reply, &value);
    let now = ctx.now_ms;
    match when {
        Some((ms, true)) if ms <= now => {
            ctx.db().remove(key, now);
            ctx.dirty(1);
            ctx.notify(ev::GENERIC, "del", key);
        }
        Some((ms, _)) => {
            ctx.db().set_expire(key, Some(ms), now);
            ctx.dirty(1);
            ctx.notify(ev::GENERIC, "expire", key);
        }
        None if o.persist && ctx.db().set_expire(key, None, now) => {
            ctx.dirty(1);
            ctx.notify(ev::GENERIC, "persist", key);
        }
        None => {}
    }
}

/// MGET key [key ...]
pub fn mget(ctx: &mut Ctx<'_>, args: Args<'_>) {
    ctx.reply.array(args.len() - 1);
    for key in args.iter_from(1) {
        mget_element(ctx, key);
    }
}

/// One element of an MGET reply (the value, or null for a missing key); cross-shard MGETs
/// build each shard's elements with it.
pub fn mget_element(ctx: &mut Ctx<'_>, key: &[u8]) {
    match ctx.lookup_for_reply(key) {
        (Some(e), reply) if e.is_string() => reply_value(reply, e),
        (_, reply) => reply.null(),
    }
}

/// MSET key value [key value ...]
pub fn mset(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if args.len().is_multiple_of(2) {
        ctx.reply.error(&err::arity("mset"));
        return;
    }
    mset_pairs(ctx, &args);
    ctx.reply.ok();
}

fn mset_pairs(ctx: &mut Ctx<'_>, args: &Args<'_>) {
    let now = ctx.now_ms;
    let db = ctx.keyspace.db(ctx.db);
    let mut i = 1;
    while i + 1 < args.len() {
        db.insert(args.get(i), Value::string(args.get(i + 1)), 0, now);
        db.notify(ev::STRING, "set", args.get(i));
        i += 2;
    }
    ctx.dirty((args.len() as u64 - 1) / 2);
}

/// MSETNX key value [key value ...]
pub fn msetnx(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if args.len().is_multiple_of(2) {
        ctx.reply.error(&err::arity("msetnx"));
        return;
    }
    let now = ctx.now_ms;
    let db = ctx.keyspace.db(ctx.db);
    let mut i = 1;
    while i < args.len() {
        if db.contains(args.get(i), now) {
            ctx.reply.int(0);
            return;
        }
        i += 2;
    }
    mset_pairs(ctx, &args);
    ctx.reply.int(1);
}

/// APPEND key value
pub fn append(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (key, add) = (args.get(1), args.get(2));
    let max = ctx.settings.proto_max_bulk_len;
    let len = match ctx.lookup_write(key) {
        None => {
            let now = ctx.now_ms;
            ctx.db().insert(key, Value::string(add), 0, now);
            add.len()
        }
        Some(e) if !e.is_string() => return ctx.reply.error(err::WRONGTYPE),
        Some(e) => {
            if (e.str_len() + add.len()) as i64 > max {
                ctx.reply.error(err::STRING_TOO_LONG);
                return;
            }
            let v = e.make_raw();
            v.extend_from_slice(add);
            v.len()
        }
    };
    ctx.dirty(1);
    ctx.notify(ev::STRING, "append", key);
    ctx.reply.int(len as i64);
}

/// STRLEN key
pub fn strlen(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match ctx.lookup_for_reply(args.get(1)) {
        (Some(e), reply) if !e.is_string() => reply.error(err::WRONGTYPE),
        (e, reply) => reply.int(e.map_or(0, |e| e.str_len()) as i64),
    }
}

fn incr_decr(ctx: &mut Ctx<'_>, key: &[u8], by: i64) {
    let now = ctx.now_ms;
    let entry: Option<&mut Entry> = ctx.lookup_write(key);
    let current = match entry {
        None => 0,
        Some(e) => match (e.bytes(), e.value()) {
            (Some(b), _) => match parse_i64(b) {
                Some(n) => n,
                None => return ctx.reply.error(err::NOT_INTEGER),
            },
            (None, Value::Int(n)) => *n,
            _ => return ctx.reply.error(err::WRONGTYPE),
        },
    };
    let Some(new) = current.checked_add(by) else {
        return ctx.reply.error(err::OVERFLOW);
    };
    ctx.db().replace_value(key, Value::Int(new), now);
    ctx.dirty(1);
    ctx.notify(ev::STRING, "incrby", key);
    ctx.reply.int(new);
}

/// INCR key
pub fn incr(ctx: &mut Ctx<'_>, args: Args<'_>) {
    incr_decr(ctx, args.get(1), 1)
}

/// DECR key
pub fn decr(ctx: &mut Ctx<'_>, args: Args<'_>) {
    incr_decr(ctx, args.get(1), -1)
}

/// INCRBY key increment
pub fn incrby(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match parse_i64(args.get(2)) {
        Some(n) => incr_decr(ctx, args.get(1), n),
        None => ctx.reply.error(err::NOT_INTEGER),
    }
}

/// DECRBY key decrement
pub fn decrby(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match parse_i64(args.get(2)) {
        Some(i64::MIN) => ctx.reply.error("ERR decrement would overflow"),
        Some(n) => incr_decr(ctx, args.get(1), -n),
        None => ctx.reply.error(err::NOT_INTEGER),
    }
}

/// INCRBYFLOAT key increment (long double arithmetic, formatted as Redis does)
pub fn incrbyfloat(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(1);
    let mut scratch = itoa_buf::Buffer::new();
    let result = match ctx.lookup_write(key) {
        None => incr_by_float(None, args.get(2)),
        Some(e) if !e.is_string() => return ctx.reply.error(err::WRONGTYPE),
        Some(e) => incr_by_float(Some(e.str_bytes(&mut scratch)), args.get(2)),
    };
    match result {
        Ok(bytes) => {
            ctx.reply.bulk(&bytes);
            let now = ctx.now_ms;
            ctx.db().replace_value(key, Value::plain_string(bytes), now);
            ctx.dirty(1);
            ctx.notify(ev::STRING, "incrbyfloat", key);
        }
        Err(FloatIncrError::NotAFloat) => ctx.reply.error(err::NOT_FLOAT),
        Err(FloatIncrError::NanOrInfinity) => ctx
            .reply
            .error("ERR increment would produce NaN or Infinity"),
    }
}

/// SETRANGE key offset value
pub fn setrange(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (key, value) = (args.get(1), args.get(3));
    let Some(offset) = parse_i64(args.get(2)) else {
        return ctx.reply.error(err::NOT_INTEGER);
    };
    if offset < 0 {
        return ctx.reply.error(err::OFFSET_RANGE);
    }
    let max = ctx.settings.proto_max_bulk_len;
    let too_long = (offset as i128 + value.len() as i128) > max as i128;
    let now = ctx.now_ms;
    match ctx.lookup_write(key) {
        None => {
            if value.is_empty() {
                return ctx.reply.int(0);
            }
            if too_long {
                return ctx.reply.error(err::STRING_TOO_LONG);
            }
            let mut v = vec![0u8; offset as usize + value.len()];
            v[offset as usize..].copy_from_slice(value);
            let len = v.len();
            ctx.db().insert(key, Value::Raw(v), 0, now);
            ctx.dirty(1);
            ctx.notify(ev::STRING, "setrange", key);
            ctx.reply.int(len as i64);
        }
        Some(e) if !e.is_string() => ctx.reply.error(err::WRONGTYPE),
        Some(e) => {
            if value.is_empty() {
                let n = e.str_len();
                return ctx.reply.int(n as i64);
            }
            if too_long {
                return ctx.reply.error(err::STRING_TOO_LONG);
            }
            let v = e.make_raw();
            let end = offset as usize + value.len();
            if v.len() < end {
                v.resize(end, 0);
            }
            v[offset as usize..end].copy_from_slice(value);
            let len = v.len();
            ctx.dirty(1);
            ctx.notify(ev::STRING, "setrange", key);
            ctx.reply.int(len as i64);
        }
    }
}

/// GETRANGE key start end (and SUBSTR)
pub fn getrange(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (Some(mut start), Some(mut end)) = (parse_i64(args.get(2)), parse_i64(args.get(3))) else {
        return ctx.reply.error(err::NOT_INTEGER);
    };
    let mut scratch = itoa_buf::Buffer::new();
    let Some(e) = ctx.lookup(args.get(1)) else {
        return ctx.reply.bulk(b"");
    };
    if !e.is_string() {
        return ctx.reply.error(err::WRONGTYPE);
    }
    let value = e.to_value();
    let s = value.as_bytes(&mut scratch);
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return ctx.reply.bulk(b"");
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ctx.reply.bulk(b"");
    } else {
        ctx.reply.bulk(&s[start as usize..=end as usize]);
    }
}

/// A key holding a value of another type than the command expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// A key's string value for LCS: `Err` when the key holds another type.
pub type LcsInput = Result<Option<Vec<u8>>, WrongType>;

/// Reads a key for LCS on the shard that owns it.
pub fn lcs_input(ctx: &mut Ctx<'_>, key: &[u8]) -> LcsInput {
    let mut scratch = itoa_buf::Buffer::new();
    match ctx.lookup(key) {
        Some(e) if !e.is_string() => Err(WrongType),
        e => Ok(e.map(|e| e.str_bytes(&mut scratch).to_vec())),
    }
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
pub fn lcs(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let a = lcs_input(ctx, args.get(1));
    let b = lcs_input(ctx, args.get(2));
    lcs_reply(ctx, args, a, b);
}

/// Computes LCS over values already read (possibly on other shards) and replies.
pub fn lcs_reply(ctx: &mut Ctx<'_>, args: Args<'_>, a: LcsInput, b: LcsInput) {
    let (Ok(a), Ok(b)) = (a, b) else {
        return ctx
            .reply
            .error("ERR The specified keys must contain string values");
    };
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    let (mut getlen, mut getidx, mut withmatchlen, mut minmatchlen) = (false, false, false, 0i64);
    let mut j = 3;
    while j < args.len() {
        let opt = args.get(j);
        let more = args.len() - 1 - j;
        if opt.eq_ignore_ascii_case(b"idx") {
            getidx = true;
        } else if opt.eq_ignore_ascii_case(b"len") {
            getlen = true;
        } else if opt.eq_ignore_ascii_case(b"withmatchlen") {
            withmatchlen = true;
        } else if opt.eq_ignore_ascii_case(b"minmatchlen") && more > 0 {
            match parse_i64(args.get(j + 1)) {
                Some(n) => minmatchlen = n.max(0),
                None => return ctx.reply.error(err::NOT_INTEGER),
            }
            j += 1;
        } else {
            return ctx.reply.error(err::SYNTAX);
        }
        j += 1;
    }
    if getidx && getlen {
        return ctx
            .reply
            .error("ERR If you want both the length and indexes, please just use IDX.");
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen + 1) as u128 * (blen + 1) as u128 * 4;
    if cells > ctx.settings.proto_max_bulk_len as u128 {
        return ctx
            .reply
            .error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    let w = blen + 1;
    let mut t = vec![0u32; (alen + 1) * (blen + 1)];
    for i in 1..=alen {
        for jj in 1..=blen {
            t[i * w + jj] = if a[i - 1] == b[jj - 1] {
                t[(i - 1) * w + jj - 1] + 1
            } else {
                t[(i - 1) * w + jj].max(t[i * w + jj - 1])
            };
        }
    }
    let total = t[alen * w + blen];
    let compute = getidx || !getlen;
    let mut result = vec![0u8; if compute { total as usize } else { 0 }];
    let mut ranges: Vec<[i64; 5]> = vec![];
    let (mut i, mut jj, mut idx) = (alen, blen, total as usize);
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0usize, 0usize, 0usize);
    while compute && i > 0 && jj > 0 {
        let mut emit = false;
        if a[i - 1] == b[jj - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == alen {
                a_start = i - 1;
                a_end = i - 1;
                b_start = jj - 1;
                b_end = jj - 1;
            } else if a_start == i && b_start == jj {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            jj -= 1;
        } else {
            if t[(i - 1) * w + jj] > t[i * w + jj - 1] {
                i -= 1;
            } else {
                jj -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        let match_len = a_end.wrapping_sub(a_start).wrapping_add(1);
        if emit {
            if minmatchlen == 0 || match_len as i64 >= minmatchlen {
                ranges.push([
                    a_start as i64,
                    a_end as i64,
                    b_start as i64,
                    b_end as i64,
                    match_len as i64,
                ]);
            }
            a_start = alen;
        }
    }
    if getidx {
        let r = &mut ctx.reply;
        r.map(2);
        r.bulk(b"matches");
        r.array(ranges.len());
        for m in &ranges {
            r.array(2 + withmatchlen as usize);
            r.array(2);
            r.int(m[0]);
            r.int(m[1]);
            r.array(2);
            r.int(m[2]);
            r.int(m[3]);
            if withmatchlen {
                r.int(m[4]);
            }
        }
        r.bulk(b"len");
        r.int(total as i64);
    } else if getlen {
        ctx.reply.int(total as i64);
    } else {
        ctx.reply.bulk(&result);
    }
}
