//! The set family: SADD, SREM, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS, SPOP, SRANDMEMBER,
//! SMOVE, SINTER, SINTERCARD, SUNION, SDIFF, their *STORE forms and SSCAN.
//!
//! Every operation follows Redis 7.0's t_set.c step for step where the result can be observed:
//! error order, reply types (RESP3 sets where Redis sends them) and the encoding of every set it
//! creates or rebuilds (an intset while all members are integers and the set is small), so
//! OBJECT ENCODING agrees after any sequence of commands.

use crate::ctx::{err, Ctx};
use crate::registry::{Cross, Handler};
use hashbrown::{HashMap, HashSet};
use shoal_data::events as ev;
use shoal_data::glob;
use shoal_data::numeric::parse_i64;
use shoal_data::value::itoa_buf;
use shoal_data::{Elem, Set, Value, ValueType};
use shoal_protocol::{Args, Reply};

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[
    ("sadd", Handler::Shard(sadd), Cross::Local),
    ("srem", Handler::Shard(srem), Cross::Local),
    ("scard", Handler::Shard(scard), Cross::Local),
    ("sismember", Handler::Shard(sismember), Cross::Local),
    ("smismember", Handler::Shard(smismember), Cross::Local),
    ("smembers", Handler::Shard(smembers), Cross::Local),
    ("spop", Handler::Shard(spop), Cross::Local),
    ("srandmember", Handler::Shard(srandmember), Cross::Local),
    ("sscan", Handler::Shard(sscan), Cross::Local),
    ("smove", Handler::Shard(smove), Cross::Gather),
    ("sinter", Handler::Shard(sinter), Cross::Gather),
    ("sintercard", Handler::Shard(sintercard), Cross::Gather),
    ("sinterstore", Handler::Shard(sinterstore), Cross::Gather),
    ("sunion", Handler::Shard(sunion), Cross::Gather),
    ("sunionstore", Handler::Shard(sunionstore), Cross::Gather),
    ("sdiff", Handler::Shard(sdiff), Cross::Gather),
    ("sdiffstore", Handler::Shard(sdiffstore), Cross::Gather),
];

/// Error replies of this family, worded as Redis 7.0 words them.
const ERR_POSITIVE: &str = "ERR value is out of range, must be positive";
const ERR_RANDMEMBER_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const ERR_NUMKEYS: &str = "ERR numkeys should be greater than 0";
const ERR_TOO_MANY_KEYS: &str = "ERR Number of keys can't be greater than number of args";
const ERR_LIMIT: &str = "ERR LIMIT can't be negative";
const ERR_CURSOR: &str = "ERR invalid cursor";

/// SPOP: pop one by one while the set keeps more than count / this many members; else build
/// the remaining set anew (Redis's SPOP_MOVE_STRATEGY_MUL).
const SPOP_MOVE_STRATEGY_MUL: u64 = 5;
/// SRANDMEMBER: copy the set and drop random members when it is not this many times larger
/// than the count (Redis's SRANDMEMBER_SUB_STRATEGY_MUL).
const SRANDMEMBER_SUB_STRATEGY_MUL: u64 = 3;

/// A generator for one command's random choices, seeded from the shard's, so it can run while
/// the keyspace is borrowed (splitmix64).
struct Rand(u64);

