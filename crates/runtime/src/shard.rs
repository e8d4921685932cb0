//! A shard: its keyspace, its connections, its ring and its event loop.

use crate::config::Config;
use crate::conn::Conn;
use crate::locks::LockTable;
use crate::mesh::{Batch, ConnId, Mailbox, Msg};
use crate::ring::{BufRing, Op, Ring, Token};
use arc_swap::ArcSwap;
use io_uring::{opcode, types};
use shoal_commands::{CommandTable, ShardSettings};
use shoal_data::Keyspace;
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Counters one shard updates and INFO sums; only the owning shard writes them. Aligned to
/// their own cache lines so shards never write to a line another shard writes.
#[derive(Default)]
#[repr(align(128))]
pub struct ShardStats {
    pub total_commands: AtomicU64,
    pub total_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub expired_keys: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub connected_clients: AtomicU64,
    /// Clients of this shard blocked on keys (INFO blocked_clients).
    pub blocked_clients: AtomicU64,
    pub dirty: AtomicU64,
    /// Commands per second over the last 16 cron ticks (INFO instantaneous_ops_per_sec).
    pub instantaneous_ops: AtomicU64,
    /// Net bytes the shard's thread has allocated (published every cron tick).
    pub used_memory: std::sync::atomic::AtomicI64,
}

/// Adds to a counter only its owner writes (no atomic read-modify-write needed).
#[inline]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// What every shard reads: immutable after start, or swapped/updated atomically.
pub struct Shared {
    /// Live configuration (CONFIG SET swaps it and bumps `config_epoch`).
    pub config: ArcSwap<Config>,
    pub config_epoch: AtomicU64,
    pub mailboxes: Vec<Mailbox>,
    /// The shard owning each hash slot.
    pub slot_owner: Vec<u16>,
    /// Each shard's first slot and slot count.
    pub slot_ranges: Vec<(u16, u16)>,
    /// The command table, built once and never freed (every shard reads it without refcounting).
    pub commands: &'static CommandTable,
    pub next_client_id: AtomicU64,
    pub next_tx: AtomicU64,
    pub shutdown: AtomicBool,
    pub started: Instant,
    pub started_unix: u64,
    pub stats: Vec<ShardStats>,
    pub clients: AtomicUsize,
    /// Connections in MONITOR mode (shard, connection).
    pub monitors: Mutex<Vec<(usize, ConnId)>>,
    pub monitor_count: AtomicUsize,
    pub port: u16,
    pub run_id: String,
}

impl Shared {
    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.mailboxes.len()
    }
    /// Asks every shard to shut down.
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        for m in &self.mailboxes {
            m.push(Msg::Call(Box::new(|_| {})));
            m.wake();
        }
    }
}

/// Milliseconds since the unix epoch.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Work a shard runs later on itself.
pub type Timer = Box<dyn FnOnce(&mut Shard)>;

