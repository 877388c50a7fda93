//! Neighbour discovery on the IPv6 path, the IPv6 side of `arp.rs` and of the next-hop half of
//! `output.rs`: Neighbor Solicitations for a port address or a VIP are answered in place (a VIP
//! only while this node owns it: VRRP master); every on-link sender of a solicitation and every
//! advertised target is reported to the management thread (`mgmt/nd.rs` keeps the IPv6
//! neighbour table); advertisements and solicitations for other addresses go on to the kernel,
//! whose own resolution may be waiting.
//!
//! A finished packet whose next hop has no MAC yet is dropped (`drop_no_neighbour`) and the
//! next hop reported missing, at most once per [`MISSING_EVERY_MS`] per neighbour: the
//! management thread solicits it, and the sender's retransmission finds it known (IPv4 parks
//! such packets instead; IPv6 clients retransmit a lost SYN after a second just the same).

use super::super::{drop_reason, Engine, Output};
use super::Pkt6;
use crate::lb::forward::ndp::{self, NdpFacts};
use crate::lb::neigh::NeighEvent;
use crate::lb::snapshot6::NextHop6;
use crate::wire::ndp::NdpRepr;
use crate::wire::{Frame, MacAddr};
use crate::worker::counters::{Counter, WorkerTotals};
use std::net::Ipv6Addr;

/// How often one missing next hop is reported again while packets keep asking for it.
pub const MISSING_EVERY_MS: u64 = crate::tunables::ND_MISSING_EVERY_MS;

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
    /// An unknown neighbour drops it and asks the management thread to resolve it.
    #[inline]
    pub(super) fn send6<O: Output<F>>(
        &mut self,
        mut f: F,
        hop: NextHop6,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let Some(mac) = hop.mac else {
            self.missing6(hop);
            return t.inc(Counter::DropNoNeighbour);
        };
        let Some(port) = self.snap.ports.get(usize::from(hop.port)) else {
            return t.inc(Counter::DropBadPort);
        };
        let frame = f.data_mut();
        if frame.len() >= 12 {
            frame[..6].copy_from_slice(&mac);
            frame[6..12].copy_from_slice(&port.mac);
        }
        out.transmit(hop.port, f, t);
    }

    /// Reports a next hop without a MAC (not again for the same one within MISSING_EVERY_MS).
    fn missing6(&mut self, hop: NextHop6) {
        let now = self.now;
        let Some(v6) = self.v6.as_mut() else {
            return;
        };
        let (last, at) = v6.last_missing;
        if last == hop.next_hop && now < at.saturating_add(MISSING_EVERY_MS) {
            return;
        }
        v6.last_missing = (hop.next_hop, now);
        let _ = v6.events.push(NeighEvent::Missing {
            port: hop.port,
            ip: hop.next_hop,
        });
    }
}
