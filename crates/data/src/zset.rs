//! Sorted sets with Redis 7.0's two encodings.
//!
//! * `listpack`: while the set has at most zset-max-listpack-entries members and none is longer
//!   than zset-max-listpack-value bytes, one [`Listpack`] holds member, score, member, score...
//!   sorted by (score, member); a score is 8 bytes of its f64 (`-0` is stored as `0`, as Redis's
//!   listpack stores an integral score as an integer).
//! * `skiplist`: past either limit (and never back), a skiplist with spans (O(log n) insert,
//!   delete, rank and rank lookup) in an arena of 64-byte nodes with u32 links, which also
//!   holds each member once, plus a hash index from member to node for O(1) score lookups.
//!   Random members and ZSCAN walk the arena.
//!
//! Ordering is by score, then by member bytes (memcmp). A range query is answered as a window of
//! ranks `[a, b)`, found the way Redis walks a range (the first or last element in range by a
//! descent of the skiplist or a scan of the listpack, then a walk while in range), then read or
//! removed by rank.

use crate::dict::{Elem, CURSOR_POS_BITS};
use crate::listpack::{Listpack, Pos};
use crate::Limits;
use hashbrown::{DefaultHashBuilder, HashTable};
use smallvec::SmallVec;
use std::cmp::Ordering;
use std::hash::BuildHasher;
use std::os::raw::{c_char, c_int};

// ---------------------------------------------------------------------------------------------
// Score parsing (strtod, as Redis does it)
// ---------------------------------------------------------------------------------------------

extern "C" {
    fn strtod(s: *const c_char, end: *mut *mut c_char) -> f64;
    fn __errno_location() -> *mut c_int;
}

const ERANGE: c_int = 34;

/// Runs C's strtod over `s` (copied with a terminating NUL); returns the value, the number of
/// bytes consumed (up to the first NUL) and whether errno was ERANGE.
pub fn c_strtod(s: &[u8]) -> (f64, usize, bool) {
    let mut buf: SmallVec<[u8; 64]> = SmallVec::with_capacity(s.len() + 1);
    buf.extend_from_slice(s);
    buf.push(0);
    let start = buf.as_ptr() as *const c_char;
    let mut end: *mut c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated and outlives the call; strtod writes only `end`, which
    // points into `buf`; errno is thread-local.
    unsafe {
        *__errno_location() = 0;
        let v = strtod(start, &mut end);
        let erange = *__errno_location() == ERANGE;
        let used = if end.is_null() {
            0
        } else {
            (end as usize).saturating_sub(start as usize)
        };
        (v, used, erange)
    }
}

/// Parses a score as Redis's getDoubleFromObject: the whole string must be a strtod number
/// without leading space, not NaN, and not out of range (an overflow or an underflow to zero).
pub fn parse_score(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s[0] == 0x0b {
        return None;
    }
    let (v, used, erange) = c_strtod(s);
    if used != s.len() || v.is_nan() {
        return None;
    }
    if erange && (v.is_infinite() || v == 0.0) {
        return None;
    }
    Some(v)
}

/// A score range (ZRANGEBYSCORE, ZCOUNT...): `min`/`max` with exclusive flags.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub minex: bool,
    pub max: f64,
    pub maxex: bool,
}

fn parse_range_item(s: &[u8]) -> Option<(f64, bool)> {
    let (body, ex) = match s.first() {
        Some(b'(') => (&s[1..], true),
        _ => (s, false),
    };
    // Redis's zslParseRange: strtod on the C string; what follows the number must be its end
    // (the first NUL), and NaN is refused. An empty string reads as 0.
    let (v, used, _) = c_strtod(body);
    let nul = body.iter().position(|&b| b == 0).unwrap_or(body.len());
    if used != nul || v.is_nan() {
        return None;
    }
    Some((v, ex))
}

impl ScoreRange {
    /// Parses `min` and `max` as Redis's zslParseRange ("(" = exclusive, "-inf"/"+inf").
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, minex) = parse_range_item(min)?;
        let (max, maxex) = parse_range_item(max)?;
        Some(ScoreRange {
            min,
            minex,
            max,
            maxex,
        })
    }
    /// Whether `v` is at or above the minimum.
    #[inline]
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }
    /// Whether `v` is at or below the maximum.
    #[inline]
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }
    /// False for ranges that are always empty.
    fn valid(&self) -> bool {
        !(self.min > self.max || (self.min == self.max && (self.minex || self.maxex)))
    }
}

/// One end of a lexicographic range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LexBound<'a> {
    /// `-`: below every string.
    Min,
    /// `+`: above every string.
    Max,
    /// `[x`
    Incl(&'a [u8]),
    /// `(x`
    Excl(&'a [u8]),
}

impl<'a> LexBound<'a> {
    fn parse(s: &'a [u8]) -> Option<LexBound<'a>> {
        match s.first() {
            Some(b'+') if s.len() == 1 || s[1] == 0 => Some(LexBound::Max),
            Some(b'-') if s.len() == 1 || s[1] == 0 => Some(LexBound::Min),
            Some(b'(') => Some(LexBound::Excl(&s[1..])),
            Some(b'[') => Some(LexBound::Incl(&s[1..])),
            _ => None,
        }
    }
    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Incl(_))
    }
}

/// Redis's sdscmplex: `a` against `b`, with the infinities.
fn cmp_lex(a: LexBound<'_>, b: LexBound<'_>) -> Ordering {
    use LexBound::*;
    match (a, b) {
        (Min, Min) | (Max, Max) => Ordering::Equal,
        (Min, _) | (_, Max) => Ordering::Less,
        (Max, _) | (_, Min) => Ordering::Greater,
        (Incl(x) | Excl(x), Incl(y) | Excl(y)) => x.cmp(y),
    }
}

/// A lexicographic range (ZRANGEBYLEX, ZLEXCOUNT...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LexRange<'a> {
    pub min: LexBound<'a>,
    pub max: LexBound<'a>,
}

impl<'a> LexRange<'a> {
    /// Parses `min` and `max` as Redis's zslParseLexRange (`[x`, `(x`, `-`, `+`).
    pub fn parse(min: &'a [u8], max: &'a [u8]) -> Option<LexRange<'a>> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }
    /// Whether `v` is at or above the minimum.
    #[inline]
    pub fn gte_min(&self, v: &[u8]) -> bool {
        match self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(m) => v >= m,
            LexBound::Excl(m) => v > m,
        }
    }
    /// Whether `v` is at or below the maximum.
    #[inline]
    pub fn lte_max(&self, v: &[u8]) -> bool {
        match self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(m) => v <= m,
            LexBound::Excl(m) => v < m,
        }
    }
    fn valid(&self) -> bool {
        match cmp_lex(self.min, self.max) {
            Ordering::Greater => false,
            Ordering::Equal => !(self.min.exclusive() || self.max.exclusive()),
            Ordering::Less => true,
        }
    }
}

/// The order of sorted set elements: by score, then by member bytes.
#[inline]
fn cmp_elem(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    if s1 < s2 {
        Ordering::Less
    } else if s1 > s2 {
        Ordering::Greater
    } else {
        m1.cmp(m2)
    }
}

// ---------------------------------------------------------------------------------------------
// Skiplist
// ---------------------------------------------------------------------------------------------

