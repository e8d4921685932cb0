//! The context a command runs in on its shard: the keyspace, the client's database and protocol,
//! the command's clock and the reply being built.

use shoal_data::{events, Db, Entry, Keyspace, Limits, Value, ValueType};
use shoal_protocol::{Protocol, Reply};

/// Error replies worded exactly as Redis 7 words them.
pub mod err {
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub const SYNTAX: &str = "ERR syntax error";
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
    pub const DB_RANGE: &str = "ERR DB index is out of range";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const STRING_TOO_LONG: &str =
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    pub const OFFSET_RANGE: &str = "ERR offset is out of range";

    /// `ERR wrong number of arguments for '<name>' command`.
    pub fn arity(name: &str) -> String {
        format!("ERR wrong number of arguments for '{name}' command")
    }
    /// `ERR invalid expire time in '<name>' command`.
    pub fn expire_time(name: &str) -> String {
        format!("ERR invalid expire time in '{name}' command")
    }
}

/// A container command's HELP reply, worded as Redis's addReplyHelp.
pub fn help_reply(r: &mut Reply<'_>, name: &str, lines: &[&str]) {
    r.array(lines.len() + 3);
    r.simple(&format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        r.simple(l);
    }
    r.simple("HELP");
    r.simple("    Prints this help.");
}

/// Settings a command may consult; a snapshot of the server configuration.
#[derive(Clone, Debug)]
pub struct ShardSettings {
    /// proto-max-bulk-len: the largest string a command may build.
    pub proto_max_bulk_len: i64,
    /// Whether maxmemory-policy is an LFU policy (OBJECT FREQ vs IDLETIME).
    pub lfu_policy: bool,
    /// Encoding conversion thresholds.
    pub limits: Limits,
    /// The keyspace event classes published (notify-keyspace-events; 0 = none).
    pub notify: u32,
    /// busy-reply-threshold (lua-time-limit): how long a script runs before it is busy.
    pub busy_threshold_ms: u64,
}

impl Default for ShardSettings {
    fn default() -> Self {
        ShardSettings {
            proto_max_bulk_len: 512 * 1024 * 1024,
            lfu_policy: false,
            limits: Limits::default(),
            notify: 0,
            busy_threshold_ms: 5000,
        }
    }
}

/// Per-shard counters commands update (summed by INFO).
#[derive(Default, Debug, Clone, Copy)]
pub struct Counters {
    /// Writes (Redis's `dirty`), for INFO and, later, the journal.
    pub dirty: u64,
    /// Read lookups that found their key (INFO keyspace_hits).
    pub hits: u64,
    /// Read lookups that did not (INFO keyspace_misses).
    pub misses: u64,
}

/// What a command leaves for the runtime besides its reply.
#[derive(Default, Debug)]
pub struct Notes {
    /// Set by the runtime while some client is blocked on a key of this shard: writes to lists,
    /// sorted sets and streams then record the keys they made ready.
    pub watching: bool,
    /// (database, key) pairs that may now serve a blocked client.
    pub ready: Vec<(usize, Vec<u8>)>,
    /// Set by a blocking command that found nothing to serve and wants to wait: the timeout in
    /// milliseconds (0 = forever). The command wrote no reply.
    pub block: Option<u64>,
    /// With `block`: arguments to replace (position, new bytes) before the command is run
    /// again when woken (XREAD's `$` becomes the stream's last ID at the time it blocked).
    pub rewrite: Vec<(usize, Vec<u8>)>,
}

/// The slot routing already computed for one argument of the running command, so the table
/// lookup does not hash the key again. It identifies the argument by address and length, which
/// cannot change while the command runs.
#[derive(Clone, Copy, Debug)]
pub struct KeyHint {
    pub addr: usize,
    pub len: usize,
    pub slot: u16,
}

impl KeyHint {
    /// The hint for `key` at `slot`.
    pub fn new(key: &[u8], slot: u16) -> Self {
        KeyHint {
            addr: key.as_ptr() as usize,
            len: key.len(),
            slot,
        }
    }
}

/// One command's execution context on the shard that owns its keys.
pub struct Ctx<'a> {
    /// This shard's keyspace (all databases).
    pub keyspace: &'a mut Keyspace,
    /// The client's selected database.
    pub db: usize,
    /// The command's clock (unix ms); one snapshot per batch, as Redis takes one per command.
    pub now_ms: i64,
    /// The reply being built.
    pub reply: Reply<'a>,
    /// Configuration snapshot.
    pub settings: &'a ShardSettings,
    /// CLIENT NO-TOUCH: reads do not update access times.
    pub no_touch: bool,
    /// The shard's counters.
    pub counters: &'a mut Counters,
    /// The routed slot of the command's first key, when routing computed it.
    pub key_hint: Option<KeyHint>,
    /// Ready keys and block requests for the runtime.
    pub notes: &'a mut Notes,
    /// The shard's random state (xorshift64*).
    pub rng: &'a mut u64,
    /// Whether the command may block (false inside MULTI, in scripts, and when re-run to serve
    /// a blocked client).
    pub may_block: bool,
}

impl<'a> Ctx<'a> {
    /// The slot of `key`: from the routing hint when it is that argument, else computed.
    #[inline]
    pub fn slot_of(&self, key: &[u8]) -> u16 {
        match self.key_hint {
            Some(h) if h.addr == key.as_ptr() as usize && h.len == key.len() => h.slot,
            _ => shoal_data::key_slot(key),
        }
    }

    /// The client's database.
    #[inline]
    pub fn db(&mut self) -> &mut Db {
        self.keyspace.db(self.db)
    }

