//! The generic (key) family: DEL, EXISTS, TYPE, expiry commands, RENAME, COPY, OBJECT.
//!
//! Each function operates on one shard; DEL/UNLINK/EXISTS/TOUCH whose keys span shards run on
//! each shard's part and the runtime sums the replies; RENAME/COPY across shards use
//! [`take_entry`]/[`put_entry`] inside a cross-shard transaction.

use crate::ctx::{err, Ctx};
use crate::registry::{Cross, Handler};
use shoal_data::events as ev;
use shoal_data::numeric::parse_i64;
use shoal_data::Value;
use shoal_protocol::Args;

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[
    ("del", Handler::Shard(del), Cross::SumInt),
    ("unlink", Handler::Shard(del), Cross::SumInt),
    ("exists", Handler::Shard(exists), Cross::SumInt),
    ("touch", Handler::Shard(touch), Cross::SumInt),
    ("type", Handler::Shard(type_), Cross::Local),
    ("expire", Handler::Shard(expire), Cross::Local),
    ("pexpire", Handler::Shard(pexpire), Cross::Local),
    ("expireat", Handler::Shard(expireat), Cross::Local),
    ("pexpireat", Handler::Shard(pexpireat), Cross::Local),
    ("ttl", Handler::Shard(ttl), Cross::Local),
    ("pttl", Handler::Shard(pttl), Cross::Local),
    ("expiretime", Handler::Shard(expiretime), Cross::Local),
    ("pexpiretime", Handler::Shard(pexpiretime), Cross::Local),
    ("persist", Handler::Shard(persist), Cross::Local),
    ("rename", Handler::Shard(rename), Cross::Rename(false)),
    ("renamenx", Handler::Shard(renamenx), Cross::Rename(true)),
    ("copy", Handler::Shard(copy), Cross::Copy),
    ("move", Handler::Shard(move_), Cross::Local),
    (
        "object|encoding",
        Handler::Shard(object_encoding),
        Cross::Local,
    ),
    ("object|freq", Handler::Shard(object_freq), Cross::Local),
    (
        "object|idletime",
        Handler::Shard(object_idletime),
        Cross::Local,
    ),
    (
        "object|refcount",
        Handler::Shard(object_refcount),
        Cross::Local,
    ),
];

/// DEL / UNLINK key [key ...]
pub fn del(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let now = ctx.now_ms;
    let db = ctx.keyspace.db(ctx.db);
    let mut n = 0;
    for k in args.iter_from(1) {
        if db.remove(k, now).is_some() {
            db.notify(ev::GENERIC, "del", k);
            n += 1;
        }
    }
    ctx.dirty(n as u64);
    ctx.reply.int(n as i64);
}

/// EXISTS key [key ...] (a key named twice counts twice)
pub fn exists(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let n = args.iter_from(1).filter(|k| ctx.read_exists(k)).count();
    ctx.reply.int(n as i64);
}

/// TOUCH key [key ...]
pub fn touch(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let mut n = 0;
    for k in args.iter_from(1) {
        if ctx.lookup(k).is_some() {
            n += 1;
        }
    }
    ctx.reply.int(n);
}

/// TYPE key
pub fn type_(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let now = ctx.now_ms;
    let t = ctx
        .db()
        .get_mut(args.get(1), now)
        .map(|e| e.value_type().name());
    match t {
        Some(t) => {
            ctx.counters.hits += 1;
            ctx.reply.simple(t)
        }
        None => {
            ctx.read_miss(args.get(1));
            ctx.reply.simple("none")
        }
    }
}

const NX: u8 = 1;
const XX: u8 = 2;
const GT: u8 = 4;
const LT: u8 = 8;

