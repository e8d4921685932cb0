//! MULTI / EXEC / DISCARD / WATCH / UNWATCH.
//!
//! MULTI makes the connection queue its commands (each answered `+QUEUED`; a command that
//! cannot be queued is refused and dooms the transaction to EXECABORT, as in Redis). EXEC runs
//! the queue as one cross-shard transaction: it locks every key the queued commands name (and
//! the watched ones) on every shard involved, checks the watches under those locks, and runs
//! the commands in order while the locks are held, so no other client sees a state between
//! them. Keys on one shard are worked on in place by that shard; keys on several are copied to
//! the client's shard, worked on there and written back, as a Gather command is.
//!
//! WATCH registers a flag on the shard owning each key (before it replies, so no write can slip
//! in between). Every write that changes a watched key sets its flags; EXEC finds a set flag, or
//! a key alive at WATCH that has since expired, and answers a null array without running
//! anything.

use crate::conn::Step;
use crate::mesh::{ConnId, Msg, StepFn, StepOut};
use crate::shard::Shard;
use crate::txn::{gather_body, ArgsBuf, Client, GatherJob, WatchedKey};
use shoal_commands::registry::ShardFn;
use shoal_commands::{Command, Ctx, Handler, RuntimeCmd};
use shoal_protocol::{Args, Reply};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A connection inside MULTI.
#[derive(Default)]
pub struct MultiState {
    pub queue: Vec<(ShardFn, ArgsBuf)>,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    pub doomed: bool,
}

/// A connection's watched keys.
pub struct WatchState {
    /// Set by any write to one of the keys.
    pub flag: Arc<AtomicBool>,
    pub keys: Vec<WatchedKey>,
}

/// A database and a key.
type DbKey = (usize, Vec<u8>);

/// The flags watching each (database, key) of a shard.
pub type Watchers = hashbrown::HashMap<DbKey, Vec<Arc<AtomicBool>>>;

/// PING inside MULTI (PING is the runtime's; inside a transaction it is queued like any other).
fn ping(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if args.len() > 1 {
        ctx.reply.bulk(args.get(1));
    } else {
        ctx.reply.simple("PONG");
    }
}

/// ECHO inside MULTI.
fn echo(ctx: &mut Ctx<'_>, args: Args<'_>) {
    ctx.reply.bulk(args.get(1));
}

/// UNWATCH inside MULTI.
fn unwatch_queued(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    ctx.reply.ok();
}

const NOT_IN_MULTI: &str = "ERR Command not allowed inside a transaction";

impl Shard {
    /// For a connection that is subscribed or inside MULTI: refuses what RESP2 subscribe mode
    /// does not allow, or queues what MULTI queues. Some(step) when it did (Retry while a batch
    /// for another shard is open, so that earlier replies go first); None to run the command.
    pub fn gate_client_state(
        &mut self,
        id: ConnId,
        cmd: &Command,
        args: &Args<'_>,
        batch_open: bool,
    ) -> Option<Step> {
        use RuntimeCmd as R;
        let r = match cmd.handler {
            Handler::Runtime(r) => Some(r),
            Handler::Shard(_) => None,
        };
        if self.in_subscribe_mode(id)
            && !matches!(
                r,
                Some(
                    R::Subscribe
                        | R::Unsubscribe
                        | R::Psubscribe
                        | R::Punsubscribe
                        | R::Ssubscribe
                        | R::Sunsubscribe
                        | R::Ping
                        | R::Quit
                        | R::Reset
                )
            )
        {
            if batch_open {
                return Some(Step::Retry);
            }
            let msg = Shard::subscribe_mode_error(cmd.spec.name);
            self.reject(id, cmd, &msg);
            return Some(Step::Done);
        }
        let queued = self.conn_mut(id).is_some_and(|c| c.multi.is_some())
            && !matches!(
                r,
                Some(R::Exec | R::Discard | R::Multi | R::Watch | R::Quit | R::Reset)
            );
        if !queued {
            return None;
        }
        if batch_open {
            return Some(Step::Retry);
        }
        self.queue_in_multi(id, cmd, args);
        Some(Step::Done)
    }

