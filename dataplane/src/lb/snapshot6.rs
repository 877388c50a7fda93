//! The IPv6 part of a snapshot (issue 11): the ports' IPv6 addresses, the IPv6 routes and
//! neighbours, and the services that involve IPv6, with the lookups an IPv6 engine path calls.
//! It sits beside the IPv4 fields of [`Snapshot`] as one field (`snap.v6`), so the IPv4 path
//! reads exactly what it read before.
//!
//! The lookups a v6 engine path calls, each O(1) or a short scan like the IPv4 ones:
//! - [`Snapshot6::service`]: the service of (protocol, VIP, port), exact port then port 0;
//! - [`Snapshot6::own_port`] / [`Snapshot6::is_vip`]: is a destination the appliance's own
//!   address (then the kernel's, or an echo to answer) or a VIP (to balance, or to answer ND for);
//! - [`Snapshot6::next_hop`]: the route and the neighbour's MAC for a destination (a v6 real
//!   or gateway), `None` MAC when the neighbour is not known yet (resolve it by ND);
//! - [`Snapshot6::service46`]: an IPv4 VIP whose reals are IPv6 (IPv4-in-IPv6 TUN), for the
//!   IPv4 path to try when its own table has no service for the packet.
//!
//! [`Snapshot`]: super::snapshot::Snapshot

use super::neigh::{MacBytes, NeighTable};
use super::route::{Hop, PortIdx, RouteTable};
use super::sched::Scheduler;
use super::service6::{RealSpec6, Service6, ServiceSpec6, ServiceTable6};
use super::types::{ForwardMode, Protocol};
use crate::config::{self, Config};
use crossbeam::queue::ArrayQueue;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Snapshot6 {
    /// IPv6 VIPs (reals IPv6, or IPv4 for NAT64).
    pub services: ServiceTable6<Ipv6Addr>,
    /// IPv4 VIPs over IPv6 reals (TUN).
    pub services46: ServiceTable6<Ipv4Addr>,
    pub routes: RouteTable<Ipv6Addr>,
    /// Static IPv6 neighbours of the config (neighbour discovery adds to them once the engine
    /// handles ND).
    pub neigh: NeighTable<Ipv6Addr>,
    /// The appliance's own IPv6 addresses (ports' `ip6`) and their ports.
    pub own: Vec<(Ipv6Addr, PortIdx)>,
    /// Increases only when the IPv6 services change (keys, schedulers, modes, reals and their
    /// weights; not health, which the schedulers read when they pick), so a neighbour-only
    /// update keeps the workers' IPv6 scheduler state.
    pub services_generation: u64,
    /// One scheduler set per worker for `services` (in their order), built here, off the
    /// workers, as the IPv4 sets are ([`Snapshot6::take_schedulers`]); a set not yet taken
    /// moves on to the next snapshot of the same services generation.
    pub scheds: Arc<Vec<ArrayQueue<Vec<Scheduler>>>>,
}

impl Default for Snapshot6 {
    fn default() -> Self {
        Snapshot6 {
            services: ServiceTable6::default(),
            services46: ServiceTable6::default(),
            routes: RouteTable::empty(),
            neigh: NeighTable::empty(),
            own: Vec::new(),
            services_generation: 0,
            scheds: Arc::new(Vec::new()),
        }
    }
}

/// Where a packet to an IPv6 destination leaves: the port, the next hop, and its MAC if known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop6 {
    pub port: PortIdx,
    pub next_hop: Ipv6Addr,
    pub mac: Option<MacBytes>,
}

/// Does `s` belong in the IPv6 part (an IPv6 VIP, or an IPv6 real)? The rest is IPv4's.
pub fn involves_v6(s: &config::Service) -> bool {
    s.vip.is_ipv6() || s.reals.iter().any(|r| r.ip.is_ipv6())
}

fn proto(p: config::Protocol) -> Protocol {
    match p {
        config::Protocol::Tcp => Protocol::Tcp,
        config::Protocol::Udp => Protocol::Udp,
    }
}

