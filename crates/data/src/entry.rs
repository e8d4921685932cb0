//! A key's record: its metadata, expiry, value and key bytes in one allocation, owned by the
//! slot table through one pointer.
//!
//! A string written whole (SET and friends) keeps its bytes in the record itself, so a key with
//! a string value costs one allocation of about its key plus value plus an 8-byte header, and
//! the table holds one pointer per key. Every other value (integers, strings modified in place,
//! collections) is stored as a [`Value`] in the record.
//!
//! Layout (the allocation is 8-byte aligned):
//!
//! ```text
//! 0   access: u32      last access, seconds since the unix epoch (OBJECT IDLETIME)
//! 4   flags: u8        kind (inline embstr / inline raw / Value), EXPIRE, UNSHARED, LONG
//! 5   klen: u8         key length, when not LONG
//! 6   vlen: u16        inline string length, when not LONG
//! 8   [klen: u32, vlen: u32]   when LONG (a key over 255 bytes or a string over 65535)
//! ..  key bytes                right after the header: a probe compares them in its first line
//! ..  [expire_at: i64]         when EXPIRE (unaligned)
//! ..  payload: vlen bytes, or a Value (aligned to 8)
//! ```

use crate::value::{itoa_buf, Value, ValueType};
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

const KIND_MASK: u8 = 0b11;
/// String bytes in the record, OBJECT ENCODING "embstr".
const KIND_EMBSTR: u8 = 0;
/// String bytes in the record, OBJECT ENCODING "raw".
const KIND_RAW: u8 = 1;
/// A [`Value`] in the record.
const KIND_VALUE: u8 = 2;
/// A record whose Value was moved out: the same size as KIND_VALUE, dropped as memory only.
const KIND_MOVED: u8 = 3;
/// An expiry follows the lengths.
const EXPIRE: u8 = 1 << 2;
/// A small integer that is not Redis's shared object (a COPY of one): OBJECT REFCOUNT 1.
const UNSHARED: u8 = 1 << 3;
/// Key and string lengths are u32s after the header.
const LONG: u8 = 1 << 4;

const HEADER: usize = 8;
const ALIGN: usize = 8;
// A Value in a record sits at a multiple of ALIGN, and records move between threads.
const _: () = assert!(std::mem::align_of::<Value>() <= ALIGN);
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Value>();
};

#[repr(C)]
struct Header {
    access: u32,
    flags: u8,
    klen: u8,
    vlen: u16,
}

/// What the record stores besides its key.
enum Payload<'a> {
    /// String bytes, and whether OBJECT ENCODING calls them raw.
    Str(&'a [u8], bool),
    /// Any other value.
    Value(Value),
}

/// Offsets of a record's parts.
#[derive(Clone, Copy)]
struct Shape {
    expire: usize,
    payload: usize,
    key: usize,
    klen: usize,
    vlen: usize,
    size: usize,
}

impl Shape {
    #[inline]
    fn of(flags: u8, klen: usize, vlen: usize) -> Shape {
        let key = if flags & LONG != 0 {
            HEADER + 8
        } else {
            HEADER
        };
        let expire = key + klen;
        let mut payload = expire;
        if flags & EXPIRE != 0 {
            payload += 8;
        }
        let plen = if flags & KIND_MASK >= KIND_VALUE {
            payload = payload.next_multiple_of(ALIGN);
            std::mem::size_of::<Value>()
        } else {
            vlen
        };
        Shape {
            expire,
            payload,
            key,
            klen,
            vlen,
            size: payload + plen,
        }
    }
}

/// A stored key: its bytes, value, expiry and access time. Owns its allocation.
pub struct Entry {
    ptr: NonNull<Header>,
}

// SAFETY: an Entry owns its allocation exclusively, like a Box; the Value inside is Send.
unsafe impl Send for Entry {}

/// What [`Entry::value`] returns for a string kept in the record: read its bytes with
/// [`Entry::str_bytes`].
static IN_RECORD: Value = Value::InRecord;

