//! Lists: a deque of packed nodes, as Redis's quicklist. Each node holds up to
//! `list-max-listpack-size` worth of entries in one allocation (by default 8 KB); an entry is
//! its length, its bytes and its length again, so a node is walked from either end and both
//! ends of the list push and pop in O(1). Redis 7.0 reports every list as a quicklist, and so
//! does OBJECT ENCODING here.

use std::collections::VecDeque;

/// One node: packed entries `[len][bytes][backlen]`, `len` as LEB128 and `backlen` the same
/// number with its bytes in reverse order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Node {
    buf: Vec<u8>,
    count: u32,
}

fn varint(mut n: usize, out: &mut [u8; 10]) -> usize {
    let mut i = 0;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[i] = b;
            return i + 1;
        }
        out[i] = b | 0x80;
        i += 1;
    }
}

impl Node {
    /// Bytes an entry of `len` bytes takes.
    fn entry_size(len: usize) -> usize {
        let mut tmp = [0u8; 10];
        2 * varint(len, &mut tmp) + len
    }

    fn encode(v: &[u8]) -> Vec<u8> {
        let mut tmp = [0u8; 10];
        let n = varint(v.len(), &mut tmp);
        let mut e = Vec::with_capacity(2 * n + v.len());
        e.extend_from_slice(&tmp[..n]);
        e.extend_from_slice(v);
        e.extend(tmp[..n].iter().rev());
        e
    }

    /// The entry starting at `pos`: (data start, data end, next entry).
    fn at(&self, pos: usize) -> (usize, usize, usize) {
        let (mut n, mut shift, mut i) = (0usize, 0, pos);
        loop {
            let b = self.buf[i];
            i += 1;
            n |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let head = i - pos;
        (i, i + n, i + n + head)
    }

    /// The start of the entry ending at `end`.
    fn before(&self, end: usize) -> usize {
        // backlen's bytes, read backwards, are the LEB128 of the length.
        let (mut n, mut shift, mut i) = (0usize, 0, end);
        loop {
            i -= 1;
            let b = self.buf[i];
            n |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let head = end - i;
        end - head - n - head
    }

    /// Byte offset of entry `idx`, walking from the nearer end.
    fn offset(&self, idx: usize) -> usize {
        if idx <= self.count as usize / 2 {
            let mut pos = 0;
            for _ in 0..idx {
                pos = self.at(pos).2;
            }
            pos
        } else {
            let mut pos = self.buf.len();
            for _ in idx..self.count as usize {
                pos = self.before(pos);
            }
            pos
        }
    }

    fn get(&self, idx: usize) -> &[u8] {
        let (s, e, _) = self.at(self.offset(idx));
        &self.buf[s..e]
    }

    fn insert(&mut self, idx: usize, v: &[u8]) {
        let pos = if idx == self.count as usize {
            self.buf.len()
        } else {
            self.offset(idx)
        };
        let e = Self::encode(v);
        self.buf.splice(pos..pos, e);
        self.count += 1;
    }

    fn remove(&mut self, idx: usize) -> Vec<u8> {
        let pos = self.offset(idx);
        let (s, e, next) = self.at(pos);
        let v = self.buf[s..e].to_vec();
        self.buf.drain(pos..next);
        self.count -= 1;
        v
    }

    fn replace(&mut self, idx: usize, v: &[u8]) {
        let pos = self.offset(idx);
        let (_, _, next) = self.at(pos);
        self.buf.splice(pos..next, Self::encode(v));
    }

    fn iter(&self) -> NodeIter<'_> {
        NodeIter {
            node: self,
            front: 0,
            back: self.buf.len(),
        }
    }
}

struct NodeIter<'a> {
    node: &'a Node,
    front: usize,
    back: usize,
}

impl<'a> Iterator for NodeIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let (s, e, next) = self.node.at(self.front);
        self.front = next;
        Some(&self.node.buf[s..e])
    }
}

impl DoubleEndedIterator for NodeIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let start = self.node.before(self.back);
        let (s, e, _) = self.node.at(start);
        self.back = start;
        Some(&self.node.buf[s..e])
    }
}

/// How full a node may get (list-max-listpack-size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimit(i64);