    /// A command was refused inside MULTI: EXEC will abort.
    pub fn doom_multi(&mut self, id: ConnId) {
        if let Some(m) = self.conn_mut(id).and_then(|c| c.multi.as_mut()) {
            m.doomed = true;
        }
    }

    /// Queues `cmd` for EXEC, or refuses it (and dooms the transaction).
    pub fn queue_in_multi(&mut self, id: ConnId, cmd: &Command, args: &Args<'_>) {
        let f: Option<ShardFn> = match cmd.handler {
            _ if cmd.spec.flags.contains(&"no_multi") => None,
            Handler::Shard(f) => Some(f),
            Handler::Runtime(RuntimeCmd::Ping) => Some(ping),
            Handler::Runtime(RuntimeCmd::Echo) => Some(echo),
            // Queued, as in Redis; EXEC drops the watches anyway.
            Handler::Runtime(RuntimeCmd::Unwatch) => Some(unwatch_queued),
            // Commands the runtime runs itself (SELECT, INFO, FLUSHDB...) cannot run inside
            // the transaction's locks.
            Handler::Runtime(_) => None,
        };
        let Some(c) = self.conn_mut(id) else { return };
        let Some(m) = c.multi.as_mut() else { return };
        match f {
            Some(f) => {
                m.queue.push((f, ArgsBuf::from_args(args)));
                c.reply().simple("QUEUED");
            }
            None => {
                m.doomed = true;
                c.reply().error(NOT_IN_MULTI);
            }
        }
    }

    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH.
    pub fn run_multi_cmd(&mut self, id: ConnId, r: RuntimeCmd, args: Args<'_>) -> Step {
        let Some(c) = self.conn_mut(id) else {
            return Step::Done;
        };
        match r {
            RuntimeCmd::Multi => {
                if c.multi.is_some() {
                    c.reply().error("ERR MULTI calls can not be nested");
                } else {
                    c.multi = Some(Box::default());
                    c.reply().ok();
                }
                Step::Done
            }
            RuntimeCmd::Discard => {
                if c.multi.take().is_none() {
                    c.reply().error("ERR DISCARD without MULTI");
                } else {
                    c.reply().ok();
                    self.unwatch_all(id);
                }
                Step::Done
            }
            RuntimeCmd::Unwatch => {
                c.reply().ok();
                self.unwatch_all(id);
                Step::Done
            }
            RuntimeCmd::Watch => {
                if c.multi.is_some() {
                    c.reply().error("ERR WATCH inside MULTI is not allowed");
                    return Step::Done;
                }
                self.watch(id, args)
            }
            RuntimeCmd::Exec => self.exec(id),
            _ => Step::Done,
        }
    }

    /// WATCH: registers the keys on their shards, then replies.
    fn watch(&mut self, id: ConnId, args: Args<'_>) -> Step {
        let Some(c) = self.conn_mut(id) else {
            return Step::Done;
        };
        let db = c.db;
        let flag = c
            .watch
            .get_or_insert_with(|| {
                Box::new(WatchState {
                    flag: Arc::new(AtomicBool::new(false)),
                    keys: vec![],
                })
            })
            .flag
            .clone();
        let mut by_shard: Vec<(usize, Vec<Vec<u8>>)> = vec![];
        for i in 1..args.len() {
            let k = args.get(i);
            let s = self.owner(k);
            match by_shard.iter_mut().find(|(x, _)| *x == s) {
                Some((_, v)) => v.push(k.to_vec()),
                None => by_shard.push((s, vec![k.to_vec()])),
            }
        }
        let steps: Vec<(usize, StepFn)> = by_shard
            .into_iter()
            .map(|(s, keys)| {
                let flag = flag.clone();
                let g: StepFn = Box::new(move |x: &mut Shard| -> StepOut {
                    let now = x.now_ms;
                    let mut out: Vec<WatchedKey> = Vec::with_capacity(keys.len());
                    for k in keys {
                        let alive = x.keyspace.db(db).get_mut(&k, now).is_some();
                        x.watchers
                            .entry((db, k.clone()))
                            .or_default()
                            .push(flag.clone());
                        out.push((db, k, alive));
                    }
                    Box::new(out)
                });
                (s, g)
            })
            .collect();
        self.fan_out(
            id,
            steps,
            Box::new(move |sh: &mut Shard, id: ConnId, results: Vec<StepOut>| {
                let Some(c) = sh.conn_mut(id) else { return };
                if let Some(w) = c.watch.as_mut() {
                    for mut r in results {
                        if let Some(v) = r.downcast_mut::<Vec<WatchedKey>>() {
                            w.keys.append(v);
                        }
                    }
                }
                sh.reply_with(id, |r| r.ok());
            }),
        );
        Step::Wait
    }

