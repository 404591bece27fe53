//! A fixed-size set of operation indices (the "linearized" set of the search), hashable so it
//! can key the search cache.

/// A set of `0..len` as bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Bitset(Vec<u64>);

impl Bitset {
    /// The empty set over `0..len`.
    pub(crate) fn new(len: usize) -> Bitset {
        Bitset(vec![0; len.div_ceil(64)])
    }

    /// Adds `i`.
    pub(crate) fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    /// Removes `i`.
    pub(crate) fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }

    /// The words holding bits `from..=to` (empty if `to < from`): with the lowest absent
    /// element as `from` and the highest present one as `to`, a short description that,
    /// together with `from`, determines the set.
    pub(crate) fn window(&self, from: usize, to: Option<usize>) -> Vec<u64> {
        match to {
            Some(to) if to >= from => self.0[from / 64..=to / 64].to_vec(),
            _ => Vec::new(),
        }
    }

    /// Whether `i` is in the set.
    pub(crate) fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::Bitset;

    #[test]
    fn set_clear_contains() {
        let mut b = Bitset::new(130);
        for i in [0, 63, 64, 129] {
            assert!(!b.contains(i));
            b.set(i);
            assert!(b.contains(i));
        }
        b.clear(64);
        assert!(!b.contains(64) && b.contains(63) && b.contains(129));
        let mut c = Bitset::new(130);
        for i in [0, 63, 129] {
            c.set(i);
        }
        assert_eq!(b, c);
        assert_eq!(b.window(1, Some(129)), vec![1 | 1 << 63, 0, 2]);
        assert_eq!(b.window(64, Some(63)), Vec::<u64>::new());
        assert_eq!(b.window(64, None), Vec::<u64>::new());
    }
}