impl Rand {
    fn new(ctx: &mut Ctx<'_>) -> Self {
        Rand(ctx.random())
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn as_set(v: &Value) -> Option<&Set> {
    match v {
        Value::Set(s) => Some(s),
        _ => None,
    }
}

fn as_set_mut(v: &mut Value) -> Option<&mut Set> {
    match v {
        Value::Set(s) => Some(s),
        _ => None,
    }
}

/// Looks a set up for reading (counting the hit or miss), lending the reply builder;
/// Err (WRONGTYPE replied) when the key holds another type.
fn read_set<'c, 'a>(
    ctx: &'c mut Ctx<'a>,
    key: &[u8],
) -> Result<(Option<&'c Set>, &'c mut Reply<'a>), ()> {
    let (e, reply) = ctx.lookup_for_reply(key);
    match e {
        None => Ok((None, reply)),
        Some(e) => match as_set(e.value()) {
            Some(s) => Ok((Some(s), reply)),
            None => {
                reply.error(err::WRONGTYPE);
                Err(())
            }
        },
    }
}

/// Looks a set up for writing, lending the reply builder; Err (WRONGTYPE replied) when the key
/// holds another type.
fn write_set<'c, 'a>(
    ctx: &'c mut Ctx<'a>,
    key: &[u8],
) -> Result<(Option<&'c mut Set>, &'c mut Reply<'a>), ()> {
    let now = ctx.now_ms;
    let slot = ctx.slot_of(key);
    match ctx.keyspace.db(ctx.db).get_mut_in(slot, key, now) {
        None => Ok((None, &mut ctx.reply)),
        Some(e) => {
            e.touch(now);
            match as_set_mut(e.value_mut()) {
                Some(s) => Ok((Some(s), &mut ctx.reply)),
                None => {
                    ctx.reply.error(err::WRONGTYPE);
                    Err(())
                }
            }
        }
    }
}

/// Replies every member of `s` in the encoding's order (the header is the caller's).
fn reply_members(reply: &mut Reply<'_>, s: &Set) {
    match s {
        Set::Ints(v) => {
            for n in v.iter() {
                reply.bulk_int(n);
            }
        }
        Set::Table(d) => {
            for (k, _) in d.iter() {
                reply.bulk(k);
            }
        }
    }
}

/// Deletes `key` (after its set became empty).
/// Deletes `key`, with Redis's `del` event when it existed.
fn delete(ctx: &mut Ctx<'_>, key: &[u8]) -> bool {
    let now = ctx.now_ms;
    let removed = ctx.db().remove(key, now).is_some();
    if removed {
        ctx.notify(ev::GENERIC, "del", key);
    }
    removed
}

/// SADD key member [member ...]
pub fn sadd(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let limits = ctx.settings.limits;
    let first = args.get(2);
    let Ok(e) = ctx.write_or_create(args.get(1), ValueType::Set, || {
        Value::Set(Set::for_member(first))
    }) else {
        return;
    };
    let mut added = 0u64;
    if let Some(s) = as_set_mut(e.value_mut()) {
        for m in args.iter_from(2) {
            if s.add(m, &limits) {
                added += 1;
            }
        }
    }
    ctx.dirty(added);
    if added > 0 {
        ctx.notify(ev::SET, "sadd", args.get(1));
    }
    ctx.reply.int(added as i64);
}

/// SREM key member [member ...]
pub fn srem(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(1);
    let (removed, empty) = match write_set(ctx, key) {
        Err(()) => return,
        Ok((None, _)) => (0u64, false),
        Ok((Some(s), _)) => {
            let mut n = 0u64;
            for m in args.iter_from(2) {
                if s.remove(m) {
                    n += 1;
                    if s.is_empty() {
                        break;
                    }
                }
            }
            (n, s.is_empty())
        }
    };
    if removed > 0 {
        ctx.notify(ev::SET, "srem", key);
    }
    if empty {
        delete(ctx, key);
    }
    ctx.dirty(removed);
    ctx.reply.int(removed as i64);
}

/// SCARD key
pub fn scard(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if let Ok((s, reply)) = read_set(ctx, args.get(1)) {
        reply.int(s.map_or(0, |s| s.len() as i64));
    }
}

/// SISMEMBER key member
pub fn sismember(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if let Ok((s, reply)) = read_set(ctx, args.get(1)) {
        reply.int(s.is_some_and(|s| s.contains(args.get(2))) as i64);
    }
}

/// SMISMEMBER key member [member ...]
pub fn smismember(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if let Ok((s, reply)) = read_set(ctx, args.get(1)) {
        reply.array(args.len() - 2);
        for m in args.iter_from(2) {
            reply.int(s.is_some_and(|s| s.contains(m)) as i64);
        }
    }
}

/// SMEMBERS key
pub fn smembers(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match read_set(ctx, args.get(1)) {
        Err(()) => {}
        Ok((None, reply)) => reply.set(0),
        Ok((Some(s), reply)) => {
            reply.set(s.len());
            reply_members(reply, s);
        }
    }
}

/// SPOP key [count]
pub fn spop(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match args.len() {
        2 => spop_one(ctx, args.get(1)),
        3 => spop_count(ctx, args),
        _ => ctx.reply.error(err::SYNTAX),
    }
}

fn spop_one(ctx: &mut Ctx<'_>, key: &[u8]) {
    let mut rng = Rand::new(ctx);
    let (member, empty) = match write_set(ctx, key) {
        Err(()) => return,
        Ok((None, reply)) => return reply.null(),
        Ok((Some(s), reply)) => match s.random(|| rng.next()) {
            None => return reply.null(),
            Some(m) => {
                s.remove(&m);
                (m, s.is_empty())
            }
        },
    };
    ctx.notify(ev::SET, "spop", key);
    if empty {
        delete(ctx, key);
    }
    ctx.dirty(1);
    ctx.reply.bulk(&member);
}

fn spop_count(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let count = match parse_i64(args.get(2)) {
        Some(n) if n >= 0 => n as u64,
        _ => return ctx.reply.error(ERR_POSITIVE),
    };
    let key = args.get(1);
    let limits = ctx.settings.limits;
    let mut rng = Rand::new(ctx);
    let (s, reply) = match write_set(ctx, key) {
        Err(()) => return,
        Ok((None, reply)) => return reply.set(0),
        Ok((Some(s), reply)) => (s, reply),
    };
    if count == 0 {
        return reply.set(0);
    }
    let size = s.len() as u64;
    // The whole set: reply it and delete the key.
    if count >= size {
        reply.set(s.len());
        reply_members(reply, s);
        ctx.notify(ev::SET, "spop", key);
        delete(ctx, key);
        ctx.dirty(size);
        return;
    }
    reply.set(count as usize);
    let remaining = size - count;
    if remaining.saturating_mul(SPOP_MOVE_STRATEGY_MUL) > count {
        // Few to pop: pop them one by one; the encoding stays.
        for _ in 0..count {
            let Some(m) = s.random(|| rng.next()) else {
                break;
            };
            reply.bulk(&m);
            s.remove(&m);
        }
    } else {
        // Most of the set: move the members that stay into a new set (created for its first
        // member, so a table of integers becomes an intset again), reply the rest.
        let mut kept: Option<Set> = None;
        for _ in 0..remaining {
            let Some(m) = s.random(|| rng.next()) else {
                break;
            };
            kept.get_or_insert_with(|| Set::for_member(&m))
                .add(&m, &limits);
            s.remove(&m);
        }
        reply_members(reply, s);
        if let Some(k) = kept {
            *s = k;
        }
    }
    ctx.notify(ev::SET, "spop", key);
    ctx.dirty(count);
}

/// SRANDMEMBER key [count]
pub fn srandmember(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match args.len() {
        2 => {
            let mut rng = Rand::new(ctx);
            match read_set(ctx, args.get(1)) {
                Err(()) => {}
                Ok((None, reply)) => reply.null(),
                Ok((Some(s), reply)) => match s.random(|| rng.next()) {
                    Some(m) => reply.bulk(&m),
                    None => reply.null(),
                },
            }
        }
        3 => srandmember_count(ctx, args),
        _ => ctx.reply.error(err::SYNTAX),
    }
}

fn srandmember_count(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (count, uniq) = match parse_i64(args.get(2)) {
        None => return ctx.reply.error(err::NOT_INTEGER),
        Some(i64::MIN) => return ctx.reply.error(ERR_RANDMEMBER_RANGE),
        Some(l) if l >= 0 => (l as u64, true),
        Some(l) => (l.unsigned_abs(), false),
    };
    let mut rng = Rand::new(ctx);
    let (s, reply) = match read_set(ctx, args.get(1)) {
        Err(()) => return,
        Ok((None, reply)) => return reply.array(0),
        Ok((Some(s), reply)) => (s, reply),
    };
    if count == 0 {
        return reply.array(0);
    }
    let size = s.len() as u64;
    // Negative count: members may repeat.
    if !uniq || count == 1 {
        reply.array(count as usize);
        for _ in 0..count {
            match s.random(|| rng.next()) {
                Some(m) => reply.bulk(&m),
                None => reply.null(),
            }
        }
        return;
    }
    // The whole set.
    if count >= size {
        reply.array(s.len());
        reply_members(reply, s);
        return;
    }
    let count = count as usize;
    let picked: Vec<Elem> = if (count as u64).saturating_mul(SRANDMEMBER_SUB_STRATEGY_MUL) > size {
        // Most of the set: copy it and drop random members.
        let mut all: Vec<Elem> = s.members().collect();
        while all.len() > count {
            let i = rng.below(all.len());
            all.swap_remove(i);
        }
        all
    } else {
        // A small part: draw until `count` distinct members.
        let mut seen: HashSet<Elem> = HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let Some(m) = s.random(|| rng.next()) else {
                break;
            };
            if seen.insert(m.clone()) {
                out.push(m);
            }
        }
        out
    };
    reply.array(picked.len());
    for m in &picked {
        reply.bulk(m);
    }
}

/// SMOVE source destination member
pub fn smove(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (src, dst, member) = (args.get(1), args.get(2), args.get(3));
    let is_set = |e: &mut shoal_data::Entry| e.value_type() == ValueType::Set;
    let src_set = ctx.lookup_write(src).map(is_set);
    let dst_set = ctx.lookup_write(dst).map(is_set);
    match src_set {
        None => return ctx.reply.int(0),
        Some(false) => return ctx.reply.error(err::WRONGTYPE),
        Some(true) => {}
    }
    if dst_set == Some(false) {
        return ctx.reply.error(err::WRONGTYPE);
    }
    if src == dst {
        let has = ctx
            .lookup_write(src)
            .and_then(|e| as_set(e.value()))
            .is_some_and(|s| s.contains(member));
        return ctx.reply.int(has as i64);
    }
    let (removed, empty) = match ctx
        .lookup_write(src)
        .and_then(|e| as_set_mut(e.value_mut()))
    {
        Some(s) => (s.remove(member), s.is_empty()),
        None => (false, false),
    };
    if !removed {
        return ctx.reply.int(0);
    }
    ctx.notify(ev::SET, "srem", src);
    if empty {
        delete(ctx, src);
    }
    let limits = ctx.settings.limits;
    let Ok(e) = ctx.write_or_create(dst, ValueType::Set, || Value::Set(Set::for_member(member)))
    else {
        return;
    };
    let added = as_set_mut(e.value_mut()).is_some_and(|s| s.add(member, &limits));
    ctx.dirty(1 + added as u64);
    if added {
        ctx.notify(ev::SET, "sadd", dst);
    }
    ctx.reply.int(1);
}

/// The sets a multi-key command reads, moved out of the keyspace while it computes over them
/// (so several can be read at once) and put back before it writes anything.
struct Operands<'k> {
    /// The distinct keys that hold a set.
    keys: Vec<&'k [u8]>,
    /// Their values, taken out of the keyspace.
    vals: Vec<Value>,
    /// For every key argument: which of `keys` it names (None: no such key, an empty set).
    pos: Vec<Option<usize>>,
}

