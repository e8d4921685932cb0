//! The message mesh between shards: one lock-free inbox per shard and an eventfd that wakes the
//! shard only when it is parked in the kernel, so a busy shard receives messages for free.

use crate::shard::Shard;
use crossbeam_queue::SegQueue;
use shoal_protocol::Protocol;
use std::any::Any;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// A connection on some shard: slot index and generation (stale ids are ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId {
    pub idx: u32,
    pub gen: u32,
}

/// The result of one step of a fan-out, handed back to the coordinating connection.
pub type StepOut = Box<dyn Any + Send>;
/// A step run on a (possibly remote) shard.
pub type StepFn = Box<dyn FnOnce(&mut Shard) -> StepOut + Send>;

/// Commands of one connection's pipeline that all run on one remote shard, shipped together.
#[derive(Default)]
pub struct Batch {
    /// Shard and connection to reply to.
    pub from: usize,
    pub conn: Option<ConnId>,
    /// Client state the commands run with.
    pub db: usize,
    pub proto: Protocol,
    pub no_touch: bool,
    /// Argument bytes of all commands, and each argument's range in `buf`.
    pub buf: Vec<u8>,
    pub ranges: Vec<(u32, u32)>,
    /// Per command: (first range index, argument count).
    pub cmds: Vec<(u32, u32)>,
    /// The shard that runs the batch.
    pub target: usize,
    /// Commands already executed (a batch may pause on a locked key).
    pub done: usize,
    /// Replies, in command order.
    pub out: Vec<u8>,
    /// Writes performed (for the coordinator's bookkeeping).
    pub writes: u64,
}

impl Batch {
    /// Clears the batch for reuse, keeping its buffers' capacity.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.ranges.clear();
        self.cmds.clear();
        self.out.clear();
        self.done = 0;
        self.writes = 0;
        self.conn = None;
    }
}

/// A message between shards.
pub enum Msg {
    /// Run these commands and send the replies back.
    Batch(Box<Batch>),
    /// Replies of a batch.
    BatchDone(Box<Batch>),
    /// Run `f` and send its result back as step `idx` of `conn`'s fan-out.
    Step {
        from: usize,
        conn: ConnId,
        idx: u32,
        f: StepFn,
    },
    /// A step's result.
    StepDone {
        conn: ConnId,
        idx: u32,
        out: StepOut,
    },
    /// Run `f`; nothing is sent back.
    Call(Box<dyn FnOnce(&mut Shard) + Send>),
}

/// One shard's inbox.
pub struct Mailbox {
    queue: SegQueue<Msg>,
    efd: RawFd,
    parked: AtomicBool,
}

impl Mailbox {
    /// An inbox woken through `efd`.
    pub fn new(efd: RawFd) -> Self {
        Mailbox {
            queue: SegQueue::new(),
            efd,
            parked: AtomicBool::new(false),
        }
    }
    /// The eventfd the shard keeps a read armed on.
    pub fn eventfd(&self) -> RawFd {
        self.efd
    }
    /// Queues a message (call [`Mailbox::wake`] after a burst).
    #[inline]
    pub fn push(&self, m: Msg) {
        self.queue.push(m);
    }
    /// Wakes the shard if it is parked.
    #[inline]
    pub fn wake(&self) {
        if self.parked.load(Ordering::SeqCst) && self.parked.swap(false, Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes from a valid u64 to an eventfd.
            unsafe { libc::write(self.efd, &one as *const u64 as *const libc::c_void, 8) };
        }
    }
    /// Takes the next message.
    #[inline]
    pub fn pop(&self) -> Option<Msg> {
        self.queue.pop()
    }
    /// Marks the shard parked; returns false (and stays unparked) if messages are waiting.
    pub fn park(&self) -> bool {
        self.parked.store(true, Ordering::SeqCst);
        if !self.queue.is_empty() {
            self.parked.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }
    /// Marks the shard running.
    pub fn unpark(&self) {
        self.parked.store(false, Ordering::Relaxed);
    }
}
