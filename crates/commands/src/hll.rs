//! The HyperLogLog family: PFADD, PFCOUNT, PFMERGE, PFDEBUG and PFSELFTEST, a port of Redis
//! 7.0's hyperloglog.c with the same representation byte for byte.
//!
//! An HLL is a plain string: a 16-byte header ("HYLL", the encoding, three unused bytes, the
//! cached cardinality in little endian whose top bit marks it stale) followed by 16384 6-bit
//! registers, either densely packed (12288 bytes) or run-length coded (the sparse encoding:
//! ZERO `00xxxxxx`, XZERO `01xxxxxx yyyyyyyy`, VAL `1vvvvvxx`). A sparse HLL becomes dense when
//! a register exceeds 32 or when it would grow past hll-sparse-max-bytes.

use crate::ctx::{err, Ctx};
use crate::registry::{Cross, Handler};
use shoal_data::events as ev;
use shoal_data::{Entry, Value, ValueType};
use shoal_protocol::Args;

/// The family's table bindings.
pub const COMMANDS: &[(&str, Handler, Cross)] = &[
    ("pfadd", Handler::Shard(pfadd), Cross::Local),
    ("pfcount", Handler::Shard(pfcount), Cross::Gather),
    ("pfmerge", Handler::Shard(pfmerge), Cross::Gather),
    ("pfdebug", Handler::Shard(pfdebug), Cross::Local),
    ("pfselftest", Handler::Shard(pfselftest), Cross::Local),
];

const HLL_P: u32 = 14;
const HLL_Q: u32 = 64 - HLL_P;
const HLL_REGISTERS: usize = 1 << HLL_P;
const HLL_P_MASK: u64 = (HLL_REGISTERS - 1) as u64;
const HLL_BITS: usize = 6;
const HLL_REGISTER_MAX: u8 = (1 << HLL_BITS) - 1;
const HLL_HDR_SIZE: usize = 16;
const HLL_DENSE_SIZE: usize = HLL_HDR_SIZE + (HLL_REGISTERS * HLL_BITS).div_ceil(8);
const HLL_DENSE: u8 = 0;
const HLL_SPARSE: u8 = 1;
const HLL_MAX_ENCODING: u8 = 1;
const HLL_SPARSE_VAL_MAX_VALUE: u8 = 32;
const HLL_SPARSE_VAL_MAX_LEN: usize = 4;
const HLL_SPARSE_ZERO_MAX_LEN: usize = 64;
const HLL_SPARSE_XZERO_MAX_LEN: usize = 16384;
const HLL_ALPHA_INF: f64 = 0.721_347_520_444_481_7;
/// hll-sparse-max-bytes (Redis's default).
pub const HLL_SPARSE_MAX_BYTES: usize = 3000;

const INVALID_HLL_ERR: &str = "INVALIDOBJ Corrupted HLL object detected";
const NOT_HLL_ERR: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";

/// MurmurHash64A, as Redis uses it (little-endian word loads).
pub fn murmurhash64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let len = key.len();
    let mut h: u64 = seed ^ (len as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let mut k = u64::from_le_bytes(w);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element addresses and the length of its "000..1" pattern.
fn pat_len(ele: &[u8]) -> (usize, u8) {
    let mut hash = murmurhash64a(ele, 0xadc8_3b19);
    let index = (hash & HLL_P_MASK) as usize;
    hash >>= HLL_P;
    hash |= 1u64 << HLL_Q;
    (index, hash.trailing_zeros() as u8 + 1)
}

/// The byte at `i`, or 0 past the end (Redis reads the string's NUL terminator there).
#[inline]
fn at(v: &[u8], i: usize) -> u8 {
    v.get(i).copied().unwrap_or(0)
}

/// The byte at `i`, where `tail` is the byte just past the end. Redis reads the byte after the
/// string when a corrupt sparse HLL ends in half an XZERO opcode: normally the NUL terminator,
/// but splitting such an opcode writes one byte there, which later updates of the same command
/// read back. `tail` carries that byte through a command.
#[inline]
fn at_tail(v: &[u8], i: usize, tail: u8) -> u8 {
    match v.get(i) {
        Some(&b) => b,
        None if i == v.len() => tail,
        None => 0,
    }
}

#[inline]
fn dense_get(regs: &[u8], reg: usize) -> u8 {
    let byte = reg * HLL_BITS / 8;
    let fb = (reg * HLL_BITS) & 7;
    let b0 = at(regs, byte) as u32;
    let b1 = at(regs, byte + 1) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & HLL_REGISTER_MAX as u32) as u8
}

