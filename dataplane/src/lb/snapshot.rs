//! The control-plane state the workers read, as one immutable value: ports, routes, neighbours,
//! services with their reals, and the owner rule for NAT replies. The management thread builds a
//! new snapshot for every change and publishes it atomically (RCU style); a worker loads the
//! current one once per burst and never sees a half-applied change.

use super::family::Family;
use super::ha::HaView;
use super::neigh::{MacBytes, NeighTable};
use super::route::{PortIdx, RouteTable};
use super::sched::{Mh, Scheduler};
use super::service::{Persistence, RealSpec, ServiceSpec, ServiceTable};
use super::syncookie::CookieSecrets;
use super::types::{ForwardMode, Protocol};
use super::word_hash::WordMap;
use crate::config::{self, Config};
use crate::config::{Defence, SynProxyMode};
use crate::tunables::SYN_STATELESS_MH_SIZE;
use crossbeam::queue::ArrayQueue;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

/// What the workers need to know about a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    pub name: String,
    /// DPDK port id.
    pub dpdk_id: u16,
    pub mac: MacBytes,
    /// The appliance's address on the port and its prefix length.
    pub ip: Option<(Ipv4Addr, u8)>,
    /// Largest IP packet the port sends (1500 unless the device says otherwise).
    pub mtu: u16,
    /// Has a kernel interface for the exception path.
    pub exception: bool,
}

pub struct Snapshot {
    /// Increases with every published snapshot; workers compare it to see a change.
    pub generation: u64,
    /// Increases only when services or reals change, so a neighbour-only update keeps the
    /// workers' scheduler state (rr positions).
    pub services_generation: u64,
    pub ports: Vec<PortInfo>,
    pub routes: RouteTable,
    pub neigh: NeighTable,
    pub services: ServiceTable,
    /// Per service (same order): which new connections it takes (`lb/admission.rs`).
    pub admission: super::admission::AdmissionTable,
    /// The appliance's own addresses and their ports.
    pub own: Vec<(Ipv4Addr, PortIdx)>,
    /// NAT real endpoints (protocol, address, port; port 0 for reals that keep the client's
    /// port) -> the persistence netmask of their service, so a reply's owner worker is computed
    /// the way its request's was (`None`: not persistent).
    /// NAT reals by (protocol, address, port) folded into one word (`reply_key`): the owner
    /// rule of their replies (`reply_mask`).
    pub reply_owner: WordMap<u64, Option<u32>>,
    pub n_workers: usize,
    /// One scheduler set per worker (a scheduler per service, in service order), built here on
    /// the management thread so that a worker adopting a new services generation takes its
    /// set without allocating ([`Snapshot::take_schedulers`]). A set not yet taken moves on to
    /// the next snapshot of the same services generation.
    pub scheds: Vec<ArrayQueue<Vec<Scheduler>>>,
    /// Per service (in `services` order): its SYN-flood defence.
    pub syn_policies: Vec<SynPolicy>,
    /// Per service: `sloppy_tcp` (a non-SYN packet of no connection opens one:
    /// worker/engine/sloppy.rs).
    pub sloppy: Vec<bool>,
    /// Reply-side sloppy TCP: the service a real's SYN-ACK of no connection opens a connection
    /// of (lb/sloppy_synack.rs).
    pub sloppy_synack: super::sloppy_synack::SloppySynAck,
    /// Per service: the Maglev table that picks the real of a stateless SYN (and of the ACK
    /// that then creates the connection) for services whose defence is stateless.
    pub syn_tables: Vec<Option<Mh>>,
    /// The SYN cookie secrets (carried from the previous snapshot; rotated by the management
    /// thread, `ControlState::rotate_cookie_secret`).
    pub cookie_secrets: CookieSecrets,
    /// VIP ownership (VRRP): the management thread sets `ha.active` before publishing.
    pub ha: HaView,
    /// The IPv6 part: ports' IPv6 addresses, IPv6 routes and neighbours, and the services that
    /// involve IPv6 (`lb/snapshot6.rs`); the IPv4 fields above hold none of them.
    pub v6: super::snapshot6::Snapshot6,
}

/// A service's SYN-flood defence as the workers apply it (config/syn_proxy.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynPolicy {
    pub defence: Defence,
    pub mode: SynProxyMode,
    /// Half-open connections on the receiving worker above which `Auto` acts.
    pub threshold: u32,
}

impl SynPolicy {
    /// No defence (a service the config does not name, a UDP service).
    pub const NONE: SynPolicy = SynPolicy {
        defence: Defence::None,
        mode: SynProxyMode::Off,
        threshold: u32::MAX,
    };