    /// Forgets the connection's watches, here and on the keys' shards.
    pub fn unwatch_all(&mut self, id: ConnId) {
        if let Some(w) = self.conn_mut(id).and_then(|c| c.watch.take()) {
            self.unregister_watch(&w);
        }
    }

    /// Removes a watch's flags from the keys' shards.
    pub fn unregister_watch(&mut self, w: &WatchState) {
        let mut by_shard: Vec<(usize, Vec<DbKey>)> = vec![];
        for (db, k, _) in &w.keys {
            let s = self.owner(k);
            let dk = (*db, k.clone());
            match by_shard.iter_mut().find(|(x, _)| *x == s) {
                Some((_, v)) => v.push(dk),
                None => by_shard.push((s, vec![dk])),
            }
        }
        for (s, keys) in by_shard {
            let flag = w.flag.clone();
            let f = move |x: &mut Shard| x.drop_watches(keys, &flag);
            if s == self.id {
                f(self);
            } else {
                self.send(s, Msg::Call(Box::new(f)));
            }
        }
    }

    fn drop_watches(&mut self, keys: Vec<(usize, Vec<u8>)>, flag: &Arc<AtomicBool>) {
        for key in keys {
            if let Some(v) = self.watchers.get_mut(&key) {
                v.retain(|f| !Arc::ptr_eq(f, flag));
                if v.is_empty() {
                    self.watchers.remove(&key);
                }
            }
        }
    }

    /// A write changed `key`: the transactions watching it will abort.
    #[inline]
    pub fn touch_watched(&mut self, db: usize, key: &[u8]) {
        if self.watchers.is_empty() {
            return;
        }
        if let Some(v) = self.watchers.remove(&(db, key.to_vec())) {
            for f in v {
                f.store(true, Ordering::Release);
            }
        }
    }

    /// A command changed data (Redis's dirty counter moved): flag the watchers of its keys.
    pub fn touch_cmd_keys(&mut self, cmd: &Command, args: &Args<'_>, db: usize) {
        if self.watchers.is_empty() {
            return;
        }
        for i in cmd.key_positions(args) {
            self.touch_watched(db, args.get(i));
        }
    }

    /// FLUSHDB / FLUSHALL / SWAPDB are about to replace database `db` (with `other`, for
    /// SWAPDB): flag the watchers of its keys that exist in either (as Redis's
    /// touchAllWatchedKeysInDb).
    pub fn touch_watched_db(&mut self, db: usize, other: Option<usize>) {
        if self.watchers.is_empty() {
            return;
        }
        let now = self.now_ms;
        let keys: Vec<(usize, Vec<u8>)> = self
            .watchers
            .keys()
            .filter(|(d, _)| *d == db)
            .cloned()
            .collect();
        for (d, k) in keys {
            let exists = |x: &mut Shard, d: usize| x.keyspace.db(d).get_mut(&k, now).is_some();
            if exists(self, d) || other.is_some_and(|o| exists(self, o)) {
                self.touch_watched(d, &k);
            }
        }
    }

