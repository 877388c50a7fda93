//! Destination hashing (IPVS `ip_vs_dh.c`): a 256-bucket table filled with the reals in turn
//! (unweighted, as IPVS: weights only tell quiesced from not); the bucket is
//! `hash_32(destination address, 8)`. Meant for caches: one destination, one cache.
//!
//! Deviation from IPVS: the table holds only reals with `weight > 0`, and when the bucket's real is
//! unavailable the same deterministic rehash as sh's fallback is used (IPVS dh drops the packet).

use std::sync::Arc;

use super::sh::{lookup_with_fallback, NO_REAL};
use super::Pick;
use crate::lb::service::RealServer;
use crate::lb::types::{FlowKey, RealLoad};

/// 256 buckets, as IPVS (tunables.rs).
const TAB_SIZE: usize = 1 << crate::tunables::HASH_SCHED_TAB_BITS;

/// Destination-hash scheduler: the bucket table, shared by every worker.
#[derive(Clone, Debug)]
pub struct Dh {
    buckets: Arc<[u32; TAB_SIZE]>,
}

impl Dh {
    pub fn new(reals: &[RealServer]) -> Dh {
        let weighted: Vec<u32> = (0..reals.len() as u32)
            .filter(|&i| reals[i as usize].weight > 0)
            .collect();
        let mut buckets = [NO_REAL; TAB_SIZE];
        if !weighted.is_empty() {
            for (i, b) in buckets.iter_mut().enumerate() {
                *b = weighted[i % weighted.len()];
            }
        }
        Dh {
            buckets: Arc::new(buckets),
        }
    }
}

impl Pick for Dh {
    fn pick(&mut self, reals: &[RealServer], _: &[RealLoad], flow: &FlowKey) -> Option<usize> {
        lookup_with_fallback(&self.buckets, reals, u32::from(flow.dst))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::testutil::*;
    use super::*;

    #[test]
    fn same_destination_same_real_any_source() {
        let r = reals(&[1, 5, 0, 1]);
        let mut s = Dh::new(&r);
        let mut rng = Rng(9);
        let mut counts = [0u64; 4];
        for d in 0..4096u32 {
            let dst = Ipv4Addr::from(u32::from(Ipv4Addr::new(203, 0, 113, 0)) + (d & 0xff));
            let mut f = rng.flow();
            f.dst = dst;
            let i = s.pick(&r, &[], &f).unwrap();
            let mut g = rng.flow();
            g.dst = dst;
            assert_eq!(s.pick(&r, &[], &g), Some(i));
            counts[i] += 1;
        }
        // Unweighted: the table is 0,1,3,0,1,3,... so real 2 (weight 0) gets nothing and the
        // weight-5 real no more than its even share (hash noise over 256 destinations).
        assert_eq!(counts[2], 0);
        assert!(counts[1] < 4096 / 2, "{counts:?}");
    }
}