    /// Whether the defence acts on a worker holding `half_open` half-open connections.
    #[inline]
    pub fn active(&self, half_open: u32) -> bool {
        match self.mode {
            SynProxyMode::Off => false,
            SynProxyMode::Always => self.defence != Defence::None,
            SynProxyMode::Auto => self.defence != Defence::None && half_open > self.threshold,
        }
    }
}

/// The SYN policies of `services`, from the services of `cfg` with the same names.
fn syn_policies(cfg: &Config, services: &ServiceTable) -> Vec<SynPolicy> {
    // By name through a map: a search per service was quadratic (5 s for 50 000 services).
    let by_name: HashMap<&str, &config::Service> =
        cfg.services.iter().map(|s| (s.name.as_str(), s)).collect();
    services
        .services()
        .iter()
        .map(|svc| {
            by_name
                .get(svc.name.as_str())
                .map_or(SynPolicy::NONE, |s| SynPolicy {
                    defence: config::syn_defence(cfg, s),
                    mode: s.syn_proxy.mode,
                    threshold: s.syn_proxy.threshold(cfg.conn.max_per_core),
                })
        })
        .collect()
}

/// Per service of `services`: its config's `sloppy_tcp`.
fn sloppy_services(cfg: &Config, services: &ServiceTable) -> Vec<bool> {
    let sloppy: std::collections::HashSet<&str> = cfg
        .services
        .iter()
        .filter(|s| s.sloppy_tcp)
        .map(|s| s.name.as_str())
        .collect();
    services
        .services()
        .iter()
        .map(|svc| sloppy.contains(svc.name.as_str()))
        .collect()
}

fn proto(p: config::Protocol) -> Protocol {
    match p {
        config::Protocol::Tcp => Protocol::Tcp,
        config::Protocol::Udp => Protocol::Udp,
    }
}

/// The engine's service specs for the config's IPv4 services (the IPv6-involving ones are
/// `snapshot6`'s); `available` says, per (service name, real address, port), whether health
/// checks let a real take new connections.
pub fn service_specs(
    cfg: &Config,
    available: &dyn Fn(&str, IpAddr, u16) -> bool,
) -> Vec<ServiceSpec> {
    cfg.services
        .iter()
        .filter_map(|s| match s.vip {
            IpAddr::V4(vip) if !super::snapshot6::involves_v6(s) => Some((s, vip)),
            _ => None,
        })
        .map(|(s, vip)| ServiceSpec {
            name: s.name.clone(),
            proto: proto(s.protocol),
            vip,
            port: s.port,
            sched: s.scheduler,
            forward: s.forward,
            persistence: s.persistence.as_ref().map(|p| Persistence {
                timeout_ms: p.timeout.millis(),
                netmask: u32::from(p.netmask),
                scope: Default::default(),
            }),
            sched_params: None,
            reals: s
                .reals
                .iter()
                .filter_map(|r| match r.ip {
                    IpAddr::V4(a) => Some((r, a)),
                    IpAddr::V6(_) => None,
                })
                .map(|(r, addr)| {
                    let port = r.port.unwrap_or(s.port);
                    // A real at one of our own addresses is the local node.
                    let forward = match cfg.local_port(r.ip) {
                        Some(_) => Some(ForwardMode::Local),
                        None => r.forward,
                    };
                    RealSpec {
                        addr,
                        port,
                        weight: r.weight,
                        forward,
                        available: available(&s.name, r.ip, port),
                    }
                })
                .collect(),
        })
        .collect()
}