fn expire_generic(ctx: &mut Ctx<'_>, args: Args<'_>, basetime: i64, seconds: bool, name: &str) {
    let mut flags = 0u8;
    for opt in args.iter_from(3) {
        flags |= match opt.to_ascii_lowercase().as_slice() {
            b"nx" => NX,
            b"xx" => XX,
            b"gt" => GT,
            b"lt" => LT,
            _ => {
                let msg = format!("ERR Unsupported option {}", String::from_utf8_lossy(opt));
                return ctx.reply.error(&msg);
            }
        };
    }
    if flags & NX != 0 && flags & (XX | GT | LT) != 0 {
        return ctx
            .reply
            .error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if flags & GT != 0 && flags & LT != 0 {
        return ctx
            .reply
            .error("ERR GT and LT options at the same time are not compatible");
    }
    let Some(mut when) = parse_i64(args.get(2)) else {
        return ctx.reply.error(err::NOT_INTEGER);
    };
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return ctx.reply.error(&err::expire_time(name));
        }
        when *= 1000;
    }
    if when > i64::MAX - basetime {
        return ctx.reply.error(&err::expire_time(name));
    }
    when += basetime;
    let key = args.get(1);
    let Some(e) = ctx.lookup_write(key) else {
        return ctx.reply.int(0);
    };
    let current = e.expire_at();
    if (flags & NX != 0 && current.is_some())
        || (flags & XX != 0 && current.is_none())
        || (flags & GT != 0 && current.is_none_or(|c| when <= c))
        || (flags & LT != 0 && current.is_some_and(|c| when >= c))
    {
        return ctx.reply.int(0);
    }
    let now = ctx.now_ms;
    if when <= now {
        ctx.db().remove(key, now);
        ctx.notify(ev::GENERIC, "del", key);
    } else {
        ctx.db().set_expire(key, Some(when), now);
        ctx.notify(ev::GENERIC, "expire", key);
    }
    ctx.dirty(1);
    ctx.reply.int(1);
}

/// EXPIRE key seconds [NX|XX|GT|LT]
pub fn expire(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let now = ctx.now_ms;
    expire_generic(ctx, args, now, true, "expire")
}

/// PEXPIRE key milliseconds [NX|XX|GT|LT]
pub fn pexpire(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let now = ctx.now_ms;
    expire_generic(ctx, args, now, false, "pexpire")
}

/// EXPIREAT key unix-seconds [NX|XX|GT|LT]
pub fn expireat(ctx: &mut Ctx<'_>, args: Args<'_>) {
    expire_generic(ctx, args, 0, true, "expireat")
}

/// PEXPIREAT key unix-ms [NX|XX|GT|LT]
pub fn pexpireat(ctx: &mut Ctx<'_>, args: Args<'_>) {
    expire_generic(ctx, args, 0, false, "pexpireat")
}

fn ttl_generic(ctx: &mut Ctx<'_>, key: &[u8], ms: bool, absolute: bool) {
    let now = ctx.now_ms;
    let no_touch = ctx.no_touch;
    let Some(e) = ctx.keyspace.db(ctx.db).get_mut(key, now) else {
        ctx.read_miss(key);
        return ctx.reply.int(-2);
    };
    ctx.counters.hits += 1;
    if !no_touch {
        e.touch(now);
    }
    let Some(at) = e.expire_at() else {
        return ctx.reply.int(-1);
    };
    let v = match (absolute, ms) {
        (true, true) => at,
        (true, false) => at / 1000,
        (false, true) => (at - now).max(0),
        (false, false) => ((at - now).max(0) + 500) / 1000,
    };
    ctx.reply.int(v);
}

/// TTL key
pub fn ttl(ctx: &mut Ctx<'_>, args: Args<'_>) {
    ttl_generic(ctx, args.get(1), false, false)
}

/// PTTL key
pub fn pttl(ctx: &mut Ctx<'_>, args: Args<'_>) {
    ttl_generic(ctx, args.get(1), true, false)
}

/// EXPIRETIME key
pub fn expiretime(ctx: &mut Ctx<'_>, args: Args<'_>) {
    ttl_generic(ctx, args.get(1), false, true)
}

/// PEXPIRETIME key
pub fn pexpiretime(ctx: &mut Ctx<'_>, args: Args<'_>) {
    ttl_generic(ctx, args.get(1), true, true)
}

/// PERSIST key
pub fn persist(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(1);
    let now = ctx.now_ms;
    let had = ctx
        .lookup_write(key)
        .is_some_and(|e| e.expire_at().is_some());
    if had {
        ctx.db().set_expire(key, None, now);
        ctx.dirty(1);
        ctx.notify(ev::GENERIC, "persist", key);
    }
    ctx.reply.int(had as i64);
}