#[inline]
fn dense_set(regs: &mut [u8], reg: usize, val: u8) {
    let byte = reg * HLL_BITS / 8;
    let fb = (reg * HLL_BITS) & 7;
    let fb8 = 8 - fb;
    let v = val as u32;
    let max = HLL_REGISTER_MAX as u32;
    if let Some(b) = regs.get_mut(byte) {
        *b &= !((max << fb) as u8);
        *b |= (v << fb) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((max >> fb8) as u8);
        *b |= (v >> fb8) as u8;
    }
}

/// Sets a dense register to `count` if that is larger: 1 if it changed.
fn dense_update(regs: &mut [u8], reg: usize, count: u8) -> i32 {
    if count > dense_get(regs, reg) {
        dense_set(regs, reg, count);
        1
    } else {
        0
    }
}

#[inline]
fn is_zero(b: u8) -> bool {
    b & 0xc0 == 0
}
#[inline]
fn is_xzero(b: u8) -> bool {
    b & 0xc0 == 0x40
}
#[inline]
fn is_val(b: u8) -> bool {
    b & 0x80 != 0
}
#[inline]
fn zero_len(b: u8) -> usize {
    (b & 0x3f) as usize + 1
}
#[inline]
fn xzero_len(b: u8, b1: u8) -> usize {
    ((((b & 0x3f) as usize) << 8) | b1 as usize) + 1
}
#[inline]
fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}
#[inline]
fn val_len(b: u8) -> usize {
    (b & 0x3) as usize + 1
}
#[inline]
fn val_op(val: u8, len: usize) -> u8 {
    (((val - 1) << 2) | (len as u8 - 1)) | 0x80
}
fn push_zero_run(seq: &mut Vec<u8>, len: usize) {
    if len > HLL_SPARSE_ZERO_MAX_LEN {
        let l = len - 1;
        seq.push(((l >> 8) as u8) | 0x40);
        seq.push((l & 0xff) as u8);
    } else {
        seq.push((len - 1) as u8);
    }
}

/// A new, empty HLL: sparse, all registers in XZERO runs, cached cardinality 0.
pub fn create_hll() -> Vec<u8> {
    let mut v = Vec::with_capacity(HLL_HDR_SIZE + 2 * HLL_REGISTERS / HLL_SPARSE_XZERO_MAX_LEN);
    v.extend_from_slice(b"HYLL");
    v.push(HLL_SPARSE);
    v.extend_from_slice(&[0u8; 11]);
    let mut aux = HLL_REGISTERS;
    while aux > 0 {
        let xzero = aux.min(HLL_SPARSE_XZERO_MAX_LEN);
        push_zero_run(&mut v, xzero);
        aux -= xzero;
    }
    v
}

/// Marks the cached cardinality stale.
fn invalidate_cache(v: &mut [u8]) {
    v[15] |= 0x80;
}

/// Walks the runs of sparse registers, calling `val(first, len, value)` for every VAL run;
/// false when a run goes past the last register or the runs do not cover all of them (Redis
/// 7.0's hllSparseToDense and hllMerge checks).
fn walk_sparse(sparse: &[u8], tail: u8, mut val: impl FnMut(usize, usize, u8)) -> bool {
    let mut idx = 0usize;
    let mut p = 0;
    while p < sparse.len() {
        let b = sparse[p];
        let (runlen, oplen) = if is_zero(b) {
            (zero_len(b), 1)
        } else if is_xzero(b) {
            (xzero_len(b, at_tail(sparse, p + 1, tail)), 2)
        } else {
            (val_len(b), 1)
        };
        if idx + runlen > HLL_REGISTERS {
            return false;
        }
        if is_val(b) {
            val(idx, runlen, val_value(b));
        }
        idx += runlen;
        p += oplen;
    }
    idx == HLL_REGISTERS
}

/// Converts a sparse HLL to dense in place; false (unchanged) when the sparse data is corrupt.
fn sparse_to_dense(v: &mut Vec<u8>) -> bool {
    sparse_to_dense_tail(v, 0)
}

