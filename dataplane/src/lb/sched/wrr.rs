//! Weighted round robin (IPVS `ip_vs_wrr.c`): interleaved, gcd-based.
//!
//! A current weight `cw` starts at the maximum weight and drops by the gcd of the weights each time
//! the scan wraps around the list (back to the maximum below the gcd); a real is picked when its
//! weight is at least `cw`. With weights 4, 3, 2 the sequence is a a b a b c a b c: each real gets
//! its weight's share, interleaved rather than in bursts.
//!
//! The maximum and gcd are computed over the candidates when the scheduler is built (IPVS
//! recomputes them when a destination is added or edited; our reals change only with a new
//! snapshot, which rebuilds the scheduler).

use super::{is_candidate, weight_gcd, Pick};
use crate::lb::service::RealServer;
use crate::lb::types::{FlowKey, RealLoad};

/// Weighted round-robin state of one worker.
#[derive(Clone, Debug)]
pub struct Wrr {
    /// Index of the last real looked at; `None` stands for the list head.
    pos: Option<usize>,
    /// Current weight.
    cw: u32,
    /// Maximum weight of the candidates (0: none).
    mw: u32,
    /// Gcd of the candidates' weights.
    di: u32,
}

impl Wrr {
    pub fn new(reals: &[RealServer]) -> Wrr {
        let cands = || reals.iter().filter(|r| is_candidate(r));
        Wrr {
            pos: None,
            cw: 0,
            mw: cands().map(|r| r.weight).max().unwrap_or(0),
            di: weight_gcd(cands()),
        }
    }
}

impl Pick for Wrr {
    fn pick(&mut self, reals: &[RealServer], _: &[RealLoad], _: &FlowKey) -> Option<usize> {
        let n = reals.len();
        if self.mw == 0 || n == 0 {
            return None;
        }
        // A real of maximal weight qualifies at every `cw`, so a pick is found before the end of
        // the next full pass: at most 2n steps (the bound only guards foreign `reals`).
        for _ in 0..=2 * n {
            let next = match self.pos {
                Some(p) if p + 1 < n => p + 1,
                _ => {
                    // Wrapped past the head: next round, lower the bar.
                    self.cw = if self.cw > self.di {
                        self.cw - self.di
                    } else {
                        self.mw
                    };
                    0
                }
            };
            self.pos = Some(next);
            let r = &reals[next];
            if is_candidate(r) && r.weight >= self.cw {
                return Some(next);
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
    fn interleaves_like_ipvs() {
        let r = reals(&[4, 3, 2]);
        let mut s = Wrr::new(&r);
        let f = flow_n(0);
        let got: Vec<usize> = (0..18).map(|_| s.pick(&r, &[], &f).unwrap()).collect();
        assert_eq!(got, [0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 0, 1, 0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn gcd_steps_and_equal_weights() {
        // gcd 2: cw goes 6, 4, 2 -> a, a b, a b c.
        let r = reals(&[6, 4, 2]);
        let mut s = Wrr::new(&r);
        let f = flow_n(0);
        let got: Vec<usize> = (0..6).map(|_| s.pick(&r, &[], &f).unwrap()).collect();
        assert_eq!(got, [0, 0, 1, 0, 1, 2]);
        let r = reals(&[7, 7, 7]);
        let mut s = Wrr::new(&r);
        let got: Vec<usize> = (0..6).map(|_| s.pick(&r, &[], &f).unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn follows_weights_exactly_over_whole_cycles() {
        let w = [5, 0, 1, 9, 3, 12, 7];
        let mut r = reals(&w);
        r.push(reals(&[8])[0].clone());
        r[7].available = false;
        r[7].id = 7;
        let mut s = Wrr::new(&r);
        let f = flow_n(0);
        let mut counts = vec![0u64; w.len()];
        // One cycle is sum(weights) picks; 1000 cycles must match the weights exactly.
        let cycle: u32 = w.iter().sum();
        for _ in 0..cycle * 1000 {
            counts[s.pick(&r, &[], &f).unwrap()] += 1;
        }
        for (c, w) in counts.iter().zip(w) {
            assert_eq!(*c, w as u64 * 1000);
        }
    }
}
