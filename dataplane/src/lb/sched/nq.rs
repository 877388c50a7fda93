//! Never queue (IPVS `ip_vs_nq.c`): the first candidate with no active connection, if any;
//! otherwise the shortest expected delay (`(active + 1) / weight`, as sed).

use super::sed::sed_overhead;
use super::{is_candidate, load_of, ratio_gt, Pick};
use crate::lb::service::RealServer;
use crate::lb::types::{FlowKey, RealLoad};

/// Never queue (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct Nq;

impl Pick for Nq {
    fn pick(&mut self, reals: &[RealServer], loads: &[RealLoad], _: &FlowKey) -> Option<usize> {
        let mut least: Option<(usize, u64, u32)> = None;
        for (i, r) in reals.iter().enumerate() {
            if !is_candidate(r) {
                continue;
            }
            let l = load_of(loads, r.id);
            if l.active == 0 {
                return Some(i);
            }
            let doh = sed_overhead(l);
            match least {
                Some((_, loh, lw)) if !ratio_gt(loh, lw, doh, r.weight) => {}
                _ => least = Some((i, doh, r.weight)),
            }
        }
        least.map(|(i, _, _)| i)
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
    fn idle_server_first_even_if_light() {
        let r = reals(&[100, 1, 1]);
        let f = flow_n(0);
        // Real 0 has far more capacity, but real 2 is idle (inactive ones do not count).
        assert_eq!(
            Nq.pick(&r, &[load(1, 0), load(3, 0), load(0, 50)], &f),
            Some(2)
        );
        // No idle server: sed. (2/100 vs 4/1 vs 2/1.)
        assert_eq!(
            Nq.pick(&r, &[load(1, 0), load(3, 0), load(1, 0)], &f),
            Some(0)
        );
    }

    #[test]
    fn quiesced_idle_server_is_not_used() {
        let r = reals(&[1, 0]);
        assert_eq!(Nq.pick(&r, &[load(5, 0), load(0, 0)], &flow_n(0)), Some(0));
    }
}
