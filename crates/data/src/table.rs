//! An open-addressing hash table for a slot's records, sized in steps of 1.25x.
//!
//! The layout is hashbrown's SwissTable: a control byte per bucket (7 bits of the hash, or
//! empty, or deleted) scanned 16 at a time, and a bucket array of one pointer-sized item each.
//! What differs is the size: any bucket count, not only powers of two (a bucket is chosen by
//! multiplying the hash by the count, which needs no mask), and growth by 1.25x instead of 2x.
//! A slot table is loaded 70-87.5% instead of 44-87.5%, which saves a third of the table's
//! memory on average, paid for by moving each key 5 times instead of 2 as a table grows from
//! empty. Every table is one slot's, so a resize moves tens of keys, not millions.
//!
//! - Probing is linear by 16-byte groups from the hashed position; the first 15 control bytes
//!   are mirrored after the last so a group read never wraps.
//! - A removed item leaves a tombstone only when a probe could have passed over its bucket (it
//!   lies in a run of 16 or more non-empty buckets); otherwise its bucket becomes empty.
//! - The table keeps one bucket empty at least, so every probe ends.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::marker::PhantomData;
use std::ptr::NonNull;

const GROUP: usize = 16;
const EMPTY: u8 = 0xFF;
const DELETED: u8 = 0x80;
/// Smallest table allocated.
const MIN_BUCKETS: usize = 4;