impl Entry {
    /// A new record of `key` holding `value`, accessed at `now_ms`; `expire_at` 0 = no expiry.
    /// A string written whole keeps its bytes in the record.
    pub fn new(key: &[u8], value: Value, expire_at: i64, now_ms: i64) -> Entry {
        let access = (now_ms / 1000) as u32;
        match value {
            Value::Embstr(b) => Self::build(key, Payload::Str(&b, false), expire_at, access, 0),
            Value::Raw(v) => Self::build(key, Payload::Str(&v, true), expire_at, access, 0),
            Value::InRecord => {
                debug_assert!(false, "a record's placeholder stored as a value");
                Self::build(key, Payload::Str(&[], false), expire_at, access, 0)
            }
            v => Self::build(key, Payload::Value(v), expire_at, access, 0),
        }
    }

    fn build(key: &[u8], payload: Payload<'_>, expire_at: i64, access: u32, extra: u8) -> Entry {
        let (kind, vlen) = match &payload {
            Payload::Str(b, false) => (KIND_EMBSTR, b.len()),
            Payload::Str(b, true) => (KIND_RAW, b.len()),
            Payload::Value(_) => (KIND_VALUE, 0),
        };
        let mut flags = kind | extra;
        if expire_at != 0 {
            flags |= EXPIRE;
        }
        let long = key.len() > u8::MAX as usize || vlen > u16::MAX as usize;
        if long {
            flags |= LONG;
        }
        let shape = Shape::of(flags, key.len(), vlen);
        let layout = Self::layout(shape.size);
        // SAFETY: the layout is non-zero (the header alone is 8 bytes); every write below stays
        // inside the `shape.size` bytes allocated, at offsets aligned for their types (header,
        // lengths and Value at multiples of 8; the expiry is written unaligned).
        unsafe {
            let base = alloc(layout);
            if base.is_null() {
                handle_alloc_error(layout);
            }
            base.cast::<Header>().write(Header {
                access,
                flags,
                klen: if long { 0 } else { key.len() as u8 },
                vlen: if long { 0 } else { vlen as u16 },
            });
            if long {
                base.add(HEADER).cast::<u32>().write(key.len() as u32);
                base.add(HEADER + 4).cast::<u32>().write(vlen as u32);
            }
            if expire_at != 0 {
                base.add(shape.expire)
                    .cast::<i64>()
                    .write_unaligned(expire_at);
            }
            match payload {
                Payload::Str(b, _) => {
                    std::ptr::copy_nonoverlapping(b.as_ptr(), base.add(shape.payload), b.len())
                }
                Payload::Value(v) => base.add(shape.payload).cast::<Value>().write(v),
            }
            std::ptr::copy_nonoverlapping(key.as_ptr(), base.add(shape.key), key.len());
            Entry {
                ptr: NonNull::new_unchecked(base.cast()),
            }
        }
    }

    #[inline]
    fn layout(size: usize) -> Layout {
        // A record is at most a few GB (keys and strings are capped at 512 MB).
        Layout::from_size_align(size, ALIGN)
            .unwrap_or_else(|_| handle_alloc_error(Layout::new::<u64>()))
    }

    #[inline]
    fn header(&self) -> &Header {
        // SAFETY: the record starts with its header.
        unsafe { self.ptr.as_ref() }
    }

    #[inline]
    fn header_mut(&mut self) -> &mut Header {
        // SAFETY: the record starts with its header, and `self` owns it.
        unsafe { self.ptr.as_mut() }
    }

    #[inline]
    fn base(&self) -> *mut u8 {
        self.ptr.as_ptr().cast()
    }

    #[inline]
    fn shape(&self) -> Shape {
        let h = self.header();
        if h.flags & LONG == 0 {
            Shape::of(h.flags, h.klen as usize, h.vlen as usize)
        } else {
            // SAFETY: LONG records hold both lengths right after the header.
            let (k, v) = unsafe {
                (
                    self.base().add(HEADER).cast::<u32>().read(),
                    self.base().add(HEADER + 4).cast::<u32>().read(),
                )
            };
            Shape::of(h.flags, k as usize, v as usize)
        }
    }

    #[inline]
    fn kind(&self) -> u8 {
        self.header().flags & KIND_MASK
    }

