//! A new connection's admission: may this client open one on this service (its `acl`, its
//! `max_connections`), and which of its reals may take it (IPVS's overload mark, kept with the
//! thresholds' hysteresis, `lb/admission.rs`). Runs only where a packet would open a
//! connection, after the connection lookup missed: established traffic never comes here.
//!
//! # Whose connections count
//! Each worker keeps its own connection table, so a real's connections are spread over the
//! workers. A worker counts its own exactly (its table's per-real load, active + inactive, as
//! IPVS's `ip_vs_dest_totalconns`) and adds the other workers' as they last published them
//! (every 100 ms, `tunables::PUBLISH_MS`): two relaxed loads per peer, no write, no lock. With
//! one worker the count is exact; with several, a burst of new connections spread over the
//! workers can overshoot a threshold by what the others opened in the last 100 ms.
//!
//! # The mark
//! Each worker keeps a mark per real (IPVS's `IP_VS_DEST_F_OVERLOAD`), updated before every
//! scheduling of the real's service and, for every real, each time the worker publishes its
//! figures (so the mark also clears while no new connection comes, and `ctl list` and the
//! metrics see it). A marked real is handed to the scheduler as unavailable: every scheduler
//! skips it as it skips a weight-0 or down real (the hash schedulers fall back the way they do
//! for a down real). A live persistence template still leads to its real, as in IPVS.

use super::Engine;
use crate::lb::service::RealServer;
use crate::lb::types::RealId;
use crate::wire::Frame;
use crate::worker::counters::{Counter, WorkerTotals};
use crate::worker::stats::RealStats;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// A worker's admission state: the overload marks and the scratch list the scheduler sees.
pub struct Admission {
    /// Indexed by [`RealId`]: is the real marked overloaded on this worker?
    overloaded: Box<[bool]>,
    /// A service's reals with the marked ones unavailable (rebuilt in place, never grown past
    /// its capacity: one slot per possible real id, so any service fits; untouched pages cost
    /// nothing).
    pub(super) masked: Vec<RealServer>,
    /// The other workers' published per-real figures.
    peers: Vec<Arc<RealStats>>,
}

impl Admission {
    /// State for real ids below `max_reals` (allocated here, before the loop).
    pub fn new(max_reals: usize) -> Admission {
        Admission {
            overloaded: vec![false; max_reals].into_boxed_slice(),
            masked: Vec::with_capacity(max_reals),
            peers: Vec::new(),
        }
    }

    /// The other workers' published figures, whose connections count toward the thresholds.
    pub fn set_peers(&mut self, peers: Vec<Arc<RealStats>>) {
        self.peers = peers;
    }

    /// Is real `id` marked overloaded on this worker?
    #[inline]
    pub fn is_overloaded(&self, id: RealId) -> bool {
        self.overloaded.get(id as usize).copied().unwrap_or(false)
    }
}

impl<F: Frame> Engine<F> {
    /// Real `id`'s connections on every worker: this worker's own (exact) and the others' as
    /// last published.
    #[inline]
    fn real_connections(&self, id: RealId) -> u64 {
        let own = self
            .conns
            .loads()
            .get(id as usize)
            .map_or(0, |l| u64::from(l.active) + u64::from(l.inactive));
        own + self
            .admission
            .peers
            .iter()
            .map(|p| p.connections_of(id))
            .sum::<u64>()
    }

    /// May `client` open a connection on service `si`? Counts the refusal when not: the acl
    /// first (deny wins; an empty allow list allows all), then `max_connections`.
    #[inline]
    pub(super) fn admit(&mut self, si: usize, client: Ipv4Addr, t: &mut WorkerTotals) -> bool {
        if !self.acl_admits(si, client, t) {
            return false;
        }
        let Some(adm) = self.snap.admission.get(si) else {
            return true;
        };
        if adm.max_connections != 0 {
            let Some(svc) = self.snap.services.get(si) else {
                return true;
            };
            let held: u64 = svc.reals.iter().map(|r| self.real_connections(r.id)).sum();
            if held >= u64::from(adm.max_connections) {
                t.inc(Counter::DropServiceFull);
                return false;
            }
        }
        true
    }

    /// Does service `si`'s acl let `client` in? Counts the refusal when not. Also asked before
    /// the SYN-flood defence answers a SYN, so a denied client gets no cookie either.
    #[inline]
    pub(super) fn acl_admits(&self, si: usize, client: Ipv4Addr, t: &mut WorkerTotals) -> bool {
        let admitted = self
            .snap
            .admission
            .get(si)
            .and_then(|adm| adm.acl.as_ref())
            .is_none_or(|acl| acl.admits(client));
        if !admitted {
            t.inc(Counter::DropAclDenied);
        }
        admitted
    }