#[cfg(target_arch = "x86_64")]
mod group {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };

    /// 16 control bytes.
    #[derive(Clone, Copy)]
    pub struct Group(__m128i);

    impl Group {
        /// # Safety
        /// `p` points to 16 readable bytes.
        #[inline]
        pub unsafe fn load(p: *const u8) -> Group {
            Group(_mm_loadu_si128(p.cast()))
        }
        /// Bit i set when byte i equals `b`.
        #[inline]
        pub fn matching(self, b: u8) -> u16 {
            // SAFETY: SSE2 is part of the x86_64 baseline.
            unsafe { _mm_movemask_epi8(_mm_cmpeq_epi8(self.0, _mm_set1_epi8(b as i8))) as u16 }
        }
        /// Bit i set when byte i is empty or deleted (its high bit is set).
        #[inline]
        pub fn free(self) -> u16 {
            // SAFETY: SSE2 is part of the x86_64 baseline.
            unsafe { _mm_movemask_epi8(self.0) as u16 }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod group {
    /// 16 control bytes.
    #[derive(Clone, Copy)]
    pub struct Group([u8; 16]);

    impl Group {
        /// # Safety
        /// `p` points to 16 readable bytes.
        #[inline]
        pub unsafe fn load(p: *const u8) -> Group {
            Group(p.cast::<[u8; 16]>().read_unaligned())
        }
        /// Bit i set when byte i equals `b`.
        #[inline]
        pub fn matching(self, b: u8) -> u16 {
            self.0
                .iter()
                .enumerate()
                .fold(0, |m, (i, &c)| m | (((c == b) as u16) << i))
        }
        /// Bit i set when byte i is empty or deleted (its high bit is set).
        #[inline]
        pub fn free(self) -> u16 {
            self.0
                .iter()
                .enumerate()
                .fold(0, |m, (i, &c)| m | (((c >> 7) as u16) << i))
        }
    }
}

use group::Group;

/// Asks the CPU to load the cache line at `p` (any address: nothing is read).
#[inline]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// What a table stores. An item that points to what its hash is computed from says how to
/// prefetch that, so a resize overlaps those cache misses.
pub trait Item {
    /// Starts loading what hashing the item reads.
    #[inline]
    fn prefetch(&self) {}
}

/// How many buckets ahead a resize prefetches.
const RESIZE_AHEAD: usize = 8;

/// The most items a table of `buckets` holds (7/8, and always one bucket empty).
#[inline]
fn max_items(buckets: usize) -> usize {
    if buckets < 8 {
        buckets - 1
    } else {
        buckets - buckets / 8
    }
}

#[inline]
fn h2(hash: u64) -> u8 {
    (hash & 0x7F) as u8
}

/// A hash table of `T`s (each found by the caller's hash and equality), owning them.
pub struct Table<T: Item> {
    /// `buckets` items, then `buckets + GROUP - 1` control bytes; dangling when `buckets` is 0.
    items: NonNull<T>,
    buckets: usize,
    len: usize,
    /// Inserts into empty buckets left before the table must grow.
    growth_left: usize,
    _owns: PhantomData<T>,
}

// SAFETY: the table owns its items as a Vec would.
unsafe impl<T: Item + Send> Send for Table<T> {}
// SAFETY: shared access only reads.
unsafe impl<T: Item + Sync> Sync for Table<T> {}

impl<T: Item> Default for Table<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Item> Table<T> {
    /// An empty table (no allocation).
    pub const fn new() -> Self {
        Table {
            items: NonNull::dangling(),
            buckets: 0,
            len: 0,
            growth_left: 0,
            _owns: PhantomData,
        }
    }

    /// Number of items.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds nothing.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of buckets (memory is 1 control byte plus one `T` per bucket).
    pub fn buckets(&self) -> usize {
        self.buckets
    }

    /// Aligned to 16, which keeps tables with the system allocator: every slot table grows
    /// through the same sizes and frees each old array whole, and the system allocator's
    /// coalescing reuses those holes, where size-class slabs kept them (1M keys: 3 bytes a key
    /// more with slab-allocated tables).
    fn layout(buckets: usize) -> Layout {
        let size = buckets * std::mem::size_of::<T>() + buckets + GROUP - 1;
        Layout::from_size_align(size, std::mem::align_of::<T>().max(16))
            .unwrap_or_else(|_| handle_alloc_error(Layout::new::<T>()))
    }

    #[inline]
    fn ctrl(&self) -> *mut u8 {
        // SAFETY: the control bytes follow the items in the same allocation.
        unsafe { self.items.as_ptr().add(self.buckets).cast() }
    }

    /// The bucket `i` positions past `pos` (any `i` below `GROUP`, `pos` a bucket).
    #[inline]
    fn wrap(&self, i: usize) -> usize {
        if i < self.buckets {
            i
        } else if self.buckets >= GROUP {
            i - self.buckets
        } else {
            i % self.buckets
        }
    }

    #[inline]
    fn start(&self, hash: u64) -> usize {
        ((hash as u128 * self.buckets as u128) >> 64) as usize
    }

    #[inline]
    fn set_ctrl(&mut self, i: usize, c: u8) {
        let ctrl = self.ctrl();
        let end = self.buckets + GROUP - 1;
        let mut m = i;
        // SAFETY: every index written is below the control array's length `end`.
        unsafe {
            while m < end {
                *ctrl.add(m) = c;
                m += self.buckets;
            }
        }
    }

    /// The bucket of the item `eq` accepts among those with `hash`.
    #[inline]
    pub fn find(&self, hash: u64, mut eq: impl FnMut(&T) -> bool) -> Option<usize> {
        if self.buckets == 0 {
            return None;
        }
        let tag = h2(hash);
        let mut pos = self.start(hash);
        loop {
            // SAFETY: `pos` is a bucket, so 16 control bytes are readable from it; a matching
            // control byte marks a bucket holding an item.
            let g = unsafe { Group::load(self.ctrl().add(pos)) };
            let mut m = g.matching(tag);
            while m != 0 {
                let i = self.wrap(pos + m.trailing_zeros() as usize);
                if eq(unsafe { &*self.items.as_ptr().add(i) }) {
                    return Some(i);
                }
                m &= m - 1;
            }
            if g.matching(EMPTY) != 0 {
                return None;
            }
            pos = self.wrap(pos + GROUP);
        }
    }

    /// Starts loading the control bytes and bucket where a probe for `hash` begins.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if self.buckets > 0 {
            let pos = self.start(hash);
            prefetch(self.ctrl().wrapping_add(pos));
            prefetch(self.items.as_ptr().wrapping_add(pos).cast());
        }
    }

    /// The first item in the first probed group whose control byte matches `hash` (no
    /// equality check): what a lookup of `hash` most likely ends on, to prefetch it.
    #[inline]
    pub fn peek(&self, hash: u64) -> Option<&T> {
        if self.buckets == 0 {
            return None;
        }
        let pos = self.start(hash);
        // SAFETY: as in `find`.
        let m = unsafe { Group::load(self.ctrl().add(pos)) }.matching(h2(hash));
        (m != 0).then(|| self.get(self.wrap(pos + m.trailing_zeros() as usize)))
    }

    /// The item in bucket `i` (from [`Table::find`] or an insert).
    #[inline]
    pub fn get(&self, i: usize) -> &T {
        debug_assert!(i < self.buckets && self.is_full(i));
        // SAFETY: `i` is a bucket holding an item (the caller got it from this table).
        unsafe { &*self.items.as_ptr().add(i) }
    }

    /// The item in bucket `i`, mutably.
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> &mut T {
        debug_assert!(i < self.buckets && self.is_full(i));
        // SAFETY: as `get`.
        unsafe { &mut *self.items.as_ptr().add(i) }
    }

    #[inline]
    fn is_full(&self, i: usize) -> bool {
        // SAFETY: `i` is below `buckets`.
        unsafe { *self.ctrl().add(i) & 0x80 == 0 }
    }

    /// A bucket for a new item with `hash`: empty or deleted.
    fn free_bucket(&self, hash: u64) -> usize {
        let mut pos = self.start(hash);
        loop {
            // SAFETY: as in `find`.
            let m = unsafe { Group::load(self.ctrl().add(pos)) }.free();
            if m != 0 {
                return self.wrap(pos + m.trailing_zeros() as usize);
            }
            pos = self.wrap(pos + GROUP);
        }
    }

    /// The bucket of the item `eq` accepts (`Ok`), or a free bucket to insert one with `hash`
    /// into with [`Table::insert_at`] (`Err`), growing the table when full; `rehash` gives the
    /// hash of an item already stored.
    #[inline]
    pub fn find_or_free(
        &mut self,
        hash: u64,
        eq: impl FnMut(&T) -> bool,
        rehash: impl Fn(&T) -> u64,
    ) -> Result<usize, usize> {
        if let Some(i) = self.find(hash, eq) {
            return Ok(i);
        }
        if self.growth_left == 0 {
            self.grow(rehash);
        }
        Err(self.free_bucket(hash))
    }

    /// Stores `item` with `hash` in the free bucket `i` from [`Table::find_or_free`] (no other
    /// change to the table in between) and returns it.
    #[inline]
    pub fn insert_at(&mut self, i: usize, hash: u64, item: T) -> &mut T {
        // SAFETY: `i` is a free bucket of this table.
        unsafe {
            debug_assert!(!self.is_full(i));
            if *self.ctrl().add(i) == EMPTY {
                self.growth_left -= 1;
            }
            self.set_ctrl(i, h2(hash));
            let p = self.items.as_ptr().add(i);
            p.write(item);
            self.len += 1;
            &mut *p
        }
    }

    /// Inserts `item` with `hash`, which no stored item equals.
    pub fn insert_unique(&mut self, hash: u64, item: T, rehash: impl Fn(&T) -> u64) -> &mut T {
        if self.growth_left == 0 {
            self.grow(rehash);
        }
        let i = self.free_bucket(hash);
        self.insert_at(i, hash, item)
    }

    /// Takes the item out of bucket `i`.
    pub fn remove_at(&mut self, i: usize) -> T {
        debug_assert!(i < self.buckets && self.is_full(i));
        let n = self.buckets;
        // A probe passes a group only when it has no empty bucket: bucket i must stay a
        // tombstone when it lies in 16 or more consecutive non-empty buckets. A table under 16
        // buckets is probed whole in one group, where any empty bucket ends the probe.
        let tomb = n >= GROUP && {
            let before = (i + n - GROUP % n) % n;
            // SAFETY: both are buckets: 16 control bytes readable from each.
            let (b, a) = unsafe {
                (
                    Group::load(self.ctrl().add(before)).matching(EMPTY),
                    Group::load(self.ctrl().add(i)).matching(EMPTY),
                )
            };
            b.leading_zeros() + a.trailing_zeros() >= GROUP as u32
        };
        if tomb {
            self.set_ctrl(i, DELETED);
        } else {
            self.set_ctrl(i, EMPTY);
            self.growth_left += 1;
        }
        self.len -= 1;
        // SAFETY: the bucket held an item, now marked free: it is moved out exactly once.
        unsafe { self.items.as_ptr().add(i).read() }
    }

    /// Makes room for one more insert: rebuilds at the same size when tombstones took the
    /// room, else grows by 1.25x.
    #[cold]
    fn grow(&mut self, rehash: impl Fn(&T) -> u64) {
        let target = if self.buckets > 0 && self.len < max_items(self.buckets) / 2 {
            self.buckets
        } else {
            ((self.len + 1) * 10 / 7).max(MIN_BUCKETS)
        };
        self.resize(target, rehash);
    }

    fn resize(&mut self, buckets: usize, rehash: impl Fn(&T) -> u64) {
        debug_assert!(max_items(buckets) > self.len);
        let layout = Self::layout(buckets);
        // SAFETY: the layout is non-zero; every control byte is initialised before use and
        // each item moves once from a full old bucket to a free new one.
        unsafe {
            let p = alloc(layout);
            if p.is_null() {
                handle_alloc_error(layout);
            }
            let mut new = Table {
                items: NonNull::new_unchecked(p.cast::<T>()),
                buckets,
                len: 0,
                growth_left: max_items(buckets),
                _owns: PhantomData,
            };
            std::ptr::write_bytes(new.ctrl(), EMPTY, buckets + GROUP - 1);
            // Every slot table grows at about the same key count, so a burst of inserts can
            // resize many tables in a row: hashing each item is a cache miss, overlapped here.
            for i in 0..self.buckets.min(RESIZE_AHEAD) {
                if self.is_full(i) {
                    self.get(i).prefetch();
                }
            }
            for i in 0..self.buckets {
                let ahead = i + RESIZE_AHEAD;
                if ahead < self.buckets && self.is_full(ahead) {
                    self.get(ahead).prefetch();
                }
                if self.is_full(i) {
                    let item = self.items.as_ptr().add(i).read();
                    let hash = rehash(&item);
                    let j = new.free_bucket(hash);
                    new.insert_at(j, hash, item);
                }
            }
            self.free_memory();
            self.len = 0;
            std::mem::swap(self, &mut new);
            std::mem::forget(new);
        }
    }

    /// Releases the allocation (items already moved out or dropped).
    fn free_memory(&mut self) {
        if self.buckets > 0 {
            // SAFETY: allocated in `resize` with this layout.
            unsafe { dealloc(self.items.as_ptr().cast(), Self::layout(self.buckets)) };
            self.items = NonNull::dangling();
            self.buckets = 0;
            self.growth_left = 0;
        }
    }

    /// The items, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        (0..self.buckets)
            .filter(move |&i| self.is_full(i))
            .map(move |i| self.get(i))
    }

    /// Keeps the items `keep` accepts, dropping the others.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut T) -> bool) {
        for i in 0..self.buckets {
            if self.is_full(i) && !keep(self.get_mut(i)) {
                drop(self.remove_at(i));
            }
        }
    }

    /// Drops every item and the allocation.
    pub fn clear(&mut self) {
        if std::mem::needs_drop::<T>() {
            for i in 0..self.buckets {
                if self.is_full(i) {
                    // SAFETY: each full bucket's item is dropped once; the memory is freed next.
                    unsafe { self.items.as_ptr().add(i).drop_in_place() };
                }
            }
        }
        self.free_memory();
        self.len = 0;
    }
}

