//! Neighbour discovery on the IPv6 path, the IPv6 side of `arp.rs` and of the next-hop half of
//! `output.rs`: Neighbor Solicitations for a port address or a VIP are answered in place (a VIP
//! only while this node owns it: VRRP master); every on-link sender of a solicitation and every
//! advertised target is reported to the management thread (`mgmt/nd.rs` keeps the IPv6
//! neighbour table); advertisements and solicitations for other addresses go on to the kernel,
//! whose own resolution may be waiting.
//!
//! A finished packet whose next hop has no MAC yet waits in the IPv6 path's own wait queue
//! (`Pending<F, Ipv6Addr>`, the same bounds as the ARP queue: `output.rs`) and the next hop is
//! reported missing once while packets wait for it; the management thread solicits it and
//! publishes the answer, and the worker's next loop sends what waited.

use super::super::{drop_reason, Engine, Output};
use super::Pkt6;
use crate::lb::forward::ndp::{self, NdpFacts};
use crate::lb::neigh::NeighEvent;
use crate::lb::route::Hop;
use crate::lb::snapshot6::NextHop6;
use crate::wire::ndp::NdpRepr;
use crate::wire::{Frame, MacAddr};
use crate::worker::counters::{Counter, WorkerTotals};
use std::net::Ipv6Addr;

impl<F: Frame> Engine<F> {
    /// A Neighbor Solicitation or Advertisement received on `p.port`.
    pub(super) fn nd<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt6,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let facts = match ndp::ndp_parse(f.data(), p.l3) {
            Ok(facts) => facts,
            Err(e) => return t.inc(drop_reason(e)),
        };
        self.learn6(&facts, p.port);
        let NdpRepr::Solicit { target, .. } = facts.repr else {
            // An advertisement: the kernel may be resolving the sender itself.
            return self.ipv6_to_kernel(f, p.l3, p.port, out, t);
        };
        let snap = &self.snap;
        let vip = snap.v6.is_vip(target);
        if vip && !snap.ha.active {
            // The VRRP master answers for the VIPs; a backup stays silent.
            return t.inc(Counter::DropHaBackup);
        }
        if !vip && snap.v6.own_port(target).is_none() {
            // The kernel's own addresses (link-local) and other hosts' solicitations.
            return self.ipv6_to_kernel(f, p.l3, p.port, out, t);
        }
        let Some(mac) = snap.ports.get(usize::from(p.port)).map(|p| MacAddr(p.mac)) else {
            return t.inc(Counter::DropBadPort);
        };
        if let Err(e) = ndp::na_answer(&mut f, p.l3, mac) {
            return t.inc(drop_reason(e));
        }
        t.inc(Counter::NdAnswered);
        out.transmit(p.port, f, t);
    }

    /// Reports what an ND message teaches (an on-link neighbour's MAC) to the management
    /// thread; losing an event only delays learning.
    fn learn6(&mut self, facts: &NdpFacts, port: u16) {
        let Some((ip, mac)) = facts.learned() else {
            return;
        };
        let Some(v6) = self.v6.as_ref() else {
            return;
        };
        if self.snap.v6.routes.on_link(ip) {
            let _ = v6.events.push(NeighEvent::Learned {
                port,
                ip,
                mac: mac.0,
            });
        }
    }

    /// Sends a packet towards `dst` by the IPv6 routing table.
    #[inline]
    pub(super) fn route_out6<O: Output<F>>(
        &mut self,
        f: F,
        dst: Ipv6Addr,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let Some(hop) = self.snap.v6.next_hop(dst) else {
            return t.inc(Counter::DropNoRoute);
        };
        self.send6(f, hop, out, t);
    }

    /// Sends a finished packet to its next hop: Ethernet addresses set, out of the hop's port.
    /// An unknown neighbour parks the packet (bounded) and asks the management thread.
    #[inline]
    pub(super) fn send6<O: Output<F>>(
        &mut self,
        f: F,
        hop: NextHop6,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        match hop.mac {
            Some(mac) => transmit_to(&self.snap, f, hop.port, mac, out, t),
            None => self.park6(f, hop, t),
        }
    }

    /// Parks a packet for a next hop without a MAC; the first one parked for it asks the
    /// management thread (a flood adds no events).
    fn park6(&mut self, f: F, hop: NextHop6, t: &mut WorkerTotals) {
        let now = self.now;
        let Some(v6) = self.v6.as_mut() else {
            return t.inc(Counter::DropNoNeighbour);
        };
        let waiting = v6.pending.parked_for(hop.next_hop);
        if waiting == 0 {
            let _ = v6.events.push(NeighEvent::Missing {
                port: hop.port,
                ip: hop.next_hop,
            });
        }
        let hop = Hop {
            port: hop.port,
            next_hop: hop.next_hop,
        };
        v6.pending.park(f, hop, waiting, now, t);
    }

    /// Sends the parked IPv6 packets whose neighbour is now known; drops those that waited
    /// too long (`drop_no_neighbour`). From `Engine::retry_pending`.
    pub(in crate::worker::engine) fn retry_pending6<O: Output<F>>(
        &mut self,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let Some(v6) = self.v6.as_mut() else {
            return;
        };
        let snap = &self.snap;
        v6.pending.retry(self.now, t, |f, hop, t| {
            match snap.v6.neigh.get(hop.next_hop) {
                Some(mac) => {
                    transmit_to(snap, f, hop.port, mac, out, t);
                    None
                }
                None => Some(f),
            }
        });
    }

    /// Packets parked on the IPv6 path (the worker retries while there are any).
    pub fn parked6(&self) -> usize {
        self.v6.as_ref().map_or(0, |v6| v6.pending.len())
    }

    /// Frees the IPv6 path's parked packets (the worker is stopping); returns how many.
    pub(in crate::worker::engine) fn free_parked6(&mut self) -> usize {
        self.v6.as_mut().map_or(0, |v6| v6.pending.free_all())
    }
}

/// Sets the Ethernet addresses (`mac`, then the port's) and sends `f` out of `port`.
#[inline]
fn transmit_to<F: Frame, O: Output<F>>(
    snap: &crate::lb::snapshot::Snapshot,
    mut f: F,
    port: u16,
    mac: [u8; 6],
    out: &mut O,
    t: &mut WorkerTotals,
) {
    let Some(info) = snap.ports.get(usize::from(port)) else {
        return t.inc(Counter::DropBadPort);
    };
    let frame = f.data_mut();
    if frame.len() >= 12 {
        frame[..6].copy_from_slice(&mac);
        frame[6..12].copy_from_slice(&info.mac);
    }
    out.transmit(port, f, t);
}