/// A value moved between shards by RENAME/COPY: the value and its absolute expiry (0 = none).
pub type Moved = (Value, i64);

/// Removes (or, for COPY, clones) `key` from the client's database for a cross-shard move.
pub fn take_entry(ctx: &mut Ctx<'_>, db: usize, key: &[u8], remove: bool) -> Option<Moved> {
    let now = ctx.now_ms;
    let d = ctx.keyspace.db(db);
    if remove {
        d.remove(key, now).map(|e| {
            let at = e.expire_at().unwrap_or(0);
            (e.into_value(), at)
        })
    } else {
        d.get_mut(key, now)
            .map(|e| (e.to_value(), e.expire_at().unwrap_or(0)))
    }
}

/// Whether `key` exists in database `db` of this shard.
pub fn key_exists(ctx: &mut Ctx<'_>, db: usize, key: &[u8]) -> bool {
    let now = ctx.now_ms;
    ctx.keyspace.db(db).contains(key, now)
}

/// Stores a moved value under `key` in database `db`, replacing what was there.
pub fn put_entry(ctx: &mut Ctx<'_>, db: usize, key: &[u8], moved: Moved) {
    let now = ctx.now_ms;
    let d = ctx.keyspace.db(db);
    replace_for_new(d, key, now);
    d.insert(key, moved.0, moved.1, now);
    ctx.dirty(1);
}

/// Redis deletes a key RENAME or COPY overwrites and adds the new one, which announces a `new`
/// event even when the key existed.
fn replace_for_new(d: &mut shoal_data::Db, key: &[u8], now: i64) {
    if d.notify & ev::NEW != 0 {
        d.remove(key, now);
    }
}

/// Stores a copy (COPY): as Redis's dupStringObject, a copied integer is not a shared object.
pub fn put_copy(ctx: &mut Ctx<'_>, db: usize, key: &[u8], moved: Moved) {
    let now = ctx.now_ms;
    let d = ctx.keyspace.db(db);
    replace_for_new(d, key, now);
    d.insert(key, moved.0, moved.1, now);
    if let Some(e) = d.get_mut(key, now) {
        e.set_unshared(true);
    }
    d.notify(ev::GENERIC, "copy_to", key);
    ctx.dirty(1);
}

fn rename_generic(ctx: &mut Ctx<'_>, args: Args<'_>, nx: bool) {
    let (src, dst) = (args.get(1), args.get(2));
    if ctx.lookup_write(src).is_none() {
        return ctx.reply.error(err::NO_SUCH_KEY);
    }
    if src == dst {
        return if nx { ctx.reply.int(0) } else { ctx.reply.ok() };
    }
    let db = ctx.db;
    if nx && key_exists(ctx, db, dst) {
        return ctx.reply.int(0);
    }
    if let Some(moved) = take_entry(ctx, db, src, true) {
        put_entry(ctx, db, dst, moved);
        ctx.notify(ev::GENERIC, "rename_from", src);
        ctx.notify(ev::GENERIC, "rename_to", dst);
    }
    if nx {
        ctx.reply.int(1)
    } else {
        ctx.reply.ok()
    }
}

/// RENAME key newkey
pub fn rename(ctx: &mut Ctx<'_>, args: Args<'_>) {
    rename_generic(ctx, args, false)
}

/// RENAMENX key newkey
pub fn renamenx(ctx: &mut Ctx<'_>, args: Args<'_>) {
    rename_generic(ctx, args, true)
}

/// Parsed COPY options.
pub struct CopyOptions {
    /// Destination database.
    pub db: usize,
    /// REPLACE given.
    pub replace: bool,
}

