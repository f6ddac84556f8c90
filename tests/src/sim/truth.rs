//! What really happened, kept beside the nodes and never read from them:
//! which device knows which check (a set per device and space, merged the
//! way a finished sync session must merge it), every check with what its
//! recorder knew, and the figures a run reports.

/// A set of check numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bits(Vec<u64>);

impl Bits {
    /// Whether `n` is in.
    pub fn has(&self, n: usize) -> bool {
        self.0.get(n / 64).is_some_and(|w| w & (1 << (n % 64)) != 0)
    }

    /// Put `n` in.
    pub fn set(&mut self, n: usize) {
        if self.0.len() <= n / 64 {
            self.0.resize(n / 64 + 1, 0);
        }
        self.0[n / 64] |= 1 << (n % 64);
    }

    /// Add every number of `other`; returns the numbers that were new.
    pub fn merge(&mut self, other: &Bits) -> Vec<usize> {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        let mut new = Vec::new();
        for (i, (mine, theirs)) in self.0.iter_mut().zip(&other.0).enumerate() {
            let mut fresh = theirs & !*mine;
            *mine |= theirs;
            while fresh != 0 {
                let bit = fresh.trailing_zeros() as usize;
                new.push(i * 64 + bit);
                fresh &= fresh - 1;
            }
        }
        new
    }
}

/// One check as it happened.
#[derive(Clone, Debug)]
pub struct TrueCheck {
    /// The space (agency number, or the area space after them) and record.
    pub record: (usize, String),
    /// The person.
    pub person: usize,
    /// The phone that recorded it.
    pub phone: usize,
    /// Minutes since the onset.
    pub at: i64,
    /// A result that settles where the person stands.
    pub conclusive: bool,
    /// The checks of the same record its phone held when it was recorded.
    pub known: Vec<usize>,
    /// Made although another person's conclusive check of the same person
    /// had been made before and its phone did not know of it when the
    /// visit or call was decided: effort spent twice.
    pub wasted: bool,
    /// Staff minutes it took (travel, visit or call).
    pub minutes: i64,
}

/// Duplicate pairs as anpi defines them (`views::duplicates`), from what
/// really happened: two checks of one record, by different people, neither
/// made knowing of the other, at least one conclusive.
pub fn duplicate_pairs(checks: &[TrueCheck]) -> usize {
    let mut by_record: std::collections::BTreeMap<&(usize, String), Vec<usize>> =
        Default::default();
    for (n, c) in checks.iter().enumerate() {
        by_record.entry(&c.record).or_default().push(n);
    }
    let mut pairs = 0;
    for ns in by_record.values() {
        for (i, &a) in ns.iter().enumerate() {
            for &b in &ns[i + 1..] {
                let (ca, cb) = (&checks[a], &checks[b]);
                if ca.phone != cb.phone
                    && (ca.conclusive || cb.conclusive)
                    && !ca.known.contains(&b)
                    && !cb.known.contains(&a)
                {
                    pairs += 1;
                }
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_says_what_was_new() {
        let (mut a, mut b) = (Bits::default(), Bits::default());
        a.set(3);
        b.set(3);
        b.set(70);
        b.set(5);
        assert_eq!(a.merge(&b), vec![5, 70]);
        assert!(a.has(70) && a.has(5) && !a.has(4));
        assert_eq!(a.merge(&b), Vec::<usize>::new());
    }

    #[test]
    fn pairs_are_unaware_other_people_and_one_conclusive() {
        let check = |phone, known: Vec<usize>, conclusive| TrueCheck {
            record: (0, "R1".into()),
            person: 0,
            phone,
            at: 0,
            conclusive,
            known,
            wasted: false,
            minutes: 0,
        };
        // 0 and 1 unaware: a pair. 2 knew of both. 3 is 0's phone again,
        // unaware of 1 and 2: a pair with 1 and with 2; 4 and 0 both
        // inconclusive with 3 unaware... 4 inconclusive, unaware of all.
        let checks = vec![
            check(1, vec![], true),
            check(2, vec![], true),
            check(3, vec![0, 1], true),
            check(1, vec![0], true),
            check(4, vec![], false),
        ];
        // (0,1) (1,3) (2,3) (0,4) (1,4) (2,4) (3,4); not (0,2) (1,2) (0,3).
        assert_eq!(duplicate_pairs(&checks), 7);
    }
}
