//! Cross-shard work: fan-outs (run a step on several shards, continue when all answered) and
//! transactions (lock the keys on every shard, execute, release) for multi-key commands whose
//! keys live on more than one shard.

use crate::conn::{Pending, Step, Then};
use crate::locks::{LockKey, LockOutcome};
use crate::mesh::{ConnId, Msg, StepFn, StepOut};
use crate::shard::Shard;
use shoal_commands::registry::ShardFn;
use shoal_commands::{generic, string, Command, Cross, Ctx};
use shoal_data::{events, Keyspace, Value};
use shoal_protocol::{Args, Protocol, Reply};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Returned by a step that will answer later (a queued lock request).
pub struct Deferred;

/// Owned request arguments, for running (parts of) a command on another shard.
#[derive(Clone, Default)]
pub struct ArgsBuf {
    buf: Vec<u8>,
    ranges: Vec<(u32, u32)>,
}

impl ArgsBuf {
    /// Appends one argument.
    pub fn push(&mut self, a: &[u8]) {
        let s = self.buf.len() as u32;
        self.buf.extend_from_slice(a);
        self.ranges.push((s, self.buf.len() as u32));
    }
    /// A copy of `args`.
    pub fn from_args(args: &Args<'_>) -> ArgsBuf {
        let mut b = ArgsBuf::default();
        for a in args.iter_from(0) {
            b.push(a);
        }
        b
    }
    /// Borrowed view.
    pub fn args(&self) -> Args<'_> {
        Args::new(&self.buf, &self.ranges)
    }
}

impl Shard {
    /// Runs each step on its shard (inline for this one); when all have answered, runs `then`
    /// on this shard with the results in step order.
    pub fn fan_out(&mut self, id: ConnId, steps: Vec<(usize, StepFn)>, then: Then) {
        let n = steps.len();
        if n == 0 {
            then(self, id, vec![]);
            // The caller stopped the connection's pipeline for this fan-out: go on unless the
            // continuation started another wait.
            if self.conn_mut(id).is_some_and(|c| c.pending.is_none()) {
                self.resume(id);
            }
            return;
        }
        if let Some(c) = self.conn_mut(id) {
            c.pending = Some(Pending::Fan {
                results: (0..n).map(|_| None).collect(),
                remaining: n,
                then: Some(then),
            });
        }
        for (i, (shard, f)) in steps.into_iter().enumerate() {
            if shard == self.id {
                let out = f(self);
                if self.settings.notify != 0 {
                    self.publish_key_events();
                }
                if !out.is::<Deferred>() {
                    self.step_done(id, i as u32, out);
                }
            } else {
                self.send(
                    shard,
                    Msg::Step {
                        from: self.id,
                        conn: id,
                        idx: i as u32,
                        f,
                    },
                );
            }
        }
    }

    /// One step of a connection's fan-out answered.
    pub fn step_done(&mut self, id: ConnId, idx: u32, out: StepOut) {
        let Some(c) = self.conn_mut(id) else { return };
        let Some(Pending::Fan {
            results,
            remaining,
            then,
        }) = c.pending.as_mut()
        else {
            return;
        };
        results[idx as usize] = Some(out);
        *remaining -= 1;
        if *remaining > 0 {
            return;
        }
        let then = then.take();
        let results: Vec<StepOut> = std::mem::take(results).into_iter().flatten().collect();
        c.pending = None;
        if let Some(then) = then {
            then(self, id, results);
        }
        // The continuation may have started another fan-out; otherwise the client goes on.
        if self.conn_mut(id).is_some_and(|c| c.pending.is_none()) {
            self.resume(id);
        }
    }

    /// Releases `tx`'s locks here and lets whatever waited on them go on.
    pub fn unlock(&mut self, tx: u64) {
        let decided = self.locks.release(tx);
        for (w, outcome) in decided {
            self.send(
                w.from,
                Msg::StepDone {
                    conn: w.conn,
                    idx: w.idx,
                    out: Box::new(outcome),
                },
            );
        }
        let conns = std::mem::take(&mut self.lock_waiting);
        for id in conns {
            self.resume(id);
        }
        let batches = std::mem::take(&mut self.deferred_batches);
        for b in batches {
            self.run_batch(b);
        }
    }

