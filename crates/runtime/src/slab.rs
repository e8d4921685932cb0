//! Small-object slabs for the shard threads.
//!
//! A shard allocates one record per key and many small collections; the system allocator
//! rounds each to 16 bytes and adds an 8-byte header, so a 118-byte record costs 128 bytes and a
//! 26-byte one 48. Here an allocation of up to [`MAX_SIZE`] bytes (alignment up to 8) comes
//! from a 64 KiB page holding objects of one size, with no header per object: sizes are rounded
//! up to 8 bytes (16 past 512, 32 past 1 KiB), 120 and 32 bytes for those two. Slot tables,
//! which grow through the same sizes in every slot, reuse each other's freed memory exactly.
//!
//! - Every slab page lies in one reserved range of address space, so a pointer tells which
//!   allocator it came from without a lookup (anything else is the system allocator's).
//! - Each shard thread has its own heap (one list of pages with room per size, and a list of
//!   empty pages); allocating and freeing on the owning thread takes no lock or atomic.
//! - A page never changes owner while in use. A block another thread frees goes on the owner's
//!   remote list (a lock-free stack), which the owner takes back when it next needs a page and
//!   on every cron tick ([`collect`]).
//! - A page whose last object is freed goes to its heap's empty list, for any size; past
//!   [`KEEP_EMPTY`] such pages, further ones are returned to the system whole and their numbers
//!   kept on a shared stack (outside the pages), from which any heap takes pages again.
//! - Threads that never call [`enable`] (start-up, signals) use the system allocator only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

/// The largest allocation served from slabs.
pub const MAX_SIZE: usize = 2048;
/// Size granularity up to 512 bytes (and the largest alignment served); 16 bytes up to 1 KiB
/// and 32 up to 2 KiB.
const GRAIN: usize = 8;
const CLASSES: usize = 128;
/// A slab page, aligned to its size.
const PAGE: usize = 64 << 10;
/// The page header's share of a page; objects start after it.
const HEADER: usize = 128;
/// Empty pages a heap keeps resident before returning the memory of further ones.
const KEEP_EMPTY: usize = 16;
/// Address space reserved for slab pages (tried smaller if the system refuses).
const RESERVE: usize = 1 << 40;

static BASE: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);
/// The next page never handed out.
static NEXT: AtomicUsize = AtomicUsize::new(0);
static RESERVED: Once = Once::new();

/// Pages whose memory went back to the system, by number (offset from BASE / PAGE), in an
/// array reserved beside the pages (one u32 per page of the range, touched as it fills).
struct Released {
    pages: *mut u32,
    len: usize,
}
// SAFETY: the array is only touched under the mutex.
unsafe impl Send for Released {}
static RELEASED: Mutex<Released> = Mutex::new(Released {
    pages: null_mut(),
    len: 0,
});

thread_local! {
    static HEAP: Cell<*mut Heap> = const { Cell::new(null_mut()) };
}

/// A free object: the next one in its list.
struct Block {
    next: *mut Block,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// In its heap's list for its size: it has a free object or untouched room.
    Partial,
    /// Every object in use; in no list.
    Full,
    /// No object in use; in the heap's empty list.
    Empty,
}

#[repr(C)]
struct Page {
    /// The owning heap (fixed from the page's first use).
    heap: *mut Heap,
    /// Objects freed by the owner, ready for reuse.
    free: *mut Block,
    /// Offset of the first object never handed out.
    bump: usize,
    /// Objects in use (those freed by other threads count until the owner takes them back).
    used: usize,
    /// Object size.
    size: usize,
    class: usize,
    prev: *mut Page,
    next: *mut Page,
    state: State,
}

const _: () = assert!(std::mem::size_of::<Page>() <= HEADER);

/// A thread's slab heap. Leaked, so a block freed by another thread after this one exits still
/// has a valid remote list to go to.
struct Heap {
    /// Per size, the pages with room (doubly linked through `prev`/`next`).
    partial: [*mut Page; CLASSES],
    /// Pages with no object in use (linked through `next`).
    empty: *mut Page,
    /// How many pages the empty list holds.
    empties: usize,
    /// Blocks other threads freed, for the owner to take back.
    remote: AtomicPtr<Block>,
}

