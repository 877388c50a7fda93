//! Schedulers: which real server gets a new connection.
//!
//! Like Linux IPVS (`net/netfilter/ipvs/ip_vs_*.c`) there is one file per scheduler behind one small
//! interface ([`Pick`]). The semantics follow IPVS closely; the few deliberate deviations are
//! documented in each file.
//!
//! # Dispatch
//! [`Scheduler`] is an enum over the concrete schedulers, not a `Box<dyn Pick>`: the set is closed,
//! a `match` on a small tag is cheaper than an indirect call and lets the compiler inline the
//! picks, and building a scheduler for a worker does not need a heap allocation of its own.
//!
//! # Life cycle
//! The control plane builds one scheduler per service when it builds a snapshot
//! ([`crate::lb::service::ServiceTable`]); this is where the expensive, immutable parts (the hash
//! tables of sh, dh and the Maglev table of mh) are computed, once, and shared behind an [`Arc`].
//! Each worker clones that prototype (`Service::new_scheduler`) when it adopts the snapshot, so the
//! mutable part (the rr/wrr position) is per worker and the tables are shared. A scheduler is only
//! ever called with the reals of the snapshot it was built from; if it is not, it stays memory-safe
//! and panic-free but its choice may be poor.
//!
//! # Candidates
//! Only reals that are `available` (health up) and have `weight > 0` (not quiesced) receive new
//! connections. The hash schedulers (sh, dh, mh) build their tables over the reals with
//! `weight > 0` and treat unavailability at lookup time with a deterministic fallback, so a health
//! flap moves only the flows of the real that went down.
//!
//! An overloaded real (at its `upper_threshold`, IPVS's `IP_VS_DEST_F_OVERLOAD`) reaches a
//! scheduler as unavailable: the engine hands it a copy of the service's reals with those marked
//! (`worker/engine/admission.rs`), so every scheduler skips it with no code of its own.
//!
//! A pick never allocates, never panics and runs in bounded time.

mod dh;
mod lc;
mod mh;
mod nq;
mod rr;
mod sed;
mod sh;
mod wlc;
mod wrr;

pub use dh::Dh;
pub use lc::Lc;
pub use mh::{maglev_table, Mh, DEFAULT_MH_TABLE_SIZE};
pub use nq::Nq;
pub use rr::Rr;
pub use sed::Sed;
pub use sh::Sh;
pub use wlc::Wlc;
pub use wrr::Wrr;

use crate::lb::service::RealServer;
use crate::lb::types::{FlowKey, RealId, RealLoad};

/// The one interface every scheduler implements (IPVS's `schedule` callback).
pub trait Pick: Send {
    /// Chooses a real for a new connection: an index into `reals`, or `None` if no real can take
    /// it. `loads` is indexed by [`RealId`]; an id beyond its end counts as idle.
    fn pick(&mut self, reals: &[RealServer], loads: &[RealLoad], flow: &FlowKey) -> Option<usize>;
}

/// The scheduling algorithms: their names are config data (`config::SchedKind`), shared with
/// ctl and the metrics.
pub use crate::config::{SchedKind, UnknownScheduler};

/// Why a scheduler could not be built (only mh has constraints).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SchedError {
    #[error("mh table size {0} must be a prime between 3 and {max}", max = mh::MAX_MH_TABLE_SIZE)]
    MhTableSize(u32),
    #[error("mh table size {size} is smaller than the number of weighted reals ({reals})")]
    MhTooManyReals { size: u32, reals: usize },
}

/// Build-time parameters of the schedulers that have any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedParams {
    /// Maglev lookup table size; a prime, larger than the number of reals (100x is the
    /// Maglev paper's advice for an even spread).
    pub mh_table_size: u32,
}

impl Default for SchedParams {
    fn default() -> Self {
        SchedParams {
            mh_table_size: DEFAULT_MH_TABLE_SIZE,
        }
    }
}

/// A scheduler of any kind (enum dispatch, see the module doc).
#[derive(Clone, Debug)]
pub enum Scheduler {
    Rr(Rr),
    Wrr(Wrr),
    Lc(Lc),
    Wlc(Wlc),
    Sed(Sed),
    Nq(Nq),
    Sh(Sh),
    Dh(Dh),
    Mh(Mh),
}

