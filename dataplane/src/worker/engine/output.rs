//! Where the engine's packets go. [`Output`] is what the engine sends into: a port, another
//! worker, the kernel (the DPDK worker implements it with TX bursts and rte_rings; the
//! simulation with vectors). Before a packet leaves by a port, its next hop's MAC is looked up;
//! an unknown neighbour parks the packet in [`Pending`], a small preallocated queue, and asks
//! the management thread to resolve it (ARP, usually within a few milliseconds, then a new
//! snapshot; the worker retries). A packet waits at most [`WAIT_MS`] (then `drop_no_neighbour`);
//! a full queue, or one already holding [`PER_HOP`] packets for the same next hop, drops the
//! newcomer (`drop_neighbour_queue_full`): a flood towards a neighbour that never answers holds
//! a bounded number of mbufs and leaves room for the others.

use super::Engine;
use crate::lb::neigh::NeighEvent;
use crate::lb::route::{Hop, PortIdx};
use crate::wire::Frame;
use crate::worker::counters::{Counter, WorkerTotals};
use crate::worker::meta::{self, Kind};
use std::net::Ipv4Addr;

pub use crate::tunables::{
    PENDING_PACKETS as CAPACITY, PENDING_PER_HOP as PER_HOP, PENDING_WAIT_MS as WAIT_MS,
};

/// Where the engine sends finished packets. Each call owns the packet from then on: it is
/// sent, queued, or dropped and counted by the implementation.
pub trait Output<F> {
    /// Out of `port` (Ethernet addresses already set).
    fn transmit(&mut self, port: PortIdx, f: F, t: &mut WorkerTotals);
    /// To worker `w`, tagged by the caller with what `w` must do with it.
    fn handoff(&mut self, w: usize, f: F, t: &mut WorkerTotals);
    /// To the kernel behind `port`'s exception interface.
    fn kernel(&mut self, port: PortIdx, f: F, t: &mut WorkerTotals);
}

/// Packets waiting for their next hop's MAC (next hops of family `A`: IPv4 unless named; the
/// IPv6 path keeps its own queue, `v6/nd.rs`).
pub struct Pending<F, A = Ipv4Addr> {
    items: Vec<(F, Hop<A>, u64)>,
}

impl<F, A> Default for Pending<F, A> {
    fn default() -> Self {
        Pending {
            items: Vec::with_capacity(CAPACITY),
        }
    }
}

impl<F, A: Copy + PartialEq> Pending<F, A> {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Frees every parked packet (the worker is stopping); returns how many there were.
    pub fn free_all(&mut self) -> usize {
        let n = self.items.len();
        self.items.clear();
        n
    }

    /// Packets parked for `next_hop` (a bounded scan of at most CAPACITY entries, on the
    /// unresolved path only).
    pub fn parked_for(&self, next_hop: A) -> usize {
        self.items
            .iter()
            .filter(|(_, h, _)| h.next_hop == next_hop)
            .count()
    }

    /// Holds `f` until its neighbour is known (never grows past CAPACITY: no allocation),
    /// unless the queue is full or already holds PER_HOP packets for this next hop (`waiting`,
    /// from [`Pending::parked_for`]).
    #[inline]
    pub fn park(&mut self, f: F, hop: Hop<A>, waiting: usize, now: u64, t: &mut WorkerTotals) {
        if self.items.len() < CAPACITY && waiting < PER_HOP {
            self.items.push((f, hop, now + WAIT_MS));
        } else {
            t.inc(Counter::DropNeighbourQueueFull);
        }
    }

    /// Offers each parked packet to `send`, which returns it if it still cannot go; packets
    /// past their deadline are dropped.
    pub fn retry(
        &mut self,
        now: u64,
        t: &mut WorkerTotals,
        mut send: impl FnMut(F, Hop<A>, &mut WorkerTotals) -> Option<F>,
    ) {
        let mut i = 0;
        while i < self.items.len() {
            let (f, hop, deadline) = self.items.swap_remove(i);
            if let Some(f) = send(f, hop, t) {
                if now >= deadline {
                    t.inc(Counter::DropNoNeighbour);
                    drop(f);
                } else {
                    // Put it back where it was (the swapped-in element moves to the end).
                    self.items.push((f, hop, deadline));
                    let last = self.items.len() - 1;
                    self.items.swap(i, last);
                    i += 1;
                }
            }
        }
    }
}

