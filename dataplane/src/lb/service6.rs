//! The virtual services that involve IPv6 (issue 11), beside the IPv4 [`ServiceTable`] and
//! without touching it: a table per VIP family `V` whose reals may be of either family.
//!
//! - `ServiceTable6<Ipv6Addr>`: IPv6 VIPs, over IPv6 reals (NAT66, DR, TUN) or IPv4 reals
//!   (NAT64);
//! - `ServiceTable6<Ipv4Addr>`: IPv4 VIPs over IPv6 reals (IPv4-in-IPv6 TUN), which the IPv4
//!   table cannot hold (its reals are `Ipv4Addr`, so the IPv4 path keeps its types and speed).
//!
//! A real's address is an [`IpAddr`] here: the IPv6 path reads it once per new connection, so
//! the match costs nothing that matters, and NAT64 needs IPv4 reals behind an IPv6 VIP.
//!
//! Scheduling reuses the IPv4 schedulers unchanged over a folded view: each real gets a 32-bit
//! stand-in address ([`fold`]: the xor of the address's four words; an IPv4 real keeps its own),
//! and a flow's addresses are folded the same way, so sh/dh/mh keep their stickiness per
//! address and rr/wrr/lc/wlc/sed/nq, which never read addresses, are exactly themselves. Two
//! addresses folding alike only share a hash bucket; they never merge reals (reals are kept by
//! index, not by address).
//!
//! Ids are stable across rebuilds as in the IPv4 table (same key: same service id; same
//! (key, address, port): same real id), in a space of their own: a v6 engine keeps its own
//! per-real loads array sized by [`ServiceTable6::real_id_bound`].
//!
//! [`ServiceTable`]: super::service::ServiceTable

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use super::family::Family;
use super::sched::{Pick, SchedError, SchedKind, SchedParams, Scheduler};
use super::service::{RealServer, ServiceId};
use super::service_index::{ServiceIndex, ServiceKey};
use super::types::{FlowKey, ForwardMode, Protocol, RealId, RealLoad};

/// The 32-bit stand-in of an address for the schedulers (see the module doc).
#[inline]
pub fn fold(a: IpAddr) -> Ipv4Addr {
    match a {
        IpAddr::V4(a) => a,
        IpAddr::V6(a) => {
            let b = u128::from(a);
            Ipv4Addr::from((b >> 96) as u32 ^ (b >> 64) as u32 ^ (b >> 32) as u32 ^ b as u32)
        }
    }
}

/// A real of an IPv6-involving service as configured (`available`: health checks pass).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealSpec6 {
    pub addr: IpAddr,
    pub port: u16,
    pub weight: u32,
    pub forward: Option<ForwardMode>,
    pub available: bool,
}

/// An IPv6-involving service as configured; `persistence_ms`: LVS persistence per client
/// address, its timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec6<V> {
    pub name: String,
    pub proto: Protocol,
    pub vip: V,
    pub port: u16,
    pub sched: SchedKind,
    pub forward: ForwardMode,
    pub persistence_ms: Option<u64>,
    pub reals: Vec<RealSpec6>,
}

/// A real as the workers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealServer6 {
    pub id: RealId,
    pub addr: IpAddr,
    /// Destination port on the real; 0 keeps the client's destination port.
    pub port: u16,
    pub weight: u32,
    pub forward: Option<ForwardMode>,
    pub available: bool,
}

impl RealServer6 {
    /// May this real receive a new connection (available and not quiesced)?
    #[inline]
    pub fn is_candidate(&self) -> bool {
        self.available && self.weight > 0
    }
    /// The forwarding mode of this real within a service whose default is `service`.
    #[inline]
    pub fn forward_mode(&self, service: ForwardMode) -> ForwardMode {
        self.forward.unwrap_or(service)
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
}

/// A service in a published table.
#[derive(Clone, Debug)]
pub struct Service6<V: Family> {
    pub id: ServiceId,
    pub name: String,
    pub key: ServiceKey<V>,
    pub sched: SchedKind,
    pub forward: ForwardMode,
    pub persistence_ms: Option<u64>,
    /// In configuration order.
    pub reals: Vec<RealServer6>,
    /// The same reals with folded addresses: what the schedulers read ([`Service6::pick`]).
    folded: Vec<RealServer>,
    scheduler: Scheduler,
}

impl<V: Family> Service6<V> {
    /// A scheduler for one worker (clones an `Arc` for table-driven kinds: call it when
    /// adopting a snapshot, not per packet).
    pub fn new_scheduler(&self) -> Scheduler {
        self.scheduler.clone()
    }

