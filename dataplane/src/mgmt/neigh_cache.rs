//! What neighbour resolution keeps for one address family, on the management thread: the
//! config's static entries, what the workers saw (ARP for IPv4, Neighbor Solicitations and
//! Advertisements for IPv6), and the next hops to keep resolved with when each was last asked.
//! Shared by `neighbours.rs` (ARP) and `nd.rs` (neighbour discovery), which say which next
//! hops a snapshot needs and build the frames.
//!
//! Static entries win over learned ones and are never asked for. A learned entry no packet
//! confirmed for `NEIGHBOUR_STALE` is forgotten. A next hop is asked for every `ARP_RETRY`
//! until it answers, then every `ARP_REFRESH`.

use crate::config::Neighbor;
use crate::lb::family::Family;
use crate::lb::neigh::{MacBytes, NeighEvent, NeighTable};
use crate::lb::route::PortIdx;
use crate::tunables::{ARP_REFRESH, ARP_RETRY, NEIGHBOUR_STALE};
use crate::wire::MacAddr;
use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// An address family neighbour resolution runs for.
pub trait NeighAddr: Family + Hash + Eq + Ord + Display {
    /// What resolves it, for log lines ("ARP", "ND").
    const VIA: &'static str;
    /// The address of this family in a config entry, if it is of this family.
    fn of(ip: IpAddr) -> Option<Self>;
}

impl NeighAddr for Ipv4Addr {
    const VIA: &'static str = "ARP";
    fn of(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }
}

impl NeighAddr for Ipv6Addr {
    const VIA: &'static str = "ND";
    fn of(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }
    }
}

/// One family's neighbour state (`Neighbours` for IPv4, `Nd` for IPv6).
pub struct NeighCache<A> {
    statics: HashMap<A, MacBytes>,
    learned: HashMap<A, MacBytes>,
    /// When each learned entry was last confirmed by a packet from it.
    confirmed: HashMap<A, Duration>,
    /// The management thread's clock as of the last `due`.
    clock: Duration,
    /// Next hops to keep resolved, and when each was last asked.
    wanted: HashMap<A, (PortIdx, Option<Duration>)>,
    /// The static routes' gateways of this family (fixed: changing routes needs a restart).
    gateways: Vec<A>,
    /// The table changed since the last `take_dirty`.
    dirty: bool,
}

fn statics_of<A: NeighAddr>(entries: &[Neighbor]) -> HashMap<A, MacBytes> {
    entries
        .iter()
        .filter_map(|n| A::of(n.ip).map(|a| (a, n.mac.0)))
        .collect()
}

impl<A: NeighAddr> NeighCache<A> {
    /// `statics`: the config's `neighbors` (those of this family count); `gateways`: its
    /// routes' next hops of this family.
    pub fn with(statics: &[Neighbor], gateways: Vec<A>) -> NeighCache<A> {
        NeighCache {
            statics: statics_of(statics),
            learned: HashMap::new(),
            confirmed: HashMap::new(),
            clock: Duration::ZERO,
            wanted: HashMap::new(),
            gateways,
            dirty: false,
        }
    }

    /// The table the workers read: learned entries, overridden by static ones.
    pub fn table(&self) -> NeighTable<A> {
        merge(&self.learned, &self.statics)
    }

    /// The table as it would be with `statics` in place of the current static entries (a
    /// reload builds its snapshot with it before committing to anything).
    pub fn table_with_statics(&self, statics: &[Neighbor]) -> NeighTable<A> {
        merge(&self.learned, &statics_of(statics))
    }

    /// Replaces the static entries (a reload's `neighbors`).
    pub fn set_statics(&mut self, statics: &[Neighbor]) {
        let next = statics_of(statics);
        if next != self.statics {
            self.statics = next;
            self.dirty = true;
        }
    }

    /// A worker's report: a neighbour seen (learned unless static, zero or multicast), or a
    /// next hop it found without a MAC (asked for from now on).
    pub fn event(&mut self, e: NeighEvent<A>) {
        match e {
            NeighEvent::Learned { ip, mac, .. } => {
                if self.statics.contains_key(&ip) || mac == [0; 6] || mac[0] & 1 != 0 {
                    return;
                }
                self.confirmed.insert(ip, self.clock);
                if self.learned.insert(ip, mac) != Some(mac) {
                    tracing::debug!(%ip, mac = %MacAddr(mac), via = A::VIA, "neighbour learned");
                    self.dirty = true;
                }
            }
            NeighEvent::Missing { port, ip } => {
                self.wanted.entry(ip).or_insert((port, None));
            }
        }
    }

    /// True (once) when the table changed since the last call.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::replace(&mut self.dirty, false)
    }

    /// At `now`: forgets the stale learned entries, keeps `hops` and the gateways wanted (on
    /// the port `route` gives each), and returns the requests due, sorted by (port, target):
    /// (port, our MAC, our address there, target). `ours` is a port's MAC and address of this
    /// family; a port without one asks nothing.
    pub fn due(
        &mut self,
        now: Duration,
        hops: impl Iterator<Item = A>,
        route: impl Fn(A) -> Option<PortIdx>,
        ours: impl Fn(PortIdx) -> Option<(MacAddr, A)>,
    ) -> Vec<(PortIdx, MacAddr, A, A)> {
        self.clock = now;
        let stale: Vec<A> = self
            .confirmed
            .iter()
            .filter(|(_, &at)| now > at + NEIGHBOUR_STALE)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in stale {
            tracing::debug!(%ip, via = A::VIA, "neighbour forgotten: nothing from it for {}s", NEIGHBOUR_STALE.as_secs());
            self.confirmed.remove(&ip);
            self.learned.remove(&ip);
            self.dirty = true;
        }
        for ip in hops.chain(self.gateways.iter().copied()) {
            if let Some(port) = route(ip) {
                self.wanted.entry(ip).or_insert((port, None));
            }
        }
        let mut out = Vec::new();
        for (ip, (port, asked)) in self.wanted.iter_mut() {
            if self.statics.contains_key(ip) {
                continue;
            }
            let every = if self.learned.contains_key(ip) {
                ARP_REFRESH
            } else {
                ARP_RETRY
            };
            if asked.is_some_and(|a| now < a + every) {
                continue;
            }
            let Some((mac, our_ip)) = ours(*port) else {
                continue;
            };
            *asked = Some(now);
            out.push((*port, mac, our_ip, *ip));
        }
        out.sort_by_key(|&(port, _, _, ip)| (port, ip));
        out
    }
}

fn merge<A: NeighAddr>(
    learned: &HashMap<A, MacBytes>,
    statics: &HashMap<A, MacBytes>,
) -> NeighTable<A> {
    learned
        .iter()
        .chain(statics.iter())
        .map(|(a, m)| (*a, *m))
        .collect()
}
