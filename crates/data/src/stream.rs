//! Streams: entries ordered by ID, and consumer groups with their pending entries.
//!
//! The entries live in macro nodes as Redis keeps them: a map from each node's master ID to a
//! node holding up to 100 entries (or about 4 KiB of listpack), with deleted entries left in
//! place as tombstones until their node goes away. The node boundaries are modelled on
//! Redis's listpack sizes exactly (`stream-node-max-bytes 4096`, `stream-node-max-entries
//! 100`), because they are observable: approximate trimming (`MAXLEN ~`, `MINID ~`, `LIMIT`)
//! only removes whole nodes, and XINFO reports the radix tree's keys and nodes. Inside a node,
//! an entry whose field names equal the node's master fields stores only its values (Redis's
//! SAMEFIELDS compression), one allocation per entry.
//!
//! The entry log and the groups are each behind an `Arc`, so cloning a stream (a cross-shard
//! command's copy, COPY) is O(1) and a copy is only made when one side changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Redis's stream-node-max-bytes default.
const NODE_MAX_BYTES: usize = 4096;
/// Redis's stream-node-max-entries default.
const NODE_MAX_ENTRIES: u32 = 100;

/// An entry ID: milliseconds and sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    /// 0-0.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// An ID from its parts.
    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    /// Whether this is 0-0.
    pub fn is_zero(&self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// The next ID (None after the largest).
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID (None before 0-0).
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// The `ms-seq` text form.
    pub fn to_bytes(&self) -> Vec<u8> {
        format!("{}-{}", self.ms, self.seq).into_bytes()
    }

    fn key(&self) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&self.ms.to_be_bytes());
        k[8..].copy_from_slice(&self.seq.to_be_bytes());
        k
    }
}

// ---------------------------------------------------------------------------------------------
// Compact byte encoding of an entry's strings: a varint count, then varint-length strings.

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn get_varint(buf: &[u8], pos: &mut usize) -> usize {
    let mut v = 0usize;
    let mut shift = 0;
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        if shift < usize::BITS {
            v |= ((b & 0x7f) as usize) << shift;
        }
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

/// Iterates the strings of an encoded list.
#[derive(Clone)]
struct Strs<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Strs<'a> {
    fn new(buf: &'a [u8]) -> Self {
        let mut pos = 0;
        let left = get_varint(buf, &mut pos);
        Strs { buf, pos, left }
    }
}

impl<'a> Iterator for Strs<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let n = get_varint(self.buf, &mut self.pos);
        let start = self.pos.min(self.buf.len());
        let end = start.saturating_add(n).min(self.buf.len());
        self.pos = end;
        Some(&self.buf[start..end])
    }
}

fn encode<'a>(n: usize, strs: impl Iterator<Item = &'a [u8]>) -> Box<[u8]> {
    let mut out = Vec::new();
    put_varint(&mut out, n);
    for s in strs {
        put_varint(&mut out, s.len());
        out.extend_from_slice(s);
    }
    out.into_boxed_slice()
}

// ---------------------------------------------------------------------------------------------
// Listpack sizes, as Redis's listpack.c encodes elements (for the node boundaries).

fn lp_backlen(l: usize) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2097151 {
        3
    } else if l < 268435455 {
        4
    } else {
        5
    }
}

fn lp_int(v: i64) -> usize {
    let enc = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8388608..=8388607).contains(&v) {
        4
    } else if (-2147483648..=2147483647).contains(&v) {
        5
    } else {
        9
    };
    enc + lp_backlen(enc)
}

/// listpack.c's lpStringToInt64: a canonical decimal integer of at most 20 characters, which
/// is Redis's string2ll.
fn lp_string_int(s: &[u8]) -> Option<i64> {
    crate::numeric::parse_i64(s)
}

fn lp_str(s: &[u8]) -> usize {
    if let Some(v) = lp_string_int(s) {
        return lp_int(v);
    }
    let n = s.len();
    let enc = if n < 64 {
        1 + n
    } else if n < 4096 {
        2 + n
    } else {
        5 + n
    };
    enc + lp_backlen(enc)
}

// ---------------------------------------------------------------------------------------------

const FLAG_DELETED: u8 = 1;
const FLAG_SAMEFIELDS: u8 = 2;