/// A shard and everything it owns.
pub struct Shard {
    pub id: usize,
    pub shared: Arc<Shared>,
    /// The command table (a copy of `shared.commands`, read on every request).
    pub commands: &'static CommandTable,
    pub keyspace: Keyspace,
    /// Parses ahead in a pipeline for [`Shard::prefetch_pipeline`].
    pub lookahead: shoal_protocol::RequestParser,
    pub settings: ShardSettings,
    pub config: Arc<Config>,
    config_epoch: u64,
    pub counters: shoal_commands::Counters,
    pub now_ms: i64,
    /// Calls per command id (INFO commandstats).
    pub cmd_calls: Vec<u64>,
    pub ring: Ring,
    bufs: BufRing,
    listeners: Vec<RawFd>,
    pub conns: Vec<Option<Conn>>,
    gens: Vec<u32>,
    free: Vec<u32>,
    pub locks: LockTable,
    /// Connections whose next command waits for a key lock.
    pub lock_waiting: Vec<ConnId>,
    /// Remote batches paused on a locked key.
    pub deferred_batches: VecDeque<Box<Batch>>,
    pub batch_pool: Vec<Box<Batch>>,
    /// Shards that got messages this iteration and may need a wake-up.
    wake: Vec<bool>,
    /// Connections to (re)process this iteration.
    pub ready: Vec<ConnId>,
    /// Connections whose input this iteration's receives extended, processed once each after
    /// the completions are reaped.
    pub received: Vec<ConnId>,
    /// Connections that used their turn with input left: they go on next iteration, after
    /// everyone else had a turn (see [`Config::max_commands_per_turn`]).
    pub backlog: Vec<ConnId>,
    /// Connections with replies to send.
    pub flush: Vec<ConnId>,
    efd_buf: Box<u64>,
    cqes: Vec<(Token, i32, u32)>,
    pub rng: u64,
    /// Clients blocked on keys of this shard.
    pub waiters: crate::blocking::Waiters,
    /// WATCHed keys of this shard and the flags of the transactions watching them.
    pub watchers: crate::multi::Watchers,
    /// Pub/sub subscriptions of this shard's connections.
    pub pubsub: crate::pubsub::PubSub,
    /// Clients of this shard that are blocked.
    pub blocked_clients: usize,
    /// Ready keys and block requests the last command left.
    pub notes: shoal_commands::Notes,
    pub shutting_down: bool,
    next_cron: Instant,
    /// Commands-per-second samples, one per cron tick, and the last (time, total) sampled.
    ops_samples: [u64; 16],
    ops_sample_idx: usize,
    ops_last: (Instant, u64),
    /// One-shot timers (transaction retry back-off), earliest first not required.
    pub timers: Vec<(Instant, Timer)>,
}

impl Shard {
    /// A shard owning slots `first .. first + count`, listening on `listener`.
    pub fn new(id: usize, shared: Arc<Shared>, listeners: Vec<RawFd>) -> std::io::Result<Shard> {
        let config = shared.config.load_full();
        let (first, count) = shared.slot_ranges[id];
        let settings = ShardSettings {
            proto_max_bulk_len: config.proto_max_bulk_len,
            lfu_policy: config.lfu(),
            limits: config.limits,
            notify: shoal_data::events::active(config.notify_keyspace_events),
            busy_threshold_ms: config.busy_reply_threshold,
        };
        let mut keyspace = Keyspace::new(config.databases, first, count);
        keyspace.set_notify(settings.notify);
        let n = shared.shards();
        let ring = Ring::new(4096)?;
        let bufs = BufRing::new(&ring, 512, 8192, 0)?;
        Ok(Shard {
            id,
            commands: shared.commands,
            keyspace,
            lookahead: shoal_protocol::RequestParser::new(),
            settings,
            config_epoch: shared.config_epoch.load(Ordering::Acquire),
            config,
            shared,
            counters: Default::default(),
            now_ms: unix_ms(),
            cmd_calls: Vec::new(),
            ring,
            bufs,
            listeners,
            conns: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            locks: LockTable::default(),
            lock_waiting: Vec::new(),
            deferred_batches: VecDeque::new(),
            batch_pool: Vec::new(),
            wake: vec![false; n],
            ready: Vec::new(),
            received: Vec::new(),
            backlog: Vec::new(),
            flush: Vec::new(),
            efd_buf: Box::new(0),
            cqes: Vec::with_capacity(1024),
            notes: Default::default(),
            waiters: Default::default(),
            watchers: Default::default(),
            pubsub: Default::default(),
            blocked_clients: 0,
            rng: 0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            shutting_down: false,
            next_cron: Instant::now(),
            timers: Vec::new(),
            ops_samples: [0; 16],
            ops_sample_idx: 0,
            ops_last: (Instant::now(), 0),
        })
    }

    /// This shard's counters.
    #[inline]
    pub fn stats(&self) -> &ShardStats {
        &self.shared.stats[self.id]
    }

    /// A pseudo-random number (xorshift*), for RANDOMKEY and backoff.
    pub fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Sends a message to shard `to` (woken at the end of the iteration).
    #[inline]
    pub fn send(&mut self, to: usize, msg: Msg) {
        self.shared.mailboxes[to].push(msg);
        self.wake[to] = true;
    }