    /// The key's bytes.
    #[inline]
    pub fn key(&self) -> &[u8] {
        let s = self.shape();
        // SAFETY: the key's bytes end the record.
        unsafe { std::slice::from_raw_parts(self.base().add(s.key), s.klen) }
    }

    /// Absolute expiry in unix milliseconds, if any.
    #[inline]
    pub fn expire_at(&self) -> Option<i64> {
        (self.header().flags & EXPIRE != 0).then(|| {
            let s = self.shape();
            // SAFETY: an EXPIRE record holds its expiry at `s.expire`, unaligned.
            unsafe { self.base().add(s.expire).cast::<i64>().read_unaligned() }
        })
    }

    /// Whether the key has expired at `now_ms` (Redis: once now > when).
    #[inline]
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expire_at().is_some_and(|at| now_ms > at)
    }

    /// Last access, in seconds since the unix epoch.
    #[inline]
    pub fn access(&self) -> u32 {
        self.header().access
    }

    /// Records an access at `now_ms`.
    #[inline]
    pub fn touch(&mut self, now_ms: i64) {
        self.header_mut().access = (now_ms / 1000) as u32;
    }

    /// Whether this small integer is a private copy, not Redis's shared object.
    pub fn unshared(&self) -> bool {
        self.header().flags & UNSHARED != 0
    }

    /// Marks the value as a private copy (COPY of a shared integer).
    pub fn set_unshared(&mut self, on: bool) {
        let h = self.header_mut();
        if on {
            h.flags |= UNSHARED;
        } else {
            h.flags &= !UNSHARED;
        }
    }

    #[inline]
    fn inline_str(&self) -> Option<&[u8]> {
        if self.kind() >= KIND_VALUE {
            return None;
        }
        let s = self.shape();
        // SAFETY: an inline string's bytes are the payload, `s.vlen` long.
        Some(unsafe { std::slice::from_raw_parts(self.base().add(s.payload), s.vlen) })
    }

    /// The value. A string kept in the record reads as [`Value::InRecord`]: its type is string,
    /// and its bytes come from [`Entry::str_bytes`].
    #[inline]
    pub fn value(&self) -> &Value {
        if self.kind() < KIND_VALUE {
            return &IN_RECORD;
        }
        let s = self.shape();
        // SAFETY: a KIND_VALUE record holds an initialised Value at its payload offset.
        unsafe { &*self.base().add(s.payload).cast::<Value>() }
    }

    /// The value, to change in place. A string kept in the record is first moved out to a
    /// [`Value`] of the same encoding.
    pub fn value_mut(&mut self) -> &mut Value {
        if self.kind() < KIND_VALUE {
            let v = self.to_value();
            self.set_value_keeping(v);
        }
        let s = self.shape();
        // SAFETY: as in `value`; `self` is borrowed mutably.
        unsafe { &mut *self.base().add(s.payload).cast::<Value>() }
    }

    /// Replaces value and expiry (SET over an existing key): in place when the new value has
    /// the old one's layout (a string of the same length, or a Value for a Value), else in a new
    /// record. Accessed at `now_ms`.
    pub fn replace(&mut self, value: Value, expire_at: i64, now_ms: i64) {
        let same_expiry = (self.header().flags & EXPIRE != 0) == (expire_at != 0);
        let fits = same_expiry
            && match (&value, self.kind()) {
                (Value::Embstr(b), KIND_EMBSTR | KIND_RAW) => b.len() == self.shape().vlen,
                (Value::Raw(b), KIND_EMBSTR | KIND_RAW) => b.len() == self.shape().vlen,
                (Value::Embstr(_) | Value::Raw(_) | Value::InRecord, _) => false,
                (_, kind) => kind == KIND_VALUE,
            };
        if !fits {
            let key_entry = Self::new(self.key(), value, expire_at, now_ms);
            *self = key_entry;
            return;
        }
        let s = self.shape();
        // SAFETY: the new value has this record's layout: string bytes of the same length, or a
        // Value in the Value slot (assignment drops the old one); an expiry slot exists exactly
        // when `expire_at` is set.
        unsafe {
            match value {
                Value::Embstr(b) => self.write_str(s, &b, KIND_EMBSTR),
                Value::Raw(b) => self.write_str(s, &b, KIND_RAW),
                v => *self.base().add(s.payload).cast::<Value>() = v,
            }
            if expire_at != 0 {
                self.base()
                    .add(s.expire)
                    .cast::<i64>()
                    .write_unaligned(expire_at);
            }
        }
        let h = self.header_mut();
        h.flags &= !UNSHARED;
        h.access = (now_ms / 1000) as u32;
    }

    /// Overwrites an inline string of the same length and sets its encoding.
    ///
    /// # Safety
    /// The record must hold an inline string of `b.len()` bytes.
    unsafe fn write_str(&mut self, s: Shape, b: &[u8], kind: u8) {
        std::ptr::copy_nonoverlapping(b.as_ptr(), self.base().add(s.payload), b.len());
        let h = self.header_mut();
        h.flags = (h.flags & !KIND_MASK) | kind;
    }

    /// Replaces the value, keeping key, expiry and access time; the value becomes shared again.
    pub fn set_value(&mut self, value: Value) {
        self.set_unshared(false);
        match value {
            Value::Embstr(b) => self.rebuild(Payload::Str(&b, false), self.expire_raw()),
            Value::Raw(v) => self.rebuild(Payload::Str(&v, true), self.expire_raw()),
            v => self.set_value_keeping(v),
        }
    }

    /// Stores `v` as a Value (never inline), keeping the rest.
    fn set_value_keeping(&mut self, v: Value) {
        if self.kind() == KIND_VALUE {
            let s = self.shape();
            // SAFETY: a KIND_VALUE record holds an initialised Value; assignment drops the old.
            unsafe { *self.base().add(s.payload).cast::<Value>() = v };
        } else {
            self.rebuild(Payload::Value(v), self.expire_raw());
        }
    }

    #[inline]
    fn expire_raw(&self) -> i64 {
        self.expire_at().unwrap_or(0)
    }

    /// Sets (non-zero) or clears (0) the expiry.
    pub fn set_expire_raw(&mut self, expire_at: i64) {
        let has = self.header().flags & EXPIRE != 0;
        if has && expire_at != 0 {
            let s = self.shape();
            // SAFETY: an EXPIRE record holds its expiry at `s.expire`, unaligned.
            unsafe {
                self.base()
                    .add(s.expire)
                    .cast::<i64>()
                    .write_unaligned(expire_at)
            };
            return;
        }
        if !has && expire_at == 0 {
            return;
        }
        if self.kind() == KIND_VALUE {
            // SAFETY: moves the Value out; `forget_value` makes sure the old record no longer
            // drops it.
            let v = unsafe { self.take_value() };
            self.rebuild(Payload::Value(v), expire_at);
        } else {
            let (bytes, raw) = self.str_parts();
            // The bytes are copied out first: rebuild frees the old record.
            let copy = bytes.to_vec();
            self.rebuild(Payload::Str(&copy, raw), expire_at);
        }
    }

    fn str_parts(&self) -> (&[u8], bool) {
        (self.inline_str().unwrap_or(&[]), self.kind() == KIND_RAW)
    }

    /// Moves the Value out of a KIND_VALUE record and marks the record as holding none (an
    /// empty inline string), so that dropping it frees only memory.
    ///
    /// # Safety
    /// The record must be of KIND_VALUE.
    unsafe fn take_value(&mut self) -> Value {
        let s = self.shape();
        let v = self.base().add(s.payload).cast::<Value>().read();
        self.header_mut().flags |= KIND_MOVED;
        v
    }

    /// Replaces the record with one holding `payload`, keeping key, access and flags.
    fn rebuild(&mut self, payload: Payload<'_>, expire_at: i64) {
        let h = self.header();
        let (access, extra) = (h.access, h.flags & UNSHARED);
        let new = Self::build(self.key(), payload, expire_at, access, extra);
        // Dropping the old record frees it (and its Value, unless moved out).
        *self = new;
    }

    /// The value, moved out.
    pub fn into_value(mut self) -> Value {
        if self.kind() == KIND_VALUE {
            // SAFETY: the record is KIND_VALUE; take_value leaves it safe to drop.
            unsafe { self.take_value() }
        } else {
            self.to_value()
        }
    }

    /// A copy of the value, detached from the record.
    pub fn to_value(&self) -> Value {
        match self.inline_str() {
            Some(b) if self.kind() == KIND_RAW => Value::Raw(b.to_vec()),
            Some(b) => Value::Embstr(smallvec::SmallVec::from_slice(b)),
            None => self.value().clone(),
        }
    }

    /// The value's type.
    #[inline]
    pub fn value_type(&self) -> ValueType {
        self.value().value_type()
    }

    /// Whether the value is a string.
    #[inline]
    pub fn is_string(&self) -> bool {
        self.kind() < KIND_VALUE || self.value().is_string()
    }

    /// The string's bytes, formatting an integer into `scratch`; empty for a non-string
    /// (callers check the type first).
    #[inline]
    pub fn str_bytes<'a>(&'a self, scratch: &'a mut itoa_buf::Buffer) -> &'a [u8] {
        match self.inline_str() {
            Some(b) => b,
            None => self.value().as_bytes(scratch),
        }
    }

    /// The bytes of a string not stored as an integer (None for an integer or a non-string).
    #[inline]
    pub fn bytes(&self) -> Option<&[u8]> {
        self.inline_str().or(match self.value() {
            Value::Embstr(b) => Some(b),
            Value::Raw(b) => Some(b),
            _ => None,
        })
    }

    /// Length of the string form (0 for a non-string).
    pub fn str_len(&self) -> usize {
        match self.inline_str() {
            Some(b) => b.len(),
            None => self.value().str_len(),
        }
    }

    /// The string as a mutable byte vector (Redis's dbUnshareStringValue): converts it to the
    /// raw encoding.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if let Some(b) = self.inline_str() {
            let v = Value::Raw(b.to_vec());
            self.set_value_keeping(v);
        }
        self.value_mut().make_raw()
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding_name(&self) -> &'static str {
        match self.kind() {
            KIND_EMBSTR => "embstr",
            KIND_RAW => "raw",
            _ => self.value().encoding_name(),
        }
    }

    /// OBJECT REFCOUNT's answer.
    pub fn refcount(&self) -> i64 {
        if self.unshared() {
            1
        } else {
            self.value().refcount()
        }
    }

    /// Whether the value is a collection with no element left.
    pub fn is_empty_collection(&self) -> bool {
        self.value().is_empty_collection()
    }
}

