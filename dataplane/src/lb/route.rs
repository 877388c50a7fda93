//! The routing table the workers read: connected subnets (from the ports' addresses) and static
//! routes, longest prefix first. Built by the control plane; a lookup is a short linear scan,
//! which beats a trie for the handful of routes an L4 balancer has.
//!
//! One table per address family (IPv4 unless named): `RouteTable<Ipv6Addr>` matches /0../128
//! prefixes on u128 masks with the same code.

use std::net::Ipv4Addr;

use super::family::Family;

/// Index of a port in the snapshot's port list.
pub type PortIdx = u16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteEntry<A: Family = Ipv4Addr> {
    pub net: A::Bits,
    pub mask: A::Bits,
    pub len: u8,
    pub port: PortIdx,
    /// None: the destination is on-link (a connected subnet).
    pub via: Option<A>,
}

impl<A: Family> RouteEntry<A> {
    #[inline]
    fn covers(&self, dst: A::Bits) -> bool {
        dst & self.mask == self.net
    }
}

/// Where a packet for a destination goes: out of `port`, to the neighbour `next_hop`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop<A = Ipv4Addr> {
    pub port: PortIdx,
    pub next_hop: A,
}

#[derive(Clone, Debug)]
pub struct RouteTable<A: Family = Ipv4Addr> {
    entries: Vec<RouteEntry<A>>,
}

/// IPv4 only, so that `RouteTable::default()` still names the IPv4 table without annotations;
/// any family: [`RouteTable::empty`].
impl Default for RouteTable {
    fn default() -> Self {
        RouteTable::empty()
    }
}

/// The netmask of a prefix length: defined with the config's addresses (config is data and
/// imports nothing from lb), used here.
pub use crate::config::prefix_mask;

impl<A: Family> RouteTable<A> {
    /// A table with no entry.
    pub fn empty() -> Self {
        RouteTable {
            entries: Vec::new(),
        }
    }

    /// `connected`: (port, address, prefix length) of each port that has an address.
    /// `statics`: (prefix, length, via). A static route whose gateway is on no connected
    /// subnet is returned as an error (validation refuses it first).
    pub fn build(
        connected: &[(PortIdx, A, u8)],
        statics: &[(A, u8, A)],
    ) -> Result<RouteTable<A>, String> {
        let mut entries = Vec::new();
        for &(port, addr, len) in connected {
            let mask = A::prefix_mask(len);
            entries.push(RouteEntry {
                net: addr.to_bits() & mask,
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
                .filter(|e| e.covers(via.to_bits()))
                .max_by_key(|e| e.len)
                .map(|e| e.port)
                .ok_or_else(|| format!("gateway {via} is not on a connected subnet"))?;
            let mask = A::prefix_mask(len);
            entries.push(RouteEntry {
                net: prefix.to_bits() & mask,
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
    pub fn lookup(&self, dst: A) -> Option<Hop<A>> {
        let d = dst.to_bits();
        self.entries.iter().find(|e| e.covers(d)).map(|e| Hop {
            port: e.port,
            next_hop: e.via.unwrap_or(dst),
        })
    }

    /// Is `ip` on a connected subnet (reachable without a gateway)?
    pub fn on_link(&self, ip: A) -> bool {
        self.lookup(ip).is_some_and(|h| {
            h.next_hop == ip
                && self
                    .entries
                    .iter()
                    .any(|e| e.via.is_none() && e.covers(ip.to_bits()))
        })
    }

    pub fn entries(&self) -> &[RouteEntry<A>] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn ip6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn v6_longest_prefix_wins() {
        let t = RouteTable::build(
            &[
                (0, ip6("2001:db8:0:1::1"), 64),
                (1, ip6("2001:db8:0:2::1"), 64),
            ],
            &[
                (ip6("::"), 0, ip6("2001:db8:0:1::fe")),
                (ip6("2001:db8::"), 32, ip6("2001:db8:0:2::fe")),
                (ip6("2001:db8:aa::"), 48, ip6("2001:db8:0:1::fd")),
                (ip6("2001:db8:aa:bb::7"), 128, ip6("2001:db8:0:2::fd")),
            ],
        )
        .unwrap();
        let hop = |port, nh: &str| {
            Some(Hop {
                port,
                next_hop: ip6(nh),
            })
        };
        // Connected /64s beat the /32 they are inside.
        assert_eq!(
            t.lookup(ip6("2001:db8:0:2::11")),
            hop(1, "2001:db8:0:2::11")
        );
        assert_eq!(t.lookup(ip6("2001:db8:0:1::2")), hop(0, "2001:db8:0:1::2"));
        // /128 beats /48 beats /32 beats /0.
        assert_eq!(
            t.lookup(ip6("2001:db8:aa:bb::7")),
            hop(1, "2001:db8:0:2::fd")
        );
        assert_eq!(
            t.lookup(ip6("2001:db8:aa:bb::8")),
            hop(0, "2001:db8:0:1::fd")
        );
        assert_eq!(t.lookup(ip6("2001:db8:ab::1")), hop(1, "2001:db8:0:2::fe"));
        assert_eq!(t.lookup(ip6("2001:db9::1")), hop(0, "2001:db8:0:1::fe"));
        assert_eq!(t.lookup(ip6("2001:2::1")), hop(0, "2001:db8:0:1::fe"));
        assert!(t.on_link(ip6("2001:db8:0:2::11")));
        assert!(!t.on_link(ip6("2001:db8:aa::1")));
        let lens: Vec<u8> = t.entries().iter().map(|e| e.len).collect();
        assert_eq!(lens, vec![128, 64, 64, 48, 32, 0]);
    }

    #[test]
    fn v6_no_default_route_and_off_link_gateway() {
        let t = RouteTable::build(&[(0, ip6("2001:db8:0:1::1"), 64)], &[]).unwrap();
        assert_eq!(t.lookup(ip6("2001:db8:0:3::1")), None);
        // The last bit of a /127 counts; the bit after a /63 does not.
        let t = RouteTable::build(
            &[(0, ip6("2001:db8::"), 127), (1, ip6("2001:db8:0:2::"), 63)],
            &[],
        )
        .unwrap();
        assert_eq!(t.lookup(ip6("2001:db8::1")).map(|h| h.port), Some(0));
        assert_eq!(t.lookup(ip6("2001:db8::2")), None);
        assert_eq!(
            t.lookup(ip6("2001:db8:0:3:ffff::1")).map(|h| h.port),
            Some(1)
        );
        assert_eq!(t.lookup(ip6("2001:db8:0:4::1")), None);
        assert!(RouteTable::build(
            &[(0, ip6("2001:db8:0:1::1"), 64)],
            &[(ip6("::"), 0, ip6("2001:db8:0:9::1"))]
        )
        .is_err());
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
        let empty = RouteTable::default();
        assert_eq!(empty.lookup(ip("198.18.0.1")), None);
        assert!(RouteTable::<Ipv6Addr>::empty().entries().is_empty());
        assert!(RouteTable::build(
            &[(0, ip("198.18.0.1"), 24)],
            &[(ip("0.0.0.0"), 0, ip("192.0.2.1"))]
        )
        .is_err());
    }
}
