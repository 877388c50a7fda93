//! Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer",
//! NSDI 2016, section 3.4; IPVS `ip_vs_mh.c`).
//!
//! Each real with `weight > 0` gets a permutation of the table slots, `offset + j * skip (mod M)`,
//! from two hashes of its identity (address and port, not its position, so adding or removing
//! another real does not change it). The reals take turns claiming their next free preferred slot
//! until the table is full; a client goes to the real of slot `hash(client address) mod M`, O(1).
//! Removing one of N reals moves about 1/N of the slots (measured in the tests).
//!
//! Weights: the paper only says to adjust the backends' relative frequency of turns; IPVS gives
//! each real `weight / gcd` consecutive turns per round (shifting large weights down). We instead
//! give turns by credit: each round every real gains its weight and takes a turn whenever its
//! credit reaches the largest weight. Turns are interleaved (consecutive turns of one real would
//! claim clustered slots first), shares are exact to within one slot per real, and the whole round
//! structure is independent of the weight magnitudes (no shifting needed).
//!
//! The table is built by the control plane when it builds a snapshot (about a millisecond for
//! 1000 reals and M = 65537, see the benches) and shared by every worker.
//!
//! Unavailable reals stay in the table; when the slot's real is not a candidate the lookup falls
//! back deterministically: a few rehashes of the client address (like IPVS's fallback), then the
//! `hash mod c`-th of the c candidates. So a health flap moves exactly the clients of the real that
//! went down, and they spread over the others in proportion to their slots.

use std::sync::Arc;

use super::{is_candidate, mix64, weight_gcd, Pick, SchedError};
use crate::lb::service::RealServer;
use crate::lb::types::{FlowKey, RealLoad};

pub use crate::tunables::{DEFAULT_MH_TABLE_SIZE, MAX_MH_TABLE_SIZE};
/// A slot with no real (the table is all `NO_REAL` only when no real has a weight).
const NO_REAL: u32 = u32::MAX;
use crate::tunables::MH_FALLBACK_REHASHES as FALLBACK_REHASHES;

const SEED_OFFSET: u64 = 0x6d61_676c_6576_2d6f; // "maglev-o"
const SEED_SKIP: u64 = 0x6d61_676c_6576_2d73; // "maglev-s"
const SEED_LOOKUP: u64 = 0x6d61_676c_6576_2d6c; // "maglev-l"

/// Maglev scheduler: the lookup table (indexes into the reals), shared by every worker.
#[derive(Clone, Debug)]
pub struct Mh {
    table: Arc<[u32]>,
}

impl Mh {
    pub fn new(reals: &[RealServer], size: u32) -> Result<Mh, SchedError> {
        Ok(Mh {
            table: maglev_table(reals, size)?,
        })
    }

    /// Wraps a table built by [`maglev_table`] for the same reals (lets the control plane reuse a
    /// table when only availability changed).
    pub fn from_table(table: Arc<[u32]>) -> Mh {
        Mh { table }
    }

    /// The lookup table (for reuse across snapshots, and tests).
    pub fn table(&self) -> &Arc<[u32]> {
        &self.table
    }
}