impl crate::table::Item for Entry {
    /// Starts loading the record's first cache line (header and key).
    #[inline]
    fn prefetch(&self) {
        crate::table::prefetch(self.ptr.as_ptr().cast());
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let flags = self.header().flags;
        let s = self.shape();
        // SAFETY: a KIND_VALUE record still owns its Value (a KIND_MOVED one no longer does).
        // The layout is the one `build` allocated with: the shape is computed from the same
        // lengths and flags (KIND_MOVED has KIND_VALUE's size).
        unsafe {
            if flags & KIND_MASK == KIND_VALUE {
                std::ptr::drop_in_place(self.base().add(s.payload).cast::<Value>());
            }
            dealloc(self.base(), Self::layout(s.size));
        }
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.to_value())
            .field("expire_at", &self.expire_at())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_live_in_the_record() {
        let mut e = Entry::new(b"k", Value::string(b"hello"), 0, 5000);
        let mut s = itoa_buf::Buffer::new();
        assert_eq!(e.key(), b"k");
        assert_eq!(e.str_bytes(&mut s), b"hello");
        assert_eq!(e.encoding_name(), "embstr");
        assert_eq!(e.value_type(), ValueType::String);
        assert_eq!(e.access(), 5);
        e.set_expire_raw(99);
        assert_eq!(e.expire_at(), Some(99));
        assert_eq!(e.str_bytes(&mut s), b"hello");
        e.make_raw().extend_from_slice(b" world");
        assert_eq!(e.str_bytes(&mut s), b"hello world");
        assert_eq!(e.encoding_name(), "raw");
        assert_eq!(e.expire_at(), Some(99));
        e.set_expire_raw(0);
        assert_eq!((e.expire_at(), e.key()), (None, &b"k"[..]));
        assert_eq!(e.into_value(), Value::Raw(b"hello world".to_vec()));
    }

