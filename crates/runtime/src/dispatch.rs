//! Routing one request: command lookup, arity and auth checks, then by key ownership: run
//! inline (keys on this shard), add to the batch for another shard, or start a cross-shard
//! transaction; runtime commands go to `admin`.

use crate::conn::{Pending, ReplyMode, Step};
use crate::mesh::{Batch, ConnId, Msg};
use crate::shard::Shard;
use shoal_commands::registry::ShardFn;
use shoal_commands::{Command, Ctx, Handler, KeyHint, Lookup, RuntimeCmd};
use shoal_data::key_slot;
use shoal_data::keyspace::PREFETCH;
use shoal_protocol::{Args, Protocol, Reply};

/// Bytes of `s` up to its first NUL, at most `max` (C's `%.*s`).
fn c_str(s: &[u8], max: usize) -> &[u8] {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len()).min(max);
    &s[..end]
}

/// `ERR unknown command '<name>', with args beginning with: '<a>' '<b>' ` as Redis words it,
/// quoting the client's bytes as they are.
fn unknown_command(args: &Args<'_>) -> Vec<u8> {
    let mut m = b"ERR unknown command '".to_vec();
    m.extend_from_slice(c_str(args.get(0), 128));
    m.extend_from_slice(b"', with args beginning with: ");
    let mut rest: Vec<u8> = vec![];
    for a in args.iter_from(1) {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        rest.push(b'\'');
        rest.extend_from_slice(c_str(a, room));
        rest.extend_from_slice(b"' ");
    }
    m.extend_from_slice(&rest);
    m
}

impl Shard {
    /// A key of this shard was written from outside a command (a cross-shard write-back): it
    /// may serve a blocked client.
    pub fn key_written(&mut self, db: usize, key: &[u8]) {
        if self.notes.watching {
            self.notes.ready.push((db, key.to_vec()));
        }
        self.touch_watched(db, key);
    }

    /// The shard owning `key`.
    #[inline]
    pub fn owner(&self, key: &[u8]) -> usize {
        self.shared.slot_owner[key_slot(key) as usize] as usize
    }

    /// A command context over this shard's keyspace, replying into `out`.
    pub fn ctx<'a>(&'a mut self, db: usize, proto: Protocol, out: &'a mut Vec<u8>) -> Ctx<'a> {
        Ctx {
            keyspace: &mut self.keyspace,
            db,
            now_ms: self.now_ms,
            reply: Reply::new(out, proto),
            settings: &self.settings,
            no_touch: false,
            counters: &mut self.counters,
            key_hint: None,
            notes: &mut self.notes,
            rng: &mut self.rng,
            may_block: false,
        }
    }