impl Scheduler {
    /// Builds a scheduler of `kind` for `reals` (control-plane time: may allocate).
    pub fn build(
        kind: SchedKind,
        reals: &[RealServer],
        params: &SchedParams,
    ) -> Result<Scheduler, SchedError> {
        Ok(match kind {
            SchedKind::Rr => Scheduler::Rr(Rr::new()),
            SchedKind::Wrr => Scheduler::Wrr(Wrr::new(reals)),
            SchedKind::Lc => Scheduler::Lc(Lc),
            SchedKind::Wlc => Scheduler::Wlc(Wlc),
            SchedKind::Sed => Scheduler::Sed(Sed),
            SchedKind::Nq => Scheduler::Nq(Nq),
            SchedKind::Sh => Scheduler::Sh(Sh::new(reals)),
            SchedKind::Dh => Scheduler::Dh(Dh::new(reals)),
            SchedKind::Mh => Scheduler::Mh(Mh::new(reals, params.mh_table_size)?),
        })
    }

    /// The kind this scheduler implements.
    pub fn kind(&self) -> SchedKind {
        match self {
            Scheduler::Rr(_) => SchedKind::Rr,
            Scheduler::Wrr(_) => SchedKind::Wrr,
            Scheduler::Lc(_) => SchedKind::Lc,
            Scheduler::Wlc(_) => SchedKind::Wlc,
            Scheduler::Sed(_) => SchedKind::Sed,
            Scheduler::Nq(_) => SchedKind::Nq,
            Scheduler::Sh(_) => SchedKind::Sh,
            Scheduler::Dh(_) => SchedKind::Dh,
            Scheduler::Mh(_) => SchedKind::Mh,
        }
    }
}

impl Pick for Scheduler {
    #[inline]
    fn pick(&mut self, reals: &[RealServer], loads: &[RealLoad], flow: &FlowKey) -> Option<usize> {
        match self {
            Scheduler::Rr(s) => s.pick(reals, loads, flow),
            Scheduler::Wrr(s) => s.pick(reals, loads, flow),
            Scheduler::Lc(s) => s.pick(reals, loads, flow),
            Scheduler::Wlc(s) => s.pick(reals, loads, flow),
            Scheduler::Sed(s) => s.pick(reals, loads, flow),
            Scheduler::Nq(s) => s.pick(reals, loads, flow),
            Scheduler::Sh(s) => s.pick(reals, loads, flow),
            Scheduler::Dh(s) => s.pick(reals, loads, flow),
            Scheduler::Mh(s) => s.pick(reals, loads, flow),
        }
    }
}

/// May `r` receive a new connection? (IPVS: not overloaded and weight > 0.)
#[inline]
pub(crate) fn is_candidate(r: &RealServer) -> bool {
    r.available && r.weight > 0
}

/// This worker's load of real `id` (idle if `loads` does not cover it).
#[inline]
pub(crate) fn load_of(loads: &[RealLoad], id: RealId) -> RealLoad {
    loads.get(id as usize).copied().unwrap_or_default()
}

/// IPVS's `ip_vs_dest_conn_overhead`: an active connection costs 256 inactive ones.
#[inline]
pub(crate) fn conn_overhead(l: RealLoad) -> u64 {
    ((l.active as u64) << 8) + l.inactive as u64
}

/// Is `a / wa` strictly greater than `b / wb`? Compared by cross-multiplication as IPVS does
/// (`loh * dest->weight > doh * least->weight`), widened so it cannot overflow.
#[inline]
pub(crate) fn ratio_gt(a: u64, wa: u32, b: u64, wb: u32) -> bool {
    (a as u128) * (wb as u128) > (b as u128) * (wa as u128)
}

/// The weighted-least pick shared by wlc, sed and nq: the first candidate whose
/// `overhead / weight` is minimal (ties keep the earlier real, as IPVS).
#[inline]
pub(crate) fn least_weighted(
    reals: &[RealServer],
    loads: &[RealLoad],
    overhead: impl Fn(RealLoad) -> u64,
) -> Option<usize> {
    let mut least: Option<(usize, u64, u32)> = None;
    for (i, r) in reals.iter().enumerate() {
        if !is_candidate(r) {
            continue;
        }
        let doh = overhead(load_of(loads, r.id));
        match least {
            Some((_, loh, lw)) if !ratio_gt(loh, lw, doh, r.weight) => {}
            _ => least = Some((i, doh, r.weight)),
        }
    }
    least.map(|(i, _, _)| i)
}

