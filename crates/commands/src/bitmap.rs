//! The bitmap family: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO, as
//! Redis 7.0's bitops.c implements them (same argument checks in the same order, same replies).
//!
//! Bitmaps are plain strings; commands that modify one convert it to the raw encoding in place
//! (Redis's dbUnshareStringValue), so the key keeps its TTL.

use crate::ctx::{err, Ctx};
use crate::registry::{Cross, Handler};
use shoal_data::events as ev;
use shoal_data::numeric::parse_i64;
use shoal_data::value::itoa_buf;
use shoal_data::{Value, ValueType};
use shoal_protocol::Args;

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[
    ("setbit", Handler::Shard(setbit), Cross::Local),
    ("getbit", Handler::Shard(getbit), Cross::Local),
    ("bitcount", Handler::Shard(bitcount), Cross::Local),
    ("bitpos", Handler::Shard(bitpos), Cross::Local),
    ("bitop", Handler::Shard(bitop), Cross::Gather),
    ("bitfield", Handler::Shard(bitfield), Cross::Local),
    ("bitfield_ro", Handler::Shard(bitfield_ro), Cross::Local),
];

const BIT_OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";
const BIT_VALUE_ERR: &str = "ERR bit is not an integer or out of range";
const BITFIELD_TYPE_ERR: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// The argument as C's string functions see it: up to its first NUL byte.
fn cstr(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&b| b == 0) {
        Some(i) => &arg[..i],
        None => arg,
    }
}

/// strcasecmp(arg, word) == 0.
fn keyword(arg: &[u8], word: &str) -> bool {
    cstr(arg).eq_ignore_ascii_case(word.as_bytes())
}

/// Redis's getBitOffsetFromArgument: a bit offset, or `#n` (n times `bits`) when `hash`.
fn bit_offset(ctx: &mut Ctx<'_>, arg: &[u8], hash: bool, bits: u32) -> Option<u64> {
    let usehash = hash && bits > 0 && arg.first() == Some(&b'#');
    let digits = if usehash { &arg[1..] } else { arg };
    let Some(mut off) = parse_i64(digits) else {
        ctx.reply.error(BIT_OFFSET_ERR);
        return None;
    };
    if usehash {
        off = off.wrapping_mul(bits as i64);
    }
    if off < 0 || (off >> 3) >= ctx.settings.proto_max_bulk_len {
        ctx.reply.error(BIT_OFFSET_ERR);
        return None;
    }
    Some(off as u64)
}

/// Redis's getBitfieldTypeFromArgument: (signed, bits).
fn bitfield_type(arg: &[u8]) -> Option<(bool, u32)> {
    let s = cstr(arg);
    let sign = match s.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return None,
    };
    let bits = parse_i64(&s[1..])?;
    if bits < 1 || (sign && bits > 64) || (!sign && bits > 63) {
        return None;
    }
    Some((sign, bits as u32))
}

/// SETBIT key offset value
pub fn setbit(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(offset) = bit_offset(ctx, args.get(2), false, 0) else {
        return;
    };
    let on = match parse_i64(args.get(3)) {
        Some(v) if v & !1 == 0 => v as u8,
        _ => return ctx.reply.error(BIT_VALUE_ERR),
    };
    let byte = (offset >> 3) as usize;
    let Ok(e) = ctx.write_or_create(args.get(1), ValueType::String, || Value::Raw(vec![])) else {
        return;
    };
    let v = e.make_raw();
    let mut dirty = false;
    if v.len() < byte + 1 {
        v.resize(byte + 1, 0);
        dirty = true;
    }
    let bit = 7 - (offset & 7) as u8;
    let old = (v[byte] >> bit) & 1;
    if dirty || old != on {
        v[byte] = (v[byte] & !(1 << bit)) | (on << bit);
        ctx.dirty(1);
        ctx.notify(ev::STRING, "setbit", args.get(1));
    }
    ctx.reply.int(old as i64);
}