    /// Looks up a live key for reading; updates its access time unless NO-TOUCH.
    #[inline]
    pub fn lookup(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.lookup_for_reply(key).0
    }

    /// Like [`Ctx::lookup`], also lending the reply builder, so a value can be replied from
    /// the table without a copy.
    #[inline]
    pub fn lookup_for_reply(&mut self, key: &[u8]) -> (Option<&mut Entry>, &mut Reply<'a>) {
        let now = self.now_ms;
        let slot = self.slot_of(key);
        let db = self.keyspace.db(self.db);
        if db.notify & events::KEY_MISS != 0 && db.get_mut_in(slot, key, now).is_none() {
            db.notify(events::KEY_MISS, "keymiss", key);
            self.counters.misses += 1;
            return (None, &mut self.reply);
        }
        let e = self.keyspace.db(self.db).get_mut_in(slot, key, now);
        match e {
            Some(e) => {
                self.counters.hits += 1;
                if !self.no_touch {
                    e.touch(now);
                }
                (Some(e), &mut self.reply)
            }
            None => {
                self.counters.misses += 1;
                (None, &mut self.reply)
            }
        }
    }

    /// Looks up a live key for writing (always updates the access time).
    #[inline]
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let now = self.now_ms;
        let slot = self.slot_of(key);
        let e = self.keyspace.db(self.db).get_mut_in(slot, key, now)?;
        e.touch(now);
        Some(e)
    }

    /// The protocol of the client.
    pub fn protocol(&self) -> Protocol {
        self.reply.protocol()
    }

    /// Looks up `key` for reading as a value of type `t`: replies WRONGTYPE and returns Err when
    /// it holds another type.
    #[inline]
    // Err carries nothing: the WRONGTYPE error is already in the reply.
    #[allow(clippy::result_unit_err)]
    pub fn read_typed(&mut self, key: &[u8], t: ValueType) -> Result<Option<&mut Entry>, ()> {
        let (e, reply) = self.lookup_for_reply(key);
        match e {
            Some(e) if e.value_type() != t => {
                reply.error(err::WRONGTYPE);
                Err(())
            }
            e => Ok(e),
        }
    }

    /// Like [`Ctx::read_typed`] for a write (no hit/miss counting).
    #[inline]
    // Err carries nothing: the WRONGTYPE error is already in the reply.
    #[allow(clippy::result_unit_err)]
    pub fn write_typed(&mut self, key: &[u8], t: ValueType) -> Result<Option<&mut Entry>, ()> {
        let now = self.now_ms;
        let slot = self.slot_of(key);
        let e = self.keyspace.db(self.db).get_mut_in(slot, key, now);
        match e {
            Some(e) if e.value_type() != t => {
                self.reply.error(err::WRONGTYPE);
                Err(())
            }
            Some(e) => {
                e.touch(now);
                Ok(Some(e))
            }
            None => Ok(None),
        }
    }

    /// The entry of `key` of type `t`, created with `make` when absent; Err (WRONGTYPE replied)
    /// when it holds another type.
    // Err carries nothing: the WRONGTYPE error is already in the reply.
    #[allow(clippy::result_unit_err)]
    pub fn write_or_create(
        &mut self,
        key: &[u8],
        t: ValueType,
        make: impl FnOnce() -> Value,
    ) -> Result<&mut Entry, ()> {
        let (now, slot) = (self.now_ms, self.slot_of(key));
        let e = self
            .keyspace
            .db(self.db)
            .get_or_insert_in(slot, key, now, make);
        if e.value_type() != t {
            self.reply.error(err::WRONGTYPE);
            return Err(());
        }
        e.touch(now);
        Ok(e)
    }

    /// Deletes `key` when its collection became empty (Redis never keeps an empty one), with
    /// the `del` event Redis sends after the command's own.
    pub fn remove_if_empty(&mut self, key: &[u8]) {
        let (now, slot) = (self.now_ms, self.slot_of(key));
        let db = self.keyspace.db(self.db);
        if db
            .get_mut_in(slot, key, now)
            .is_some_and(|e| e.is_empty_collection())
        {
            db.remove(key, now);
            db.notify(events::GENERIC, "del", key);
        }
    }

    /// Records that `key` may now serve a client blocked on it.
    #[inline]
    pub fn signal_ready(&mut self, key: &[u8]) {
        if self.notes.watching {
            self.notes.ready.push((self.db, key.to_vec()));
        }
    }

    /// A random 64-bit number from the shard's generator.
    #[inline]
    pub fn random(&mut self) -> u64 {
        let mut x = *self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A read lookup found no `key`: Redis counts a keyspace miss and announces `keymiss`.
    #[inline]
    pub fn read_miss(&mut self, key: &[u8]) {
        self.counters.misses += 1;
        self.notify(events::KEY_MISS, "keymiss", key);
    }

    /// A read lookup of a key that does not hold a live value (see [`Ctx::read_miss`]);
    /// counts a hit otherwise. Returns whether the key is live.
    pub fn read_exists(&mut self, key: &[u8]) -> bool {
        let (now, slot) = (self.now_ms, self.slot_of(key));
        let live = self
            .keyspace
            .db(self.db)
            .get_mut_in(slot, key, now)
            .is_some();
        if live {
            self.counters.hits += 1;
        } else {
            self.read_miss(key);
        }
        live
    }

    /// Records keyspace event `name` of `class` on `key` of the client's database.
    #[inline]
    pub fn notify(&mut self, class: u32, name: &'static str, key: &[u8]) {
        self.keyspace.db(self.db).notify(class, name, key);
    }

    /// Records one write.
    #[inline]
    pub fn dirty(&mut self, n: u64) {
        self.counters.dirty += n;
    }
}
