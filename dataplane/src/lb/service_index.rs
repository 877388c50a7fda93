//! The virtual services' lookup key, (protocol, VIP, port), and the index that finds a
//! service from a packet, one per address family (IPv4 unless named).
//!
//! The index is a prebuilt hash map from the key folded into one word ([`Family::service_word`]:
//! a `u64` for IPv4) with a fast non-cryptographic hash: its contents come from the
//! configuration only, so packets cannot make its chains longer. Port 0 means every port of the
//! VIP; a lookup tries the exact port first, then port 0 (IPVS's port-0 "all ports" services).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use super::family::Family;
use super::types::Protocol;
use super::word_hash::WordMap;

/// What identifies a virtual service; `port == 0` serves every port of the VIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServiceKey<A = Ipv4Addr> {
    pub proto: Protocol,
    pub vip: A,
    pub port: u16,
}

impl<A: Family> ServiceKey<A> {
    /// The key folded into the index's word.
    #[inline]
    fn word(self) -> A::ServiceWord {
        A::service_word(self.proto as u8, self.vip, self.port)
    }
}

/// `tcp 198.18.0.100:80`, `udp [2001:db8::100]:53`.
impl<A: Family> fmt::Display for ServiceKey<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.proto {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
        };
        write!(f, "{proto} {}", SocketAddr::new(self.vip.into(), self.port))
    }
}

/// The services of one family by key, and the set of their VIPs.
#[derive(Clone, Debug)]
pub struct ServiceIndex<A: Family = Ipv4Addr> {
    by_key: WordMap<A::ServiceWord, u32>,
    vips: WordMap<A::Bits, ()>,
}

/// IPv4 only, so that `ServiceIndex::default()` still names the IPv4 index; any family:
/// [`ServiceIndex::empty`].
impl Default for ServiceIndex {
    fn default() -> Self {
        ServiceIndex::empty()
    }
}

impl<A: Family> ServiceIndex<A> {
    pub fn empty() -> Self {
        ServiceIndex {
            by_key: WordMap::default(),
            vips: WordMap::default(),
        }
    }

    /// Files service `index` under `key`; if the key is already taken, returns the index that
    /// holds it and changes nothing.
    pub fn insert(&mut self, key: ServiceKey<A>, index: u32) -> Result<(), u32> {
        if let Some(&other) = self.by_key.get(&key.word()) {
            return Err(other);
        }
        self.by_key.insert(key.word(), index);
        self.vips.insert(key.vip.to_bits(), ());
        Ok(())
    }

    /// The index of exactly `key` (port 0 only matches a port-0 service).
    #[inline]
    pub fn get(&self, key: ServiceKey<A>) -> Option<usize> {
        self.by_key.get(&key.word()).map(|&i| i as usize)
    }

    /// The index of the service for a packet to `vip:port`: the exact port, else the VIP's
    /// port-0 service.
    #[inline]
    pub fn lookup(&self, proto: Protocol, vip: A, port: u16) -> Option<usize> {
        let p = proto as u8;
        let exact = self.by_key.get(&A::service_word(p, vip, port));
        let found = match exact {
            Some(i) => Some(i),
            None if port != 0 => self.by_key.get(&A::service_word(p, vip, 0)),
            None => None,
        };
        found.map(|&i| i as usize)
    }

    /// Is `addr` the VIP of any service (any protocol, any port)?
    #[inline]
    pub fn is_vip(&self, addr: A) -> bool {
        self.vips.contains_key(&addr.to_bits())
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn key<A>(proto: Protocol, vip: A, port: u16) -> ServiceKey<A> {
        ServiceKey { proto, vip, port }
    }

    #[test]
    fn v4_exact_then_port_zero() {
        let vip = Ipv4Addr::new(198, 18, 0, 100);
        let mut ix = ServiceIndex::default();
        assert_eq!(ix.insert(key(Protocol::Tcp, vip, 80), 0), Ok(()));
        assert_eq!(ix.insert(key(Protocol::Tcp, vip, 0), 1), Ok(()));
        assert_eq!(ix.insert(key(Protocol::Tcp, vip, 80), 2), Err(0));
        assert_eq!(ix.lookup(Protocol::Tcp, vip, 80), Some(0));
        assert_eq!(ix.lookup(Protocol::Tcp, vip, 443), Some(1));
        assert_eq!(ix.lookup(Protocol::Udp, vip, 80), None);
        assert_eq!(ix.get(key(Protocol::Tcp, vip, 443)), None);
        assert!(ix.is_vip(vip));
        assert!(!ix.is_vip(Ipv4Addr::new(198, 18, 0, 101)));
        assert_eq!(ix.len(), 2);
        assert_eq!(
            key(Protocol::Tcp, vip, 80).to_string(),
            "tcp 198.18.0.100:80"
        );
    }

    #[test]
    fn v6_exact_then_port_zero() {
        let vip: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let other: Ipv6Addr = "2001:db8::101".parse().unwrap();
        let mut ix = ServiceIndex::<Ipv6Addr>::empty();
        assert!(ix.is_empty());
        assert_eq!(ix.insert(key(Protocol::Udp, vip, 53), 0), Ok(()));
        assert_eq!(ix.insert(key(Protocol::Tcp, vip, 0), 1), Ok(()));
        assert_eq!(ix.insert(key(Protocol::Tcp, other, 443), 2), Ok(()));
        assert_eq!(ix.insert(key(Protocol::Udp, vip, 53), 3), Err(0));
        assert_eq!(ix.lookup(Protocol::Udp, vip, 53), Some(0));
        assert_eq!(ix.lookup(Protocol::Udp, vip, 54), None);
        assert_eq!(ix.lookup(Protocol::Tcp, vip, 22), Some(1));
        assert_eq!(ix.lookup(Protocol::Tcp, other, 443), Some(2));
        assert_eq!(ix.lookup(Protocol::Tcp, other, 80), None);
        assert!(ix.is_vip(vip) && ix.is_vip(other));
        assert!(!ix.is_vip("2001:db8::102".parse().unwrap()));
        // An IPv4-mapped form of nothing configured is not a VIP either.
        assert!(!ix.is_vip("::ffff:198.18.0.100".parse().unwrap()));
        assert_eq!(
            key(Protocol::Udp, vip, 53).to_string(),
            "udp [2001:db8::100]:53"
        );
    }
}