/// [`sparse_to_dense`] with the byte past the end (see [`at_tail`]).
fn sparse_to_dense_tail(v: &mut Vec<u8>, tail: u8) -> bool {
    if v[4] == HLL_DENSE {
        return true;
    }
    let mut dense = vec![0u8; HLL_DENSE_SIZE];
    dense[..HLL_HDR_SIZE].copy_from_slice(&v[..HLL_HDR_SIZE]);
    dense[4] = HLL_DENSE;
    let regs = &mut dense[HLL_HDR_SIZE..];
    let valid = walk_sparse(&v[HLL_HDR_SIZE..], tail, |first, len, val| {
        for r in first..first + len {
            dense_set(regs, r, val);
        }
    });
    if !valid {
        return false;
    }
    *v = dense;
    true
}

/// Redis's hllSparseSet: sets register `index` to `count` if larger, splitting and merging
/// opcodes in place, promoting to dense when needed. 1 = changed, 0 = not, -1 = corrupt.
/// `tail` is the byte past the end (see [`at_tail`]), carried between the updates of a command.
fn sparse_set(v: &mut Vec<u8>, index: usize, count: u8, tail: &mut u8) -> i32 {
    if count <= HLL_SPARSE_VAL_MAX_VALUE {
        // None: the HLL must be promoted.
        if let Some(r) = sparse_set_in_place(v, index, count, tail) {
            return r;
        }
    }
    if !sparse_to_dense_tail(v, *tail) {
        return -1;
    }
    *tail = 0;
    dense_update(&mut v[HLL_HDR_SIZE..], index, count)
}

/// The in-place part of [`sparse_set`]; None when the HLL must be promoted to dense.
fn sparse_set_in_place(v: &mut Vec<u8>, index: usize, count: u8, tail: &mut u8) -> Option<i32> {
    let sparse = HLL_HDR_SIZE;
    let mut end = v.len();
    let mut p = sparse;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut span = 0usize;
    // Step 1: locate the opcode covering the register.
    while p < end {
        let b = v[p];
        let mut oplen = 1;
        if is_zero(b) {
            span = zero_len(b);
        } else if is_val(b) {
            span = val_len(b);
        } else {
            span = xzero_len(b, at_tail(v, p + 1, *tail));
            oplen = 2;
        }
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Some(-1);
    }
    let b = v[p];
    let next = if is_xzero(b) { p + 2 } else { p + 1 };
    let next = (next < end).then_some(next);
    let (zero, xzero, val) = (is_zero(b), is_xzero(b), is_val(b));
    let runlen = if zero {
        zero_len(b)
    } else if xzero {
        xzero_len(b, at_tail(v, p + 1, *tail))
    } else {
        val_len(b)
    };

    // Step 2: the trivial cases, then the general split.
    let mut trivial = false;
    if val {
        let old = val_value(b);
        if old >= count {
            return Some(0);
        }
        if runlen == 1 {
            v[p] = val_op(count, 1);
            trivial = true;
        }
    }
    if !trivial && zero && runlen == 1 {
        v[p] = val_op(count, 1);
        trivial = true;
    }
    if !trivial {
        let mut seq: Vec<u8> = Vec::with_capacity(5);
        let last = first + span - 1;
        if zero || xzero {
            if index != first {
                push_zero_run(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zero_run(&mut seq, last - index);
            }
        } else {
            let curval = val_value(b);
            if index != first {
                seq.push(val_op(curval, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(curval, last - index));
            }
        }
        // Step 3: substitute the new sequence for the old opcode.
        let oldlen: isize = if xzero { 2 } else { 1 };
        let delta = seq.len() as isize - oldlen;
        if delta > 0 && v.len() + delta as usize > HLL_SPARSE_MAX_BYTES {
            return None;
        }
        let new_len = (v.len() as isize + delta) as usize;
        if delta != 0 {
            if let Some(next) = next {
                let dst = (next as isize + delta) as usize;
                if delta > 0 {
                    v.resize(new_len, 0);
                }
                v.copy_within(next..end, dst);
            }
        }
        v.resize(new_len, 0);
        *tail = 0;
        for (i, &s) in seq.iter().enumerate() {
            match v.get_mut(p + i) {
                Some(b) => *b = s,
                None if p + i == new_len => *tail = s,
                None => {}
            }
        }
        end = new_len;
    }

    // Step 4: merge adjacent VAL opcodes of the same value around the change.
    let mut p = prev.unwrap_or(sparse);
    let mut scanlen = 5;
    while p < end {
        if scanlen == 0 {
            break;
        }
        scanlen -= 1;
        let b = v[p];
        if is_xzero(b) {
            p += 2;
            continue;
        } else if is_zero(b) {
            p += 1;
            continue;
        }
        if p + 1 < end && is_val(v[p + 1]) {
            let v1 = val_value(b);
            let v2 = val_value(v[p + 1]);
            if v1 == v2 {
                let len = val_len(b) + val_len(v[p + 1]);
                if len <= HLL_SPARSE_VAL_MAX_LEN {
                    v[p + 1] = val_op(v1, len);
                    v.remove(p);
                    *tail = 0;
                    end -= 1;
                    continue;
                }
            }
        }
        p += 1;
    }
    invalidate_cache(v);
    Some(1)
}

/// Adds one element: 1 if a register changed, 0 if not, -1 if the HLL is corrupt.
fn hll_add(v: &mut Vec<u8>, ele: &[u8], tail: &mut u8) -> i32 {
    let (index, count) = pat_len(ele);
    match v[4] {
        HLL_DENSE => dense_update(&mut v[HLL_HDR_SIZE..], index, count),
        HLL_SPARSE => sparse_set(v, index, count, tail),
        _ => -1,
    }
}

/// Whether `v` passes Redis's isHLLObjectOrReply checks.
fn is_hll(e: &Entry) -> bool {
    let b = hll_bytes(e);
    e.is_string()
        && b.len() >= HLL_HDR_SIZE
        && &b[..4] == b"HYLL"
        && b[4] <= HLL_MAX_ENCODING
        && (b[4] != HLL_DENSE || b.len() == HLL_DENSE_SIZE)
}

/// The bytes of a string value (empty for an integer, which is never an HLL).
fn hll_bytes(e: &Entry) -> &[u8] {
    e.bytes().unwrap_or(&[])
}

/// Redis's isHLLObjectOrReply: Err with the error to reply when `v` is not a valid HLL.
fn hll_checked(e: &Entry) -> Result<(), &'static str> {
    if !e.is_string() {
        Err(err::WRONGTYPE)
    } else if !is_hll(e) {
        Err(NOT_HLL_ERR)
    } else {
        Ok(())
    }
}

/// The register histogram of a sparse HLL, and whether it covers exactly 16384 registers.
fn sparse_histo(sparse: &[u8], histo: &mut [i64; 64]) -> bool {
    let mut idx: i32 = 0;
    let mut p = 0;
    while p < sparse.len() {
        let b = sparse[p];
        if is_zero(b) {
            let r = zero_len(b);
            idx = idx.wrapping_add(r as i32);
            histo[0] += r as i64;
            p += 1;
        } else if is_xzero(b) {
            let r = xzero_len(b, at(sparse, p + 1));
            idx = idx.wrapping_add(r as i32);
            histo[0] += r as i64;
            p += 2;
        } else {
            let r = val_len(b);
            idx = idx.wrapping_add(r as i32);
            histo[val_value(b) as usize] += r as i64;
            p += 1;
        }
    }
    idx == HLL_REGISTERS as i32
}

fn hll_sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let zp = z;
        z += x * y;
        y += y;
        if zp == z {
            return z;
        }
    }
}