    /// EXEC.
    fn exec(&mut self, id: ConnId) -> Step {
        let Some(c) = self.conn_mut(id) else {
            return Step::Done;
        };
        let Some(m) = c.multi.take() else {
            c.reply().error("ERR EXEC without MULTI");
            return Step::Done;
        };
        let client = Client {
            db: c.db,
            proto: c.proto,
        };
        // The watch stays registered until the transaction holds its locks and has checked
        // it (a write in between must still abort it); it is dropped when EXEC is done.
        let watch = c.watch.take();
        if m.doomed {
            c.reply()
                .error("EXECABORT Transaction discarded because of previous errors.");
            if let Some(w) = watch {
                self.unregister_watch(&w);
            }
            return Step::Done;
        }
        if let Some(w) = watch.as_ref().filter(|w| w.flag.load(Ordering::Acquire)) {
            let _ = w;
            c.reply().null_array();
            if let Some(w) = watch {
                self.unregister_watch(&w);
            }
            return Step::Done;
        }
        // Every key the queue names, write-locked, and the watched ones, read-locked.
        let mut groups: Vec<(usize, Vec<crate::locks::LockKey>)> = vec![];
        let mut add = |sh: &Shard, db: usize, k: &[u8], write: bool| {
            let s = sh.owner(k);
            let g = match groups.iter_mut().position(|(x, _)| *x == s) {
                Some(i) => &mut groups[i].1,
                None => {
                    groups.push((s, vec![]));
                    &mut groups.last_mut().expect("pushed").1
                }
            };
            match g.iter_mut().find(|l| l.db == db && &*l.key == k) {
                Some(l) => l.write |= write,
                None => g.push(crate::locks::LockKey {
                    db,
                    key: k.into(),
                    write,
                }),
            }
        };
        for (_, owned) in &m.queue {
            let args = owned.args();
            if let shoal_commands::Lookup::Found(cmd) = self.commands.lookup(&args) {
                for i in cmd.key_positions(&args) {
                    add(self, client.db, args.get(i), true);
                }
            }
        }
        if let Some(w) = &watch {
            for (db, k, _) in &w.keys {
                add(self, *db, k, false);
            }
        }
        let queue = m.queue;
        if groups.is_empty() {
            // Keyless commands only (PING, ECHO...), and no watched key: nothing to lock.
            let mut out = Vec::new();
            self.run_queue(&queue, client, &mut out);
            self.reply_with(id, |r| r.raw(&out));
            if let Some(w) = watch {
                self.unregister_watch(&w);
            }
            return Step::Done;
        }
        if groups.len() == 1 {
            // One shard: lock there, check the watch and run the queue in place while the
            // locks are held.
            let s = groups[0].0;
            crate::txn::run_tx(
                self,
                id,
                groups,
                Box::new(move |sh, id, tx| {
                    let check = watch.as_ref().map(|w| (w.flag.clone(), w.keys.clone()));
                    let g: StepFn = Box::new(move |x: &mut Shard| -> StepOut {
                        let mut out = Vec::new();
                        let ok = check.as_ref().is_none_or(|(flag, keys)| {
                            !flag.load(Ordering::Acquire) && crate::txn::watched_alive(x, keys)
                        });
                        if ok {
                            x.run_queue(&queue, client, &mut out);
                        } else {
                            Reply::new(&mut out, client.proto).null_array();
                        }
                        Box::new(out)
                    });
                    crate::txn::exec_and_release(
                        sh,
                        id,
                        tx,
                        vec![(s, g)],
                        Box::new(move |sh, id, mut results| {
                            let out = results
                                .first_mut()
                                .and_then(|r| r.downcast_mut::<Vec<u8>>())
                                .map(std::mem::take)
                                .unwrap_or_default();
                            sh.reply_with(id, |r| r.raw(&out));
                            if let Some(w) = watch {
                                sh.unregister_watch(&w);
                            }
                        }),
                    );
                }),
            );
            return Step::Wait;
        }
        crate::txn::run_tx(
            self,
            id,
            groups,
            Box::new(move |sh, id, tx| {
                let job = GatherJob {
                    cmds: queue,
                    exec: true,
                    watch,
                };
                gather_body(sh, id, tx, job, client)
            }),
        );
        Step::Wait
    }

    /// Runs queued commands on this shard's keyspace, in order, into one array reply.
    fn run_queue(&mut self, queue: &[(ShardFn, ArgsBuf)], client: Client, out: &mut Vec<u8>) {
        Reply::new(out, client.proto).array(queue.len());
        for (f, owned) in queue {
            self.run_handler(*f, owned.args(), client.db, client.proto, false, out);
        }
    }
}