    /// Updates the overload marks of service `si`'s reals. True when one is marked: the
    /// scheduler must then choose among `masked` (the service's reals, the marked ones
    /// unavailable).
    pub(super) fn mark_overloaded(&mut self, si: usize, t: &mut WorkerTotals) -> bool {
        let Some(adm) = self.snap.admission.get(si) else {
            return false;
        };
        if adm.thresholds.is_empty() {
            return false;
        }
        let Some(svc) = self.snap.services.get(si) else {
            return false;
        };
        let mut any = false;
        for (i, r) in svc.reals.iter().enumerate() {
            let th = adm.thresholds_of(i);
            let was = self.admission.is_overloaded(r.id);
            let now = th.is_set() && th.overloaded(was, self.real_connections(r.id));
            if now && !was {
                t.inc(Counter::RealOverloaded);
            }
            if let Some(m) = self.admission.overloaded.get_mut(r.id as usize) {
                *m = now;
            }
            any |= now;
        }
        if any {
            let a = &mut self.admission;
            a.masked.clear();
            // Within capacity: a service has at most one real per real id.
            for r in svc.reals.iter().take(a.masked.capacity()) {
                let mut c = r.clone();
                if a.overloaded.get(r.id as usize).copied().unwrap_or(false) {
                    c.available = false;
                }
                a.masked.push(c);
            }
        }
        any
    }

    /// Re-evaluates every configured real's mark (when the worker publishes its figures), so
    /// a mark clears once connections end even if no new connection comes, and a removed
    /// threshold clears it at once.
    pub fn refresh_overload(&mut self, t: &mut WorkerTotals) {
        for si in 0..self.snap.services.services().len() {
            if self.mark_overloaded(si, t) {
                continue;
            }
            // No threshold in the service (any more): nothing of it stays marked.
            let Some(svc) = self.snap.services.get(si) else {
                continue;
            };
            for r in &svc.reals {
                if let Some(m) = self.admission.overloaded.get_mut(r.id as usize) {
                    *m = false;
                }
            }
        }
    }

    /// Sets the other workers' published figures (see [`Admission::set_peers`]).
    pub fn set_admission_peers(&mut self, peers: Vec<Arc<RealStats>>) {
        self.admission.set_peers(peers);
    }
}

impl<F> Engine<F> {
    /// The worker's admission state (marks, peers).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }
}

/// Why scheduling found no real: every real that could take the connection is overloaded
/// (`masked` hid some, and without the marks one was a candidate), or none is up at all.
pub(super) fn no_real_reason(svc: &crate::lb::service::Service, masked: bool) -> Counter {
    if masked && svc.reals.iter().any(|r| r.is_candidate()) {
        Counter::DropRealsOverloaded
    } else {
        Counter::DropNoReal
    }
}

#[cfg(test)]
mod tests {
    use super::super::{fuzz, sim};
    use crate::worker::stats::{RealFigures, RealStats};
    use std::sync::Arc;

    /// Another worker's published connections count: real1 (id 0) at its upper threshold
    /// elsewhere is skipped here, and back once that worker publishes fewer.
    #[test]
    fn other_workers_connections_count_toward_the_threshold() {
        let yaml = sim::EXAMPLE_CONFIG.replacen(
            "reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]}",
            "reals: [{ip: 198.19.0.11, upper_threshold: 1}, {ip: 198.19.0.12}]}",
            1,
        );
        let mut s = sim::Sim::new(&yaml, 1, false).unwrap();
        let peer = Arc::new(RealStats::new(64));
        let publish = |active: u64| {
            peer.publish(64, |id| RealFigures {
                active: if id == 0 { active } else { 0 },
                ..RealFigures::default()
            })
        };
        publish(1);
        s.workers[0].engine.set_admission_peers(vec![peer.clone()]);
        let syn = fuzz::templates()[1].clone();
        let ext = s.port("ext");
        s.rx(0, ext, &syn);
        let loads = |s: &sim::Sim| {
            let l = s.workers[0].engine.conns.loads();
            (l[0].inactive, l[1].inactive)
        };
        assert_eq!(loads(&s), (0, 1), "real1 is full on the other worker");
        assert_eq!(s.counter("real_overloaded"), 1);
        // The other worker's connection ended (0 < 3/4 of 1): real1 is free again.
        publish(0);
        let mut t = crate::worker::counters::WorkerTotals::default();
        s.workers[0].engine.refresh_overload(&mut t);
        assert!(!s.workers[0].engine.admission().is_overloaded(0));
        let mut other = syn.clone();
        // Another client port (the TCP source port's low byte; the checksum is not checked
        // on the way in).
        other[14 + 20 + 1] ^= 1;
        s.rx(0, ext, &other);
        assert_eq!(loads(&s), (1, 1));
    }
}