impl Snapshot {
    /// Builds a snapshot. `prev` keeps service and real ids stable across changes, so that
    /// connections (which store real ids) survive a reload.
    pub fn build(
        generation: u64,
        cfg: &Config,
        ports: Vec<PortInfo>,
        neigh: NeighTable,
        specs: &[ServiceSpec],
        prev: Option<&Snapshot>,
        n_workers: usize,
    ) -> Result<Snapshot, String> {
        let services_generation = match prev {
            Some(p)
                if p.services.services().len() == specs.len() && same_specs(&p.services, specs) =>
            {
                p.services_generation
            }
            Some(p) => p.services_generation + 1,
            None => 1,
        };
        let connected: Vec<(PortIdx, Ipv4Addr, u8)> = ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.ip.map(|(a, l)| (i as PortIdx, a, l)))
            .collect();
        let statics: Vec<(Ipv4Addr, u8, Ipv4Addr)> = cfg
            .routes
            .iter()
            .filter_map(|r| match (r.prefix, r.via) {
                (config::IpNet::V4(p), IpAddr::V4(via)) => Some((p.addr, p.len, via)),
                _ => None,
            })
            .collect();
        let routes = RouteTable::build(&connected, &statics)?;
        let services = match prev {
            Some(p) => p.services.rebuild(specs),
            None => ServiceTable::build(specs),
        }
        .map_err(|e| e.to_string())?;
        let mut reply_owner = WordMap::default();
        for svc in services.services() {
            let mask = svc.persistence.map(|p| p.netmask);
            for r in &svc.reals {
                if r.forward_mode(svc.forward).is_nat() {
                    reply_owner.insert(reply_key(svc.key.proto, r.addr, r.port), mask);
                }
            }
        }
        let own = connected.iter().map(|&(i, a, _)| (a, i)).collect();
        let scheds: Vec<ArrayQueue<Vec<Scheduler>>> =
            (0..n_workers).map(|_| ArrayQueue::new(1)).collect();
        match prev {
            Some(p) if p.services_generation == services_generation => {
                for (slot, old) in scheds.iter().zip(&p.scheds) {
                    if let Some(set) = old.pop() {
                        let _ = slot.push(set);
                    }
                }
            }
            _ => {
                for slot in &scheds {
                    let set = services.services().iter().map(|s| s.new_scheduler());
                    let _ = slot.push(set.collect());
                }
            }
        }
        let syn_policies = syn_policies(cfg, &services);
        let sloppy = sloppy_services(cfg, &services);
        let sloppy_synack =
            super::sloppy_synack::SloppySynAck::build(&services, &sloppy, &syn_policies);
        let syn_tables = services
            .services()
            .iter()
            .zip(&syn_policies)
            .map(|(svc, p)| match p.defence {
                Defence::Stateless => Mh::new(&svc.reals, SYN_STATELESS_MH_SIZE).ok(),
                _ => None,
            })
            .collect();
        let cookie_secrets = prev.map_or_else(CookieSecrets::random, |p| p.cookie_secrets);
        let v6 = super::snapshot6::Snapshot6::build_for(cfg, prev.map(|p| &p.v6), n_workers)?;
        Ok(Snapshot {
            v6,
            syn_policies,
            sloppy,
            sloppy_synack,
            syn_tables,
            cookie_secrets,
            generation,
            services_generation,
            ports,
            routes,
            neigh,
            services,
            admission: super::admission::AdmissionTable::build(&cfg.services),
            own,
            reply_owner,
            n_workers,
            scheds,
            ha: HaView::from_config(cfg, prev.is_none_or(|p| p.ha.active)),
        })
    }

    /// Worker `w`'s scheduler set for this services generation, if no one took it yet (no
    /// allocation: the set was built with the snapshot).
    #[inline]
    pub fn take_schedulers(&self, w: usize) -> Option<Vec<Scheduler>> {
        self.scheds.get(w)?.pop()
    }

    /// The port whose address `ip` is, if it is one of ours.
    #[inline]
    pub fn own_port(&self, ip: Ipv4Addr) -> Option<PortIdx> {
        self.own.iter().find(|(a, _)| *a == ip).map(|&(_, p)| p)
    }

    /// Is `addr:port` (protocol `proto`) a local real of some service: the kernel's output from
    /// it is a reply to be rewritten back to its VIP (a port-0 service's local real: any port).
    #[inline]
    pub fn is_local_real(&self, proto: Protocol, addr: Ipv4Addr, port: u16) -> bool {
        self.own_port(addr).is_some()
            && (self.reply_owner.contains_key(&reply_key(proto, addr, port))
                || self.reply_owner.contains_key(&reply_key(proto, addr, 0)))
    }

    /// The owner rule of a NAT reply from `real:rport`: Some(mask) for a persistent service,
    /// None otherwise (also when the real is unknown).
    #[inline]
    pub fn reply_mask(&self, proto: Protocol, real: Ipv4Addr, rport: u16) -> Option<u32> {
        self.reply_owner
            .get(&reply_key(proto, real, rport))
            .or_else(|| self.reply_owner.get(&reply_key(proto, real, 0)))
            .copied()
            .flatten()
    }
}

/// `reply_owner`'s key: the services' word fold of (protocol, address, port).
#[inline]
fn reply_key(proto: Protocol, addr: Ipv4Addr, port: u16) -> u64 {
    Ipv4Addr::service_word(proto as u8, addr, port)
}