/// Gives the calling thread a slab heap: from now on its small allocations come from slabs.
/// Idempotent. Without address space to reserve, nothing changes.
pub fn enable() {
    RESERVED.call_once(reserve);
    if BASE.load(Ordering::Acquire) == 0 || !HEAP.with(Cell::get).is_null() {
        return;
    }
    let heap = Box::into_raw(Box::new(Heap {
        partial: [null_mut(); CLASSES],
        empty: null_mut(),
        empties: 0,
        remote: AtomicPtr::new(null_mut()),
    }));
    HEAP.with(|h| h.set(heap));
}

/// Takes back the blocks other threads freed to the calling thread's heap (a shard calls this
/// on its cron tick, so memory freed elsewhere returns even while it allocates nothing new).
pub fn collect() {
    let heap = HEAP.with(Cell::get);
    if !heap.is_null() {
        // SAFETY: the calling thread's own heap.
        unsafe { (*heap).collect() }
    }
}

fn reserve() {
    let mut size = RESERVE;
    while size >= PAGE << 10 {
        // SAFETY: an anonymous private mapping at an address the kernel picks; no memory is
        // committed until touched (MAP_NORESERVE).
        let p = unsafe {
            libc::mmap(
                null_mut(),
                size + PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        // SAFETY: as above, for the array of released page numbers.
        let numbers = unsafe {
            libc::mmap(
                null_mut(),
                size / PAGE * 4,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED && numbers != libc::MAP_FAILED {
            if let Ok(mut r) = RELEASED.lock() {
                r.pages = numbers.cast();
            }
            let base = (p as usize + PAGE - 1) & !(PAGE - 1);
            NEXT.store(base, Ordering::Relaxed);
            END.store(base + size, Ordering::Relaxed);
            BASE.store(base, Ordering::Release);
            return;
        }
        // SAFETY: unmapping what this iteration mapped.
        unsafe {
            if p != libc::MAP_FAILED {
                libc::munmap(p, size + PAGE);
            }
            if numbers != libc::MAP_FAILED {
                libc::munmap(numbers, size / PAGE * 4);
            }
        }
        size /= 4;
    }
    tracing::warn!("no address space for slab pages: small objects use the system allocator");
}

#[inline]
fn in_slabs(ptr: *mut u8) -> bool {
    let base = BASE.load(Ordering::Relaxed);
    (ptr as usize).wrapping_sub(base) < END.load(Ordering::Relaxed).wrapping_sub(base)
}

#[inline]
fn page_of(ptr: *mut u8) -> *mut Page {
    (ptr as usize & !(PAGE - 1)) as *mut Page
}

#[inline]
fn served(layout: &Layout) -> bool {
    layout.size() <= MAX_SIZE && layout.align() <= GRAIN
}

/// The size class of an allocation of `size` bytes (1 to [`MAX_SIZE`]).
#[inline]
fn class_of(size: usize) -> usize {
    let s = size.saturating_sub(1);
    if s < 512 {
        s / GRAIN
    } else if s < 1024 {
        64 + (s - 512) / 16
    } else {
        96 + (s - 1024) / 32
    }
}

/// The object size of a class.
fn class_size(class: usize) -> usize {
    match class {
        0..64 => (class + 1) * GRAIN,
        64..96 => 512 + (class - 63) * 16,
        _ => 1024 + (class - 95) * 32,
    }
}

impl Heap {
    #[inline]
    unsafe fn alloc(&mut self, class: usize) -> *mut u8 {
        let page = self.partial[class];
        if !page.is_null() {
            return self.take(page);
        }
        self.alloc_slow(class)
    }

    #[cold]
    unsafe fn alloc_slow(&mut self, class: usize) -> *mut u8 {
        self.collect();
        let page = self.partial[class];
        if !page.is_null() {
            return self.take(page);
        }
        let page = self.new_page();
        if page.is_null() {
            return null_mut();
        }
        let p = &mut *page;
        p.heap = self;
        p.free = null_mut();
        p.bump = HEADER;
        p.used = 0;
        p.size = class_size(class);
        p.class = class;
        self.link(page);
        self.take(page)
    }

    /// An empty page of this heap, else a released one, else a fresh one from the reserved
    /// range (null when spent).
    unsafe fn new_page(&mut self) -> *mut Page {
        let page = self.empty;
        if !page.is_null() {
            self.empty = (*page).next;
            self.empties -= 1;
            return page;
        }
        if let Ok(mut r) = RELEASED.lock() {
            if r.len > 0 {
                r.len -= 1;
                let n = *r.pages.add(r.len) as usize;
                return (BASE.load(Ordering::Relaxed) + n * PAGE) as *mut Page;
            }
        }
        let mut next = NEXT.load(Ordering::Relaxed);
        loop {
            if next + PAGE > END.load(Ordering::Relaxed) {
                return null_mut();
            }
            match NEXT.compare_exchange_weak(
                next,
                next + PAGE,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next as *mut Page,
                Err(now) => next = now,
            }
        }
    }

    #[inline]
    unsafe fn take(&mut self, page: *mut Page) -> *mut u8 {
        let p = &mut *page;
        let block = if !p.free.is_null() {
            let b = p.free;
            p.free = (*b).next;
            b as *mut u8
        } else {
            let b = (page as *mut u8).add(p.bump);
            p.bump += p.size;
            b
        };
        p.used += 1;
        if p.free.is_null() && p.bump + p.size > PAGE {
            self.unlink(page);
            (*page).state = State::Full;
        }
        block
    }

    #[inline]
    unsafe fn free(&mut self, ptr: *mut u8) {
        let page = page_of(ptr);
        let p = &mut *page;
        let block = ptr as *mut Block;
        (*block).next = p.free;
        p.free = block;
        p.used -= 1;
        match p.state {
            State::Full => self.link(page),
            // The last page with room for its size stays, so that one object allocated and
            // freed in turn does not cycle a page through the empty list.
            State::Partial
                if p.used == 0 && !(self.partial[p.class] == page && p.next.is_null()) =>
            {
                self.unlink(page);
                self.retire(page);
            }
            _ => {}
        }
    }

    unsafe fn retire(&mut self, page: *mut Page) {
        if self.empties < KEEP_EMPTY {
            self.empties += 1;
            (*page).state = State::Empty;
            (*page).next = self.empty;
            self.empty = page;
            return;
        }
        // A page with no object in use has no block on any remote list either (those count
        // as in use until taken back), so no other thread touches it from here on.
        libc::madvise(page.cast(), PAGE, libc::MADV_DONTNEED);
        if let Ok(mut r) = RELEASED.lock() {
            let n = (page as usize - BASE.load(Ordering::Relaxed)) / PAGE;
            let len = r.len;
            *r.pages.add(len) = n as u32;
            r.len += 1;
        }
    }

    /// Frees the blocks other threads returned to this heap.
    unsafe fn collect(&mut self) {
        let mut b = self.remote.swap(null_mut(), Ordering::Acquire);
        while !b.is_null() {
            let next = (*b).next;
            self.free(b as *mut u8);
            b = next;
        }
    }

    unsafe fn link(&mut self, page: *mut Page) {
        let class = (*page).class;
        let head = self.partial[class];
        (*page).prev = null_mut();
        (*page).next = head;
        if !head.is_null() {
            (*head).prev = page;
        }
        self.partial[class] = page;
        (*page).state = State::Partial;
    }

    unsafe fn unlink(&mut self, page: *mut Page) {
        let (prev, next) = ((*page).prev, (*page).next);
        if prev.is_null() {
            self.partial[(*page).class] = next;
        } else {
            (*prev).next = next;
        }
        if !next.is_null() {
            (*next).prev = prev;
        }
    }
}

/// Allocates `layout` from the thread's slabs when it is small and the thread has a heap, else
/// from the system allocator.
///
/// # Safety
/// As [`GlobalAlloc::alloc`].
#[inline]
pub unsafe fn alloc(layout: Layout) -> *mut u8 {
    if served(&layout) {
        let heap = HEAP.with(Cell::get);
        if !heap.is_null() {
            let p = (*heap).alloc(class_of(layout.size()));
            if !p.is_null() {
                return p;
            }
        }
    }
    System.alloc(layout)
}

/// [`alloc`], zeroed.
///
/// # Safety
/// As [`GlobalAlloc::alloc_zeroed`].
#[inline]
pub unsafe fn alloc_zeroed(layout: Layout) -> *mut u8 {
    if served(&layout) && !HEAP.with(Cell::get).is_null() {
        let p = alloc(layout);
        if !p.is_null() {
            std::ptr::write_bytes(p, 0, layout.size());
        }
        return p;
    }
    System.alloc_zeroed(layout)
}

/// Frees memory from [`alloc`], on any thread.
///
/// # Safety
/// As [`GlobalAlloc::dealloc`].
#[inline]
pub unsafe fn dealloc(ptr: *mut u8, layout: Layout) {
    if !in_slabs(ptr) {
        return System.dealloc(ptr, layout);
    }
    let owner = (*page_of(ptr)).heap;
    if owner == HEAP.with(Cell::get) {
        (*owner).free(ptr);
    } else {
        let remote = &(*owner).remote;
        let block = ptr as *mut Block;
        let mut head = remote.load(Ordering::Relaxed);
        loop {
            (*block).next = head;
            match remote.compare_exchange_weak(head, block, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
    }
}

/// Resizes memory from [`alloc`]: in place when the size class stays, else by moving it.
///
/// # Safety
/// As [`GlobalAlloc::realloc`].
#[inline]
pub unsafe fn realloc(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    let old_slab = in_slabs(ptr);
    // SAFETY (of the unchecked layout): the caller guarantees the new size, rounded up to the
    // alignment, does not overflow isize.
    let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
    if !old_slab {
        if !served(&new_layout) || HEAP.with(Cell::get).is_null() {
            return System.realloc(ptr, layout, new_size);
        }
    } else if served(&new_layout) && class_of(new_size) == (*page_of(ptr)).class {
        return ptr;
    }
    let new = alloc(new_layout);
    if !new.is_null() {
        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
        dealloc(ptr, layout);
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(p: *mut u8, size: usize, tag: u8) {
        // SAFETY: p points to `size` writable bytes.
        unsafe { std::ptr::write_bytes(p, tag, size) }
    }

    fn check(p: *mut u8, size: usize, tag: u8) {
        // SAFETY: p points to `size` initialized bytes.
        let s = unsafe { std::slice::from_raw_parts(p, size) };
        assert!(
            s.iter().all(|&b| b == tag),
            "object of {size} bytes overwritten"
        );
    }

    /// A heap's pages in use for one size: walks its partial list.
    fn partial_pages(class: usize) -> usize {
        let heap = HEAP.with(Cell::get);
        // SAFETY: the thread's own heap, not touched concurrently by this thread.
        unsafe {
            let mut n = 0;
            let mut p = (*heap).partial[class];
            while !p.is_null() {
                n += 1;
                p = (*p).next;
            }
            n
        }
    }

    #[test]
    fn objects_are_exact_sized_disjoint_and_reused() {
        std::thread::spawn(|| {
            enable();
            let mut live = vec![];
            for i in 0..20_000usize {
                let size = 1 + i % MAX_SIZE;
                let layout = Layout::from_size_align(size, 8).expect("layout");
                // SAFETY: a non-zero layout.
                let p = unsafe { alloc(layout) };
                assert!(in_slabs(p));
                assert_eq!(p as usize % 8, 0);
                let grain = match size {
                    0..=512 => 8,
                    513..=1024 => 16,
                    _ => 32,
                };
                // SAFETY: p came from the slabs.
                assert_eq!(unsafe { (*page_of(p)).size }, size.div_ceil(grain) * grain);
                fill(p, size, i as u8);
                live.push((p, layout, i as u8));
            }
            for &(p, l, tag) in &live {
                check(p, l.size(), tag);
            }
            let first = live[0].0;
            for (p, l, _) in live.drain(..) {
                // SAFETY: allocated above with this layout.
                unsafe { dealloc(p, l) };
            }
            // Freed objects are reused, and at most one page per size stays in its list.
            for class in 0..CLASSES {
                assert!(partial_pages(class) <= 1, "class {class}");
            }
            let l = Layout::from_size_align(1, 1).expect("layout");
            // SAFETY: a non-zero layout; freed again at once.
            unsafe {
                let p = alloc(l);
                assert_eq!(page_of(p), page_of(first));
                dealloc(p, l);
            }
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn large_or_aligned_or_heapless_allocations_use_the_system() {
        std::thread::spawn(|| {
            // SAFETY: non-zero layouts, freed with the same layouts.
            unsafe {
                let l = Layout::from_size_align(16, 8).expect("layout");
                let p = alloc(l);
                assert!(!in_slabs(p), "a thread without a heap");
                dealloc(p, l);
                enable();
                for l in [
                    Layout::from_size_align(MAX_SIZE + 1, 8).expect("layout"),
                    Layout::from_size_align(32, 16).expect("layout"),
                ] {
                    let p = alloc(l);
                    assert!(!in_slabs(p));
                    dealloc(p, l);
                }
            }
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn realloc_moves_between_sizes_and_allocators_keeping_bytes() {
        std::thread::spawn(|| {
            enable();
            // SAFETY: each pointer is reallocated with the layout it currently has.
            unsafe {
                let mut l = Layout::from_size_align(10, 8).expect("layout");
                let mut p = alloc(l);
                fill(p, 10, 7);
                for new in [12, 16, 17, 200, 600, 5000, 300, 3] {
                    let q = realloc(p, l, new);
                    check(q, l.size().min(new), 7);
                    if new == 12 || new == 16 {
                        assert_eq!(q, p, "same size class stays in place");
                    }
                    assert_eq!(in_slabs(q), new <= MAX_SIZE, "{new}");
                    fill(q, new, 7);
                    p = q;
                    l = Layout::from_size_align(new, 8).expect("layout");
                }
                let z = alloc_zeroed(Layout::from_size_align(64, 8).expect("layout"));
                check(z, 64, 0);
                dealloc(z, Layout::from_size_align(64, 8).expect("layout"));
                dealloc(p, l);
            }
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn blocks_freed_by_other_threads_return_to_their_owner() {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<usize>>();
        let (back_tx, back_rx) = std::sync::mpsc::channel::<()>();
        let owner = std::thread::spawn(move || {
            enable();
            let l = Layout::from_size_align(40, 8).expect("layout");
            let mut pages = std::collections::HashSet::new();
            for round in 0..20u8 {
                // SAFETY: non-zero layout; freed by the other thread.
                let batch: Vec<usize> = (0..5_000)
                    .map(|_| unsafe {
                        let p = alloc(l);
                        fill(p, 40, round);
                        p as usize
                    })
                    .collect();
                pages.extend(batch.iter().map(|&p| page_of(p as *mut u8) as usize));
                tx.send(batch).expect("send");
                back_rx.recv().expect("freed");
            }
            // A round needs 4 pages; without the blocks coming back, 20 rounds would need 80.
            assert!(pages.len() <= 12, "{} pages", pages.len());
        });
        let freer = std::thread::spawn(move || {
            enable();
            let l = Layout::from_size_align(40, 8).expect("layout");
            for (round, batch) in rx.iter().enumerate() {
                for p in batch {
                    check(p as *mut u8, 40, round as u8);
                    // SAFETY: allocated by the owner with this layout.
                    unsafe { dealloc(p as *mut u8, l) };
                }
                if back_tx.send(()).is_err() {
                    break;
                }
            }
        });
        owner.join().expect("owner");
        freer.join().expect("freer");
    }
}
