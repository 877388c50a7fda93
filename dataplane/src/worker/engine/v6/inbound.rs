//! IPv6 client -> VIP: find the service and the connection (or open one), then forward to the
//! real by NAT66, DR (MAC rewrite) or TUN6 (IPv6-in-IPv6), TUN6 answering ICMPv6 Packet Too Big
//! with the tunnel's MTU when the encapsulated packet would not fit the port.

use super::super::{drop_reason, Engine, Output};
use super::fragments::Frag6Action;
use super::Pkt6;
use crate::lb::conn::{ConnHandle, Direction, InsertError, NewConn};
use crate::lb::forward::{frag6, icmp6_gen, nat66, tun6, ForwardError};
use crate::lb::types::{FlowKey, ForwardMode, Protocol};
use crate::wire::{Frame, TcpFlags};
use crate::worker::counters::{Counter, WorkerTotals};
use std::net::{IpAddr, Ipv6Addr};

impl<F: Frame> Engine<F> {
    /// IPv6 client -> VIP, TCP or UDP.
    pub(super) fn inbound6<O: Output<F>>(
        &mut self,
        f: F,
        p: Pkt6,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let ip = &p.ip;
        let Some(proto) = Protocol::from_ip_proto(ip.proto).filter(|p| *p != Protocol::Icmp) else {
            return t.inc(Counter::DropUnsupported);
        };
        if ip.later {
            return self.later_fragment6(f, p, out, t);
        }
        let Some(si) = self.snap.v6.services.lookup_index(proto, ip.dst, ip.dport) else {
            return t.inc(Counter::DropNoService);
        };
        if let Some(owner) = self.elsewhere6(p.handed, ip.src, ip.sport) {
            self.fragment_owner6(ip, owner);
            return self.hand_off(f, owner, p.port, out, t);
        }
        let Some(v6) = self.v6.as_mut() else {
            return t.inc(Counter::DropUnsupported);
        };
        let mut found = v6
            .conns
            .lookup_in(proto, ip.src, ip.sport, ip.dst, ip.dport);
        if let Some(h) = found {
            // Expired but not yet swept: it is gone, and this packet may start a new one.
            if v6.conns.is_expired(h, self.now) {
                v6.conns.remove(h);
                t.inc(Counter::ConnExpired);
                found = None;
            }
        }
        let handle = match found {
            Some(h) => h,
            // Like IPVS: only a SYN opens a TCP connection.
            None if proto == Protocol::Tcp && ip.tcp_flags & TcpFlags::SYN.0 == 0 => {
                return t.inc(Counter::DropNoConn);
            }
            None => match self.new_conn6(si, proto, &p, t) {
                Some(h) => h,
                None => return,
            },
        };
        let Some(v6) = self.v6.as_mut() else {
            return t.inc(Counter::DropUnsupported);
        };
        v6.conns
            .on_packet(handle, Direction::In, ip.tcp_flags, self.now);
        let Some(c) = v6.conns.get(handle) else {
            return t.inc(Counter::DropNoConn);
        };
        v6.traffic.packet(c.real, true, f.data().len());
        // NAT64: the real is IPv4 (mapped into the entry), the bound port in its template word.
        if let (Some(real4), Some(lport)) = (c.real_addr.to_ipv4_mapped(), c.template) {
            return self.forward_64(f, p, real4, c.rport, lport as u16, out, t);
        }
        if let Some(key) = frag6::Frag6Key::of(ip) {
            let action = Frag6Action::In {
                mode: c.mode,
                real_addr: c.real_addr,
            };
            v6.frags.record(key, action, self.now);
        }
        self.forward_in6(f, p, c.mode, c.real_addr, c.rport, out, t);
    }

    /// Schedules a real for a new connection of IPv6 service `si` and inserts the connection.
    fn new_conn6(
        &mut self,
        si: usize,
        proto: Protocol,
        p: &Pkt6,
        t: &mut WorkerTotals,
    ) -> Option<ConnHandle> {
        let ip = &p.ip;
        let v6 = self.v6.as_mut()?;
        let svc = self.snap.v6.services.get(si)?;
        let key = FlowKey {
            proto,
            src: ip.src,
            dst: ip.dst,
            sport: ip.sport,
            dport: ip.dport,
        };
        let Some(sched) = v6.scheds.get_mut(si) else {
            t.inc(Counter::DropNoReal);
            return None;
        };
        let Some(index) = svc.pick(sched, v6.conns.loads(), &key) else {
            t.inc(Counter::DropNoReal);
            return None;
        };
        let real = &svc.reals[index];
        let mode = real.forward_mode(svc.forward);
        if mode == ForwardMode::Local {
            t.inc(Counter::DropUnsupported);
            return None;
        }
        let rport = real.dst_port(ip.dport);
        // NAT64 (an IPv4 real behind an IPv6 VIP): an IPv4 port of ours bound to the
        // connection (nat64.rs), the real mapped into the entry.
        let (real_addr, template) = match real.addr {
            IpAddr::V6(a) => (a, None),
            IpAddr::V4(a) => {
                let bound = v6.bind64(self.id, self.n_workers, proto, ip.src, ip.sport, a, rport);
                let Some(lport) = bound else {
                    t.inc(Counter::DropNat64PortsFull);
                    return None;
                };
                (a.to_ipv6_mapped(), Some(u32::from(lport)))
            }
        };
        let nc = NewConn {
            proto,
            client: ip.src,
            cport: ip.sport,
            vip: ip.dst,
            vport: ip.dport,
            real: real.id,
            real_addr,
            rport,
            mode,
            template,
        };
        let before = v6.conns.stats();
        match v6.conns.insert_batched(&nc, self.now) {
            Ok(h) => {
                t.inc(Counter::ConnNew);
                v6.traffic.conn(real.id);
                let after = v6.conns.stats();
                t.add(Counter::ConnEvicted, after.evicted - before.evicted);
                t.add(Counter::ConnExpired, after.expired - before.expired);
                Some(h)
            }
            Err(InsertError::Exists(h)) => Some(h),
            Err(_) => {
                t.inc(Counter::ConnRefusedFull);
                None
            }
        }
    }