fn hll_tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let zp = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if zp == z {
            return z / 3.0;
        }
    }
}

/// Ertl's improved estimator over a register histogram (Redis 7's hllCount).
fn estimate(histo: &[i64; 64]) -> u64 {
    let m = HLL_REGISTERS as f64;
    let mut z = m * hll_tau((m - histo[HLL_Q as usize + 1] as f64) / m);
    for j in (1..=HLL_Q as usize).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * hll_sigma(histo[0] as f64 / m);
    let e = (HLL_ALPHA_INF * m * m / z).round();
    e as u64
}

/// The estimated cardinality of a valid HLL string; None when its sparse data is corrupt.
fn hll_count(v: &[u8]) -> Option<u64> {
    let mut histo = [0i64; 64];
    if v[4] == HLL_DENSE {
        let regs = &v[HLL_HDR_SIZE..];
        for r in 0..HLL_REGISTERS {
            histo[dense_get(regs, r) as usize] += 1;
        }
        Some(estimate(&histo))
    } else {
        let ok = sparse_histo(&v[HLL_HDR_SIZE..], &mut histo);
        let e = estimate(&histo);
        ok.then_some(e)
    }
}

/// Merges an HLL into `max` (one byte per register); false when its sparse data is corrupt.
fn hll_merge(max: &mut [u8], v: &[u8]) -> bool {
    if v[4] == HLL_DENSE {
        let regs = &v[HLL_HDR_SIZE..];
        for (i, m) in max.iter_mut().enumerate().take(HLL_REGISTERS) {
            let val = dense_get(regs, i);
            if val > *m {
                *m = val;
            }
        }
        return true;
    }
    walk_sparse(&v[HLL_HDR_SIZE..], 0, |first, len, val| {
        for m in &mut max[first..first + len] {
            if val > *m {
                *m = val;
            }
        }
    })
}

