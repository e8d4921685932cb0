//! A shard's keyspace: for every database, one hash table per owned hash slot.
//!
//! Per-slot tables keep every table small, so growth never stalls a shard for long, and they make
//! slot-level work (SCAN cursors, COUNTKEYSINSLOT, migration, per-slot snapshots) direct.
//! Expiry is stored in the entry; lookups delete expired keys lazily and [`Db::active_expire`]
//! reclaims the rest a bounded number of entries at a time.

use crate::entry::Entry;
use crate::events::{self, KeyEvent};
use crate::slot::key_slot;
use crate::table::{Item, Table};
use crate::value::Value;
use hashbrown::DefaultHashBuilder;
use std::hash::BuildHasher;

/// The most keys [`Db::prefetch`] looks at in one call.
pub const PREFETCH: usize = 32;

/// A key's bytes outside the table (events, RANDOMKEY); up to 24 bytes are stored inline.
pub type Key = smallvec::SmallVec<[u8; 24]>;

/// One table of one slot: a pointer per key to the key's record.
#[derive(Default, Debug)]
struct SlotTable {
    map: Table<Entry>,
    volatile: usize,
}

/// One logical database (SELECT n) of one shard.
#[derive(Debug)]
pub struct Db {
    first_slot: u16,
    tables: Vec<SlotTable>,
    keys: usize,
    volatile: usize,
    expire_cursor: usize,
    /// A scratch database: one table for every slot (a cross-shard command's copies).
    scratch: bool,
    /// The database's number (SELECT n), for the events it records.
    id: u32,
    /// The keyspace event classes recorded (see [`events::active`]); 0 records nothing.
    pub notify: u32,
    /// Events recorded since the runtime last took them, in order.
    pub events: Vec<KeyEvent>,
    hasher: DefaultHashBuilder,
}

impl Db {
    /// An empty database owning slots `first_slot .. first_slot + nslots`.
    pub fn new(first_slot: u16, nslots: u16) -> Self {
        let mut tables = Vec::with_capacity(nslots as usize);
        tables.resize_with(nslots as usize, SlotTable::default);
        Db {
            first_slot,
            tables,
            keys: 0,
            volatile: 0,
            expire_cursor: 0,
            scratch: false,
            id: 0,
            notify: 0,
            events: Vec::new(),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// A database for keys of any slot, in one table: where a command whose keys live on
    /// several shards runs over copies of them.
    pub fn scratch() -> Self {
        Db {
            scratch: true,
            ..Db::new(0, 1)
        }
    }

    /// Whether keys of `slot` live in this database (never for a scratch one, which holds only
    /// the copies it was given).
    pub fn owns(&self, slot: u16) -> bool {
        !self.scratch
            && slot >= self.first_slot
            && ((slot - self.first_slot) as usize) < self.tables.len()
    }

    /// Records event `name` of `class` on `key` when that class is enabled.
    #[inline]
    pub fn notify(&mut self, class: u32, name: &'static str, key: &[u8]) {
        if self.notify & class != 0 {
            self.events.push(KeyEvent {
                db: self.id,
                name,
                key: Key::from_slice(key),
            });
        }
    }

    /// Records an event of another database `db` here, in order with this database's (MOVE
    /// and COPY ... DB write two databases in one command).
    pub fn notify_in(&mut self, db: usize, class: u32, name: &'static str, key: &[u8]) {
        if self.notify & class != 0 {
            self.events.push(KeyEvent {
                db: db as u32,
                name,
                key: Key::from_slice(key),
            });
        }
    }

    #[inline]
    fn index(&self, slot: u16) -> usize {
        if self.scratch {
            0
        } else {
            (slot - self.first_slot) as usize
        }
    }

    #[inline]
    fn table_index(&self, key: &[u8]) -> usize {
        self.index(key_slot(key))
    }

    /// Number of keys (including not yet reclaimed expired ones, as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.keys
    }
    /// True when the database holds no keys.
    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }
    /// Number of keys with an expiry.
    pub fn volatile(&self) -> usize {
        self.volatile
    }

