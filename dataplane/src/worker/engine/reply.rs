//! Real -> client: a NAT reply gets the VIP back as its source (and the virtual port) and
//! leaves by the route to the client.

use super::fragments::{self, FragAction};
use super::{drop_reason, Engine, Output, Pkt};
use crate::lb::conn::{ConnHandle, Direction};
use crate::lb::forward::{frag, nat};
use crate::lb::types::{ForwardMode, Protocol};
use crate::wire::Frame;
use crate::worker::counters::{Counter, WorkerTotals};

impl<F: Frame> Engine<F> {
    /// TCP/UDP not addressed to us: the reply of a NAT connection, or transit we drop.
    pub(super) fn reply<O: Output<F>>(&mut self, f: F, p: Pkt, out: &mut O, t: &mut WorkerTotals) {
        let ip = &p.ip;
        let Some(proto) = Protocol::from_ip_proto(ip.proto) else {
            return t.inc(Counter::DropUnsupported);
        };
        if ip.later {
            return self.later_fragment(f, p, out, t);
        }
        let mask = self.snap.reply_mask(proto, ip.src, ip.sport);
        if let Some(owner) = self.elsewhere(p.handed, ip.dst, ip.dport, mask) {
            self.fragment_owner(ip, owner);
            return self.hand_off(f, owner, p.port, out, t);
        }
        let Some(h) = self
            .conns
            .lookup_out(proto, ip.src, ip.sport, ip.dst, ip.dport)
            .or_else(|| self.conn_from_synack(&p, t))
        else {
            return t.inc(Counter::DropNotForUs);
        };
        self.nat_reply(f, p, h, out, t);
    }

    /// Rewrites the reply of connection `h` (NAT or local) back to its VIP and sends it to the
    /// client.
    pub(super) fn nat_reply<O: Output<F>>(
        &mut self,
        f: F,
        p: Pkt,
        h: ConnHandle,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let ip = &p.ip;
        let Some(mut f) = self.proxy_out(f, h, &p, out, t) else {
            return;
        };
        let before = self.sync_before(h, false);
        self.conns
            .on_packet(h, Direction::Out, ip.tcp_flags, self.now);
        let Some(c) = self.conns.get(h) else {
            return t.inc(Counter::DropNoConn);
        };
        self.sync_after(before, h, &c, t);
        self.traffic.packet(c.real, false, f.data().len());
        let rewritten = if ip.fragment {
            let action = FragAction::Out {
                vip: c.vip,
                real: c.real,
            };
            self.frags.record(fragments::key(ip), action, self.now);
            frag::nat_out_fragment(f.data_mut(), p.l3, c.vip, c.vport)
        } else {
            nat::nat_out(f.data_mut(), p.l3, c.vip, c.vport)
        };
        if let Err(e) = rewritten {
            return t.inc(drop_reason(e));
        }
        if ip.fragment {
            t.inc(Counter::FragmentsForwarded);
        }
        t.inc(match c.mode {
            ForwardMode::Local => Counter::LocalOut,
            _ => Counter::NatOut,
        });
        self.route_out(f, ip.dst, out, t);
    }
}