impl<'k> Operands<'k> {
    /// Looks every key up in order, as Redis does (WRONGTYPE at the first key of another
    /// type, replied; missing keys are empty sets), then takes the sets out.
    fn load(ctx: &mut Ctx<'_>, keys: &[&'k [u8]]) -> Result<Self, ()> {
        let mut present = Vec::with_capacity(keys.len());
        for &k in keys {
            present.push(ctx.read_typed(k, ValueType::Set)?.is_some());
        }
        let mut ops = Operands {
            keys: Vec::new(),
            vals: Vec::new(),
            pos: Vec::with_capacity(keys.len()),
        };
        let mut index: HashMap<&'k [u8], usize> = HashMap::new();
        let now = ctx.now_ms;
        for (&k, present) in keys.iter().zip(present) {
            if !present {
                ops.pos.push(None);
                continue;
            }
            if let Some(&i) = index.get(k) {
                ops.pos.push(Some(i));
                continue;
            }
            match ctx.db().get_mut(k, now) {
                Some(e) => {
                    // A string (the WRONGTYPE case) is copied, and left in place.
                    let v = if e.is_string() {
                        e.to_value()
                    } else {
                        std::mem::replace(e.value_mut(), Value::Int(0))
                    };
                    index.insert(k, ops.keys.len());
                    ops.pos.push(Some(ops.keys.len()));
                    ops.keys.push(k);
                    ops.vals.push(v);
                }
                None => ops.pos.push(None),
            }
        }
        Ok(ops)
    }

    /// The set of key argument `i` (None: the key does not exist).
    fn set(&self, i: usize) -> Option<&Set> {
        self.pos[i].and_then(|p| as_set(&self.vals[p]))
    }

    /// Puts the sets back under their keys.
    fn restore(self, ctx: &mut Ctx<'_>) {
        let now = ctx.now_ms;
        let db = ctx.db();
        for (k, v) in self.keys.into_iter().zip(self.vals) {
            match db.get_mut(k, now) {
                Some(e) if !v.is_string() => *e.value_mut() = v,
                _ => {}
            }
        }
    }
}

