//! The stream family: XADD and the range reads, trimming, consumer groups (XGROUP,
//! XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM), XINFO and XSETID, with Redis 7.0's
//! replies and error wording.
//!
//! XREAD and XREADGROUP may block: when nothing can be served they ask the runtime to wait
//! (`ctx.notes.block`) and rewrite their arguments for the run that follows a wake-up: each `$`
//! becomes the stream's last ID at the time the command first blocked, and the BLOCK timeout
//! becomes a marker (a NUL byte and the absolute deadline in unix ms, 0 = none), so the re-run
//! knows it serves a blocked client: it keeps the original deadline, reads at most 1000
//! entries when no COUNT was given, and answers as Redis answers a blocked client.

use crate::ctx::{err, Ctx};
use crate::registry::{Cross, Handler};
use shoal_data::events as ev;
use shoal_data::numeric::parse_i64;
use shoal_data::stream::{Consumer, Entries, Entry, Group, Stream, StreamId, Trim};
use shoal_data::{Value, ValueType};
use shoal_protocol::{Args, Protocol, Reply};

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[
    ("xadd", Handler::Shard(xadd), Cross::Local),
    ("xlen", Handler::Shard(xlen), Cross::Local),
    ("xrange", Handler::Shard(xrange), Cross::Local),
    ("xrevrange", Handler::Shard(xrevrange), Cross::Local),
    ("xdel", Handler::Shard(xdel), Cross::Local),
    ("xtrim", Handler::Shard(xtrim), Cross::Local),
    ("xread", Handler::Shard(xread), Cross::Gather),
    ("xreadgroup", Handler::Shard(xreadgroup), Cross::Gather),
    ("xgroup|create", Handler::Shard(xgroup_create), Cross::Local),
    ("xgroup|setid", Handler::Shard(xgroup_setid), Cross::Local),
    (
        "xgroup|destroy",
        Handler::Shard(xgroup_destroy),
        Cross::Local,
    ),
    (
        "xgroup|createconsumer",
        Handler::Shard(xgroup_createconsumer),
        Cross::Local,
    ),
    (
        "xgroup|delconsumer",
        Handler::Shard(xgroup_delconsumer),
        Cross::Local,
    ),
    ("xgroup|help", Handler::Shard(xgroup_help), Cross::Local),
    ("xack", Handler::Shard(xack), Cross::Local),
    ("xpending", Handler::Shard(xpending), Cross::Local),
    ("xclaim", Handler::Shard(xclaim), Cross::Local),
    ("xautoclaim", Handler::Shard(xautoclaim), Cross::Local),
    ("xinfo|stream", Handler::Shard(xinfo_stream), Cross::Local),
    ("xinfo|groups", Handler::Shard(xinfo_groups), Cross::Local),
    (
        "xinfo|consumers",
        Handler::Shard(xinfo_consumers),
        Cross::Local,
    ),
    ("xinfo|help", Handler::Shard(xinfo_help), Cross::Local),
    ("xsetid", Handler::Shard(xsetid), Cross::Local),
];

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
/// Entries a blocked XREAD is served at most when it gave no COUNT (Redis's default).
const BLOCKED_DEFAULT_COUNT: usize = 1000;
/// Timeouts beyond this (about 10 years) wait forever, as they effectively do in Redis.
const MAX_BLOCK_MS: u64 = 315_360_000_000;

// ---------------------------------------------------------------------------------------------
// Parsing helpers.

/// The bytes of `s` up to its first NUL (how Redis's C string functions see an argument).
fn cstr(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(i) => &s[..i],
        None => s,
    }
}

