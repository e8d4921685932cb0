//! Sets: a sorted array of integers while every member is an integer and the set is small
//! (Redis's intset, set-max-intset-entries), a [`Dict`] otherwise.

use crate::dict::{Dict, Elem};
use crate::intset::IntSet;
use crate::numeric::parse_i64;
use crate::value::itoa_buf;
use crate::Limits;

/// A set value.
#[derive(Clone, Debug)]
pub enum Set {
    /// Sorted, distinct integers.
    Ints(IntSet),
    /// A table of members.
    Table(Box<Dict<()>>),
}

/// Equal sets hold the same members in the same encoding (a command that only changes a set's
/// encoding, as SUNIONSTORE of a table of integers into itself does, changed the value).
impl PartialEq for Set {
    fn eq(&self, other: &Self) -> bool {
        self.encoding_name() == other.encoding_name()
            && self.len() == other.len()
            && self.members().all(|m| other.contains(&m))
    }
}

/// A member as bytes, formatting integers into an inline buffer.
pub enum Member<'a> {
    /// An intset member.
    Int(i64),
    /// A table member.
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// The member's bytes; `buf` holds the decimal form of an integer.
    pub fn bytes<'b>(&'b self, buf: &'b mut itoa_buf::Buffer) -> &'b [u8] {
        match self {
            Member::Int(n) => buf.format(*n),
            Member::Bytes(b) => b,
        }
    }
    /// An owned copy.
    pub fn to_elem(&self) -> Elem {
        match self {
            Member::Int(n) => Elem::from_slice(itoa_buf::Buffer::new().format(*n)),
            Member::Bytes(b) => Elem::from_slice(b),
        }
    }
}

impl Set {
    /// An empty set with the encoding Redis gives a set whose first member is `first`.
    pub fn for_member(first: &[u8]) -> Set {
        if parse_i64(first).is_some() {
            Set::Ints(IntSet::new())
        } else {
            Set::Table(Box::default())
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Table(d) => d.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING's name.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    /// Whether `m` is a member.
    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => parse_i64(m).is_some_and(|n| v.contains(n)),
            Set::Table(d) => d.contains(m),
        }
    }

    /// Whether the integer `n` is a member (an intset is searched without formatting it).
    pub fn contains_int(&self, n: i64) -> bool {
        match self {
            Set::Ints(v) => v.contains(n),
            Set::Table(d) => d.contains(itoa_buf::Buffer::new().format(n)),
        }
    }

    /// Adds `m`; true when it is new.
    pub fn add(&mut self, m: &[u8], limits: &Limits) -> bool {
        if let Set::Ints(v) = self {
            if let Some(n) = parse_i64(m) {
                if !v.insert(n) {
                    return false;
                }
                if v.len() > limits.set_max_intset_entries {
                    self.convert();
                }
                return true;
            }
            self.convert();
        }
        match self {
            Set::Table(d) => d.insert(m, ()).is_none(),
            Set::Ints(_) => false,
        }
    }

    /// Removes `m`; true when it was a member.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => parse_i64(m).is_some_and(|n| v.remove(n)),
            Set::Table(d) => d.remove(m).is_some(),
        }
    }

    /// Every member, in the encoding's order (ascending for integers).
    pub fn members(&self) -> Box<dyn Iterator<Item = Elem> + '_> {
        match self {
            Set::Ints(v) => Box::new(
                v.iter()
                    .map(|n| Elem::from_slice(itoa_buf::Buffer::new().format(n))),
            ),
            Set::Table(d) => Box::new(d.iter().map(|(k, _)| k.clone())),
        }
    }

    /// Calls `f` with every member's bytes, without copying table members.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            Set::Ints(v) => {
                let mut b = itoa_buf::Buffer::new();
                for n in v.iter() {
                    f(b.format(n));
                }
            }
            Set::Table(d) => {
                for (k, _) in d.iter() {
                    f(k);
                }
            }
        }
    }

    /// A uniformly random member.
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<Elem> {
        match self {
            Set::Ints(v) => {
                if v.is_empty() {
                    return None;
                }
                let n = v.get((rand() % v.len() as u64) as usize);
                Some(Elem::from_slice(itoa_buf::Buffer::new().format(n)))
            }
            Set::Table(d) => d.random(rand).map(|(k, _)| k.clone()),
        }
    }

    /// The table, for SSCAN (an intset is returned whole, as Redis does).
    pub fn table(&self) -> Option<&Dict<()>> {
        match self {
            Set::Table(d) => Some(d),
            Set::Ints(_) => None,
        }
    }

    fn convert(&mut self) {
        if let Set::Ints(v) = self {
            let mut d = Dict::with_capacity(v.len());
            let mut b = itoa_buf::Buffer::new();
            for n in v.iter() {
                d.insert(b.format(n), ());
            }
            *self = Set::Table(Box::new(d));
        }
    }
}