/// PFADD key [element ...]
pub fn pfadd(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(1);
    let mut updated: u64 = 0;
    let entry = match ctx.lookup_write(key) {
        Some(e) => match hll_checked(e) {
            Err(m) => return ctx.reply.error(m),
            Ok(()) => Some(e),
        },
        None => None,
    };
    let v = match entry {
        Some(e) => e.make_raw(),
        None => {
            updated += 1;
            let (now, slot) = (ctx.now_ms, ctx.slot_of(key));
            let db = ctx.keyspace.db(ctx.db);
            db.insert_in(slot, key, Value::Raw(create_hll()), 0, now);
            match db.get_mut_in(slot, key, now) {
                Some(e) => e.make_raw(),
                None => return ctx.reply.error(INVALID_HLL_ERR),
            }
        }
    };
    let mut tail = 0;
    for ele in args.iter_from(2) {
        match hll_add(v, ele, &mut tail) {
            1 => updated += 1,
            -1 => return ctx.reply.error(INVALID_HLL_ERR),
            _ => {}
        }
    }
    if updated > 0 {
        invalidate_cache(v);
        ctx.dirty(updated);
        ctx.notify(ev::STRING, "pfadd", key);
    }
    ctx.reply.int((updated > 0) as i64);
}

/// PFCOUNT key [key ...]
pub fn pfcount(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if args.len() > 2 {
        let mut max = vec![0u8; HLL_REGISTERS];
        for key in args.iter_from(1) {
            let Some(e) = ctx.lookup(key) else {
                continue;
            };
            if let Err(m) = hll_checked(e) {
                return ctx.reply.error(m);
            }
            if !hll_merge(&mut max, hll_bytes(e)) {
                return ctx.reply.error(INVALID_HLL_ERR);
            }
        }
        let mut histo = [0i64; 64];
        for &r in &max {
            histo[r as usize] += 1;
        }
        return ctx.reply.int(estimate(&histo) as i64);
    }
    let Some(e) = ctx.lookup(args.get(1)) else {
        return ctx.reply.int(0);
    };
    if let Err(m) = hll_checked(e) {
        return ctx.reply.error(m);
    }
    let v = e.make_raw();
    if v[15] & 0x80 == 0 {
        let mut card = [0u8; 8];
        card.copy_from_slice(&v[8..16]);
        let card = u64::from_le_bytes(card);
        return ctx.reply.int(card as i64);
    }
    let Some(card) = hll_count(v) else {
        return ctx.reply.error(INVALID_HLL_ERR);
    };
    v[8..16].copy_from_slice(&card.to_le_bytes());
    ctx.dirty(1);
    ctx.reply.int(card as i64);
}

