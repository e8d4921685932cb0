//! A client connection: its buffers, its client state (database, protocol, name, auth) and the
//! loop that parses its pipeline and hands each request to the dispatcher.

use crate::mesh::{Batch, ConnId, StepOut};
use crate::shard::Shard;
use shoal_data::keyspace::PREFETCH;
use shoal_protocol::{ParseLimits, Parsed, Protocol, Reply, RequestParser};

/// A turn also ends once it has run this long past its first [`TURN_CLOCK`] commands (the clock
/// is read every TURN_CLOCK commands, so a turn of a few commands never reads it): commands that
/// cost more than usual, such as inserts that resize slot tables, do not hold the other
/// connections up for a whole turn of them.
const TURN_TIME: std::time::Duration = std::time::Duration::from_micros(500);
const TURN_CLOCK: u64 = 32;

/// How a connection is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closing {
    /// Send what is buffered, then close (QUIT, protocol errors, shutdown).
    AfterFlush,
    /// Close as soon as nothing is in flight (errors, CLIENT KILL).
    Now,
    /// The peer half-closed: run what it already sent, send the replies, then close.
    Eof,
}

impl Closing {
    /// Whether buffered replies are still sent before closing.
    pub fn flushes(self) -> bool {
        self != Closing::Now
    }
}

/// CLIENT REPLY mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the next command's reply.
    Skip,
    /// Set by SKIP for the command after it.
    SkipNext,
}

/// The continuation of a cross-shard operation, run on the connection's shard.
pub type Then = Box<dyn FnOnce(&mut Shard, ConnId, Vec<StepOut>)>;

/// What a connection waits for before it parses its next request.
pub enum Pending {
    /// Replies of a batch sent to another shard.
    Batch,
    /// Results of a fan-out.
    Fan {
        results: Vec<Option<StepOut>>,
        remaining: usize,
        then: Option<Then>,
    },
    /// A key its next command touches is locked by a cross-shard transaction.
    Lock,
    /// A blocking command waits for one of its keys.
    Blocked(Box<crate::blocking::Blocked>),
}

/// One client connection.
pub struct Conn {
    pub fd: i32,
    pub id: ConnId,
    pub client_id: u64,
    pub inbuf: Vec<u8>,
    pub rpos: usize,
    pub parser: RequestParser,
    /// Replies not yet handed to the kernel.
    pub out: Vec<u8>,
    /// The buffer being sent and how much of it the kernel took.
    pub sending: Vec<u8>,
    pub send_off: usize,
    pub send_inflight: bool,
    pub recv_inflight: bool,
    pub queued_flush: bool,
    /// Listed in the shard's `received` or `backlog` for a turn.
    pub input_queued: bool,
    /// Its last turn ended with commands left (see
    /// [`Config::max_commands_per_turn`](crate::config::Config::max_commands_per_turn)).
    pub turn_over: bool,
    /// A cancel of its receive is in flight (see
    /// [`Config::client_input_backlog`](crate::config::Config::client_input_backlog)).
    pub recv_cancelled: bool,
    pub resume_after_send: bool,
    /// When (unix ms) its unsent output went above the soft client-output-buffer-limit; 0
    /// while below.
    pub soft_over_since: i64,
    /// A wake-up that arrived while the connection was still blocking.
    pub early_wake: Option<crate::blocking::EarlyWake>,
    pub pending: Option<Pending>,
    pub closing: Option<Closing>,
    pub db: usize,
    pub proto: Protocol,
    pub authenticated: bool,
    pub name: Option<Vec<u8>>,
    pub lib_name: Option<Vec<u8>>,
    pub lib_ver: Option<Vec<u8>>,
    pub reply_mode: ReplyMode,
    pub no_evict: bool,
    pub no_touch: bool,
    pub monitor: bool,
    pub created_ms: i64,
    pub last_interaction_ms: i64,
    pub last_cmd: &'static str,
    /// Inside MULTI: the queued commands.
    pub multi: Option<Box<crate::multi::MultiState>>,
    /// WATCHed keys.
    pub watch: Option<Box<crate::multi::WatchState>>,
    /// Pub/sub subscriptions.
    pub subs: Option<Box<crate::pubsub::Subs>>,
}