/// Stores the result of a *STORE command under `dst` (replacing any value and TTL), or
/// deletes `dst` when the result is empty; replies its size.
fn store(ctx: &mut Ctx<'_>, dst: &[u8], set: Set, event: &'static str) {
    let now = ctx.now_ms;
    if set.is_empty() {
        ctx.reply.int(0);
        if delete(ctx, dst) {
            ctx.dirty(1);
        }
    } else {
        let n = set.len();
        ctx.db().insert(dst, Value::Set(set), 0, now);
        ctx.reply.int(n as i64);
        ctx.dirty(1);
        ctx.notify(ev::SET, event, dst);
    }
}

/// The key arguments `from..to`.
fn keys_of<'a>(args: &Args<'a>, from: usize, to: usize) -> Vec<&'a [u8]> {
    (from..to).map(|i| args.get(i)).collect()
}

/// What an intersection produces.
enum Inter {
    /// SINTER: reply the members.
    Reply,
    /// SINTERCARD: reply their number, stopping at the limit (0 = none).
    Card(u64),
    /// SINTERSTORE: store them under the key.
    Store,
}

/// SINTER / SINTERCARD / SINTERSTORE, as Redis's sinterGenericCommand.
fn sinter_generic(ctx: &mut Ctx<'_>, keys: &[&[u8]], dst: Option<&[u8]>, mode: Inter) {
    let Ok(ops) = Operands::load(ctx, keys) else {
        return;
    };
    if keys.is_empty() || ops.pos.iter().any(|p| p.is_none()) {
        // An empty set makes the intersection empty.
        ops.restore(ctx);
        match (mode, dst) {
            (Inter::Store, Some(d)) => {
                if delete(ctx, d) {
                    ctx.dirty(1);
                }
                ctx.reply.int(0);
            }
            (Inter::Card(_), _) => ctx.reply.int(0),
            _ => ctx.reply.set(0),
        }
        return;
    }
    // Iterate the smallest set, test its members against the others.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| ops.set(i).map_or(0, |s| s.len()));
    let first = order[0];
    let mut seen = vec![ops.pos[first]];
    let mut others: Vec<&Set> = Vec::with_capacity(order.len());
    for &i in &order[1..] {
        if !seen.contains(&ops.pos[i]) {
            seen.push(ops.pos[i]);
            others.extend(ops.set(i));
        }
    }
    let limit = match mode {
        Inter::Card(l) => l,
        _ => 0,
    };
    let card_only = matches!(mode, Inter::Card(_));
    let mut card = 0u64;
    let mut ints: Vec<i64> = Vec::new();
    let mut elems: Vec<&[u8]> = Vec::new();
    match ops.set(first) {
        Some(Set::Ints(v)) => {
            for n in v.iter() {
                if others.iter().all(|o| o.contains_int(n)) {
                    card += 1;
                    if card_only {
                        if limit != 0 && card >= limit {
                            break;
                        }
                    } else {
                        ints.push(n);
                    }
                }
            }
        }
        Some(Set::Table(d)) => {
            for (k, _) in d.iter() {
                if others.iter().all(|o| o.contains(k)) {
                    card += 1;
                    if card_only {
                        if limit != 0 && card >= limit {
                            break;
                        }
                    } else {
                        elems.push(k);
                    }
                }
            }
        }
        None => {}
    }
    match (mode, dst) {
        (Inter::Card(_), _) => {
            ctx.reply.int(card as i64);
        }
        (Inter::Store, Some(d)) => {
            // The destination starts as an intset and converts as members are added.
            let limits = ctx.settings.limits;
            let mut out = Set::Ints(Default::default());
            let mut b = itoa_buf::Buffer::new();
            for &n in &ints {
                out.add(b.format(n), &limits);
            }
            for k in &elems {
                out.add(k, &limits);
            }
            ops.restore(ctx);
            store(ctx, d, out, "sinterstore");
            return;
        }
        _ => {
            ctx.reply.set(ints.len() + elems.len());
            for &n in &ints {
                ctx.reply.bulk_int(n);
            }
            for k in &elems {
                ctx.reply.bulk(k);
            }
        }
    }
    ops.restore(ctx);
}

