//! A packed list of byte strings in one allocation: the compact encoding of small hashes and
//! sorted sets (Redis's listpack). Each entry is a LEB128 length followed by its bytes; a lookup
//! is a linear scan, which for the few hundred short entries a listpack may hold is faster than
//! hashing and costs a few bytes an entry instead of a table slot and an allocation.

/// A packed list of byte strings. Its buffer is sized exactly, as Redis reallocates a listpack
/// on every insert: a small hash costs its bytes, not up to twice as many.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listpack {
    buf: Vec<u8>,
    len: u32,
}

/// A position in a listpack: the byte offset of an entry.
pub type Pos = usize;

#[inline]
fn read_len(buf: &[u8], mut at: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let b = buf[at];
        at += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            return (n, at);
        }
        shift += 7;
    }
}

fn encode_len(mut n: usize, out: &mut smallvec::SmallVec<[u8; 10]>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

impl Listpack {
    /// An empty listpack.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes used by the encoding.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// The entry at `pos` and the position after it.
    #[inline]
    pub fn entry(&self, pos: Pos) -> (&[u8], Pos) {
        let (n, start) = read_len(&self.buf, pos);
        (&self.buf[start..start + n], start + n)
    }

    /// The position of the first entry, or None when empty.
    #[inline]
    pub fn first(&self) -> Option<Pos> {
        (!self.buf.is_empty()).then_some(0)
    }

    /// The position after `pos`'s entry, or None at the end.
    #[inline]
    pub fn next(&self, pos: Pos) -> Option<Pos> {
        let (_, after) = self.entry(pos);
        (after < self.buf.len()).then_some(after)
    }

    /// Every entry, in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { lp: self, pos: 0 }
    }

    /// Inserts `v` before the entry at `pos` (or at the end when `pos` is the end).
    pub fn insert(&mut self, pos: Pos, v: &[u8]) {
        let mut head = smallvec::SmallVec::<[u8; 10]>::new();
        encode_len(v.len(), &mut head);
        self.buf.reserve_exact(head.len() + v.len());
        self.buf
            .splice(pos..pos, head.iter().copied().chain(v.iter().copied()));
        self.len += 1;
    }

    /// Appends `v`.
    pub fn push(&mut self, v: &[u8]) {
        let mut head = smallvec::SmallVec::<[u8; 10]>::new();
        encode_len(v.len(), &mut head);
        self.buf.reserve_exact(head.len() + v.len());
        self.buf.extend_from_slice(&head);
        self.buf.extend_from_slice(v);
        self.len += 1;
    }

    /// The position one past the last entry.
    pub fn end(&self) -> Pos {
        self.buf.len()
    }

    /// Removes `n` entries starting at `pos`.
    pub fn remove(&mut self, pos: Pos, n: usize) {
        let mut end = pos;
        for _ in 0..n {
            end = self.entry(end).1;
        }
        self.buf.drain(pos..end);
        self.len -= n as u32;
    }

    /// Replaces the entry at `pos` with `v`.
    pub fn replace(&mut self, pos: Pos, v: &[u8]) {
        let (old, after) = self.entry(pos);
        if old.len() == v.len() {
            let start = after - v.len();
            self.buf[start..after].copy_from_slice(v);
            return;
        }
        let mut head = smallvec::SmallVec::<[u8; 10]>::new();
        encode_len(v.len(), &mut head);
        self.buf
            .reserve_exact((head.len() + v.len()).saturating_sub(after - pos));
        self.buf
            .splice(pos..after, head.iter().copied().chain(v.iter().copied()));
    }

    /// The position of the first entry equal to `v` among entries `0, step, 2*step, ...`.
    pub fn find(&self, v: &[u8], step: usize) -> Option<Pos> {
        let mut pos = 0;
        let mut i = 0;
        while pos < self.buf.len() {
            let (e, after) = self.entry(pos);
            if i % step == 0 && e == v {
                return Some(pos);
            }
            pos = after;
            i += 1;
        }
        None
    }

    /// Heap bytes held.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// Iterator over a listpack's entries.
pub struct Iter<'a> {
    lp: &'a Listpack,
    pos: Pos,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.lp.buf.len() {
            return None;
        }
        let (n, start) = read_len(&self.lp.buf, self.pos);
        self.pos = start + n;
        Some(&self.lp.buf[start..start + n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit() {
        let mut lp = Listpack::new();
        lp.push(b"a");
        lp.push(&[b'x'; 200]);
        lp.push(b"");
        assert_eq!(lp.len(), 3);
        let p = lp.find(b"", 1).unwrap();
        lp.replace(p, b"zz");
        lp.insert(0, b"first");
        let all: Vec<&[u8]> = lp.iter().collect();
        assert_eq!(all, vec![&b"first"[..], b"a", &[b'x'; 200][..], b"zz"]);
        let p = lp.find(b"a", 1).unwrap();
        lp.remove(p, 2);
        let all: Vec<&[u8]> = lp.iter().collect();
        assert_eq!(all, vec![&b"first"[..], b"zz"]);
        assert_eq!(lp.find(b"zz", 2), None);
    }
}
