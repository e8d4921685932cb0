//! Values and their encodings. Strings follow Redis's three encodings (int, embstr, raw) so that
//! OBJECT ENCODING answers as Redis does. Hashes, sets and sorted sets are stored unboxed (their
//! small encodings are one pointer to one allocation); lists and streams are boxed so a value
//! stays at 32 bytes.

use crate::numeric::parse_i64;
use crate::{Hash, List, Set, Stream, ZSet};

/// Longest string Redis stores embedded in its object header (OBJ_ENCODING_EMBSTR_SIZE_LIMIT).
pub const EMBSTR_SIZE_LIMIT: usize = 44;
/// Integers in [0, SHARED_INTEGERS) are shared objects in Redis (OBJECT REFCOUNT = i32::MAX).
pub const SHARED_INTEGERS: i64 = 10000;

/// A value stored under a key.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string that is the canonical decimal form of an integer.
    Int(i64),
    /// A short string written whole (SET and friends); up to 16 bytes are stored inline.
    Embstr(smallvec::SmallVec<[u8; 16]>),
    /// A string that was modified in place (APPEND, SETRANGE) or is longer than the embstr limit.
    Raw(Vec<u8>),
    /// A list.
    List(Box<List>),
    /// A hash (unboxed: a small hash is a listpack, and its record then holds the listpack's
    /// pointer directly).
    Hash(Hash),
    /// A set (unboxed, as hashes: a small set's record holds its intset directly).
    Set(Set),
    /// A sorted set (unboxed: a small one's record holds its listpack directly).
    ZSet(ZSet),
    /// A stream.
    Stream(Box<Stream>),
    /// What [`crate::Entry::value`] shows for a string whose bytes its key's record keeps:
    /// read them with [`crate::Entry::str_bytes`]. Never stored.
    InRecord,
}

/// The Redis type of a value, as TYPE names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Hash,
    Set,
    ZSet,
    Stream,
}

impl ValueType {
    const ALL: [ValueType; 6] = [
        ValueType::String,
        ValueType::List,
        ValueType::Hash,
        ValueType::Set,
        ValueType::ZSet,
        ValueType::Stream,
    ];
    /// The name TYPE replies with.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Stream => "stream",
        }
    }
    /// Parses a SCAN TYPE argument (case-insensitive).
    pub fn from_name(name: &[u8]) -> Option<ValueType> {
        Self::ALL
            .into_iter()
            .find(|t| name.eq_ignore_ascii_case(t.name().as_bytes()))
    }
}

impl Value {
    /// A string value with the encoding Redis's tryObjectEncoding would pick.
    pub fn string(bytes: &[u8]) -> Value {
        if bytes.len() <= 20 {
            if let Some(n) = parse_i64(bytes) {
                return Value::Int(n);
            }
        }
        if bytes.len() <= EMBSTR_SIZE_LIMIT {
            Value::Embstr(smallvec::SmallVec::from_slice(bytes))
        } else {
            Value::Raw(bytes.to_vec())
        }
    }

    /// A string value kept as written, without integer encoding (INCRBYFLOAT results).
    pub fn plain_string(bytes: Vec<u8>) -> Value {
        if bytes.len() <= EMBSTR_SIZE_LIMIT {
            Value::Embstr(smallvec::SmallVec::from_vec(bytes))
        } else {
            Value::Raw(bytes)
        }
    }

    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Int(_) | Value::Embstr(_) | Value::Raw(_) | Value::InRecord => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
            Value::Stream(_) => ValueType::Stream,
        }
    }

    /// Whether the value is a collection with no element left.
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            _ => false,
        }
    }

    /// Whether the value is a string.
    #[inline]
    pub fn is_string(&self) -> bool {
        matches!(
            self,
            Value::Int(_) | Value::Embstr(_) | Value::Raw(_) | Value::InRecord
        )
    }

    /// The string bytes, formatting integers into `scratch`; empty for a non-string (callers
    /// check the type first).
    pub fn as_bytes<'a>(&'a self, scratch: &'a mut itoa_buf::Buffer) -> &'a [u8] {
        match self {
            Value::Int(n) => scratch.format(*n),
            Value::Embstr(b) => b,
            Value::Raw(v) => v,
            _ => &[],
        }
    }

    /// Length of the string form (0 for a non-string).
    pub fn str_len(&self) -> usize {
        match self {
            Value::Int(n) => itoa_buf::Buffer::new().format(*n).len(),
            Value::Embstr(b) => b.len(),
            Value::Raw(v) => v.len(),
            _ => 0,
        }
    }

    /// A mutable byte string (Redis's dbUnshareStringValue): converts to the raw encoding.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, Value::Raw(_)) {
            let bytes = match self {
                Value::Int(n) => itoa_buf::Buffer::new().format(*n).to_vec(),
                Value::Embstr(b) => b.to_vec(),
                _ => Vec::new(),
            };
            *self = Value::Raw(bytes);
        }
        match self {
            Value::Raw(v) => v,
            _ => unreachable!(),
        }
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Embstr(_) => "embstr",
            Value::Raw(_) => "raw",
            Value::List(l) => l.encoding_name(),
            Value::Hash(h) => h.encoding_name(),
            Value::Set(s) => s.encoding_name(),
            Value::ZSet(z) => z.encoding_name(),
            Value::Stream(s) => s.encoding_name(),
            // Entry::encoding_name answers for strings kept in a record.
            Value::InRecord => "embstr",
        }
    }

    /// OBJECT REFCOUNT's answer (shared small integers report i32::MAX as in Redis).
    pub fn refcount(&self) -> i64 {
        match self {
            Value::Int(n) if (0..SHARED_INTEGERS).contains(n) => i32::MAX as i64,
            _ => 1,
        }
    }
}

/// A stack buffer for formatting integers without allocating.
pub mod itoa_buf {
    /// Formats an i64 into an inline buffer.
    pub struct Buffer {
        buf: [u8; 20],
        len: usize,
    }

    impl Default for Buffer {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Buffer {
        /// An empty buffer.
        pub fn new() -> Self {
            Buffer {
                buf: [0; 20],
                len: 0,
            }
        }
        /// Formats `n` and returns its decimal bytes.
        pub fn format(&mut self, n: i64) -> &[u8] {
            let mut v = n.unsigned_abs();
            let mut i = self.buf.len();
            loop {
                i -= 1;
                self.buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            if n < 0 {
                i -= 1;
                self.buf[i] = b'-';
            }
            self.len = self.buf.len() - i;
            &self.buf[i..]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(Value::string(b"123"), Value::Int(123));
        assert_eq!(Value::string(b"0123").encoding_name(), "embstr");
        assert_eq!(Value::string(&[b'a'; 45]).encoding_name(), "raw");
        let mut b = itoa_buf::Buffer::new();
        assert_eq!(
            Value::Int(i64::MIN).as_bytes(&mut b),
            b"-9223372036854775808"
        );
    }
}