    /// The index in `reals` of the real a new connection `flow` goes to, by `sched` (one of
    /// this service's [`Service6::new_scheduler`]) and the worker's `loads` (by real id).
    #[inline]
    pub fn pick(
        &self,
        sched: &mut Scheduler,
        loads: &[RealLoad],
        flow: &FlowKey<V>,
    ) -> Option<usize> {
        let folded = FlowKey {
            proto: flow.proto,
            src: fold(flow.src.into()),
            dst: fold(flow.dst.into()),
            sport: flow.sport,
            dport: flow.dport,
        };
        sched.pick(&self.folded, loads, &folded)
    }

    /// The forwarding mode of `reals[index]`.
    pub fn forward_mode_of(&self, index: usize) -> ForwardMode {
        self.reals
            .get(index)
            .map_or(self.forward, |r| r.forward_mode(self.forward))
    }
}

/// Why a set of specs was refused (validation refuses the same first, with the config key).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError6 {
    #[error("two services are named {0:?}")]
    DuplicateName(String),
    #[error("services {first:?} and {second:?} have the same key {key}")]
    DuplicateKey {
        first: String,
        second: String,
        key: String,
    },
    #[error("service {service:?}: real {addr} port {port} is listed twice")]
    DuplicateReal {
        service: String,
        addr: IpAddr,
        port: u16,
    },
    #[error("service {service:?}: protocol must be tcp or udp")]
    Protocol { service: String },
    #[error("service {service:?}: {source}")]
    Sched {
        service: String,
        #[source]
        source: SchedError,
    },
}

#[derive(Clone, Debug)]
struct IdRegistry<V: Family> {
    services: HashMap<ServiceKey<V>, ServiceId>,
    reals: HashMap<(ServiceKey<V>, IpAddr, u16), RealId>,
}

impl<V: Family> Default for IdRegistry<V> {
    fn default() -> Self {
        IdRegistry {
            services: HashMap::new(),
            reals: HashMap::new(),
        }
    }
}

impl<V: Family> IdRegistry<V> {
    fn service(&mut self, key: ServiceKey<V>) -> ServiceId {
        let next = self.services.len() as ServiceId;
        *self.services.entry(key).or_insert(next)
    }
    fn real(&mut self, key: ServiceKey<V>, addr: IpAddr, port: u16) -> RealId {
        let next = self.reals.len() as RealId;
        *self.reals.entry((key, addr, port)).or_insert(next)
    }
}

/// The services of VIP family `V` that involve IPv6; immutable once built.
#[derive(Clone, Debug)]
pub struct ServiceTable6<V: Family> {
    services: Vec<Service6<V>>,
    by_key: ServiceIndex<V>,
    ids: IdRegistry<V>,
}

impl<V: Family> Default for ServiceTable6<V> {
    fn default() -> Self {
        ServiceTable6 {
            services: Vec::new(),
            by_key: ServiceIndex::empty(),
            ids: IdRegistry::default(),
        }
    }
}

impl<V: Family> ServiceTable6<V> {
    /// Builds the next table, keeping the ids `self` handed out; `self` is left as it was.
    pub fn rebuild(&self, specs: &[ServiceSpec6<V>]) -> Result<ServiceTable6<V>, ServiceError6> {
        let mut ids = self.ids.clone();
        let mut services: Vec<Service6<V>> = Vec::with_capacity(specs.len());
        let mut by_key = ServiceIndex::empty();
        // Sets, not scans: a config may hold tens of thousands of services.
        let mut names: HashSet<&str> = HashSet::with_capacity(specs.len());
        for spec in specs {
            let service = spec.name.clone();
            if !names.insert(&spec.name) {
                return Err(ServiceError6::DuplicateName(service));
            }
            if spec.proto == Protocol::Icmp {
                return Err(ServiceError6::Protocol { service });
            }
            let key = ServiceKey {
                proto: spec.proto,
                vip: spec.vip,
                port: spec.port,
            };
            if let Err(other) = by_key.insert(key, services.len() as u32) {
                return Err(ServiceError6::DuplicateKey {
                    first: services[other as usize].name.clone(),
                    second: service,
                    key: key.to_string(),
                });
            }
            let mut reals: Vec<RealServer6> = Vec::with_capacity(spec.reals.len());
            let mut seen: HashSet<(IpAddr, u16)> = HashSet::with_capacity(spec.reals.len());
            for r in &spec.reals {
                // Port 0 is the client's port, which on a fixed-port service is the service's.
                let effective = if r.port == 0 { spec.port } else { r.port };
                if !seen.insert((r.addr, effective)) {
                    return Err(ServiceError6::DuplicateReal {
                        service,
                        addr: r.addr,
                        port: r.port,
                    });
                }
                reals.push(RealServer6 {
                    id: ids.real(key, r.addr, r.port),
                    addr: r.addr,
                    port: r.port,
                    weight: r.weight,
                    forward: r.forward,
                    available: r.available,
                });
            }
            let folded = folded_reals(&reals);
            let scheduler = Scheduler::build(spec.sched, &folded, &SchedParams::default())
                .map_err(|source| ServiceError6::Sched {
                    service: service.clone(),
                    source,
                })?;
            services.push(Service6 {
                id: ids.service(key),
                name: service,
                key,
                sched: spec.sched,
                forward: spec.forward,
                persistence_ms: spec.persistence_ms,
                reals,
                folded,
                scheduler,
            });
        }
        Ok(ServiceTable6 {
            services,
            by_key,
            ids,
        })
    }