/// The specs of the config's IPv6-involving services with VIPs of family `V` (`vip_of` picks
/// the VIP if it is one), every real available (health: [`Snapshot6::set_available`]).
fn specs<V>(cfg: &Config, vip_of: impl Fn(IpAddr) -> Option<V>) -> Vec<ServiceSpec6<V>> {
    cfg.services
        .iter()
        .filter(|s| involves_v6(s))
        .filter_map(|s| {
            Some(ServiceSpec6 {
                name: s.name.clone(),
                proto: proto(s.protocol),
                vip: vip_of(s.vip)?,
                port: s.port,
                sched: s.scheduler,
                forward: s.forward,
                persistence_ms: s.persistence.as_ref().map(|p| p.timeout.millis()),
                reals: s
                    .reals
                    .iter()
                    .map(|r| RealSpec6 {
                        addr: r.ip,
                        port: r.port.unwrap_or(s.port),
                        weight: r.weight,
                        forward: match cfg.local_port(r.ip) {
                            Some(_) => Some(ForwardMode::Local),
                            None => r.forward,
                        },
                        available: true,
                    })
                    .collect(),
            })
        })
        .collect()
}

impl Snapshot6 {
    /// The IPv6 part of `cfg` without scheduler sets for workers (see [`Snapshot6::build_for`]).
    pub fn build(cfg: &Config, prev: Option<&Snapshot6>) -> Result<Snapshot6, String> {
        Snapshot6::build_for(cfg, prev, 0)
    }

    /// The IPv6 part of `cfg` for `n_workers` workers; `prev` keeps service and real ids
    /// stable, and its untaken scheduler sets when the services did not change.
    pub fn build_for(
        cfg: &Config,
        prev: Option<&Snapshot6>,
        n_workers: usize,
    ) -> Result<Snapshot6, String> {
        let base = Snapshot6::default();
        let prev = prev.unwrap_or(&base);
        // Port indexes are the config's port order, as in the IPv4 part.
        let connected: Vec<(PortIdx, Ipv6Addr, u8)> = cfg
            .ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.ip6.map(|n| (i as PortIdx, n.addr, n.len)))
            .collect();
        let statics: Vec<(Ipv6Addr, u8, Ipv6Addr)> = cfg
            .routes
            .iter()
            .filter_map(|r| match (r.prefix, r.via) {
                (config::IpNet::V6(p), IpAddr::V6(via)) => Some((p.addr, p.len, via)),
                _ => None,
            })
            .collect();
        let routes = RouteTable::build(&connected, &statics)?;
        let neigh = cfg
            .neighbors
            .iter()
            .filter_map(|n| match n.ip {
                IpAddr::V6(a) => Some((a, n.mac.0)),
                IpAddr::V4(_) => None,
            })
            .collect();
        let v6 = specs(cfg, |a| match a {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        });
        let v46 = specs(cfg, |a| match a {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        });
        let services = prev.services.rebuild(&v6).map_err(|e| e.to_string())?;
        let same = same_services(&prev.services, &services);
        let services_generation = match same {
            true => prev.services_generation,
            false => prev.services_generation + 1,
        };
        let scheds: Vec<ArrayQueue<Vec<Scheduler>>> =
            (0..n_workers).map(|_| ArrayQueue::new(1)).collect();
        for (w, slot) in scheds.iter().enumerate() {
            // Same services: only a set its worker has not taken yet moves on.
            let set = match same {
                true => prev.scheds.get(w).and_then(|q| q.pop()),
                false => Some(
                    services
                        .services()
                        .iter()
                        .map(|s| s.new_scheduler())
                        .collect(),
                ),
            };
            if let Some(set) = set {
                let _ = slot.push(set);
            }
        }
        Ok(Snapshot6 {
            services,
            services46: prev.services46.rebuild(&v46).map_err(|e| e.to_string())?,
            routes,
            neigh,
            own: connected.iter().map(|&(i, a, _)| (a, i)).collect(),
            services_generation,
            scheds: Arc::new(scheds),
        })
    }

    /// Worker `w`'s IPv6 scheduler set for this services generation, if no one took it yet
    /// (no allocation: built with the snapshot).
    #[inline]
    pub fn take_schedulers(&self, w: usize) -> Option<Vec<Scheduler>> {
        self.scheds.get(w)?.pop()
    }

    /// The port's own IPv6 address, if it has one.
    #[inline]
    pub fn port_addr(&self, port: PortIdx) -> Option<Ipv6Addr> {
        self.own.iter().find(|(_, p)| *p == port).map(|&(a, _)| a)
    }

    /// Applies the health checks' verdicts (`available(service, real address, port)`).
    pub fn set_available(&mut self, available: &dyn Fn(&str, IpAddr, u16) -> bool) {
        self.services.set_available(available);
        self.services46.set_available(available);
    }

    /// The service of a packet to `[vip]:port`.
    #[inline]
    pub fn service(
        &self,
        proto: Protocol,
        vip: Ipv6Addr,
        port: u16,
    ) -> Option<&Service6<Ipv6Addr>> {
        self.services.lookup(proto, vip, port)
    }

    /// The IPv4-VIP service over IPv6 reals of a packet to `vip:port`.
    #[inline]
    pub fn service46(
        &self,
        proto: Protocol,
        vip: Ipv4Addr,
        port: u16,
    ) -> Option<&Service6<Ipv4Addr>> {
        self.services46.lookup(proto, vip, port)
    }

    /// Is `addr` an IPv6 VIP?
    #[inline]
    pub fn is_vip(&self, addr: Ipv6Addr) -> bool {
        self.services.is_vip(addr)
    }

    /// The port whose IPv6 address `ip` is, if it is one of ours.
    #[inline]
    pub fn own_port(&self, ip: Ipv6Addr) -> Option<PortIdx> {
        self.own.iter().find(|(a, _)| *a == ip).map(|&(_, p)| p)
    }

    /// The route to `dst` and its next hop's MAC if known.
    #[inline]
    pub fn next_hop(&self, dst: Ipv6Addr) -> Option<NextHop6> {
        let Hop { port, next_hop } = self.routes.lookup(dst)?;
        Some(NextHop6 {
            port,
            next_hop,
            mac: self.neigh.get(next_hop),
        })
    }

    /// Does the config have IPv6 at all (a port with `ip6`)? Without it the IPv6 path has nothing
    /// to do.
    #[inline]
    pub fn enabled(&self) -> bool {
        !self.own.is_empty()
    }
}