/// Output beyond which a connection stops executing its pipeline until the kernel drains it.
const OUTPUT_SOFT_LIMIT: usize = 4 << 20;

impl Conn {
    /// A fresh connection.
    pub fn new(fd: i32, id: ConnId, client_id: u64, now_ms: i64) -> Conn {
        Conn {
            fd,
            id,
            client_id,
            // Buffers grow on first use: an idle connection costs no buffer memory.
            inbuf: Vec::new(),
            rpos: 0,
            parser: RequestParser::new(),
            out: Vec::new(),
            sending: Vec::new(),
            send_off: 0,
            send_inflight: false,
            recv_inflight: false,
            queued_flush: false,
            input_queued: false,
            turn_over: false,
            recv_cancelled: false,
            resume_after_send: false,
            soft_over_since: 0,
            early_wake: None,
            pending: None,
            closing: None,
            db: 0,
            proto: Protocol::Resp2,
            authenticated: true,
            name: None,
            lib_name: None,
            lib_ver: None,
            reply_mode: ReplyMode::On,
            no_evict: false,
            no_touch: false,
            monitor: false,
            created_ms: now_ms,
            last_interaction_ms: now_ms,
            last_cmd: "NULL",
            multi: None,
            watch: None,
            subs: None,
        }
    }

    /// A reply builder over the connection's output.
    pub fn reply(&mut self) -> Reply<'_> {
        Reply::new(&mut self.out, self.proto)
    }
}

/// What the dispatcher did with one request.
pub enum Step {
    /// Executed (reply written or batched); go on with the next request.
    Done,
    /// Consumed; the connection now waits for other shards.
    Wait,
    /// Not consumed: send the batch built so far (or wait for a lock), then parse it again.
    Retry,
}

impl Shard {
    /// Marks a connection as having replies to send at the end of the iteration.
    #[inline]
    pub fn queue_flush(&mut self, id: ConnId) {
        if let Some(c) = self.conn_mut(id) {
            if !c.queued_flush {
                c.queued_flush = true;
                self.flush.push(id);
            }
        }
    }

    /// Parses up to [`PREFETCH`] pipelined commands at the start of `buf` and prefetches what
    /// looking up their first keys in database `db` will touch (when there are two or more);
    /// returns how many bytes those commands span.
    fn prefetch_pipeline(&mut self, db: usize, buf: &[u8], limits: &ParseLimits) -> usize {
        let mut keys = [(0usize, 0usize); PREFETCH];
        let mut n = 0;
        let mut pos = 0;
        // Multibulk requests only: an inline request's arguments live in the parser.
        while n < PREFETCH && buf.get(pos) == Some(&b'*') {
            let Ok(Parsed::Request { consumed }) = self.lookahead.parse(&buf[pos..], limits) else {
                break;
            };
            let args = self.lookahead.args(&buf[pos..]);
            if args.len() >= 2 {
                let (s, e) = args.ranges()[1];
                keys[n] = (pos + s as usize, pos + e as usize);
                n += 1;
            }
            pos += consumed;
        }
        if n > 1 {
            let keys = keys[..n].iter().map(|&(s, e)| &buf[s..e]);
            self.keyspace.db_ref(db).prefetch(keys);
        }
        pos
    }

