//! ICMPv6: echo requests to a port address or a VIP are answered in place; ICMPv6 errors that
//! quote a NAT66 connection are translated both ways (to the real, to the client), so path MTU
//! discovery, which IPv6 cannot do without, works through the load balancer (NAT64's, to an
//! IPv4 real, in `nat64_icmp.rs`).

use super::super::{drop_reason, Engine, Output};
use super::Pkt6;
use crate::lb::forward::{icmp6_gen, icmp6_nat, ForwardError};
use crate::lb::types::ForwardMode;
use crate::wire::Frame;
use crate::worker::counters::{Counter, WorkerTotals};

impl<F: Frame> Engine<F> {
    /// Answers an ICMPv6 echo request in place, out of the port it came in by. One behind
    /// extension headers is the kernel's.
    pub(super) fn echo6<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt6,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        if p.ip.ext_len != 0 {
            return self.ipv6_to_kernel(f, p.l3, p.port, out, t);
        }
        if let Err(e) = icmp6_gen::echo6_reply_in_place(f.data_mut(), p.l3) {
            return t.inc(drop_reason(ForwardError::Wire(e)));
        }
        t.inc(Counter::EchoReplies);
        out.transmit(p.port, f, t);
    }

    /// An ICMPv6 error sent to a VIP: about a reply we sent to a client (NAT66). Goes to the
    /// real.
    pub(super) fn icmp6_error_in<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt6,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let Some(q) = icmp6_nat::quoted_flow6(f.data(), p.l3) else {
            return t.inc(Counter::DropNotForUs);
        };
        // The quoted packet went VIP:vport -> client:cport.
        let (proto, vip, vport, client, cport) = (q.proto, q.src, q.sport, q.dst, q.dport);
        if let Some(owner) = self.elsewhere6(p.handed, client, cport) {
            return self.hand_off(f, owner, p.port, out, t);
        }
        let Some(v6) = self.v6.as_ref() else {
            return t.inc(Counter::DropUnsupported);
        };
        let Some(c) = v6
            .conns
            .lookup_in(proto, client, cport, vip, vport)
            .and_then(|h| v6.conns.get(h))
        else {
            return t.inc(Counter::DropNoConn);
        };
        // NAT64: the real is IPv4 (mapped into the entry), our bound port in its template.
        if let (Some(real4), Some(lport)) = (c.real_addr.to_ipv4_mapped(), c.template) {
            return self.icmp6_error_to_real4(f, p, real4, c.rport, lport as u16, out, t);
        }
        if c.mode != ForwardMode::Nat {
            // DR/TUN reals answer clients themselves: the error is theirs, not ours to relay.
            return t.inc(Counter::DropUnsupported);
        }
        if let Err(e) = icmp6_nat::icmp6_error_to_real(f.data_mut(), p.l3, c.real_addr, c.rport) {
            return t.inc(drop_reason(e));
        }
        t.inc(Counter::IcmpErrorsTranslated);
        self.route_out6(f, c.real_addr, out, t);
    }

    /// An ICMPv6 error from the real side about a packet we forwarded (NAT66). Goes to the
    /// client.
    pub(super) fn icmp6_error_out<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt6,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let Some(q) = icmp6_nat::quoted_flow6(f.data(), p.l3) else {
            return t.inc(Counter::DropNotForUs);
        };
        // The quoted packet went client:cport -> real:rport.
        let (proto, client, cport, real, rport) = (q.proto, q.src, q.sport, q.dst, q.dport);
        if let Some(owner) = self.elsewhere6(p.handed, client, cport) {
            return self.hand_off(f, owner, p.port, out, t);
        }
        let Some(v6) = self.v6.as_ref() else {
            return t.inc(Counter::DropUnsupported);
        };
        let Some(c) = v6
            .conns
            .lookup_out(proto, real, rport, client, cport)
            .and_then(|h| v6.conns.get(h))
        else {
            return t.inc(Counter::DropNotForUs);
        };
        if let Err(e) = icmp6_nat::icmp6_error_to_client(f.data_mut(), p.l3, c.vip, c.vport) {
            return t.inc(drop_reason(e));
        }
        t.inc(Counter::IcmpErrorsTranslated);
        self.route_out6(f, client, out, t);
    }
}