impl<T: Item> Drop for Table<T> {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<T: Item + std::fmt::Debug> std::fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A deliberately weak hash so that tags and positions collide a lot.
    fn hash(k: u64, spread: u64) -> u64 {
        (k % spread).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (k % 3)
    }

    type Item = Box<(u64, u64)>;
    impl super::Item for Item {}
    impl super::Item for u64 {}

    fn check(t: &Table<Item>, model: &HashMap<u64, u64>, spread: u64) {
        assert_eq!(t.len(), model.len());
        assert_eq!(t.iter().count(), model.len());
        for (&k, &v) in model {
            let i = t.find(hash(k, spread), |e| e.0 == k).expect("present");
            assert_eq!(t.get(i).1, v);
        }
        if t.buckets() > 0 {
            assert!(t.len() <= max_items(t.buckets()));
        }
    }

    /// Inserts, overwrites, removals and retains against a HashMap, with a hash that collides
    /// often, at every size from empty to thousands (boxed items: leaks and double drops show
    /// under a memory checker).
    #[test]
    fn matches_a_model_through_growth_and_tombstones() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for spread in [u64::MAX, 1000, 7] {
            let mut t: Table<Item> = Table::new();
            let mut model = HashMap::new();
            let rh = |e: &Item| hash(e.0, spread);
            for step in 0..40_000u64 {
                let range = if step < 20_000 { 4_000 } else { 300 };
                let k = rnd() % range;
                match rnd() % 10 {
                    0..=5 => match t.find_or_free(hash(k, spread), |e| e.0 == k, rh) {
                        Ok(i) => {
                            t.get_mut(i).1 = step;
                            model.insert(k, step);
                        }
                        Err(i) => {
                            t.insert_at(i, hash(k, spread), Box::new((k, step)));
                            assert!(model.insert(k, step).is_none());
                        }
                    },
                    6..=8 => {
                        let got = t
                            .find(hash(k, spread), |e| e.0 == k)
                            .map(|i| t.remove_at(i).1);
                        assert_eq!(got, model.remove(&k));
                    }
                    _ => {
                        if step % 97 == 0 {
                            t.retain(|e| e.0 % 5 != 0);
                            model.retain(|k, _| k % 5 != 0);
                        }
                    }
                }
                if step % 1000 == 0 {
                    check(&t, &model, spread);
                }
            }
            check(&t, &model, spread);
            t.clear();
            assert!(t.is_empty() && t.find(0, |_| true).is_none());
        }
    }

    #[test]
    fn grows_by_a_quarter() {
        let mut t: Table<u64> = Table::new();
        let mut sizes = vec![];
        for k in 0..1000u64 {
            let h = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            t.insert_unique(h, k, |&k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            if sizes.last() != Some(&t.buckets()) {
                sizes.push(t.buckets());
            }
        }
        assert_eq!(&sizes[..8], &[4, 5, 7, 10, 14, 20, 27, 35]);
        for w in sizes.windows(2).filter(|w| w[0] >= 64) {
            let ratio = w[1] as f64 / w[0] as f64;
            assert!((1.2..1.3).contains(&ratio), "{w:?}");
        }
        assert_eq!(t.iter().count(), 1000);
    }
}
