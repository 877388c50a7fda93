//! IPv6 neighbour resolution, kept by the management thread: `neighbours.rs`'s counterpart
//! for neighbour discovery, over the same cache (`neigh_cache.rs`). Static IPv6 entries from the config win; the workers report what they
//! saw in Neighbor Solicitations and Advertisements (`worker/engine/v6/nd.rs`) and the next
//! hops they found without a MAC; the next hops the config needs (IPv6 reals, IPv6 gateways)
//! are solicited on their own, once a second until they answer and then every `ARP_REFRESH`;
//! an entry no ND message confirmed for `NEIGHBOUR_STALE` is forgotten. The table goes into
//! every snapshot as `Snapshot::v6().neigh` (`control_state.rs`).
//!
//! The frames themselves (solicitations, unsolicited advertisements for the VIPs at start and
//! on VRRP takeover: the gratuitous ARP of IPv6) are built by `lb/forward/ndp.rs` and leave
//! through worker 0 as the ARP requests do.

use super::neigh_cache::NeighCache;
use super::Mgmt;
use crate::config::Neighbor;
use crate::lb::forward::ndp;
use crate::lb::route::PortIdx;
use crate::lb::snapshot::Snapshot;
use crate::wire::{Frame, MacAddr};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// Room for an ND frame: Ethernet (VLAN-tagged), IPv6, NS/NA with a link-layer option.
const ND_FRAME_ROOM: usize = 18 + 40 + 32;

/// IPv6 neighbour resolution (ND): the shared cache (`neigh_cache.rs`) over IPv6 addresses.
pub type Nd = NeighCache<Ipv6Addr>;

impl Nd {
    /// `statics`: the config's `neighbors` (its IPv6 ones count); `gateways`: its IPv6 routes'
    /// next hops.
    pub fn new(statics: &[Neighbor], gateways: Vec<Ipv6Addr>) -> Nd {
        NeighCache::with(statics, gateways)
    }

    /// Neighbor Solicitations to send now: (port, our MAC, our IPv6 address there, target).
    /// Covers the IPv6 reals' next hops, the IPv6 gateways and what workers reported missing.
    pub fn due_solicits(
        &mut self,
        snap: &Snapshot,
        now: Duration,
    ) -> Vec<(PortIdx, MacAddr, Ipv6Addr, Ipv6Addr)> {
        let v6 = &snap.v6;
        let reals = v6.services.services().iter().flat_map(|s| s.reals.iter());
        let hops = reals
            .filter_map(|r| match r.addr {
                IpAddr::V6(a) if v6.own_port(a).is_none() => Some(a),
                _ => None,
            })
            .filter_map(|a| v6.routes.lookup(a).map(|h| h.next_hop));
        self.due(
            now,
            hops,
            |ip| v6.routes.lookup(ip).map(|h| h.port),
            |port| {
                let p = snap.ports.get(usize::from(port))?;
                Some((MacAddr(p.mac), v6.port_addr(port)?))
            },
        )
    }
}

/// Unsolicited Neighbor Advertisements announcing every IPv6 VIP: on the port whose prefix
/// holds it, or on every port with an IPv6 address when none does. (port, MAC, VIP).
pub fn na_plan(snap: &Snapshot) -> Vec<(PortIdx, MacAddr, Ipv6Addr)> {
    let v6 = &snap.v6;
    let mut vips: Vec<Ipv6Addr> = v6.services.services().iter().map(|s| s.key.vip).collect();
    vips.sort();
    vips.dedup();
    let mut out = Vec::new();
    for vip in vips {
        let ports: Vec<PortIdx> = match v6.routes.lookup(vip) {
            Some(h) if h.next_hop == vip => vec![h.port],
            _ => v6.own.iter().map(|&(_, p)| p).collect(),
        };
        for port in ports {
            if let Some(p) = snap.ports.get(usize::from(port)) {
                out.push((port, MacAddr(p.mac), vip));
            }
        }
    }
    out
}

impl Mgmt {
    /// Builds a frame of at most `room` bytes into a fresh mbuf and queues it for worker 0 to
    /// send out of `port` (padded to the Ethernet minimum).
    fn send_frame(
        &mut self,
        port: PortIdx,
        room: usize,
        build: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) {
        let Some(mut m) = crate::dpdk::mbuf::Mbuf::alloc(&self.pool) else {
            return;
        };
        let Some(buf) = m.append(room as u16) else {
            return;
        };
        buf.fill(0);
        let Some(len) = build(buf) else {
            return;
        };
        let len = len.max(60);
        if len < room {
            m.trim((room - len) as u16);
        }
        m.set_meta(crate::worker::meta::encode(
            crate::worker::meta::Kind::Transmit,
            port,
        ));
        let _ = self.pending.push(m);
    }

    /// The IPv6 half of a management tick: the workers' ND events, then the solicitations due.
    pub(super) fn nd_tick(&mut self) {
        for q in &self.events6 {
            while let Some(e) = q.pop() {
                self.control_state.neighbour_event6(e);
            }
        }
        for (port, mac, our_ip, target) in
            self.control_state.nd_solicits_due(self.started.elapsed())
        {
            self.send_frame(port, ND_FRAME_ROOM, |buf| {
                ndp::build_neighbor_solicit(buf, None, mac, our_ip, target).ok()
            });
            self.counters.nd_solicits += 1;
        }
    }