/// One entry inside a node (possibly a tombstone).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Item {
    id: StreamId,
    flags: u8,
    /// The values (SAMEFIELDS) or the field-value pairs, encoded.
    data: Box<[u8]>,
}

impl Item {
    fn deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }
}

/// A macro node: Redis's listpack of entries under one radix tree key (its master ID).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    /// The master entry's field names, encoded.
    master: Box<[u8]>,
    items: Vec<Item>,
    /// Live and deleted entries.
    live: u32,
    dead: u32,
    /// The listpack's size in bytes as Redis would have it.
    bytes: usize,
    /// Whether the items are in ID order (always, unless XSETID lowered the last ID below a
    /// tombstone and an entry was appended after it, as Redis appends it too).
    sorted: bool,
}

/// A view of one live entry.
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    /// The entry's ID.
    pub id: StreamId,
    node: &'a Node,
    item: &'a Item,
}

impl<'a> Entry<'a> {
    /// Number of field-value pairs.
    pub fn num_fields(&self) -> usize {
        let mut pos = 0;
        let n = get_varint(&self.item.data, &mut pos);
        if self.item.flags & FLAG_SAMEFIELDS != 0 {
            n
        } else {
            n / 2
        }
    }

    /// The field-value pairs in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let same = self.item.flags & FLAG_SAMEFIELDS != 0;
        let mut data = Strs::new(&self.item.data);
        let mut master = Strs::new(&self.node.master);
        std::iter::from_fn(move || {
            if same {
                Some((master.next()?, data.next()?))
            } else {
                Some((data.next()?, data.next()?))
            }
        })
    }
}

/// Ascending iteration over live entries (see [`Entries::range`]).
pub struct Iter<'a> {
    nodes: std::collections::btree_map::Range<'a, StreamId, Node>,
    cur: Option<(StreamId, &'a Node, usize)>,
    start: StreamId,
    end: StreamId,
    done: bool,
}

impl<'a> Iter<'a> {
    /// The next live entry with its node key and index.
    fn next_pos(&mut self) -> Option<(StreamId, usize, Entry<'a>)> {
        while !self.done {
            let (key, node, i) = match self.cur {
                Some(c) => c,
                None => {
                    let (k, node) = self.nodes.next()?;
                    let i = if node.sorted {
                        node.items.partition_point(|it| it.id < self.start)
                    } else {
                        0
                    };
                    (*k, node, i)
                }
            };
            let Some(item) = node.items.get(i) else {
                self.cur = None;
                continue;
            };
            self.cur = Some((key, node, i + 1));
            if item.id >= self.start && !item.deleted() {
                if item.id > self.end {
                    self.done = true;
                    return None;
                }
                return Some((
                    key,
                    i,
                    Entry {
                        id: item.id,
                        node,
                        item,
                    },
                ));
            }
        }
        None
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Entry<'a>;
    fn next(&mut self) -> Option<Entry<'a>> {
        self.next_pos().map(|(_, _, e)| e)
    }
}

/// Descending iteration over live entries (see [`Entries::rev_range`]).
pub struct RevIter<'a> {
    nodes: std::iter::Rev<std::collections::btree_map::Range<'a, StreamId, Node>>,
    cur: Option<(&'a Node, usize)>,
    start: StreamId,
    end: StreamId,
    done: bool,
}

impl<'a> Iterator for RevIter<'a> {
    type Item = Entry<'a>;
    fn next(&mut self) -> Option<Entry<'a>> {
        while !self.done {
            let (node, i) = match self.cur {
                Some(c) => c,
                None => {
                    let (_, node) = self.nodes.next()?;
                    let i = if node.sorted {
                        node.items.partition_point(|it| it.id <= self.end)
                    } else {
                        node.items.len()
                    };
                    (node, i)
                }
            };
            if i == 0 {
                self.cur = None;
                continue;
            }
            let item = &node.items[i - 1];
            self.cur = Some((node, i - 1));
            if item.id <= self.end && !item.deleted() {
                if item.id < self.start {
                    self.done = true;
                    return None;
                }
                return Some(Entry {
                    id: item.id,
                    node,
                    item,
                });
            }
        }
        None
    }
}

/// What XTRIM / XADD trimming removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Remove the entries below this ID.
    MinId(StreamId),
}