    /// Writes a reply for connection `id` (honouring CLIENT REPLY).
    pub fn reply_with(&mut self, id: ConnId, f: impl FnOnce(&mut Reply<'_>)) {
        if let Some(c) = self.conn_mut(id) {
            match c.reply_mode {
                crate::conn::ReplyMode::On => {}
                crate::conn::ReplyMode::SkipNext => {
                    // This was the command CLIENT REPLY SKIP skips.
                    c.reply_mode = crate::conn::ReplyMode::On;
                    return;
                }
                _ => return,
            }
            let mut r = c.reply();
            f(&mut r);
        }
    }

    /// Runs a handler on this shard for a fan-out step and returns its raw reply.
    pub fn run_for_step(
        &mut self,
        f: ShardFn,
        args: &ArgsBuf,
        db: usize,
        proto: Protocol,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        self.run_handler(f, args.args(), db, proto, false, &mut out);
        out
    }
}

/// A transaction's identity and the shards whose keys it locked.
#[derive(Clone)]
pub struct Tx {
    pub id: u64,
    pub shards: Vec<usize>,
}

/// The body of a transaction, run on the coordinator once every lock is held.
pub type TxBody = Box<dyn FnOnce(&mut Shard, ConnId, Tx)>;

/// Locks `keys` (grouped by shard) for a new transaction, then runs `body`.
pub fn run_tx(shard: &mut Shard, id: ConnId, keys: Vec<(usize, Vec<LockKey>)>, body: TxBody) {
    let tx = shard.shared.next_tx.fetch_add(1, Ordering::Relaxed);
    lock_phase(shard, id, tx, keys, body, 0);
}

fn lock_phase(
    shard: &mut Shard,
    id: ConnId,
    tx: u64,
    keys: Vec<(usize, Vec<LockKey>)>,
    body: TxBody,
    attempt: u32,
) {
    let me = shard.id;
    let shards: Vec<usize> = keys.iter().map(|(s, _)| *s).collect();
    let steps: Vec<(usize, StepFn)> = keys
        .iter()
        .enumerate()
        .map(|(i, (s, k))| {
            let k = k.clone();
            let f: StepFn = Box::new(move |sh: &mut Shard| -> StepOut {
                match sh.locks.acquire(tx, k, (me, id, i as u32)) {
                    LockOutcome::Queued => Box::new(Deferred),
                    o => Box::new(o),
                }
            });
            (*s, f)
        })
        .collect();
    shard.fan_out(
        id,
        steps,
        Box::new(move |sh: &mut Shard, id: ConnId, results: Vec<StepOut>| {
            let all = results
                .iter()
                .all(|r| r.downcast_ref::<LockOutcome>() == Some(&LockOutcome::Granted));
            tracing::trace!(tx, granted = all, n = results.len(), "lock phase done");
            if all {
                body(sh, id, Tx { id: tx, shards });
                return;
            }
            // Wait-die: release what was granted and try again with the same id (which only
            // gets older relative to new transactions), after a randomised back-off.
            for &s in &shards {
                release_on(sh, s, tx);
            }
            let cap = 10u64 << attempt.min(7);
            let delay = std::time::Duration::from_micros(sh.random() % cap);
            if let Some(c) = sh.conn_mut(id) {
                c.pending = Some(Pending::Lock);
            }
            sh.after(
                delay,
                Box::new(move |sh: &mut Shard| lock_phase(sh, id, tx, keys, body, attempt + 1)),
            );
        }),
    );
}

fn release_on(sh: &mut Shard, s: usize, tx: u64) {
    if s == sh.id {
        sh.unlock(tx);
    } else {
        sh.send(s, Msg::Call(Box::new(move |x: &mut Shard| x.unlock(tx))));
    }
}

/// Runs one step per shard (each then releases the transaction's locks there), releases the
/// shards without a step, and continues with `then`.
pub fn exec_and_release(
    sh: &mut Shard,
    id: ConnId,
    tx: Tx,
    steps: Vec<(usize, StepFn)>,
    then: Then,
) {
    let txid = tx.id;
    let with_step: Vec<usize> = steps.iter().map(|(s, _)| *s).collect();
    for &s in &tx.shards {
        if !with_step.contains(&s) {
            release_on(sh, s, txid);
        }
    }
    let steps = steps
        .into_iter()
        .map(|(s, f)| {
            let g: StepFn = Box::new(move |x: &mut Shard| {
                let r = f(x);
                x.unlock(txid);
                r
            });
            (s, g)
        })
        .collect();
    sh.fan_out(id, steps, then);
}

/// Runs steps while the locks stay held (a middle phase).
pub fn exec_held(sh: &mut Shard, id: ConnId, steps: Vec<(usize, StepFn)>, then: Then) {
    sh.fan_out(id, steps, then);
}

fn group_keys(
    sh: &Shard,
    args: &Args<'_>,
    cmd: &Command,
    db: usize,
    write: bool,
) -> Vec<(usize, Vec<LockKey>)> {
    let mut groups: Vec<(usize, Vec<LockKey>)> = vec![];
    let mut seen: hashbrown::HashSet<&[u8]> = hashbrown::HashSet::new();
    for i in cmd.key_positions(args) {
        let k = args.get(i);
        if !seen.insert(k) {
            continue;
        }
        let s = sh.owner(k);
        let lk = LockKey {
            db,
            key: k.into(),
            write,
        };
        match groups.iter_mut().find(|(g, _)| *g == s) {
            Some((_, v)) => v.push(lk),
            None => groups.push((s, vec![lk])),
        }
    }
    groups
}

/// Client state a cross-shard command runs with.
#[derive(Clone, Copy)]
pub struct Client {
    pub db: usize,
    pub proto: Protocol,
}

/// Starts a command whose keys span shards.
pub fn start_cross(sh: &mut Shard, id: ConnId, cmd: &Command, f: ShardFn, args: Args<'_>) -> Step {
    let Some(c) = sh.conn_mut(id) else {
        return Step::Done;
    };
    let client = Client {
        db: c.db,
        proto: c.proto,
    };
    match cmd.cross {
        Cross::SumInt | Cross::Mget | Cross::Mset | Cross::Msetnx => {
            if matches!(cmd.cross, Cross::Mset | Cross::Msetnx) && args.len().is_multiple_of(2) {
                let name = cmd.spec.name;
                sh.reply_with(id, |r| r.error(&shoal_commands::err::arity(name)));
                return Step::Done;
            }
            let write = cmd.write;
            let groups = group_keys(sh, &args, cmd, client.db, write);
            let owned = ArgsBuf::from_args(&args);
            let kind = cmd.cross;
            let keyed = KeyedSplit::new(sh, &args, cmd);
            run_tx(
                sh,
                id,
                groups,
                Box::new(move |sh, id, tx| split_body(sh, id, tx, kind, f, owned, keyed, client)),
            );
            Step::Wait
        }
        Cross::Rename(nx) => {
            let groups = group_keys(sh, &args, cmd, client.db, true);
            let owned = ArgsBuf::from_args(&args);
            run_tx(
                sh,
                id,
                groups,
                Box::new(move |sh, id, tx| {
                    move_body(sh, id, tx, owned, client, MoveKind::Rename(nx))
                }),
            );
            Step::Wait
        }
        Cross::Copy => {
            // Validate options on the coordinator first (they do not depend on data).
            let mut out = Vec::new();
            let opts = {
                let mut ctx = sh.ctx(client.db, client.proto, &mut out);
                generic::copy_options(&mut ctx, &args)
            };
            let Some(opts) = opts else {
                sh.reply_with(id, |r| r.raw(&out));
                return Step::Done;
            };
            let mut groups = group_keys(sh, &args, cmd, client.db, false);
            // The destination may be in another database.
            for (_, v) in groups.iter_mut() {
                for k in v.iter_mut() {
                    if k.key.as_ref() == args.get(2) {
                        k.db = opts.db;
                        k.write = true;
                    }
                }
            }
            let owned = ArgsBuf::from_args(&args);
            run_tx(
                sh,
                id,
                groups,
                Box::new(move |sh, id, tx| {
                    move_body(
                        sh,
                        id,
                        tx,
                        owned,
                        client,
                        MoveKind::Copy(opts.db, opts.replace),
                    )
                }),
            );
            Step::Wait
        }
        Cross::Lcs => {
            let groups = group_keys(sh, &args, cmd, client.db, false);
            let owned = ArgsBuf::from_args(&args);
            run_tx(
                sh,
                id,
                groups,
                Box::new(move |sh, id, tx| lcs_body(sh, id, tx, owned, client)),
            );
            Step::Wait
        }
        Cross::Gather => {
            let groups = group_keys(sh, &args, cmd, client.db, cmd.write);
            let owned = ArgsBuf::from_args(&args);
            run_tx(
                sh,
                id,
                groups,
                Box::new(move |sh, id, tx| {
                    let job = GatherJob {
                        cmds: vec![(f, owned)],
                        exec: false,
                        watch: None,
                    };
                    gather_body(sh, id, tx, job, client)
                }),
            );
            Step::Wait
        }
        Cross::Local => {
            // A command with several keys that must not span shards (none today).
            sh.reply_with(id, |r| {
                r.error("CROSSSLOT Keys in request don't hash to the same slot")
            });
            Step::Done
        }
    }
}

/// How a split command's keys map back to request positions.
#[derive(Clone)]
struct KeyedSplit {
    /// For each key position in request order: (shard, position of the argument).
    keys: Vec<(usize, usize)>,
    /// Arguments per key (1, or 2 for MSET pairs).
    width: usize,
}

impl KeyedSplit {
    fn new(sh: &Shard, args: &Args<'_>, cmd: &Command) -> Self {
        let (first, last, step) = cmd.key_range(args.len());
        let mut keys = vec![];
        let mut i = first;
        while first > 0 && i <= last {
            keys.push((sh.owner(args.get(i)), i));
            i += step;
        }
        KeyedSplit { keys, width: step }
    }

