//! The global allocator: small objects of shard threads from slabs ([`crate::slab`]), the rest
//! from the system allocator, every byte counted. Each thread tallies what it allocates and
//! frees; shards publish their tallies and INFO sums them (a value freed by another thread than
//! the one that allocated it moves bytes between tallies, the sum stays exact).

use crate::slab;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, Ordering};

thread_local! {
    static ALLOCATED: Cell<i64> = const { Cell::new(0) };
}

/// Bytes allocated by threads that never publish (start-up, signal thread), counted directly.
static UNPUBLISHED: AtomicI64 = AtomicI64::new(0);

/// Slabs and the system allocator, counting bytes per thread.
pub struct CountingAlloc;

// SAFETY: forwards to the slab allocator (which keeps GlobalAlloc's contract, falling back to the
// system allocator); only adds bookkeeping.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = slab::alloc(layout);
        if !p.is_null() {
            add(layout.size() as i64);
        }
        p
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        slab::dealloc(ptr, layout);
        add(-(layout.size() as i64));
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = slab::alloc_zeroed(layout);
        if !p.is_null() {
            add(layout.size() as i64);
        }
        p
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = slab::realloc(ptr, layout, new_size);
        if !p.is_null() {
            add(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[inline]
fn add(n: i64) {
    if ALLOCATED.try_with(|c| c.set(c.get() + n)).is_err() {
        UNPUBLISHED.fetch_add(n, Ordering::Relaxed);
    }
}

/// Net bytes this thread has allocated since it started.
pub fn thread_allocated() -> i64 {
    ALLOCATED.try_with(Cell::get).unwrap_or(0)
}

/// Bytes counted outside of any thread's tally.
pub fn unpublished() -> i64 {
    UNPUBLISHED.load(Ordering::Relaxed)
}

/// Resident set size of the process in bytes (from /proc/self/statm).
pub fn rss_bytes() -> u64 {
    let page = 4096u64;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |p| p * page)
}
