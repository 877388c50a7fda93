//! Round robin (IPVS `ip_vs_rr.c`): the next candidate after the last one picked, in list order.

use super::{is_candidate, Pick};
use crate::lb::service::RealServer;
use crate::lb::types::{FlowKey, RealLoad};

/// Round-robin state: the index of the last real picked by this worker.
#[derive(Clone, Debug, Default)]
pub struct Rr {
    /// `None` until the first pick (IPVS starts at the list head).
    last: Option<usize>,
}

impl Rr {
    pub fn new() -> Rr {
        Rr { last: None }
    }
}

impl Pick for Rr {
    fn pick(&mut self, reals: &[RealServer], _: &[RealLoad], _: &FlowKey) -> Option<usize> {
        let n = reals.len();
        let mut i = match self.last {
            Some(l) if l + 1 < n => l + 1,
            _ => 0,
        };
        for _ in 0..n {
            if is_candidate(&reals[i]) {
                self.last = Some(i);
                return Some(i);
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn cycles_through_candidates_in_order() {
        let mut r = reals(&[1, 5, 0, 1, 1]);
        r[3].available = false;
        let mut s = Rr::new();
        let f = flow_n(1);
        let got: Vec<usize> = (0..7).map(|_| s.pick(&r, &[], &f).unwrap()).collect();
        assert_eq!(got, [0, 1, 4, 0, 1, 4, 0]);
    }

    #[test]
    fn none_without_candidates() {
        let r = reals(&[0, 0]);
        assert_eq!(Rr::new().pick(&r, &[], &flow_n(1)), None);
    }
}