/// Do two tables hold the same services in the same order (keys, schedulers, modes,
/// persistence, reals with addresses, ports, weights and modes; health aside)?
fn same_services(a: &ServiceTable6<Ipv6Addr>, b: &ServiceTable6<Ipv6Addr>) -> bool {
    a.services().len() == b.services().len()
        && a.services().iter().zip(b.services()).all(|(x, y)| {
            x.id == y.id
                && x.key == y.key
                && x.sched == y.sched
                && x.forward == y.forward
                && x.persistence_ms == y.persistence_ms
                && x.reals.len() == y.reals.len()
                && x.reals.iter().zip(&y.reals).all(|(r, q)| {
                    (r.id, r.addr, r.port, r.weight, r.forward)
                        == (q.id, q.addr, q.port, q.weight, q.forward)
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V6_CONFIG: &str = r#"
mode: lb
eal: {lcores: "0-1", hugepages: "off"}
workers: {cores: [1]}
ports:
  - {name: ext, device: "net_null0", ip: 198.18.0.1/24, ip6: "2001:db8::1/64"}
  - {name: int, device: "net_null1", ip: 198.19.0.1/24, ip6: "2001:db8:1::1/64"}
routes:
  - {prefix: "2001:db8:2::/48", via: "2001:db8::fe"}
  - {prefix: 0.0.0.0/0, via: 198.18.0.254}
neighbors:
  - {ip: "2001:db8:1::11", mac: "02:00:00:00:00:11"}
  - {ip: 198.19.0.12, mac: "02:00:00:00:00:12"}
services:
  - name: web
    vip: 198.18.0.100
    port: 80
    reals: [{ip: 198.19.0.11}]
  - name: web6
    vip: "2001:db8::100"
    port: 80
    scheduler: rr
    reals: [{ip: "2001:db8:1::11"}, {ip: "2001:db8:1::12", port: 8080, weight: 2}]
  - name: nat64
    vip: "2001:db8::100"
    port: 443
    reals: [{ip: 198.19.0.11}]
  - name: dns46
    vip: 198.18.0.101
    port: 53
    protocol: udp
    forward: tun
    reals: [{ip: "2001:db8:1::11"}]
"#;

    #[test]
    fn the_v6_part_of_a_mixed_config() {
        let cfg = config::load_str(V6_CONFIG).unwrap();
        let s = Snapshot6::build(&cfg, None).unwrap();
        let vip: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let web6 = s.service(Protocol::Tcp, vip, 80).unwrap();
        assert_eq!(web6.name, "web6");
        assert_eq!(
            web6.reals
                .iter()
                .map(|r| (r.addr.to_string(), r.port, r.weight))
                .collect::<Vec<_>>(),
            [
                ("2001:db8:1::11".to_string(), 80, 1),
                ("2001:db8:1::12".to_string(), 8080, 2)
            ]
        );
        assert_eq!(s.service(Protocol::Tcp, vip, 443).unwrap().name, "nat64");
        assert!(s.service(Protocol::Tcp, vip, 22).is_none());
        assert!(s.is_vip(vip));
        assert_eq!(
            s.service46(Protocol::Udp, Ipv4Addr::new(198, 18, 0, 101), 53)
                .unwrap()
                .name,
            "dns46"
        );
        assert!(s
            .service46(Protocol::Tcp, Ipv4Addr::new(198, 18, 0, 100), 80)
            .is_none());
        assert_eq!(s.own_port("2001:db8:1::1".parse().unwrap()), Some(1));
        assert_eq!(s.own_port(vip), None);
        assert!(s.enabled());
        assert_eq!(
            s.next_hop("2001:db8:1::11".parse().unwrap()),
            Some(NextHop6 {
                port: 1,
                next_hop: "2001:db8:1::11".parse().unwrap(),
                mac: Some([2, 0, 0, 0, 0, 0x11])
            })
        );
        assert_eq!(
            s.next_hop("2001:db8:2:5::9".parse().unwrap()),
            Some(NextHop6 {
                port: 0,
                next_hop: "2001:db8::fe".parse().unwrap(),
                mac: None
            })
        );
        assert_eq!(s.next_hop("2001:db8:9::1".parse().unwrap()), None);
        assert_eq!(
            s.neigh.len(),
            1,
            "the IPv4 neighbour stays in the ARP table"
        );
    }

    #[test]
    fn health_and_ids_across_rebuilds() {
        let cfg = config::load_str(V6_CONFIG).unwrap();
        let mut a = Snapshot6::build(&cfg, None).unwrap();
        let down: IpAddr = "2001:db8:1::12".parse().unwrap();
        a.set_available(&|svc, ip, port| !(svc == "web6" && ip == down && port == 8080));
        let web6 = &a.services.services()[0];
        assert_eq!(
            web6.reals.iter().map(|r| r.available).collect::<Vec<_>>(),
            [true, false]
        );
        let mut cfg2 = cfg.clone();
        cfg2.services.remove(2); // nat64
        let b = Snapshot6::build(&cfg2, Some(&a)).unwrap();
        assert!(b
            .service(Protocol::Tcp, "2001:db8::100".parse().unwrap(), 443)
            .is_none());
        let ids = |s: &Snapshot6| -> Vec<u32> {
            s.services.services()[0]
                .reals
                .iter()
                .map(|r| r.id)
                .collect()
        };
        assert_eq!(ids(&a), ids(&b));
        let shipped = config::load_str(include_str!("../../../configs/nat6.yaml")).unwrap();
        let s = Snapshot6::build(&shipped, None).unwrap();
        let names: Vec<&str> = s
            .services
            .services()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["web6", "web64"]);
        assert_eq!(
            s.next_hop("2001:db8:5::1".parse().unwrap())
                .map(|h| (h.port, h.next_hop)),
            Some((0, "2001:db8::fe".parse().unwrap()))
        );
        let v4_only = config::load_str(include_str!("../../../configs/nat.yaml")).unwrap();
        let c = Snapshot6::build(&v4_only, None).unwrap();
        assert!(!c.enabled() && c.services.services().is_empty());
    }
}
