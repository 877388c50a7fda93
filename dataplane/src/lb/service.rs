//! Virtual services and their real servers, as an immutable table the workers read.
//!
//! A virtual service is keyed by (protocol, VIP, port); port 0 means every port of the VIP, and a
//! lookup tries the exact port first, then port 0 (IPVS's port-0 "all ports" services).
//!
//! The control plane builds a [`ServiceTable`] from plain [`ServiceSpec`]s (validating them) and
//! publishes it as part of a snapshot; workers only read it. Lookups are O(1) in a prebuilt hash
//! map with a fast non-cryptographic hash (the key and its index: `service_index.rs`, one per
//! address family): the map's contents come from the configuration only, so packets cannot make
//! its chains longer.
//!
//! Identities are stable across rebuilds: [`ServiceTable::rebuild`] gives a service the same
//! [`ServiceId`] as long as its key is unchanged, and a real the same [`RealId`] as long as its
//! (service key, address, port) is unchanged, so connections and persistence templates that refer
//! to them by id survive a reconfiguration. Ids are never reused for another identity (a removed
//! real may still have connections); they grow only with identities never seen before, so arrays
//! indexed by [`RealId`] stay dense ([`ServiceTable::real_id_bound`]).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::lb::sched::{Mh, SchedError, SchedKind, SchedParams, Scheduler};
use crate::lb::types::{ForwardMode, Protocol, RealId};

pub use crate::lb::service_index::{ServiceIndex, ServiceKey};

/// Stable identity of a virtual service across snapshots (see the module doc).
pub type ServiceId = u32;

/// Which of a client's connections share a persistence template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PersistScope {
    /// All of a client's connections to the service stick to one real, whatever the destination
    /// port (for a port-0 service: every port of the VIP; IPVS's behaviour).
    #[default]
    AllPorts,
    /// Each destination port has its own template (only differs from `AllPorts` on port-0
    /// services).
    PerPort,
}

/// LVS persistence ("sticky clients") of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Persistence {
    /// How long a template outlives its last use, in milliseconds (1..=u32::MAX).
    pub timeout_ms: u64,
    /// Client address mask in host order (`0xffff_ff00` groups a /24); must be contiguous.
    pub netmask: u32,
    pub scope: PersistScope,
}

impl Persistence {
    /// The mask of a prefix length (`24` -> `0xffff_ff00`); `None` above 32.
    pub fn mask_from_prefix(len: u8) -> Option<u32> {
        (len <= 32).then(|| super::route::prefix_mask(len))
    }

    /// Is `mask` a run of ones followed by zeros?
    pub fn mask_is_contiguous(mask: u32) -> bool {
        mask.leading_ones() + mask.trailing_zeros() == 32
    }
}

/// A real server of a service, as the workers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealServer {
    pub id: RealId,
    pub addr: Ipv4Addr,
    /// Destination port on the real; 0 keeps the client's destination port.
    pub port: u16,
    /// Relative capacity; 0 quiesces the real (no new connections, existing ones continue).
    pub weight: u32,
    /// Forwarding mode of this real if it differs from the service's.
    pub forward: Option<ForwardMode>,
    /// Health: false takes the real out (no new connections, templates to it are dropped).
    pub available: bool,
}

impl RealServer {
    /// May this real receive a new connection (available and not quiesced)?
    #[inline]
    pub fn is_candidate(&self) -> bool {
        self.available && self.weight > 0
    }

    /// The destination port for a connection whose client sent to `client_dport`.
    #[inline]
    pub fn dst_port(&self, client_dport: u16) -> u16 {
        if self.port == 0 {
            client_dport
        } else {
            self.port
        }
    }

    /// The forwarding mode of this real within a service whose default is `service`.
    #[inline]
    pub fn forward_mode(&self, service: ForwardMode) -> ForwardMode {
        self.forward.unwrap_or(service)
    }
}

/// A virtual service in a published table.
#[derive(Clone, Debug)]
pub struct Service {
    pub id: ServiceId,
    pub name: String,
    pub key: ServiceKey,
    pub sched: SchedKind,
    pub forward: ForwardMode,
    pub persistence: Option<Persistence>,
    /// In configuration order (the order rr, wrr and the tie-breaks of lc/wlc/sed/nq follow).
    pub reals: Vec<RealServer>,
    params: SchedParams,
    /// (id, index into `reals`), sorted by id.
    by_id: Vec<(RealId, u32)>,
    /// Built once per snapshot; workers clone it ([`Service::new_scheduler`]).
    scheduler: Scheduler,
}