const MAX_LEVEL: usize = 32;
/// Levels a node holds in place; a taller node (probability 1/64) keeps the rest apart.
const INLINE: usize = 3;
/// Member bytes a node holds in place.
const MEMBER_INLINE: usize = 24;
/// `Node::mlen` of a member kept in [`SkipList::long`].
const LONG: u8 = u8::MAX;
/// Node 0 is the header; as a link target it means "none" (no link ever points at the header).
const NIL: u32 = 0;

#[derive(Clone, Copy, Debug, Default)]
struct Link {
    fwd: u32,
    span: u32,
}

/// One 64-byte, line-aligned node: score, backward link, the first levels and, when it is
/// short, the member. A descent step reads the score and the link it follows from one cache
/// line, and finding a member by the index and then moving its node touches that line again
/// rather than a member stored elsewhere.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
struct Node {
    score: f64,
    back: u32,
    /// Number of levels; 0 for a free slot.
    level: u8,
    /// Length of the member in `mem`, or [`LONG`]: `mem[..4]` indexes [`SkipList::long`].
    mlen: u8,
    /// Levels 0..INLINE; in a node taller than INLINE, `lv[INLINE - 1].fwd` is instead the
    /// index of its levels INLINE - 1.. in [`SkipList::tall`].
    lv: [Link; INLINE],
    mem: [u8; MEMBER_INLINE],
}

impl Node {
    fn new(score: f64, level: usize) -> Node {
        Node {
            score,
            back: NIL,
            level: level as u8,
            mlen: 0,
            lv: [Link::default(); INLINE],
            mem: [0; MEMBER_INLINE],
        }
    }
}

#[derive(Clone, Debug)]
struct SkipList {
    nodes: Vec<Node>,
    /// Members longer than MEMBER_INLINE bytes.
    long: Vec<Box<[u8]>>,
    long_free: Vec<u32>,
    /// The upper levels of nodes taller than INLINE (the header among them).
    tall: Vec<Box<[Link]>>,
    tall_free: Vec<u32>,
    free: Vec<u32>,
    level: usize,
    len: usize,
    tail: u32,
    seed: u64,
    /// Bumped when the arena is compacted, which moves nodes (part of a SCAN cursor).
    epoch: u32,
}