    #[test]
    fn long_keys_values_and_integers() {
        let key = vec![b'k'; 300];
        let val = vec![b'v'; 70_000];
        let mut e = Entry::new(&key, Value::string(&val), 7, 0);
        let mut s = itoa_buf::Buffer::new();
        assert_eq!((e.key(), e.str_bytes(&mut s)), (&key[..], &val[..]));
        assert_eq!((e.encoding_name(), e.expire_at()), ("raw", Some(7)));
        e.set_value(Value::Int(42));
        assert_eq!(
            (e.str_bytes(&mut s), e.encoding_name()),
            (&b"42"[..], "int")
        );
        assert_eq!(e.expire_at(), Some(7));
        e.set_unshared(true);
        assert_eq!(e.refcount(), 1);
        e.set_value(Value::string(b"x"));
        assert_eq!((e.unshared(), e.str_len(), e.key()), (false, 1, &key[..]));
    }

    #[test]
    fn replace_in_place_and_not() {
        let mut s = itoa_buf::Buffer::new();
        let mut e = Entry::new(b"key", Value::string(b"abc"), 0, 0);
        let before = e.base();
        e.replace(Value::string(b"xyz"), 0, 9000);
        assert_eq!(
            (e.base(), e.str_bytes(&mut s), e.access()),
            (before, &b"xyz"[..], 9)
        );
        e.replace(Value::string(b"longer"), 5, 0);
        assert_eq!(
            (e.str_bytes(&mut s), e.expire_at()),
            (&b"longer"[..], Some(5))
        );
        e.replace(Value::string(&[b'r'; 50]), 6, 0);
        assert_eq!((e.encoding_name(), e.expire_at()), ("raw", Some(6)));
        e.replace(Value::Int(7), 0, 0);
        e.replace(Value::Int(8), 0, 0);
        assert_eq!(
            (e.str_bytes(&mut s), e.expire_at(), e.key()),
            (&b"8"[..], None, &b"key"[..])
        );
    }

