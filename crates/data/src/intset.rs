//! A sorted array of distinct integers in the narrowest width that holds them all (16, 32 or
//! 64 bits), as Redis's intset: it widens when a wider integer arrives and never narrows.

/// A set of integers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntSet {
    /// Every member fits in 16 bits.
    W16(Vec<i16>),
    /// Every member fits in 32 bits.
    W32(Vec<i32>),
    /// Some member needs 64 bits.
    W64(Vec<i64>),
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::W16(Vec::new())
    }
}

macro_rules! each {
    ($self:expr, $v:ident => $e:expr) => {
        match $self {
            IntSet::W16($v) => $e,
            IntSet::W32($v) => $e,
            IntSet::W64($v) => $e,
        }
    };
}

fn search<T: Copy + TryFrom<i64> + Ord>(v: &[T], n: i64) -> Result<usize, usize> {
    match T::try_from(n) {
        Ok(x) => v.binary_search(&x),
        // Out of this width's range: below every member or above every member.
        Err(_) => Err(if n < 0 { 0 } else { v.len() }),
    }
}

impl IntSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        each!(self, v => v.len())
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `n` is a member.
    pub fn contains(&self, n: i64) -> bool {
        each!(self, v => search(v, n).is_ok())
    }

    /// The member at position `i` (ascending order).
    pub fn get(&self, i: usize) -> i64 {
        match self {
            IntSet::W16(v) => i64::from(v[i]),
            IntSet::W32(v) => i64::from(v[i]),
            IntSet::W64(v) => v[i],
        }
    }

    /// Every member, ascending.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Adds `n`; true when it is new.
    pub fn insert(&mut self, n: i64) -> bool {
        self.widen_for(n);
        match self {
            IntSet::W16(v) => insert_sorted(v, n as i16),
            IntSet::W32(v) => insert_sorted(v, n as i32),
            IntSet::W64(v) => insert_sorted(v, n),
        }
    }

    /// Removes `n`; true when it was a member.
    pub fn remove(&mut self, n: i64) -> bool {
        each!(self, v => match search(v, n) {
            Ok(i) => {
                v.remove(i);
                true
            }
            Err(_) => false,
        })
    }

    /// Bytes of member storage (what Redis's intset would take, less its 8-byte header).
    pub fn bytes(&self) -> usize {
        each!(self, v => std::mem::size_of_val(v.as_slice()))
    }

    fn widen_for(&mut self, n: i64) {
        let need = if i16::try_from(n).is_ok() {
            16
        } else if i32::try_from(n).is_ok() {
            32
        } else {
            64
        };
        let have = match self {
            IntSet::W16(_) => 16,
            IntSet::W32(_) => 32,
            IntSet::W64(_) => 64,
        };
        if need <= have {
            return;
        }
        let all: Vec<i64> = self.iter().collect();
        *self = if need == 32 {
            IntSet::W32(all.into_iter().map(|x| x as i32).collect())
        } else {
            IntSet::W64(all)
        };
    }
}

fn insert_sorted<T: Ord + Copy>(v: &mut Vec<T>, x: T) -> bool {
    match v.binary_search(&x) {
        Ok(_) => false,
        Err(i) => {
            // Sized exactly, as Redis reallocates an intset on every insert.
            v.reserve_exact(1);
            v.insert(i, x);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        let mut s = IntSet::new();
        assert!(s.insert(5));
        assert!(s.insert(-3));
        assert!(!s.insert(5));
        assert_eq!(s.bytes(), 4);
        assert!(s.insert(70_000));
        assert!(matches!(s, IntSet::W32(_)));
        assert!(s.insert(i64::MIN));
        assert!(matches!(s, IntSet::W64(_)));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![i64::MIN, -3, 5, 70_000]);
        assert!(s.contains(70_000) && !s.contains(4));
        assert!(s.remove(-3) && !s.remove(-3));
        let mut t = IntSet::new();
        t.insert(1);
        assert!(!t.contains(1 << 40));
        assert!(!t.remove(-(1 << 40)));
    }
}