impl SkipList {
    fn new() -> Self {
        let mut head = Node::new(0.0, MAX_LEVEL);
        head.lv[INLINE - 1].fwd = 0;
        SkipList {
            nodes: vec![head],
            long: Vec::new(),
            long_free: Vec::new(),
            tall: vec![vec![Link::default(); MAX_LEVEL + 1 - INLINE].into_boxed_slice()],
            tall_free: Vec::new(),
            free: Vec::new(),
            level: 1,
            len: 0,
            tail: NIL,
            seed: 0x9e37_79b9_7f4a_7c15,
            epoch: 0,
        }
    }

    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            let mut x = self.seed;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.seed = x;
            // Probability 1/4 of one more level, as Redis's ZSKIPLIST_P.
            if level < MAX_LEVEL && (x >> 32) & 3 == 0 {
                level += 1;
            } else {
                return level;
            }
        }
    }

    #[inline(always)]
    fn link(&self, x: u32, i: usize) -> Link {
        let n = &self.nodes[x as usize];
        if i < INLINE - 1 || n.level as usize <= INLINE {
            n.lv[i]
        } else {
            self.tall[n.lv[INLINE - 1].fwd as usize][i + 1 - INLINE]
        }
    }

    #[inline(always)]
    fn link_mut(&mut self, x: u32, i: usize) -> &mut Link {
        let n = &mut self.nodes[x as usize];
        if i < INLINE - 1 || n.level as usize <= INLINE {
            &mut n.lv[i]
        } else {
            &mut self.tall[n.lv[INLINE - 1].fwd as usize][i + 1 - INLINE]
        }
    }

    #[inline(always)]
    fn fwd(&self, x: u32, i: usize) -> u32 {
        self.link(x, i).fwd
    }

    #[inline(always)]
    fn span(&self, x: u32, i: usize) -> u32 {
        self.link(x, i).span
    }

    #[inline]
    fn node(&self, x: u32) -> &Node {
        &self.nodes[x as usize]
    }

    #[inline]
    fn ele(&self, x: u32) -> &[u8] {
        let n = &self.nodes[x as usize];
        if n.mlen != LONG {
            &n.mem[..n.mlen as usize]
        } else {
            let [a, b, c, d, ..] = n.mem;
            &self.long[u32::from_ne_bytes([a, b, c, d]) as usize]
        }
    }

    #[inline]
    fn first(&self) -> u32 {
        self.fwd(0, 0)
    }

    fn alloc(&mut self, ele: &[u8], score: f64, level: usize) -> u32 {
        let mut node = Node::new(score, level);
        if ele.len() <= MEMBER_INLINE {
            node.mlen = ele.len() as u8;
            node.mem[..ele.len()].copy_from_slice(ele);
        } else {
            node.mlen = LONG;
            let boxed: Box<[u8]> = ele.into();
            let i = match self.long_free.pop() {
                Some(i) => {
                    self.long[i as usize] = boxed;
                    i
                }
                None => {
                    self.long.push(boxed);
                    (self.long.len() - 1) as u32
                }
            };
            node.mem[..4].copy_from_slice(&i.to_ne_bytes());
        }
        if level > INLINE {
            let links = vec![Link::default(); level + 1 - INLINE].into_boxed_slice();
            node.lv[INLINE - 1].fwd = match self.tall_free.pop() {
                Some(t) => {
                    self.tall[t as usize] = links;
                    t
                }
                None => {
                    self.tall.push(links);
                    (self.tall.len() - 1) as u32
                }
            };
        }
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, x: u32) {
        let n = &mut self.nodes[x as usize];
        if n.mlen == LONG {
            let [a, b, c, d, ..] = n.mem;
            let i = u32::from_ne_bytes([a, b, c, d]);
            self.long[i as usize] = Box::new([]);
            self.long_free.push(i);
        }
        if n.level as usize > INLINE {
            let t = n.lv[INLINE - 1].fwd;
            self.tall[t as usize] = Box::new([]);
            self.tall_free.push(t);
        }
        n.level = 0;
        self.free.push(x);
        if self.len == 0 {
            self.nodes.truncate(1);
            self.tall.truncate(1);
            self.long.clear();
            self.free.clear();
            self.tall_free.clear();
            self.long_free.clear();
        }
    }

    /// Whether node `x` sorts before (score, ele).
    #[inline]
    fn before(&self, x: u32, score: f64, ele: &[u8]) -> bool {
        let n = self.node(x);
        // Members are read only when the scores tie.
        match n.score.partial_cmp(&score) {
            Some(Ordering::Less) => true,
            Some(Ordering::Greater) => false,
            _ => self.ele(x) < ele,
        }
    }

    /// Inserts an element known to be absent; returns its node.
    fn insert(&mut self, score: f64, ele: &[u8]) -> u32 {
        let level = self.random_level();
        let x = self.alloc(ele, score, level);
        self.link_in(x);
        self.len += 1;
        x
    }

    /// Links the unlinked node `x` in at the place of its score and member.
    fn link_in(&mut self, x: u32) {
        let (mut update, mut rank) = self.find_update_ranked(x);
        let level = self.node(x).level as usize;
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = 0;
                self.link_mut(0, i).span = self.len as u32;
            }
            self.level = level;
        }
        for i in 0..level {
            let ul = self.link(update[i], i);
            *self.link_mut(x, i) = Link {
                fwd: ul.fwd,
                span: ul.span - (rank[0] - rank[i]),
            };
            *self.link_mut(update[i], i) = Link {
                fwd: x,
                span: (rank[0] - rank[i]) + 1,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.link_mut(u, i).span += 1;
        }
        self.nodes[x as usize].back = update[0];
        let f = self.fwd(x, 0);
        if f != NIL {
            self.nodes[f as usize].back = x;
        } else {
            self.tail = x;
        }
    }

    /// The predecessors, and their ranks, of the unlinked node `x` at every level.
    fn find_update_ranked(&self, x: u32) -> ([u32; MAX_LEVEL], [u32; MAX_LEVEL]) {
        let mut update = [0u32; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let (score, ele) = (self.node(x).score, self.ele(x));
        let mut p = 0u32;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            self.prefetch_below(p, i);
            loop {
                let l = self.link(p, i);
                if l.fwd != NIL && self.before(l.fwd, score, ele) {
                    rank[i] += l.span;
                    p = l.fwd;
                    self.prefetch_below(p, i);
                } else {
                    break;
                }
            }
            update[i] = p;
        }
        (update, rank)
    }

    /// Unlinks node `x` given its predecessors at every level (the node stays allocated).
    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let ul = self.link(u, i);
            if ul.fwd == x {
                let xl = self.link(x, i);
                *self.link_mut(u, i) = Link {
                    fwd: xl.fwd,
                    span: ul.span + xl.span - 1,
                };
            } else {
                self.link_mut(u, i).span -= 1;
            }
        }
        let (f, b) = (self.fwd(x, 0), self.node(x).back);
        if f != NIL {
            self.nodes[f as usize].back = b;
        } else {
            self.tail = b;
        }
        while self.level > 1 && self.fwd(0, self.level - 1) == NIL {
            self.level -= 1;
        }
    }

    /// Unlinks and frees node `x`.
    fn delete_node(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        self.unlink(x, update);
        self.len -= 1;
        self.release(x);
    }

    /// The predecessors of (score, ele) at every level.
    fn find_update(&self, score: f64, ele: &[u8]) -> [u32; MAX_LEVEL] {
        let mut update = [0u32; MAX_LEVEL];
        let mut x = 0u32;
        for i in (0..self.level).rev() {
            self.prefetch_below(x, i);
            loop {
                let f = self.fwd(x, i);
                if f != NIL && self.before(f, score, ele) {
                    x = f;
                    self.prefetch_below(x, i);
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        update
    }

    /// Starts loading the node a descent standing on `x` at level `i` reads if it steps down,
    /// so that its cache miss overlaps the one for the node to the right.
    #[inline(always)]
    fn prefetch_below(&self, x: u32, i: usize) {
        #[cfg(target_arch = "x86_64")]
        if i > 0 {
            let below = self.fwd(x, i - 1);
            let p = self.nodes.as_ptr().wrapping_add(below as usize);
            // SAFETY: a prefetch is a hint; it never faults, whatever the address.
            #[allow(unused_unsafe)]
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    p as *const i8,
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (x, i);
    }

    /// Unlinks and frees node `x`.
    fn delete(&mut self, x: u32) {
        let update = self.find_update(self.node(x).score, self.ele(x));
        self.delete_node(x, &update);
    }

    /// Gives node `x` a new score, moving it (the same node, so its member stays in place) when
    /// its order changes.
    fn update_score(&mut self, x: u32, new: f64) {
        let (b, f) = (self.node(x).back, self.fwd(x, 0));
        if (b == NIL || self.node(b).score < new) && (f == NIL || self.node(f).score > new) {
            self.nodes[x as usize].score = new;
            return;
        }
        let update = self.find_update(self.node(x).score, self.ele(x));
        self.unlink(x, &update);
        self.nodes[x as usize].score = new;
        self.link_in(x);
    }

    /// 1-based rank of node `x`.
    fn rank(&self, x: u32) -> usize {
        let (score, ele) = (self.node(x).score, self.ele(x));
        let mut p = 0u32;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(p, i);
                if l.fwd != NIL && (l.fwd == x || self.before(l.fwd, score, ele)) {
                    rank += l.span as usize;
                    p = l.fwd;
                } else {
                    break;
                }
            }
            if p == x {
                return rank;
            }
        }
        0
    }

    /// The node at 1-based `rank`, NIL when out of range; also the predecessors at every level.
    fn by_rank_update(&self, rank: usize) -> (u32, [u32; MAX_LEVEL]) {
        let mut update = [0u32; MAX_LEVEL];
        let mut x = 0u32;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && traversed + (self.span(x, i) as usize) < rank {
                    traversed += self.span(x, i) as usize;
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        (self.fwd(x, 0), update)
    }

    /// The node at 1-based `rank`, NIL when out of range.
    fn by_rank(&self, rank: usize) -> u32 {
        if rank == 0 || rank > self.len {
            return NIL;
        }
        if rank == self.len {
            return self.tail;
        }
        let mut x = 0u32;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && traversed + (self.span(x, i) as usize) <= rank {
                    traversed += self.span(x, i) as usize;
                    x = f;
                } else {
                    break;
                }
            }
            if traversed == rank {
                return x;
            }
        }
        NIL
    }

    /// How many leading elements satisfy `pred` (for a predicate true on a prefix of the order;
    /// otherwise the answer depends on the skiplist's shape, as in Redis).
    fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = 0u32;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && {
                    let n = self.node(f);
                    pred(n.score, self.ele(f))
                } {
                    rank += self.span(x, i) as usize;
                    x = f;
                } else {
                    break;
                }
            }
        }
        rank
    }

    /// Removes ranks `[start, end)` (0-based), calling `gone` with each node and member.
    fn delete_ranks(&mut self, start: usize, end: usize, mut gone: impl FnMut(u32, &[u8])) {
        if start >= end {
            return;
        }
        let (mut x, update) = self.by_rank_update(start + 1);
        for _ in start..end {
            if x == NIL {
                break;
            }
            let next = self.fwd(x, 0);
            gone(x, self.ele(x));
            self.delete_node(x, &update);
            x = next;
        }
    }

    /// One ZSCAN step over the arena: calls `f` for live nodes from `cursor` until about
    /// `count` slots were visited; returns the next cursor (0 when done). A member present for
    /// the whole scan keeps its node (a score change moves the node, not the member), so it is
    /// returned; a compaction changes the epoch in the cursor and the scan starts over.
    fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        let epoch = (cursor >> CURSOR_POS_BITS) as u32;
        let mut pos = (cursor & ((1u64 << CURSOR_POS_BITS) - 1)) as usize;
        if cursor != 0 && epoch != (self.epoch & 0xff_ffff) {
            pos = 0;
        }
        let pos0 = pos.max(1);
        let n = self.nodes.len();
        let end = pos0.saturating_add(count.max(1)).min(n);
        let (mut pos, mut emitted) = (pos0, 0);
        while pos < n && (pos < end || emitted == 0) {
            if self.nodes[pos].level != 0 {
                f(self.ele(pos as u32), self.nodes[pos].score);
                emitted += 1;
            }
            pos += 1;
        }
        if pos >= n {
            0
        } else {
            (((self.epoch & 0xff_ffff) as u64) << CURSOR_POS_BITS) | pos as u64
        }
    }

    /// A uniformly random live node (`rand` gives random 64-bit numbers).
    fn random(&self, mut rand: impl FnMut() -> u64) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let slots = self.nodes.len() as u64 - 1;
        loop {
            let x = 1 + (rand() % slots) as u32;
            if self.node(x).level != 0 {
                return Some(x);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Listpack helpers: entries are member, score, member, score...
// ---------------------------------------------------------------------------------------------

#[inline]
fn decode_score(b: &[u8]) -> f64 {
    match <[u8; 8]>::try_from(b) {
        Ok(a) => f64::from_le_bytes(a),
        Err(_) => 0.0,
    }
}

#[inline]
fn encode_score(s: f64) -> [u8; 8] {
    // A listpack keeps an integral score as an integer: -0 reads back as 0.
    let s = if s == 0.0 { 0.0 } else { s };
    s.to_le_bytes()
}

/// The pairs of a listpack, in order.
struct PackPairs<'a> {
    it: crate::listpack::Iter<'a>,
}

impl<'a> Iterator for PackPairs<'a> {
    type Item = (&'a [u8], f64);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let m = self.it.next()?;
        let s = self.it.next()?;
        Some((m, decode_score(s)))
    }
}

fn pairs(lp: &Listpack) -> PackPairs<'_> {
    PackPairs { it: lp.iter() }
}