    /// Random operations on records against a plain model (key, string bytes, encoding,
    /// expiry): every accessor must agree after every step, across short and LONG layouts.
    #[test]
    fn random_operations_match_a_model() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut s = itoa_buf::Buffer::new();
        for _ in 0..2000 {
            let klen = [0, 1, 10, 255, 256, 300][rand(6) as usize];
            let key: Vec<u8> = (0..klen).map(|i| b'a' + (i % 26) as u8).collect();
            let mut bytes = vec![b'x'; [0, 3, 44, 45, 100, 65_535, 65_536][rand(7) as usize]];
            let mut expire = [0, 0, 1_700_000_000_000][rand(3) as usize];
            let mut e = Entry::new(&key, Value::string(&bytes), expire, 0);
            for _ in 0..8 {
                match rand(6) {
                    0 => {
                        bytes = vec![b'y'; [1, 2, 50, 70_000][rand(4) as usize]];
                        expire = [0, 42][rand(2) as usize];
                        e.replace(Value::string(&bytes), expire, 1000);
                    }
                    1 => {
                        expire = [0, 7, 8][rand(3) as usize];
                        e.set_expire_raw(expire);
                    }
                    2 => {
                        e.make_raw().extend_from_slice(b"++");
                        bytes.extend_from_slice(b"++");
                    }
                    3 => {
                        e.set_value(Value::plain_string(bytes.clone()));
                    }
                    4 => {
                        let v = e.to_value();
                        let mut b = itoa_buf::Buffer::new();
                        assert_eq!(v.as_bytes(&mut b), &bytes[..]);
                    }
                    _ => {
                        e.set_unshared(true);
                        assert!(e.unshared());
                        e.set_unshared(false);
                    }
                }
                assert_eq!(e.key(), &key[..]);
                assert_eq!(e.str_bytes(&mut s), &bytes[..]);
                assert_eq!(e.str_len(), bytes.len());
                assert_eq!(e.expire_at(), (expire != 0).then_some(expire));
                assert!(e.is_string());
            }
            if rand(2) == 0 {
                let mut b = itoa_buf::Buffer::new();
                assert_eq!(e.into_value().as_bytes(&mut b), &bytes[..]);
            }
        }
    }
}