    /// Forwards a client's IPv6 packet (or fragment) to `real` by `mode`. `rport` is the
    /// real's port (ignored for a later fragment, which has no ports).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_in6<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt6,
        mode: ForwardMode,
        real: Ipv6Addr,
        rport: u16,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let ip = &p.ip;
        let Some(hop) = self.snap.v6.next_hop(real) else {
            return t.inc(Counter::DropNoRoute);
        };
        match mode {
            ForwardMode::Nat => {
                let rewritten = if ip.fragment {
                    frag6::nat66_in_fragment(f.data_mut(), p.l3, real, rport)
                } else {
                    nat66::nat66_in(f.data_mut(), p.l3, real, rport)
                };
                if let Err(e) = rewritten {
                    return t.inc(drop_reason(e));
                }
                t.inc(Counter::NatIn);
            }
            ForwardMode::Dr => t.inc(Counter::DrIn),
            ForwardMode::Tun => {
                let Some(port) = self.snap.ports.get(usize::from(hop.port)) else {
                    return t.inc(Counter::DropBadPort);
                };
                let mtu = port.mtu;
                let inner_len = crate::wire::ipv6::HEADER_LEN + usize::from(ip.payload_len);
                if !tun6::tun6_fits(inner_len, mtu) {
                    return self.too_big6(f, p, mtu, out, t);
                }
                let Some(src) = self.snap.v6.port_addr(hop.port) else {
                    return t.inc(Counter::DropNoRoute);
                };
                if !f.prepend(tun6::ENCAP6_LEN as u16) {
                    return t.inc(Counter::DropNoMbufRoom);
                }
                // RFC 6438: the outer flow label hashes the inner flow (a fragment's datagram:
                // its later fragments have no ports and must take the same path).
                let label = flow_label(ip.src, ip.dst, ip.sport, ip.dport, ip.fragment);
                if let Err(e) = tun6::encapsulate6(f.data_mut(), p.l3, src, real, label) {
                    return t.inc(drop_reason(ForwardError::Wire(e)));
                }
                t.inc(Counter::TunIn);
            }
            // Refused when the connection was made (new_conn6).
            ForwardMode::Local => return t.inc(Counter::DropUnsupported),
        }
        if ip.fragment {
            t.inc(Counter::FragmentsForwarded);
        }
        self.send6(f, hop, out, t);
    }

    /// TUN6: the encapsulated packet would exceed the MTU. IPv6 routers never fragment: tell
    /// the client (ICMPv6 Packet Too Big with the tunnel's inner MTU), within the worker's
    /// ICMP error rate.
    fn too_big6<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt6,
        mtu: u16,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        // From the VIP the client sent to: the address its path MTU cache is keyed by is the
        // destination, and a reply from the VIP passes any stateful filter in front of it.
        let from = p.ip.dst;
        let mtu = tun6::tun6_inner_mtu(mtu);
        let len = match icmp6_gen::packet_too_big_in_place(f.data_mut(), p.l3, from, mtu) {
            Ok(len) => len,
            Err(e) => return t.inc(drop_reason(e)),
        };
        if !self.limits.icmp_errors.take(self.now) {
            return t.inc(Counter::DropIcmpRateLimit);
        }
        let cur = f.data().len();
        if len < cur && !f.trim((cur - len) as u16) {
            return t.inc(Counter::DropMalformed);
        }
        t.inc(Counter::PacketTooBigSent);
        out.transmit(p.port, f, t);
    }

    /// The worker that owns a first fragment's connection: its later fragments (no ports) are
    /// handed there too.
    fn fragment_owner6(&mut self, ip: &crate::wire::Ipv6Facts, owner: usize) {
        if let (Some(key), Some(v6)) = (frag6::Frag6Key::of(ip), self.v6.as_mut()) {
            v6.frags
                .record(key, Frag6Action::HandTo(owner as u16), self.now);
        }
    }
}

/// An outer flow label for TUN6 (20 bits, never 0 so it reads as set): a hash of the inner
/// addresses, and of the ports unless the packet is a fragment.
#[inline]
fn flow_label(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, fragment: bool) -> u32 {
    let (a, b) = (u128::from(src), u128::from(dst));
    let ports = if fragment {
        0
    } else {
        u64::from(sport) << 16 | u64::from(dport)
    };
    let x = (a as u64) ^ ((a >> 64) as u64).rotate_left(17) ^ (b as u64).rotate_left(31);
    let h = crate::lb::family::fmix64(x ^ ((b >> 64) as u64).rotate_left(47) ^ ports);
    ((h >> 44) as u32 & 0xf_ffff).max(1)
}
