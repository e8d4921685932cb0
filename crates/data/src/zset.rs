//! Sorted sets (to be completed): a listpack while small, a skiplist with a member table past
//! zset-max-listpack-entries / zset-max-listpack-value.

/// A sorted set value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZSet {
    len: usize,
}

impl ZSet {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// OBJECT ENCODING's name.
    pub fn encoding_name(&self) -> &'static str {
        "listpack"
    }
}