    /// Starts loading what lookups of `keys` will touch, in three rounds over all of them
    /// (slot tables, then control bytes and buckets, then records), so that the cache misses
    /// of a pipelined batch overlap instead of coming one after another. Looks at the first
    /// [`PREFETCH`] keys; those of slots this database does not own are skipped.
    pub fn prefetch<'a>(&self, keys: impl IntoIterator<Item = &'a [u8]>) {
        let mut found = [(0usize, 0u64); PREFETCH];
        let mut n = 0;
        for key in keys.into_iter().take(PREFETCH) {
            let slot = key_slot(key);
            if self.owns(slot) {
                let t = self.index(slot);
                crate::table::prefetch((&self.tables[t] as *const SlotTable).cast());
                found[n] = (t, self.hasher.hash_one(key));
                n += 1;
            }
        }
        for &(t, hash) in &found[..n] {
            self.tables[t].map.prefetch(hash);
        }
        for &(t, hash) in &found[..n] {
            if let Some(e) = self.tables[t].map.peek(hash) {
                e.prefetch();
            }
        }
    }

    /// Looks a key up, deleting it first if it has expired (one probe of the table).
    #[inline]
    pub fn get_mut(&mut self, key: &[u8], now_ms: i64) -> Option<&mut Entry> {
        self.get_mut_in(key_slot(key), key, now_ms)
    }

    /// [`Db::get_mut`] for a key whose slot the caller already computed (routing did).
    #[inline]
    pub fn get_mut_in(&mut self, slot: u16, key: &[u8], now_ms: i64) -> Option<&mut Entry> {
        debug_assert_eq!(slot, key_slot(key));
        let t = self.index(slot);
        let hash = self.hasher.hash_one(key);
        let table = &mut self.tables[t];
        match table.map.find(hash, |e| e.key() == key) {
            None => None,
            Some(i) => {
                if table.map.get(i).is_expired(now_ms) {
                    drop(table.map.remove_at(i));
                    table.volatile -= 1;
                    self.volatile -= 1;
                    self.keys -= 1;
                    if self.notify & events::EXPIRED != 0 {
                        self.events.push(KeyEvent {
                            db: self.id,
                            name: "expired",
                            key: Key::from_slice(key),
                        });
                    }
                    None
                } else {
                    Some(table.map.get_mut(i))
                }
            }
        }
    }

    /// The live entry of `key`, created with `make` (no expiry) when absent or expired: one
    /// probe of the table.
    pub fn get_or_insert_in(
        &mut self,
        slot: u16,
        key: &[u8],
        now_ms: i64,
        make: impl FnOnce() -> Value,
    ) -> &mut Entry {
        debug_assert_eq!(slot, key_slot(key));
        self.note_creation(slot, key, now_ms);
        let t = self.index(slot);
        let hasher = &self.hasher;
        let hash = hasher.hash_one(key);
        let table = &mut self.tables[t];
        match table
            .map
            .find_or_free(hash, |e| e.key() == key, |e| hasher.hash_one(e.key()))
        {
            Ok(i) => {
                let e = table.map.get_mut(i);
                if e.is_expired(now_ms) {
                    table.volatile -= 1;
                    self.volatile -= 1;
                    *e = Entry::new(key, make(), 0, now_ms);
                }
                e
            }
            Err(i) => {
                self.keys += 1;
                table
                    .map
                    .insert_at(i, hash, Entry::new(key, make(), 0, now_ms))
            }
        }
    }

    /// Before a write that creates `key` if absent: records `expired` for an expired key and
    /// `new` for a key that is not live, when those classes are enabled (Redis deletes the
    /// expired key first, then dbAdd announces the new one).
    #[inline]
    fn note_creation(&mut self, slot: u16, key: &[u8], now_ms: i64) {
        if self.notify & (events::NEW | events::EXPIRED) != 0
            && self.get_mut_in(slot, key, now_ms).is_none()
        {
            self.notify(events::NEW, "new", key);
        }
    }

    /// Whether a live key exists (deletes it if expired).
    pub fn contains(&mut self, key: &[u8], now_ms: i64) -> bool {
        self.get_mut(key, now_ms).is_some()
    }

    /// Stores `value` under `key`, replacing any value; `expire_at` 0 = no expiry.
    #[inline]
    pub fn insert(&mut self, key: &[u8], value: Value, expire_at: i64, now_ms: i64) {
        self.insert_in(key_slot(key), key, value, expire_at, now_ms)
    }

    /// [`Db::insert`] for a key whose slot the caller already computed.
    #[inline]
    pub fn insert_in(&mut self, slot: u16, key: &[u8], value: Value, expire_at: i64, now_ms: i64) {
        debug_assert_eq!(slot, key_slot(key));
        self.note_creation(slot, key, now_ms);
        let t = self.index(slot);
        let hasher = &self.hasher;
        let hash = hasher.hash_one(key);
        let table = &mut self.tables[t];
        let new_volatile = (expire_at != 0) as usize;
        match table
            .map
            .find_or_free(hash, |e| e.key() == key, |e| hasher.hash_one(e.key()))
        {
            Ok(i) => {
                let e = table.map.get_mut(i);
                let old_volatile = e.expire_at().is_some() as usize;
                e.replace(value, expire_at, now_ms);
                table.volatile = table.volatile + new_volatile - old_volatile;
                self.volatile = self.volatile + new_volatile - old_volatile;
            }
            Err(i) => {
                table
                    .map
                    .insert_at(i, hash, Entry::new(key, value, expire_at, now_ms));
                table.volatile += new_volatile;
                self.volatile += new_volatile;
                self.keys += 1;
            }
        }
    }

    /// Replaces the value of an existing key keeping its expiry, or inserts it without expiry.
    pub fn replace_value(&mut self, key: &[u8], value: Value, now_ms: i64) {
        match self.get_mut(key, now_ms) {
            Some(e) => {
                e.set_value(value);
                e.touch(now_ms);
            }
            None => self.insert(key, value, 0, now_ms),
        }
    }

    /// Removes a key (expired or not) and returns its entry if it was live.
    pub fn remove(&mut self, key: &[u8], now_ms: i64) -> Option<Entry> {
        let t = self.table_index(key);
        let hash = self.hasher.hash_one(key);
        let table = &mut self.tables[t];
        let i = table.map.find(hash, |e| e.key() == key)?;
        let e = table.map.remove_at(i);
        self.keys -= 1;
        if e.expire_at().is_some() {
            table.volatile -= 1;
            self.volatile -= 1;
        }
        if e.is_expired(now_ms) {
            self.notify(events::EXPIRED, "expired", key);
            return None;
        }
        Some(e)
    }

    /// Sets (`Some`) or removes (`None`) the expiry of a live key; returns whether it changed.
    pub fn set_expire(&mut self, key: &[u8], expire_at: Option<i64>, now_ms: i64) -> bool {
        let t = self.table_index(key);
        let Some(e) = self.get_mut(key, now_ms) else {
            return false;
        };
        let new = expire_at.unwrap_or(0);
        let was = e.expire_at().is_some();
        e.set_expire_raw(new);
        let table = &mut self.tables[t];
        match (was, new != 0) {
            (false, true) => {
                table.volatile += 1;
                self.volatile += 1;
            }
            (true, false) => {
                table.volatile -= 1;
                self.volatile -= 1;
            }
            _ => {}
        }
        was || new != 0
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        for t in &mut self.tables {
            t.map.clear();
            t.volatile = 0;
        }
        self.keys = 0;
        self.volatile = 0;
    }

    /// Calls `f` for every live key of the slot with its entry.
    pub fn for_each_in_slot(&self, slot: u16, now_ms: i64, mut f: impl FnMut(&[u8], &Entry)) {
        if let Some(t) = self.tables.get(self.index(slot)) {
            for e in t.map.iter() {
                if !e.is_expired(now_ms) {
                    f(e.key(), e);
                }
            }
        }
    }

    /// Calls `f` for every live key.
    pub fn for_each(&self, now_ms: i64, mut f: impl FnMut(&[u8], &Entry)) {
        for t in &self.tables {
            for e in t.map.iter() {
                if !e.is_expired(now_ms) {
                    f(e.key(), e);
                }
            }
        }
    }

    /// Picks a live key: a random non-empty slot table, then a random entry in it.
    pub fn random_key(&mut self, now_ms: i64, mut rand: impl FnMut() -> u64) -> Option<Key> {
        for _ in 0..100 {
            if self.keys == 0 {
                return None;
            }
            let n = self.tables.len();
            let start = (rand() % n as u64) as usize;
            let t = (0..n)
                .map(|i| (start + i) % n)
                .find(|&i| !self.tables[i].map.is_empty())?;
            let table = &self.tables[t];
            let pick = (rand() % table.map.len() as u64) as usize;
            let e = table.map.iter().nth(pick)?;
            let k = Key::from_slice(e.key());
            if !e.is_expired(now_ms) {
                return Some(k);
            }
            self.remove(&k, now_ms);
        }
        None
    }

    /// Active expiry: examines up to `budget` entries of slots holding volatile keys, deleting
    /// expired ones. Returns the number of keys deleted.
    pub fn active_expire(&mut self, now_ms: i64, budget: usize) -> usize {
        if self.volatile == 0 {
            return 0;
        }
        let mut examined = 0;
        let mut deleted = 0;
        let n = self.tables.len();
        let mut visited = 0;
        while examined < budget && visited < n {
            let t = self.expire_cursor % n;
            self.expire_cursor = (t + 1) % n;
            visited += 1;
            let table = &mut self.tables[t];
            if table.volatile == 0 {
                continue;
            }
            examined += table.map.len();
            let before = table.map.len();
            let mut removed_volatile = 0;
            let log = (self.notify & events::EXPIRED != 0).then_some((&mut self.events, self.id));
            let mut log = log;
            table.map.retain(|e| {
                let dead = e.is_expired(now_ms);
                removed_volatile += dead as usize;
                if dead {
                    if let Some((events, db)) = log.as_mut() {
                        events.push(KeyEvent {
                            db: *db,
                            name: "expired",
                            key: Key::from_slice(e.key()),
                        });
                    }
                }
                !dead
            });
            let removed = before - table.map.len();
            table.volatile -= removed_volatile;
            self.volatile -= removed_volatile;
            self.keys -= removed;
            deleted += removed;
        }
        deleted
    }
}