/// Position of the `rank`-th pair (or the end).
fn pack_pos(lp: &Listpack, rank: usize) -> Pos {
    let mut pos = 0;
    for _ in 0..rank * 2 {
        if pos >= lp.end() {
            break;
        }
        pos = lp.entry(pos).1;
    }
    pos
}

/// Position, score and rank of `m`.
fn pack_find(lp: &Listpack, m: &[u8]) -> Option<(Pos, f64, usize)> {
    let mut pos = 0;
    let mut rank = 0;
    while pos < lp.end() {
        let (e, after) = lp.entry(pos);
        let (s, next) = lp.entry(after);
        if e == m {
            return Some((pos, decode_score(s), rank));
        }
        pos = next;
        rank += 1;
    }
    None
}

fn pack_insert(lp: &mut Listpack, score: f64, m: &[u8]) {
    let mut pos = 0;
    while pos < lp.end() {
        let (e, after) = lp.entry(pos);
        let (s, next) = lp.entry(after);
        if cmp_elem(decode_score(s), e, score, m) == Ordering::Greater {
            break;
        }
        pos = next;
    }
    lp.insert(pos, &encode_score(score));
    lp.insert(pos, m);
}

// ---------------------------------------------------------------------------------------------
// The sorted set
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Skip {
    list: SkipList,
    /// Node indices by member: the members live once, in the list's arena.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Skip {
    fn with_capacity(n: usize) -> Skip {
        let mut list = SkipList::new();
        list.nodes.reserve(n);
        Skip {
            list,
            index: HashTable::with_capacity(n),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// The node of member `m`.
    #[inline]
    fn find(&self, m: &[u8]) -> Option<u32> {
        let h = self.hasher.hash_one(m);
        let list = &self.list;
        self.index.find(h, |&x| list.ele(x) == m).copied()
    }

    /// Adds a member known to be absent.
    fn add_new(&mut self, score: f64, m: &[u8]) {
        let x = self.list.insert(score, m);
        let Skip {
            list,
            index,
            hasher,
        } = self;
        let h = hasher.hash_one(list.ele(x));
        index.insert_unique(h, x, |&y| hasher.hash_one(list.ele(y)));
    }

    /// Drops node `x`, of member `m`, from the index.
    fn unindex(index: &mut HashTable<u32>, hasher: &DefaultHashBuilder, x: u32, m: &[u8]) {
        if let Ok(e) = index.find_entry(hasher.hash_one(m), |&y| y == x) {
            e.remove();
        }
    }

    /// Removes member `m`; false when absent.
    fn remove(&mut self, m: &[u8]) -> bool {
        let Some(x) = self.find(m) else {
            return false;
        };
        Skip::unindex(&mut self.index, &self.hasher, x, m);
        self.list.delete(x);
        self.compact_if_sparse();
        true
    }

    /// Rebuilds the arena once fewer than a quarter of its nodes are live, so that memory
    /// follows the set down (the free list reuses holes while it grows). Nodes are laid out in
    /// order, and the SCAN epoch changes.
    fn compact_if_sparse(&mut self) {
        let l = &mut self.list;
        if l.nodes.len() <= 64 || l.len * 4 >= l.nodes.len() {
            return;
        }
        let mut fresh = SkipList::new();
        fresh.epoch = l.epoch.wrapping_add(1);
        fresh.seed = l.seed;
        fresh.nodes.reserve(l.len);
        // From the tail backwards, each insert lands at the head: O(level) apiece.
        let mut x = l.tail;
        while x != NIL {
            fresh.insert(l.nodes[x as usize].score, l.ele(x));
            x = l.nodes[x as usize].back;
        }
        self.list = fresh;
        self.index = HashTable::with_capacity(self.list.len);
        let Skip {
            list,
            index,
            hasher,
        } = self;
        for x in 1..list.nodes.len() as u32 {
            let h = hasher.hash_one(list.ele(x));
            index.insert_unique(h, x, |&y| hasher.hash_one(list.ele(y)));
        }
    }
}

#[derive(Clone, Debug)]
enum Repr {
    Pack(Listpack),
    Skip(Box<Skip>),
}

/// A sorted set value.
#[derive(Clone, Debug)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet {
            repr: Repr::Pack(Listpack::new()),
        }
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((a, x), (b, y))| a == b && x.to_bits() == y.to_bits())
    }
}

/// ZADD's input flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddFlags {
    pub incr: bool,
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

/// What one ZADD element did (Redis's zsetAdd out flags).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AddOutcome {
    /// A new member, with this score.
    Added(f64),
    /// The score changed to this one.
    Updated(f64),
    /// Processed, score unchanged (re-added with the same score, or a zero increment).
    Same(f64),
    /// Not processed because of NX, XX, GT or LT.
    Nop,
    /// The increment produced NaN; nothing changed.
    Nan,
}

/// Iterator over (member, score) in order.
pub struct Iter<'a> {
    inner: IterInner<'a>,
}

enum IterInner<'a> {
    Pack(PackPairs<'a>),
    Skip(&'a SkipList, u32),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            IterInner::Pack(p) => p.next(),
            IterInner::Skip(l, x) => {
                if *x == NIL {
                    return None;
                }
                let (n, e) = (l.node(*x), l.ele(*x));
                *x = l.fwd(*x, 0);
                Some((e, n.score))
            }
        }
    }
}

impl ZSet {
    /// An empty set in the encoding Redis's ZADD creates for a first member of `first_len`
    /// bytes.
    pub fn for_first_member(first_len: usize, limits: &Limits) -> ZSet {
        if limits.zset_max_listpack_entries == 0 || first_len > limits.zset_max_listpack_value {
            ZSet::new_skiplist()
        } else {
            ZSet::default()
        }
    }

    /// An empty skiplist-encoded set.
    pub fn new_skiplist() -> ZSet {
        ZSet {
            repr: Repr::Skip(Box::new(Skip::with_capacity(0))),
        }
    }