/// SINTER key [key ...]
pub fn sinter(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let keys = keys_of(&args, 1, args.len());
    sinter_generic(ctx, &keys, None, Inter::Reply);
}

/// SINTERSTORE destination key [key ...]
pub fn sinterstore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let keys = keys_of(&args, 2, args.len());
    sinter_generic(ctx, &keys, Some(args.get(1)), Inter::Store);
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let numkeys = match parse_i64(args.get(1)) {
        Some(n) if n >= 1 => n as u64,
        _ => return ctx.reply.error(ERR_NUMKEYS),
    };
    if numkeys > (args.len() - 2) as u64 {
        return ctx.reply.error(ERR_TOO_MANY_KEYS);
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0u64;
    let mut j = end;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if args.get(j).eq_ignore_ascii_case(b"limit") && more > 0 {
            j += 1;
            match parse_i64(args.get(j)) {
                Some(n) if n >= 0 => limit = n as u64,
                _ => return ctx.reply.error(ERR_LIMIT),
            }
        } else {
            return ctx.reply.error(err::SYNTAX);
        }
        j += 1;
    }
    let keys = keys_of(&args, 2, end);
    sinter_generic(ctx, &keys, None, Inter::Card(limit));
}

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Diff,
}

/// SUNION / SDIFF and their *STORE forms, as Redis's sunionDiffGenericCommand: the result is
/// built in a set that starts as an intset, so its encoding is the one Redis stores.
fn sunion_diff(ctx: &mut Ctx<'_>, keys: &[&[u8]], dst: Option<&[u8]>, op: SetOp) {
    let Ok(ops) = Operands::load(ctx, keys) else {
        return;
    };
    let limits = ctx.settings.limits;
    let mut out = Set::Ints(Default::default());
    match op {
        SetOp::Union => {
            for i in 0..keys.len() {
                if let Some(s) = ops.set(i) {
                    s.for_each(|m| {
                        out.add(m, &limits);
                    });
                }
            }
        }
        SetOp::Diff => {
            if let Some(first) = ops.set(0) {
                // Redis's choice between its two algorithms decides the result's encoding
                // (algorithm 2 adds members it may remove again).
                let (mut one, mut two) = (0u64, 0u64);
                for i in 0..keys.len() {
                    if let Some(s) = ops.set(i) {
                        one += first.len() as u64;
                        two += s.len() as u64;
                    }
                }
                if one / 2 <= two {
                    // Algorithm 1: members of the first set found in no other.
                    first.for_each(|m| {
                        let mut keep = true;
                        for j in 1..keys.len() {
                            match ops.pos[j] {
                                None => continue,
                                Some(p) if Some(p) == ops.pos[0] => {
                                    keep = false;
                                    break;
                                }
                                Some(_) => {
                                    if ops.set(j).is_some_and(|s| s.contains(m)) {
                                        keep = false;
                                        break;
                                    }
                                }
                            }
                        }
                        if keep {
                            out.add(m, &limits);
                        }
                    });
                } else {
                    // Algorithm 2: add the first set, remove every other.
                    for j in 0..keys.len() {
                        let Some(s) = ops.set(j) else {
                            continue;
                        };
                        if j == 0 {
                            s.for_each(|m| {
                                out.add(m, &limits);
                            });
                        } else {
                            s.for_each(|m| {
                                out.remove(m);
                            });
                        }
                        if out.is_empty() {
                            break;
                        }
                    }
                }
            }
        }
    }
    ops.restore(ctx);
    match dst {
        Some(d) => {
            let event = match op {
                SetOp::Union => "sunionstore",
                SetOp::Diff => "sdiffstore",
            };
            store(ctx, d, out, event)
        }
        None => {
            ctx.reply.set(out.len());
            reply_members(&mut ctx.reply, &out);
        }
    }
}