/// The entries of a stream and its ID bookkeeping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entries {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    last_id: StreamId,
    first_id: StreamId,
    max_deleted: StreamId,
    entries_added: u64,
}

impl Entries {
    /// Number of live entries.
    pub fn len(&self) -> u64 {
        self.length
    }
    /// True when no live entry is left.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }
    /// The last ID ever added (or set by XSETID).
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }
    /// The recorded first entry ID (0-0 when empty).
    pub fn first_id(&self) -> StreamId {
        self.first_id
    }
    /// The largest ID deleted by XDEL.
    pub fn max_deleted(&self) -> StreamId {
        self.max_deleted
    }
    /// How many entries were ever added.
    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }
    /// XSETID: the last ID.
    pub fn set_last_id(&mut self, id: StreamId) {
        self.last_id = id;
    }
    /// XSETID ENTRIESADDED.
    pub fn set_entries_added(&mut self, n: u64) {
        self.entries_added = n;
    }
    /// XSETID MAXDELETEDID.
    pub fn set_max_deleted(&mut self, id: StreamId) {
        self.max_deleted = id;
    }

    /// The ID `*` generates at `now_ms` (never below the last ID); None when the last
    /// possible ID was used.
    pub fn next_id(&self, now_ms: i64) -> Option<StreamId> {
        let ms = now_ms.max(0) as u64;
        if ms > self.last_id.ms {
            Some(StreamId::new(ms, 0))
        } else {
            self.last_id.incr()
        }
    }

    /// Appends an entry (`id` must be above the last ID; `pairs` alternates fields and values).
    pub fn append(&mut self, id: StreamId, pairs: &[&[u8]]) {
        let numfields = pairs.len() / 2;
        let totelelen: usize = pairs.iter().map(|p| p.len()).sum();
        let new_node = match self.nodes.iter().next_back() {
            None => true,
            Some((_, node)) => {
                node.bytes + totelelen >= NODE_MAX_BYTES
                    || node.live + node.dead >= NODE_MAX_ENTRIES
            }
        };
        if new_node {
            let fields = pairs.iter().step_by(2).copied();
            let mut bytes = 7 + lp_int(1) + lp_int(0) + lp_int(numfields as i64) + lp_int(0);
            bytes += fields.clone().map(lp_str).sum::<usize>();
            self.nodes.insert(
                id,
                Node {
                    master: encode(numfields, fields),
                    items: Vec::new(),
                    live: 0,
                    dead: 0,
                    bytes,
                    sorted: true,
                },
            );
        }
        let Some((&master_id, node)) = self.nodes.iter_mut().next_back() else {
            return;
        };
        let same = {
            let mut m = Strs::new(&node.master);
            m.left == numfields && pairs.iter().step_by(2).all(|f| m.next() == Some(*f))
        };
        let mut bytes = lp_int(if same { FLAG_SAMEFIELDS as i64 } else { 0 })
            + lp_int(id.ms.wrapping_sub(master_id.ms) as i64)
            + lp_int(id.seq.wrapping_sub(master_id.seq) as i64);
        let mut lp_count = numfields + 3;
        let data = if same {
            bytes += pairs
                .iter()
                .skip(1)
                .step_by(2)
                .map(|v| lp_str(v))
                .sum::<usize>();
            encode(numfields, pairs.iter().skip(1).step_by(2).copied())
        } else {
            lp_count += numfields + 1;
            bytes += lp_int(numfields as i64) + pairs.iter().map(|v| lp_str(v)).sum::<usize>();
            encode(numfields * 2, pairs.iter().copied())
        };
        bytes += lp_int(lp_count as i64);
        node.bytes += bytes;
        node.live += 1;
        if node.items.last().is_some_and(|it| it.id >= id) {
            node.sorted = false;
        }
        node.items.push(Item {
            id,
            flags: if same { FLAG_SAMEFIELDS } else { 0 },
            data,
        });
        self.length += 1;
        self.entries_added = self.entries_added.wrapping_add(1);
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
    }

    /// The live entry `id`.
    pub fn get(&self, id: StreamId) -> Option<Entry<'_>> {
        self.range(id, id).next()
    }

    /// Whether the live entry `id` exists.
    pub fn contains(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// Live entries from `start` to `end` inclusive, ascending (Redis's stream iterator: from
    /// the node whose master ID is at or below `start`, up to the first live entry above
    /// `end`).
    pub fn range(&self, start: StreamId, end: StreamId) -> Iter<'_> {
        let first = match self.nodes.range(..=start).next_back() {
            Some((k, _)) if !start.is_zero() => Some(*k),
            _ => self.nodes.keys().next().copied(),
        };
        Iter {
            nodes: match first {
                Some(k) => self.nodes.range(k..),
                None => self.nodes.range(StreamId::MAX..StreamId::MAX),
            },
            cur: None,
            start,
            end,
            done: false,
        }
    }

    /// Live entries from `end` down to `start` inclusive, descending.
    pub fn rev_range(&self, start: StreamId, end: StreamId) -> RevIter<'_> {
        let last = match self.nodes.range(..=end).next_back() {
            Some((k, _)) if !end.is_zero() => Some(*k),
            _ => self.nodes.keys().next_back().copied(),
        };
        RevIter {
            nodes: match last {
                Some(k) => self.nodes.range(..=k).rev(),
                None => self.nodes.range(StreamId::MAX..StreamId::MAX).rev(),
            },
            cur: None,
            start,
            end,
            done: false,
        }
    }

    /// The first live entry's ID.
    pub fn first_valid_id(&self) -> Option<StreamId> {
        self.range(StreamId::MIN, StreamId::MAX)
            .next()
            .map(|e| e.id)
    }

    /// The last live entry's ID.
    pub fn last_valid_id(&self) -> Option<StreamId> {
        self.rev_range(StreamId::MIN, StreamId::MAX)
            .next()
            .map(|e| e.id)
    }

    fn refresh_first(&mut self) {
        self.first_id = if self.length == 0 {
            StreamId::MIN
        } else {
            self.first_valid_id().unwrap_or(StreamId::MIN)
        };
    }

    /// XDEL of one ID: true when a live entry was deleted.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((key, i, _)) = self.range(id, id).next_pos() else {
            return false;
        };
        let Some(node) = self.nodes.get_mut(&key) else {
            return false;
        };
        if node.live == 1 {
            self.nodes.remove(&key);
        } else {
            node.items[i].flags |= FLAG_DELETED;
            node.live -= 1;
            node.dead += 1;
        }
        self.length -= 1;
        if id > self.max_deleted {
            self.max_deleted = id;
        }
        if self.length == 0 || id == self.first_id {
            self.refresh_first();
        }
        true
    }

    /// Trims as Redis's streamTrim: whole nodes first; with `approx` only whole nodes; `limit`
    /// (0 = none) caps the entries removed, node by node. Returns the number removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted: u64 = 0;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some((&key, node)) = self.nodes.iter().next() else {
                break;
            };
            let entries = node.live as u64;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => node.items.last().is_some_and(|it| it.id < min),
            };
            if remove {
                self.nodes.remove(&key);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let Some(node) = self.nodes.get_mut(&key) else {
                break;
            };
            let mut from_node: u64 = 0;
            for item in node.items.iter_mut() {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => item.id >= min,
                };
                if stop {
                    break;
                }
                if !item.deleted() {
                    item.flags |= FLAG_DELETED;
                    from_node += 1;
                    self.length -= 1;
                }
            }
            node.live -= from_node as u32;
            node.dead += from_node as u32;
            deleted += from_node;
            break;
        }
        self.refresh_first();
        deleted
    }

    /// streamRangeHasTombstones: whether the highest deleted ID may lie in [start, end].
    pub fn has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() {
            return false;
        }
        // The latest tombstone is before the first entry.
        if self.first_id > self.max_deleted {
            return false;
        }
        let s = start.unwrap_or(StreamId::MIN);
        let e = end.unwrap_or(StreamId::MAX);
        s <= self.max_deleted && self.max_deleted <= e
    }

    /// streamEstimateDistanceFromFirstEverEntry: the logical read counter of `id`, or None when
    /// it cannot be known.
    pub fn estimate_distance(&self, id: StreamId) -> Option<i64> {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => return Some(added.wrapping_sub(self.length as i64)),
                std::cmp::Ordering::Equal => {
                    return Some(added.wrapping_sub(self.length as i64).wrapping_add(1))
                }
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// XINFO's radix-tree-keys: the number of macro nodes.
    pub fn rax_keys(&self) -> usize {
        self.nodes.len()
    }

    /// XINFO's radix-tree-nodes: the nodes of Redis's radix tree over the 128-bit big-endian
    /// master IDs (compressed chains, branches and leaves), computed from the key set.
    pub fn rax_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.key()).collect();
        if keys.is_empty() {
            return 1;
        }
        rax_count(&keys, 0)
    }
}

