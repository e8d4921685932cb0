//! Clients blocked on keys (BLPOP, BLMOVE, BLMPOP, BZPOPMIN...), whichever cores the client and
//! the keys live on.
//!
//! A blocking command always runs as a cross-shard command from the client's shard (its home):
//! it locks its keys, runs over copies, and if it found nothing to serve it asks to block. While
//! the locks are still held, every shard owning one of its keys records a waiter for the key, so
//! no push can slip between the check and the registration. The waiter carries a claim token
//! shared by all of the client's registrations and its timeout: whoever sets the token first
//! (a shard whose key became ready, the timeout, a disconnect) decides what happens, exactly once.
//!
//! When a write makes a watched key ready, its shard serves the key's oldest waiter that takes
//! elements (and wakes every XREAD waiting there, since reading an entry takes nothing), right
//! after the command that wrote and before it runs another. A list or sorted-set pop whose keys
//! all live on this shard runs here and then, and its reply goes to the client's home, so no
//! later command can take the element first (Redis's order). Any other waiter is woken: its
//! home runs the command again, through the locks, and that command's write-back makes the key
//! ready again while elements are left. Either way the next waiter is served next, so clients
//! are served in the order they blocked. A woken client that finds the key emptied by another
//! command in between blocks again.
//! Nothing polls: a blocked client costs a map entry per key until it is served, times out or
//! disconnects.

use crate::conn::Pending;
use crate::mesh::{ConnId, Msg};
use crate::shard::Shard;
use crate::txn::ArgsBuf;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One client blocked on one key, as its key's shard records it.
#[derive(Clone)]
pub struct Waiter {
    /// The client's shard and connection.
    pub home: usize,
    pub conn: ConnId,
    /// Set once by whoever ends the wait.
    pub token: Arc<AtomicBool>,
    /// The client only reads (XREAD): serving it leaves the key as it was.
    pub reads: bool,
    /// Set when every key of the command lives on this shard: the command is served here, as
    /// soon as the key is ready.
    pub serve: Option<Arc<Serve>>,
}

/// What a shard needs to serve a blocked command itself (all its keys are the shard's own).
pub struct Serve {
    pub args: ArgsBuf,
    pub f: shoal_commands::registry::ShardFn,
    pub proto: shoal_protocol::Protocol,
    /// The type the command pops from (a key of another type does not serve it, as in Redis).
    pub want: shoal_data::ValueType,
}

/// A wake-up that reached a client's home before the client finished blocking: the key's
/// shard claimed the waiter between registering it (under the command's locks) and the home
/// marking the connection blocked. `block_conn` acts on it.
pub enum EarlyWake {
    /// The key's shard served the command: its reply.
    Served(Vec<u8>),
    /// A key became ready: run the command again.
    Wake,
}

/// The keys a shard's clients are blocked on, per (database, key), oldest first.
pub type Waiters = hashbrown::HashMap<(usize, Vec<u8>), VecDeque<Waiter>>;

/// A blocked client, as its home shard keeps it.
pub struct Blocked {
    /// The command to run again when woken.
    pub args: ArgsBuf,
    pub token: Arc<AtomicBool>,
    /// Where it is registered: (shard, database, key).
    pub regs: Vec<(usize, usize, Vec<u8>)>,
}

impl Shard {
    /// Records `w` as a waiter on each of `keys` of database `db` on this shard (called under
    /// the command's locks).
    pub fn add_waiters(&mut self, db: usize, keys: Vec<Vec<u8>>, w: Waiter) {
        for k in keys {
            self.waiters
                .entry((db, k))
                .or_default()
                .push_back(w.clone());
        }
        self.notes.watching = !self.waiters.is_empty();
    }

    /// Drops the waiters of `keys` whose wait has ended.
    pub fn prune_waiters(&mut self, db: usize, keys: Vec<Vec<u8>>) {
        for k in keys {
            let key = (db, k);
            if let Some(q) = self.waiters.get_mut(&key) {
                q.retain(|w| !w.token.load(Ordering::Acquire));
                if q.is_empty() {
                    self.waiters.remove(&key);
                }
            }
        }
        self.notes.watching = !self.waiters.is_empty();
    }

