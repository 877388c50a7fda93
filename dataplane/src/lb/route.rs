//! The routing table the workers read: connected subnets (from the ports' addresses) and static
//! routes, longest prefix first. Built by the control plane; a lookup is a short linear scan,
//! which beats a trie for the handful of routes an L4 balancer has.

use std::net::Ipv4Addr;

/// Index of a port in the snapshot's port list.
pub type PortIdx = u16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    pub net: u32,
    pub mask: u32,
    pub len: u8,
    pub port: PortIdx,
    /// None: the destination is on-link (a connected subnet).
    pub via: Option<Ipv4Addr>,
}

/// Where a packet for a destination goes: out of `port`, to the neighbour `next_hop`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop {
    pub port: PortIdx,
    pub next_hop: Ipv4Addr,
}

#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    entries: Vec<RouteEntry>,
}

/// The netmask of a prefix length: defined with the config's addresses (config is data and
/// imports nothing from lb), used here.
pub use crate::config::prefix_mask;

impl RouteTable {
    /// `connected`: (port, address, prefix length) of each port that has an address.
    /// `statics`: (prefix, length, via). A static route whose gateway is on no connected
    /// subnet is returned as an error (validation refuses it first).
    pub fn build(
        connected: &[(PortIdx, Ipv4Addr, u8)],
        statics: &[(Ipv4Addr, u8, Ipv4Addr)],
    ) -> Result<RouteTable, String> {
        let mut entries = Vec::new();
        for &(port, addr, len) in connected {
            let mask = prefix_mask(len);
            entries.push(RouteEntry {
                net: u32::from(addr) & mask,
                mask,
                len,
                port,
                via: None,
            });
        }
        let connected_len = entries.len();
        for &(prefix, len, via) in statics {
            let port = entries[..connected_len]
                .iter()
                .filter(|e| u32::from(via) & e.mask == e.net)
                .max_by_key(|e| e.len)
                .map(|e| e.port)
                .ok_or_else(|| format!("gateway {via} is not on a connected subnet"))?;
            let mask = prefix_mask(len);
            entries.push(RouteEntry {
                net: u32::from(prefix) & mask,
                mask,
                len,
                port,
                via: Some(via),
            });
        }
        // Longest prefix first; connected before static at equal length (stable sort).
        entries.sort_by_key(|e| std::cmp::Reverse(e.len));
        Ok(RouteTable { entries })
    }

    /// The output port and next hop for `dst`, or None when no route covers it.
    #[inline]
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<Hop> {
        let d = u32::from(dst);
        self.entries
            .iter()
            .find(|e| d & e.mask == e.net)
            .map(|e| Hop {
                port: e.port,
                next_hop: e.via.unwrap_or(dst),
            })
    }

    /// Is `ip` on a connected subnet (reachable without a gateway)?
    pub fn on_link(&self, ip: Ipv4Addr) -> bool {
        self.lookup(ip).is_some_and(|h| {
            h.next_hop == ip
                && self
                    .entries
                    .iter()
                    .any(|e| e.via.is_none() && u32::from(ip) & e.mask == e.net)
        })
    }

    pub fn entries(&self) -> &[RouteEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let t = RouteTable::build(
            &[(0, ip("198.18.0.1"), 24), (1, ip("198.19.0.1"), 24)],
            &[
                (ip("0.0.0.0"), 0, ip("198.18.0.254")),
                (ip("203.0.113.0"), 24, ip("198.19.0.254")),
            ],
        )
        .unwrap();
        assert_eq!(
            t.lookup(ip("198.19.0.11")),
            Some(Hop {
                port: 1,
                next_hop: ip("198.19.0.11")
            })
        );
        assert_eq!(
            t.lookup(ip("198.18.0.2")),
            Some(Hop {
                port: 0,
                next_hop: ip("198.18.0.2")
            })
        );
        assert_eq!(
            t.lookup(ip("203.0.113.7")),
            Some(Hop {
                port: 1,
                next_hop: ip("198.19.0.254")
            })
        );
        assert_eq!(
            t.lookup(ip("192.0.2.1")),
            Some(Hop {
                port: 0,
                next_hop: ip("198.18.0.254")
            })
        );
        assert!(t.on_link(ip("198.19.0.11")));
        assert!(!t.on_link(ip("192.0.2.1")));
    }

    #[test]
    fn no_default_route() {
        let t = RouteTable::build(&[(0, ip("198.18.0.1"), 24)], &[]).unwrap();
        assert_eq!(t.lookup(ip("192.0.2.1")), None);
        assert!(RouteTable::build(
            &[(0, ip("198.18.0.1"), 24)],
            &[(ip("0.0.0.0"), 0, ip("192.0.2.1"))]
        )
        .is_err());
    }
}