impl Service {
    /// A scheduler for one worker: shares the prebuilt tables, owns its position.
    /// Call when adopting a snapshot, not per packet (it clones an `Arc`).
    pub fn new_scheduler(&self) -> Scheduler {
        self.scheduler.clone()
    }

    /// The index in `reals` of the real with this id, if it belongs to this service. O(log n).
    pub fn real_index(&self, id: RealId) -> Option<usize> {
        self.by_id
            .binary_search_by_key(&id, |&(i, _)| i)
            .ok()
            .map(|k| self.by_id[k].1 as usize)
    }

    /// The forwarding mode of `reals[index]` (the service's unless the real overrides it).
    pub fn forward_mode_of(&self, index: usize) -> ForwardMode {
        self.reals
            .get(index)
            .map_or(self.forward, |r| r.forward_mode(self.forward))
    }
}

/// A real server as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealSpec {
    pub addr: Ipv4Addr,
    pub port: u16,
    pub weight: u32,
    pub forward: Option<ForwardMode>,
    pub available: bool,
}

/// A virtual service as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: String,
    pub proto: Protocol,
    pub vip: Ipv4Addr,
    pub port: u16,
    pub sched: SchedKind,
    pub forward: ForwardMode,
    pub persistence: Option<Persistence>,
    /// Scheduler parameters (the mh table size); defaults if `None`.
    pub sched_params: Option<SchedParams>,
    pub reals: Vec<RealSpec>,
}

/// Why a set of [`ServiceSpec`]s was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("a service has an empty name")]
    EmptyName,
    #[error("two services are named {0:?}")]
    DuplicateName(String),
    #[error("services {first:?} and {second:?} have the same key {key}")]
    DuplicateKey {
        first: String,
        second: String,
        key: ServiceKey,
    },
    #[error("service {service:?}: protocol must be tcp or udp")]
    Protocol { service: String },
    #[error("service {service:?}: VIP {vip} is not a unicast address")]
    Vip { service: String, vip: Ipv4Addr },
    #[error("service {service:?}: real {addr} is not a unicast address")]
    RealAddr { service: String, addr: Ipv4Addr },
    #[error("service {service:?}: real {addr} port {port} is listed twice")]
    DuplicateReal {
        service: String,
        addr: Ipv4Addr,
        port: u16,
    },
    #[error(
        "service {service:?}: real {addr} uses {mode:?} forwarding, which cannot change the \
         destination port (real port {port}, service port {service_port}; use 0 or the service port)"
    )]
    PortRemap {
        service: String,
        addr: Ipv4Addr,
        mode: ForwardMode,
        port: u16,
        service_port: u16,
    },
    #[error("service {service:?}: persistence timeout must be 1 ms to {max} ms", max = u32::MAX)]
    PersistTimeout { service: String },
    #[error("service {service:?}: persistence netmask {mask} is not contiguous")]
    PersistNetmask { service: String, mask: Ipv4Addr },
    #[error("service {service:?}: {source}")]
    Sched {
        service: String,
        #[source]
        source: SchedError,
    },
}

/// The ids handed out so far (grows with new identities only; see the module doc).
#[derive(Clone, Debug, Default)]
struct IdRegistry {
    services: HashMap<ServiceKey, ServiceId>,
    reals: HashMap<(ServiceKey, Ipv4Addr, u16), RealId>,
}

impl IdRegistry {
    fn service(&mut self, key: ServiceKey) -> ServiceId {
        let next = self.services.len() as ServiceId;
        *self.services.entry(key).or_insert(next)
    }
    fn real(&mut self, key: ServiceKey, addr: Ipv4Addr, port: u16) -> RealId {
        let next = self.reals.len() as RealId;
        *self.reals.entry((key, addr, port)).or_insert(next)
    }
}

/// Where a real id lives in the current table.
const NOWHERE: (u32, u32) = (u32::MAX, u32::MAX);

/// The virtual services of one snapshot; immutable once built.
#[derive(Clone, Debug, Default)]
pub struct ServiceTable {
    services: Vec<Service>,
    by_key: ServiceIndex,
    /// Indexed by [`RealId`]: (service index, real index), or [`NOWHERE`].
    real_loc: Vec<(u32, u32)>,
    ids: IdRegistry,
}

fn is_unicast(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast())
}