    /// Runs a keyed command's handler on this shard, replying into `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn run_handler(
        &mut self,
        f: ShardFn,
        args: Args<'_>,
        db: usize,
        proto: Protocol,
        no_touch: bool,
        out: &mut Vec<u8>,
    ) {
        let dirty = self.counters.dirty;
        let mut ctx = self.ctx(db, proto, out);
        ctx.no_touch = no_touch;
        f(&mut ctx, args);
        if self.counters.dirty != dirty && !self.watchers.is_empty() {
            if let Lookup::Found(cmd) = self.commands.lookup(&args) {
                self.touch_cmd_keys(cmd, &args, db);
            }
        }
        if self.settings.notify != 0 {
            self.publish_key_events();
        }
    }

    /// Handles one request of connection `id`.
    pub fn dispatch(&mut self, id: ConnId, args: Args<'_>, batch: &mut Option<Box<Batch>>) -> Step {
        let commands = self.commands;
        let cmd = match commands.lookup(&args) {
            Lookup::Found(c) => c,
            Lookup::Unknown => {
                if batch.is_some() {
                    return Step::Retry;
                }
                let msg = unknown_command(&args);
                if let Some(c) = self.conn_mut(id) {
                    c.reply().error_bytes(&msg);
                }
                self.doom_multi(id);
                return Step::Done;
            }
            Lookup::UnknownSubcommand => {
                if batch.is_some() {
                    return Step::Retry;
                }
                let mut msg = b"ERR unknown subcommand '".to_vec();
                msg.extend_from_slice(c_str(args.get(1), 128));
                msg.extend_from_slice(b"'. Try ");
                msg.extend_from_slice(&args.get(0).to_ascii_uppercase());
                msg.extend_from_slice(b" HELP.");
                if let Some(c) = self.conn_mut(id) {
                    c.reply().error_bytes(&msg);
                }
                self.doom_multi(id);
                return Step::Done;
            }
        };
        let Some(c) = self.conn_mut(id) else {
            return Step::Done;
        };
        if !cmd.arity_ok(args.len()) {
            if batch.is_some() {
                return Step::Retry;
            }
            let msg = shoal_commands::err::arity(cmd.spec.name);
            self.reject(id, cmd, &msg);
            return Step::Done;
        }
        if !c.authenticated && !cmd.no_auth {
            if batch.is_some() {
                return Step::Retry;
            }
            self.reject(id, cmd, "NOAUTH Authentication required.");
            return Step::Done;
        }
        // Subscribe mode and MULTI: one test on the connection for the common case.
        let c = if c.subs.is_some() || c.multi.is_some() {
            if let Some(step) = self.gate_client_state(id, cmd, &args, batch.is_some()) {
                return step;
            }
            match self.conn_mut(id) {
                Some(c) => c,
                None => return Step::Done,
            }
        } else {
            c
        };
        c.last_cmd = cmd.spec.name;
        if self.cmd_calls.len() <= cmd.id {
            self.cmd_calls.resize(commands.ids(), 0);
        }
        self.cmd_calls[cmd.id] += 1;
        if self
            .shared
            .monitor_count
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
        {
            crate::admin::feed_monitors(self, id, &args);
        }
        match cmd.handler {
            Handler::Runtime(r) => {
                if batch.is_some() {
                    return Step::Retry;
                }
                let step = crate::admin::run(self, id, r, args);
                // A reply that comes later (fan-out) applies CLIENT REPLY itself (reply_with).
                if matches!(step, Step::Done) {
                    self.after_reply(id);
                }
                step
            }
            Handler::Shard(f) => self.dispatch_keyed(id, cmd, f, args, batch),
        }
    }

    /// Refuses a command before it runs: inside MULTI that dooms the transaction, and a refused
    /// EXEC discards it (Redis's execCommandAbort).
    pub fn reject(&mut self, id: ConnId, cmd: &Command, msg: &str) {
        if matches!(cmd.handler, Handler::Runtime(RuntimeCmd::Exec)) {
            let why = msg.strip_prefix("ERR ").unwrap_or(msg);
            if let Some(c) = self.conn_mut(id) {
                c.multi = None;
                c.reply().error(&format!(
                    "EXECABORT Transaction discarded because of: {why}"
                ));
            }
            self.unwatch_all(id);
            return;
        }
        if let Some(c) = self.conn_mut(id) {
            c.reply().error(msg);
        }
        self.doom_multi(id);
    }

    /// Advances CLIENT REPLY SKIP after a command whose reply was written (or suppressed).
    fn after_reply(&mut self, id: ConnId) {
        if let Some(c) = self.conn_mut(id) {
            if c.reply_mode == ReplyMode::SkipNext {
                c.reply_mode = ReplyMode::On;
            } else if c.reply_mode == ReplyMode::Skip {
                c.reply_mode = ReplyMode::SkipNext;
            }
        }
    }

    fn dispatch_keyed(
        &mut self,
        id: ConnId,
        cmd: &Command,
        f: ShardFn,
        args: Args<'_>,
        batch: &mut Option<Box<Batch>>,
    ) -> Step {
        let mut owner = usize::MAX;
        let mut multi = false;
        let mut hint = None;
        let mut route = |i: usize| {
            let slot = key_slot(args.get(i));
            let o = self.shared.slot_owner[slot as usize] as usize;
            if owner == usize::MAX {
                owner = o;
                hint = Some(KeyHint::new(args.get(i), slot));
            } else if o != owner {
                multi = true;
            }
            !multi
        };
        if cmd.movable {
            for i in cmd.key_positions(&args) {
                if !route(i) {
                    break;
                }
            }
        } else {
            let (first, last, step) = cmd.key_range(args.len());
            if first > 0 {
                let mut i = first;
                while i <= last && route(i) {
                    i += step;
                }
            }
        }
        if owner == usize::MAX {
            owner = self.id;
        }
        let (db, proto, no_touch, mode) = match self.conn_mut(id) {
            Some(c) => (c.db, c.proto, c.no_touch, c.reply_mode),
            None => return Step::Done,
        };
        let silent = mode != ReplyMode::On;
        if owner != self.id && !multi {
            // A script past busy-reply-threshold holds that core: answer BUSY, as Redis does,
            // rather than wait behind it.
            if let Some(e) = shoal_commands::busy::busy_error(owner) {
                if batch.is_some() {
                    return Step::Retry;
                }
                self.reject(id, cmd, e);
                return Step::Done;
            }
        }
        if multi || cmd.blocking {
            if batch.is_some() {
                return Step::Retry;
            }
            return crate::txn::start_cross(self, id, cmd, f, args);
        }
        if owner == self.id {
            if batch.is_some() {
                return Step::Retry;
            }
            if self.locks.blocks(cmd, &args) {
                if let Some(c) = self.conn_mut(id) {
                    c.pending = Some(Pending::Lock);
                }
                self.lock_waiting.push(id);
                return Step::Retry;
            }
            let Some(c) = self.conns[id.idx as usize].as_mut() else {
                return Step::Done;
            };
            let mut out = std::mem::take(&mut c.out);
            let mark = out.len();
            let dirty = self.counters.dirty;
            let mut ctx = self.ctx(db, proto, &mut out);
            ctx.no_touch = no_touch;
            ctx.key_hint = hint;
            f(&mut ctx, args);
            if self.counters.dirty != dirty && !self.watchers.is_empty() {
                self.touch_cmd_keys(cmd, &args, db);
            }
            if self.settings.notify != 0 {
                self.publish_key_events();
            }
            if silent {
                out.truncate(mark);
            }
            if let Some(c) = self.conns[id.idx as usize].as_mut() {
                c.out = out;
            }
            self.after_reply(id);
            if !self.notes.ready.is_empty() {
                self.serve_ready();
            }
            return Step::Done;
        }
        // Another shard owns the keys: add the command to that shard's batch.
        if let Some(b) = batch.as_ref() {
            if owner != b.target {
                return Step::Retry;
            }
        }
        let b = batch.get_or_insert_with(|| {
            let mut b = self.batch_pool.pop().unwrap_or_default();
            b.reset();
            b.from = self.id;
            b.conn = Some(id);
            b.db = db;
            b.proto = proto;
            b.no_touch = no_touch;
            b.target = owner;
            b
        });
        let first_range = b.ranges.len() as u32;
        for a in args.iter_from(0) {
            let s = b.buf.len() as u32;
            b.buf.extend_from_slice(a);
            b.ranges.push((s, b.buf.len() as u32));
        }
        b.cmds
            .push((first_range, (args.len() as u32) | ((silent as u32) << 31)));
        self.after_reply(id);
        Step::Done
    }

    /// Ships a batch to its shard; the connection waits for the replies.
    pub fn send_batch(&mut self, id: ConnId, b: Box<Batch>) {
        let target = b.target;
        if let Some(c) = self.conn_mut(id) {
            c.pending = Some(Pending::Batch);
        }
        self.send(target, Msg::Batch(b));
    }

    /// Prefetches the first keys of up to [`PREFETCH`] commands of `b` from command `from` on;
    /// returns how many commands that covered.
    fn prefetch_batch(&self, b: &Batch, from: usize) -> usize {
        let cmds = &b.cmds[from..b.cmds.len().min(from + PREFETCH)];
        let keys = cmds
            .iter()
            .filter(|&&(_, count)| count & 0x7fff_ffff >= 2)
            .map(|&(first, _)| Args::new(&b.buf, &b.ranges[first as usize..]).get(1));
        self.keyspace.db_ref(b.db).prefetch(keys);
        cmds.len()
    }

    /// Executes a batch from another shard (or resumes one paused on a lock).
    pub fn run_batch(&mut self, mut b: Box<Batch>) {
        let commands = self.commands;
        let mut out = std::mem::take(&mut b.out);
        let mut prefetched = b.done;
        while b.done < b.cmds.len() {
            if b.done >= prefetched && b.cmds.len() - b.done > 1 {
                // As for a pipeline received here: the next keys' lookups overlap their misses.
                prefetched = b.done + self.prefetch_batch(&b, b.done);
            }
            let (first, n) = b.cmds[b.done];
            let silent = n >> 31 == 1;
            let n = (n & 0x7fff_ffff) as usize;
            let ranges = &b.ranges[first as usize..first as usize + n];
            let args = Args::new(&b.buf, ranges);
            let Lookup::Found(cmd) = commands.lookup(&args) else {
                b.done += 1;
                continue;
            };
            let Handler::Shard(f) = cmd.handler else {
                b.done += 1;
                continue;
            };
            if self.locks.blocks(cmd, &args) {
                b.out = out;
                self.deferred_batches.push_back(b);
                return;
            }
            let mark = out.len();
            self.run_handler(f, args, b.db, b.proto, b.no_touch, &mut out);
            if silent {
                out.truncate(mark);
            }
            b.done += 1;
            if !self.notes.ready.is_empty() {
                self.serve_ready();
            }
        }
        b.out = out;
        let from = b.from;
        self.send(from, Msg::BatchDone(b));
    }

    /// Replies of a batch came back: append them and continue the connection's pipeline.
    pub fn batch_done(&mut self, mut b: Box<Batch>) {
        if let Some(id) = b.conn {
            if let Some(c) = self.conn_mut(id) {
                c.out.extend_from_slice(&b.out);
                self.resume(id);
            }
        }
        b.reset();
        if self.batch_pool.len() < 64 {
            self.batch_pool.push(b);
        }
    }
}