impl<F: Frame> Engine<F> {
    /// Sends a packet towards `dst` by the routing table.
    #[inline]
    pub(super) fn route_out<O: Output<F>>(
        &mut self,
        f: F,
        dst: Ipv4Addr,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let Some(hop) = self.snap.routes.lookup(dst) else {
            return t.inc(Counter::DropNoRoute);
        };
        self.send(f, hop, out, t);
    }

    /// Sends a finished packet to its next hop: Ethernet addresses set, out of the hop's port.
    /// An unknown neighbour parks the packet (bounded) and asks the management thread.
    #[inline]
    pub(super) fn send<O: Output<F>>(
        &mut self,
        mut f: F,
        hop: Hop,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        match self.snap.neigh.get(hop.next_hop) {
            Some(mac) => {
                let Some(port) = self.snap.ports.get(usize::from(hop.port)) else {
                    return t.inc(Counter::DropBadPort);
                };
                set_macs(f.data_mut(), mac, port.mac);
                out.transmit(hop.port, f, t);
            }
            None => {
                // One request per waiting neighbour: while packets are parked for it, the
                // management thread has been asked already (a flood adds no events).
                let waiting = self.pending.parked_for(hop.next_hop);
                if waiting == 0 {
                    let _ = self.events.push(NeighEvent::Missing {
                        port: hop.port,
                        ip: hop.next_hop,
                    });
                }
                self.pending.park(f, hop, waiting, self.now, t);
            }
        }
    }

    /// Hands a packet to the worker that owns its connection, tagged "process; arrived on
    /// `port`".
    #[inline]
    pub(super) fn hand_off<O: Output<F>>(
        &mut self,
        mut f: F,
        owner: usize,
        port: PortIdx,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        f.set_meta(meta::encode(Kind::Process, port));
        out.handoff(owner, f, t);
    }

    /// To the kernel behind `port`, if it has an exception interface, within the worker's
    /// exception-path rate.
    pub(super) fn deliver_to_kernel<O: Output<F>>(
        &mut self,
        f: F,
        port: PortIdx,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        if !self
            .snap
            .ports
            .get(usize::from(port))
            .is_some_and(|p| p.exception)
        {
            return t.inc(Counter::DropNoException);
        }
        if !self.limits.exception.take(self.now) {
            return t.inc(Counter::DropExceptionRateLimit);
        }
        out.kernel(port, f, t);
    }

    /// Packets parked for a neighbour, both families: while there are any, the worker calls
    /// [`Engine::retry_pending`] every loop.
    pub fn parked(&self) -> usize {
        self.pending.len() + self.parked6()
    }

    /// Sends the parked packets whose neighbour is now known; drops those that waited too long.
    pub fn retry_pending<O: Output<F>>(&mut self, out: &mut O, t: &mut WorkerTotals) {
        self.retry_pending6(out, t);
        let snap = &self.snap;
        self.pending.retry(self.now, t, |mut f, hop, t| {
            match snap.neigh.get(hop.next_hop) {
                Some(mac) => {
                    match snap.ports.get(usize::from(hop.port)) {
                        Some(port) => {
                            set_macs(f.data_mut(), mac, port.mac);
                            out.transmit(hop.port, f, t);
                        }
                        None => t.inc(Counter::DropBadPort),
                    }
                    None
                }
                None => Some(f),
            }
        });
    }
}

#[inline]
fn set_macs(frame: &mut [u8], dst: [u8; 6], src: [u8; 6]) {
    if frame.len() >= 12 {
        frame[..6].copy_from_slice(&dst);
        frame[6..12].copy_from_slice(&src);
    }
}