impl ServiceTable {
    /// A table with no service.
    pub fn empty() -> ServiceTable {
        ServiceTable::default()
    }

    /// Builds a table from scratch (ids start at 0).
    pub fn build(specs: &[ServiceSpec]) -> Result<ServiceTable, ServiceError> {
        ServiceTable::empty().rebuild(specs)
    }

    /// Builds the next table, keeping the ids of services and reals that `self` already has, and
    /// reusing an mh table when its reals and weights are unchanged (a health change then costs
    /// no rebuild). `self` is left as it was (a refused change keeps the running table).
    pub fn rebuild(&self, specs: &[ServiceSpec]) -> Result<ServiceTable, ServiceError> {
        let mut ids = self.ids.clone();
        let mut services = Vec::with_capacity(specs.len());
        let mut by_key = ServiceIndex::default();
        let mut by_name: HashMap<&str, ()> = HashMap::new();
        for spec in specs {
            let svc = validate(spec)?;
            if by_name.insert(&spec.name, ()).is_some() {
                return Err(ServiceError::DuplicateName(spec.name.clone()));
            }
            let key = ServiceKey {
                proto: spec.proto,
                vip: spec.vip,
                port: spec.port,
            };
            if let Err(other) = by_key.insert(key, services.len() as u32) {
                let first: &Service = &services[other as usize];
                return Err(ServiceError::DuplicateKey {
                    first: first.name.clone(),
                    second: spec.name.clone(),
                    key,
                });
            }
            let reals: Vec<RealServer> = spec
                .reals
                .iter()
                .map(|r| RealServer {
                    id: ids.real(key, r.addr, r.port),
                    addr: r.addr,
                    port: r.port,
                    weight: r.weight,
                    forward: r.forward,
                    available: r.available,
                })
                .collect();
            let params = spec.sched_params.unwrap_or_default();
            let scheduler = match self.reusable_mh(key, &reals, &params) {
                Some(mh) => mh,
                None => Scheduler::build(spec.sched, &reals, &params).map_err(|source| {
                    ServiceError::Sched {
                        service: svc.clone(),
                        source,
                    }
                })?,
            };
            let mut by_id: Vec<(RealId, u32)> = reals
                .iter()
                .enumerate()
                .map(|(i, r)| (r.id, i as u32))
                .collect();
            by_id.sort_unstable();
            services.push(Service {
                id: ids.service(key),
                name: spec.name.clone(),
                key,
                sched: spec.sched,
                forward: spec.forward,
                persistence: spec.persistence,
                reals,
                params,
                by_id,
                scheduler,
            });
        }
        let mut real_loc = vec![NOWHERE; ids.reals.len()];
        for (si, s) in services.iter().enumerate() {
            for (ri, r) in s.reals.iter().enumerate() {
                real_loc[r.id as usize] = (si as u32, ri as u32);
            }
        }
        Ok(ServiceTable {
            services,
            by_key,
            real_loc,
            ids,
        })
    }

    /// The previous mh scheduler of the service `key` if its table fits `reals` unchanged.
    fn reusable_mh(
        &self,
        key: ServiceKey,
        reals: &[RealServer],
        params: &SchedParams,
    ) -> Option<Scheduler> {
        let old = self.lookup_exact(key)?;
        let Scheduler::Mh(mh) = &old.scheduler else {
            return None;
        };
        let same = old.params == *params
            && old.reals.len() == reals.len()
            && old
                .reals
                .iter()
                .zip(reals)
                .all(|(a, b)| a.addr == b.addr && a.port == b.port && a.weight == b.weight);
        same.then(|| Scheduler::Mh(Mh::from_table(mh.table().clone())))
    }

    fn lookup_exact(&self, key: ServiceKey) -> Option<&Service> {
        self.services.get(self.by_key.get(key)?)
    }

    /// The index of the service for a packet to `vip:port`: the exact port, else the VIP's
    /// port-0 service.
    #[inline]
    pub fn lookup_index(&self, proto: Protocol, vip: Ipv4Addr, port: u16) -> Option<usize> {
        self.by_key.lookup(proto, vip, port)
    }

    /// The service for a packet to `vip:port` (see [`ServiceTable::lookup_index`]).
    #[inline]
    pub fn lookup(&self, proto: Protocol, vip: Ipv4Addr, port: u16) -> Option<&Service> {
        self.lookup_index(proto, vip, port)
            .and_then(|i| self.services.get(i))
    }

