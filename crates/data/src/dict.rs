//! The table behind large hashes, sets and sorted sets: elements in a slot vector, found through
//! a hash index of slot numbers.
//!
//! The slot vector gives what Redis's dict gives through its buckets: a uniform random element in
//! O(1) (SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER) and a cursor for the SCAN family. A removed
//! element leaves a hole, so no element ever moves to a slot a running scan has passed; holes are
//! compacted away when they outnumber live elements, and compaction bumps the table's epoch,
//! which a cursor carries, so a scan that spans a compaction restarts: elements may then be
//! returned twice, as Redis allows, but never missed.

use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// An element: a short byte string is stored inline.
pub type Elem = smallvec::SmallVec<[u8; 16]>;

/// A hash table of byte-string keys with values `V`.
#[derive(Clone, Debug)]
pub struct Dict<V> {
    slots: Vec<Option<(Elem, V)>>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    live: usize,
    epoch: u32,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Dict {
            slots: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            live: 0,
            epoch: 0,
        }
    }
}

/// Bits of a SCAN cursor that hold the slot position; the epoch is above them.
pub(crate) const CURSOR_POS_BITS: u32 = 40;

impl<V> Dict<V> {
    /// An empty table with room for `n` elements.
    pub fn with_capacity(n: usize) -> Self {
        Dict {
            slots: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            hasher: DefaultHashBuilder::default(),
            live: 0,
            epoch: 0,
        }
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    #[inline]
    fn find(&self, key: &[u8]) -> Option<u32> {
        let h = self.hasher.hash_one(key);
        let slots = &self.slots;
        self.index
            .find(h, |&i| {
                slots[i as usize]
                    .as_ref()
                    .is_some_and(|(k, _)| k.as_slice() == key)
            })
            .copied()
    }

    /// The value of `key`.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        let i = self.find(key)?;
        self.slots[i as usize].as_ref().map(|(_, v)| v)
    }

    /// The value of `key`, mutable.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let i = self.find(key)?;
        self.slots[i as usize].as_mut().map(|(_, v)| v)
    }

    /// Whether `key` is present.
    #[inline]
    pub fn contains(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        if let Some(i) = self.find(key) {
            let slot = self.slots[i as usize].as_mut()?;
            return Some(std::mem::replace(&mut slot.1, value));
        }
        self.insert_absent(key, value);
        None
    }

    /// Inserts a key the caller knows is absent (one hash and no lookup).
    pub fn insert_absent(&mut self, key: &[u8], value: V) {
        let i = self.slots.len() as u32;
        self.slots.push(Some((Elem::from_slice(key), value)));
        let h = self.hasher.hash_one(key);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(h, i, |&j| {
            hasher.hash_one(
                slots[j as usize]
                    .as_ref()
                    .map(|(k, _)| k.as_slice())
                    .unwrap_or_default(),
            )
        });
        self.live += 1;
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        let h = self.hasher.hash_one(key);
        let slots = &self.slots;
        let entry = self
            .index
            .find_entry(h, |&i| {
                slots[i as usize]
                    .as_ref()
                    .is_some_and(|(k, _)| k.as_slice() == key)
            })
            .ok()?;
        let (i, _) = entry.remove();
        let (_, v) = self.slots[i as usize].take()?;
        self.live -= 1;
        if self.live == 0 {
            self.slots.clear();
            self.epoch = self.epoch.wrapping_add(1);
        } else if self.slots.len() > 32 && self.live * 2 < self.slots.len() {
            self.compact();
        }
        Some(v)
    }

    /// Drops the holes, moving elements down; bumps the epoch so running scans restart.
    fn compact(&mut self) {
        self.slots.retain(|s| s.is_some());
        self.index.clear();
        let hasher = &self.hasher;
        for (i, s) in self.slots.iter().enumerate() {
            if let Some((k, _)) = s {
                let h = hasher.hash_one(k.as_slice());
                self.index.insert_unique(h, i as u32, |_| 0);
            }
        }
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// Every element, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&Elem, &V)> + '_ {
        self.slots
            .iter()
            .filter_map(|s| s.as_ref().map(|(k, v)| (k, v)))
    }

    /// A uniformly random element; `rand` gives random 64-bit numbers.
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<(&Elem, &V)> {
        if self.live == 0 {
            return None;
        }
        loop {
            let i = (rand() % self.slots.len() as u64) as usize;
            if let Some((k, v)) = &self.slots[i] {
                return Some((k, v));
            }
        }
    }

    /// One SCAN step: calls `f` for elements from `cursor` until about `count` slots were
    /// visited; returns the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&Elem, &V)) -> u64 {
        let epoch = (cursor >> CURSOR_POS_BITS) as u32;
        let mut pos = (cursor & ((1u64 << CURSOR_POS_BITS) - 1)) as usize;
        if cursor != 0 && epoch != (self.epoch & 0xff_ffff) {
            pos = 0;
        }
        let end = pos.saturating_add(count.max(1)).min(self.slots.len());
        let mut emitted = 0;
        while pos < self.slots.len() && (pos < end || emitted == 0) {
            if let Some((k, v)) = &self.slots[pos] {
                f(k, v);
                emitted += 1;
            }
            pos += 1;
        }
        if pos >= self.slots.len() {
            0
        } else {
            (((self.epoch & 0xff_ffff) as u64) << CURSOR_POS_BITS) | pos as u64
        }
    }

    /// Removes every element for which `keep` is false.
    pub fn retain(&mut self, mut keep: impl FnMut(&Elem, &mut V) -> bool) {
        let mut removed = false;
        for s in self.slots.iter_mut() {
            if let Some((k, v)) = s {
                if !keep(k, v) {
                    *s = None;
                    self.live -= 1;
                    removed = true;
                }
            }
        }
        if removed {
            self.compact();
        }
    }

    /// Bytes of heap this table holds beyond its elements' inline parts (for MEMORY USAGE).
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_scan() {
        let mut d: Dict<u32> = Dict::default();
        for i in 0..1000u32 {
            assert_eq!(d.insert(i.to_string().as_bytes(), i), None);
        }
        assert_eq!(d.insert(b"5", 50), Some(5));
        assert_eq!(d.get(b"5"), Some(&50));
        for i in (0..1000u32).step_by(3) {
            assert!(d.remove(i.to_string().as_bytes()).is_some());
        }
        assert_eq!(d.len(), 666);
        // A scan while elements are removed returns every element present throughout.
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = d.scan(cursor, 10, |k, _| {
                seen.insert(k.to_vec());
            });
            round += 1;
            if round % 2 == 0 {
                let victim = (round * 3 + 1).to_string();
                if victim.parse::<u32>().unwrap() % 3 != 1 {
                    d.remove(victim.as_bytes());
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000u32 {
            if i % 3 == 1 {
                assert!(seen.contains(i.to_string().as_bytes()), "{i} missed");
            }
        }
    }
}
