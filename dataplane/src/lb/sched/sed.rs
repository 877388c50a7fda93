//! Shortest expected delay (IPVS `ip_vs_sed.c`): the candidate with the smallest
//! `(active + 1) / weight`, the expected delay for a new connection if the server shares its
//! capacity among active connections. Inactive connections are ignored; ties go to the earlier
//! real.

use super::{least_weighted, Pick};
use crate::lb::service::RealServer;
use crate::lb::types::{FlowKey, RealLoad};

/// Shortest expected delay (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct Sed;

/// IPVS's `ip_vs_sed_dest_overhead`.
#[inline]
pub(crate) fn sed_overhead(l: RealLoad) -> u64 {
    l.active as u64 + 1
}

impl Pick for Sed {
    fn pick(&mut self, reals: &[RealServer], loads: &[RealLoad], _: &FlowKey) -> Option<usize> {
        least_weighted(reals, loads, sed_overhead)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn load(active: u32, inactive: u32) -> RealLoad {
        RealLoad { active, inactive }
    }

    #[test]
    fn picks_shortest_expected_delay() {
        let r = reals(&[1, 4]);
        let f = flow_n(0);
        // Both idle: 1/1 vs 1/4 -> the heavier server, unlike wlc's tie to the first.
        assert_eq!(Sed.pick(&r, &[load(0, 0), load(0, 0)], &f), Some(1));
        // (1+1)/1 vs (4+1)/4 -> 1; (0+1)/1 vs (4+1)/4 -> 0.
        assert_eq!(Sed.pick(&r, &[load(1, 0), load(4, 0)], &f), Some(1));
        assert_eq!(Sed.pick(&r, &[load(0, 0), load(4, 0)], &f), Some(0));
        // Inactive connections do not count.
        assert_eq!(Sed.pick(&r, &[load(0, 0), load(2, 9000)], &f), Some(1));
    }

    #[test]
    fn fills_in_proportion_to_weights() {
        let r = reals(&[1, 2, 5]);
        let mut loads = vec![RealLoad::default(); 3];
        let f = flow_n(0);
        for _ in 0..800 {
            let i = Sed.pick(&r, &loads, &f).unwrap();
            loads[i].active += 1;
        }
        let got: Vec<u32> = loads.iter().map(|l| l.active).collect();
        assert_eq!(got, [100, 200, 500]);
    }
}