    /// The connection `id`, if it is still open.
    #[inline]
    pub fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        match self.conns.get_mut(id.idx as usize) {
            Some(Some(c)) if c.id.gen == id.gen => Some(c),
            _ => None,
        }
    }

    fn alloc_conn(&mut self, fd: RawFd) -> ConnId {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.conns.push(None);
                self.gens.push(0);
                (self.conns.len() - 1) as u32
            }
        };
        let gen = (self.gens[idx as usize] + 1) & 0xff_ffff;
        self.gens[idx as usize] = gen;
        let id = ConnId { idx, gen };
        let client_id = self.shared.next_client_id.fetch_add(1, Ordering::Relaxed);
        self.conns[idx as usize] = Some(Conn::new(fd, id, client_id, self.now_ms));
        id
    }

    /// Frees a connection slot and closes its socket.
    pub fn free_conn(&mut self, id: ConnId) {
        if let Some(slot) = self.conns.get_mut(id.idx as usize) {
            if let Some(mut c) = slot.take() {
                // SAFETY: closing a socket this shard owns; no operation on it is in flight.
                unsafe { libc::close(c.fd) };
                if let Some(w) = c.watch.take() {
                    self.unregister_watch(&w);
                }
                if let Some(s) = c.subs.take() {
                    self.drop_subscriptions(id, *s);
                }
                self.free.push(id.idx);
                self.shared.clients.fetch_sub(1, Ordering::Relaxed);
                let s = &self.shared.stats[self.id].connected_clients;
                s.store(
                    s.load(Ordering::Relaxed).saturating_sub(1),
                    Ordering::Relaxed,
                );
                if c.monitor {
                    crate::admin::remove_monitor(&self.shared, self.id, id);
                }
            }
        }
    }

    /// Arms the connection's multishot receive (kept for the connection's life), unless its
    /// turn is over with more input unprocessed than [`Config::client_input_backlog`].
    pub fn arm_recv(&mut self, id: ConnId) {
        let bgid = self.bufs.bgid;
        let backlog = self.config.client_input_backlog;
        let Some(c) = self.conn_mut(id) else { return };
        if c.recv_inflight
            || c.closing.is_some()
            || (c.turn_over && c.inbuf.len() - c.rpos > backlog)
        {
            return;
        }
        c.recv_inflight = true;
        let e = opcode::RecvMulti::new(types::Fd(c.fd), bgid)
            .build()
            .user_data(Token::new(Op::Recv, id.gen, id.idx).0);
        self.ring.push(e);
    }

    /// Starts sending what the connection has buffered, if no send is in flight.
    pub fn start_send(&mut self, id: ConnId) {
        let Some(c) = self.conn_mut(id) else { return };
        if c.send_inflight {
            return;
        }
        if c.sending.len() == c.send_off {
            if c.out.is_empty() {
                return;
            }
            c.sending.clear();
            c.send_off = 0;
            std::mem::swap(&mut c.sending, &mut c.out);
        }
        let ptr = c.sending[c.send_off..].as_ptr();
        let len = c.sending.len() - c.send_off;
        c.send_inflight = true;
        let e = opcode::Send::new(types::Fd(c.fd), ptr, len.min(u32::MAX as usize) as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(Token::new(Op::Send, id.gen, id.idx).0);
        self.ring.push(e);
    }

    fn arm_accept(&mut self, i: usize) {
        if let Some(&fd) = self.listeners.get(i) {
            let e = opcode::AcceptMulti::new(types::Fd(fd))
                .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
                .build()
                .user_data(Token::new(Op::Accept, 0, i as u32).0);
            self.ring.push(e);
        }
    }

    fn arm_wake(&mut self) {
        let efd = self.shared.mailboxes[self.id].eventfd();
        let e = opcode::Read::new(types::Fd(efd), &mut *self.efd_buf as *mut u64 as *mut u8, 8)
            .build()
            .user_data(Token::new(Op::Wake, 0, 0).0);
        self.ring.push(e);
    }

    fn on_accept(&mut self, listener: usize, res: i32, flags: u32) {
        if !io_uring::cqueue::more(flags) && !self.shutting_down {
            self.arm_accept(listener);
        }
        if res < 0 {
            if res != -libc::ECANCELED {
                tracing::debug!("accept failed: {}", std::io::Error::from_raw_os_error(-res));
            }
            return;
        }
        let fd = res;
        if self.shutting_down {
            // SAFETY: closing a socket we just accepted and own.
            unsafe { libc::close(fd) };
            return;
        }
        bump(&self.stats().total_connections, 1);
        let max = self.config.maxclients;
        if self.shared.clients.fetch_add(1, Ordering::Relaxed) >= max {
            self.shared.clients.fetch_sub(1, Ordering::Relaxed);
            bump(&self.stats().rejected_connections, 1);
            let msg = b"-ERR max number of clients reached\r\n";
            // SAFETY: best-effort write of a constant to a socket we own, then close it.
            unsafe {
                libc::send(
                    fd,
                    msg.as_ptr() as *const libc::c_void,
                    msg.len(),
                    libc::MSG_NOSIGNAL,
                );
                libc::close(fd);
            }
            return;
        }
        bump(&self.stats().connected_clients, 1);
        set_nodelay(fd);
        let id = self.alloc_conn(fd);
        let requirepass = self.config.requirepass.is_some();
        if let Some(c) = self.conn_mut(id) {
            c.authenticated = !requirepass;
        }
        self.arm_recv(id);
    }

    fn on_recv(&mut self, id: ConnId, res: i32, flags: u32) {
        let limit = self.config.client_query_buffer_limit;
        let backlog = self.config.client_input_backlog;
        let now = self.now_ms;
        let bid = io_uring::cqueue::buffer_select(flags);
        let Some(c) = self
            .conns
            .get_mut(id.idx as usize)
            .and_then(|c| c.as_mut())
            .filter(|c| c.id.gen == id.gen)
        else {
            if let Some(bid) = bid {
                self.bufs.recycle(bid);
            }
            return;
        };
        if !io_uring::cqueue::more(flags) {
            c.recv_inflight = false;
            c.recv_cancelled = false;
        }
        if res <= 0 {
            if let Some(bid) = bid {
                self.bufs.recycle(bid);
            }
            if res == -libc::ECANCELED {
                // Paused while its backlog drains (see client-input-backlog). Its turns may
                // already have caught up: arm_recv re-arms it unless the pause still holds, and
                // then the connection is listed for a turn, whose end re-arms it.
                if c.closing.is_some() {
                    self.close_if_idle(id);
                } else {
                    self.arm_recv(id);
                }
                return;
            }
            if res == -libc::ENOBUFS || res == -libc::EINTR || res == -libc::EAGAIN {
                // Out of provided buffers (or interrupted): re-arm once this iteration is done.
                if !c.recv_inflight {
                    self.ready.push(id);
                }
                return;
            }
            // The peer hung up (0) or failed: send what its earlier requests produced (a
            // half-closed client still reads), then close.
            c.closing = Some(if res == 0 {
                crate::conn::Closing::Eof
            } else {
                crate::conn::Closing::Now
            });
            if res == 0 && c.input_queued {
                // Input received before the hang-up still runs in its turn, which then closes.
                return;
            }
            self.close_if_idle(id);
            return;
        }
        if let Some(bid) = bid {
            c.inbuf.extend_from_slice(self.bufs.data(bid, res as usize));
            self.bufs.recycle(bid);
        }
        c.last_interaction_ms = now;
        bump(&self.shared.stats[self.id].net_input_bytes, res as u64);
        let c = self.conns[id.idx as usize].as_mut().expect("checked above");
        if c.inbuf.len() - c.rpos > limit {
            tracing::warn!(
                client = c.client_id,
                "closing client that reached max query buffer length"
            );
            c.closing = Some(crate::conn::Closing::Now);
            self.close_if_idle(id);
            return;
        }
        if !c.input_queued {
            c.input_queued = true;
            self.received.push(id);
        }
        if c.turn_over && c.recv_inflight && !c.recv_cancelled && c.inbuf.len() - c.rpos > backlog {
            // It sends faster than its turns run: stop receiving until the backlog drains, so
            // its data waits in the socket (and the sender) rather than here.
            c.recv_cancelled = true;
            tracing::debug!(
                client = c.client_id,
                backlog = c.inbuf.len() - c.rpos,
                "receive paused until the backlog drains"
            );
            let e = opcode::AsyncCancel::new(Token::new(Op::Recv, id.gen, id.idx).0)
                .build()
                .user_data(Token::new(Op::Cancel, id.gen, id.idx).0);
            self.ring.push(e);
        }
    }

    fn on_send(&mut self, id: ConnId, res: i32) {
        let Some(c) = self.conn_mut(id) else { return };
        c.send_inflight = false;
        if res < 0 {
            if res == -libc::EAGAIN || res == -libc::EINTR {
                self.start_send(id);
                return;
            }
            c.closing = Some(crate::conn::Closing::Now);
            c.out.clear();
            c.sending.clear();
            c.send_off = 0;
            self.close_if_idle(id);
            return;
        }
        c.send_off += res as usize;
        bump(&self.shared.stats[self.id].net_output_bytes, res as u64);
        let c = self.conns[id.idx as usize].as_mut().expect("checked above");
        if c.send_off < c.sending.len() || !c.out.is_empty() {
            self.start_send(id);
            return;
        }
        // Everything sent: release a large buffer so idle clients hold little memory.
        if c.sending.capacity() > 1 << 20 {
            c.sending = Vec::new();
        }
        c.send_off = 0;
        c.sending.clear();
        if c.resume_after_send && c.closing.is_none_or(|x| x == crate::conn::Closing::Eof) {
            // The client was paused because its output grew large; continue its pipeline (a
            // client that hung up still gets what it sent before).
            c.resume_after_send = false;
            self.ready.push(id);
        } else if c.closing.is_some() {
            self.close_if_idle(id);
        }
    }

    /// Closes the connection once nothing is in flight for it.
    pub fn close_if_idle(&mut self, id: ConnId) {
        // A client that leaves while blocked stops waiting.
        if self
            .conn_mut(id)
            .is_some_and(|c| matches!(c.pending, Some(crate::conn::Pending::Blocked(_))))
        {
            self.cancel_blocked(id);
        }
        let Some(c) = self.conn_mut(id) else { return };
        if c.pending.is_some() {
            return; // finishes its cross-shard work first; closed when it resumes
        }
        if c.closing == Some(crate::conn::Closing::Eof) && (c.turn_over || c.resume_after_send) {
            return; // runs what it sent before hanging up first; its last turn closes it
        }
        if c.closing.is_some_and(|x| x.flushes())
            && (!c.out.is_empty() || c.send_off < c.sending.len())
        {
            self.start_send(id);
            return;
        }
        if c.send_inflight {
            if c.closing == Some(crate::conn::Closing::Now) {
                // A send the peer is not reading would wait forever: shutting the socket down
                // ends it, and its completion frees the connection.
                // SAFETY: shutting down our own socket.
                unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
            }
            return;
        }
        if c.recv_inflight {
            // SAFETY: shutting down our own socket makes the pending receive complete.
            unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
            return;
        }
        self.free_conn(id);
    }

    fn handle_msg(&mut self, m: Msg) {
        match m {
            Msg::Batch(b) => self.run_batch(b),
            Msg::BatchDone(b) => self.batch_done(b),
            Msg::Step { from, conn, idx, f } => {
                let out = f(self);
                if !out.is::<crate::txn::Deferred>() {
                    self.send(from, Msg::StepDone { conn, idx, out });
                }
            }
            Msg::StepDone { conn, idx, out } => self.step_done(conn, idx, out),
            Msg::Call(f) => f(self),
        }
        // What a step from another shard wrote (a part of a cross-shard command).
        if self.settings.notify != 0 {
            self.publish_key_events();
        }
    }

    pub fn reload_config(&mut self) {
        let epoch = self.shared.config_epoch.load(Ordering::Acquire);
        if epoch != self.config_epoch {
            self.config_epoch = epoch;
            self.config = self.shared.config.load_full();
            self.settings.proto_max_bulk_len = self.config.proto_max_bulk_len;
            self.settings.lfu_policy = self.config.lfu();
            self.settings.limits = self.config.limits;
            self.settings.busy_threshold_ms = self.config.busy_reply_threshold;
            let notify = shoal_data::events::active(self.config.notify_keyspace_events);
            if notify != self.settings.notify {
                self.settings.notify = notify;
                self.keyspace.set_notify(notify);
            }
        }
    }

    fn cron(&mut self) {
        self.reload_config();
        crate::slab::collect();
        self.shared.stats[self.id]
            .used_memory
            .store(crate::mem::thread_allocated(), Ordering::Relaxed);
        let mut expired = 0;
        for db in self.keyspace.dbs_mut() {
            expired += db.active_expire(self.now_ms, 2000);
        }
        if expired > 0 {
            bump(&self.shared.stats[self.id].expired_keys, expired as u64);
            if self.settings.notify != 0 {
                self.publish_key_events();
            }
        }
        self.sample_ops();
        let hz = self.config.hz.max(1);
        self.next_cron = Instant::now() + Duration::from_millis(1000 / hz as u64);
    }

    /// Redis's instantaneous metric: the mean of the last 16 per-tick rates.
    fn sample_ops(&mut self) {
        let now = Instant::now();
        let total = self.stats().total_commands.load(Ordering::Relaxed);
        let (t0, n0) = self.ops_last;
        let ms = now.duration_since(t0).as_millis() as u64;
        if ms == 0 {
            return;
        }
        self.ops_samples[self.ops_sample_idx] = total.saturating_sub(n0) * 1000 / ms;
        self.ops_sample_idx = (self.ops_sample_idx + 1) % self.ops_samples.len();
        self.ops_last = (now, total);
        let avg = self.ops_samples.iter().sum::<u64>() / self.ops_samples.len() as u64;
        self.stats().instantaneous_ops.store(avg, Ordering::Relaxed);
    }

    /// Runs `f` on this shard after `delay`.
    pub fn after(&mut self, delay: Duration, f: Timer) {
        self.timers.push((Instant::now() + delay, f));
    }

    fn fire_timers(&mut self, now: Instant) {
        let mut due = vec![];
        let mut i = 0;
        while i < self.timers.len() {
            if self.timers[i].0 <= now {
                due.push(self.timers.swap_remove(i).1);
            } else {
                i += 1;
            }
        }
        for f in due {
            f(self);
        }
    }

    fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        for fd in std::mem::take(&mut self.listeners) {
            // SAFETY: closing our listener; the multishot accept completes with an error.
            unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
                libc::close(fd);
            }
        }
        let ids: Vec<ConnId> = self.conns.iter().flatten().map(|c| c.id).collect();
        for id in ids {
            if let Some(c) = self.conn_mut(id) {
                if c.closing.is_none() {
                    c.closing = Some(crate::conn::Closing::AfterFlush);
                }
            }
            self.close_if_idle(id);
        }
    }

    /// Runs the event loop until shutdown.
    /// One send per connection with replies.
    fn flush_replies(&mut self) {
        let mut flush = std::mem::take(&mut self.flush);
        for &id in &flush {
            if let Some(c) = self.conn_mut(id) {
                c.queued_flush = false;
            }
            self.start_send(id);
        }
        flush.clear();
        self.flush = flush;
    }

    pub fn run(&mut self) {
        for i in 0..self.listeners.len() {
            self.arm_accept(i);
        }
        self.arm_wake();
        let mut shutdown_deadline: Option<Instant> = None;
        loop {
            self.now_ms = unix_ms();
            if self.shared.shutdown.load(Ordering::Relaxed) && !self.shutting_down {
                self.begin_shutdown();
                shutdown_deadline = Some(Instant::now() + Duration::from_secs(2));
            }
            // Messages from other shards.
            let mut n = 0;
            while let Some(m) = self.shared.mailboxes[self.id].pop() {
                // A CONFIG SET made before the message was sent applies to it (one atomic
                // load when nothing changed).
                self.reload_config();
                self.handle_msg(m);
                n += 1;
                if n >= 4096 {
                    break;
                }
            }
            // Completions.
            let mut cqes = std::mem::take(&mut self.cqes);
            self.ring.reap(&mut cqes);

            for &(tok, res, flags) in &cqes {
                match tok.op() {
                    x if x == Op::Accept as u8 => self.on_accept(tok.idx() as usize, res, flags),
                    x if x == Op::Recv as u8 => self.on_recv(
                        ConnId {
                            idx: tok.idx(),
                            gen: tok.gen(),
                        },
                        res,
                        flags,
                    ),
                    x if x == Op::Send as u8 => self.on_send(
                        ConnId {
                            idx: tok.idx(),
                            gen: tok.gen(),
                        },
                        res,
                    ),
                    x if x == Op::Wake as u8 => self.arm_wake(),
                    _ => {}
                }
            }
            cqes.clear();
            self.cqes = cqes;
            // Every connection with new input gets a turn, then those with input left over from
            // their last turn. When there are such, the replies to the new input leave first: a
            // client behind a heavy pipeliner waits for one of its turns, not two.
            let mut turns = std::mem::take(&mut self.received);
            let mut behind = std::mem::take(&mut self.backlog);
            for &id in turns.iter().chain(&behind) {
                if let Some(c) = self.conn_mut(id) {
                    c.input_queued = false;
                }
            }
            for &id in &turns {
                self.process_conn(id);
            }
            if !behind.is_empty() && !self.flush.is_empty() {
                self.flush_replies();
                if let Err(e) = self.ring.submit_and_wait(0, None) {
                    tracing::warn!("io_uring submit failed: {e}");
                }
            }
            for &id in &behind {
                self.process_conn(id);
            }
            turns.clear();
            self.received = turns;
            behind.clear();
            if self.backlog.is_empty() {
                self.backlog = behind;
            }
            // Cron and timers (their messages and replies go out with this iteration's).
            let now = Instant::now();
            if now >= self.next_cron {
                self.cron();
            }
            if !self.timers.is_empty() {
                self.fire_timers(now);
            }
            // Connections resumed by replies from other shards or by released locks.
            while let Some(id) = self.ready.pop() {
                self.process_conn(id);
            }
            if !self.notes.ready.is_empty() {
                self.serve_ready();
            }
            self.flush_replies();
            for to in 0..self.wake.len() {
                if self.wake[to] {
                    self.wake[to] = false;
                    self.shared.mailboxes[to].wake();
                }
            }
            if let Some(d) = shutdown_deadline {
                let busy = self
                    .conns
                    .iter()
                    .flatten()
                    .any(|c| c.send_inflight || c.pending.is_some());
                if !busy || Instant::now() >= d {
                    break;
                }
            }
            // Park in the kernel until a completion, a message or the next cron tick.
            let mailbox = &self.shared.mailboxes[self.id];
            let wait = if !self.ready.is_empty() || !self.backlog.is_empty() {
                Some(Duration::ZERO)
            } else if mailbox.park() {
                let mut until = self.next_cron;
                for (t, _) in &self.timers {
                    until = until.min(*t);
                }
                Some(until.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            let timeout = if shutdown_deadline.is_some() {
                Some(Duration::from_millis(10))
            } else {
                wait
            };
            if let Err(e) = self.ring.submit_and_wait(1, timeout) {
                tracing::error!(shard = self.id, "io_uring wait failed: {e}");
            }
            self.shared.mailboxes[self.id].unpark();
        }
        let ids: Vec<ConnId> = self.conns.iter().flatten().map(|c| c.id).collect();
        for id in ids {
            self.free_conn(id);
        }
    }
}

fn set_nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: setting an int socket option on a socket we own.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        );
    }
}
