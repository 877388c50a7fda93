//! Client -> VIP: find the service and the connection (or open one: scheduling, persistence),
//! then forward to the real server by NAT, DR or TUN — TUN answering "fragmentation needed"
//! when the encapsulated packet would not fit the port's MTU.

use super::admission;
use super::fragments::FragAction;
use super::{drop_reason, Engine, Output, Pkt};
use crate::lb::conn::{ConnHandle, Direction, InsertError, NewConn};
use crate::lb::forward::{frag, icmp_gen, nat, tun};
use crate::lb::route::PortIdx;
use crate::lb::types::{FlowKey, ForwardMode, Protocol};
use crate::wire::{Frame, TcpFlags};
use crate::worker::counters::{Counter, WorkerTotals};
use std::net::Ipv4Addr;

/// Bytes of the outer IPv4 header TUN prepends.
const TUN_OUTER: u16 = 20;

impl<F: Frame> Engine<F> {
    /// Client -> VIP, TCP or UDP.
    pub(super) fn inbound<O: Output<F>>(
        &mut self,
        f: F,
        p: Pkt,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let ip = &p.ip;
        let Some(proto) = Protocol::from_ip_proto(ip.proto).filter(|p| *p != Protocol::Icmp) else {
            return t.inc(Counter::DropUnsupported);
        };
        if ip.later {
            return self.later_fragment(f, p, out, t);
        }
        let Some(si) = self.snap.services.lookup_index(proto, ip.dst, ip.dport) else {
            return t.inc(Counter::DropNoService);
        };
        let mask = self.snap.services.services()[si]
            .persistence
            .map(|p| p.netmask);
        // SYN-flood defence: decided here, before any handoff (synproxy.rs).
        let Some(f) = self.syn_guard(f, &p, si, out, t) else {
            return;
        };
        if let Some(owner) = self.elsewhere(p.handed, ip.src, ip.sport, mask) {
            self.fragment_owner(ip, owner);
            return self.hand_off(f, owner, p.port, out, t);
        }
        let mut found = self
            .conns
            .lookup_in(proto, ip.src, ip.sport, ip.dst, ip.dport);
        if let Some(h) = found {
            // Expired but not yet swept: it is gone, and this packet may start a new one.
            if self.conns.is_expired(h, self.now) {
                self.conns.remove(h);
                t.inc(Counter::ConnExpired);
                found = None;
            }
        }
        // `from_ack`: created by a handshake's ACK, already accounted as its SYN (synproxy.rs).
        let (f, handle, from_ack) = match found {
            Some(h) => (f, h, false),
            None => {
                // Like IPVS: only a SYN opens a TCP connection (or, with the SYN-flood
                // defence, the handshake's ACK: synproxy.rs).
                if proto == Protocol::Tcp && ip.tcp_flags & TcpFlags::SYN.0 == 0 {
                    match self.conn_from_ack(f, &p, si, out, t) {
                        Some((f, h)) => (f, h, true),
                        None => return,
                    }
                } else {
                    match self.new_conn(si, proto, &p, t) {
                        Some(h) => (f, h, false),
                        None => return,
                    }
                }
            }
        };
        let Some(f) = self.proxy_in(f, handle, &p, t) else {
            return;
        };
        let before = self.sync_before(handle, found.is_none());
        if !from_ack {
            self.conns
                .on_packet(handle, Direction::In, ip.tcp_flags, self.now);
        }
        let Some(c) = self.conns.get(handle) else {
            return t.inc(Counter::DropNoConn);
        };
        self.sync_after(before, handle, &c, t);
        self.traffic.packet(c.real, true, f.data().len());
        if ip.fragment {
            let action = FragAction::In {
                mode: c.mode,
                real_addr: c.real_addr,
                real: c.real,
            };
            self.frags
                .record(super::fragments::key(ip), action, self.now);
        }
        self.forward_in(f, p, c.mode, c.real_addr, c.rport, out, t);
    }

