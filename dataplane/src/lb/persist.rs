//! Persistence templates (LVS "persistent" services): a client keeps going to the same real server
//! for as long as it keeps coming back within the timeout.
//!
//! A template maps (service, client address & netmask, and for [`PersistScope::PerPort`] the
//! destination port) to a [`RealId`]. On a port-0 service with [`PersistScope::AllPorts`] all of a
//! client's connections, to any port, stick to one real.
//!
//! # Timeout
//! Refreshing a template on every packet would cost a table write per packet. Instead, as IPVS
//! does with its "controlled" connections, a template counts the connections that use it:
//! - a new connection that uses (or creates) the template adds one and pushes the expiry to
//!   `now + timeout`;
//! - the connection table calls [`PersistTable::release`] when such a connection ends (expiry,
//!   reset, eviction, flush: exactly once per [`Scheduled::template`] it received), which takes one
//!   off and, at zero, pushes the expiry to `now + timeout`;
//! - a template never expires while it has connections.
//!
//! So a template expires `timeout` after the later of its last new connection and the end of its
//! last connection (IPVS: between that and twice that, as its timer re-arms).
//!
//! # Real server changes
//! Following IPVS: a template whose real was quiesced (weight 0) is still honoured, so existing
//! clients keep their affinity while new clients go elsewhere; a template whose real is unavailable
//! (health down) or no longer in the service is dropped and replaced by a fresh pick.
//!
//! # Table
//! One table per worker, single writer, no locks. Open addressing with linear probing over a
//! preallocated power-of-two array (no allocation after construction), at most
//! [`PersistTable::PROBE_LIMIT`] slots probed. Expiry is lazy, by timestamp (`now` in
//! milliseconds, passed in: no clock reads here): an expired slot is reused by the next insert
//! that probes it. A full probe window refuses the new template and counts it; the connection is
//! still scheduled, just without persistence.
//!
//! # Which worker
//! The flow owner of a persistent service's connection is chosen from
//! [`persistence_owner_key`] (the client address masked by the service's netmask, not the port),
//! so all connections of a client and its template live on one worker.

use std::net::Ipv4Addr;

use crate::lb::sched::{mix64, Pick, Scheduler};
use crate::lb::service::{PersistScope, Persistence, RealServer, Service, ServiceId};
use crate::lb::types::{FlowKey, RealId, RealLoad};

/// The value flow ownership hashes for a persistent service: the client address masked by the
/// service's persistence netmask (host order). Ports do not enter it, so every connection of a
/// client (and its template) lands on the same worker.
#[inline]
pub fn persistence_owner_key(client: Ipv4Addr, netmask: u32) -> u32 {
    u32::from(client) & netmask
}

/// What a template is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PersistKey {
    pub service: ServiceId,
    /// Client address & netmask, host order.
    pub client: u32,
    /// Destination port for [`PersistScope::PerPort`], else 0.
    pub port: u16,
}

impl PersistKey {
    pub fn new(service: ServiceId, p: &Persistence, client: Ipv4Addr, dport: u16) -> PersistKey {
        PersistKey {
            service,
            client: persistence_owner_key(client, p.netmask),
            port: match p.scope {
                PersistScope::PerPort => dport,
                PersistScope::AllPorts => 0,
            },
        }
    }

    #[inline]
    fn hash(&self) -> u64 {
        mix64(mix64(self.service as u64) ^ ((self.client as u64) << 16 | self.port as u64))
    }
}

/// A connection's hold on a template, to hand back to [`PersistTable::release`]. 4 bytes, so the
/// connection table can store it as a `u32` ([`TemplateRef::to_raw`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateRef(u32);

impl TemplateRef {
    pub fn to_raw(self) -> u32 {
        self.0
    }
    pub fn from_raw(raw: u32) -> TemplateRef {
        TemplateRef(raw)
    }
}

/// The outcome of [`PersistTable::schedule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheduled {
    /// Index into the service's `reals`.
    pub index: usize,
    /// The template the new connection holds (to release when it ends), if any.
    pub template: Option<TemplateRef>,
}