/// PFMERGE destkey [sourcekey ...]
pub fn pfmerge(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let mut max = vec![0u8; HLL_REGISTERS];
    let mut use_dense = false;
    for key in args.iter_from(1) {
        let Some(e) = ctx.lookup(key) else {
            continue;
        };
        if let Err(m) = hll_checked(e) {
            return ctx.reply.error(m);
        }
        let v = hll_bytes(e);
        if v[4] == HLL_DENSE {
            use_dense = true;
        }
        if !hll_merge(&mut max, v) {
            return ctx.reply.error(INVALID_HLL_ERR);
        }
    }
    let key = args.get(1);
    let Ok(e) = ctx.write_or_create(key, ValueType::String, || Value::Raw(create_hll())) else {
        return;
    };
    let v = e.make_raw();
    if use_dense && !sparse_to_dense(v) {
        return ctx.reply.error(INVALID_HLL_ERR);
    }
    let mut tail = 0;
    for (j, &m) in max.iter().enumerate() {
        if m == 0 {
            continue;
        }
        match v[4] {
            HLL_DENSE => {
                dense_update(&mut v[HLL_HDR_SIZE..], j, m);
            }
            HLL_SPARSE => {
                sparse_set(v, j, m, &mut tail);
            }
            _ => {}
        }
    }
    invalidate_cache(v);
    ctx.dirty(1);
    ctx.notify(ev::STRING, "pfadd", args.get(1));
    ctx.reply.ok();
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
pub fn pfdebug(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let sub = args.get(1);
    let Some(e) = ctx.lookup_write(args.get(2)) else {
        return ctx.reply.error("ERR The specified key does not exist");
    };
    if let Err(m) = hll_checked(e) {
        return ctx.reply.error(m);
    }
    let v = e.make_raw();
    let name = match sub.iter().position(|&b| b == 0) {
        Some(i) => &sub[..i],
        None => sub,
    };
    let is = |w: &str| name.eq_ignore_ascii_case(w.as_bytes());
    let mut converted = false;
    if is("getreg") {
        if v[4] == HLL_SPARSE {
            if !sparse_to_dense(v) {
                return ctx.reply.error(INVALID_HLL_ERR);
            }
            converted = true;
        }
        let regs: Vec<u8> = (0..HLL_REGISTERS)
            .map(|r| dense_get(&v[HLL_HDR_SIZE..], r))
            .collect();
        ctx.reply.array(HLL_REGISTERS);
        for r in regs {
            ctx.reply.int(r as i64);
        }
    } else if is("decode") {
        if v[4] != HLL_SPARSE {
            return ctx.reply.error("ERR HLL encoding is not sparse");
        }
        let mut out = String::new();
        let mut p = HLL_HDR_SIZE;
        while p < v.len() {
            let b = v[p];
            if is_zero(b) {
                out += &format!("z:{} ", zero_len(b));
                p += 1;
            } else if is_xzero(b) {
                out += &format!("Z:{} ", xzero_len(b, at(v, p + 1)));
                p += 2;
            } else {
                out += &format!("v:{},{} ", val_value(b), val_len(b));
                p += 1;
            }
        }
        let out = out.trim_matches(' ').to_string();
        ctx.reply.bulk(out.as_bytes());
    } else if is("encoding") {
        let enc = if v[4] == HLL_DENSE { "dense" } else { "sparse" };
        ctx.reply.simple(enc);
    } else if is("todense") {
        let mut conv = 0;
        if v[4] == HLL_SPARSE {
            if !sparse_to_dense(v) {
                return ctx.reply.error(INVALID_HLL_ERR);
            }
            conv = 1;
            converted = true;
        }
        ctx.reply.int(conv);
    } else {
        let msg = format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(name)
        );
        ctx.reply.error(&msg);
    }
    if converted {
        ctx.dirty(1);
    }
}

/// PFSELFTEST: checks the register accessors and that the sparse and dense encodings agree
/// (a shorter version of Redis's test); replies OK.
pub fn pfselftest(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    // 1) Dense registers: set random values, read them all back.
    let mut regs = vec![0u8; HLL_DENSE_SIZE - HLL_HDR_SIZE];
    let mut expected = vec![0u8; HLL_REGISTERS];
    for _ in 0..100 {
        for (j, e) in expected.iter_mut().enumerate() {
            let r = (ctx.random() & HLL_REGISTER_MAX as u64) as u8;
            *e = r;
            dense_set(&mut regs, j, r);
        }
        for (j, &e) in expected.iter().enumerate() {
            let got = dense_get(&regs, j);
            if got != e {
                let msg =
                    format!("ERR TESTFAILED Register error at index {j}: expected {e}, got {got}");
                return ctx.reply.error(&msg);
            }
        }
    }
    // 2) Sparse and dense HLLs fed the same elements estimate the same cardinality.
    let mut sparse = create_hll();
    let mut dense = create_hll();
    if !sparse_to_dense(&mut dense) {
        return ctx.reply.error("ERR TESTFAILED dense conversion");
    }
    let seed = ctx.random();
    for j in 1..=20_000u64 {
        let ele = (seed ^ j).to_le_bytes();
        hll_add(&mut sparse, &ele, &mut 0);
        hll_add(&mut dense, &ele, &mut 0);
        if j % 1000 == 0 || sparse[4] == HLL_SPARSE {
            let (a, b) = (hll_count(&sparse), hll_count(&dense));
            if a != b || a.is_none() {
                let msg = format!("ERR TESTFAILED sparse and dense disagree at {j}: {a:?} {b:?}");
                return ctx.reply.error(&msg);
            }
            let card = a.unwrap_or(0) as f64;
            let err = (card - j as f64).abs() / j as f64;
            if j >= 1000 && err > 5.0 * 1.04 / (HLL_REGISTERS as f64).sqrt() {
                let msg = format!("ERR TESTFAILED Too big error. card:{card} abserr:{err} at {j}");
                return ctx.reply.error(&msg);
            }
        }
    }
    ctx.reply.ok();
}