/// Do the published services say exactly what `specs` say (keys, schedulers, modes,
/// persistence, reals with their weights and health)?
fn same_specs(table: &ServiceTable, specs: &[ServiceSpec]) -> bool {
    if table.services().len() != specs.len() {
        return false;
    }
    let by_name: HashMap<&str, &super::service::Service> = table
        .services()
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    specs.iter().all(|p| {
        let Some(s) = by_name.get(p.name.as_str()) else {
            return false;
        };
        s.key.proto == p.proto
            && s.key.vip == p.vip
            && s.key.port == p.port
            && s.sched == p.sched
            && s.forward == p.forward
            && s.persistence == p.persistence
            && s.reals.len() == p.reals.len()
            && s.reals.iter().zip(&p.reals).all(|(r, q)| {
                r.addr == q.addr
                    && r.port == q.port
                    && r.weight == q.weight
                    && r.forward == q.forward
                    && r.available == q.available
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        crate::config::load_str(include_str!("../../../configs/nat.yaml")).expect("nat.yaml")
    }

    fn ports() -> Vec<PortInfo> {
        vec![
            PortInfo {
                name: "ext".into(),
                dpdk_id: 0,
                mac: [2, 0, 0, 0, 1, 1],
                ip: Some(("198.18.0.1".parse().unwrap(), 24)),
                mtu: 1500,
                exception: false,
            },
            PortInfo {
                name: "int".into(),
                dpdk_id: 1,
                mac: [2, 0, 0, 0, 2, 1],
                ip: Some(("198.19.0.1".parse().unwrap(), 24)),
                mtu: 1500,
                exception: false,
            },
        ]
    }

    #[test]
    fn neighbour_only_change_keeps_services_generation() {
        let c = cfg();
        let specs = service_specs(&c, &|_, _, _| true);
        let a = Snapshot::build(1, &c, ports(), NeighTable::default(), &specs, None, 1).unwrap();
        let n = NeighTable::from_entries([("198.18.0.2".parse().unwrap(), [2, 0, 0, 0, 1, 2])]);
        let b = Snapshot::build(2, &c, ports(), n, &specs, Some(&a), 1).unwrap();
        assert_eq!(a.services_generation, b.services_generation);
        let mut specs2 = specs.clone();
        specs2[0].reals[0].weight = 3;
        let d =
            Snapshot::build(3, &c, ports(), NeighTable::default(), &specs2, Some(&b), 1).unwrap();
        assert_ne!(d.services_generation, b.services_generation);
    }

    #[test]
    fn scheduler_sets_per_worker_move_on_until_taken() {
        let c = cfg();
        let specs = service_specs(&c, &|_, _, _| true);
        let a = Snapshot::build(1, &c, ports(), NeighTable::default(), &specs, None, 2).unwrap();
        let n = specs.len();
        assert_eq!(a.take_schedulers(0).map(|s| s.len()), Some(n));
        assert!(a.take_schedulers(0).is_none(), "one set per worker");
        // A neighbour-only change: worker 1's untaken set moves on, worker 0's is gone.
        let b =
            Snapshot::build(2, &c, ports(), NeighTable::default(), &specs, Some(&a), 2).unwrap();
        assert!(a.take_schedulers(1).is_none());
        assert!(b.take_schedulers(0).is_none());
        assert_eq!(b.take_schedulers(1).map(|s| s.len()), Some(n));
        // A service change: fresh sets for every worker.
        let mut specs2 = specs.clone();
        specs2[0].reals[0].weight = 3;
        let d =
            Snapshot::build(3, &c, ports(), NeighTable::default(), &specs2, Some(&b), 2).unwrap();
        assert!(d.take_schedulers(0).is_some() && d.take_schedulers(1).is_some());
        assert!(d.take_schedulers(2).is_none(), "no such worker");
    }

    #[test]
    fn own_addresses_and_reply_owner() {
        let c = cfg();
        let specs = service_specs(&c, &|_, _, _| true);
        let s = Snapshot::build(1, &c, ports(), NeighTable::default(), &specs, None, 2).unwrap();
        assert_eq!(s.own_port("198.19.0.1".parse().unwrap()), Some(1));
        assert_eq!(s.own_port("198.18.0.100".parse().unwrap()), None);
        assert_eq!(
            s.reply_mask(Protocol::Tcp, "198.19.0.11".parse().unwrap(), 80),
            None
        );
        assert!(s.services.is_vip("198.18.0.100".parse().unwrap()));
    }
}