    /// The index of the service for a packet to `vip:port`: the exact port, else the VIP's
    /// port-0 service.
    #[inline]
    pub fn lookup_index(&self, proto: Protocol, vip: V, port: u16) -> Option<usize> {
        self.by_key.lookup(proto, vip, port)
    }

    /// The service for a packet to `vip:port` (see [`ServiceTable6::lookup_index`]).
    #[inline]
    pub fn lookup(&self, proto: Protocol, vip: V, port: u16) -> Option<&Service6<V>> {
        self.lookup_index(proto, vip, port)
            .and_then(|i| self.services.get(i))
    }

    /// Is `addr` the VIP of any service here?
    #[inline]
    pub fn is_vip(&self, addr: V) -> bool {
        self.by_key.is_vip(addr)
    }

    #[inline]
    pub fn get(&self, index: usize) -> Option<&Service6<V>> {
        self.services.get(index)
    }

    /// Every service, in configuration order.
    pub fn services(&self) -> &[Service6<V>] {
        &self.services
    }

    /// One more than the largest real id handed out so far.
    pub fn real_id_bound(&self) -> usize {
        self.ids.reals.len()
    }

    /// Sets each real's health from `available(service name, address, port)` (the management
    /// thread, on a snapshot not yet published; schedulers read health at pick time).
    pub fn set_available(&mut self, available: &dyn Fn(&str, IpAddr, u16) -> bool) {
        for s in &mut self.services {
            for (r, f) in s.reals.iter_mut().zip(s.folded.iter_mut()) {
                r.available = available(&s.name, r.addr, r.port);
                f.available = r.available;
            }
        }
    }
}

