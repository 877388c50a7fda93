//! Client flows: flow number -> (client address, client port). Clients live in 198.18.16.0/20
//! (4096 addresses, off the appliance's connected /24, so replies would go via its gateway) and
//! use ports from 1024 up, so up to ~264 M distinct flows. IPv6 flows number the same way, their
//! clients in 2001:2:0:10::/64 (the benchmarking range, RFC 5180): 2001:2:0:10::0 .. ::fff.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The first client address.
pub const CLIENT_BASE: Ipv4Addr = Ipv4Addr::new(198, 18, 16, 0);
/// Client addresses in use (a power of two).
pub const CLIENTS: u32 = 4096;
/// The lowest client port.
pub const PORT_BASE: u32 = 1024;
/// Flow numbers below this map to distinct (address, port) pairs.
pub const MAX_FLOWS: u32 = CLIENTS * (65536 - PORT_BASE);

/// The client side of flow `i` (taken modulo `MAX_FLOWS`).
#[inline]
pub fn client(i: u32) -> (Ipv4Addr, u16) {
    let i = i % MAX_FLOWS;
    let addr = u32::from(CLIENT_BASE) + (i & (CLIENTS - 1));
    (Ipv4Addr::from(addr), (PORT_BASE + i / CLIENTS) as u16)
}

/// The flow number of a client side, when it is one of ours.
#[inline]
pub fn flow_of(addr: Ipv4Addr, port: u16) -> Option<u32> {
    let off = u32::from(addr).wrapping_sub(u32::from(CLIENT_BASE));
    let port = u32::from(port);
    (off < CLIENTS && port >= PORT_BASE).then(|| (port - PORT_BASE) * CLIENTS + off)
}

/// The first IPv6 client address.
pub const CLIENT6_BASE: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0x10, 0, 0, 0, 0);

/// The IPv6 client side of flow `i` (taken modulo `MAX_FLOWS`): the same numbering as IPv4.
#[inline]
pub fn client6(i: u32) -> (Ipv6Addr, u16) {
    let i = i % MAX_FLOWS;
    let addr = u128::from(CLIENT6_BASE) + u128::from(i & (CLIENTS - 1));
    (Ipv6Addr::from(addr), (PORT_BASE + i / CLIENTS) as u16)
}

/// The flow number of an IPv6 client side, when it is one of ours.
#[inline]
pub fn flow_of6(addr: Ipv6Addr, port: u16) -> Option<u32> {
    let off = u128::from(addr).wrapping_sub(u128::from(CLIENT6_BASE));
    let port = u32::from(port);
    (off < u128::from(CLIENTS) && port >= PORT_BASE)
        .then(|| (port - PORT_BASE) * CLIENTS + off as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for i in [0, 1, 4095, 4096, 1_000_000, MAX_FLOWS - 1] {
            let (a, p) = client(i);
            assert_eq!(flow_of(a, p), Some(i), "flow {i}");
        }
        assert_eq!(client(0), (Ipv4Addr::new(198, 18, 16, 0), 1024));
        assert_eq!(client(4097), (Ipv4Addr::new(198, 18, 16, 1), 1025));
        assert_eq!(flow_of(Ipv4Addr::new(198, 18, 0, 5), 2000), None);
        assert_eq!(flow_of(CLIENT_BASE, 80), None);
    }

    #[test]
    fn round_trip6() {
        for i in [0, 1, 4095, 4096, 1_000_000, MAX_FLOWS - 1] {
            let (a, p) = client6(i);
            assert_eq!(flow_of6(a, p), Some(i), "flow {i}");
        }
        assert_eq!(
            client6(4097),
            ("2001:2:0:10::1".parse::<Ipv6Addr>().unwrap(), 1025)
        );
        assert_eq!(flow_of6("2001:2:0:10::1000".parse().unwrap(), 2000), None);
        assert_eq!(flow_of6("2001:2::5".parse().unwrap(), 2000), None);
        assert_eq!(flow_of6(CLIENT6_BASE, 80), None);
    }

    #[test]
    fn distinct_for_a_million() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..1_000_000 {
            assert!(seen.insert(client(i)));
        }
    }
}