impl NodeLimit {
    /// From the list-max-listpack-size setting.
    pub fn new(setting: i64) -> Self {
        NodeLimit(setting)
    }
    fn fits(self, node: &Node, add: usize) -> bool {
        if self.0 > 0 {
            return (node.count as i64) < self.0;
        }
        let cap = match self.0 {
            -1 => 4096,
            -2 | 0 => 8192,
            -3 => 16384,
            -4 => 32768,
            _ => 65536,
        };
        node.count == 0 || node.buf.len() + add <= cap
    }
}

impl Default for NodeLimit {
    fn default() -> Self {
        NodeLimit(-2)
    }
}

/// A list value.
#[derive(Clone, Debug, Default)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
    limit: NodeLimit,
}

impl PartialEq for List {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl List {
    /// An empty list whose nodes follow `list-max-listpack-size`.
    pub fn new(list_max_listpack_size: i64) -> Self {
        List {
            limit: NodeLimit::new(list_max_listpack_size),
            ..Default::default()
        }
    }

    /// A list of `items` in order.
    pub fn from_items<'a>(items: impl IntoIterator<Item = &'a [u8]>, setting: i64) -> Self {
        let mut l = List::new(setting);
        for i in items {
            l.push_back(i);
        }
        l
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// OBJECT ENCODING's name.
    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }

    /// Adds `v` at the head.
    pub fn push_front(&mut self, v: &[u8]) {
        let size = Node::entry_size(v.len());
        if !self.nodes.front().is_some_and(|n| self.limit.fits(n, size)) {
            self.nodes.push_front(Node::default());
        }
        if let Some(n) = self.nodes.front_mut() {
            n.insert(0, v);
        }
        self.len += 1;
    }

    /// Adds `v` at the tail.
    pub fn push_back(&mut self, v: &[u8]) {
        let size = Node::entry_size(v.len());
        if !self.nodes.back().is_some_and(|n| self.limit.fits(n, size)) {
            self.nodes.push_back(Node::default());
        }
        if let Some(n) = self.nodes.back_mut() {
            n.buf.extend_from_slice(&Node::encode(v));
            n.count += 1;
        }
        self.len += 1;
    }

