//! Least connections (IPVS `ip_vs_lc.c`): the candidate with the smallest
//! `active * 256 + inactive` (this worker's counts); ties go to the earlier real. Weights only
//! matter as "zero means quiesced".

use super::{conn_overhead, is_candidate, load_of, Pick};
use crate::lb::service::RealServer;
use crate::lb::types::{FlowKey, RealLoad};

/// Least connections (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct Lc;

impl Pick for Lc {
    fn pick(&mut self, reals: &[RealServer], loads: &[RealLoad], _: &FlowKey) -> Option<usize> {
        let mut least: Option<(usize, u64)> = None;
        for (i, r) in reals.iter().enumerate() {
            if !is_candidate(r) {
                continue;
            }
            let doh = conn_overhead(load_of(loads, r.id));
            match least {
                Some((_, loh)) if doh >= loh => {}
                _ => least = Some((i, doh)),
            }
        }
        least.map(|(i, _)| i)
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
    fn picks_least_overhead_ignoring_weight() {
        let r = reals(&[1, 100, 1, 1]);
        let f = flow_n(0);
        // overheads: 2*256, 1*256+300, 1*256+10, 1*256+10 -> index 2 (first of the tie).
        let loads = [load(2, 0), load(1, 300), load(1, 10), load(1, 10)];
        assert_eq!(Lc.pick(&r, &loads, &f), Some(2));
        // One active costs more than 255 inactive.
        let loads = [load(1, 0), load(0, 255), load(3, 0), load(3, 0)];
        assert_eq!(Lc.pick(&r, &loads, &f), Some(1));
    }

    #[test]
    fn skips_quiesced_idle_real_and_missing_loads_count_as_idle() {
        let r = reals(&[0, 1, 1]);
        let f = flow_n(0);
        assert_eq!(Lc.pick(&r, &[load(0, 0), load(1, 0)], &f), Some(2));
    }

    #[test]
    fn fills_up_evenly() {
        let r = reals(&[1; 5]);
        let mut loads = vec![RealLoad::default(); 5];
        let f = flow_n(0);
        for _ in 0..500 {
            let i = Lc.pick(&r, &loads, &f).unwrap();
            loads[i].active += 1;
        }
        assert!(loads.iter().all(|l| l.active == 100), "{loads:?}");
    }
}