/// Counters of one worker's table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PersistStats {
    /// New connections sent to their template's real.
    pub hits: u64,
    /// Templates created (including replacements).
    pub created: u64,
    /// Templates dropped because their real was unavailable or gone.
    pub dropped: u64,
    /// New templates refused because their probe window was full.
    pub full: u64,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: PersistKey,
    /// Ever used (a never-used slot ends every probe sequence through it).
    used: bool,
    real: RealId,
    conns: u32,
    timeout_ms: u32,
    expires: u64,
}

const EMPTY: Slot = Slot {
    key: PersistKey {
        service: 0,
        client: 0,
        port: 0,
    },
    used: false,
    real: 0,
    conns: 0,
    timeout_ms: 0,
    expires: 0,
};

impl Slot {
    #[inline]
    fn live(&self, now: u64) -> bool {
        self.used && (self.conns > 0 || now < self.expires)
    }
}

/// One worker's persistence templates (see the module doc).
#[derive(Clone, Debug)]
pub struct PersistTable {
    slots: Box<[Slot]>,
    mask: usize,
    stats: PersistStats,
}

impl PersistTable {
    /// Slots probed at most per operation (16 slots of 32 bytes: 8 cache lines).
    pub const PROBE_LIMIT: usize = crate::tunables::PERSIST_PROBE_LIMIT;

    /// A table of `capacity` slots rounded up to a power of two (at least
    /// [`PersistTable::PROBE_LIMIT`]). Keep the live templates under about 3/4 of it: beyond that
    /// probe windows fill up and new templates get refused.
    pub fn with_capacity(capacity: usize) -> PersistTable {
        let n = capacity.max(Self::PROBE_LIMIT).next_power_of_two();
        PersistTable {
            slots: vec![EMPTY; n].into_boxed_slice(),
            mask: n - 1,
            stats: PersistStats::default(),
        }
    }