    /// A set of distinct members already sorted by (score, member), in the encoding Redis
    /// gives a stored result (zsetConvertToListpackIfNeeded over a skiplist).
    pub fn from_sorted(items: &[(Elem, f64)], limits: &Limits) -> ZSet {
        let maxlen = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        if items.len() <= limits.zset_max_listpack_entries
            && maxlen <= limits.zset_max_listpack_value
        {
            let mut lp = Listpack::new();
            for (m, s) in items {
                lp.push(m);
                lp.push(&encode_score(*s));
            }
            ZSet {
                repr: Repr::Pack(lp),
            }
        } else {
            // From the last, so that each insert lands at the head.
            let mut sk = Skip::with_capacity(items.len());
            for (m, s) in items.iter().rev() {
                sk.add_new(*s, m);
            }
            ZSet {
                repr: Repr::Skip(Box::new(sk)),
            }
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(lp) => lp.len() / 2,
            Repr::Skip(s) => s.list.len,
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING's name.
    pub fn encoding_name(&self) -> &'static str {
        match &self.repr {
            Repr::Pack(_) => "listpack",
            Repr::Skip(_) => "skiplist",
        }
    }

    /// Whether the set is listpack-encoded.
    pub fn is_listpack(&self) -> bool {
        matches!(self.repr, Repr::Pack(_))
    }

    /// One ZSCAN step over a skiplist-encoded set: calls `f` with members and scores from
    /// `cursor` on, about `count` slots' worth, and returns the next cursor (0 when done).
    /// None for a listpack, which is returned whole.
    pub fn scan_table(&self, cursor: u64, count: usize, f: impl FnMut(&[u8], f64)) -> Option<u64> {
        match &self.repr {
            Repr::Pack(_) => None,
            Repr::Skip(s) => Some(s.list.scan(cursor, count, f)),
        }
    }

    /// Every (member, score), in order.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Pack(lp) => Iter {
                inner: IterInner::Pack(pairs(lp)),
            },
            Repr::Skip(s) => Iter {
                inner: IterInner::Skip(&s.list, s.list.first()),
            },
        }
    }

    /// The score of `m`.
    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Pack(lp) => pack_find(lp, m).map(|(_, s, _)| s),
            Repr::Skip(s) => s.find(m).map(|x| s.list.node(x).score),
        }
    }

    /// The 0-based rank of `m` (from the highest score when `rev`).
    pub fn rank(&self, m: &[u8], rev: bool) -> Option<usize> {
        let r = match &self.repr {
            Repr::Pack(lp) => pack_find(lp, m).map(|(_, _, r)| r),
            Repr::Skip(s) => match s.list.rank(s.find(m)?) {
                0 => None,
                r => Some(r - 1),
            },
        }?;
        Some(if rev { self.len() - 1 - r } else { r })
    }

    /// Converts to the skiplist encoding (SORT does this to the sorted set it sorts).
    pub fn convert_to_skiplist(&mut self) {
        if let Repr::Pack(lp) = &self.repr {
            let items: Vec<(&[u8], f64)> = pairs(lp).collect();
            let mut sk = Skip::with_capacity(items.len());
            for &(m, s) in items.iter().rev() {
                sk.add_new(s, m);
            }
            self.repr = Repr::Skip(Box::new(sk));
        }
    }

    /// Adds or updates `m` as Redis's zsetAdd, converting to a skiplist when a new member
    /// would pass the listpack limits.
    pub fn add(&mut self, score: f64, m: &[u8], f: AddFlags, limits: &Limits) -> AddOutcome {
        if score.is_nan() {
            return AddOutcome::Nan;
        }
        let found = match &self.repr {
            Repr::Pack(lp) => pack_find(lp, m).map(|(_, s, _)| (s, NIL)),
            Repr::Skip(s) => s.find(m).map(|x| (s.list.node(x).score, x)),
        };
        if let Some((cur, x)) = found {
            if f.nx {
                return AddOutcome::Nop;
            }
            let mut score = score;
            if f.incr {
                score += cur;
                if score.is_nan() {
                    return AddOutcome::Nan;
                }
            }
            if (f.lt && score >= cur) || (f.gt && score <= cur) {
                return AddOutcome::Nop;
            }
            if score == cur {
                return AddOutcome::Same(score);
            }
            match &mut self.repr {
                Repr::Pack(lp) => {
                    if let Some((pos, _, _)) = pack_find(lp, m) {
                        lp.remove(pos, 2);
                    }
                    pack_insert(lp, score, m);
                }
                Repr::Skip(s) => s.list.update_score(x, score),
            }
            return AddOutcome::Updated(score);
        }
        if f.xx {
            return AddOutcome::Nop;
        }
        if let Repr::Pack(lp) = &mut self.repr {
            if lp.len() / 2 + 1 > limits.zset_max_listpack_entries
                || m.len() > limits.zset_max_listpack_value
            {
                self.convert_to_skiplist();
            } else {
                pack_insert(lp, score, m);
                return AddOutcome::Added(score);
            }
        }
        if let Repr::Skip(s) = &mut self.repr {
            // Absent: the lookup above found nothing.
            s.add_new(score, m);
        }
        AddOutcome::Added(score)
    }

    /// Removes `m`; true when it was a member.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Pack(lp) => match pack_find(lp, m) {
                Some((pos, _, _)) => {
                    lp.remove(pos, 2);
                    true
                }
                None => false,
            },
            Repr::Skip(s) => s.remove(m),
        }
    }

    /// The element at 0-based `rank`.
    pub fn nth(&self, rank: usize) -> Option<(&[u8], f64)> {
        if rank >= self.len() {
            return None;
        }
        match &self.repr {
            Repr::Pack(lp) => {
                let pos = pack_pos(lp, rank);
                let (m, after) = lp.entry(pos);
                Some((m, decode_score(lp.entry(after).0)))
            }
            Repr::Skip(s) => {
                let x = s.list.by_rank(rank + 1);
                (x != NIL).then(|| (s.list.ele(x), s.list.node(x).score))
            }
        }
    }

    /// A uniformly random element (`rand` gives random 64-bit numbers).
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Pack(_) => {
                let n = self.len();
                if n == 0 {
                    return None;
                }
                self.nth((rand() % n as u64) as usize)
            }
            Repr::Skip(s) => s
                .list
                .random(rand)
                .map(|x| (s.list.ele(x), s.list.node(x).score)),
        }
    }

    /// Calls `f` for the elements of ranks `[start, end)` (0-based, clamped), in order, or in
    /// reverse order (from `end - 1` down to `start`) when `rev`.
    pub fn for_each_rank(
        &self,
        start: usize,
        end: usize,
        rev: bool,
        mut f: impl FnMut(&[u8], f64),
    ) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        match &self.repr {
            Repr::Pack(lp) => {
                let mut it = pairs(lp).skip(start).take(end - start);
                if rev {
                    let v: SmallVec<[(&[u8], f64); 32]> = it.collect();
                    for (m, s) in v.into_iter().rev() {
                        f(m, s);
                    }
                } else {
                    for (m, s) in &mut it {
                        f(m, s);
                    }
                }
            }
            Repr::Skip(s) => {
                let l = &s.list;
                let mut x = l.by_rank(if rev { end } else { start + 1 });
                for _ in start..end {
                    if x == NIL {
                        break;
                    }
                    let n = l.node(x);
                    f(l.ele(x), n.score);
                    x = if rev { n.back } else { l.fwd(x, 0) };
                }
            }
        }
    }

    /// Removes the elements of ranks `[start, end)` (0-based, clamped); returns how many.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        match &mut self.repr {
            Repr::Pack(lp) => {
                let pos = pack_pos(lp, start);
                lp.remove(pos, (end - start) * 2);
            }
            Repr::Skip(s) => {
                let Skip {
                    list,
                    index,
                    hasher,
                } = &mut **s;
                list.delete_ranks(start, end, |x, m| Skip::unindex(index, hasher, x, m));
                s.compact_if_sparse();
            }
        }
        end - start
    }

    /// Whether the range can hold anything: the last element reaches the minimum and the first
    /// is within the maximum (Redis's zslIsInRange / zzlIsInRange, and their lex forms).
    fn in_range<G, L>(&self, valid: bool, gte_min: &G, lte_max: &L) -> bool
    where
        G: Fn(f64, &[u8]) -> bool,
        L: Fn(f64, &[u8]) -> bool,
    {
        let n = self.len();
        if !valid || n == 0 {
            return false;
        }
        match (self.nth(0), self.nth(n - 1)) {
            (Some(first), Some(last)) => gte_min(last.1, last.0) && lte_max(first.1, first.0),
            _ => false,
        }
    }

    /// The rank of the first element in range, found as Redis does (a scan of a listpack, a
    /// descent of a skiplist), or None.
    fn first_in_range<G, L>(&self, valid: bool, gte_min: &G, lte_max: &L) -> Option<usize>
    where
        G: Fn(f64, &[u8]) -> bool,
        L: Fn(f64, &[u8]) -> bool,
    {
        if !self.in_range(valid, gte_min, lte_max) {
            return None;
        }
        let lo = match &self.repr {
            Repr::Pack(lp) => pairs(lp).position(|(m, s)| gte_min(s, m))?,
            Repr::Skip(s) => s.list.count_while(|s, m| !gte_min(s, m)),
        };
        let (m, s) = self.nth(lo)?;
        lte_max(s, m).then_some(lo)
    }

    /// The rank of the last element in range, found as Redis does, or None.
    fn last_in_range<G, L>(&self, valid: bool, gte_min: &G, lte_max: &L) -> Option<usize>
    where
        G: Fn(f64, &[u8]) -> bool,
        L: Fn(f64, &[u8]) -> bool,
    {
        if !self.in_range(valid, gte_min, lte_max) {
            return None;
        }
        let hi = match &self.repr {
            Repr::Pack(lp) => {
                let v: SmallVec<[(&[u8], f64); 32]> = pairs(lp).collect();
                v.iter().rposition(|(m, s)| lte_max(*s, m))? + 1
            }
            Repr::Skip(s) => s.list.count_while(|s, m| lte_max(s, m)),
        };
        let last = hi.checked_sub(1)?;
        let (m, s) = self.nth(last)?;
        gte_min(s, m).then_some(last)
    }

    /// From rank `start`, skips `offset` elements (unchecked, as Redis), then counts the
    /// elements for which `keep` holds, at most `limit`; forward, or backward when `rev`.
    /// Returns the ranks visited as a window `[a, b)`.
    fn walk<K>(
        &self,
        start: usize,
        rev: bool,
        offset: usize,
        limit: Option<usize>,
        keep: &K,
    ) -> (usize, usize)
    where
        K: Fn(f64, &[u8]) -> bool,
    {
        let n = self.len();
        let limit = limit.unwrap_or(usize::MAX);
        let from = if rev {
            match start.checked_sub(offset) {
                Some(p) => p,
                None => return (0, 0),
            }
        } else {
            match start.checked_add(offset) {
                Some(p) if p < n => p,
                _ => return (0, 0),
            }
        };
        let mut count = 0usize;
        match &self.repr {
            Repr::Pack(lp) => {
                let v: SmallVec<[(&[u8], f64); 32]> = pairs(lp).collect();
                let mut i = from as isize;
                while count < limit && i >= 0 && (i as usize) < v.len() {
                    let (m, s) = v[i as usize];
                    if !keep(s, m) {
                        break;
                    }
                    count += 1;
                    i += if rev { -1 } else { 1 };
                }
            }
            Repr::Skip(sk) => {
                let l = &sk.list;
                let mut x = l.by_rank(from + 1);
                while count < limit && x != NIL {
                    let node = l.node(x);
                    if !keep(node.score, l.ele(x)) {
                        break;
                    }
                    count += 1;
                    x = if rev { node.back } else { l.fwd(x, 0) };
                }
            }
        }
        if count == 0 {
            (0, 0)
        } else if rev {
            (from + 1 - count, from + 1)
        } else {
            (from, from + count)
        }
    }

    fn range_walk<G, L>(
        &self,
        valid: bool,
        gte_min: G,
        lte_max: L,
        rev: bool,
        offset: usize,
        limit: Option<usize>,
    ) -> (usize, usize)
    where
        G: Fn(f64, &[u8]) -> bool,
        L: Fn(f64, &[u8]) -> bool,
    {
        if rev {
            match self.last_in_range(valid, &gte_min, &lte_max) {
                Some(last) => self.walk(last, true, offset, limit, &gte_min),
                None => (0, 0),
            }
        } else {
            match self.first_in_range(valid, &gte_min, &lte_max) {
                Some(first) => self.walk(first, false, offset, limit, &lte_max),
                None => (0, 0),
            }
        }
    }

    /// The ranks `[a, b)` that Z[REV]RANGEBYSCORE with LIMIT `offset` `limit` (None: no limit)
    /// returns: from the first element in range (the last when `rev`), `offset` skipped, then
    /// while in range. Read them with [`ZSet::for_each_rank`] (`rev` as here).
    pub fn score_range(
        &self,
        r: &ScoreRange,
        rev: bool,
        offset: usize,
        limit: Option<usize>,
    ) -> (usize, usize) {
        self.range_walk(
            r.valid(),
            |s, _| r.gte_min(s),
            |s, _| r.lte_max(s),
            rev,
            offset,
            limit,
        )
    }

    /// The ranks `[a, b)` that Z[REV]RANGEBYLEX returns, as [`ZSet::score_range`]. Over members
    /// of different scores the answer is Redis's: its walk, from a start found by a scan of a
    /// listpack or a descent of a skiplist (whose shape then matters, in Redis as here).
    pub fn lex_range(
        &self,
        r: &LexRange<'_>,
        rev: bool,
        offset: usize,
        limit: Option<usize>,
    ) -> (usize, usize) {
        self.range_walk(
            r.valid(),
            |_, m| r.gte_min(m),
            |_, m| r.lte_max(m),
            rev,
            offset,
            limit,
        )
    }

    /// ZCOUNT / ZLEXCOUNT: a walk of a listpack; the ranks of the first and last elements in
    /// range in a skiplist (which can make the count negative when a lex range does not follow
    /// the set's order, as in Redis).
    fn count_range<G, L>(&self, valid: bool, gte_min: G, lte_max: L) -> i64
    where
        G: Fn(f64, &[u8]) -> bool,
        L: Fn(f64, &[u8]) -> bool,
    {
        let Some(first) = self.first_in_range(valid, &gte_min, &lte_max) else {
            return 0;
        };
        match &self.repr {
            Repr::Pack(_) => {
                let (a, b) = self.walk(first, false, 0, None, &lte_max);
                (b - a) as i64
            }
            Repr::Skip(_) => {
                let n = self.len() as i64;
                match self.last_in_range(valid, &gte_min, &lte_max) {
                    Some(last) => last as i64 + 1 - first as i64,
                    None => n - first as i64,
                }
            }
        }
    }

    /// ZCOUNT: how many elements are in a score range.
    pub fn score_count(&self, r: &ScoreRange) -> i64 {
        self.count_range(r.valid(), |s, _| r.gte_min(s), |s, _| r.lte_max(s))
    }

    /// ZLEXCOUNT: how many elements are in a lex range.
    pub fn lex_count(&self, r: &LexRange<'_>) -> i64 {
        self.count_range(r.valid(), |_, m| r.gte_min(m), |_, m| r.lte_max(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Total order key for the model: (score, member).
    #[derive(Clone, Debug, PartialEq)]
    struct K(f64, Vec<u8>);
    impl Eq for K {}
    impl Ord for K {
        fn cmp(&self, o: &Self) -> Ordering {
            cmp_elem(self.0, &self.1, o.0, &o.1)
        }
    }
    impl PartialOrd for K {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }

    fn lim(entries: usize) -> Limits {
        Limits {
            zset_max_listpack_entries: entries,
            ..Limits::default()
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn check(z: &ZSet, model: &BTreeMap<K, ()>, by_member: &BTreeMap<Vec<u8>, f64>) {
        assert_eq!(z.len(), model.len());
        let all: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        let want: Vec<(Vec<u8>, f64)> = model.keys().map(|k| (k.1.clone(), k.0)).collect();
        assert_eq!(all, want);
        for (i, (m, s)) in want.iter().enumerate() {
            assert_eq!(z.rank(m, false), Some(i));
            assert_eq!(z.score(m), Some(*s));
            assert_eq!(
                z.nth(i).map(|(a, b)| (a.to_vec(), b)),
                Some((m.clone(), *s))
            );
        }
        assert_eq!(by_member.len(), model.len());
    }

    #[test]
    fn scores_parse_like_redis() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"nan"), None);
        assert_eq!(parse_score(b" 1"), None);
        assert_eq!(parse_score(b"1 "), None);
        assert_eq!(parse_score(b""), None);
        assert_eq!(parse_score(b"1e400"), None);
        assert_eq!(parse_score(b"1e-400"), None);
        assert!(parse_score(b"1e-310").is_some());
        assert_eq!(parse_score(b"1\0"), None);
        let r = ScoreRange::parse(b"(1", b"+inf").unwrap();
        assert!(r.minex && r.min == 1.0 && r.max == f64::INFINITY);
        assert_eq!(
            ScoreRange::parse(b"", b"(").map(|r| (r.min, r.max)),
            Some((0.0, 0.0))
        );
        assert!(ScoreRange::parse(b"nan", b"1").is_none());
        assert!(ScoreRange::parse(b"1x", b"1").is_none());
        assert!(ScoreRange::parse(b" 1", b"1e400").is_some());
        assert!(LexRange::parse(b"-", b"+").is_some());
        assert!(LexRange::parse(b"a", b"+").is_none());
        assert!(LexRange::parse(b"", b"+").is_none());
        assert!(LexRange::parse(b"-x", b"+").is_none());
    }

    #[test]
    fn listpack_and_conversion() {
        let l = lim(4);
        let mut z = ZSet::default();
        assert_eq!(
            z.add(2.0, b"b", AddFlags::default(), &l),
            AddOutcome::Added(2.0)
        );
        assert_eq!(
            z.add(1.0, b"a", AddFlags::default(), &l),
            AddOutcome::Added(1.0)
        );
        assert_eq!(
            z.add(-0.0, b"z", AddFlags::default(), &l),
            AddOutcome::Added(-0.0)
        );
        assert_eq!(z.score(b"z").map(|s| s.is_sign_negative()), Some(false));
        assert_eq!(z.encoding_name(), "listpack");
        let incr = AddFlags {
            incr: true,
            ..AddFlags::default()
        };
        assert_eq!(z.add(2.0, b"a", incr, &l), AddOutcome::Updated(3.0));
        assert_eq!(z.rank(b"a", false), Some(2));
        assert_eq!(z.rank(b"a", true), Some(0));
        z.add(5.0, b"c", AddFlags::default(), &l);
        assert_eq!(z.encoding_name(), "listpack");
        z.add(6.0, b"d", AddFlags::default(), &l);
        assert_eq!(z.encoding_name(), "skiplist");
        let v: Vec<_> = z.iter().map(|(m, _)| m.to_vec()).collect();
        assert_eq!(
            v,
            vec![
                b"z".to_vec(),
                b"b".to_vec(),
                b"a".to_vec(),
                b"c".to_vec(),
                b"d".to_vec()
            ]
        );
        assert_eq!(
            z.add(f64::INFINITY, b"i", AddFlags::default(), &l),
            AddOutcome::Added(f64::INFINITY)
        );
        assert_eq!(z.add(f64::NEG_INFINITY, b"i", incr, &l), AddOutcome::Nan);
        assert!(z.remove(b"i"));
        assert!(!z.remove(b"i"));
        let mut w = ZSet::default();
        w.add(1.0, &[b'x'; 65], AddFlags::default(), &Limits::default());
        assert_eq!(w.encoding_name(), "skiplist");
    }

    #[test]
    fn windows() {
        for entries in [128, 0] {
            let l = lim(entries);
            let mut z = ZSet::default();
            for (i, m) in [b"a", b"b", b"c", b"d", b"e"].iter().enumerate() {
                z.add(i as f64, *m, AddFlags::default(), &l);
            }
            let r = ScoreRange::parse(b"(1", b"3").unwrap();
            assert_eq!(z.score_range(&r, false, 0, None), (2, 4));
            let r = ScoreRange::parse(b"3", b"1").unwrap();
            assert_eq!(z.score_range(&r, false, 0, None), (0, 0));
            let r = ScoreRange::parse(b"-inf", b"+inf").unwrap();
            assert_eq!(z.score_range(&r, false, 0, None), (0, 5));
            let r = ScoreRange::parse(b"10", b"+inf").unwrap();
            assert_eq!(z.score_range(&r, false, 0, None), (0, 0));
            let mut lz = ZSet::default();
            for m in [b"a", b"b", b"c", b"d", b"e"] {
                lz.add(0.0, m, AddFlags::default(), &l);
            }
            let r = LexRange::parse(b"[b", b"(d").unwrap();
            assert_eq!(lz.lex_range(&r, false, 0, None), (1, 3));
            assert_eq!(lz.lex_range(&r, true, 0, None), (1, 3));
            let r = LexRange::parse(b"-", b"+").unwrap();
            assert_eq!(lz.lex_range(&r, false, 0, None), (0, 5));
            let r = LexRange::parse(b"+", b"-").unwrap();
            assert_eq!(lz.lex_range(&r, false, 0, None), (0, 0));
            assert_eq!(lz.lex_count(&LexRange::parse(b"[b", b"(d").unwrap()), 2);
            assert_eq!(z.score_count(&ScoreRange::parse(b"(1", b"3").unwrap()), 2);
            assert_eq!(
                z.score_range(
                    &ScoreRange::parse(b"-inf", b"+inf").unwrap(),
                    true,
                    1,
                    Some(2)
                ),
                (2, 4)
            );
            assert_eq!(
                z.score_range(
                    &ScoreRange::parse(b"-inf", b"+inf").unwrap(),
                    false,
                    4,
                    Some(2)
                ),
                (4, 5)
            );
            assert_eq!(
                z.score_range(
                    &ScoreRange::parse(b"-inf", b"+inf").unwrap(),
                    false,
                    5,
                    None
                ),
                (0, 0)
            );
            // Members of mixed scores: the walk stops where the range test first fails.
            let mut mixed = ZSet::default();
            for (s, m) in [(0.0, b"b"), (1.0, b"a"), (2.0, b"i")] {
                mixed.add(s, m, AddFlags::default(), &l);
            }
            let r = LexRange::parse(b"(a", b"[z").unwrap();
            assert_eq!(mixed.lex_range(&r, true, 0, None), (2, 3));
            assert_eq!(mixed.lex_range(&r, false, 0, None), (0, 3));
            let mut got = vec![];
            lz.for_each_rank(1, 4, true, |m, _| got.push(m.to_vec()));
            assert_eq!(got, vec![b"d".to_vec(), b"c".to_vec(), b"b".to_vec()]);
            assert_eq!(lz.remove_ranks(1, 3), 2);
            let v: Vec<_> = lz.iter().map(|(m, _)| m.to_vec()).collect();
            assert_eq!(v, vec![b"a".to_vec(), b"d".to_vec(), b"e".to_vec()]);
        }
    }

    #[test]
    fn skiplist_against_model() {
        let l = lim(0);
        let mut z = ZSet::default();
        let mut model: BTreeMap<K, ()> = BTreeMap::new();
        let mut by_member: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        let mut rng = Rng(12345);
        let steps = if cfg!(debug_assertions) {
            20_000
        } else {
            120_000
        };
        for step in 0..steps {
            let m = format!("m{}", rng.next() % 3000).into_bytes();
            let score = ((rng.next() % 200) as f64) / 4.0 - 10.0;
            match rng.next() % 10 {
                0..=4 => {
                    let out = z.add(score, &m, AddFlags::default(), &l);
                    match by_member.insert(m.clone(), score) {
                        Some(old) => {
                            model.remove(&K(old, m.clone()));
                            assert!(matches!(out, AddOutcome::Updated(_) | AddOutcome::Same(_)));
                        }
                        None => assert_eq!(out, AddOutcome::Added(score)),
                    }
                    model.insert(K(score, m), ());
                }
                5..=7 => {
                    let had = by_member.remove(&m);
                    assert_eq!(z.remove(&m), had.is_some());
                    if let Some(s) = had {
                        model.remove(&K(s, m));
                    }
                }
                8 => {
                    // Rank and score windows against the model.
                    let r = ScoreRange {
                        min: score,
                        minex: rng.next().is_multiple_of(2),
                        max: score + 5.0,
                        maxex: rng.next().is_multiple_of(2),
                    };
                    let keys: Vec<&K> = model.keys().collect();
                    let lo = keys.iter().take_while(|k| !r.gte_min(k.0)).count();
                    let hi = keys.iter().take_while(|k| r.lte_max(k.0)).count();
                    let want = if hi <= lo { (0, 0) } else { (lo, hi) };
                    assert_eq!(z.score_range(&r, false, 0, None), want);
                    if let Some(k) = keys.get(lo) {
                        assert_eq!(z.rank(&k.1, false), Some(lo));
                        assert_eq!(z.nth(lo).map(|(m, _)| m.to_vec()), Some(k.1.clone()));
                    }
                }
                _ => {
                    // Remove a small rank range.
                    let n = z.len();
                    if n > 0 {
                        let start = (rng.next() as usize) % n;
                        let end = (start + 1 + (rng.next() as usize) % 4).min(n);
                        let victims: Vec<K> = model
                            .keys()
                            .skip(start)
                            .take(end - start)
                            .cloned()
                            .collect();
                        assert_eq!(z.remove_ranks(start, end), end - start);
                        for k in victims {
                            model.remove(&k);
                            by_member.remove(&k.1);
                        }
                    }
                }
            }
            if step % 10_000 == 0 {
                check(&z, &model, &by_member);
            }
        }
        check(&z, &model, &by_member);
        let mut rev = vec![];
        z.for_each_rank(0, z.len(), true, |m, s| rev.push((m.to_vec(), s)));
        let mut want: Vec<(Vec<u8>, f64)> = model.keys().map(|k| (k.1.clone(), k.0)).collect();
        want.reverse();
        assert_eq!(rev, want);
        let c = z.clone();
        assert_eq!(c, z);
    }

    #[test]
    fn tall_nodes_compaction_and_scan() {
        let l = lim(0);
        let mut z = ZSet::default();
        let n = 50_000u64;
        let mut rng = Rng(99);
        // Every third member is too long for a node and lives apart.
        let name = |i: u64| {
            let tail = if i.is_multiple_of(3) {
                "-and-a-suffix-past-24-bytes"
            } else {
                ""
            };
            format!("member:{i:06}{tail}")
        };
        for i in 0..n {
            let s = (rng.next() % 1000) as f64;
            z.add(s, name(i).as_bytes(), AddFlags::default(), &l);
        }
        // Nodes taller than the inline levels exist at this size (about 12 of 50k).
        let Repr::Skip(sk) = &z.repr else { panic!() };
        assert!(sk
            .list
            .nodes
            .iter()
            .skip(1)
            .any(|n| n.level as usize > INLINE));
        // Scan while removing members that are not kept and rescoring kept ones; every kept
        // member must come back although the arena is compacted under the cursor.
        let keep = |i: u64| i.is_multiple_of(10);
        let mut seen = std::collections::HashSet::new();
        let (mut cursor, mut next_victim, mut epochs) = (0u64, 0u64, 0);
        loop {
            cursor = z
                .scan_table(cursor, 100, |m, _| {
                    seen.insert(m.to_vec());
                })
                .unwrap();
            let before = match &z.repr {
                Repr::Skip(s) => s.list.epoch,
                Repr::Pack(_) => unreachable!(),
            };
            for _ in 0..2000 {
                if next_victim < n {
                    let m = name(next_victim);
                    if keep(next_victim) {
                        z.add(-(next_victim as f64), m.as_bytes(), AddFlags::default(), &l);
                    } else {
                        assert!(z.remove(m.as_bytes()));
                    }
                    next_victim += 1;
                }
            }
            if let Repr::Skip(s) = &z.repr {
                epochs += (s.list.epoch != before) as usize;
            }
            if cursor == 0 {
                break;
            }
        }
        assert!(epochs >= 1, "the arena was never compacted");
        for i in (0..n).filter(|&i| keep(i)) {
            assert!(seen.contains(name(i).as_bytes()), "{i} missed");
        }
        // Order, ranks and scores after compaction.
        assert_eq!(z.len() as u64, n / 10);
        let all: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        for (r, (m, s)) in all.iter().enumerate() {
            assert_eq!(z.rank(m, false), Some(r));
            assert_eq!(z.score(m), Some(*s));
        }
        assert!(all.windows(2).all(|w| w[0].1 <= w[1].1));
        let mut state = 7u64;
        for _ in 0..100 {
            let (m, s) = z
                .random(|| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    state >> 11
                })
                .unwrap();
            assert_eq!(z.score(m), Some(s));
        }
        // Down to nothing and back.
        assert_eq!(z.remove_ranks(0, z.len()), (n / 10) as usize);
        assert!(z.is_empty());
        z.add(1.0, b"x", AddFlags::default(), &l);
        assert_eq!(z.rank(b"x", false), Some(0));
    }
}