    /// Is `addr` the VIP of any service (any protocol, any port)?
    #[inline]
    pub fn is_vip(&self, addr: Ipv4Addr) -> bool {
        self.by_key.is_vip(addr)
    }

    /// The service at `index` (as returned by [`ServiceTable::lookup_index`]).
    #[inline]
    pub fn get(&self, index: usize) -> Option<&Service> {
        self.services.get(index)
    }

    /// Every service, in configuration order.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// The service index and the real of a real id, if the real is in this table. O(1).
    #[inline]
    pub fn real(&self, id: RealId) -> Option<(usize, &RealServer)> {
        let &(si, ri) = self.real_loc.get(id as usize)?;
        let r = self.services.get(si as usize)?.reals.get(ri as usize)?;
        Some((si as usize, r))
    }

    /// One more than the largest [`RealId`] handed out so far: the length of a per-worker
    /// `loads` array (it only grows, and only when a new real identity is configured).
    pub fn real_id_bound(&self) -> usize {
        self.ids.reals.len()
    }
}

/// Checks one spec on its own; returns its name for error messages.
fn validate(spec: &ServiceSpec) -> Result<String, ServiceError> {
    let service = spec.name.clone();
    if spec.name.is_empty() {
        return Err(ServiceError::EmptyName);
    }
    if spec.proto == Protocol::Icmp {
        return Err(ServiceError::Protocol { service });
    }
    if !is_unicast(spec.vip) {
        return Err(ServiceError::Vip {
            service,
            vip: spec.vip,
        });
    }
    if let Some(p) = &spec.persistence {
        if p.timeout_ms == 0 || p.timeout_ms > u32::MAX as u64 {
            return Err(ServiceError::PersistTimeout { service });
        }
        if !Persistence::mask_is_contiguous(p.netmask) {
            return Err(ServiceError::PersistNetmask {
                service,
                mask: Ipv4Addr::from(p.netmask),
            });
        }
    }
    let mut seen: HashMap<(Ipv4Addr, u16), ()> = HashMap::new();
    for r in &spec.reals {
        if !is_unicast(r.addr) {
            return Err(ServiceError::RealAddr {
                service,
                addr: r.addr,
            });
        }
        // Port 0 means "the client's port", which on a fixed-port service is the service port.
        let effective = if r.port == 0 { spec.port } else { r.port };
        if seen.insert((r.addr, effective), ()).is_some() {
            return Err(ServiceError::DuplicateReal {
                service,
                addr: r.addr,
                port: r.port,
            });
        }
        let mode = r.forward.unwrap_or(spec.forward);
        if !mode.is_nat() && r.port != 0 && r.port != spec.port {
            return Err(ServiceError::PortRemap {
                service,
                addr: r.addr,
                mode,
                port: r.port,
                service_port: spec.port,
            });
        }
    }
    Ok(service)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::lb::sched::Pick;
    use crate::lb::types::{FlowKey, RealLoad};

    pub(crate) fn real(last: u8, weight: u32) -> RealSpec {
        RealSpec {
            addr: Ipv4Addr::new(198, 19, 0, last),
            port: 0,
            weight,
            forward: None,
            available: true,
        }
    }

    pub(crate) fn spec(name: &str, vip_last: u8, port: u16, sched: SchedKind) -> ServiceSpec {
        ServiceSpec {
            name: name.to_string(),
            proto: Protocol::Tcp,
            vip: Ipv4Addr::new(198, 18, 0, vip_last),
            port,
            sched,
            forward: ForwardMode::Nat,
            persistence: None,
            sched_params: None,
            reals: vec![real(11, 1), real(12, 2)],
        }
    }

    fn vip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, 0, last)
    }

    #[test]
    fn exact_port_then_port_zero() {
        let t = ServiceTable::build(&[
            spec("web", 100, 80, SchedKind::Wlc),
            spec("any", 100, 0, SchedKind::Rr),
            spec("dns", 100, 53, SchedKind::Rr),
        ])
        .unwrap();
        assert_eq!(t.lookup(Protocol::Tcp, vip(100), 80).unwrap().name, "web");
        assert_eq!(t.lookup(Protocol::Tcp, vip(100), 443).unwrap().name, "any");
        assert_eq!(t.lookup(Protocol::Tcp, vip(100), 0).unwrap().name, "any");
        assert_eq!(t.lookup_index(Protocol::Tcp, vip(100), 53), Some(2));
        assert!(t.lookup(Protocol::Udp, vip(100), 53).is_none());
        assert!(t.lookup(Protocol::Tcp, vip(101), 80).is_none());
        assert!(t.is_vip(vip(100)));
        assert!(!t.is_vip(vip(101)));
        let only_web = ServiceTable::build(&[spec("web", 100, 80, SchedKind::Wlc)]).unwrap();
        assert!(only_web.lookup(Protocol::Tcp, vip(100), 81).is_none());
        assert!(ServiceTable::empty()
            .lookup(Protocol::Tcp, vip(100), 80)
            .is_none());
    }

    #[test]
    fn refuses_invalid_specs() {
        let ok = spec("web", 100, 80, SchedKind::Wlc);
        let check = |specs: &[ServiceSpec]| ServiceTable::build(specs).unwrap_err();
        assert_eq!(
            check(&[ok.clone(), ok.clone()]),
            ServiceError::DuplicateName("web".into())
        );
        let mut other = ok.clone();
        other.name = "web2".into();
        let e = check(&[ok.clone(), other]);
        assert!(matches!(e, ServiceError::DuplicateKey { .. }), "{e}");
        assert!(e.to_string().contains("tcp 198.18.0.100:80"), "{e}");
        let mut s = ok.clone();
        s.name.clear();
        assert_eq!(check(&[s]), ServiceError::EmptyName);
        let mut s = ok.clone();
        s.proto = Protocol::Icmp;
        assert!(matches!(check(&[s]), ServiceError::Protocol { .. }));
        let mut s = ok.clone();
        s.vip = Ipv4Addr::UNSPECIFIED;
        assert!(matches!(check(&[s]), ServiceError::Vip { .. }));
        let mut s = ok.clone();
        s.reals.push(real(11, 5));
        assert!(matches!(check(&[s]), ServiceError::DuplicateReal { .. }));
        // Port 0 on a port-80 service is port 80.
        let mut s = ok.clone();
        let mut r = real(11, 5);
        r.port = 80;
        s.reals.push(r);
        assert!(matches!(check(&[s]), ServiceError::DuplicateReal { .. }));
        let mut s = ok.clone();
        s.reals[0].addr = Ipv4Addr::BROADCAST;
        assert!(matches!(check(&[s]), ServiceError::RealAddr { .. }));
        // DR cannot remap ports; NAT can.
        let mut s = ok.clone();
        s.reals[0].port = 8080;
        assert!(ServiceTable::build(&[s.clone()]).is_ok());
        s.reals[0].forward = Some(ForwardMode::Dr);
        let e = check(&[s]);
        assert!(matches!(e, ServiceError::PortRemap { .. }), "{e}");
        let mut s = ok.clone();
        s.persistence = Some(Persistence {
            timeout_ms: 0,
            netmask: u32::MAX,
            scope: PersistScope::AllPorts,
        });
        assert!(matches!(
            check(&[s.clone()]),
            ServiceError::PersistTimeout { .. }
        ));
        s.persistence = Some(Persistence {
            timeout_ms: 1000,
            netmask: 0xff00_ff00,
            scope: PersistScope::AllPorts,
        });
        let e = check(&[s]);
        assert!(e.to_string().contains("255.0.255.0"), "{e}");
        let mut s = ok.clone();
        s.sched = SchedKind::Mh;
        s.sched_params = Some(SchedParams { mh_table_size: 100 });
        let e = check(&[s]);
        assert!(matches!(e, ServiceError::Sched { .. }), "{e}");
    }

    #[test]
    fn masks() {
        assert_eq!(Persistence::mask_from_prefix(24), Some(0xffff_ff00));
        assert_eq!(Persistence::mask_from_prefix(32), Some(u32::MAX));
        assert_eq!(Persistence::mask_from_prefix(0), Some(0));
        assert_eq!(Persistence::mask_from_prefix(33), None);
        assert!(Persistence::mask_is_contiguous(0));
        assert!(Persistence::mask_is_contiguous(0xffff_fffe));
        assert!(!Persistence::mask_is_contiguous(0x7fff_ffff));
    }

    #[test]
    fn ids_are_stable_across_rebuilds_and_never_reused() {
        let a = spec("a", 1, 80, SchedKind::Rr);
        let b = spec("b", 2, 80, SchedKind::Rr);
        let t1 = ServiceTable::build(&[a.clone(), b.clone()]).unwrap();
        let ids = |t: &ServiceTable, i: usize| -> Vec<RealId> {
            t.get(i).unwrap().reals.iter().map(|r| r.id).collect()
        };
        assert_eq!(ids(&t1, 0), [0, 1]);
        assert_eq!(ids(&t1, 1), [2, 3]);
        // Drop a, reorder b's reals and add one: b keeps its ids, the new real gets a new one.
        let mut b2 = b.clone();
        b2.reals.reverse();
        b2.reals.push(real(13, 1));
        let t2 = t1.rebuild(&[b2]).unwrap();
        assert_eq!(t2.get(0).unwrap().id, t1.get(1).unwrap().id);
        assert_eq!(ids(&t2, 0), [3, 2, 4]);
        assert_eq!(t2.real_id_bound(), 5);
        assert!(t2.real(0).is_none(), "a's reals are gone");
        let (si, r) = t2.real(4).unwrap();
        assert_eq!((si, r.addr), (0, Ipv4Addr::new(198, 19, 0, 13)));
        assert_eq!(t2.get(0).unwrap().real_index(2), Some(1));
        assert_eq!(t2.get(0).unwrap().real_index(0), None);
        // a comes back: same ids as before.
        let t3 = t2.rebuild(&[a, b]).unwrap();
        assert_eq!(ids(&t3, 0), [0, 1]);
        assert_eq!(t3.get(0).unwrap().id, t1.get(0).unwrap().id);
    }

    #[test]
    fn refused_rebuild_leaves_table_usable() {
        let t = ServiceTable::build(&[spec("a", 1, 80, SchedKind::Rr)]).unwrap();
        let mut bad = spec("b", 2, 80, SchedKind::Rr);
        bad.reals.push(real(11, 1));
        assert!(t.rebuild(&[bad]).is_err());
        assert_eq!(t.lookup(Protocol::Tcp, vip(1), 80).unwrap().name, "a");
    }

    #[test]
    fn mh_table_reused_when_only_health_changes() {
        let mut s = spec("m", 1, 80, SchedKind::Mh);
        s.sched_params = Some(SchedParams { mh_table_size: 251 });
        let t1 = ServiceTable::build(&[s.clone()]).unwrap();
        let table = |t: &ServiceTable| match &t.get(0).unwrap().scheduler {
            Scheduler::Mh(m) => m.table().clone(),
            other => panic!("not mh: {other:?}"),
        };
        s.reals[0].available = false;
        let t2 = t1.rebuild(&[s.clone()]).unwrap();
        assert!(std::sync::Arc::ptr_eq(&table(&t1), &table(&t2)));
        s.reals[0].weight = 3;
        let t3 = t2.rebuild(&[s]).unwrap();
        assert!(!std::sync::Arc::ptr_eq(&table(&t2), &table(&t3)));
    }

    #[test]
    fn workers_get_their_own_scheduler_state() {
        let mut s = spec("r", 1, 80, SchedKind::Rr);
        s.reals = vec![real(11, 1), real(12, 1), real(13, 1)];
        let t = ServiceTable::build(&[s]).unwrap();
        let svc = t.get(0).unwrap();
        let (mut w1, mut w2) = (svc.new_scheduler(), svc.new_scheduler());
        let f = FlowKey {
            proto: Protocol::Tcp,
            src: Ipv4Addr::new(203, 0, 113, 1),
            dst: vip(1),
            sport: 1000,
            dport: 80,
        };
        let l: [RealLoad; 0] = [];
        assert_eq!(w1.pick(&svc.reals, &l, &f), Some(0));
        assert_eq!(w1.pick(&svc.reals, &l, &f), Some(1));
        assert_eq!(w2.pick(&svc.reals, &l, &f), Some(0));
    }

    #[test]
    fn real_helpers() {
        let mut s = spec("r", 1, 0, SchedKind::Rr);
        s.forward = ForwardMode::Dr;
        s.reals[1].forward = Some(ForwardMode::Tun);
        let t = ServiceTable::build(&[s]).unwrap();
        let svc = t.get(0).unwrap();
        assert_eq!(svc.forward_mode_of(0), ForwardMode::Dr);
        assert_eq!(svc.forward_mode_of(1), ForwardMode::Tun);
        assert_eq!(svc.reals[0].dst_port(8443), 8443);
        let r = RealServer {
            port: 8080,
            ..svc.reals[0].clone()
        };
        assert_eq!(r.dst_port(80), 8080);
        assert!(r.is_candidate());
        assert!(!RealServer { weight: 0, ..r }.is_candidate());
    }
}