fn eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// Redis's string2ull: a strict decimal, else what strtoull accepts (leading spaces, a sign,
/// leading zeros) when it consumes the whole string.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(s) {
        return if v < 0 { None } else { Some(v as u64) };
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    if i >= s.len() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &s[i..] {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// streamGenericParseIDOrReply without the reply: `-`, `+`, `ms`, `ms-seq` and, when
/// `seq_given` is passed, `ms-*` (which clears it). `strict` refuses `-` and `+`.
fn parse_id_ext(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    mut seq_given: Option<&mut bool>,
) -> Option<StreamId> {
    if arg.len() > 127 {
        return None;
    }
    let buf = cstr(arg);
    if strict && (buf == b"-" || buf == b"+") {
        return None;
    }
    if let Some(g) = seq_given.as_deref_mut() {
        *g = true;
    }
    if buf == b"-" {
        return Some(StreamId::MIN);
    }
    if buf == b"+" {
        return Some(StreamId::MAX);
    }
    let (ms_part, seq_part) = match buf.iter().position(|&b| b == b'-') {
        Some(i) => (&buf[..i], Some(&buf[i + 1..])),
        None => (buf, None),
    };
    let ms = string2ull(ms_part)?;
    let seq = match seq_part {
        Some(b"*") if seq_given.is_some() => {
            if let Some(g) = seq_given {
                *g = false;
            }
            0
        }
        Some(p) => string2ull(p)?,
        None => missing_seq,
    };
    Some(StreamId::new(ms, seq))
}

fn parse_id(arg: &[u8], missing_seq: u64) -> Option<StreamId> {
    parse_id_ext(arg, missing_seq, false, None)
}

fn parse_strict_id(arg: &[u8], missing_seq: u64) -> Option<StreamId> {
    parse_id_ext(arg, missing_seq, true, None)
}

/// An interval bound (`(` makes it exclusive): the ID and whether it was exclusive.
fn parse_interval(arg: &[u8], missing_seq: u64) -> Option<(StreamId, bool)> {
    if arg.len() > 1 && arg[0] == b'(' {
        parse_strict_id(&arg[1..], missing_seq).map(|id| (id, true))
    } else {
        parse_id(arg, missing_seq).map(|id| (id, false))
    }
}

/// The start of an interval, made inclusive; None after replying the error.
fn interval_start(ctx: &mut Ctx<'_>, arg: &[u8]) -> Option<StreamId> {
    let Some((id, ex)) = parse_interval(arg, 0) else {
        ctx.reply.error(INVALID_ID);
        return None;
    };
    if !ex {
        return Some(id);
    }
    let next = id.incr();
    if next.is_none() {
        ctx.reply.error("ERR invalid start ID for the interval");
    }
    next
}

/// The end of an interval, made inclusive; None after replying the error.
fn interval_end(ctx: &mut Ctx<'_>, arg: &[u8]) -> Option<StreamId> {
    let Some((id, ex)) = parse_interval(arg, u64::MAX) else {
        ctx.reply.error(INVALID_ID);
        return None;
    };
    if !ex {
        return Some(id);
    }
    let prev = id.decr();
    if prev.is_none() {
        ctx.reply.error("ERR invalid end ID for the interval");
    }
    prev
}

fn int_arg(ctx: &mut Ctx<'_>, arg: &[u8]) -> Option<i64> {
    let v = parse_i64(arg);
    if v.is_none() {
        ctx.reply.error(err::NOT_INTEGER);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Lookups and replies.

fn stream_of(e: &mut shoal_data::Entry) -> Option<&mut Stream> {
    match e.value_mut() {
        Value::Stream(s) => Some(s),
        _ => None,
    }
}

fn read_stream<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<Option<&'c mut Stream>, ()> {
    Ok(ctx.read_typed(key, ValueType::Stream)?.and_then(stream_of))
}

/// The stream at `key` for reading, with the reply builder; Err after replying WRONGTYPE.
fn read_for_reply<'c, 'a>(
    ctx: &'c mut Ctx<'a>,
    key: &[u8],
) -> Result<(Option<&'c mut Stream>, &'c mut Reply<'a>), ()> {
    let (e, reply) = ctx.lookup_for_reply(key);
    match e {
        None => Ok((None, reply)),
        Some(e) => match e.value_mut() {
            Value::Stream(s) => Ok((Some(s), reply)),
            _ => {
                reply.error(err::WRONGTYPE);
                Err(())
            }
        },
    }
}

fn write_stream<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<Option<&'c mut Stream>, ()> {
    Ok(ctx.write_typed(key, ValueType::Stream)?.and_then(stream_of))
}

fn fmt_u64(n: u64, out: &mut [u8; 41], end: usize) -> usize {
    let mut v = n;
    let mut i = end;
    loop {
        i -= 1;
        out[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return i;
        }
    }
}

fn reply_id(r: &mut Reply<'_>, id: StreamId) {
    let mut buf = [0u8; 41];
    let seq_at = fmt_u64(id.seq, &mut buf, 41);
    buf[seq_at - 1] = b'-';
    let ms_at = fmt_u64(id.ms, &mut buf, seq_at - 1);
    r.bulk(&buf[ms_at..]);
}

fn reply_entry(r: &mut Reply<'_>, e: &Entry<'_>) {
    r.array(2);
    reply_id(r, e.id);
    r.array(e.num_fields() * 2);
    for (f, v) in e.pairs() {
        r.bulk(f);
        r.bulk(v);
    }
}

/// Replies the live entry `id`: true when it exists.
fn reply_entry_id(r: &mut Reply<'_>, entries: &Entries, id: StreamId) -> bool {
    match entries.get(id) {
        Some(e) => {
            reply_entry(r, &e);
            true
        }
        None => false,
    }
}

/// Builds a reply whose length is only known at the end (Redis's deferred lengths) into a
/// scratch buffer.
fn scratch<R>(proto: Protocol, f: impl FnOnce(&mut Reply<'_>) -> R) -> (Vec<u8>, R) {
    let mut buf = Vec::new();
    let out = {
        let mut r = Reply::new(&mut buf, proto);
        f(&mut r)
    };
    (buf, out)
}

fn help(ctx: &mut Ctx<'_>, name: &str, lines: &[&str]) {
    crate::ctx::help_reply(&mut ctx.reply, name, lines)
}

/// `ERR unknown subcommand or wrong number of arguments for '<sub>'. Try <CMD> HELP.`
fn subcommand_error(ctx: &mut Ctx<'_>, args: &Args<'_>, cmd: &str) {
    let sub = cstr(args.get(1));
    let mut m = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    m.extend_from_slice(&sub[..sub.len().min(128)]);
    m.extend_from_slice(b"'. Try ");
    m.extend_from_slice(cmd.as_bytes());
    m.extend_from_slice(b" HELP.");
    ctx.reply.error_bytes(&m);
}

/// `-NOGROUP No such key '<key>' or consumer group '<group>'<suffix>`.
fn nogroup(ctx: &mut Ctx<'_>, key: &[u8], group: &[u8], suffix: &str) {
    let mut m = b"NOGROUP No such key '".to_vec();
    m.extend_from_slice(cstr(key));
    m.extend_from_slice(b"' or consumer group '");
    m.extend_from_slice(cstr(group));
    m.push(b'\'');
    m.extend_from_slice(suffix.as_bytes());
    ctx.reply.error_bytes(&m);
}

/// `-NOGROUP No such consumer group '<group>' for key name '<key>'`.
fn nogroup_for_key(ctx: &mut Ctx<'_>, key: &[u8], group: &[u8]) {
    let mut m = b"NOGROUP No such consumer group '".to_vec();
    m.extend_from_slice(cstr(group));
    m.extend_from_slice(b"' for key name '");
    m.extend_from_slice(cstr(key));
    m.push(b'\'');
    ctx.reply.error_bytes(&m);
}

/// Finds or creates a consumer, marking it seen now; says whether it was created (Redis
/// announces that as `xgroup-createconsumer`).
fn touch_consumer<'g>(g: &'g mut Group, name: &[u8], now: i64) -> (&'g mut Consumer, bool) {
    let created = !g.consumers.contains_key(name);
    let c = g.consumers.entry(name.into()).or_default();
    c.seen_time = now;
    (c, created)
}

// ---------------------------------------------------------------------------------------------
// XADD / XTRIM

struct AddTrim {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    /// The explicit ID and whether its sequence was given (`ms-*` leaves it to the stream).
    id: Option<(StreamId, bool)>,
    /// Where the ID (or `*`) is.
    idpos: usize,
}

/// streamParseAddOrTrimArgsOrReply.
fn parse_add_trim(ctx: &mut Ctx<'_>, args: &Args<'_>, xadd: bool) -> Option<AddTrim> {
    let argc = args.len();
    let mut o = AddTrim {
        trim: None,
        approx: false,
        limit: 0,
        nomkstream: false,
        id: None,
        idpos: argc,
    };
    let mut limit_given = false;
    let mut limit: i64 = 0;
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        let opt = args.get(i);
        if xadd && cstr(opt) == b"*" {
            break;
        } else if (eq(opt, "maxlen") || eq(opt, "minid")) && more > 0 {
            if o.trim.is_some() {
                ctx.reply.error(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                );
                return None;
            }
            o.approx = false;
            let next = cstr(args.get(i + 1));
            if more >= 2 && next == b"~" {
                o.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if eq(opt, "maxlen") {
                let n = int_arg(ctx, args.get(i + 1))?;
                if n < 0 {
                    ctx.reply.error("ERR The MAXLEN argument must be >= 0.");
                    return None;
                }
                o.trim = Some(Trim::MaxLen(n as u64));
            } else {
                let Some(id) = parse_strict_id(args.get(i + 1), 0) else {
                    ctx.reply.error(INVALID_ID);
                    return None;
                };
                o.trim = Some(Trim::MinId(id));
            }
            i += 1;
        } else if eq(opt, "limit") && more > 0 {
            limit = int_arg(ctx, args.get(i + 1))?;
            if limit < 0 {
                ctx.reply.error("ERR The LIMIT argument must be >= 0.");
                return None;
            }
            limit_given = true;
            i += 1;
        } else if xadd && eq(opt, "nomkstream") {
            o.nomkstream = true;
        } else if xadd {
            let mut seq_given = false;
            let Some(id) = parse_id_ext(opt, 0, true, Some(&mut seq_given)) else {
                ctx.reply.error(INVALID_ID);
                return None;
            };
            o.id = Some((id, seq_given));
            break;
        } else {
            ctx.reply.error(err::SYNTAX);
            return None;
        }
        i += 1;
    }
    o.idpos = i;
    if limit != 0 && o.trim.is_none() {
        ctx.reply
            .error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
        return None;
    }
    if !xadd && o.trim.is_none() {
        ctx.reply
            .error("ERR syntax error, XTRIM must be called with a trimming strategy");
        return None;
    }
    if limit_given {
        if !o.approx {
            ctx.reply
                .error("ERR syntax error, LIMIT cannot be used without the special ~ option");
            return None;
        }
        o.limit = limit as u64;
    } else {
        o.limit = if o.approx { 100 * 100 } else { 0 };
    }
    Some(o)
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...
pub fn xadd(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(o) = parse_add_trim(ctx, &args, true) else {
        return;
    };
    let field_pos = o.idpos + 1;
    if args.len() < field_pos + 2 || !(args.len() - field_pos).is_multiple_of(2) {
        return ctx.reply.error(&err::arity("xadd"));
    }
    if let Some((id, true)) = o.id {
        if id.is_zero() {
            return ctx
                .reply
                .error("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let key = args.get(1);
    let now = ctx.now_ms;
    let (exists, last, auto) = match write_stream(ctx, key) {
        Err(()) => return,
        Ok(Some(s)) => (true, s.entries().last_id(), s.entries().next_id(now)),
        Ok(None) => (false, StreamId::MIN, Entries::default().next_id(now)),
    };
    if !exists && o.nomkstream {
        return ctx.reply.null();
    }
    let pairs: Vec<&[u8]> = args.iter_from(field_pos).collect();
    if last == StreamId::MAX {
        return ctx
            .reply
            .error("ERR The stream has exhausted the last possible ID, unable to add more items");
    }
    const SMALLER: &str =
        "ERR The ID specified in XADD is equal or smaller than the target stream top item";
    let id = match o.id {
        None => auto,
        Some((id, true)) => Some(id),
        Some((id, false)) if last.ms == id.ms => last.incr().filter(|n| n.ms == id.ms),
        Some((id, false)) => Some(id),
    };
    let Some(id) = id.filter(|id| *id > last) else {
        return ctx.reply.error(SMALLER);
    };
    if pairs.iter().map(|p| p.len()).sum::<usize>() > 1 << 30 {
        return ctx.reply.error("ERR Elements are too large to be stored");
    }
    let Ok(e) = ctx.write_or_create(key, ValueType::Stream, || Value::Stream(Box::default()))
    else {
        return;
    };
    let Some(s) = stream_of(e) else {
        return;
    };
    let entries = s.entries_mut();
    entries.append(id, &pairs);
    let trimmed = o
        .trim
        .is_some_and(|t| entries.trim(t, o.approx, o.limit) > 0);
    reply_id(&mut ctx.reply, id);
    ctx.dirty(1);
    ctx.notify(ev::STREAM, "xadd", key);
    if trimmed {
        ctx.notify(ev::STREAM, "xtrim", key);
    }
    ctx.signal_ready(key);
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(o) = parse_add_trim(ctx, &args, false) else {
        return;
    };
    let Some(t) = o.trim else {
        return ctx.reply.error(err::SYNTAX);
    };
    let n = match write_stream(ctx, args.get(1)) {
        Err(()) => return,
        Ok(None) => 0,
        Ok(Some(s)) => s.entries_mut().trim(t, o.approx, o.limit),
    };
    ctx.dirty(n);
    if n > 0 {
        ctx.notify(ev::STREAM, "xtrim", args.get(1));
    }
    ctx.reply.int(n as i64);
}

/// XLEN key
pub fn xlen(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match read_stream(ctx, args.get(1)) {
        Err(()) => {}
        Ok(s) => {
            let n = s.map_or(0, |s| s.len());
            ctx.reply.int(n as i64);
        }
    }
}

/// XDEL key id [id ...]
pub fn xdel(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(1);
    match write_stream(ctx, key) {
        Err(()) => return,
        Ok(None) => return ctx.reply.int(0),
        Ok(Some(_)) => {}
    }
    let mut ids = Vec::with_capacity(args.len() - 2);
    for a in args.iter_from(2) {
        match parse_strict_id(a, 0) {
            Some(id) => ids.push(id),
            None => return ctx.reply.error(INVALID_ID),
        }
    }
    let mut deleted = 0;
    if let Ok(Some(s)) = write_stream(ctx, key) {
        let e = s.entries_mut();
        for id in ids {
            if e.delete(id) {
                deleted += 1;
            }
        }
    }
    ctx.dirty(deleted);
    if deleted > 0 {
        ctx.notify(ev::STREAM, "xdel", key);
    }
    ctx.reply.int(deleted as i64);
}

// ---------------------------------------------------------------------------------------------
// XRANGE / XREVRANGE

/// XRANGE key start end [COUNT count]
pub fn xrange(ctx: &mut Ctx<'_>, args: Args<'_>) {
    range_generic(ctx, args, false)
}

/// XREVRANGE key end start [COUNT count]
pub fn xrevrange(ctx: &mut Ctx<'_>, args: Args<'_>) {
    range_generic(ctx, args, true)
}

fn range_generic(ctx: &mut Ctx<'_>, args: Args<'_>, rev: bool) {
    let (sa, ea) = if rev {
        (args.get(3), args.get(2))
    } else {
        (args.get(2), args.get(3))
    };
    let Some(start) = interval_start(ctx, sa) else {
        return;
    };
    let Some(end) = interval_end(ctx, ea) else {
        return;
    };
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if eq(args.get(j), "count") && j + 1 < args.len() {
            let Some(n) = int_arg(ctx, args.get(j + 1)) else {
                return;
            };
            count = n.max(0);
            j += 2;
        } else {
            return ctx.reply.error(err::SYNTAX);
        }
    }
    let Ok((s, reply)) = read_for_reply(ctx, args.get(1)) else {
        return;
    };
    let Some(s) = s else {
        return reply.array(0);
    };
    if count == 0 {
        return reply.null_array();
    }
    let limit = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    let entries = s.entries();
    let (body, n) = scratch(reply.protocol(), |r| {
        let mut n = 0;
        if rev {
            for e in entries.rev_range(start, end).take(limit) {
                reply_entry(r, &e);
                n += 1;
            }
        } else {
            for e in entries.range(start, end).take(limit) {
                reply_entry(r, &e);
                n += 1;
            }
        }
        n
    });
    reply.array(n);
    reply.raw(&body);
}

// ---------------------------------------------------------------------------------------------
// XREAD / XREADGROUP

/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
pub fn xread(ctx: &mut Ctx<'_>, args: Args<'_>) {
    read_generic(ctx, args, false)
}

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key
/// [key ...] id [id ...]
pub fn xreadgroup(ctx: &mut Ctx<'_>, args: Args<'_>) {
    read_generic(ctx, args, true)
}

/// How a BLOCK argument reads.
enum Block {
    /// No BLOCK option.
    No,
    /// First run: wait this long (0 = forever), the timeout at this argument.
    Wait(u64, usize),
    /// A re-run after a wake-up: the absolute deadline (0 = none), the argument.
    Rerun(i64, usize),
}

fn read_generic(ctx: &mut Ctx<'_>, args: Args<'_>, xreadgroup: bool) {
    let argc = args.len();
    let mut block = Block::No;
    let mut count: i64 = 0;
    let mut streams_arg = 0;
    let mut nstreams = 0;
    let mut noack = false;
    let mut group: Option<(&[u8], &[u8])> = None;
    let mut i = 1;
    while i < argc {
        let more = argc - i - 1;
        let o = args.get(i);
        if eq(o, "block") && more > 0 {
            i += 1;
            let a = args.get(i);
            if a.first() == Some(&0) {
                block = Block::Rerun(parse_i64(&a[1..]).unwrap_or(0), i);
            } else {
                match parse_i64(a) {
                    None => {
                        return ctx
                            .reply
                            .error("ERR timeout is not an integer or out of range")
                    }
                    Some(t) if t < 0 => return ctx.reply.error("ERR timeout is negative"),
                    Some(t) => block = Block::Wait(t as u64, i),
                }
            }
        } else if eq(o, "count") && more > 0 {
            i += 1;
            let Some(n) = int_arg(ctx, args.get(i)) else {
                return;
            };
            count = n.max(0);
        } else if eq(o, "streams") && more > 0 {
            streams_arg = i + 1;
            let n = argc - streams_arg;
            if !n.is_multiple_of(2) {
                return ctx.reply.error(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                );
            }
            nstreams = n / 2;
            break;
        } else if eq(o, "group") && more >= 2 {
            if !xreadgroup {
                return ctx.reply.error(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                );
            }
            group = Some((args.get(i + 1), args.get(i + 2)));
            i += 2;
        } else if eq(o, "noack") {
            if !xreadgroup {
                return ctx.reply.error(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                );
            }
            noack = true;
        } else {
            return ctx.reply.error(err::SYNTAX);
        }
        i += 1;
    }
    if streams_arg == 0 {
        return ctx.reply.error(err::SYNTAX);
    }
    if xreadgroup && group.is_none() {
        return ctx.reply.error("ERR Missing GROUP option for XREADGROUP");
    }
    let rerun = matches!(block, Block::Rerun(..));
    let now = ctx.now_ms;

    // Resolve the IDs (and check types and groups) in argument order.
    let mut ids: Vec<StreamId> = Vec::with_capacity(nstreams);
    let mut rewrite: Vec<(usize, Vec<u8>)> = vec![];
    for idx in 0..nstreams {
        let key = args.get(streams_arg + idx);
        let pos = streams_arg + nstreams + idx;
        let arg = cstr(args.get(pos));
        // The stream's last ID and whether it has the group, when it is a stream.
        let info = if rerun {
            match ctx.keyspace.db(ctx.db).get_mut(key, now) {
                Some(e) => stream_of(e).map(|s| {
                    let has = group.is_some_and(|(g, _)| s.groups().contains_key(g));
                    (s.entries().last_id(), has)
                }),
                None => None,
            }
        } else {
            match read_stream(ctx, key) {
                Err(()) => return,
                Ok(s) => s.map(|s| {
                    let has = group.is_some_and(|(g, _)| s.groups().contains_key(g));
                    (s.entries().last_id(), has)
                }),
            }
        };
        if let Some((gname, _)) = group {
            if !info.is_some_and(|(_, has)| has) {
                if !rerun {
                    return nogroup(ctx, key, gname, " in XREADGROUP with GROUP option");
                }
                if info.is_some() {
                    return ctx.reply.error(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    );
                }
            }
        }
        if arg == b"$" {
            if xreadgroup {
                return ctx.reply.error(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                );
            }
            let last = info.map_or(StreamId::MIN, |(l, _)| l);
            rewrite.push((pos, last.to_bytes()));
            ids.push(last);
            continue;
        }
        if arg == b">" {
            if !xreadgroup {
                return ctx.reply.error(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                );
            }
            ids.push(StreamId::MAX);
            continue;
        }
        match parse_strict_id(args.get(pos), 0) {
            Some(id) => ids.push(id),
            None => return ctx.reply.error(INVALID_ID),
        }
    }

    // Serve what can be served now.
    let limit = if count > 0 {
        count as usize
    } else if rerun {
        BLOCKED_DEFAULT_COUNT
    } else {
        usize::MAX
    };
    let proto = ctx.protocol();
    let mut body = Vec::new();
    let mut served = 0usize;
    let mut dirty = 0;
    let mut new_consumers: Vec<&[u8]> = Vec::new();
    for (idx, gt) in ids.iter().enumerate() {
        let key = args.get(streams_arg + idx);
        let Some(e) = ctx.keyspace.db(ctx.db).get_mut(key, now) else {
            continue;
        };
        let Some(s) = stream_of(e) else {
            continue;
        };
        let mut gt = *gt;
        let mut history = false;
        let serve = match group {
            Some((gname, _)) => {
                let Some(g) = s.groups().get(gname) else {
                    continue;
                };
                if gt != StreamId::MAX {
                    history = true;
                    true
                } else if rerun {
                    gt = g.last_id;
                    s.entries().last_id() > gt
                } else if !s.is_empty() {
                    let serve = s.entries().last_valid_id().is_some_and(|m| m > g.last_id);
                    gt = g.last_id;
                    serve
                } else {
                    false
                }
            }
            None => {
                if rerun {
                    s.entries().last_id() > gt
                } else {
                    !s.is_empty() && s.entries().last_valid_id().is_some_and(|m| m > gt)
                }
            }
        };
        if !serve {
            continue;
        }
        served += 1;
        let start = gt.incr().unwrap_or(StreamId::MIN);
        let mut r = Reply::new(&mut body, proto);
        if proto == Protocol::Resp2 {
            r.array(2);
        }
        r.bulk(key);
        match group {
            None => {
                let entries = s.entries();
                let (b, n) = scratch(proto, |r| {
                    let mut n = 0;
                    for e in entries.range(start, StreamId::MAX).take(limit) {
                        reply_entry(r, &e);
                        n += 1;
                    }
                    n
                });
                r.array(n);
                r.raw(&b);
            }
            Some((gname, cname)) => {
                if serve_group(&mut r, s, gname, cname, start, limit, noack, history, now) {
                    new_consumers.push(key);
                }
                dirty += 1;
            }
        }
    }
    if served > 0 {
        if proto == Protocol::Resp2 {
            ctx.reply.array(served);
        } else {
            ctx.reply.map(served);
        }
        ctx.reply.raw(&body);
        ctx.dirty(dirty);
        for key in new_consumers {
            ctx.notify(ev::STREAM, "xgroup-createconsumer", key);
        }
        return;
    }

    // Nothing to serve: block, or answer as a timeout.
    let (ms, pos, deadline) = match block {
        Block::No => return ctx.reply.null_array(),
        Block::Wait(ms, pos) => {
            let ms = if ms > MAX_BLOCK_MS { 0 } else { ms };
            let deadline = if ms == 0 { 0 } else { now + ms as i64 };
            (ms, pos, deadline)
        }
        Block::Rerun(deadline, pos) => {
            if deadline == 0 {
                (0, pos, 0)
            } else if deadline <= now {
                return ctx.reply.null_array();
            } else {
                ((deadline - now) as u64, pos, deadline)
            }
        }
    };
    if !ctx.may_block {
        return ctx.reply.null_array();
    }
    let mut marker = vec![0u8];
    marker.extend_from_slice(deadline.to_string().as_bytes());
    rewrite.push((pos, marker));
    ctx.notes.rewrite = rewrite;
    ctx.notes.block = Some(ms);
}

/// Serves a group read of one stream (streamReplyWithRange with a group): the consumer's
/// history from `start` when `history`, else the new entries from `start`, delivering them.
/// Returns whether the consumer was created.
#[allow(clippy::too_many_arguments)]
fn serve_group(
    r: &mut Reply<'_>,
    s: &mut Stream,
    gname: &[u8],
    cname: &[u8],
    start: StreamId,
    limit: usize,
    noack: bool,
    history: bool,
    now: i64,
) -> bool {
    let (entries, groups) = s.split_mut();
    let Some(g) = groups.get_mut(gname) else {
        r.array(0);
        return false;
    };
    let (c, created) = touch_consumer(g, cname, now);
    let pel: Vec<StreamId> = {
        if history {
            c.pel.range(start..).take(limit).copied().collect()
        } else {
            vec![]
        }
    };
    if history {
        r.array(pel.len());
        for id in pel {
            if reply_entry_id(r, entries, id) {
                if let Some(n) = g.pel.get_mut(&id) {
                    n.delivery_time = now;
                    n.delivery_count = n.delivery_count.wrapping_add(1);
                }
            } else {
                r.array(2);
                reply_id(r, id);
                r.null_array();
            }
        }
        return created;
    }
    let ids: Vec<StreamId> = entries
        .range(start, StreamId::MAX)
        .take(limit)
        .map(|e| e.id)
        .collect();
    r.array(ids.len());
    for &id in &ids {
        reply_entry_id(r, entries, id);
        if id > g.last_id {
            if g.entries_read != -1 && !entries.has_tombstones(Some(id), None) {
                g.entries_read = g.entries_read.wrapping_add(1);
            } else if entries.entries_added() != 0 {
                g.entries_read = entries.estimate_distance(id).unwrap_or(-1);
            }
            g.last_id = id;
        }
        if !noack {
            let n = g.assign(id, cname, now);
            n.delivery_time = now;
            n.delivery_count = 1;
        }
    }
    created
}

// ---------------------------------------------------------------------------------------------
// XGROUP

/// The common part of the XGROUP subcommands: options from argument 5, the key (which must
/// exist unless MKSTREAM) and, for SETID/CREATECONSUMER/DELCONSUMER, the group.
struct GroupArgs {
    mkstream: bool,
    entries_read: i64,
    exists: bool,
}

fn xgroup_common(ctx: &mut Ctx<'_>, args: &Args<'_>, need_group: bool) -> Option<GroupArgs> {
    let sub = args.get(1);
    let create = eq(sub, "create");
    let setid = eq(sub, "setid");
    let mut ga = GroupArgs {
        mkstream: false,
        entries_read: -1,
        exists: false,
    };
    let mut i = 5;
    while i < args.len() {
        if create && eq(args.get(i), "mkstream") {
            ga.mkstream = true;
            i += 1;
        } else if (create || setid) && eq(args.get(i), "entriesread") && i + 1 < args.len() {
            let n = int_arg(ctx, args.get(i + 1))?;
            if n < 0 && n != -1 {
                ctx.reply
                    .error("ERR value for ENTRIESREAD must be positive or -1");
                return None;
            }
            ga.entries_read = n;
            i += 2;
        } else {
            subcommand_error(ctx, args, "XGROUP");
            return None;
        }
    }
    let key = args.get(2);
    let gname = args.get(3);
    let has_group = match write_stream(ctx, key) {
        Err(()) => return None,
        Ok(None) => None,
        Ok(Some(s)) => Some(s.groups().contains_key(gname)),
    };
    ga.exists = has_group.is_some();
    if !ga.mkstream {
        match has_group {
            None => {
                ctx.reply.error(
                    "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
                );
                return None;
            }
            Some(false) if need_group => {
                nogroup_for_key(ctx, key, gname);
                return None;
            }
            _ => {}
        }
    }
    Some(ga)
}

/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]
pub fn xgroup_create(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(ga) = xgroup_common(ctx, &args, false) else {
        return;
    };
    if args.len() > 8 {
        return subcommand_error(ctx, &args, "XGROUP");
    }
    let key = args.get(2);
    let idarg = args.get(4);
    let id = if cstr(idarg) == b"$" {
        match write_stream(ctx, key) {
            Ok(Some(s)) => s.entries().last_id(),
            _ => StreamId::MIN,
        }
    } else {
        match parse_strict_id(idarg, 0) {
            Some(id) => id,
            None => return ctx.reply.error(INVALID_ID),
        }
    };
    if !ga.exists
        && ctx
            .write_or_create(key, ValueType::Stream, || Value::Stream(Box::default()))
            .is_err()
    {
        return;
    }
    let Ok(Some(s)) = write_stream(ctx, key) else {
        return;
    };
    let gname = args.get(3);
    if s.groups().contains_key(gname) {
        return ctx
            .reply
            .error("BUSYGROUP Consumer Group name already exists");
    }
    s.groups_mut()
        .insert(gname.into(), Group::new(id, ga.entries_read));
    ctx.dirty(1);
    ctx.notify(ev::STREAM, "xgroup-create", key);
    ctx.reply.ok();
}

/// XGROUP SETID key group id|$ [ENTRIESREAD entries-read]
pub fn xgroup_setid(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(ga) = xgroup_common(ctx, &args, true) else {
        return;
    };
    if args.len() != 5 && args.len() != 7 {
        return subcommand_error(ctx, &args, "XGROUP");
    }
    let Ok(Some(s)) = write_stream(ctx, args.get(2)) else {
        return;
    };
    let idarg = args.get(4);
    let id = if cstr(idarg) == b"$" {
        s.entries().last_id()
    } else {
        match parse_id(idarg, 0) {
            Some(id) => id,
            None => return ctx.reply.error(INVALID_ID),
        }
    };
    if let Some(g) = s.groups_mut().get_mut(args.get(3)) {
        g.last_id = id;
        g.entries_read = ga.entries_read;
    }
    ctx.dirty(1);
    ctx.notify(ev::STREAM, "xgroup-setid", args.get(2));
    ctx.reply.ok();
}

/// XGROUP DESTROY key group
pub fn xgroup_destroy(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if xgroup_common(ctx, &args, false).is_none() {
        return;
    }
    let key = args.get(2);
    let removed = match write_stream(ctx, key) {
        Ok(Some(s)) if s.groups().contains_key(args.get(3)) => {
            s.groups_mut().remove(args.get(3));
            true
        }
        _ => false,
    };
    if removed {
        ctx.dirty(1);
        ctx.notify(ev::STREAM, "xgroup-destroy", key);
        ctx.reply.int(1);
        // Clients blocked in XREADGROUP on this group get their NOGROUP error.
        ctx.signal_ready(key);
    } else {
        ctx.reply.int(0);
    }
}

/// XGROUP CREATECONSUMER key group consumer
pub fn xgroup_createconsumer(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if xgroup_common(ctx, &args, true).is_none() {
        return;
    }
    let now = ctx.now_ms;
    let created = match write_stream(ctx, args.get(2)) {
        Ok(Some(s)) => match s.groups_mut().get_mut(args.get(3)) {
            Some(g) if !g.consumers.contains_key(args.get(4)) => {
                g.consumers.insert(
                    args.get(4).into(),
                    Consumer {
                        seen_time: now,
                        ..Default::default()
                    },
                );
                true
            }
            _ => false,
        },
        _ => false,
    };
    if created {
        ctx.dirty(1);
        ctx.notify(ev::STREAM, "xgroup-createconsumer", args.get(2));
    }
    ctx.reply.int(created as i64);
}

/// XGROUP DELCONSUMER key group consumer
pub fn xgroup_delconsumer(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if xgroup_common(ctx, &args, true).is_none() {
        return;
    }
    let pending = match write_stream(ctx, args.get(2)) {
        Ok(Some(s)) => {
            let has = s
                .groups()
                .get(args.get(3))
                .is_some_and(|g| g.consumers.contains_key(args.get(4)));
            if has {
                s.groups_mut()
                    .get_mut(args.get(3))
                    .and_then(|g| g.remove_consumer(args.get(4)))
            } else {
                None
            }
        }
        _ => None,
    };
    if pending.is_some() {
        ctx.dirty(1);
        ctx.notify(ev::STREAM, "xgroup-delconsumer", args.get(2));
    }
    ctx.reply.int(pending.unwrap_or(0) as i64);
}

/// XGROUP HELP
pub fn xgroup_help(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    help(
        ctx,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// XACK / XPENDING / XCLAIM / XAUTOCLAIM

/// XACK key group id [id ...]
pub fn xack(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(1);
    let has = match read_stream(ctx, key) {
        Err(()) => return,
        Ok(s) => s.is_some_and(|s| s.groups().contains_key(args.get(2))),
    };
    if !has {
        return ctx.reply.int(0);
    }
    let mut ids = Vec::with_capacity(args.len() - 3);
    for a in args.iter_from(3) {
        match parse_strict_id(a, 0) {
            Some(id) => ids.push(id),
            None => return ctx.reply.error(INVALID_ID),
        }
    }
    let mut acked = 0;
    if let Ok(Some(s)) = write_stream(ctx, key) {
        let pending = s
            .groups()
            .get(args.get(2))
            .is_some_and(|g| ids.iter().any(|id| g.pel.contains_key(id)));
        if pending {
            if let Some(g) = s.groups_mut().get_mut(args.get(2)) {
                for id in ids {
                    if g.ack(id) {
                        acked += 1;
                    }
                }
            }
        }
    }
    ctx.dirty(acked);
    ctx.reply.int(acked as i64);
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
pub fn xpending(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let argc = args.len();
    let justinfo = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return ctx.reply.error(err::SYNTAX);
    }
    let mut range = None;
    let mut minidle = 0;
    let mut consumer: Option<&[u8]> = None;
    if argc >= 6 {
        let mut at = 3;
        if eq(args.get(3), "idle") {
            let Some(n) = int_arg(ctx, args.get(4)) else {
                return;
            };
            minidle = n;
            if argc < 8 {
                return ctx.reply.error(err::SYNTAX);
            }
            at += 2;
        }
        let Some(count) = int_arg(ctx, args.get(at + 2)) else {
            return;
        };
        let Some(start) = interval_start(ctx, args.get(at)) else {
            return;
        };
        let Some(end) = interval_end(ctx, args.get(at + 1)) else {
            return;
        };
        if at + 3 < argc {
            consumer = Some(args.get(at + 3));
        }
        range = Some((start, end, count.max(0) as u64));
    }
    let key = args.get(1);
    let gname = args.get(2);
    let now = ctx.now_ms;
    let Ok((s, reply)) = read_for_reply(ctx, key) else {
        return;
    };
    let Some(g) = s.and_then(|s| s.groups().get(gname)) else {
        let mut m = b"NOGROUP No such key '".to_vec();
        m.extend_from_slice(cstr(key));
        m.extend_from_slice(b"' or consumer group '");
        m.extend_from_slice(cstr(gname));
        m.push(b'\'');
        return reply.error_bytes(&m);
    };
    if justinfo {
        reply.array(4);
        reply.int(g.pel.len() as i64);
        let (Some((first, _)), Some((last, _))) = (g.pel.iter().next(), g.pel.iter().next_back())
        else {
            reply.null();
            reply.null();
            return reply.null_array();
        };
        reply_id(reply, *first);
        reply_id(reply, *last);
        let with: Vec<(&[u8], usize)> = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(n, c)| (&n[..], c.pel.len()))
            .collect();
        reply.array(with.len());
        for (n, p) in with {
            reply.array(2);
            reply.bulk(n);
            reply.bulk_int(p as i64);
        }
        return;
    }
    let Some((start, end, mut count)) = range else {
        return reply.array(0);
    };
    let ids: Box<dyn Iterator<Item = StreamId> + '_> = match consumer {
        Some(c) => match g.consumers.get(c) {
            Some(c) => Box::new(c.pel.range(start..).copied()),
            None => return reply.array(0),
        },
        None => Box::new(g.pel.range(start..).map(|(id, _)| *id)),
    };
    let (body, n) = scratch(reply.protocol(), |r| {
        let mut n = 0;
        for id in ids {
            if count == 0 || id > end {
                break;
            }
            let Some(nack) = g.pel.get(&id) else {
                continue;
            };
            if minidle != 0 && now.wrapping_sub(nack.delivery_time) < minidle {
                continue;
            }
            n += 1;
            count -= 1;
            r.array(4);
            reply_id(r, id);
            r.bulk(&nack.consumer);
            r.int(now.wrapping_sub(nack.delivery_time).max(0));
            r.int(nack.delivery_count as i64);
        }
        n
    });
    reply.array(n);
    reply.raw(&body);
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
pub fn xclaim(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(1);
    let gname = args.get(2);
    let has = match read_stream(ctx, key) {
        Err(()) => return,
        Ok(s) => s.is_some_and(|s| s.groups().contains_key(gname)),
    };
    if !has {
        return nogroup(ctx, key, gname, "");
    }
    let Some(minidle) = parse_i64(args.get(4)) else {
        return ctx
            .reply
            .error("ERR Invalid min-idle-time argument for XCLAIM");
    };
    let minidle = minidle.max(0);
    let mut ids = vec![];
    let mut j = 5;
    while j < args.len() {
        match parse_strict_id(args.get(j), 0) {
            Some(id) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let now = ctx.now_ms;
    let mut force = false;
    let mut justid = false;
    let mut retrycount: i64 = -1;
    let mut deliverytime: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        if eq(opt, "force") {
            force = true;
        } else if eq(opt, "justid") {
            justid = true;
        } else if eq(opt, "idle") && more > 0 {
            j += 1;
            let Some(v) = parse_i64(args.get(j)) else {
                return ctx
                    .reply
                    .error("ERR Invalid IDLE option argument for XCLAIM");
            };
            deliverytime = now.wrapping_sub(v);
        } else if eq(opt, "time") && more > 0 {
            j += 1;
            let Some(v) = parse_i64(args.get(j)) else {
                return ctx
                    .reply
                    .error("ERR Invalid TIME option argument for XCLAIM");
            };
            deliverytime = v;
        } else if eq(opt, "retrycount") && more > 0 {
            j += 1;
            let Some(v) = parse_i64(args.get(j)) else {
                return ctx
                    .reply
                    .error("ERR Invalid RETRYCOUNT option argument for XCLAIM");
            };
            retrycount = v;
        } else if eq(opt, "lastid") && more > 0 {
            j += 1;
            match parse_strict_id(args.get(j), 0) {
                Some(id) => last_id = id,
                None => return ctx.reply.error(INVALID_ID),
            }
        } else {
            let mut m = b"ERR Unrecognized XCLAIM option '".to_vec();
            m.extend_from_slice(cstr(opt));
            m.push(b'\'');
            return ctx.reply.error_bytes(&m);
        }
        j += 1;
    }
    if deliverytime == -1 || deliverytime < 0 || deliverytime > now {
        deliverytime = now;
    }
    let cname = args.get(3);
    let proto = ctx.protocol();
    let Ok(Some(s)) = write_stream(ctx, key) else {
        return;
    };
    let (entries, groups) = s.split_mut();
    let Some(g) = groups.get_mut(gname) else {
        return;
    };
    if last_id > g.last_id {
        g.last_id = last_id;
    }
    let mut changes = 0;
    let mut consumer_ready = false;
    let mut created = false;
    let (body, n) = scratch(proto, |r| {
        let mut n = 0;
        for id in ids {
            let exists = entries.contains(id);
            if !exists {
                if g.ack(id) {
                    changes += 1;
                }
                continue;
            }
            let fresh = !g.pel.contains_key(&id);
            if fresh && !force {
                continue;
            }
            if !fresh && minidle != 0 {
                if let Some(nack) = g.pel.get(&id) {
                    if now.wrapping_sub(nack.delivery_time) < minidle {
                        continue;
                    }
                }
            }
            if !consumer_ready {
                created = touch_consumer(g, cname, now).1;
                consumer_ready = true;
            }
            let nack = g.assign(id, cname, now);
            nack.delivery_time = deliverytime;
            if retrycount >= 0 {
                nack.delivery_count = retrycount as u64;
            } else if !justid {
                nack.delivery_count = nack.delivery_count.wrapping_add(1);
            }
            if justid {
                reply_id(r, id);
            } else if !reply_entry_id(r, entries, id) {
                r.null();
            }
            n += 1;
            changes += 1;
        }
        n
    });
    ctx.dirty(changes);
    if created {
        ctx.notify(ev::STREAM, "xgroup-createconsumer", args.get(1));
    }
    ctx.reply.array(n);
    ctx.reply.raw(&body);
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub fn xautoclaim(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(minidle) = parse_i64(args.get(4)) else {
        return ctx
            .reply
            .error("ERR Invalid min-idle-time argument for XAUTOCLAIM");
    };
    let minidle = minidle.max(0);
    let Some(start) = interval_start(ctx, args.get(5)) else {
        return;
    };
    let mut count: u64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        if eq(opt, "count") && more > 0 {
            match parse_i64(args.get(j + 1)) {
                Some(n) if (1..=i64::MAX / 16).contains(&n) => count = n as u64,
                _ => return ctx.reply.error("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if eq(opt, "justid") {
            justid = true;
        } else {
            return ctx.reply.error(err::SYNTAX);
        }
        j += 1;
    }
    let key = args.get(1);
    let gname = args.get(2);
    let has = match read_stream(ctx, key) {
        Err(()) => return,
        Ok(s) => s.is_some_and(|s| s.groups().contains_key(gname)),
    };
    if !has {
        return nogroup(ctx, key, gname, "");
    }
    // Redis allocates COUNT IDs up front; past what the allocator grants (80 TiB here) it
    // refuses the command.
    if count.saturating_mul(16) > 80 << 40 {
        return ctx
            .reply
            .error("ERR Insufficient memory, failed allocating transient memory, COUNT too high.");
    }
    let now = ctx.now_ms;
    let cname = args.get(3);
    let proto = ctx.protocol();
    let Ok(Some(s)) = write_stream(ctx, key) else {
        return;
    };
    let (entries, groups) = s.split_mut();
    let Some(g) = groups.get_mut(gname) else {
        return;
    };
    let mut attempts = count.saturating_mul(10);
    let mut remaining = count;
    let mut pos = Some(start);
    let mut deleted: Vec<StreamId> = vec![];
    let mut consumer_ready = false;
    let mut created = false;
    let mut changes = 0;
    let (body, n) = scratch(proto, |r| {
        let mut n = 0;
        loop {
            if attempts == 0 {
                break;
            }
            attempts -= 1;
            if remaining == 0 {
                break;
            }
            let Some(id) = pos.and_then(|p| g.pel.range(p..).next().map(|(id, _)| *id)) else {
                pos = None;
                break;
            };
            pos = id.incr();
            if !entries.contains(id) {
                g.ack(id);
                deleted.push(id);
                remaining -= 1;
                changes += 1;
                continue;
            }
            if minidle != 0 {
                if let Some(nack) = g.pel.get(&id) {
                    if now.wrapping_sub(nack.delivery_time) < minidle {
                        continue;
                    }
                }
            }
            if !consumer_ready {
                created = touch_consumer(g, cname, now).1;
                consumer_ready = true;
            }
            let nack = g.assign(id, cname, now);
            nack.delivery_time = now;
            if !justid {
                nack.delivery_count = nack.delivery_count.wrapping_add(1);
            }
            if justid {
                reply_id(r, id);
            } else {
                reply_entry_id(r, entries, id);
            }
            n += 1;
            remaining -= 1;
            changes += 1;
        }
        n
    });
    let cursor = pos
        .and_then(|p| g.pel.range(p..).next().map(|(id, _)| *id))
        .unwrap_or(StreamId::MIN);
    ctx.dirty(changes);
    if created {
        ctx.notify(ev::STREAM, "xgroup-createconsumer", args.get(1));
    }
    let r = &mut ctx.reply;
    r.array(3);
    reply_id(r, cursor);
    r.array(n);
    r.raw(&body);
    r.array(deleted.len());
    for id in deleted {
        reply_id(r, id);
    }
}

// ---------------------------------------------------------------------------------------------
// XINFO

/// The lag of a group (streamReplyWithCGLag): None when it cannot be known.
fn group_lag(entries: &Entries, g: &Group) -> Option<i64> {
    let added = entries.entries_added() as i64;
    if entries.entries_added() == 0 {
        return Some(0);
    }
    if g.entries_read != -1 && !entries.has_tombstones(Some(g.last_id), None) {
        return Some(added.wrapping_sub(g.entries_read));
    }
    entries
        .estimate_distance(g.last_id)
        .map(|read| added.wrapping_sub(read))
}

fn reply_opt_int(r: &mut Reply<'_>, v: Option<i64>) {
    match v {
        Some(n) => r.int(n),
        None => r.null(),
    }
}

/// XINFO STREAM key [FULL [COUNT count]]
pub fn xinfo_stream(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(2);
    match read_stream(ctx, key) {
        Err(()) => return,
        Ok(None) => return ctx.reply.error(err::NO_SUCH_KEY),
        Ok(Some(_)) => {}
    }
    let argc = args.len();
    let mut full = false;
    let mut count: i64 = 10;
    if argc > 3 {
        if !eq(args.get(3), "full") || (argc != 4 && argc != 6) {
            return subcommand_error(ctx, &args, "XINFO");
        }
        full = true;
        if argc == 6 {
            if !eq(args.get(4), "count") {
                return subcommand_error(ctx, &args, "XINFO");
            }
            let Some(n) = int_arg(ctx, args.get(5)) else {
                return;
            };
            count = if n < 0 { 10 } else { n };
        }
    }
    let Ok((Some(s), r)) = read_for_reply(ctx, key) else {
        return;
    };
    let entries = s.entries();
    r.map(if full { 9 } else { 10 });
    r.bulk(b"length");
    r.int(entries.len() as i64);
    r.bulk(b"radix-tree-keys");
    r.int(entries.rax_keys() as i64);
    r.bulk(b"radix-tree-nodes");
    r.int(entries.rax_nodes() as i64);
    r.bulk(b"last-generated-id");
    reply_id(r, entries.last_id());
    r.bulk(b"max-deleted-entry-id");
    reply_id(r, entries.max_deleted());
    r.bulk(b"entries-added");
    r.int(entries.entries_added() as i64);
    r.bulk(b"recorded-first-entry-id");
    reply_id(r, entries.first_id());
    if !full {
        r.bulk(b"groups");
        r.int(s.groups().len() as i64);
        r.bulk(b"first-entry");
        match entries.range(StreamId::MIN, StreamId::MAX).next() {
            Some(e) => reply_entry(r, &e),
            None => r.null(),
        }
        r.bulk(b"last-entry");
        match entries.rev_range(StreamId::MIN, StreamId::MAX).next() {
            Some(e) => reply_entry(r, &e),
            None => r.null(),
        }
        return;
    }
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    r.bulk(b"entries");
    let (body, n) = scratch(r.protocol(), |b| {
        let mut n = 0;
        for e in entries.range(StreamId::MIN, StreamId::MAX).take(limit) {
            reply_entry(b, &e);
            n += 1;
        }
        n
    });
    r.array(n);
    r.raw(&body);
    r.bulk(b"groups");
    r.array(s.groups().len());
    for (name, g) in s.groups() {
        r.map(7);
        r.bulk(b"name");
        r.bulk(name);
        r.bulk(b"last-delivered-id");
        reply_id(r, g.last_id);
        r.bulk(b"entries-read");
        reply_opt_int(r, (g.entries_read != -1).then_some(g.entries_read));
        r.bulk(b"lag");
        reply_opt_int(r, group_lag(entries, g));
        r.bulk(b"pel-count");
        r.int(g.pel.len() as i64);
        r.bulk(b"pending");
        let pel: Vec<_> = g.pel.iter().take(limit).collect();
        r.array(pel.len());
        for (id, nack) in pel {
            r.array(4);
            reply_id(r, *id);
            r.bulk(&nack.consumer);
            r.int(nack.delivery_time);
            r.int(nack.delivery_count as i64);
        }
        r.bulk(b"consumers");
        r.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            r.map(4);
            r.bulk(b"name");
            r.bulk(cname);
            r.bulk(b"seen-time");
            r.int(c.seen_time);
            r.bulk(b"pel-count");
            r.int(c.pel.len() as i64);
            r.bulk(b"pending");
            let pel: Vec<_> = c.pel.iter().take(limit).collect();
            r.array(pel.len());
            for id in pel {
                r.array(3);
                reply_id(r, *id);
                match g.pel.get(id) {
                    Some(nack) => {
                        r.int(nack.delivery_time);
                        r.int(nack.delivery_count as i64);
                    }
                    None => {
                        r.int(0);
                        r.int(0);
                    }
                }
            }
        }
    }
}

/// XINFO GROUPS key
pub fn xinfo_groups(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(2);
    match read_stream(ctx, key) {
        Err(()) => return,
        Ok(None) => return ctx.reply.error(err::NO_SUCH_KEY),
        Ok(Some(_)) => {}
    }
    let Ok((Some(s), r)) = read_for_reply(ctx, key) else {
        return;
    };
    r.array(s.groups().len());
    for (name, g) in s.groups() {
        r.map(6);
        r.bulk(b"name");
        r.bulk(name);
        r.bulk(b"consumers");
        r.int(g.consumers.len() as i64);
        r.bulk(b"pending");
        r.int(g.pel.len() as i64);
        r.bulk(b"last-delivered-id");
        reply_id(r, g.last_id);
        r.bulk(b"entries-read");
        reply_opt_int(r, (g.entries_read != -1).then_some(g.entries_read));
        r.bulk(b"lag");
        reply_opt_int(r, group_lag(s.entries(), g));
    }
}

/// XINFO CONSUMERS key group
pub fn xinfo_consumers(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(2);
    let gname = args.get(3);
    let has = match read_stream(ctx, key) {
        Err(()) => return,
        Ok(None) => return ctx.reply.error(err::NO_SUCH_KEY),
        Ok(Some(s)) => s.groups().contains_key(gname),
    };
    if !has {
        return nogroup_for_key(ctx, key, gname);
    }
    let now = ctx.now_ms;
    let Ok((Some(s), r)) = read_for_reply(ctx, key) else {
        return;
    };
    let Some(g) = s.groups().get(gname) else {
        return r.array(0);
    };
    r.array(g.consumers.len());
    for (name, c) in &g.consumers {
        r.map(3);
        r.bulk(b"name");
        r.bulk(name);
        r.bulk(b"pending");
        r.int(c.pel.len() as i64);
        r.bulk(b"idle");
        r.int(now.wrapping_sub(c.seen_time).max(0));
    }
}

/// XINFO HELP
pub fn xinfo_help(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    help(
        ctx,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// XSETID

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
pub fn xsetid(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(id) = parse_strict_id(args.get(2), 0) else {
        return ctx.reply.error(INVALID_ID);
    };
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args.get(i);
        if eq(opt, "entriesadded") && more > 0 {
            let Some(n) = int_arg(ctx, args.get(i + 1)) else {
                return;
            };
            if n < 0 {
                return ctx.reply.error("ERR entries_added must be positive");
            }
            entries_added = n;
            i += 2;
        } else if eq(opt, "maxdeletedid") && more > 0 {
            let Some(m) = parse_strict_id(args.get(i + 1), 0) else {
                return ctx.reply.error(INVALID_ID);
            };
            if id < m {
                return ctx.reply.error(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
            }
            max_xdel = m;
            i += 2;
        } else {
            return ctx.reply.error(err::SYNTAX);
        }
    }
    let s = match write_stream(ctx, args.get(1)) {
        Err(()) => return,
        Ok(None) => return ctx.reply.error(err::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    let e = s.entries();
    if !e.is_empty() {
        if e.last_valid_id().is_some_and(|m| id < m) {
            return ctx.reply.error(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added != -1 && e.len() > entries_added as u64 {
            return ctx.reply.error(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    let e = s.entries_mut();
    e.set_last_id(id);
    if entries_added != -1 {
        e.set_entries_added(entries_added as u64);
    }
    if !max_xdel.is_zero() {
        e.set_max_deleted(max_xdel);
    }
    ctx.dirty(1);
    ctx.notify(ev::STREAM, "xsetid", args.get(1));
    ctx.reply.ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis() {
        assert_eq!(parse_id(b"5", 0), Some(StreamId::new(5, 0)));
        assert_eq!(parse_id(b"5", u64::MAX), Some(StreamId::new(5, u64::MAX)));
        assert_eq!(parse_id(b"-", 0), Some(StreamId::MIN));
        assert_eq!(parse_strict_id(b"+", 0), None);
        assert_eq!(parse_id(b"1- 5", 0), Some(StreamId::new(1, 5)));
        assert_eq!(
            parse_id(b"1- -5", 0),
            Some(StreamId::new(1, 5u64.wrapping_neg()))
        );
        assert_eq!(parse_id(b"1--5", 0), None);
        assert_eq!(parse_id(b"-1", 0), None);
        assert_eq!(parse_id(b"007-1", 0), Some(StreamId::new(7, 1)));
        assert_eq!(parse_id(b"1-", 0), None);
        assert_eq!(parse_id(b"", 0), None);
        assert_eq!(parse_id(b"18446744073709551616", 0), None);
        let mut g = true;
        assert_eq!(
            parse_id_ext(b"3-*", 0, true, Some(&mut g)),
            Some(StreamId::new(3, 0))
        );
        assert!(!g);
        assert_eq!(parse_id(b"3-*", 0), None);
        let mut buf = Vec::new();
        let mut r = Reply::new(&mut buf, Protocol::Resp2);
        reply_id(&mut r, StreamId::MAX);
        assert_eq!(
            buf,
            b"$41\r\n18446744073709551615-18446744073709551615\r\n".to_vec()
        );
    }
}