/// GETBIT key offset
pub fn getbit(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(offset) = bit_offset(ctx, args.get(2), false, 0) else {
        return;
    };
    let mut scratch = itoa_buf::Buffer::new();
    let bit = match ctx.lookup(args.get(1)) {
        None => 0,
        Some(e) if !e.is_string() => return ctx.reply.error(err::WRONGTYPE),
        Some(e) => {
            let s = e.str_bytes(&mut scratch);
            let byte = (offset >> 3) as usize;
            match s.get(byte) {
                Some(b) => (b >> (7 - (offset & 7))) & 1,
                None => 0,
            }
        }
    };
    ctx.reply.int(bit as i64);
}

fn popcount(s: &[u8]) -> i64 {
    let mut chunks = s.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from_ne_bytes(w).count_ones() as u64;
    }
    for b in chunks.remainder() {
        n += b.count_ones() as u64;
    }
    n as i64
}

/// Redis's redisBitpos: the first bit equal to `bit` in `s`, with `s` padded by zeros on the
/// right; -1 when looking for a 1 and there is none.
fn first_bit(s: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0u8 } else { 0xff };
    match s.iter().position(|&b| b != skip) {
        Some(i) => {
            let b = if bit { s[i] } else { !s[i] };
            i as i64 * 8 + b.leading_zeros() as i64
        }
        None if bit => -1,
        None => s.len() as i64 * 8,
    }
}

