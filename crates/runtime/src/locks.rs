//! Key locks held by cross-shard transactions on this shard.
//!
//! A transaction locks its keys on every shard it touches before it executes, so no other client
//! observes it half-applied. Deadlock is impossible by wait-die: a request that conflicts waits
//! only if its transaction is older (smaller id) than every conflicting holder, otherwise it dies
//! and the coordinator releases its locks and retries with the same id, which eventually makes
//! it the oldest. Plain commands touching a locked key wait until it is released.

use crate::mesh::ConnId;
use hashbrown::HashMap;
use shoal_commands::Command;
use shoal_protocol::Args;

/// One key a transaction locks.
#[derive(Clone, Debug)]
pub struct LockKey {
    pub db: usize,
    pub key: Box<[u8]>,
    /// Exclusive (writes) or shared (reads).
    pub write: bool,
}

#[derive(Default, Debug)]
struct KeyLock {
    writer: Option<u64>,
    readers: Vec<u64>,
}

/// A lock request waiting for older... younger holders to finish.
pub struct Waiter {
    pub tx: u64,
    pub keys: Vec<LockKey>,
    pub from: usize,
    pub conn: ConnId,
    pub idx: u32,
}

/// Outcome of a lock request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOutcome {
    Granted,
    /// Conflicts with an older transaction: release everything and retry.
    Died,
    /// Queued behind younger holders; answered when granted.
    Queued,
}

/// The locks of one shard.
#[derive(Default)]
pub struct LockTable {
    dbs: HashMap<usize, HashMap<Box<[u8]>, KeyLock>>,
    held: HashMap<u64, Vec<LockKey>>,
    pub waiters: Vec<Waiter>,
}

impl LockTable {
    /// True when no key is locked.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The smallest id among transactions holding or awaiting conflicting locks on `keys`.
    fn oldest_conflict(&self, tx: u64, keys: &[LockKey]) -> Option<u64> {
        let mut min = self.oldest_holder_conflict(tx, keys);
        // Queued requests count as holders: a younger request must not overtake an older one
        // that waits (else a stream of readers could starve a writer forever).
        for w in &self.waiters {
            if w.tx == tx {
                continue;
            }
            let clash = w.keys.iter().any(|wk| {
                keys.iter()
                    .any(|k| k.db == wk.db && k.key == wk.key && (k.write || wk.write))
            });
            if clash {
                min = Some(min.map_or(w.tx, |m| m.min(w.tx)));
            }
        }
        min
    }

    /// Like `oldest_conflict`, but only against granted locks (used when re-deciding waiters).
    fn oldest_holder_conflict(&self, tx: u64, keys: &[LockKey]) -> Option<u64> {
        let mut min: Option<u64> = None;
        for k in keys {
            let Some(l) = self.dbs.get(&k.db).and_then(|m| m.get(&k.key)) else {
                continue;
            };
            let mut note = |h: u64| {
                if h != tx {
                    min = Some(min.map_or(h, |m| m.min(h)));
                }
            };
            if let Some(w) = l.writer {
                note(w);
            }
            if k.write {
                for &r in &l.readers {
                    note(r);
                }
            }
        }
        min
    }

    fn grant(&mut self, tx: u64, keys: Vec<LockKey>) {
        for k in &keys {
            let l = self
                .dbs
                .entry(k.db)
                .or_default()
                .entry(k.key.clone())
                .or_default();
            if k.write {
                l.writer = Some(tx);
            } else if !l.readers.contains(&tx) {
                l.readers.push(tx);
            }
        }
        self.held.entry(tx).or_default().extend(keys);
    }

    /// Tries to lock `keys` for `tx`; a request that must wait is queued with its reply route.
    pub fn acquire(
        &mut self,
        tx: u64,
        keys: Vec<LockKey>,
        route: (usize, ConnId, u32),
    ) -> LockOutcome {
        match self.oldest_conflict(tx, &keys) {
            None => {
                self.grant(tx, keys);
                LockOutcome::Granted
            }
            Some(holder) if tx < holder => {
                self.waiters.push(Waiter {
                    tx,
                    keys,
                    from: route.0,
                    conn: route.1,
                    idx: route.2,
                });
                LockOutcome::Queued
            }
            Some(_) => LockOutcome::Died,
        }
    }

    /// Releases everything `tx` holds here; returns queued requests now decided (granted or died).
    pub fn release(&mut self, tx: u64) -> Vec<(Waiter, LockOutcome)> {
        // A transaction that died while queued here must not stay queued.
        self.waiters.retain(|w| w.tx != tx);
        if let Some(keys) = self.held.remove(&tx) {
            for k in keys {
                if let Some(m) = self.dbs.get_mut(&k.db) {
                    if let Some(l) = m.get_mut(&k.key) {
                        if l.writer == Some(tx) {
                            l.writer = None;
                        }
                        l.readers.retain(|&r| r != tx);
                        if l.writer.is_none() && l.readers.is_empty() {
                            m.remove(&k.key);
                        }
                    }
                }
            }
        }
        let mut decided = vec![];
        let waiters = std::mem::take(&mut self.waiters);
        tracing::trace!(tx, waiters = waiters.len(), "release");
        for w in waiters {
            match self.oldest_holder_conflict(w.tx, &w.keys) {
                None => {
                    let keys = w.keys.clone();
                    self.grant(w.tx, keys);
                    decided.push((w, LockOutcome::Granted));
                }
                // Still older than every holder: keep waiting (wait-die invariant holds).
                Some(h) if w.tx < h => self.waiters.push(w),
                Some(_) => decided.push((w, LockOutcome::Died)),
            }
        }
        decided
    }

    /// Whether a plain command must wait: it touches a key locked by a transaction (any lock
    /// for writes, a write lock for reads). A key locked in any database counts: COPY ... DB n
    /// reaches into another database than the client's, and same-named keys in two databases
    /// being locked at once is rare enough that waiting for them costs nothing.
    #[inline]
    pub fn blocks(&self, cmd: &Command, args: &Args<'_>) -> bool {
        if self.held.is_empty() {
            return false;
        }
        let locked = |i: usize| {
            self.dbs.values().any(|m| {
                m.get(args.get(i))
                    .is_some_and(|l| l.writer.is_some() || (cmd.write && !l.readers.is_empty()))
            })
        };
        if cmd.movable {
            return cmd.key_positions(args).into_iter().any(locked);
        }
        let (first, last, step) = cmd.key_range(args.len());
        first > 0 && (first..=last).step_by(step).any(locked)
    }
}