    /// Serves the waiters of the keys that writes made ready. Called right after the command
    /// that wrote, before this shard runs another, so that (as in Redis) a blocked client gets
    /// a pushed element before any later command can take it.
    pub fn serve_ready(&mut self) {
        while !self.notes.ready.is_empty() {
            let ready = std::mem::take(&mut self.notes.ready);
            for (db, key) in ready {
                self.serve_key(db, key);
            }
        }
        self.notes.watching = !self.waiters.is_empty();
    }

    fn serve_key(&mut self, db: usize, key: Vec<u8>) {
        if self.owner(&key) != self.id {
            return;
        }
        let now = self.now_ms;
        let Some(ty) = self
            .keyspace
            .db(db)
            .get_mut(&key, now)
            .map(|e| e.value_type())
        else {
            return;
        };
        let entry = (db, key);
        let Some(q) = self.waiters.get_mut(&entry) else {
            return;
        };
        // The oldest waiter that takes elements, and every reader (XREAD) on the way.
        let mut woken: Vec<(usize, ConnId)> = vec![];
        let mut served: Option<(usize, ConnId, Arc<Serve>)> = None;
        let mut taker = false;
        let mut kept = VecDeque::new();
        while let Some(w) = q.pop_front() {
            if w.token.load(Ordering::Acquire) {
                continue;
            }
            let wrong_type = w.serve.as_ref().is_some_and(|sv| sv.want != ty);
            if (taker && !w.reads) || wrong_type {
                kept.push_back(w);
                continue;
            }
            if w.token
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                taker |= !w.reads;
                match w.serve {
                    Some(sv) => served = Some((w.home, w.conn, sv)),
                    None => woken.push((w.home, w.conn)),
                }
            }
        }
        *q = kept;
        let more = !q.is_empty();
        if !more {
            self.waiters.remove(&entry);
        }
        // A cross-shard command holding one of its keys: run it again from its home instead,
        // through the locks.
        let served = served.filter(|(home, conn, sv)| {
            let args = sv.args.args();
            let locked = match self.commands.lookup(&args) {
                shoal_commands::Lookup::Found(c) => self.locks.blocks(c, &args),
                _ => true,
            };
            if locked {
                woken.push((*home, *conn));
            }
            !locked
        });
        if let Some((home, conn, sv)) = served {
            // Pop here and now; the reply goes to the client's shard. Then the next waiter, if
            // elements are left.
            let mut out = Vec::new();
            self.run_handler(sv.f, sv.args.args(), db, sv.proto, false, &mut out);
            if more {
                self.notes.ready.push(entry);
            }
            if home == self.id {
                self.finish_served(conn, out);
            } else {
                self.send(
                    home,
                    Msg::Call(Box::new(move |h: &mut Shard| h.finish_served(conn, out))),
                );
            }
        }
        for (home, conn) in woken {
            if home == self.id {
                self.wake_blocked(conn);
            } else {
                self.send(
                    home,
                    Msg::Call(Box::new(move |h: &mut Shard| h.wake_blocked(conn))),
                );
            }
        }
    }

    /// A blocked client was served by the shard of its keys: deliver the reply and go on with
    /// its pipeline. (A client that left meanwhile loses the element, as a Redis client that
    /// disconnects while its reply is on the way.)
    pub fn finish_served(&mut self, id: ConnId, out: Vec<u8>) {
        let Some(b) = self.take_blocked(id) else {
            self.keep_early(id, EarlyWake::Served(out));
            return;
        };
        self.unregister(b.regs);
        self.reply_with(id, |r| r.raw(&out));
        self.resume(id);
    }

    /// A wake-up for a client that is not blocked yet (see [`EarlyWake`]).
    fn keep_early(&mut self, id: ConnId, wake: EarlyWake) {
        if let Some(c) = self.conn_mut(id) {
            if !matches!(c.pending, Some(Pending::Blocked(_))) {
                c.early_wake = Some(wake);
            }
        }
    }

    /// Starts waiting: the command found nothing and its waiters are registered.
    pub fn block_conn(&mut self, id: ConnId, b: Blocked, timeout_ms: u64) {
        let token = b.token.clone();
        let Some(c) = self.conn_mut(id) else {
            // The client left while the command ran.
            token.store(true, Ordering::Release);
            self.unregister(b.regs);
            return;
        };
        // A key's shard may have claimed the wait already, and its message may be here.
        if let Some(early) = c.early_wake.take() {
            self.unregister(b.regs);
            match early {
                EarlyWake::Served(out) => {
                    self.reply_with(id, |r| r.raw(&out));
                    self.resume(id);
                }
                EarlyWake::Wake => crate::txn::rerun_blocked(self, id, b.args),
            }
            return;
        }
        let Some(c) = self.conn_mut(id) else { return };
        c.pending = Some(Pending::Blocked(Box::new(b)));
        self.blocked_clients += 1;
        crate::shard::bump(&self.shared.stats[self.id].blocked_clients, 1);
        if timeout_ms > 0 {
            self.after(
                Duration::from_millis(timeout_ms),
                Box::new(move |sh: &mut Shard| {
                    if token
                        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        if let Some(b) = sh.take_blocked(id) {
                            // Every blocking command times out with a null array.
                            sh.unregister(b.regs);
                            sh.reply_with(id, |r| r.null_array());
                            sh.resume(id);
                        }
                    }
                }),
            );
        }
    }

    /// Ends a client's wait without serving it (disconnect): true when it was blocked.
    pub fn cancel_blocked(&mut self, id: ConnId) -> bool {
        match self.conn_mut(id).and_then(|c| c.pending.as_ref()) {
            // A wake already on its way finds the connection gone or no longer blocked.
            Some(Pending::Blocked(b)) => b.token.store(true, Ordering::Release),
            _ => return false,
        }
        if let Some(b) = self.take_blocked(id) {
            self.unregister(b.regs);
        }
        true
    }

    /// CLIENT UNBLOCK: ends a blocked client's wait as a timeout would, or with an error.
    pub fn unblock(&mut self, id: ConnId, error: bool) -> bool {
        let claimed = match self.conn_mut(id).and_then(|c| c.pending.as_ref()) {
            Some(Pending::Blocked(b)) => b
                .token
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok(),
            _ => false,
        };
        if !claimed {
            return false;
        }
        let Some(b) = self.take_blocked(id) else {
            return false;
        };
        self.unregister(b.regs);
        self.reply_with(id, |r| {
            if error {
                r.error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
            } else {
                r.null_array()
            }
        });
        self.resume(id);
        true
    }

    fn take_blocked(&mut self, id: ConnId) -> Option<Box<Blocked>> {
        let c = self.conn_mut(id)?;
        match c.pending.take() {
            Some(Pending::Blocked(b)) => {
                self.blocked_clients -= 1;
                let s = &self.shared.stats[self.id].blocked_clients;
                s.store(
                    s.load(Ordering::Relaxed).saturating_sub(1),
                    Ordering::Relaxed,
                );
                Some(b)
            }
            other => {
                c.pending = other;
                None
            }
        }
    }

    /// Removes ended waiters from the shards they were registered on.
    fn unregister(&mut self, regs: Vec<(usize, usize, Vec<u8>)>) {
        let mut by_shard: Vec<(usize, usize, Vec<Vec<u8>>)> = vec![];
        for (s, db, k) in regs {
            match by_shard.iter_mut().find(|(x, d, _)| *x == s && *d == db) {
                Some((_, _, v)) => v.push(k),
                None => by_shard.push((s, db, vec![k])),
            }
        }
        for (s, db, keys) in by_shard {
            if s == self.id {
                self.prune_waiters(db, keys);
            } else {
                self.send(
                    s,
                    Msg::Call(Box::new(move |x: &mut Shard| x.prune_waiters(db, keys))),
                );
            }
        }
    }

    /// A key this client waits on became ready (its token is already claimed for it): run the
    /// command again.
    pub fn wake_blocked(&mut self, id: ConnId) {
        let Some(b) = self.take_blocked(id) else {
            self.keep_early(id, EarlyWake::Wake);
            return;
        };
        self.unregister(b.regs);
        crate::txn::rerun_blocked(self, id, b.args);
    }
}