/// What BITCOUNT / BITPOS replies once the key's bytes are examined.
enum Outcome {
    Int(i64),
    Error(&'static str),
}

/// Resolves a BYTE/BIT range as Redis does: (start, end, first byte mask, last byte mask), with
/// start/end in bytes; `start > end` means empty.
fn resolve_range(mut start: i64, mut end: i64, strlen: i64, isbit: bool) -> (i64, i64, u8, u8) {
    let totlen = if isbit { strlen << 3 } else { strlen };
    if start < 0 {
        start += totlen;
    }
    if end < 0 {
        end += totlen;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= totlen {
        end = totlen - 1;
    }
    let (mut first, mut last) = (0u8, 0u8);
    if isbit && start <= end {
        first = (!((1i32 << (8 - (start & 7))) - 1) & 0xff) as u8;
        last = ((1i32 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    (start, end, first, last)
}

/// BITCOUNT key [start end [BYTE|BIT]]
pub fn bitcount(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let mut scratch = itoa_buf::Buffer::new();
    let out = match ctx.lookup(args.get(1)) {
        None => Outcome::Int(0),
        Some(e) if !e.is_string() => return ctx.reply.error(err::WRONGTYPE),
        Some(e) => bitcount_of(e.str_bytes(&mut scratch), &args),
    };
    match out {
        Outcome::Int(n) => ctx.reply.int(n),
        Outcome::Error(m) => ctx.reply.error(m),
    }
}

fn bitcount_of(p: &[u8], args: &Args<'_>) -> Outcome {
    let strlen = p.len() as i64;
    let argc = args.len();
    let (start, end, first, last) = if argc == 4 || argc == 5 {
        let (Some(start), Some(end)) = (parse_i64(args.get(2)), parse_i64(args.get(3))) else {
            return Outcome::Error(err::NOT_INTEGER);
        };
        if start < 0 && end < 0 && start > end {
            return Outcome::Int(0);
        }
        let mut isbit = false;
        if argc == 5 {
            if keyword(args.get(4), "bit") {
                isbit = true;
            } else if !keyword(args.get(4), "byte") {
                return Outcome::Error(err::SYNTAX);
            }
        }
        resolve_range(start, end, strlen, isbit)
    } else if argc == 2 {
        (0, strlen - 1, 0, 0)
    } else {
        return Outcome::Error(err::SYNTAX);
    };
    if start > end {
        return Outcome::Int(0);
    }
    let (s, e) = (start as usize, end as usize);
    let mut count = popcount(&p[s..=e]);
    if first != 0 || last != 0 {
        let mut fl = [0u8; 2];
        if first != 0 {
            fl[0] = p[s] & first;
        }
        if last != 0 {
            fl[1] = p[e] & last;
        }
        count -= popcount(&fl);
    }
    Outcome::Int(count)
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
pub fn bitpos(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let bit = match parse_i64(args.get(2)) {
        None => return ctx.reply.error(err::NOT_INTEGER),
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => return ctx.reply.error("ERR The bit argument must be 1 or 0."),
    };
    let mut scratch = itoa_buf::Buffer::new();
    let out = match ctx.lookup(args.get(1)) {
        None => Outcome::Int(if bit { -1 } else { 0 }),
        Some(e) if !e.is_string() => return ctx.reply.error(err::WRONGTYPE),
        Some(e) => bitpos_of(e.str_bytes(&mut scratch), bit, &args),
    };
    match out {
        Outcome::Int(n) => ctx.reply.int(n),
        Outcome::Error(m) => ctx.reply.error(m),
    }
}

fn bitpos_of(p: &[u8], bit: bool, args: &Args<'_>) -> Outcome {
    let strlen = p.len() as i64;
    let argc = args.len();
    let mut end_given = false;
    let (mut start, end, first, last) = if (4..=6).contains(&argc) {
        let Some(start) = parse_i64(args.get(3)) else {
            return Outcome::Error(err::NOT_INTEGER);
        };
        let mut isbit = false;
        if argc == 6 {
            if keyword(args.get(5), "bit") {
                isbit = true;
            } else if !keyword(args.get(5), "byte") {
                return Outcome::Error(err::SYNTAX);
            }
        }
        let end = if argc >= 5 {
            let Some(end) = parse_i64(args.get(4)) else {
                return Outcome::Error(err::NOT_INTEGER);
            };
            end_given = true;
            end
        } else if isbit {
            (strlen << 3) + 7
        } else {
            strlen - 1
        };
        resolve_range(start, end, strlen, isbit)
    } else if argc == 3 {
        (0, strlen - 1, 0, 0)
    } else {
        return Outcome::Error(err::SYNTAX);
    };
    if start > end {
        return Outcome::Int(-1);
    }
    let mut bytes = end - start + 1;
    // The search, as Redis does it: a masked first byte, the middle, a masked last byte.
    let masked = |b: u8, mask: u8| if bit { b & !mask } else { b | mask };
    let pos = 'search: {
        if first != 0 {
            let mut c = masked(p[start as usize], first);
            if last != 0 && bytes == 1 {
                c = masked(c, last);
            }
            let pos = first_bit(&[c], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'search pos;
            }
            start += 1;
            bytes -= 1;
        }
        let curbytes = bytes - (last != 0) as i64;
        if curbytes > 0 {
            let s = start as usize;
            let pos = first_bit(&p[s..s + curbytes as usize], bit);
            if bytes == curbytes || (pos != -1 && pos != curbytes << 3) {
                break 'search pos;
            }
            start += curbytes;
            bytes -= curbytes;
        }
        first_bit(&[masked(p[end as usize], last)], bit)
    };
    if end_given && !bit && pos == bytes << 3 {
        return Outcome::Int(-1);
    }
    Outcome::Int(if pos != -1 { pos + (start << 3) } else { pos })
}

#[derive(Clone, Copy, PartialEq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
pub fn bitop(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let name = args.get(1);
    let op = if keyword(name, "and") {
        BitOp::And
    } else if keyword(name, "or") {
        BitOp::Or
    } else if keyword(name, "xor") {
        BitOp::Xor
    } else if keyword(name, "not") {
        BitOp::Not
    } else {
        return ctx.reply.error(err::SYNTAX);
    };
    if op == BitOp::Not && args.len() != 4 {
        return ctx
            .reply
            .error("ERR BITOP NOT must be called with a single source key.");
    }
    let mut srcs: Vec<Vec<u8>> = Vec::with_capacity(args.len() - 3);
    let mut maxlen = 0;
    let mut scratch = itoa_buf::Buffer::new();
    for key in args.iter_from(3) {
        match ctx.lookup(key) {
            None => srcs.push(Vec::new()),
            Some(e) if !e.is_string() => return ctx.reply.error(err::WRONGTYPE),
            Some(e) => {
                let s = e.str_bytes(&mut scratch).to_vec();
                maxlen = maxlen.max(s.len());
                srcs.push(s);
            }
        }
    }
    let dst = args.get(2);
    let now = ctx.now_ms;
    if maxlen > 0 {
        let mut res = vec![0u8; maxlen];
        for (j, out) in res.iter_mut().enumerate() {
            let mut o = srcs[0].get(j).copied().unwrap_or(0);
            if op == BitOp::Not {
                o = !o;
            }
            for s in &srcs[1..] {
                let b = s.get(j).copied().unwrap_or(0);
                match op {
                    BitOp::And => o &= b,
                    BitOp::Or => o |= b,
                    BitOp::Xor => o ^= b,
                    BitOp::Not => {}
                }
            }
            *out = o;
        }
        let slot = ctx.slot_of(dst);
        ctx.db().insert_in(slot, dst, Value::Raw(res), 0, now);
        ctx.dirty(1);
        ctx.notify(ev::STRING, "set", dst);
    } else if ctx.db().remove(dst, now).is_some() {
        ctx.dirty(1);
        ctx.notify(ev::GENERIC, "del", dst);
    }
    ctx.reply.int(maxlen as i64);
}

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set,
    Incrby,
}

struct Op {
    offset: u64,
    value: i64,
    op: FieldOp,
    overflow: Overflow,
    bits: u32,
    signed: bool,
}

fn get_unsigned(p: &[u8], mut offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for _ in 0..bits {
        let byte = p.get((offset >> 3) as usize).copied().unwrap_or(0);
        let bit = 7 - (offset & 7);
        v = (v << 1) | ((byte >> bit) & 1) as u64;
        offset += 1;
    }
    v
}

fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(p, offset, bits) as i64;
    if bits < 64 && v & (1i64 << (bits - 1)) != 0 {
        v |= -1i64 << bits;
    }
    v
}

fn set_unsigned(p: &mut [u8], mut offset: u64, bits: u32, value: u64) {
    for j in 0..bits {
        let bitval = ((value >> (bits - 1 - j)) & 1) as u8;
        let bit = 7 - (offset & 7) as u8;
        if let Some(b) = p.get_mut((offset >> 3) as usize) {
            *b = (*b & !(1 << bit)) | (bitval << bit);
        }
        offset += 1;
    }
}

/// Redis's checkUnsignedBitfieldOverflow: whether `value + incr` overflows `bits` bits, and
/// the wrapped or saturated result.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (bool, u64) {
    let max: u64 = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || {
        let mask = if bits >= 64 { 0 } else { u64::MAX << bits };
        value.wrapping_add(incr as u64) & !mask
    };
    if value > max || (incr > 0 && incr > maxincr) {
        match ow {
            Overflow::Wrap => (true, wrap()),
            Overflow::Sat => (true, max),
            Overflow::Fail => (true, 0),
        }
    } else if incr < 0 && incr < minincr {
        match ow {
            Overflow::Wrap => (true, wrap()),
            Overflow::Sat => (true, 0),
            Overflow::Fail => (true, 0),
        }
    } else {
        (false, 0)
    }
}

/// Redis's checkSignedBitfieldOverflow.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (bool, i64) {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let msb = 1u64 << (bits - 1);
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        match ow {
            Overflow::Wrap => (true, wrap()),
            Overflow::Sat => (true, max),
            Overflow::Fail => (true, 0),
        }
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        match ow {
            Overflow::Wrap => (true, wrap()),
            Overflow::Sat => (true, min),
            Overflow::Fail => (true, 0),
        }
    } else {
        (false, 0)
    }
}

/// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
/// [OVERFLOW WRAP|SAT|FAIL] ...
pub fn bitfield(ctx: &mut Ctx<'_>, args: Args<'_>) {
    bitfield_generic(ctx, args, false)
}

/// BITFIELD_RO key [GET type offset] ...
pub fn bitfield_ro(ctx: &mut Ctx<'_>, args: Args<'_>) {
    bitfield_generic(ctx, args, true)
}

fn bitfield_generic(ctx: &mut Ctx<'_>, args: Args<'_>, ro: bool) {
    let mut ops: Vec<Op> = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut readonly = true;
    let mut highest: u64 = 0;
    let argc = args.len();
    let mut j = 2;
    while j < argc {
        let rem = argc - j - 1;
        let sub = args.get(j);
        let op = if keyword(sub, "get") && rem >= 2 {
            FieldOp::Get
        } else if keyword(sub, "set") && rem >= 3 {
            FieldOp::Set
        } else if keyword(sub, "incrby") && rem >= 3 {
            FieldOp::Incrby
        } else if keyword(sub, "overflow") && rem >= 1 {
            let t = args.get(j + 1);
            overflow = if keyword(t, "wrap") {
                Overflow::Wrap
            } else if keyword(t, "sat") {
                Overflow::Sat
            } else if keyword(t, "fail") {
                Overflow::Fail
            } else {
                return ctx.reply.error("ERR Invalid OVERFLOW type specified");
            };
            j += 2;
            continue;
        } else {
            return ctx.reply.error(err::SYNTAX);
        };
        let Some((signed, bits)) = bitfield_type(args.get(j + 1)) else {
            return ctx.reply.error(BITFIELD_TYPE_ERR);
        };
        let Some(offset) = bit_offset(ctx, args.get(j + 2), true, bits) else {
            return;
        };
        let mut value = 0;
        if op != FieldOp::Get {
            readonly = false;
            highest = highest.max(offset + bits as u64 - 1);
            match parse_i64(args.get(j + 3)) {
                Some(v) => value = v,
                None => return ctx.reply.error(err::NOT_INTEGER),
            }
        }
        ops.push(Op {
            offset,
            value,
            op,
            overflow,
            bits,
            signed,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }

    let key = args.get(1);
    let mut replies: Vec<Option<i64>> = Vec::with_capacity(ops.len());
    if readonly {
        let mut scratch = itoa_buf::Buffer::new();
        let src: &[u8] = match ctx.lookup(key) {
            None => &[],
            Some(e) if !e.is_string() => return ctx.reply.error(err::WRONGTYPE),
            Some(e) => e.str_bytes(&mut scratch),
        };
        for op in &ops {
            replies.push(Some(field_get(src, op)));
        }
    } else {
        if ro {
            return ctx
                .reply
                .error("ERR BITFIELD_RO only supports the GET subcommand");
        }
        let Ok(e) = ctx.write_or_create(key, ValueType::String, || Value::Raw(vec![])) else {
            return;
        };
        let v = e.make_raw();
        let need = (highest >> 3) as usize + 1;
        if v.len() < need {
            v.resize(need, 0);
        }
        let mut changes = 0;
        for op in &ops {
            if op.op == FieldOp::Get {
                replies.push(Some(field_get(v, op)));
                continue;
            }
            let incr = op.op == FieldOp::Incrby;
            if op.signed {
                let old = get_signed(v, op.offset, op.bits);
                let (over, new, ret) = if incr {
                    let (over, w) = signed_overflow(old, op.value, op.bits, op.overflow);
                    let new = if over { w } else { old.wrapping_add(op.value) };
                    (over, new, new)
                } else {
                    let (over, w) = signed_overflow(op.value, 0, op.bits, op.overflow);
                    (over, if over { w } else { op.value }, old)
                };
                if over && op.overflow == Overflow::Fail {
                    replies.push(None);
                } else {
                    replies.push(Some(ret));
                    set_unsigned(v, op.offset, op.bits, new as u64);
                    changes += 1;
                }
            } else {
                let old = get_unsigned(v, op.offset, op.bits);
                let (over, new, ret) = if incr {
                    let (over, w) = unsigned_overflow(old, op.value, op.bits, op.overflow);
                    let new = if over {
                        w
                    } else {
                        old.wrapping_add(op.value as u64)
                    };
                    (over, new, new)
                } else {
                    let value = op.value as u64;
                    let (over, w) = unsigned_overflow(value, 0, op.bits, op.overflow);
                    (over, if over { w } else { value }, old)
                };
                if over && op.overflow == Overflow::Fail {
                    replies.push(None);
                } else {
                    replies.push(Some(ret as i64));
                    set_unsigned(v, op.offset, op.bits, new);
                    changes += 1;
                }
            }
        }
        ctx.dirty(changes);
        if changes > 0 {
            ctx.notify(ev::STRING, "setbit", args.get(1));
        }
    }
    ctx.reply.array(replies.len());
    for r in replies {
        match r {
            Some(n) => ctx.reply.int(n),
            None => ctx.reply.null(),
        }
    }
}

/// A BITFIELD GET over `src` (zero padded past its end).
fn field_get(src: &[u8], op: &Op) -> i64 {
    if op.signed {
        get_signed(src, op.offset, op.bits)
    } else {
        get_unsigned(src, op.offset, op.bits) as i64
    }
}
