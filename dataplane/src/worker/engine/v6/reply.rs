//! IPv6 real -> client: a NAT66 reply gets the VIP back as its source (and the virtual port)
//! and leaves by the route to the client.

use super::super::{drop_reason, Engine, Output};
use super::fragments::Frag6Action;
use super::Pkt6;
use crate::lb::conn::Direction;
use crate::lb::forward::frag6::{self, Frag6Key};
use crate::lb::forward::nat66;
use crate::lb::types::Protocol;
use crate::wire::Frame;
use crate::worker::counters::{Counter, WorkerTotals};

impl<F: Frame> Engine<F> {
    /// IPv6 TCP/UDP not addressed to us: the reply of a NAT66 connection, or transit we drop.
    pub(super) fn reply6<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt6,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let ip = &p.ip;
        let Some(proto) = Protocol::from_ip_proto(ip.proto) else {
            return t.inc(Counter::DropUnsupported);
        };
        if ip.later {
            return self.later_fragment6(f, p, out, t);
        }
        if let Some(owner) = self.elsewhere6(p.handed, ip.dst, ip.dport) {
            if let (Some(key), Some(v6)) = (Frag6Key::of(ip), self.v6.as_mut()) {
                v6.frags
                    .record(key, Frag6Action::HandTo(owner as u16), self.now);
            }
            return self.hand_off(f, owner, p.port, out, t);
        }
        let Some(v6) = self.v6.as_mut() else {
            return t.inc(Counter::DropUnsupported);
        };
        let Some(h) = v6
            .conns
            .lookup_out(proto, ip.src, ip.sport, ip.dst, ip.dport)
        else {
            return t.inc(Counter::DropNotForUs);
        };
        v6.conns
            .on_packet(h, Direction::Out, ip.tcp_flags, self.now);
        let Some(c) = v6.conns.get(h) else {
            return t.inc(Counter::DropNoConn);
        };
        v6.traffic.packet(c.real, false, f.data().len());
        let rewritten = match Frag6Key::of(ip) {
            Some(key) => {
                v6.frags
                    .record(key, Frag6Action::Out { vip: c.vip }, self.now);
                frag6::nat66_out_fragment(f.data_mut(), p.l3, c.vip, c.vport)
            }
            None => nat66::nat66_out(f.data_mut(), p.l3, c.vip, c.vport),
        };
        if let Err(e) = rewritten {
            return t.inc(drop_reason(e));
        }
        if ip.fragment {
            t.inc(Counter::FragmentsForwarded);
        }
        t.inc(Counter::NatOut);
        self.route_out6(f, ip.dst, out, t);
    }
}
