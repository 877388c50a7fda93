//! Neighbour resolution, kept by the management thread: static entries, what workers saw in ARP
//! packets, and the next hops the appliance needs (real servers and gateways), which it
//! resolves on its own, so a worker rarely meets an unknown neighbour. Learned entries are
//! replaced when a newer ARP says otherwise and are re-asked periodically (what is kept, and
//! when it is asked or forgotten, is `neigh_cache.rs`, shared with IPv6). The table it builds
//! goes into every snapshot (`mgmt::control_state` builds and publishes them).

use super::neigh_cache::NeighCache;
use crate::config::Neighbor;
use crate::lb::route::PortIdx;
use crate::lb::snapshot::{PortInfo, Snapshot};
use crate::wire::MacAddr;
use std::net::Ipv4Addr;
use std::time::Duration;

/// IPv4 neighbour resolution (ARP): the shared cache (`neigh_cache.rs`) over IPv4 addresses.
pub type Neighbours = NeighCache<Ipv4Addr>;

impl Neighbours {
    /// `statics`: the config's `neighbors`; `gateways`: its routes' next hops.
    pub fn new(statics: &[Neighbor], gateways: Vec<Ipv4Addr>) -> Neighbours {
        NeighCache::with(statics, gateways)
    }

    /// ARP requests to send now: (port, our MAC, our IP there, target). Covers every next hop
    /// the config needs (real servers, gateways) and those workers reported missing.
    pub fn due_requests(
        &mut self,
        snap: &Snapshot,
        now: Duration,
    ) -> Vec<(PortIdx, MacAddr, Ipv4Addr, Ipv4Addr)> {
        let hops = snap
            .services
            .services()
            .iter()
            .flat_map(|s| s.reals.iter().map(|r| r.addr))
            // A local real is our own address: nothing to resolve.
            .filter(|a| snap.own_port(*a).is_none())
            .filter_map(|a| snap.routes.lookup(a).map(|h| h.next_hop));
        self.due(
            now,
            hops,
            |ip| snap.routes.lookup(ip).map(|h| h.port),
            |port| {
                let p = snap.ports.get(usize::from(port))?;
                p.ip.map(|(our_ip, _)| (MacAddr(p.mac), our_ip))
            },
        )
    }

    /// Gratuitous ARPs announcing every VIP: on the ports whose subnet holds it, or on every
    /// addressed port when none does. (port, MAC, VIP).
    pub fn garp_plan(&self, snap: &Snapshot) -> Vec<(PortIdx, MacAddr, Ipv4Addr)> {
        let mut out = Vec::new();
        let mut vips: Vec<Ipv4Addr> = snap.services.services().iter().map(|s| s.key.vip).collect();
        vips.sort();
        vips.dedup();
        for vip in vips {
            let on: Vec<(usize, &PortInfo)> = snap
                .ports
                .iter()
                .enumerate()
                .filter(|(_, p)| p.ip.is_some_and(|(a, l)| same_subnet(a, vip, l)))
                .collect();
            let chosen: Vec<(usize, &PortInfo)> = if on.is_empty() {
                snap.ports
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.ip.is_some())
                    .collect()
            } else {
                on
            };
            for (i, p) in chosen {
                out.push((i as PortIdx, MacAddr(p.mac), vip));
            }
        }
        out
    }
}

fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, len: u8) -> bool {
    let mask = crate::lb::route::prefix_mask(len);
    u32::from(a) & mask == u32::from(b) & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::lb::neigh::NeighEvent;

    fn port(name: &str, id: u16, ip: &str) -> PortInfo {
        PortInfo {
            name: name.into(),
            dpdk_id: id,
            mac: [2, 0, 0, 0, 1, id as u8],
            ip: Some((ip.parse().unwrap(), 24)),
            mtu: 1500,
            exception: false,
        }
    }

    /// nat.yaml's neighbours and a snapshot of it (routes, reals) to resolve against.
    fn setup() -> (Neighbours, Snapshot) {
        let cfg: Config =
            crate::config::load_str(include_str!("../../../configs/nat.yaml")).unwrap();
        let ports = vec![port("ext", 0, "198.18.0.1"), port("int", 1, "198.19.0.1")];
        let specs = crate::lb::snapshot::service_specs(&cfg, &|_, _, _| true);
        let n = Neighbours::new(
            &cfg.neighbors,
            cfg.routes_v4().map(|(_, via)| via).collect(),
        );
        let snap = Snapshot::build(1, &cfg, ports, n.table(), &specs, None, 1).unwrap();
        (n, snap)
    }

    #[test]
    fn learns_asks_and_forgets() {
        let (mut n, snap) = setup();
        // At start it asks for every real and the gateway, once.
        let mut asked: Vec<Ipv4Addr> = n
            .due_requests(&snap, Duration::ZERO)
            .iter()
            .map(|r| r.3)
            .collect();
        asked.sort();
        let want: Vec<Ipv4Addr> = ["198.18.0.254", "198.19.0.11", "198.19.0.12"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(asked, want);
        assert!(
            n.due_requests(&snap, Duration::from_millis(10)).is_empty(),
            "not again at once"
        );
        // An answer is learned; unanswered ones are asked again after a second.
        let r1: Ipv4Addr = "198.19.0.11".parse().unwrap();
        n.event(NeighEvent::Learned {
            port: 1,
            ip: r1,
            mac: [2, 0, 0, 0, 2, 0x11],
        });
        assert!(n.take_dirty());
        assert!(!n.take_dirty(), "reported once");
        assert_eq!(n.table().get(r1), Some([2, 0, 0, 0, 2, 0x11]));
        let mut again: Vec<Ipv4Addr> = n
            .due_requests(&snap, Duration::from_millis(1500))
            .iter()
            .map(|r| r.3)
            .collect();
        again.sort();
        assert_eq!(again, [want[0], want[2]]);
        // Nothing confirms it for five minutes: forgotten.
        let _ = n.due_requests(&snap, Duration::from_secs(400));
        assert!(n.take_dirty());
        assert_eq!(n.table().get(r1), None);
        // Multicast and zero MACs are never learned.
        n.event(NeighEvent::Learned {
            port: 1,
            ip: r1,
            mac: [1, 0, 0x5e, 0, 0, 1],
        });
        n.event(NeighEvent::Learned {
            port: 1,
            ip: r1,
            mac: [0; 6],
        });
        assert_eq!(n.table().get(r1), None);
        assert!(!n.take_dirty());
    }

    #[test]
    fn static_entries_win_and_are_never_asked() {
        let (mut n, snap) = setup();
        let r2: Ipv4Addr = "198.19.0.12".parse().unwrap();
        let statics = [Neighbor {
            ip: std::net::IpAddr::V4(r2),
            mac: crate::config::Mac([2, 0, 0, 0, 2, 0x12]),
        }];
        assert_eq!(
            n.table_with_statics(&statics).get(r2),
            Some([2, 0, 0, 0, 2, 0x12])
        );
        assert_eq!(n.table().get(r2), None, "only a preview");
        n.set_statics(&statics);
        assert!(n.take_dirty());
        n.set_statics(&statics);
        assert!(!n.take_dirty(), "the same statics change nothing");
        // An ARP saying otherwise does not override a static entry.
        n.event(NeighEvent::Learned {
            port: 1,
            ip: r2,
            mac: [2, 0, 0, 0, 9, 9],
        });
        assert_eq!(n.table().get(r2), Some([2, 0, 0, 0, 2, 0x12]));
        let asked: Vec<Ipv4Addr> = n
            .due_requests(&snap, Duration::ZERO)
            .iter()
            .map(|r| r.3)
            .collect();
        assert!(!asked.contains(&r2), "{asked:?}");
    }

    #[test]
    fn garps_every_vip_on_its_subnet() {
        let (n, snap) = setup();
        let plan = n.garp_plan(&snap);
        let vip: Ipv4Addr = "198.18.0.100".parse().unwrap();
        // Every service shares one VIP, on ext's subnet: one announcement, on ext.
        assert_eq!(plan, [(0, MacAddr([2, 0, 0, 0, 1, 0]), vip)]);
    }

    /// A local real (our own address) is never asked for by ARP.
    #[test]
    fn a_local_real_is_not_resolved() {
        let text = include_str!("../../../configs/nat.yaml").replacen(
            "      - {ip: 198.19.0.12, weight: 1}\n",
            "      - {ip: 198.19.0.12, weight: 1}\n      - {ip: 198.19.0.1, port: 8080}\n",
            1,
        );
        let cfg = crate::config::load_str(&text).unwrap();
        let ports = vec![port("ext", 0, "198.18.0.1"), port("int", 1, "198.19.0.1")];
        let specs = crate::lb::snapshot::service_specs(&cfg, &|_, _, _| true);
        let mut n = Neighbours::new(
            &cfg.neighbors,
            cfg.routes_v4().map(|(_, via)| via).collect(),
        );
        let snap = Snapshot::build(1, &cfg, ports, n.table(), &specs, None, 1).unwrap();
        let mut asked: Vec<Ipv4Addr> = n
            .due_requests(&snap, Duration::ZERO)
            .iter()
            .map(|r| r.3)
            .collect();
        asked.sort();
        let want: Vec<Ipv4Addr> = ["198.18.0.254", "198.19.0.11", "198.19.0.12"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(asked, want);
    }
}