    /// Schedules a real for a new connection of service `si` and inserts the connection.
    pub(super) fn new_conn(
        &mut self,
        si: usize,
        proto: Protocol,
        p: &Pkt,
        t: &mut WorkerTotals,
    ) -> Option<ConnHandle> {
        let ip = &p.ip;
        if !self.admit(si, ip.src, t) {
            return None;
        }
        let masked = self.mark_overloaded(si, t);
        let svc = &self.snap.services.services()[si];
        let key = FlowKey {
            proto,
            src: ip.src,
            dst: ip.dst,
            sport: ip.sport,
            dport: ip.dport,
        };
        let Some(s) = self.persist.schedule_among(
            svc,
            if masked {
                &self.admission.masked
            } else {
                &svc.reals
            },
            &mut self.scheds[si],
            self.conns.loads(),
            &key,
            self.now,
        ) else {
            t.inc(admission::no_real_reason(svc, masked));
            return None;
        };
        let real = &svc.reals[s.index];
        let nc = NewConn {
            proto,
            client: ip.src,
            cport: ip.sport,
            vip: ip.dst,
            vport: ip.dport,
            real: real.id,
            real_addr: real.addr,
            rport: real.dst_port(ip.dport),
            mode: real.forward_mode(svc.forward),
            template: s.template.map(|r| r.to_raw()),
        };
        let before = self.conns.stats();
        match self.conns.insert_batched(&nc, self.now) {
            Ok(h) => {
                t.inc(Counter::ConnNew);
                // A full table made room: one connection evicted, or one past its expiry reaped.
                let after = self.conns.stats();
                t.add(Counter::ConnEvicted, after.evicted - before.evicted);
                t.add(Counter::ConnExpired, after.expired - before.expired);
                self.traffic.conn(real.id);
                Some(h)
            }
            Err(InsertError::Exists(h)) => Some(h),
            Err(_) => {
                if let Some(r) = s.template {
                    self.persist.release(r, real.id, self.now);
                }
                t.inc(Counter::ConnRefusedFull);
                None
            }
        }
    }

    /// Forwards a client's packet (or fragment) to `real` by `mode`. `rport` is the real's
    /// port (ignored for a later fragment, which has no ports).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_in<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt,
        mode: ForwardMode,
        real: Ipv4Addr,
        rport: u16,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let ip = &p.ip;
        // The local node needs no route: its packets go to the kernel behind the exception path.
        if mode == ForwardMode::Local {
            return self.local_in(f, p, real, rport, out, t);
        }
        let Some(hop) = self.snap.routes.lookup(real) else {
            return t.inc(Counter::DropNoRoute);
        };
        match mode {
            ForwardMode::Nat => {
                let rewritten = if ip.fragment {
                    frag::nat_in_fragment(f.data_mut(), p.l3, real, rport)
                } else {
                    nat::nat_in(f.data_mut(), p.l3, real, rport)
                };
                if let Err(e) = rewritten {
                    return t.inc(drop_reason(e));
                }
                t.inc(Counter::NatIn);
            }
            ForwardMode::Dr => t.inc(Counter::DrIn),
            // Taken above, before the route lookup; the same call, for an exhaustive match.
            ForwardMode::Local => return self.local_in(f, p, real, rport, out, t),
            ForwardMode::Tun => {
                let Some(port) = self.snap.ports.get(usize::from(hop.port)) else {
                    return t.inc(Counter::DropBadPort);
                };
                let mtu = port.mtu;
                if !tun::tun_fits(ip.total_len, mtu) {
                    return self.too_big(f, p, mtu, out, t);
                }
                let Some((src, _)) = port.ip else {
                    return t.inc(Counter::DropNoRoute);
                };
                if !f.prepend(TUN_OUTER) {
                    return t.inc(Counter::DropNoMbufRoom);
                }
                // A fragment's outer header carries its own identification (the datagram's).
                let ident = if ip.fragment {
                    ip.ident
                } else {
                    (self.now as u16) ^ (ip.sport.rotate_left(3)) ^ ip.dport
                };
                if let Err(e) = tun::encapsulate(f.data_mut(), p.l3, src, real, ident) {
                    return t.inc(drop_reason(e.into()));
                }
                t.inc(Counter::TunIn);
            }
        }
        if ip.fragment {
            t.inc(Counter::FragmentsForwarded);
        }
        self.send(f, hop, out, t);
    }

    /// TUN: the encapsulated packet would exceed the MTU. With DF set, tell the client
    /// (ICMP fragmentation needed, with room for the outer header); without, drop.
    fn too_big<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt,
        mtu: u16,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let in_port: PortIdx = p.port;
        let Some((our_ip, _)) = self.snap.ports.get(usize::from(in_port)).and_then(|p| p.ip) else {
            return t.inc(Counter::DropTooBig);
        };
        if !p.ip.dont_frag {
            return t.inc(Counter::DropTooBig);
        }
        let next_hop_mtu = mtu.saturating_sub(TUN_OUTER);
        let len = match icmp_gen::frag_needed_in_place(f.data_mut(), p.l3, our_ip, next_hop_mtu) {
            Ok(len) => len,
            Err(e) => return t.inc(drop_reason(e)),
        };
        // Built (so the packet was answerable), but sent only within the worker's ICMP rate.
        if !self.limits.icmp_errors.take(self.now) {
            return t.inc(Counter::DropIcmpRateLimit);
        }
        let cur = f.data().len();
        if len < cur && !f.trim((cur - len) as u16) {
            return t.inc(Counter::DropMalformed);
        }
        t.inc(Counter::FragNeededSent);
        out.transmit(in_port, f, t);
    }
}