/// Parses COPY's options; replies the error and returns None on bad input.
pub fn copy_options(ctx: &mut Ctx<'_>, args: &Args<'_>) -> Option<CopyOptions> {
    let mut o = CopyOptions {
        db: ctx.db,
        replace: false,
    };
    let mut j = 3;
    while j < args.len() {
        let a = args.get(j);
        if a.eq_ignore_ascii_case(b"replace") {
            o.replace = true;
        } else if a.eq_ignore_ascii_case(b"db") && j + 1 < args.len() {
            let Some(id) = parse_i64(args.get(j + 1)).filter(|n| i32::try_from(*n).is_ok()) else {
                ctx.reply.error(err::NOT_INTEGER);
                return None;
            };
            if id < 0 || id as usize >= ctx.keyspace.databases() {
                ctx.reply.error(err::DB_RANGE);
                return None;
            }
            o.db = id as usize;
            j += 1;
        } else {
            ctx.reply.error(err::SYNTAX);
            return None;
        }
        j += 1;
    }
    if o.db == ctx.db && args.get(1) == args.get(2) {
        ctx.reply.error(err::SAME_OBJECT);
        return None;
    }
    Some(o)
}

/// COPY source destination [DB destination-db] [REPLACE]
pub fn copy(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(o) = copy_options(ctx, &args) else {
        return;
    };
    let db = ctx.db;
    let Some(moved) = take_entry(ctx, db, args.get(1), false) else {
        ctx.read_miss(args.get(1));
        return ctx.reply.int(0);
    };
    if !o.replace && key_exists(ctx, o.db, args.get(2)) {
        return ctx.reply.int(0);
    }
    put_copy(ctx, o.db, args.get(2), moved);
    ctx.reply.int(1);
}

/// MOVE key db: a key's slot belongs to the same shard in every database, so the move stays
/// on this shard.
pub fn move_(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(id) = parse_i64(args.get(2)).filter(|n| i32::try_from(*n).is_ok()) else {
        return ctx.reply.error(err::NOT_INTEGER);
    };
    if id < 0 || id as usize >= ctx.keyspace.databases() {
        return ctx.reply.error(err::DB_RANGE);
    }
    let (src, dst, key) = (ctx.db, id as usize, args.get(1));
    if src == dst {
        return ctx.reply.error(err::SAME_OBJECT);
    }
    if ctx.lookup_write(key).is_none() || key_exists(ctx, dst, key) {
        return ctx.reply.int(0);
    }
    let Some((value, expire_at)) = take_entry(ctx, src, key, true) else {
        return ctx.reply.int(0);
    };
    let now = ctx.now_ms;
    let d = ctx.keyspace.db(dst);
    // The events go to the source database's list, to keep Redis's order across the two.
    let notify = std::mem::take(&mut d.notify);
    d.insert(key, value, expire_at, now);
    d.notify = notify;
    let s = ctx.keyspace.db(src);
    s.notify_in(dst, ev::NEW, "new", key);
    s.notify(ev::GENERIC, "move_from", key);
    s.notify_in(dst, ev::GENERIC, "move_to", key);
    ctx.dirty(1);
    ctx.reply.int(1);
}

fn object_lookup<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Option<&'c mut shoal_data::Entry> {
    let now = ctx.now_ms;
    let e = ctx.keyspace.db(ctx.db).get_mut(key, now);
    if e.is_none() {
        ctx.reply.null();
    }
    e
}

/// OBJECT ENCODING key
pub fn object_encoding(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if let Some(e) = object_lookup(ctx, args.get(2)) {
        let name = e.encoding_name();
        ctx.reply.bulk(name.as_bytes());
    }
}

/// OBJECT REFCOUNT key
pub fn object_refcount(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if let Some(e) = object_lookup(ctx, args.get(2)) {
        let n = e.refcount();
        ctx.reply.int(n);
    }
}

/// OBJECT IDLETIME key
pub fn object_idletime(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let now_s = ctx.now_ms / 1000;
    let lfu = ctx.settings.lfu_policy;
    if let Some(e) = object_lookup(ctx, args.get(2)) {
        if lfu {
            return ctx.reply.error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        }
        let idle = (now_s - e.access() as i64).max(0);
        ctx.reply.int(idle);
    }
}

/// OBJECT FREQ key
pub fn object_freq(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let lfu = ctx.settings.lfu_policy;
    if object_lookup(ctx, args.get(2)).is_some() {
        if !lfu {
            return ctx.reply.error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        }
        ctx.reply.int(0);
    }
}
