//! The local node (ipvsadm's `Local`): a real that is the appliance itself, served by the
//! kernel in its own namespace. A client's packet is rewritten as for NAT (VIP:vport ->
//! own address:rport) and given to the kernel behind an exception interface; the kernel's
//! reply comes back through the management thread to worker 0, which hands it to the
//! connection's owner, where it is rewritten back (own address:rport -> VIP:vport) and routed
//! like any NAT reply. The kernel never sees the VIP, so ARP for it stays the workers'.

use super::{drop_reason, fragments, Engine, Output, Pkt};
use crate::lb::forward::{frag, nat};
use crate::lb::neigh::MacBytes;
use crate::lb::route::PortIdx;
use crate::lb::types::Protocol;
use crate::wire::{parse_frame, Frame, Net};
use crate::worker::counters::{Counter, WorkerTotals};
use crate::worker::meta::{self, Kind};
use std::net::Ipv4Addr;

impl<F: Frame> Engine<F> {
    /// Client -> VIP for the local real at `own:rport`: rewritten and given to the kernel.
    pub(super) fn local_in<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt,
        own: Ipv4Addr,
        rport: u16,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let (port, mac) = match self.local_kernel_port(p.port, own) {
            Ok(k) => k,
            Err(c) => return t.inc(c),
        };
        let rewritten = if p.ip.fragment {
            frag::nat_in_fragment(f.data_mut(), p.l3, own, rport)
        } else {
            nat::nat_in(f.data_mut(), p.l3, own, rport)
        };
        if let Err(e) = rewritten {
            return t.inc(drop_reason(e));
        }
        if p.ip.fragment {
            t.inc(Counter::FragmentsForwarded);
        }
        t.inc(Counter::LocalIn);
        self.give_local_kernel(f, port, mac, out, t);
    }

    /// The exception interface (port, MAC) that takes a packet for the local address `own`
    /// which arrived on `arrival`, or the drop reason. The kernel behind the arrival port: its
    /// routes lead back to the client, so a strict reverse-path filter accepts the packet (the
    /// kernel takes any of its addresses on any interface). Without an exception interface
    /// there: the one behind the local address's own port.
    pub(super) fn local_kernel_port(
        &self,
        arrival: PortIdx,
        own: Ipv4Addr,
    ) -> Result<(PortIdx, MacBytes), Counter> {
        let has_tap = |i: PortIdx| {
            self.snap
                .ports
                .get(usize::from(i))
                .is_some_and(|x| x.exception)
        };
        let port = match self.snap.own_port(own) {
            _ if has_tap(arrival) => arrival,
            Some(i) if has_tap(i) => i,
            _ => return Err(Counter::DropNoException),
        };
        match self.snap.ports.get(usize::from(port)) {
            Some(x) => Ok((port, x.mac)),
            None => Err(Counter::DropBadPort),
        }
    }

    /// Gives a rewritten packet to the kernel behind `port` (whose interface has `mac`).
    pub(super) fn give_local_kernel<O: Output<F>>(
        &mut self,
        mut f: F,
        port: PortIdx,
        mac: MacBytes,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        // Addressed to the interface's MAC, or the kernel ignores it as another host's.
        if let Some(dst) = f.data_mut().get_mut(..6) {
            dst.copy_from_slice(&mac);
        }
        out.kernel(port, f, t);
    }

    /// The kernel's output on `port`'s exception interface (worker 0, from the management
    /// thread): a local real's reply goes to its connection's owner (a later fragment follows
    /// its first); everything else (ARP, health checks, ssh, ...) leaves as the kernel made it.
    pub fn from_kernel<O: Output<F>>(
        &mut self,
        f: F,
        port: PortIdx,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let Some(p) = ipv4_pkt(&f, port, false) else {
            return out.transmit(port, f, t);
        };
        if let Some(proto) = self.local_real_source(&p) {
            return self.local_reply(f, p, proto, out, t);
        }
        if self.follows_local_reply(&p) {
            return self.later_fragment(f, p, out, t);
        }
        out.transmit(port, f, t);
    }

    /// A local real's output handed here by worker 0 (tag [`Kind::LocalReply`]).
    pub(super) fn local_reply_handed<O: Output<F>>(
        &mut self,
        f: F,
        port: PortIdx,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let local = ipv4_pkt(&f, port, true).and_then(|p| Some((p, self.local_real_source(&p)?)));
        match local {
            Some((p, proto)) => self.local_reply(f, p, proto, out, t),
            // The snapshot changed on the way (the real was removed): as the kernel made it.
            None => out.transmit(port, f, t),
        }
    }

    /// The protocol, if the packet is TCP/UDP (not a later fragment) from a local real's
    /// address:port.
    fn local_real_source(&self, p: &Pkt) -> Option<Protocol> {
        let ip = &p.ip;
        let proto = Protocol::from_ip_proto(ip.proto).filter(|p| *p != Protocol::Icmp)?;
        (!ip.later && self.snap.is_local_real(proto, ip.src, ip.sport)).then_some(proto)
    }

    /// Is the packet a later fragment of a datagram whose first fragment was a local real's
    /// reply (the fragment table knows it)?
    fn follows_local_reply(&self, p: &Pkt) -> bool {
        p.ip.later
            && self.snap.own_port(p.ip.src).is_some()
            && self.frags.get(&fragments::key(&p.ip), self.now).is_some()
    }

    /// A local real's reply: on its owner, rewritten back to the VIP; one that belongs to no
    /// connection (the kernel answering a client that came to its own address directly) leaves
    /// as it is.
    fn local_reply<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt,
        proto: Protocol,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let ip = &p.ip;
        let mask = self.snap.reply_mask(proto, ip.src, ip.sport);
        if let Some(owner) = self.elsewhere(p.handed, ip.dst, ip.dport, mask) {
            self.fragment_owner(ip, owner);
            f.set_meta(meta::encode(Kind::LocalReply, p.port));
            return out.handoff(owner, f, t);
        }
        match self
            .conns
            .lookup_out(proto, ip.src, ip.sport, ip.dst, ip.dport)
        {
            Some(h) => self.nat_reply(f, p, h, out, t),
            None => out.transmit(p.port, f, t),
        }
    }
}

/// The frame as an IPv4 packet of `port`, if it is one.
#[inline]
fn ipv4_pkt<F: Frame>(f: &F, port: PortIdx, handed: bool) -> Option<Pkt> {
    let parsed = parse_frame(f.data()).ok()?;
    let Net::Ipv4(ip) = parsed.net else {
        return None;
    };
    Some(Pkt {
        l3: parsed.l3,
        ip,
        port,
        handed,
    })
}