/// All databases of one shard.
#[derive(Debug)]
pub struct Keyspace {
    dbs: Vec<Db>,
}

impl Keyspace {
    /// `databases` empty databases owning slots `first_slot .. first_slot + nslots`.
    pub fn new(databases: usize, first_slot: u16, nslots: u16) -> Self {
        Keyspace {
            dbs: (0..databases)
                .map(|i| Db {
                    id: i as u32,
                    ..Db::new(first_slot, nslots)
                })
                .collect(),
        }
    }
    /// Database `i`.
    #[inline]
    pub fn db(&mut self, i: usize) -> &mut Db {
        &mut self.dbs[i]
    }
    /// Database `i`, read-only.
    pub fn db_ref(&self, i: usize) -> &Db {
        &self.dbs[i]
    }
    /// Number of databases.
    pub fn databases(&self) -> usize {
        self.dbs.len()
    }
    /// Scratch databases (see [`Db::scratch`]).
    pub fn scratch(databases: usize) -> Self {
        Keyspace {
            dbs: (0..databases)
                .map(|i| Db {
                    id: i as u32,
                    ..Db::scratch()
                })
                .collect(),
        }
    }
    /// SWAPDB on this shard's part of the keyspace.
    pub fn swap(&mut self, a: usize, b: usize) {
        self.dbs.swap(a, b);
        self.dbs[a].id = a as u32;
        self.dbs[b].id = b as u32;
    }
    /// Enables the keyspace event classes `flags` (see [`events::active`]) in every database.
    pub fn set_notify(&mut self, flags: u32) {
        for db in &mut self.dbs {
            db.notify = flags;
        }
    }
    /// Moves the recorded events of every database to `out`, in database order.
    pub fn take_events(&mut self, out: &mut Vec<KeyEvent>) {
        for db in &mut self.dbs {
            out.append(&mut db.events);
        }
    }
    /// All databases.
    pub fn dbs_mut(&mut self) -> &mut [Db] {
        &mut self.dbs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_expiry_and_counts() {
        let mut db = Db::new(0, crate::SLOTS as u16);
        db.insert(b"a", Value::string(b"1"), 1000, 0);
        db.insert(b"b", Value::string(b"2"), 0, 0);
        assert_eq!((db.len(), db.volatile()), (2, 1));
        assert!(db.get_mut(b"a", 1000).is_some(), "alive while now == when");
        assert!(db.get_mut(b"a", 1001).is_none());
        assert_eq!((db.len(), db.volatile()), (1, 0));
        db.insert(b"c", Value::string(b"3"), 5, 0);
        assert_eq!(db.active_expire(10, 100_000), 1);
        assert_eq!((db.len(), db.volatile()), (1, 0));
        assert!(db.set_expire(b"b", Some(50), 0));
        assert!(db.set_expire(b"b", None, 0));
        assert_eq!(db.volatile(), 0);
    }
}