fn is_prime(n: u32) -> bool {
    n >= 2
        && (2..)
            .take_while(|d: &u32| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

/// Builds the Maglev lookup table of `size` slots (a prime) over the reals with `weight > 0`;
/// each slot holds an index into `reals`.
pub fn maglev_table(reals: &[RealServer], size: u32) -> Result<Arc<[u32]>, SchedError> {
    if !(3..=MAX_MH_TABLE_SIZE).contains(&size) || !is_prime(size) {
        return Err(SchedError::MhTableSize(size));
    }
    struct Member {
        idx: u32,
        weight: u64,
        credit: u64,
        pos: u32,
        skip: u32,
    }
    let m = size as u64;
    let g = weight_gcd(reals.iter());
    let mut members: Vec<Member> = reals
        .iter()
        .enumerate()
        .filter(|(_, r)| r.weight > 0)
        .map(|(i, r)| {
            let id = (u64::from(u32::from(r.addr)) << 16) | r.port as u64;
            Member {
                idx: i as u32,
                weight: (r.weight / g) as u64,
                credit: 0,
                pos: (mix64(id ^ SEED_OFFSET) % m) as u32,
                skip: (mix64(id ^ SEED_SKIP) % (m - 1) + 1) as u32,
            }
        })
        .collect();
    if members.len() > size as usize {
        return Err(SchedError::MhTooManyReals {
            size,
            reals: members.len(),
        });
    }
    let mut table = vec![NO_REAL; size as usize];
    let wmax = members.iter().map(|mb| mb.weight).max().unwrap_or(0);
    let mut filled = 0u32;
    'fill: while !members.is_empty() {
        for mb in members.iter_mut() {
            mb.credit += mb.weight;
            if mb.credit < wmax {
                continue;
            }
            mb.credit -= wmax;
            // The permutation visits every slot (M prime, 0 < skip < M), and one is free.
            let mut c = mb.pos;
            while table[c as usize] != NO_REAL {
                c += mb.skip;
                if c >= size {
                    c -= size;
                }
            }
            table[c as usize] = mb.idx;
            mb.pos = if c + mb.skip >= size {
                c + mb.skip - size
            } else {
                c + mb.skip
            };
            filled += 1;
            if filled == size {
                break 'fill;
            }
        }
    }
    Ok(table.into())
}

/// Maps a 32-bit hash onto `0..len` without a division (Lemire's multiply-shift).
#[inline]
fn reduce(h: u64, len: usize) -> usize {
    (((h >> 32) * len as u64) >> 32) as usize
}

impl Pick for Mh {
    fn pick(&mut self, reals: &[RealServer], _: &[RealLoad], flow: &FlowKey) -> Option<usize> {
        self.pick_key(reals, u64::from(u32::from(flow.src)))
    }
}

impl Mh {
    /// The real for `key` (the client address: for the scheduler, and for the SYN-flood
    /// defence's stateless choice on an `mh` service; the defence's own per-service table looks
    /// up address and port), with the fallbacks above. Read-only.
    pub fn pick_key(&self, reals: &[RealServer], key: u64) -> Option<usize> {
        let len = self.table.len();
        if len == 0 {
            return None;
        }
        let src = key;
        let usable = |slot: usize| {
            let i = self.table[slot] as usize;
            reals.get(i).filter(|r| is_candidate(r)).map(|_| i)
        };
        let h = mix64(src ^ SEED_LOOKUP);
        let home = reduce(h, len);
        if self.table[home] == NO_REAL {
            // Built with no weighted real: the table is empty throughout.
            return None;
        }
        if let Some(i) = usable(home) {
            return Some(i);
        }
        for k in 1..=FALLBACK_REHASHES {
            if let Some(i) = usable(reduce(mix64(h ^ k), len)) {
                return Some(i);
            }
        }
        // Last resort (most reals down): the (h mod c)-th of the c candidates.
        let c = reals.iter().filter(|r| is_candidate(r)).count();
        if c == 0 {
            return None;
        }
        let k = (h % c as u64) as usize;
        reals
            .iter()
            .enumerate()
            .filter(|(_, r)| is_candidate(r))
            .nth(k)
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    /// The real (by address) each slot maps to, so tables over different reals compare.
    fn owners(r: &[RealServer], t: &[u32]) -> Vec<std::net::Ipv4Addr> {
        t.iter().map(|&i| r[i as usize].addr).collect()
    }

    fn slot_counts(t: &[u32], n: usize) -> Vec<u64> {
        let mut c = vec![0u64; n];
        t.iter().for_each(|&i| c[i as usize] += 1);
        c
    }

    #[test]
    fn table_size_must_be_prime_and_fit_the_reals() {
        let r = reals(&[1, 1, 1, 1]);
        for bad in [0, 1, 2, 4, 65536, 65535, MAX_MH_TABLE_SIZE + 1] {
            assert_eq!(
                maglev_table(&r, bad).unwrap_err(),
                SchedError::MhTableSize(bad)
            );
        }
        assert_eq!(
            maglev_table(&r, 3).unwrap_err(),
            SchedError::MhTooManyReals { size: 3, reals: 4 }
        );
        assert!(maglev_table(&r, 5).is_ok());
        let empty = maglev_table(&reals(&[0, 0]), 7).unwrap();
        assert!(empty.iter().all(|&x| x == NO_REAL));
        assert_eq!(Mh::from_table(empty).pick(&r, &[], &flow_n(1)), None);
    }

    #[test]
    fn every_slot_filled_and_shares_follow_weights() {
        let w = [1, 2, 3, 4, 0, 10, 7, 1];
        let r = reals(&w);
        let t = maglev_table(&r, DEFAULT_MH_TABLE_SIZE).unwrap();
        assert!(t.iter().all(|&i| (i as usize) < r.len()));
        let counts = slot_counts(&t, r.len());
        // Credit turns: exact to one slot per real.
        assert_shares(&counts, &w, 0.001);
        // And lookups over many random sources follow the slots.
        let mut s = Mh::from_table(t);
        let mut rng = Rng(11);
        let mut picks = vec![0u64; r.len()];
        for _ in 0..300_000 {
            picks[s.pick(&r, &[], &rng.flow()).unwrap()] += 1;
        }
        assert_shares(&picks, &w, 0.06);
    }

    #[test]
    fn equal_weights_are_even() {
        let r = reals(&[5; 100]);
        let counts = slot_counts(&maglev_table(&r, DEFAULT_MH_TABLE_SIZE).unwrap(), 100);
        let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(hi - lo <= 1, "{lo}..{hi}");
    }

    #[test]
    fn removing_one_of_n_moves_about_one_nth() {
        for n in [5usize, 10, 50, 100] {
            let r = reals(&vec![1; n]);
            let before = owners(&r, &maglev_table(&r, DEFAULT_MH_TABLE_SIZE).unwrap());
            let gone = r[n / 2].addr;
            let mut fewer = r.clone();
            fewer.remove(n / 2);
            let after = owners(
                &fewer,
                &maglev_table(&fewer, DEFAULT_MH_TABLE_SIZE).unwrap(),
            );
            let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
            let collateral = before
                .iter()
                .zip(&after)
                .filter(|(a, b)| a != b && **a != gone)
                .count();
            let share = moved as f64 / before.len() as f64;
            let ideal = 1.0 / n as f64;
            println!(
                "mh remove 1 of {n}: {:.4} of slots moved (ideal {ideal:.4}), collateral {:.4}",
                share,
                collateral as f64 / before.len() as f64
            );
            assert!(
                share >= ideal * 0.95,
                "every slot of the removed real moves"
            );
            assert!(share <= ideal * 1.5 + 0.005, "{share} > 1.5/{n}");
        }
    }

    #[test]
    fn weight_change_moves_only_towards_the_changed_real() {
        let n = 20;
        let r = reals(&vec![10; n]);
        let k = 7;
        let t0 = maglev_table(&r, DEFAULT_MH_TABLE_SIZE).unwrap();
        let mut heavier = r.clone();
        heavier[k].weight = 20;
        let t1 = maglev_table(&heavier, DEFAULT_MH_TABLE_SIZE).unwrap();
        let len = t0.len() as f64;
        let moved: Vec<(u32, u32)> = t0
            .iter()
            .zip(t1.iter())
            .filter(|(a, b)| a != b)
            .map(|(&a, &b)| (a, b))
            .collect();
        let to_k = moved.iter().filter(|(_, b)| *b as usize == k).count() as f64 / len;
        let other = moved.iter().filter(|(_, b)| *b as usize != k).count() as f64 / len;
        // Ideal: k goes from 1/20 to 2/21 of the slots, gaining 0.0452.
        let ideal = 2.0 / 21.0 - 1.0 / 20.0;
        println!("mh weight 10->20 of 1 of {n}: to it {to_k:.4} (ideal {ideal:.4}), between others {other:.4}");
        assert!(to_k >= ideal * 0.95);
        assert!(other <= ideal * 0.5, "collateral churn {other}");

        // Lowering a weight: slots move away from k only (and a little collateral).
        let mut lighter = r.clone();
        lighter[k].weight = 5;
        let t2 = maglev_table(&lighter, DEFAULT_MH_TABLE_SIZE).unwrap();
        let from_k = t0
            .iter()
            .zip(t2.iter())
            .filter(|(a, b)| a != b && **a as usize == k)
            .count() as f64
            / len;
        let other = t0
            .iter()
            .zip(t2.iter())
            .filter(|(a, b)| a != b && **a as usize != k)
            .count() as f64
            / len;
        let ideal = 1.0 / 20.0 - 5.0 / 195.0;
        println!("mh weight 10->5 of 1 of {n}: from it {from_k:.4} (ideal {ideal:.4}), between others {other:.4}");
        assert!(from_k >= ideal * 0.95);
        assert!(other <= ideal * 0.5, "collateral churn {other}");
    }

    #[test]
    fn unavailable_real_moves_only_its_clients_and_deterministically() {
        let r = reals(&[1; 8]);
        let mut s = Mh::new(&r, 251).unwrap();
        let mut down = r.clone();
        down[3].available = false;
        let mut rng = Rng(5);
        let mut moved = [0u64; 8];
        for _ in 0..40_000 {
            let f = rng.flow();
            let a = s.pick(&r, &[], &f).unwrap();
            let b = s.pick(&down, &[], &f).unwrap();
            assert_eq!(s.pick(&down, &[], &f), Some(b));
            if a == 3 {
                moved[b] += 1;
            } else {
                assert_eq!(a, b);
            }
        }
        assert_eq!(moved[3], 0);
        // The moved clients spread over the 7 others.
        let total: u64 = moved.iter().sum();
        for (i, &m) in moved.iter().enumerate().filter(|(i, _)| *i != 3) {
            assert!(
                m as f64 > total as f64 / 7.0 * 0.7,
                "real {i}: {m} of {total}"
            );
        }
        // Only one real left: everything goes there (through the last-resort path too).
        let mut one = r.clone();
        one.iter_mut().skip(1).for_each(|x| x.available = false);
        for _ in 0..1000 {
            assert_eq!(s.pick(&one, &[], &rng.flow()), Some(0));
        }
    }
}
