//! ARP: requests for a port address, a VIP or a floating address are answered in place (the
//! last two only while this node owns them: VRRP master, docs/ha.md); every on-link sender is
//! reported to the management thread (which keeps the neighbour table); replies and anything
//! else go to the kernel, whose own ARP may be waiting.

use super::{drop_reason, Engine, Output};
use crate::lb::forward::{arp as farp, ForwardError};
use crate::lb::neigh::NeighEvent;
use crate::lb::route::PortIdx;
use crate::wire::arp::arp_op;
use crate::wire::{ArpFacts, Frame, MacAddr};
use crate::worker::counters::{Counter, WorkerTotals};

impl<F: Frame> Engine<F> {
    pub(super) fn arp<O: Output<F>>(
        &mut self,
        mut f: F,
        l3: usize,
        a: ArpFacts,
        port: PortIdx,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let snap = &self.snap;
        if snap.routes.on_link(a.sender_ip) && !a.sender_ip.is_unspecified() {
            // Losing an event only delays learning; the management thread also asks on its own.
            let _ = self.events.push(NeighEvent::Learned {
                port,
                ip: a.sender_ip,
                mac: a.sender_mac.0,
            });
        }
        if a.operation != arp_op::REQUEST {
            return self.deliver_to_kernel(f, port, out, t);
        }
        let floating = snap.services.is_vip(a.target_ip) || snap.ha.is_floating(a.target_ip);
        if floating && !snap.ha.active {
            // The VRRP master answers for these; a backup stays silent.
            return t.inc(Counter::DropHaBackup);
        }
        if !floating && snap.own_port(a.target_ip).is_none() {
            return t.inc(Counter::DropNotForUs);
        }
        if a.is_gratuitous() {
            // Another host announcing one of our addresses (a scale-out peer announcing the VIP
            // all of them hold, a VRRP peer taking over): nothing to answer, and not malformed.
            return t.inc(Counter::DropNotForUs);
        }
        let Some(mac) = snap.ports.get(usize::from(port)).map(|p| MacAddr(p.mac)) else {
            return t.inc(Counter::DropBadPort);
        };
        if let Err(e) = farp::arp_reply_in_place(f.data_mut(), l3, mac) {
            return t.inc(drop_reason(ForwardError::Wire(e)));
        }
        t.inc(Counter::ArpReplies);
        out.transmit(port, f, t);
    }
}