    /// The number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn stats(&self) -> PersistStats {
        self.stats
    }

    /// Live templates (O(capacity): for the control socket, not the data path).
    pub fn live(&self, now: u64) -> usize {
        self.slots.iter().filter(|s| s.live(now)).count()
    }

    /// Finds `key`'s slot (live or not) and the first reusable slot of its probe window.
    #[inline]
    fn probe(&self, key: &PersistKey, now: u64) -> (Option<usize>, Option<usize>) {
        let home = key.hash() as usize;
        let mut free = None;
        for i in 0..Self::PROBE_LIMIT {
            let s = (home + i) & self.mask;
            let slot = &self.slots[s];
            if !slot.used {
                return (None, free.or(Some(s)));
            }
            if slot.key == *key {
                return (Some(s), free);
            }
            if free.is_none() && !slot.live(now) {
                free = Some(s);
            }
        }
        (None, free)
    }

    /// The real of `key`'s live template, if any.
    pub fn lookup(&self, key: &PersistKey, now: u64) -> Option<RealId> {
        match self.probe(key, now) {
            (Some(s), _) if self.slots[s].live(now) => Some(self.slots[s].real),
            _ => None,
        }
    }

    /// Schedules a new connection of `svc`: through its template if the service is persistent
    /// and the template is usable, else with `sched` (creating the template). For a service
    /// without persistence this is just `sched.pick`. `None`: no real can take the connection.
    pub fn schedule(
        &mut self,
        svc: &Service,
        sched: &mut Scheduler,
        loads: &[RealLoad],
        flow: &FlowKey,
        now: u64,
    ) -> Option<Scheduled> {
        self.schedule_among(svc, &svc.reals, sched, loads, flow, now)
    }

    /// [`PersistTable::schedule`] with the scheduler choosing among `candidates`: `svc.reals`
    /// in the same order, some marked unavailable (overloaded reals, `worker/engine/
    /// admission.rs`). A live template still leads to its real, as IPVS's do.
    pub fn schedule_among(
        &mut self,
        svc: &Service,
        candidates: &[RealServer],
        sched: &mut Scheduler,
        loads: &[RealLoad],
        flow: &FlowKey,
        now: u64,
    ) -> Option<Scheduled> {
        let Some(p) = svc.persistence else {
            return sched.pick(candidates, loads, flow).map(|index| Scheduled {
                index,
                template: None,
            });
        };
        let timeout = p.timeout_ms.min(u32::MAX as u64) as u32;
        let key = PersistKey::new(svc.id, &p, flow.src, flow.dport);
        let (found, free) = self.probe(&key, now);
        let target = match found {
            Some(s) => {
                let slot = &mut self.slots[s];
                if slot.live(now) {
                    let usable = svc
                        .real_index(slot.real)
                        .filter(|&i| svc.reals[i].available);
                    if let Some(index) = usable {
                        // Weight 0 (quiesced) still honoured: existing clients keep affinity.
                        slot.conns = slot.conns.saturating_add(1);
                        slot.timeout_ms = timeout;
                        slot.expires = slot.expires.max(now.saturating_add(timeout as u64));
                        self.stats.hits += 1;
                        return Some(Scheduled {
                            index,
                            template: Some(TemplateRef(s as u32)),
                        });
                    }
                    self.stats.dropped += 1;
                }
                Some(s)
            }
            None => free,
        };
        let index = sched.pick(candidates, loads, flow)?;
        let Some(s) = target else {
            self.stats.full += 1;
            return Some(Scheduled {
                index,
                template: None,
            });
        };
        // A replaced template's old connections release with their old real id: ignored.
        self.slots[s] = Slot {
            key,
            used: true,
            real: svc.reals[index].id,
            conns: 1,
            timeout_ms: timeout,
            expires: now.saturating_add(timeout as u64),
        };
        self.stats.created += 1;
        Some(Scheduled {
            index,
            template: Some(TemplateRef(s as u32)),
        })
    }

    /// What template `t` holds, if it is in use: its key, real, timeout (ms) and the ms it has
    /// left at `now` (its full timeout while connections hold it). For connection sync.
    pub fn template(&self, t: TemplateRef, now: u64) -> Option<(PersistKey, RealId, u64)> {
        let slot = self.slots.get(t.0 as usize).filter(|s| s.live(now))?;
        let left = if slot.conns > 0 {
            u64::from(slot.timeout_ms).max(slot.expires.saturating_sub(now))
        } else {
            slot.expires.saturating_sub(now)
        };
        Some((slot.key, slot.real, left))
    }

    /// Installs a template learnt from a sync peer: `key` -> `real` for `left_ms` (no connection
    /// holds it here). An existing template for `key` is replaced; false if the probe window is
    /// full.
    pub fn install(
        &mut self,
        key: PersistKey,
        real: RealId,
        timeout_ms: u64,
        left_ms: u64,
        now: u64,
    ) -> bool {
        let (found, free) = self.probe(&key, now);
        let Some(s) = found.or(free) else {
            self.stats.full += 1;
            return false;
        };
        let conns = match found {
            Some(s) if self.slots[s].real == real => self.slots[s].conns,
            _ => 0,
        };
        self.slots[s] = Slot {
            key,
            used: true,
            real,
            conns,
            timeout_ms: timeout_ms.min(u64::from(u32::MAX)) as u32,
            expires: now.saturating_add(left_ms),
        };
        true
    }

    /// A connection that held `t` (and went to `real`) has ended. A stale reference (the template
    /// was replaced since) is ignored.
    pub fn release(&mut self, t: TemplateRef, real: RealId, now: u64) {
        let Some(slot) = self.slots.get_mut(t.0 as usize) else {
            return;
        };
        if slot.used && slot.real == real && slot.conns > 0 {
            slot.conns -= 1;
            if slot.conns == 0 {
                slot.expires = slot.expires.max(now.saturating_add(slot.timeout_ms as u64));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::sched::SchedKind;
    use crate::lb::service::tests::{real, spec};
    use crate::lb::service::{ServiceSpec, ServiceTable};
    use crate::lb::types::Protocol;

    const T: u64 = 10_000;

    fn persistent(port: u16, netmask: u32, scope: PersistScope, n_reals: u8) -> ServiceSpec {
        let mut s = spec("p", 100, port, SchedKind::Rr);
        s.persistence = Some(Persistence {
            timeout_ms: T,
            netmask,
            scope,
        });
        s.reals = (0..n_reals).map(|i| real(11 + i, 1)).collect();
        s
    }

    fn flow(src: [u8; 4], sport: u16, dport: u16) -> FlowKey {
        FlowKey {
            proto: Protocol::Tcp,
            src: Ipv4Addr::from(src),
            dst: Ipv4Addr::new(198, 18, 0, 100),
            sport,
            dport,
        }
    }

    struct Fixture {
        table: ServiceTable,
        sched: Scheduler,
        persist: PersistTable,
    }

    impl Fixture {
        fn new(s: ServiceSpec, capacity: usize) -> Fixture {
            let table = ServiceTable::build(&[s]).unwrap();
            let sched = table.get(0).unwrap().new_scheduler();
            Fixture {
                table,
                sched,
                persist: PersistTable::with_capacity(capacity),
            }
        }
        fn go(&mut self, f: FlowKey, now: u64) -> Option<Scheduled> {
            let svc = self.table.get(0).unwrap();
            self.persist.schedule(svc, &mut self.sched, &[], &f, now)
        }
        fn idx(&mut self, f: FlowKey, now: u64) -> usize {
            self.go(f, now).unwrap().index
        }
        fn real_id(&self, index: usize) -> RealId {
            self.table.get(0).unwrap().reals[index].id
        }
        fn respec(&mut self, s: ServiceSpec) {
            self.table = self.table.rebuild(&[s]).unwrap();
            self.sched = self.table.get(0).unwrap().new_scheduler();
        }
    }

    #[test]
    fn owner_key_ignores_port_and_host_bits() {
        let m24 = 0xffff_ff00;
        let a = persistence_owner_key(Ipv4Addr::new(203, 0, 113, 7), m24);
        let b = persistence_owner_key(Ipv4Addr::new(203, 0, 113, 200), m24);
        let c = persistence_owner_key(Ipv4Addr::new(198, 51, 100, 7), m24);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, u32::from(Ipv4Addr::new(203, 0, 113, 0)));
        // Different ports of the same masked client: one owner key, and one template.
        let p = Persistence {
            timeout_ms: T,
            netmask: m24,
            scope: PersistScope::AllPorts,
        };
        let k1 = PersistKey::new(3, &p, Ipv4Addr::new(203, 0, 113, 7), 80);
        let k2 = PersistKey::new(3, &p, Ipv4Addr::new(203, 0, 113, 9), 443);
        assert_eq!(k1, k2);
        assert_eq!(k1.client, a);
    }

    #[test]
    fn all_ports_client_sticks_to_one_real() {
        let mut fx = Fixture::new(persistent(0, u32::MAX, PersistScope::AllPorts, 4), 64);
        let first = fx.idx(flow([203, 0, 113, 1], 1000, 80), 0);
        for (i, port) in [443, 22, 8080, 80, 53].into_iter().enumerate() {
            let got = fx.idx(flow([203, 0, 113, 1], 2000 + i as u16, port), 1 + i as u64);
            assert_eq!(got, first);
        }
        // rr would have moved on: another client gets the next real.
        assert_ne!(fx.idx(flow([203, 0, 113, 2], 1000, 80), 10), first);
        assert_eq!(fx.persist.stats().hits, 5);
        assert_eq!(fx.persist.stats().created, 2);
    }

    #[test]
    fn per_port_sticks_per_destination_port() {
        let mut fx = Fixture::new(persistent(0, u32::MAX, PersistScope::PerPort, 4), 64);
        let c = [203, 0, 113, 1];
        let on80 = fx.idx(flow(c, 1000, 80), 0);
        let on443 = fx.idx(flow(c, 1001, 443), 0);
        assert_ne!(on80, on443, "separate templates, rr moved on");
        assert_eq!(fx.idx(flow(c, 1002, 80), 1), on80);
        assert_eq!(fx.idx(flow(c, 1003, 443), 1), on443);
    }

    #[test]
    fn netmask_groups_clients() {
        let mut fx = Fixture::new(persistent(80, 0xffff_ff00, PersistScope::AllPorts, 4), 64);
        let a = fx.idx(flow([198, 51, 100, 1], 1000, 80), 0);
        assert_eq!(fx.idx(flow([198, 51, 100, 254], 1000, 80), 0), a);
        assert_ne!(fx.idx(flow([198, 51, 101, 1], 1000, 80), 0), a);
    }

    #[test]
    fn expires_after_timeout_unless_connections_hold_it() {
        let mut fx = Fixture::new(persistent(80, u32::MAX, PersistScope::AllPorts, 3), 64);
        let c = [203, 0, 113, 5];
        let s = fx.go(flow(c, 1, 80), 0).unwrap();
        let key = PersistKey {
            service: fx.table.get(0).unwrap().id,
            client: u32::from(Ipv4Addr::from(c)),
            port: 0,
        };
        // Held by one connection: alive long after the timeout.
        assert!(fx.persist.lookup(&key, 5 * T).is_some());
        assert_eq!(fx.idx(flow(c, 2, 80), 5 * T), s.index);
        // Both connections end at 6T: the template lives until 7T.
        let id = fx.real_id(s.index);
        fx.persist.release(s.template.unwrap(), id, 6 * T);
        assert!(
            fx.persist.lookup(&key, 7 * T - 1).is_some(),
            "one conn left"
        );
        fx.persist.release(s.template.unwrap(), id, 6 * T);
        assert!(fx.persist.lookup(&key, 7 * T - 1).is_some());
        assert!(fx.persist.lookup(&key, 7 * T).is_none());
        // Expired: a new connection is scheduled afresh (rr moved on) and gets a new template.
        let again = fx.go(flow(c, 3, 80), 7 * T).unwrap();
        assert_ne!(again.index, s.index);
        assert_eq!(
            fx.persist.lookup(&key, 7 * T),
            Some(fx.real_id(again.index))
        );
        // Extra releases do not underflow or resurrect anything.
        fx.persist
            .release(again.template.unwrap(), fx.real_id(again.index), 7 * T);
        fx.persist
            .release(again.template.unwrap(), fx.real_id(again.index), 7 * T);
        assert!(fx.persist.lookup(&key, 8 * T).is_none());
    }

    #[test]
    fn without_release_template_expires_timeout_after_last_new_connection() {
        let mut fx = Fixture::new(persistent(80, u32::MAX, PersistScope::AllPorts, 3), 64);
        let c = [203, 0, 113, 5];
        let a = fx.go(flow(c, 1, 80), 0).unwrap();
        fx.persist
            .release(a.template.unwrap(), fx.real_id(a.index), 0);
        assert_eq!(fx.idx(flow(c, 2, 80), T - 1), a.index);
        let b = fx.go(flow(c, 3, 80), 2 * T - 2).unwrap();
        assert_eq!(b.index, a.index, "refreshed at T-1");
    }

    #[test]
    fn quiesced_real_keeps_its_clients_unavailable_real_loses_them() {
        let mut s = persistent(80, u32::MAX, PersistScope::AllPorts, 3);
        let mut fx = Fixture::new(s.clone(), 64);
        let c = [203, 0, 113, 9];
        let first = fx.idx(flow(c, 1, 80), 0);
        // Quiesce it: the template is still honoured...
        s.reals[first].weight = 0;
        fx.respec(s.clone());
        assert_eq!(fx.idx(flow(c, 2, 80), 1), first);
        // ...but a new client never goes there.
        for i in 0..10u8 {
            assert_ne!(fx.idx(flow([203, 0, 113, 100 + i], 1, 80), 1), first);
        }
        // Health down: dropped and replaced.
        s.reals[first].weight = 1;
        s.reals[first].available = false;
        fx.respec(s.clone());
        let dropped = fx.persist.stats().dropped;
        let moved = fx.idx(flow(c, 3, 80), 2);
        assert_ne!(moved, first);
        assert_eq!(fx.persist.stats().dropped, dropped + 1);
        // And the replacement sticks even when the old real comes back.
        s.reals[first].available = true;
        fx.respec(s.clone());
        assert_eq!(fx.idx(flow(c, 4, 80), 3), moved);
        // Real removed from the service: dropped and replaced.
        s.reals.remove(moved);
        fx.respec(s);
        let svc_reals = fx.table.get(0).unwrap().reals.clone();
        let now_at = fx.idx(flow(c, 5, 80), 4);
        assert!(now_at < svc_reals.len());
        assert_eq!(fx.persist.stats().dropped, dropped + 2);
    }

    #[test]
    fn stale_release_is_ignored() {
        let mut s = persistent(80, u32::MAX, PersistScope::AllPorts, 3);
        let mut fx = Fixture::new(s.clone(), 64);
        let c = [203, 0, 113, 9];
        let old = fx.go(flow(c, 1, 80), 0).unwrap();
        let old_id = fx.real_id(old.index);
        s.reals[old.index].available = false;
        fx.respec(s);
        let new = fx.go(flow(c, 2, 80), 1).unwrap();
        assert_eq!(new.template, old.template, "same slot, replaced");
        // The old connection ends: it must not release the new template's connection.
        fx.persist.release(old.template.unwrap(), old_id, 2);
        let key = PersistKey {
            service: fx.table.get(0).unwrap().id,
            client: u32::from(Ipv4Addr::from(c)),
            port: 0,
        };
        assert!(fx.persist.lookup(&key, 100 * T).is_some(), "still held");
        fx.persist.release(TemplateRef::from_raw(u32::MAX), 0, 0);
    }

    #[test]
    fn template_survives_a_rebuild_with_stable_ids() {
        let mut s = persistent(80, u32::MAX, PersistScope::AllPorts, 4);
        let mut fx = Fixture::new(s.clone(), 64);
        let c = [203, 0, 113, 9];
        let first = fx.idx(flow(c, 1, 80), 0);
        let addr = fx.table.get(0).unwrap().reals[first].addr;
        s.reals.reverse();
        s.reals.push(real(99, 1));
        fx.respec(s);
        let now_at = fx.idx(flow(c, 2, 80), 1);
        assert_eq!(fx.table.get(0).unwrap().reals[now_at].addr, addr);
    }

    #[test]
    fn full_window_refuses_and_counts_but_still_schedules() {
        let mut fx = Fixture::new(persistent(80, u32::MAX, PersistScope::AllPorts, 2), 16);
        assert_eq!(fx.persist.capacity(), 16);
        let mut held = 0;
        for i in 0..40u8 {
            let s = fx.go(flow([198, 51, 100, i], 1, 80), 0).unwrap();
            held += s.template.is_some() as u32;
        }
        assert_eq!(held, 16);
        assert_eq!(fx.persist.stats().full, 24);
        assert_eq!(fx.persist.live(0), 16);
        // Once they expire (no connections hold them after release) the slots are reused.
        for i in 0..40u8 {
            let k = PersistKey {
                service: fx.table.get(0).unwrap().id,
                client: u32::from(Ipv4Addr::new(198, 51, 100, i)),
                port: 0,
            };
            let (Some(slot), _) = fx.persist.probe(&k, 0) else {
                continue;
            };
            let real = fx.persist.slots[slot].real;
            fx.persist.release(TemplateRef(slot as u32), real, 0);
        }
        for i in 0..16u8 {
            let s = fx.go(flow([192, 0, 2, i], 1, 80), T).unwrap();
            assert!(s.template.is_some(), "expired slot reused");
        }
    }

    #[test]
    fn churn_reuses_expired_slots() {
        let mut fx = Fixture::new(persistent(80, u32::MAX, PersistScope::AllPorts, 3), 1024);
        // 20000 clients over time, at most ~100 live at once: never full.
        for i in 0..20_000u32 {
            let now = i as u64 * (T / 100);
            let src = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i;
            let s = fx
                .go(flow(Ipv4Addr::from(src).octets(), 1, 80), now)
                .unwrap();
            let t = s.template.expect("room");
            fx.persist.release(t, fx.real_id(s.index), now);
        }
        assert_eq!(fx.persist.stats().full, 0);
        assert!(fx.persist.live(20_000 * (T / 100)) <= 101);
    }

    #[test]
    fn non_persistent_service_is_a_plain_pick() {
        let mut s = persistent(80, u32::MAX, PersistScope::AllPorts, 3);
        s.persistence = None;
        let mut fx = Fixture::new(s, 16);
        let c = [203, 0, 113, 1];
        let picks: Vec<Scheduled> = (0..3).map(|i| fx.go(flow(c, i, 80), 0).unwrap()).collect();
        assert_eq!(picks.iter().map(|p| p.index).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(picks.iter().all(|p| p.template.is_none()));
        assert_eq!(fx.persist.stats(), PersistStats::default());
    }

    #[test]
    fn no_candidate_no_template() {
        let mut s = persistent(80, u32::MAX, PersistScope::AllPorts, 2);
        s.reals.iter_mut().for_each(|r| r.available = false);
        let mut fx = Fixture::new(s, 16);
        assert_eq!(fx.go(flow([203, 0, 113, 1], 1, 80), 0), None);
        assert_eq!(fx.persist.live(0), 0);
    }
}