fn rax_count(keys: &[[u8; 16]], depth: usize) -> usize {
    if depth >= 16 || keys.is_empty() {
        return 1;
    }
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    let mut common = 0;
    while depth + common < 16 && first[depth + common] == last[depth + common] {
        common += 1;
    }
    if common > 0 {
        return 1 + rax_count(keys, depth + common);
    }
    let mut total = 1;
    let mut i = 0;
    while i < keys.len() {
        let b = keys[i][depth];
        let j = i + keys[i..].partition_point(|k| k[depth] == b);
        total += rax_count(&keys[i..j], depth + 1);
        i = j;
    }
    total
}

/// A pending entry: delivered to a consumer, not yet acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    /// The consumer owning it.
    pub consumer: Box<[u8]>,
    /// Last delivery (unix ms).
    pub delivery_time: i64,
    /// Number of deliveries.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Last time it was active (unix ms).
    pub seen_time: i64,
    /// Its pending entries.
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The last delivered ID.
    pub last_id: StreamId,
    /// The logical read counter (-1 when unknown).
    pub entries_read: i64,
    /// Pending entries of the whole group.
    pub pel: BTreeMap<StreamId, Nack>,
    /// Consumers by name.
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl Group {
    /// A group delivering after `last_id`.
    pub fn new(last_id: StreamId, entries_read: i64) -> Self {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Removes a pending entry from the group and its consumer: true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Gives the pending entry `id` to `consumer` (which must exist), creating it when absent.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], now: i64) -> &mut Nack {
        let prev = self.pel.get(&id).map(|n| n.consumer.clone());
        if let Some(p) = &prev {
            if **p != *consumer {
                if let Some(c) = self.consumers.get_mut(p) {
                    c.pel.remove(&id);
                }
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        let n = self.pel.entry(id).or_insert_with(|| Nack {
            consumer: consumer.into(),
            delivery_time: now,
            delivery_count: 1,
        });
        if *n.consumer != *consumer {
            n.consumer = consumer.into();
        }
        n
    }

    /// Deletes a consumer and its pending entries; returns how many it had.
    pub fn remove_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }
}

