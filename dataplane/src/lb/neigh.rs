//! Neighbours (IP -> MAC), as the workers read them: static entries from the config plus what
//! the management thread learned by ARP (IPv4) or, with issue 11, neighbour discovery (IPv6).
//! One table per address family (IPv4 unless named). Immutable once built; the management thread
//! publishes a new table in a new snapshot when it learns or forgets something.

use std::net::Ipv4Addr;

use super::family::Family;
use super::word_hash::SeededWordMap;

pub type MacBytes = [u8; 6];

#[derive(Clone, Debug)]
pub struct NeighTable<A: Family = Ipv4Addr> {
    /// Keyed by the address's bits, hashed per table seed (entries are learned from ARP).
    map: SeededWordMap<A::Bits, MacBytes>,
}

/// IPv4 only, so that `NeighTable::default()` still names the IPv4 table without annotations;
/// any family: [`NeighTable::empty`].
impl Default for NeighTable {
    fn default() -> Self {
        NeighTable::empty()
    }
}

impl NeighTable {
    /// The IPv4 (ARP) table of `entries`; any family: `collect()` into `NeighTable<A>`.
    pub fn from_entries(entries: impl IntoIterator<Item = (Ipv4Addr, MacBytes)>) -> NeighTable {
        entries.into_iter().collect()
    }
}

impl<A: Family> FromIterator<(A, MacBytes)> for NeighTable<A> {
    fn from_iter<I: IntoIterator<Item = (A, MacBytes)>>(entries: I) -> Self {
        NeighTable {
            map: entries.into_iter().map(|(a, m)| (a.to_bits(), m)).collect(),
        }
    }
}

impl<A: Family> NeighTable<A> {
    /// A table with no entry.
    pub fn empty() -> Self {
        NeighTable {
            map: SeededWordMap::default(),
        }
    }

    #[inline]
    pub fn get(&self, ip: A) -> Option<MacBytes> {
        self.map.get(&ip.to_bits()).copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (A, MacBytes)> + '_ {
        self.map.iter().map(|(b, m)| (A::from_bits(*b), *m))
    }
}

/// What a worker tells the management thread about neighbours, without allocating: a mapping
/// it saw in an ARP (or, for IPv6, ND) packet, or an address it needs and does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighEvent<A = Ipv4Addr> {
    Learned { port: u16, ip: A, mac: MacBytes },
    Missing { port: u16, ip: A },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    const MAC1: MacBytes = [0x02, 0, 0, 0, 0, 1];
    const MAC2: MacBytes = [0x02, 0, 0, 0, 0, 2];

    #[test]
    fn v4_arp_entries() {
        let t = NeighTable::from_entries([
            (Ipv4Addr::new(198, 18, 0, 2), MAC1),
            (Ipv4Addr::new(198, 19, 0, 11), MAC2),
        ]);
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(Ipv4Addr::new(198, 19, 0, 11)), Some(MAC2));
        assert_eq!(t.get(Ipv4Addr::new(198, 19, 0, 12)), None);
        let empty = NeighTable::default();
        assert!(empty.is_empty());
    }

    #[test]
    fn v6_nd_entries() {
        let a: Ipv6Addr = "2001:db8:0:2::11".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:0:2::12".parse().unwrap();
        // A later entry for the same address wins (a newer advert replaces the old MAC).
        let t: NeighTable<Ipv6Addr> = [(a, MAC1), (b, MAC1), (a, MAC2)].into_iter().collect();
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(a), Some(MAC2));
        assert_eq!(t.get(b), Some(MAC1));
        assert_eq!(t.get("2001:db8:0:2::13".parse().unwrap()), None);
        let mut all: Vec<_> = t.iter().collect();
        all.sort();
        assert_eq!(all, vec![(a, MAC2), (b, MAC1)]);
        assert!(NeighTable::<Ipv6Addr>::empty().is_empty());
        let e = NeighEvent::Missing { port: 1, ip: b };
        assert_ne!(
            e,
            NeighEvent::Learned {
                port: 1,
                ip: b,
                mac: MAC1
            }
        );
    }
}
