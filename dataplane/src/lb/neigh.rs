//! Neighbours (IPv4 -> MAC), as the workers read them: static entries from the config plus what
//! the management thread learned by ARP. Immutable once built; the management thread publishes a
//! new table in a new snapshot when it learns or forgets something.

use std::collections::HashMap;
use std::net::Ipv4Addr;

pub type MacBytes = [u8; 6];

#[derive(Clone, Debug, Default)]
pub struct NeighTable {
    map: HashMap<Ipv4Addr, MacBytes>,
}

impl NeighTable {
    pub fn from_entries(entries: impl IntoIterator<Item = (Ipv4Addr, MacBytes)>) -> NeighTable {
        NeighTable {
            map: entries.into_iter().collect(),
        }
    }

    #[inline]
    pub fn get(&self, ip: Ipv4Addr) -> Option<MacBytes> {
        self.map.get(&ip).copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Ipv4Addr, &MacBytes)> {
        self.map.iter()
    }
}

/// What a worker tells the management thread about neighbours, without allocating: a mapping
/// it saw in an ARP packet, or an address it needs and does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighEvent {
    Learned {
        port: u16,
        ip: Ipv4Addr,
        mac: MacBytes,
    },
    Missing {
        port: u16,
        ip: Ipv4Addr,
    },
}