/// A stream's groups by name.
pub type Groups = BTreeMap<Box<[u8]>, Group>;

/// A stream value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stream {
    entries: Arc<Entries>,
    groups: Arc<Groups>,
}

impl Stream {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.length as usize
    }
    /// True when no entry is left (an empty stream still exists, unlike other collections).
    pub fn is_empty(&self) -> bool {
        self.entries.length == 0
    }
    /// OBJECT ENCODING's name.
    pub fn encoding_name(&self) -> &'static str {
        "stream"
    }
    /// The entries.
    pub fn entries(&self) -> &Entries {
        &self.entries
    }
    /// The entries, for a change (copied first when shared).
    pub fn entries_mut(&mut self) -> &mut Entries {
        Arc::make_mut(&mut self.entries)
    }
    /// The consumer groups.
    pub fn groups(&self) -> &Groups {
        &self.groups
    }
    /// The consumer groups, for a change (copied first when shared).
    pub fn groups_mut(&mut self) -> &mut Groups {
        Arc::make_mut(&mut self.groups)
    }
    /// The entries to read and the groups to change at once.
    pub fn split_mut(&mut self) -> (&Entries, &mut Groups) {
        (&self.entries, Arc::make_mut(&mut self.groups))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    #[test]
    fn nodes_split_like_redis() {
        let mut e = Entries::default();
        for i in 1..=100 {
            e.append(id(i, 1), &[b"a", b"1"]);
        }
        assert_eq!((e.rax_keys(), e.rax_nodes()), (1, 2));
        e.append(id(101, 1), &[b"a", b"1"]);
        assert_eq!((e.rax_keys(), e.rax_nodes()), (2, 6));
        let big = vec![b'x'; 70];
        let mut u = Entries::default();
        for i in 1..60 {
            u.append(id(i, 1), &[b"f", &big]);
        }
        assert_eq!(u.rax_keys(), 2);
        assert_eq!(u.trim(Trim::MaxLen(1), true, 0), 50);
    }

    #[test]
    fn range_delete_trim() {
        let mut e = Entries::default();
        for i in 1..=10 {
            e.append(id(i, 0), &[b"f", b"v", b"g", b"w"]);
        }
        e.append(id(11, 0), &[b"other", b"x"]);
        assert!(e.delete(id(3, 0)));
        assert!(!e.delete(id(3, 0)));
        let ids: Vec<u64> = e.range(id(2, 0), id(5, 0)).map(|x| x.id.ms).collect();
        assert_eq!(ids, vec![2, 4, 5]);
        let rev: Vec<u64> = e.rev_range(id(2, 0), id(5, 0)).map(|x| x.id.ms).collect();
        assert_eq!(rev, vec![5, 4, 2]);
        let last = e.get(id(11, 0)).map(|x| x.pairs().count());
        assert_eq!(last, Some(1));
        let p: Vec<_> = e
            .get(id(1, 0))
            .map(|x| x.pairs().collect())
            .unwrap_or_default();
        assert_eq!(p, vec![(&b"f"[..], &b"v"[..]), (&b"g"[..], &b"w"[..])]);
        assert_eq!(e.trim(Trim::MaxLen(5), false, 0), 5);
        assert_eq!(e.len(), 5);
        assert_eq!(e.first_id(), id(7, 0));
        assert_eq!(e.trim(Trim::MinId(id(9, 0)), false, 0), 2);
        assert_eq!(e.first_valid_id(), Some(id(9, 0)));
    }

    #[test]
    fn appends_below_a_tombstone_after_xsetid() {
        let mut e = Entries::default();
        e.append(id(1, 1), &[b"a", b"1"]);
        e.append(id(9, 1), &[b"a", b"2"]);
        assert!(e.delete(id(9, 1)));
        // XSETID may lower the last ID to the last live entry; Redis then appends after the
        // tombstone, out of order inside the node.
        e.set_last_id(id(2, 0));
        e.append(id(5, 0), &[b"a", b"3"]);
        let ids: Vec<StreamId> = e
            .range(StreamId::MIN, StreamId::MAX)
            .map(|x| x.id)
            .collect();
        assert_eq!(ids, vec![id(1, 1), id(5, 0)]);
        let rev: Vec<StreamId> = e
            .rev_range(StreamId::MIN, StreamId::MAX)
            .map(|x| x.id)
            .collect();
        assert_eq!(rev, vec![id(5, 0), id(1, 1)]);
        assert!(e.contains(id(5, 0)));
        assert!(!e.contains(id(9, 1)));
        assert_eq!(e.last_valid_id(), Some(id(5, 0)));
        // MINID trimming walks the node in append order, as Redis does: the tombstone 9-1
        // stops it before 5-0.
        e.append(id(6, 0), &[b"a", b"4"]);
        assert_eq!(e.trim(Trim::MinId(id(5, 5)), false, 0), 1);
        assert_eq!(e.first_valid_id(), Some(id(5, 0)));
    }

    #[test]
    fn tombstones_and_read_counters() {
        let mut e = Entries::default();
        assert_eq!(e.estimate_distance(id(1, 0)), Some(0));
        for i in 1..=5 {
            e.append(id(i, 0), &[b"f", b"v"]);
        }
        assert!(!e.has_tombstones(None, None));
        assert_eq!(e.estimate_distance(id(5, 0)), Some(5));
        assert_eq!(e.estimate_distance(id(6, 0)), None);
        assert_eq!(e.estimate_distance(id(1, 0)), Some(1));
        assert_eq!(e.estimate_distance(id(0, 5)), Some(0));
        e.delete(id(1, 0));
        // The only tombstone is below the first entry.
        assert!(!e.has_tombstones(None, None));
        e.delete(id(3, 0));
        assert!(e.has_tombstones(Some(id(2, 0)), None));
        assert!(!e.has_tombstones(Some(id(4, 0)), None));
        assert_eq!(e.estimate_distance(id(2, 0)), None);
    }
}
