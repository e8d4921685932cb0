//! Hashes: a listpack of field/value pairs while small, a [`Dict`] past the configured limits
//! (hash-max-listpack-entries, hash-max-listpack-value), as Redis converts them.

use crate::dict::{Dict, Elem};
use crate::listpack::Listpack;
use crate::Limits;

/// A hash value.
#[derive(Clone, Debug)]
pub enum Hash {
    /// Field, value, field, value... in insertion order.
    Pack(Listpack),
    /// A table of fields.
    Table(Box<Dict<Elem>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Pack(Listpack::new())
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl Hash {
    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            Hash::Pack(lp) => lp.len() / 2,
            Hash::Table(d) => d.len(),
        }
    }

    /// True when no field is left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING's name.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Pack(lp) => {
                let p = lp.find(field, 2)?;
                let (_, vpos) = lp.entry(p);
                Some(lp.entry(vpos).0)
            }
            Hash::Table(d) => d.get(field).map(|v| v.as_slice()),
        }
    }

    /// Converts to the table encoding when a field or value of `len` bytes would exceed the
    /// listpack limits (Redis's hashTypeTryConversion, done before the write).
    pub fn prepare(&mut self, longest: usize, limits: &Limits) {
        if matches!(self, Hash::Pack(_)) && longest > limits.hash_max_listpack_value {
            self.convert();
        }
    }

    /// Sets `field` to `value`; true when the field is new. Converts past the entry limit.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &Limits) -> bool {
        self.prepare(field.len().max(value.len()), limits);
        let new = match self {
            Hash::Pack(lp) => match lp.find(field, 2) {
                Some(p) => {
                    let (_, vpos) = lp.entry(p);
                    lp.replace(vpos, value);
                    false
                }
                None => {
                    lp.push(field);
                    lp.push(value);
                    true
                }
            },
            Hash::Table(d) => d.insert(field, Elem::from_slice(value)).is_none(),
        };
        if let Hash::Pack(lp) = self {
            if lp.len() / 2 > limits.hash_max_listpack_entries {
                self.convert();
            }
        }
        new
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(lp) => match lp.find(field, 2) {
                Some(p) => {
                    lp.remove(p, 2);
                    true
                }
                None => false,
            },
            Hash::Table(d) => d.remove(field).is_some(),
        }
    }

    /// Every field and value, in the encoding's order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Pack(lp) => {
                let mut it = lp.iter();
                Box::new(std::iter::from_fn(move || Some((it.next()?, it.next()?))))
            }
            Hash::Table(d) => Box::new(d.iter().map(|(f, v)| (f.as_slice(), v.as_slice()))),
        }
    }

    /// The field/value pair at a uniformly random position.
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Pack(lp) => {
                if lp.is_empty() {
                    return None;
                }
                let i = (rand() % (lp.len() / 2) as u64) as usize;
                self.iter().nth(i)
            }
            Hash::Table(d) => d.random(rand).map(|(f, v)| (f.as_slice(), v.as_slice())),
        }
    }

    fn convert(&mut self) {
        if let Hash::Pack(lp) = self {
            let mut d = Dict::with_capacity(lp.len() / 2);
            let mut it = lp.iter();
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                d.insert(f, Elem::from_slice(v));
            }
            *self = Hash::Table(Box::new(d));
        }
    }

    /// A copy of the hash in the table encoding (for tests of conversion).
    pub fn is_table(&self) -> bool {
        matches!(self, Hash::Table(_))
    }
}
