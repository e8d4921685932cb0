//! Streams (to be completed): entries ordered by ID, consumer groups with pending entries.

/// A stream value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stream {
    len: usize,
}

impl Stream {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when no entry is left (an empty stream still exists, unlike other collections).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// OBJECT ENCODING's name.
    pub fn encoding_name(&self) -> &'static str {
        "stream"
    }
}