    /// The sub-request for shard `s`: the command name and that shard's keys (with values).
    fn part(&self, args: &Args<'_>, s: usize) -> ArgsBuf {
        let mut b = ArgsBuf::default();
        b.push(args.get(0));
        for &(owner, pos) in &self.keys {
            if owner == s {
                for w in 0..self.width {
                    b.push(args.get(pos + w));
                }
            }
        }
        b
    }
}

/// One step per shard of the transaction, each given that shard's part of the request.
fn per_shard<F>(tx: &Tx, keyed: &KeyedSplit, args: &Args<'_>, f: F) -> Vec<(usize, StepFn)>
where
    F: Fn(&mut Shard, &ArgsBuf) -> StepOut + Clone + Send + 'static,
{
    tx.shards
        .iter()
        .map(|&s| {
            let part = keyed.part(args, s);
            let f = f.clone();
            let g: StepFn = Box::new(move |x: &mut Shard| f(x, &part));
            (s, g)
        })
        .collect()
}

fn parse_int_reply(out: &[u8]) -> i64 {
    if out.first() == Some(&b':') {
        let end = out.iter().position(|&c| c == b'\r').unwrap_or(out.len());
        std::str::from_utf8(&out[1..end])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    } else {
        0
    }
}

#[allow(clippy::too_many_arguments)]
fn split_body(
    sh: &mut Shard,
    id: ConnId,
    tx: Tx,
    kind: Cross,
    f: ShardFn,
    owned: ArgsBuf,
    keyed: KeyedSplit,
    client: Client,
) {
    let args = owned.args();
    match kind {
        Cross::SumInt | Cross::Mset => {
            let steps = per_shard(&tx, &keyed, &args, move |x, part| {
                Box::new(x.run_for_step(f, part, client.db, client.proto))
            });
            exec_and_release(
                sh,
                id,
                tx,
                steps,
                Box::new(move |sh, id, results| {
                    if kind == Cross::Mset {
                        sh.reply_with(id, |r| r.ok());
                    } else {
                        let sum: i64 = results
                            .iter()
                            .filter_map(|r| r.downcast_ref::<Vec<u8>>())
                            .map(|o| parse_int_reply(o))
                            .sum();
                        sh.reply_with(id, |r| r.int(sum));
                    }
                }),
            );
        }
        Cross::Mget => {
            // Each shard replies the elements of its keys into one buffer, in its key order,
            // with the end offset of each element.
            let steps = per_shard(&tx, &keyed, &args, move |x, part| {
                let a = part.args();
                let mut out = Vec::new();
                let mut ends = Vec::with_capacity(a.len() - 1);
                let mut ctx = x.ctx(client.db, client.proto, &mut out);
                for k in a.iter_from(1) {
                    string::mget_element(&mut ctx, k);
                    ends.push(ctx.reply.mark());
                }
                Box::new((out, ends)) as StepOut
            });
            let order: Vec<usize> = keyed.keys.iter().map(|(s, _)| *s).collect();
            let shards = tx.shards.clone();
            exec_and_release(
                sh,
                id,
                tx,
                steps,
                Box::new(move |sh, id, results| {
                    let parts: Vec<Option<&(Vec<u8>, Vec<usize>)>> =
                        results.iter().map(|r| r.downcast_ref()).collect();
                    // Per shard: how many of its elements were emitted so far.
                    let mut next = vec![0usize; parts.len()];
                    sh.reply_with(id, |r| {
                        r.array(order.len());
                        for s in &order {
                            let i = shards.iter().position(|x| x == s).unwrap_or(0);
                            match parts[i] {
                                Some((out, ends)) if next[i] < ends.len() => {
                                    let start = if next[i] == 0 { 0 } else { ends[next[i] - 1] };
                                    r.raw(&out[start..ends[next[i]]]);
                                    next[i] += 1;
                                }
                                _ => r.null(),
                            }
                        }
                    });
                }),
            );
        }
        Cross::Msetnx => {
            let steps = per_shard(&tx, &keyed, &args, move |x, part| {
                let a = part.args();
                let now = x.now_ms;
                let db = x.keyspace.db(client.db);
                let mut i = 1;
                let mut any = false;
                while i < a.len() {
                    any |= db.contains(a.get(i), now);
                    i += 2;
                }
                Box::new(any) as StepOut
            });
            exec_held(
                sh,
                id,
                steps,
                Box::new(move |sh, id, results| {
                    let any = results
                        .iter()
                        .any(|r| r.downcast_ref::<bool>() == Some(&true));
                    let args = owned.args();
                    let steps: Vec<(usize, StepFn)> = if any {
                        vec![]
                    } else {
                        per_shard(&tx, &keyed, &args, move |x, part| {
                            Box::new(x.run_for_step(f, part, client.db, client.proto))
                        })
                    };
                    exec_and_release(
                        sh,
                        id,
                        tx,
                        steps,
                        Box::new(move |sh, id, _| sh.reply_with(id, |r| r.int(!any as i64))),
                    );
                }),
            );
        }
        _ => {}
    }
}

/// A reply to write later.
type ReplyFn = Box<dyn FnOnce(&mut Reply<'_>)>;

#[derive(Clone, Copy)]
enum MoveKind {
    Rename(bool),
    /// Destination database, REPLACE.
    Copy(usize, bool),
}

/// RENAME/RENAMENX/COPY between two shards: check, take the source, store the destination.
fn move_body(sh: &mut Shard, id: ConnId, tx: Tx, owned: ArgsBuf, client: Client, kind: MoveKind) {
    let args = owned.args();
    let (src, dst) = (args.get(1).to_vec(), args.get(2).to_vec());
    let (src_shard, dst_shard) = (sh.owner(&src), sh.owner(&dst));
    let dst_db = match kind {
        MoveKind::Copy(db, _) => db,
        MoveKind::Rename(_) => client.db,
    };
    let (s1, d1) = (src.clone(), dst.clone());
    let check: Vec<(usize, StepFn)> = vec![
        (
            src_shard,
            Box::new(move |x: &mut Shard| -> StepOut {
                let now = x.now_ms;
                Box::new(x.keyspace.db(client.db).contains(&s1, now))
            }),
        ),
        (
            dst_shard,
            Box::new(move |x: &mut Shard| -> StepOut {
                let now = x.now_ms;
                Box::new(x.keyspace.db(dst_db).contains(&d1, now))
            }),
        ),
    ];
    exec_held(
        sh,
        id,
        check,
        Box::new(move |sh, id, results| {
            let src_exists = results[0].downcast_ref::<bool>() == Some(&true);
            let dst_exists = results[1].downcast_ref::<bool>() == Some(&true);
            let refuse: Option<ReplyFn> = match kind {
                MoveKind::Rename(_) if !src_exists => {
                    Some(Box::new(|r| r.error(shoal_commands::err::NO_SUCH_KEY)))
                }
                MoveKind::Rename(true) if dst_exists => Some(Box::new(|r| r.int(0))),
                MoveKind::Copy(..) if !src_exists => Some(Box::new(|r| r.int(0))),
                MoveKind::Copy(_, false) if dst_exists => Some(Box::new(|r| r.int(0))),
                _ => None,
            };
            if let Some(reply) = refuse {
                exec_and_release(
                    sh,
                    id,
                    tx,
                    vec![],
                    Box::new(move |sh, id, _| sh.reply_with(id, reply)),
                );
                return;
            }
            let remove = matches!(kind, MoveKind::Rename(_));
            let take: Vec<(usize, StepFn)> = vec![(
                src_shard,
                Box::new(move |x: &mut Shard| -> StepOut {
                    let mut out = Vec::new();
                    let mut ctx = x.ctx(client.db, client.proto, &mut out);
                    let moved = generic::take_entry(&mut ctx, client.db, &src, remove);
                    if remove && moved.is_some() {
                        ctx.notify(events::GENERIC, "rename_from", &src);
                        x.touch_watched(client.db, &src);
                    }
                    Box::new(moved)
                }),
            )];
            exec_held(
                sh,
                id,
                take,
                Box::new(move |sh, id, mut results| {
                    let moved = results[0]
                        .downcast_mut::<Option<generic::Moved>>()
                        .and_then(Option::take);
                    let put: Vec<(usize, StepFn)> = match moved {
                        Some(m) => vec![(
                            dst_shard,
                            Box::new(move |x: &mut Shard| -> StepOut {
                                let mut out = Vec::new();
                                let mut ctx = x.ctx(client.db, client.proto, &mut out);
                                if remove {
                                    generic::put_entry(&mut ctx, dst_db, &dst, m);
                                    ctx.notify(events::GENERIC, "rename_to", &dst);
                                } else {
                                    generic::put_copy(&mut ctx, dst_db, &dst, m);
                                }
                                x.touch_watched(dst_db, &dst);
                                Box::new(())
                            }),
                        )],
                        None => vec![],
                    };
                    exec_and_release(
                        sh,
                        id,
                        tx,
                        put,
                        Box::new(move |sh, id, _| {
                            sh.reply_with(id, |r| match kind {
                                MoveKind::Rename(true) | MoveKind::Copy(..) => r.int(1),
                                MoveKind::Rename(false) => r.ok(),
                            })
                        }),
                    );
                }),
            );
        }),
    );
}

fn lcs_body(sh: &mut Shard, id: ConnId, tx: Tx, owned: ArgsBuf, client: Client) {
    let args = owned.args();
    let keys = [args.get(1).to_vec(), args.get(2).to_vec()];
    let steps: Vec<(usize, StepFn)> = keys
        .into_iter()
        .map(|k| {
            let s = sh.owner(&k);
            let g: StepFn = Box::new(move |x: &mut Shard| -> StepOut {
                let mut out = Vec::new();
                let mut ctx = x.ctx(client.db, client.proto, &mut out);
                Box::new(string::lcs_input(&mut ctx, &k))
            });
            (s, g)
        })
        .collect();
    exec_and_release(
        sh,
        id,
        tx,
        steps,
        Box::new(move |sh, id, mut results| {
            let mut take = |i: usize| -> string::LcsInput {
                results[i]
                    .downcast_mut::<string::LcsInput>()
                    .map(|v| std::mem::replace(v, Ok(None)))
                    .unwrap_or(Ok(None))
            };
            let (a, b) = (take(0), take(1));
            let mut out = Vec::new();
            {
                let mut ctx = sh.ctx(client.db, client.proto, &mut out);
                string::lcs_reply(&mut ctx, owned.args(), a, b);
            }
            sh.reply_with(id, |r| r.raw(&out));
        }),
    );
}

/// A key's state on its shard: its value and expiry, or absent.
type KeyState = Option<(Value, i64)>;
/// Keys with their states.
type KeyStates = Vec<(Vec<u8>, KeyState)>;

/// Commands to run over copies of their keys (see [`gather_body`]).
pub struct GatherJob {
    pub cmds: Vec<(ShardFn, ArgsBuf)>,
    /// EXEC: the replies go in one array and nothing blocks.
    pub exec: bool,
    /// EXEC's watch: the transaction aborts unless no write flagged it and every key alive at
    /// WATCH is still alive (Redis aborts when a watched key expired). Dropped at the end.
    pub watch: Option<Box<crate::multi::WatchState>>,
}

/// A watched key: its database, the key, and whether it was alive when WATCHed.
pub type WatchedKey = (usize, Vec<u8>, bool);

/// What each shard of a gather sends back: its keys' states, and whether its watched keys
/// allow an EXEC to go on.
struct GatherPart {
    states: KeyStates,
    watch_ok: bool,
}

/// Whether the watched keys of this shard still hold what their clients saw: alive keys are
/// not expired (writes were flagged by the writer already).
pub fn watched_alive(sh: &mut Shard, watched: &[WatchedKey]) -> bool {
    let now = sh.now_ms;
    for (db, k, alive) in watched {
        if *alive && sh.owner(k) == sh.id && sh.keyspace.db(*db).get_mut(k, now).is_none() {
            return false;
        }
    }
    true
}

/// Commands over keys of several shards, run on copies: every shard sends its keys' values,
/// the handlers run here over a scratch keyspace holding them, and each key they changed is
/// written back to its shard, all under the transaction's locks.
pub fn gather_body(sh: &mut Shard, id: ConnId, tx: Tx, job: GatherJob, client: Client) {
    let mut keys: Vec<Vec<u8>> = vec![];
    for (_, owned) in &job.cmds {
        let args = owned.args();
        let Some(cmd) = sh.commands.get(args.get(0)) else {
            continue;
        };
        let cmd = match sh.commands.lookup(&args) {
            shoal_commands::Lookup::Found(c) => c,
            _ => cmd,
        };
        for i in cmd.key_positions(&args) {
            let k = args.get(i);
            if !keys.iter().any(|x| x.as_slice() == k) {
                keys.push(k.to_vec());
            }
        }
    }
    let watched: Arc<Vec<WatchedKey>> = Arc::new(
        job.watch
            .as_ref()
            .map(|w| w.keys.clone())
            .unwrap_or_default(),
    );
    let steps: Vec<(usize, StepFn)> = tx
        .shards
        .iter()
        .map(|&s| {
            let mine: Vec<Vec<u8>> = keys.iter().filter(|k| sh.owner(k) == s).cloned().collect();
            let watched = watched.clone();
            let g: StepFn = Box::new(move |x: &mut Shard| -> StepOut {
                let watch_ok = watched_alive(x, &watched);
                let now = x.now_ms;
                let db = x.keyspace.db(client.db);
                let states: KeyStates = mine
                    .into_iter()
                    .map(|k| {
                        let st = db
                            .get_mut(&k, now)
                            .map(|e| (e.to_value(), e.expire_at().unwrap_or(0)));
                        (k, st)
                    })
                    .collect();
                Box::new(GatherPart { states, watch_ok })
            });
            (s, g)
        })
        .collect();
    exec_held(
        sh,
        id,
        steps,
        Box::new(move |sh, id, mut results| {
            let mut job = job;
            let watch = job.watch.take();
            let mut before: KeyStates = vec![];
            let mut watch_ok = watch
                .as_ref()
                .is_none_or(|w| !w.flag.load(Ordering::Acquire));
            for r in results.iter_mut() {
                if let Some(p) = r.downcast_mut::<GatherPart>() {
                    before.append(&mut p.states);
                    watch_ok &= p.watch_ok;
                }
            }
            if !watch_ok {
                exec_and_release(
                    sh,
                    id,
                    tx,
                    vec![],
                    Box::new(move |sh, id, _| {
                        sh.reply_with(id, |r| r.null_array());
                        if let Some(w) = watch {
                            sh.unregister_watch(&w);
                        }
                    }),
                );
                return;
            }
            let now = sh.now_ms;
            let mut scratch = Keyspace::scratch(client.db + 1);
            for (k, st) in &before {
                if let Some((v, at)) = st {
                    scratch.db(client.db).insert(k, v.clone(), *at, now);
                }
            }
            // The commands' keyspace events are recorded over the copies.
            scratch.set_notify(sh.settings.notify);
            let mut out = Vec::new();
            let exec = job.exec;
            if exec {
                Reply::new(&mut out, client.proto).array(job.cmds.len());
            }
            let blocking = !exec
                && job
                    .cmds
                    .first()
                    .and_then(|(_, a)| sh.commands.get(a.args().get(0)))
                    .is_some_and(|c| c.blocking);
            let ready_mark = sh.notes.ready.len();
            for (f, owned) in &job.cmds {
                let mut ctx = Ctx {
                    keyspace: &mut scratch,
                    db: client.db,
                    now_ms: now,
                    reply: Reply::new(&mut out, client.proto),
                    settings: &sh.settings,
                    no_touch: false,
                    counters: &mut sh.counters,
                    key_hint: None,
                    notes: &mut sh.notes,
                    rng: &mut sh.rng,
                    may_block: blocking,
                };
                f(&mut ctx, owned.args());
            }
            // Keys made ready are signalled by their own shards when written back.
            sh.notes.ready.truncate(ready_mark);
            if sh.settings.notify != 0 {
                let mut events = Vec::new();
                scratch.take_events(&mut events);
                sh.publish_events(events);
            }
            let rewrite = std::mem::take(&mut sh.notes.rewrite);
            if let Some(ms) = sh.notes.block.take() {
                let Some((_, owned)) = job.cmds.into_iter().next() else {
                    return;
                };
                let owned = if rewrite.is_empty() {
                    owned
                } else {
                    let args = owned.args();
                    let mut b = ArgsBuf::default();
                    for i in 0..args.len() {
                        match rewrite.iter().find(|(p, _)| *p == i) {
                            Some((_, v)) => b.push(v),
                            None => b.push(args.get(i)),
                        }
                    }
                    b
                };
                return block_body(sh, id, tx, owned, client, ms);
            }
            // What changed goes back to the owning shards.
            let mut writes: Vec<(usize, KeyStates)> = vec![];
            for (k, old) in before {
                let new = scratch
                    .db(client.db)
                    .get_mut(&k, now)
                    .map(|e| (e.to_value(), e.expire_at().unwrap_or(0)));
                // A rewrite that changes only the encoding (SUNIONSTORE a a b turning a table
                // of integers into an intset) is a change too.
                let same = new == old
                    && new.as_ref().map(|(v, _)| v.encoding_name())
                        == old.as_ref().map(|(v, _)| v.encoding_name());
                if !same {
                    let s = sh.owner(&k);
                    match writes.iter_mut().find(|(x, _)| *x == s) {
                        Some((_, v)) => v.push((k, new)),
                        None => writes.push((s, vec![(k, new)])),
                    }
                }
            }
            let steps: Vec<(usize, StepFn)> = writes
                .into_iter()
                .map(|(s, w)| {
                    let g: StepFn = Box::new(move |x: &mut Shard| -> StepOut {
                        let now = x.now_ms;
                        for (k, st) in w {
                            let db = x.keyspace.db(client.db);
                            // The events were published with the commands that made the change.
                            let notify = std::mem::take(&mut db.notify);
                            match st {
                                Some((v, at)) => db.insert(&k, v, at, now),
                                None => {
                                    db.remove(&k, now);
                                }
                            }
                            db.notify = notify;
                            x.key_written(client.db, &k);
                        }
                        Box::new(())
                    });
                    (s, g)
                })
                .collect();
            exec_and_release(
                sh,
                id,
                tx,
                steps,
                Box::new(move |sh, id, _| {
                    sh.reply_with(id, |r| r.raw(&out));
                    if let Some(w) = watch {
                        sh.unregister_watch(&w);
                    }
                }),
            );
        }),
    );
}

/// A blocking command found nothing: register its waiters on the shards of the keys it waits
/// on while the locks are held, release, and block the client.
fn block_body(sh: &mut Shard, id: ConnId, tx: Tx, owned: ArgsBuf, client: Client, ms: u64) {
    let args = owned.args();
    let name = args.get(0).to_ascii_lowercase();
    let moves = name == b"blmove" || name == b"brpoplpush";
    let reads = name == b"xread";
    let positions: Vec<usize> = if moves {
        vec![1]
    } else {
        match sh.commands.get(&name) {
            Some(c) => c.key_positions(&args).to_vec(),
            None => vec![],
        }
    };
    let mut regs: Vec<(usize, usize, Vec<u8>)> = vec![];
    for i in positions {
        let k = args.get(i).to_vec();
        if !regs.iter().any(|(_, _, x)| *x == k) {
            regs.push((sh.owner(&k), client.db, k));
        }
    }
    let token = Arc::new(AtomicBool::new(false));
    let home = sh.id;
    // A list or sorted-set pop whose keys (destination included) all live on one shard is
    // served by that shard itself when a key becomes ready.
    let serve = match sh.commands.get(&name) {
        Some(c) if !name.starts_with(b"x") => {
            let owners: Vec<usize> = c
                .key_positions(&args)
                .iter()
                .map(|&i| sh.owner(args.get(i)))
                .collect();
            match (owners.first(), c.handler) {
                (Some(&o), shoal_commands::Handler::Shard(f)) if owners.iter().all(|&x| x == o) => {
                    Some(Arc::new(crate::blocking::Serve {
                        args: owned.clone(),
                        f,
                        proto: client.proto,
                        want: if name.starts_with(b"bz") {
                            shoal_data::ValueType::ZSet
                        } else {
                            shoal_data::ValueType::List
                        },
                    }))
                }
                _ => None,
            }
        }
        _ => None,
    };
    let steps: Vec<(usize, StepFn)> = tx
        .shards
        .iter()
        .filter_map(|&s| {
            let keys: Vec<Vec<u8>> = regs
                .iter()
                .filter(|(o, _, _)| *o == s)
                .map(|(_, _, k)| k.clone())
                .collect();
            if keys.is_empty() {
                return None;
            }
            let w = crate::blocking::Waiter {
                home,
                conn: id,
                token: token.clone(),
                reads,
                serve: serve.clone(),
            };
            let g: StepFn = Box::new(move |x: &mut Shard| -> StepOut {
                x.add_waiters(client.db, keys, w);
                Box::new(())
            });
            Some((s, g))
        })
        .collect();
    let blocked = crate::blocking::Blocked {
        args: owned,
        token,
        regs,
    };
    exec_and_release(
        sh,
        id,
        tx,
        steps,
        Box::new(move |sh, id, _| sh.block_conn(id, blocked, ms)),
    );
}

/// Runs a woken client's blocking command again.
pub fn rerun_blocked(sh: &mut Shard, id: ConnId, owned: ArgsBuf) {
    let args = owned.args();
    let commands = sh.commands;
    let (cmd, f) = match commands.lookup(&args) {
        shoal_commands::Lookup::Found(c) => match c.handler {
            shoal_commands::Handler::Shard(f) => (c, f),
            _ => return,
        },
        _ => return,
    };
    if let Step::Done = start_cross(sh, id, cmd, f, args) {
        sh.resume(id);
    }
}
