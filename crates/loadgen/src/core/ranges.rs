//! Sets of sequence numbers as sorted ranges: memory grows with the gaps
//! (losses, reorders), not with the messages.

/// A set of `u64`s as sorted, disjoint, non-adjacent half-open ranges.
/// Serialisable: a split run's parent sends the publishers' acknowledged
/// sets to its worker processes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RangeSet {
    ranges: Vec<(u64, u64)>,
}

impl RangeSet {
    /// Adds `x`; false if it was already there.
    pub fn insert(&mut self, x: u64) -> bool {
        // In-order arrival is the common case: extend or append the last range.
        match self.ranges.last_mut() {
            None => {
                self.ranges.push((x, x + 1));
                return true;
            }
            Some(last) if x == last.1 => {
                last.1 += 1;
                return true;
            }
            Some(last) if x > last.1 => {
                self.ranges.push((x, x + 1));
                return true;
            }
            Some(last) if x >= last.0 => return false,
            Some(_) => {}
        }
        let i = self.ranges.partition_point(|r| r.0 <= x);
        if i > 0 && x < self.ranges[i - 1].1 {
            return false;
        }
        let joins_prev = i > 0 && self.ranges[i - 1].1 == x;
        let joins_next = i < self.ranges.len() && self.ranges[i].0 == x + 1;
        match (joins_prev, joins_next) {
            (true, true) => {
                self.ranges[i - 1].1 = self.ranges[i].1;
                self.ranges.remove(i);
            }
            (true, false) => self.ranges[i - 1].1 += 1,
            (false, true) => self.ranges[i].0 = x,
            (false, false) => self.ranges.insert(i, (x, x + 1)),
        }
        true
    }

    /// Whether `x` is in the set.
    pub fn contains(&self, x: u64) -> bool {
        let i = self.ranges.partition_point(|r| r.0 <= x);
        i > 0 && x < self.ranges[i - 1].1
    }

    /// The end of the run of elements that starts at 0 (0 when 0 is absent):
    /// every `x` below it is in the set.
    pub fn prefix_end(&self) -> u64 {
        match self.ranges.first() {
            Some(&(0, end)) => end,
            _ => 0,
        }
    }

    /// A set of half-open ranges in any order, overlapping or not.
    pub fn from_ranges(mut ranges: Vec<(u64, u64)>) -> RangeSet {
        ranges.retain(|r| r.0 < r.1);
        ranges.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match out.last_mut() {
                Some(last) if r.0 <= last.1 => last.1 = last.1.max(r.1),
                _ => out.push(r),
            }
        }
        RangeSet { ranges: out }
    }

    /// The ranges, sorted, half-open.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// The elements of `self` not in `other`.
    pub fn difference(&self, other: &RangeSet) -> RangeSet {
        let mut out = Vec::new();
        let mut j = 0;
        for &(lo, hi) in &self.ranges {
            let mut start = lo;
            while j < other.ranges.len() && other.ranges[j].1 <= start {
                j += 1;
            }
            let mut k = j;
            while start < hi {
                match other.ranges.get(k) {
                    Some(&(olo, ohi)) if olo < hi => {
                        if olo > start {
                            out.push((start, olo));
                        }
                        start = start.max(ohi);
                        k += 1;
                    }
                    _ => {
                        out.push((start, hi));
                        break;
                    }
                }
            }
        }
        RangeSet { ranges: out }
    }

    /// Number of elements.
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|r| r.1 - r.0).sum()
    }

    /// Number of elements in both sets.
    pub fn intersection_len(&self, other: &RangeSet) -> u64 {
        let (mut i, mut j, mut n) = (0, 0, 0);
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a, b) = (self.ranges[i], other.ranges[j]);
            let lo = a.0.max(b.0);
            let hi = a.1.min(b.1);
            if lo < hi {
                n += hi - lo;
            }
            if a.1 <= b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(xs: &[u64]) -> RangeSet {
        let mut s = RangeSet::default();
        for &x in xs {
            s.insert(x);
        }
        s
    }

    #[test]
    fn difference_matches_a_naive_set() {
        let a = set(&[0, 1, 2, 3, 5, 6, 9, 10, 11, 20]);
        let b = set(&[1, 2, 6, 7, 8, 9, 11, 12, 19]);
        let want: Vec<u64> = [0, 3, 5, 10, 20].into();
        let d = a.difference(&b);
        let got: Vec<u64> = d.ranges().iter().flat_map(|&(lo, hi)| lo..hi).collect();
        assert_eq!(got, want);
        assert_eq!(a.difference(&RangeSet::default()), a);
        assert_eq!(RangeSet::default().difference(&a).len(), 0);
        assert_eq!(a.difference(&a).len(), 0);
    }

    #[test]
    fn range_set_matches_a_naive_set() {
        let order = [5u64, 6, 7, 1, 3, 2, 9, 0, 4, 8, 8, 3, 20, 19, 18, 100];
        let mut s = RangeSet::default();
        let mut naive = std::collections::BTreeSet::new();
        for &x in &order {
            assert_eq!(s.insert(x), naive.insert(x), "insert {x}");
            assert_eq!(s.len(), naive.len() as u64);
        }
        for x in 0..110 {
            assert_eq!(s.contains(x), naive.contains(&x), "contains {x}");
        }
        assert_eq!(s.ranges, vec![(0, 10), (18, 21), (100, 101)]);
        assert_eq!(
            s.intersection_len(&set(&[0, 9, 10, 17, 18, 19, 20, 21, 99, 100])),
            6
        );
        assert_eq!(set(&[]).intersection_len(&s), 0);
    }
}
