//! A shard's io_uring: one ring per shard, set up for a single thread (SINGLE_ISSUER,
//! DEFER_TASKRUN, COOP_TASKRUN), so completions are reaped only when the shard asks for them and
//! a whole event-loop iteration's sends and receives go to the kernel in one submission.

use io_uring::{squeue, types, IoUring};
use std::io;
use std::time::Duration;

/// What an operation's completion belongs to: 8 bits of kind, 24 of generation, 32 of slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token(pub u64);

/// Operation kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    Accept = 1,
    Recv = 2,
    Send = 3,
    Wake = 4,
    /// Cancelling a connection's receive (its completion is ignored).
    Cancel = 5,
}

impl Token {
    /// A token for `op` on connection slot `idx` of generation `gen`.
    #[inline]
    pub fn new(op: Op, gen: u32, idx: u32) -> Token {
        Token(((op as u64) << 56) | (((gen & 0xff_ffff) as u64) << 32) | idx as u64)
    }
    /// The operation kind.
    #[inline]
    pub fn op(self) -> u8 {
        (self.0 >> 56) as u8
    }
    /// The generation (low 24 bits).
    #[inline]
    pub fn gen(self) -> u32 {
        ((self.0 >> 32) & 0xff_ffff) as u32
    }
    /// The slot.
    #[inline]
    pub fn idx(self) -> u32 {
        self.0 as u32
    }
}

/// The ring and its submission helpers.
pub struct Ring {
    pub(crate) ring: IoUring,
}

impl Ring {
    /// A ring with `entries` submission slots, with the single-thread flags when the kernel has
    /// them (falls back to a plain ring on older kernels).
    pub fn new(entries: u32) -> io::Result<Ring> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .setup_defer_taskrun()
            .setup_cqsize(entries * 4)
            .build(entries)
            .or_else(|_| IoUring::builder().setup_cqsize(entries * 4).build(entries))?;
        Ok(Ring { ring })
    }

    /// Queues an operation, flushing the submission queue to the kernel first if it is full.
    #[inline]
    pub fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: every buffer referenced by queued entries is owned by a connection or the
            // shard and stays in place until the operation's completion is reaped.
            let pushed = unsafe { self.ring.submission().push(&entry) };
            if pushed.is_ok() {
                return;
            }
            if let Err(e) = self.ring.submit() {
                tracing::warn!("io_uring submit failed while the queue was full: {e}");
            }
        }
    }

    /// Submits queued operations and waits for at least `want` completions or `timeout`.
    pub fn submit_and_wait(&mut self, want: usize, timeout: Option<Duration>) -> io::Result<()> {
        let r = match timeout {
            Some(t) if want > 0 => {
                let ts = types::Timespec::new()
                    .sec(t.as_secs())
                    .nsec(t.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(want, &args)
            }
            _ => self.ring.submitter().submit_and_wait(want),
        };
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::ETIME)
                    || e.raw_os_error() == Some(libc::EINTR)
                    || e.raw_os_error() == Some(libc::EBUSY) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves every available completion into `out` as (token, result, flags).
    #[inline]
    pub fn reap(&mut self, out: &mut Vec<(Token, i32, u32)>) {
        for cqe in self.ring.completion() {
            out.push((Token(cqe.user_data()), cqe.result(), cqe.flags()));
        }
    }
}

/// A ring of provided buffers (IORING_REGISTER_PBUF_RING): connections keep one multishot
/// receive armed for their whole life and the kernel picks a buffer per completion, so a
/// request costs no submission and no poll re-arm.
pub struct BufRing {
    entries: *mut types::BufRingEntry,
    layout: std::alloc::Layout,
    bufs: Vec<u8>,
    buf_size: usize,
    count: u16,
    tail: u16,
    /// The buffer group id receives name.
    pub bgid: u16,
}

impl BufRing {
    /// Registers `count` (a power of two) buffers of `buf_size` bytes as group `bgid`.
    pub fn new(ring: &Ring, count: u16, buf_size: usize, bgid: u16) -> io::Result<BufRing> {
        assert!(count.is_power_of_two());
        let layout = std::alloc::Layout::from_size_align(
            count as usize * std::mem::size_of::<types::BufRingEntry>(),
            4096,
        )
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: non-zero size, valid alignment; zeroed as the kernel expects.
        let entries = unsafe { std::alloc::alloc_zeroed(layout) } as *mut types::BufRingEntry;
        if entries.is_null() {
            return Err(io::Error::new(io::ErrorKind::OutOfMemory, "buffer ring"));
        }
        let mut br = BufRing {
            entries,
            layout,
            bufs: vec![0u8; count as usize * buf_size],
            buf_size,
            count,
            tail: 0,
            bgid,
        };
        // SAFETY: the ring memory stays allocated and in place until drop (after the ring).
        unsafe {
            ring.ring
                .submitter()
                .register_buf_ring_with_flags(entries as u64, count, bgid, 0)?;
        }
        for bid in 0..count {
            br.push(bid);
        }
        br.publish();
        Ok(br)
    }

    fn push(&mut self, bid: u16) {
        let idx = (self.tail & (self.count - 1)) as usize;
        // SAFETY: idx < count; the entry is ours to fill until the tail is published.
        unsafe {
            let e = &mut *self.entries.add(idx);
            e.set_addr(self.bufs.as_ptr().add(bid as usize * self.buf_size) as u64);
            e.set_len(self.buf_size as u32);
            e.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&mut self) {
        // SAFETY: the tail field lives in the first entry; the kernel reads it with acquire.
        unsafe {
            let tail =
                types::BufRingEntry::tail(self.entries) as *const std::sync::atomic::AtomicU16;
            (*tail).store(self.tail, std::sync::atomic::Ordering::Release);
        }
    }

    /// The data the kernel put in buffer `bid`.
    pub fn data(&self, bid: u16, len: usize) -> &[u8] {
        let start = bid as usize * self.buf_size;
        &self.bufs[start..start + len.min(self.buf_size)]
    }

    /// Gives buffer `bid` back to the kernel.
    pub fn recycle(&mut self, bid: u16) {
        self.push(bid);
        self.publish();
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout. The ring is dropped first (field order in
        // Shard), so the kernel no longer references it.
        unsafe { std::alloc::dealloc(self.entries as *mut u8, self.layout) };
    }
}
