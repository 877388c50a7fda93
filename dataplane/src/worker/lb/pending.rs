//! Packets waiting for their next hop's MAC: a small preallocated queue per worker. The
//! management thread resolves the address by ARP (usually within a few milliseconds) and
//! publishes a new snapshot; the worker then retries. A packet waits at most `WAIT_MS`; a full
//! queue drops the newcomer. Both are counted as `drop_no_neighbour`.

use crate::dpdk::mbuf::Mbuf;
use crate::lb::route::Hop;
use crate::worker::counters::{Counter, WorkerTotals};

/// Packets held at most per worker.
pub const CAPACITY: usize = 64;
/// How long a packet may wait for resolution.
pub const WAIT_MS: u64 = 1000;

pub struct Pending {
    items: Vec<(Mbuf, Hop, u64)>,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            items: Vec::with_capacity(CAPACITY),
        }
    }
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Frees every parked packet (the worker is stopping); returns how many there were.
    pub fn free_all(&mut self) -> usize {
        let n = self.items.len();
        self.items.clear();
        n
    }

    /// Holds `m` until its neighbour is known (never grows past CAPACITY: no allocation).
    #[inline]
    pub fn park(&mut self, m: Mbuf, hop: Hop, now: u64, t: &mut WorkerTotals) {
        if self.items.len() < CAPACITY {
            self.items.push((m, hop, now + WAIT_MS));
        } else {
            t.inc(Counter::DropNoNeighbour);
        }
    }

    /// Offers each parked packet to `send`, which returns it if it still cannot go; packets
    /// past their deadline are dropped.
    pub fn retry(
        &mut self,
        now: u64,
        t: &mut WorkerTotals,
        mut send: impl FnMut(Mbuf, Hop, &mut WorkerTotals) -> Option<Mbuf>,
    ) {
        let mut i = 0;
        while i < self.items.len() {
            let (m, hop, deadline) = self.items.swap_remove(i);
            if let Some(m) = send(m, hop, t) {
                if now >= deadline {
                    t.inc(Counter::DropNoNeighbour);
                    drop(m);
                } else {
                    // Put it back where it was (the swapped-in element moves to the end).
                    self.items.push((m, hop, deadline));
                    let last = self.items.len() - 1;
                    self.items.swap(i, last);
                    i += 1;
                }
            }
        }
    }
}
