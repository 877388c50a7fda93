//! Weighted least connections (IPVS `ip_vs_wlc.c`): the candidate with the smallest
//! `(active * 256 + inactive) / weight`, compared by cross-multiplication (no division, no
//! rounding); ties go to the earlier real.

use super::{conn_overhead, least_weighted, Pick};
use crate::lb::service::RealServer;
use crate::lb::types::{FlowKey, RealLoad};

/// Weighted least connections (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct Wlc;

impl Pick for Wlc {
    fn pick(&mut self, reals: &[RealServer], loads: &[RealLoad], _: &FlowKey) -> Option<usize> {
        least_weighted(reals, loads, conn_overhead)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn active(n: u32) -> RealLoad {
        RealLoad {
            active: n,
            inactive: 0,
        }
    }

    #[test]
    fn picks_least_overhead_per_weight() {
        let r = reals(&[1, 3, 2]);
        let f = flow_n(0);
        // 2/1, 3/3, 1/2 -> index 2.
        assert_eq!(
            Wlc.pick(&r, &[active(2), active(3), active(1)], &f),
            Some(2)
        );
        // 1/1, 3/3, 2/2: tie -> first.
        assert_eq!(
            Wlc.pick(&r, &[active(1), active(3), active(2)], &f),
            Some(0)
        );
        // inactive counts too: (256+0)/1 vs (256+200)/3.
        let l = [
            active(1),
            RealLoad {
                active: 1,
                inactive: 200,
            },
            active(9),
        ];
        assert_eq!(Wlc.pick(&r, &l, &f), Some(1));
    }

    #[test]
    fn fills_in_proportion_to_weights() {
        let w = [1, 2, 3, 4, 0];
        let r = reals(&w);
        let mut loads = vec![RealLoad::default(); w.len()];
        let f = flow_n(0);
        for _ in 0..1000 {
            let i = Wlc.pick(&r, &loads, &f).unwrap();
            loads[i].active += 1;
        }
        let got: Vec<u32> = loads.iter().map(|l| l.active).collect();
        assert_eq!(got, [100, 200, 300, 400, 0]);
    }
}