/// The reals as the schedulers see them: the same ids, ports and weights, folded addresses.
fn folded_reals(reals: &[RealServer6]) -> Vec<RealServer> {
    reals
        .iter()
        .map(|r| RealServer {
            id: r.id,
            addr: fold(r.addr),
            port: r.port,
            weight: r.weight,
            forward: r.forward,
            available: r.available,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn real(addr: &str, weight: u32) -> RealSpec6 {
        RealSpec6 {
            addr: addr.parse().unwrap(),
            port: 0,
            weight,
            forward: None,
            available: true,
        }
    }

    fn spec(name: &str, vip: &str, port: u16, sched: SchedKind) -> ServiceSpec6<Ipv6Addr> {
        ServiceSpec6 {
            name: name.into(),
            proto: Protocol::Tcp,
            vip: v6(vip),
            port,
            sched,
            forward: ForwardMode::Nat,
            persistence_ms: None,
            reals: vec![real("2001:db8:1::11", 1), real("2001:db8:1::12", 2)],
        }
    }

    #[test]
    fn lookups_by_exact_port_then_port_zero() {
        let t = ServiceTable6::default()
            .rebuild(&[
                spec("web6", "2001:db8::100", 80, SchedKind::Wlc),
                spec("any6", "2001:db8::100", 0, SchedKind::Rr),
            ])
            .unwrap();
        let vip = v6("2001:db8::100");
        assert_eq!(t.lookup(Protocol::Tcp, vip, 80).unwrap().name, "web6");
        assert_eq!(t.lookup(Protocol::Tcp, vip, 443).unwrap().name, "any6");
        assert!(t.lookup(Protocol::Udp, vip, 80).is_none());
        assert!(t.lookup(Protocol::Tcp, v6("2001:db8::101"), 80).is_none());
        assert!(t.is_vip(vip));
        assert!(!t.is_vip(v6("2001:db8::1")));
        assert_eq!(t.real_id_bound(), 4);
    }

    #[test]
    fn refusals_name_the_service() {
        let ok = spec("web6", "2001:db8::100", 80, SchedKind::Wlc);
        let base = ServiceTable6::default();
        let mut other = ok.clone();
        other.name = "again".into();
        assert_eq!(
            base.rebuild(&[ok.clone(), other]).unwrap_err().to_string(),
            "services \"web6\" and \"again\" have the same key tcp [2001:db8::100]:80"
        );
        assert_eq!(
            base.rebuild(&[ok.clone(), ok.clone()]).unwrap_err(),
            ServiceError6::DuplicateName("web6".into())
        );
        let mut dup = ok.clone();
        dup.reals.push(RealSpec6 {
            port: 80,
            ..real("2001:db8:1::11", 1)
        });
        assert_eq!(
            base.rebuild(&[dup]).unwrap_err(),
            ServiceError6::DuplicateReal {
                service: "web6".into(),
                addr: "2001:db8:1::11".parse().unwrap(),
                port: 80
            }
        );
    }

    #[test]
    fn ids_stay_across_rebuilds() {
        let a = spec("a", "2001:db8::100", 80, SchedKind::Rr);
        let b = spec("b", "2001:db8::101", 80, SchedKind::Rr);
        let t1 = ServiceTable6::default()
            .rebuild(&[a.clone(), b.clone()])
            .unwrap();
        let t2 = t1.rebuild(&[b]).unwrap();
        let ids = |t: &ServiceTable6<Ipv6Addr>, i: usize| -> Vec<RealId> {
            t.get(i).unwrap().reals.iter().map(|r| r.id).collect()
        };
        assert_eq!(ids(&t1, 1), [2, 3]);
        assert_eq!(ids(&t2, 0), [2, 3]);
        assert_eq!(t2.get(0).unwrap().id, t1.get(1).unwrap().id);
        let t3 = t2.rebuild(&[a]).unwrap();
        assert_eq!(ids(&t3, 0), [0, 1]);
    }

    #[test]
    fn picks_by_weight_and_health_and_sticks_by_source() {
        let mut t = ServiceTable6::default()
            .rebuild(&[spec("web6", "2001:db8::100", 80, SchedKind::Wrr)])
            .unwrap();
        let flow = FlowKey {
            proto: Protocol::Tcp,
            src: v6("2001:db8::2"),
            dst: v6("2001:db8::100"),
            sport: 40000,
            dport: 80,
        };
        let svc = t.get(0).unwrap();
        let mut s = svc.new_scheduler();
        let picks: Vec<usize> = (0..6)
            .map(|_| svc.pick(&mut s, &[], &flow).unwrap())
            .collect();
        assert_eq!(picks.iter().filter(|&&i| i == 1).count(), 4, "{picks:?}");
        t.set_available(&|_, a, _| a != "2001:db8:1::12".parse::<IpAddr>().unwrap());
        let svc = t.get(0).unwrap();
        assert!(!svc.reals[1].available);
        let mut s = svc.new_scheduler();
        for _ in 0..4 {
            assert_eq!(svc.pick(&mut s, &[], &flow), Some(0));
        }
        // Source hashing: one client, one real, whatever its port.
        let sh = ServiceTable6::default()
            .rebuild(&[spec("sh6", "2001:db8::100", 80, SchedKind::Sh)])
            .unwrap();
        let svc = sh.get(0).unwrap();
        let mut s = svc.new_scheduler();
        let first = svc.pick(&mut s, &[], &flow);
        for p in 1..50 {
            let f = FlowKey { sport: p, ..flow };
            assert_eq!(svc.pick(&mut s, &[], &f), first);
        }
    }

    #[test]
    fn nat64_and_tun46_tables() {
        let mut s = spec("nat64", "2001:db8::100", 80, SchedKind::Rr);
        s.reals = vec![real("198.19.0.11", 1)];
        let t = ServiceTable6::default().rebuild(&[s]).unwrap();
        let r = &t.get(0).unwrap().reals[0];
        assert_eq!(r.addr, "198.19.0.11".parse::<IpAddr>().unwrap());
        assert_eq!(fold(r.addr), Ipv4Addr::new(198, 19, 0, 11));
        let t46 = ServiceTable6::<Ipv4Addr>::default()
            .rebuild(&[ServiceSpec6 {
                name: "tun46".into(),
                proto: Protocol::Udp,
                vip: Ipv4Addr::new(198, 18, 0, 101),
                port: 53,
                sched: SchedKind::Rr,
                forward: ForwardMode::Tun,
                persistence_ms: None,
                reals: vec![real("2001:db8:1::11", 1)],
            }])
            .unwrap();
        let svc = t46
            .lookup(Protocol::Udp, Ipv4Addr::new(198, 18, 0, 101), 53)
            .unwrap();
        assert_eq!(svc.forward_mode_of(0), ForwardMode::Tun);
        assert_eq!(
            fold("2001:db8:1::11".parse().unwrap()),
            Ipv4Addr::from(0x2001_0db8u32 ^ 0x0001_0000 ^ 0x11)
        );
    }
}
