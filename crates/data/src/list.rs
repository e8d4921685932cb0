//! Lists: a double-ended queue of elements (short elements inline). Redis 7.0 reports every list
//! as a quicklist, and so does OBJECT ENCODING here.

use crate::dict::Elem;
use std::collections::VecDeque;

/// A list value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct List {
    /// The elements, head first.
    pub items: VecDeque<Elem>,
}

impl List {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// OBJECT ENCODING's name.
    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }
}