    /// Parses and dispatches the complete requests in the connection's buffer, stopping when
    /// the connection must wait for another shard or its turn is over.
    ///
    /// A turn is at most `max-commands-per-turn` commands (one loop iteration) while others
    /// wait: a client that pipelines megabytes delays another client's command by one turn (a
    /// fraction of a millisecond at the default 512), not by all it sent. A connection whose
    /// turn ran out goes on in the next iteration, after every other connection with input. A
    /// turn also ends once [`TURN_TIME`] has passed since its first [`TURN_CLOCK`] commands.
    pub fn process_conn(&mut self, id: ConnId) {
        let max_bulk = self.config.proto_max_bulk_len;
        let turn = self.config.max_commands_per_turn;
        let Some(c) = self.conn_mut(id) else { return };
        let stopped = c.closing.is_some_and(|x| x != Closing::Eof);
        if c.closing.is_some() && matches!(c.pending, Some(Pending::Blocked(_))) {
            self.close_if_idle(id);
            return;
        }
        if c.pending.is_some() || stopped {
            if c.closing.is_some() && c.pending.is_none() {
                self.close_if_idle(id);
            }
            return;
        }
        c.turn_over = false;
        let mut inbuf = std::mem::take(&mut c.inbuf);
        let mut parser = std::mem::take(&mut c.parser);
        let mut rpos = c.rpos;
        let mut batch: Option<Box<Batch>> = None;
        let mut need = 0usize;
        let mut executed = 0u64;
        let mut prefetched = rpos;
        let mut clock: Option<std::time::Instant> = None;
        while let Some(c) = self.conn_mut(id) {
            if c.closing.is_some_and(|x| x != Closing::Eof) || c.pending.is_some() {
                break;
            }
            if c.out.len() + c.sending.len() - c.send_off > OUTPUT_SOFT_LIMIT {
                // Stop producing until the kernel has taken what is buffered.
                c.resume_after_send = true;
                if !c.send_inflight {
                    self.start_send(id);
                }
                break;
            }
            let mut over = executed >= turn;
            if !over && executed > 0 && executed.is_multiple_of(TURN_CLOCK) {
                let now = std::time::Instant::now();
                over = clock.is_some_and(|t| now - t > TURN_TIME);
                clock.get_or_insert(now);
            }
            if over {
                // Its turn is over: replies so far go out with this iteration, and everyone
                // else's input is served before its next commands.
                c.turn_over = true;
                if !c.input_queued {
                    c.input_queued = true;
                    self.backlog.push(id);
                }
                break;
            }
            let limits = ParseLimits {
                max_bulk_len: max_bulk,
                authenticated: c.authenticated,
            };
            if rpos >= prefetched {
                let db = c.db;
                prefetched = rpos + self.prefetch_pipeline(db, &inbuf[rpos..], &limits);
            }
            match parser.parse(&inbuf[rpos..], &limits) {
                Ok(Parsed::Request { consumed }) => {
                    let args = parser.args(&inbuf[rpos..]);
                    if args.is_empty() {
                        rpos += consumed;
                        continue;
                    }
                    executed += 1;
                    match self.dispatch(id, args, &mut batch) {
                        Step::Done => rpos += consumed,
                        Step::Wait => {
                            rpos += consumed;
                            break;
                        }
                        Step::Retry => {
                            executed -= 1;
                            break;
                        }
                    }
                }
                Ok(Parsed::Incomplete { need: n }) => {
                    need = n;
                    break;
                }
                Err(e) => {
                    let msg = e.message();
                    if let Some(c) = self.conn_mut(id) {
                        tracing::debug!(conn = c.client_id, "{}", String::from_utf8_lossy(&msg));
                        c.reply().error_bytes(&msg);
                        c.closing = Some(Closing::AfterFlush);
                    }
                    break;
                }
            }
        }
        crate::shard::bump(&self.shared.stats[self.id].total_commands, executed);
        if let Some(b) = batch.take() {
            self.send_batch(id, b);
        }
        let Some(c) = self.conn_mut(id) else { return };
        // Compact the input buffer (receives land in provided buffers, never in it).
        {
            if rpos == inbuf.len() {
                inbuf.clear();
                rpos = 0;
                if inbuf.capacity() > 1 << 20 {
                    inbuf = Vec::new();
                }
            } else if rpos > 0 && (rpos > inbuf.len() / 2 || need > inbuf.capacity()) {
                inbuf.drain(..rpos);
                rpos = 0;
            }
            if need > inbuf.capacity() {
                inbuf.reserve(need - inbuf.len());
            }
        }
        c.inbuf = inbuf;
        c.parser = parser;
        c.rpos = rpos;
        let closing = c.closing.is_some() && c.pending.is_none();
        let has_out = !c.out.is_empty();
        if has_out {
            self.queue_flush(id);
        }
        if closing {
            self.close_if_idle(id);
        } else {
            self.arm_recv(id);
        }
    }

    /// A connection's wait is over: continue its pipeline this iteration.
    pub fn resume(&mut self, id: ConnId) {
        let closing = match self.conn_mut(id) {
            Some(c) => {
                c.pending = None;
                c.closing.is_some_and(|x| x != Closing::Eof)
            }
            None => return,
        };
        self.queue_flush(id);
        if closing {
            self.close_if_idle(id);
        } else {
            self.ready.push(id);
        }
    }
}
