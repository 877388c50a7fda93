//! Source hashing (IPVS `ip_vs_sh.c`): a 256-bucket table, each real replicated over as many
//! consecutive buckets as its weight, cycling through the reals until the table is full; the
//! bucket is `hash_32(client address, 8)`.
//!
//! Deviations from IPVS, both deliberate:
//! - Weights are divided by their gcd first, so weights 100/200 spread like 1/2 instead of
//!   filling the table with the first real. With a weight sum above 256 the shares are still
//!   skewed (as in IPVS): keep sh weights small.
//! - The table holds only reals with `weight > 0`, and an unavailable real is always handled with
//!   IPVS's `sh-fallback` rehash (IPVS does this only with the flag; without it the packet is
//!   dropped). A health flap thus moves only the clients of the real that went down.

use std::sync::Arc;

use super::{hash_32, is_candidate, Pick};
use crate::lb::service::RealServer;
use crate::lb::types::{FlowKey, RealLoad};

use crate::tunables::HASH_SCHED_TAB_BITS as TAB_BITS;

const TAB_SIZE: usize = 1 << TAB_BITS;
/// A bucket with no real (only when no real has a weight).
pub(crate) const NO_REAL: u32 = u32::MAX;

/// Source-hash scheduler: the bucket table, shared by every worker.
#[derive(Clone, Debug)]
pub struct Sh {
    buckets: Arc<[u32; TAB_SIZE]>,
}

impl Sh {
    pub fn new(reals: &[RealServer]) -> Sh {
        Sh {
            buckets: Arc::new(weighted_buckets(reals)),
        }
    }
}

/// IPVS's `ip_vs_sh_reassign` over the reals with `weight > 0`, weights divided by their gcd.
fn weighted_buckets(reals: &[RealServer]) -> [u32; TAB_SIZE] {
    let mut buckets = [NO_REAL; TAB_SIZE];
    let g = super::weight_gcd(reals.iter());
    let weighted: Vec<(usize, u32)> = reals
        .iter()
        .enumerate()
        .filter(|(_, r)| r.weight > 0)
        .map(|(i, r)| (i, r.weight / g))
        .collect();
    if weighted.is_empty() {
        return buckets;
    }
    let (mut p, mut count) = (0, 0);
    for b in buckets.iter_mut() {
        let (idx, w) = weighted[p];
        *b = idx as u32;
        count += 1;
        if count >= w {
            p = (p + 1) % weighted.len();
            count = 0;
        }
    }
    buckets
}

/// Looks `addr` up in `buckets` with IPVS's fallback: the home bucket if its real is a candidate,
/// else the rehash sequence `(offset + ihash) % 256 + ihash` of `ip_vs_sh_get_fallback`.
pub(crate) fn lookup_with_fallback(
    buckets: &[u32; TAB_SIZE],
    reals: &[RealServer],
    addr: u32,
) -> Option<usize> {
    let usable = |b: u32| {
        reals
            .get(b as usize)
            .filter(|r| is_candidate(r))
            .map(|_| b as usize)
    };
    let ihash = hash_32(addr, TAB_BITS) as usize;
    let home = buckets[ihash];
    if home == NO_REAL {
        return None;
    }
    if let Some(i) = usable(home) {
        return Some(i);
    }
    for offset in 0..TAB_SIZE {
        let roffset = (offset + ihash) % TAB_SIZE;
        let hash = (roffset + ihash) % TAB_SIZE;
        match buckets[hash] {
            NO_REAL => break,
            b => {
                if let Some(i) = usable(b) {
                    return Some(i);
                }
            }
        }
    }
    None
}

impl Pick for Sh {
    fn pick(&mut self, reals: &[RealServer], _: &[RealLoad], flow: &FlowKey) -> Option<usize> {
        lookup_with_fallback(&self.buckets, reals, u32::from(flow.src))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn replicates_by_weight_like_ipvs() {
        let r = reals(&[1, 2, 0, 3]);
        let b = weighted_buckets(&r);
        assert_eq!(&b[..8], &[0, 1, 1, 3, 3, 3, 0, 1]);
        // gcd normalisation: 100/200 behaves as 1/2.
        let b = weighted_buckets(&reals(&[100, 200]));
        assert_eq!(&b[..6], &[0, 1, 1, 0, 1, 1]);
        assert!(weighted_buckets(&reals(&[0, 0]))
            .iter()
            .all(|&x| x == NO_REAL));
    }

    #[test]
    fn same_source_same_real_and_follows_weights() {
        let w = [1, 2, 3, 2];
        let r = reals(&w);
        let mut s = Sh::new(&r);
        let mut rng = Rng(42);
        let mut counts = [0u64; 4];
        for _ in 0..200_000 {
            let f = rng.flow();
            let i = s.pick(&r, &[], &f).unwrap();
            let mut other = f;
            other.sport = other.sport.wrapping_add(1);
            other.dport = 443;
            assert_eq!(
                s.pick(&r, &[], &other),
                Some(i),
                "sh depends on the source only"
            );
            counts[i] += 1;
        }
        // 256 buckets = 32 cycles of 8: exact shares, so only hash noise remains.
        assert_shares(&counts, &w, 0.05);
    }

    #[test]
    fn unavailable_real_moves_only_its_own_clients() {
        let r = reals(&[1, 1, 1, 1]);
        let mut s = Sh::new(&r);
        let mut down = r.clone();
        down[2].available = false;
        let mut rng = Rng(3);
        let mut moved = 0;
        for _ in 0..20_000 {
            let f = rng.flow();
            let before = s.pick(&r, &[], &f).unwrap();
            let after = s.pick(&down, &[], &f).unwrap();
            assert_ne!(after, 2);
            if before != 2 {
                assert_eq!(before, after);
            } else {
                moved += 1;
            }
        }
        assert!(
            moved > 3000,
            "a quarter of the clients were on real 2: {moved}"
        );
    }
}
