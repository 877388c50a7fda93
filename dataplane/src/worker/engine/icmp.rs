//! ICMP: echo requests to a port address or a VIP are answered in place; ICMP errors that
//! quote a NAT connection are translated, both ways (to the real server, to the client); one to
//! the VIP about a local connection goes to the appliance's own kernel.

use super::{drop_reason, Engine, Output, Pkt};
use crate::lb::forward::{icmp_gen, icmp_nat, ForwardError};
use crate::lb::types::ForwardMode;
use crate::wire::Frame;
use crate::worker::counters::{Counter, WorkerTotals};

impl<F: Frame> Engine<F> {
    /// Answers an echo request in place, out of the port it came in by.
    pub(super) fn echo_reply<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        if let Err(e) = icmp_gen::echo_reply_in_place(f.data_mut(), p.l3) {
            return t.inc(drop_reason(ForwardError::Wire(e)));
        }
        t.inc(Counter::EchoReplies);
        out.transmit(p.port, f, t);
    }

    /// An ICMP error sent to a VIP: about a reply we sent to a client (NAT). Goes to the real.
    pub(super) fn icmp_error_in<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let Some(q) = icmp_nat::quoted_flow(f.data(), p.l3) else {
            return t.inc(Counter::DropNotForUs);
        };
        // The quoted packet went VIP:vport -> client:cport.
        let (proto, vip, vport, client, cport) = (q.proto, q.src, q.sport, q.dst, q.dport);
        let mask = self
            .snap
            .services
            .lookup(proto, vip, vport)
            .and_then(|s| s.persistence)
            .map(|p| p.netmask);
        if let Some(owner) = self.elsewhere(p.handed, client, cport, mask) {
            return self.hand_off(f, owner, p.port, out, t);
        }
        let Some(h) = self.conns.lookup_in(proto, client, cport, vip, vport) else {
            return t.inc(Counter::DropNoConn);
        };
        let Some(c) = self.conns.get(h) else {
            return t.inc(Counter::DropNoConn);
        };
        let (mode, real, rport) = (c.mode, c.real_addr, c.rport);
        // The local node's kernel gets it through the exception path (its PMTU, its resets).
        let kernel = match mode {
            ForwardMode::Nat => None,
            ForwardMode::Local => match self.local_kernel_port(p.port, real) {
                Ok(k) => Some(k),
                Err(c) => return t.inc(c),
            },
            ForwardMode::Dr | ForwardMode::Tun => return t.inc(Counter::DropUnsupported),
        };
        if let Err(e) = icmp_nat::icmp_error_to_real(f.data_mut(), p.l3, real, rport) {
            return t.inc(drop_reason(e));
        }
        t.inc(Counter::IcmpErrorsTranslated);
        match kernel {
            Some((port, mac)) => self.give_local_kernel(f, port, mac, out, t),
            None => self.route_out(f, real, out, t),
        }
    }

    /// An ICMP error from the real side about a packet we forwarded (NAT). Goes to the client.
    pub(super) fn icmp_error_out<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let Some(q) = icmp_nat::quoted_flow(f.data(), p.l3) else {
            return t.inc(Counter::DropNotForUs);
        };
        // The quoted packet went client:cport -> real:rport.
        let (proto, client, cport, real, rport) = (q.proto, q.src, q.sport, q.dst, q.dport);
        let mask = self.snap.reply_mask(proto, real, rport);
        if let Some(owner) = self.elsewhere(p.handed, client, cport, mask) {
            return self.hand_off(f, owner, p.port, out, t);
        }
        let Some(h) = self.conns.lookup_out(proto, real, rport, client, cport) else {
            return t.inc(Counter::DropNotForUs);
        };
        let Some(c) = self.conns.get(h) else {
            return t.inc(Counter::DropNoConn);
        };
        if let Err(e) = icmp_nat::icmp_error_to_client(f.data_mut(), p.l3, c.vip, c.vport) {
            return t.inc(drop_reason(e));
        }
        t.inc(Counter::IcmpErrorsTranslated);
        self.route_out(f, client, out, t);
    }
}