/// SUNION key [key ...]
pub fn sunion(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let keys = keys_of(&args, 1, args.len());
    sunion_diff(ctx, &keys, None, SetOp::Union);
}

/// SUNIONSTORE destination key [key ...]
pub fn sunionstore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let keys = keys_of(&args, 2, args.len());
    sunion_diff(ctx, &keys, Some(args.get(1)), SetOp::Union);
}

/// SDIFF key [key ...]
pub fn sdiff(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let keys = keys_of(&args, 1, args.len());
    sunion_diff(ctx, &keys, None, SetOp::Diff);
}

/// SDIFFSTORE destination key [key ...]
pub fn sdiffstore(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let keys = keys_of(&args, 2, args.len());
    sunion_diff(ctx, &keys, Some(args.get(1)), SetOp::Diff);
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
pub fn sscan(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(cursor) = shoal_data::numeric::parse_cursor(args.get(2)) else {
        return ctx.reply.error(ERR_CURSOR);
    };
    let (s, reply) = match read_set(ctx, args.get(1)) {
        Err(()) => return,
        Ok((None, reply)) => {
            reply.array(2);
            reply.bulk(b"0");
            reply.array(0);
            return;
        }
        Ok((Some(s), reply)) => (s, reply),
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - i;
        let opt = args.get(i);
        if opt.eq_ignore_ascii_case(b"count") && more >= 2 {
            match parse_i64(args.get(i + 1)) {
                None => return reply.error(err::NOT_INTEGER),
                Some(n) if n < 1 => return reply.error(err::SYNTAX),
                Some(n) => count = usize::try_from(n).unwrap_or(usize::MAX),
            }
        } else if opt.eq_ignore_ascii_case(b"match") && more >= 2 {
            let p = args.get(i + 1);
            pattern = (p != b"*").then_some(p);
        } else {
            return reply.error(err::SYNTAX);
        }
        i += 2;
    }
    let keep = |m: &[u8]| pattern.is_none_or(|p| glob::matches(p, m));
    let mut out: Vec<Elem> = Vec::new();
    let next = match s {
        // An intset is returned whole, as Redis does.
        Set::Ints(v) => {
            let mut b = itoa_buf::Buffer::new();
            for n in v.iter() {
                let m = b.format(n);
                if keep(m) {
                    out.push(Elem::from_slice(m));
                }
            }
            0
        }
        Set::Table(d) => d.scan(cursor, count, |k, _| {
            if keep(k) {
                out.push(k.clone());
            }
        }),
    };
    reply.array(2);
    reply.bulk(next.to_string().as_bytes());
    reply.array(out.len());
    for m in &out {
        reply.bulk(m);
    }
}