    /// Unsolicited Neighbor Advertisements for the IPv6 VIPs (at start without VRRP, and on
    /// becoming master).
    pub(super) fn announce_v6(&mut self) {
        if !self.control_state.snapshot().ha.active {
            return;
        }
        for (port, mac, vip) in na_plan(&self.control_state.snapshot()) {
            self.send_frame(port, ND_FRAME_ROOM, |buf| {
                ndp::build_unsolicited_na(buf, None, mac, vip).ok()
            });
            self.counters.unsolicited_nas += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::neigh::{NeighEvent, NeighTable};
    use crate::lb::snapshot::PortInfo;
    use crate::tunables::NEIGHBOUR_STALE;

    const NAT6: &str = include_str!("../../../configs/nat6.yaml");

    fn snap() -> Snapshot {
        let cfg = crate::config::load_str(NAT6).unwrap();
        let ports = [("ext", "198.18.0.1", 1), ("int", "198.19.0.1", 2)]
            .iter()
            .enumerate()
            .map(|(i, (name, ip, m))| PortInfo {
                name: name.to_string(),
                dpdk_id: i as u16,
                mac: [2, 0, 0, 0, *m, 1],
                ip: Some((ip.parse().unwrap(), 24)),
                mtu: 1500,
                exception: true,
            })
            .collect();
        let specs = crate::lb::snapshot::service_specs(&cfg, &|_, _, _| true);
        Snapshot::build(1, &cfg, ports, NeighTable::default(), &specs, None, 1).unwrap()
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn solicits_reals_and_gateways_learns_and_forgets() {
        let s = snap();
        let cfg = crate::config::load_str(NAT6).unwrap();
        let mut nd = Nd::new(
            &cfg.neighbors,
            cfg.routes_v6().map(|(_, via)| via).collect(),
        );
        let at = |secs| Duration::from_secs(secs);
        let first = nd.due_solicits(&s, at(0));
        let targets: Vec<(PortIdx, Ipv6Addr, Ipv6Addr)> =
            first.iter().map(|&(p, _, ours, t)| (p, ours, t)).collect();
        assert_eq!(
            targets,
            [
                (0, v6("2001:db8::1"), v6("2001:db8::fe")),
                (1, v6("2001:db8:1::1"), v6("2001:db8:1::11")),
                (1, v6("2001:db8:1::1"), v6("2001:db8:1::12")),
            ]
        );
        assert!(nd.due_solicits(&s, at(0)).is_empty(), "asked a moment ago");
        assert_eq!(nd.due_solicits(&s, at(1)).len(), 3, "ARP_RETRY later");
        nd.event(NeighEvent::Learned {
            port: 1,
            ip: v6("2001:db8:1::11"),
            mac: [2, 0, 0, 0, 2, 0x11],
        });
        assert!(nd.take_dirty() && !nd.take_dirty());
        assert_eq!(
            nd.table().get(v6("2001:db8:1::11")),
            Some([2, 0, 0, 0, 2, 0x11])
        );
        // A multicast MAC is never learned; a missing next hop is solicited at once.
        nd.event(NeighEvent::Learned {
            port: 0,
            ip: v6("2001:db8::2"),
            mac: [0x33, 0x33, 0, 0, 0, 1],
        });
        assert!(!nd.take_dirty());
        nd.event(NeighEvent::Missing {
            port: 0,
            ip: v6("2001:db8::2"),
        });
        let due = nd.due_solicits(&s, at(1) + Duration::from_millis(10));
        assert_eq!(
            due.iter().map(|d| d.3).collect::<Vec<_>>(),
            [v6("2001:db8::2")]
        );
        // Unconfirmed for NEIGHBOUR_STALE: forgotten.
        let later = at(1) + NEIGHBOUR_STALE + Duration::from_secs(1);
        let _ = nd.due_solicits(&s, later);
        assert!(nd.take_dirty());
        assert_eq!(nd.table().get(v6("2001:db8:1::11")), None);
    }

    #[test]
    fn statics_win_and_vips_are_announced_on_their_port() {
        let mut cfg = crate::config::load_str(NAT6).unwrap();
        cfg.neighbors.push(Neighbor {
            ip: "2001:db8:1::11".parse().unwrap(),
            mac: crate::config::Mac([2, 0, 0, 0, 9, 9]),
        });
        let mut nd = Nd::new(&cfg.neighbors, vec![]);
        nd.event(NeighEvent::Learned {
            port: 1,
            ip: v6("2001:db8:1::11"),
            mac: [2, 0, 0, 0, 2, 0x11],
        });
        assert_eq!(
            nd.table().get(v6("2001:db8:1::11")),
            Some([2, 0, 0, 0, 9, 9])
        );
        let s = snap();
        assert!(!nd
            .due_solicits(&s, Duration::ZERO)
            .iter()
            .any(|d| d.3 == v6("2001:db8:1::11")));
        assert_eq!(
            na_plan(&s),
            [(0, MacAddr([2, 0, 0, 0, 1, 1]), v6("2001:db8::100"))]
        );
    }
}