/// Greatest common divisor (0 with 0 is 0).
pub(crate) fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The gcd of the weights of the reals with `weight > 0` (0 if there are none).
pub(crate) fn weight_gcd<'a>(reals: impl Iterator<Item = &'a RealServer>) -> u32 {
    reals
        .filter(|r| r.weight > 0)
        .fold(0, |g, r| gcd(g, r.weight))
}

/// The kernel's `hash_32` (multiplicative hashing with the 32-bit golden ratio), used by sh and dh
/// exactly as IPVS uses it. `bits` is in 1..=32.
#[inline]
pub(crate) fn hash_32(val: u32, bits: u32) -> u32 {
    val.wrapping_mul(0x61C8_8647) >> (32 - bits)
}

/// SplitMix64's finaliser: a fast, well-mixing 64-bit hash (used by mh).
#[inline]
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Shared helpers for the scheduler tests.
    use std::net::Ipv4Addr;

    use crate::lb::service::RealServer;
    use crate::lb::types::{FlowKey, Protocol};

    /// Reals 198.18.1.1.. with the given weights, ids 0.., all available.
    pub fn reals(weights: &[u32]) -> Vec<RealServer> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| RealServer {
                id: i as u32,
                addr: Ipv4Addr::new(198, 18, 1 + (i / 250) as u8, 1 + (i % 250) as u8),
                port: 80,
                weight: w,
                forward: None,
                available: true,
            })
            .collect()
    }

    /// A TCP flow from `src` to 198.51.100.10:80.
    pub fn flow_from(src: Ipv4Addr, sport: u16) -> FlowKey {
        FlowKey {
            proto: Protocol::Tcp,
            src,
            dst: Ipv4Addr::new(198, 51, 100, 10),
            sport,
            dport: 80,
        }
    }

    /// A flow whose source is the `n`-th address of 198.18.0.0/15 (n < 2^17).
    pub fn flow_n(n: u32) -> FlowKey {
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
        flow_from(
            Ipv4Addr::from(base + (n & 0x1_ffff)),
            1024 + (n % 60000) as u16,
        )
    }

    /// A deterministic pseudo-random sequence (xorshift) for spreading sources.
    pub struct Rng(pub u64);
    impl Rng {
        pub fn next_u32(&mut self) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 16) as u32
        }
        /// A random source in 198.18.0.0/15.
        pub fn flow(&mut self) -> super::FlowKey {
            flow_n(self.next_u32() & 0x1_ffff)
        }
    }

    /// Asserts each real's share of `counts` is within `tol` (relative) of its weight share.
    pub fn assert_shares(counts: &[u64], weights: &[u32], tol: f64) {
        let total: u64 = counts.iter().sum();
        let wsum: u64 = weights.iter().map(|&w| w as u64).sum();
        for (i, (&c, &w)) in counts.iter().zip(weights).enumerate() {
            let want = w as f64 / wsum as f64;
            let got = c as f64 / total as f64;
            if w == 0 {
                assert_eq!(c, 0, "real {i} has weight 0 but got {c}");
            } else {
                assert!(
                    (got - want).abs() <= want * tol,
                    "real {i}: share {got:.4}, weight share {want:.4} (tolerance {tol})"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn kind_parses_every_name_and_round_trips() {
        for k in SchedKind::ALL {
            assert_eq!(k.as_str().parse::<SchedKind>(), Ok(k));
            assert_eq!(k.to_string(), k.as_str());
        }
    }

    #[test]
    fn unknown_kind_lists_valid_names() {
        let err = "wrrr".parse::<SchedKind>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"wrrr\""), "{msg}");
        for k in SchedKind::ALL {
            assert!(msg.contains(k.as_str()), "{msg}");
        }
        assert!("".parse::<SchedKind>().is_err());
        assert!("RR".parse::<SchedKind>().is_err());
    }

    #[test]
    fn cross_multiplication_does_not_overflow() {
        assert!(ratio_gt(u64::MAX, 1, u64::MAX, u32::MAX));
        assert!(!ratio_gt(u64::MAX, u32::MAX, u64::MAX, 1));
    }

    #[test]
    fn gcd_of_weights_ignores_zero() {
        let r = reals(&[0, 6, 4, 0, 10]);
        assert_eq!(weight_gcd(r.iter()), 2);
        assert_eq!(weight_gcd(reals(&[0, 0]).iter()), 0);
    }

    mod props {
        use super::super::testutil::*;
        use super::super::*;
        use proptest::prelude::*;

        fn setup(spec: &[(u32, bool, u32, u32)]) -> (Vec<RealServer>, Vec<RealLoad>) {
            let mut r = reals(&spec.iter().map(|s| s.0).collect::<Vec<_>>());
            let mut l = Vec::new();
            for (x, &(_, up, active, inactive)) in r.iter_mut().zip(spec) {
                x.available = up;
                l.push(RealLoad { active, inactive });
            }
            (r, l)
        }

        proptest! {
            /// Every scheduler finds a real iff one is a candidate, and only candidates.
            #[test]
            fn pick_is_some_iff_a_candidate_exists(
                spec in prop::collection::vec((0u32..5, any::<bool>(), 0u32..4, 0u32..4), 0..12),
                src in any::<u32>(),
            ) {
                let (r, l) = setup(&spec);
                let any = r.iter().any(is_candidate);
                let f = flow_from(std::net::Ipv4Addr::from(src), 1);
                for kind in SchedKind::ALL {
                    let mut s = Scheduler::build(kind, &r, &SchedParams { mh_table_size: 251 })
                        .unwrap();
                    match s.pick(&r, &l, &f) {
                        Some(i) => prop_assert!(is_candidate(&r[i]), "{kind}"),
                        None => prop_assert!(!any, "{kind} found nothing"),
                    }
                }
            }

            /// lc, wlc, sed and nq pick a least-loaded candidate by their own measure.
            #[test]
            fn least_schedulers_pick_a_minimum(
                spec in prop::collection::vec((0u32..50, any::<bool>(), 0u32..100, 0u32..1000), 1..20),
            ) {
                let (r, l) = setup(&spec);
                let f = flow_n(0);
                let cands: Vec<usize> = (0..r.len()).filter(|&i| is_candidate(&r[i])).collect();
                let Some(i) = Lc.pick(&r, &l, &f) else {
                    prop_assert!(cands.is_empty());
                    return Ok(());
                };
                let oh = |k: usize| conn_overhead(l[k]);
                prop_assert!(cands.iter().all(|&k| oh(i) <= oh(k)));
                let i = Wlc.pick(&r, &l, &f).unwrap();
                prop_assert!(cands.iter().all(|&k| !ratio_gt(oh(i), r[i].weight, oh(k), r[k].weight)));
                let so = |k: usize| l[k].active as u64 + 1;
                let i = Sed.pick(&r, &l, &f).unwrap();
                prop_assert!(cands.iter().all(|&k| !ratio_gt(so(i), r[i].weight, so(k), r[k].weight)));
                let i = Nq.pick(&r, &l, &f).unwrap();
                if cands.iter().any(|&k| l[k].active == 0) {
                    prop_assert_eq!(l[i].active, 0);
                } else {
                    prop_assert!(cands.iter().all(|&k| !ratio_gt(so(i), r[i].weight, so(k), r[k].weight)));
                }
            }
        }
    }

    /// Properties every scheduler must have: never a quiesced or unavailable real, `None` when
    /// no real can take a connection, never an index out of range, also with foreign reals.
    #[test]
    fn no_scheduler_picks_quiesced_or_unavailable_reals() {
        let mut r = reals(&[3, 0, 2, 5, 1, 4]);
        r[3].available = false;
        r[5].available = false;
        let loads = vec![RealLoad::default(); r.len()];
        let mut rng = Rng(7);
        for kind in SchedKind::ALL {
            let mut s = Scheduler::build(kind, &r, &SchedParams::default()).unwrap();
            assert_eq!(s.kind(), kind);
            for _ in 0..5000 {
                let i = s.pick(&r, &loads, &rng.flow()).expect("a candidate exists");
                assert!(is_candidate(&r[i]), "{kind} picked real {i}");
            }
            // Nothing available: every scheduler says so.
            let mut none = r.clone();
            none.iter_mut().for_each(|x| x.available = false);
            let mut s = Scheduler::build(kind, &r, &SchedParams::default()).unwrap();
            for _ in 0..100 {
                assert_eq!(s.pick(&none, &loads, &rng.flow()), None, "{kind}");
            }
            // No reals at all (or a scheduler fed reals it was not built for): no panic.
            assert_eq!(s.pick(&[], &loads, &rng.flow()), None, "{kind}");
            let fewer = &r[..2];
            for _ in 0..100 {
                if let Some(i) = s.pick(fewer, &loads, &rng.flow()) {
                    assert!(i < fewer.len());
                }
            }
        }
    }
}