    /// Removes and returns the head.
    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let n = self.nodes.front_mut()?;
        let (s, e, next) = n.at(0);
        let v = n.buf[s..e].to_vec();
        n.buf.drain(..next);
        n.count -= 1;
        if n.count == 0 {
            self.nodes.pop_front();
        }
        self.len -= 1;
        Some(v)
    }

    /// Removes and returns the tail.
    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let n = self.nodes.back_mut()?;
        let start = n.before(n.buf.len());
        let (s, e, _) = n.at(start);
        let v = n.buf[s..e].to_vec();
        n.buf.truncate(start);
        n.count -= 1;
        if n.count == 0 {
            self.nodes.pop_back();
        }
        self.len -= 1;
        Some(v)
    }

    /// The node holding element `i` and the index inside it.
    fn locate(&self, i: usize) -> (usize, usize) {
        if i < self.len / 2 {
            let mut i = i;
            for (k, n) in self.nodes.iter().enumerate() {
                if i < n.count as usize {
                    return (k, i);
                }
                i -= n.count as usize;
            }
        } else {
            let mut from_end = self.len - i;
            for (k, n) in self.nodes.iter().enumerate().rev() {
                if from_end <= n.count as usize {
                    return (k, n.count as usize - from_end);
                }
                from_end -= n.count as usize;
            }
        }
        (0, 0)
    }

    /// Element `i` (0-based from the head), if in range.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let (k, j) = self.locate(i);
        Some(self.nodes[k].get(j))
    }

    /// Replaces element `i` (in range).
    pub fn set(&mut self, i: usize, v: &[u8]) {
        if i < self.len {
            let (k, j) = self.locate(i);
            self.nodes[k].replace(j, v);
        }
    }

    /// Inserts `v` before element `i` (`i == len` appends).
    pub fn insert(&mut self, i: usize, v: &[u8]) {
        if i >= self.len {
            return self.push_back(v);
        }
        if i == 0 {
            return self.push_front(v);
        }
        let (k, j) = self.locate(i);
        let size = Node::entry_size(v.len());
        if self.limit.fits(&self.nodes[k], size) {
            self.nodes[k].insert(j, v);
        } else {
            // Split the full node at the insertion point.
            let node = &mut self.nodes[k];
            let cut = node.offset(j);
            let tail = Node {
                buf: node.buf.split_off(cut),
                count: node.count - j as u32,
            };
            node.count = j as u32;
            node.buf.extend_from_slice(&Node::encode(v));
            node.count += 1;
            self.nodes.insert(k + 1, tail);
        }
        self.len += 1;
    }

    /// Removes element `i` (in range) and returns it.
    pub fn remove(&mut self, i: usize) -> Option<Vec<u8>> {
        if i >= self.len {
            return None;
        }
        let (k, j) = self.locate(i);
        let v = self.nodes[k].remove(j);
        if self.nodes[k].count == 0 {
            self.nodes.remove(k);
        }
        self.len -= 1;
        Some(v)
    }

    /// Keeps elements `start..=end` only (both in range, start <= end).
    pub fn trim(&mut self, start: usize, end: usize) {
        let keep_back = self.len - 1 - end;
        for _ in 0..start {
            self.pop_front();
        }
        for _ in 0..keep_back {
            self.pop_back();
        }
    }

    /// Removes every element.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.len = 0;
    }

    /// Every element, head first (reversible).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.nodes.iter().flat_map(|n| n.iter())
    }

    /// Elements `start..=end` (in range), head first.
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (k, j) = if start < self.len {
            self.locate(start)
        } else {
            (self.nodes.len(), 0)
        };
        self.nodes
            .iter()
            .skip(k)
            .flat_map(|n| n.iter())
            .skip(j)
            .take(end + 1 - start)
    }

    /// Removes up to `limit` elements equal to `v`, from the head (or the tail when
    /// `from_tail`); returns how many.
    pub fn remove_matching(&mut self, v: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0;
        if from_tail {
            let mut i = self.len;
            while i > 0 && removed < limit {
                i -= 1;
                if self.get(i) == Some(v) {
                    self.remove(i);
                    removed += 1;
                }
            }
        } else {
            let mut i = 0;
            while i < self.len && removed < limit {
                if self.get(i) == Some(v) {
                    self.remove(i);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
        }
        removed
    }

    /// Bytes of element storage (node buffers).
    pub fn bytes(&self) -> usize {
        self.nodes.iter().map(|n| n.buf.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn against_a_deque() {
        let mut l = List::new(-1);
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        let mut x: u64 = 7;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v: Vec<u8> = vec![b'a' + (x % 26) as u8; (x % 300) as usize];
            match x % 9 {
                0 | 1 => {
                    l.push_back(&v);
                    m.push_back(v);
                }
                2 | 3 => {
                    l.push_front(&v);
                    m.push_front(v);
                }
                4 => assert_eq!(l.pop_front(), m.pop_front()),
                5 => assert_eq!(l.pop_back(), m.pop_back()),
                6 if !m.is_empty() => {
                    let i = (x as usize / 9) % (m.len() + 1);
                    l.insert(i, &v);
                    m.insert(i, v);
                }
                7 if !m.is_empty() => {
                    let i = (x as usize / 9) % m.len();
                    assert_eq!(l.remove(i), m.remove(i));
                }
                _ if !m.is_empty() => {
                    let i = (x as usize / 9) % m.len();
                    l.set(i, &v);
                    m[i] = v;
                }
                _ => {}
            }
            assert_eq!(l.len(), m.len(), "step {step}");
            if step % 500 == 0 {
                assert!(l.iter().eq(m.iter().map(|v| v.as_slice())));
                assert!(l.iter().rev().eq(m.iter().rev().map(|v| v.as_slice())));
                if !m.is_empty() {
                    let (a, b) = (m.len() / 3, m.len() - 1);
                    assert!(l.range(a, b).eq(m.range(a..=b).map(|v| v.as_slice())));
                    assert_eq!(l.get(a), m.get(a).map(|v| v.as_slice()));
                }
            }
        }
    }
}
