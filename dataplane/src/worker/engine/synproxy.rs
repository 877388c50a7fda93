//! SYN-flood defence, decided on the worker that received the SYN (spoofed SYNs never cross a
//! handoff ring) from the service's policy in the snapshot (config/syn_proxy.rs):
//!
//! - NAT services: a SYN proxy with SYN cookies (lb/syncookie.rs). The SYN is answered here
//!   with a SYN-ACK whose sequence number is the cookie; no state is kept. The client's ACK
//!   (on the flow's owner) is checked against the snapshot's secrets; a valid one creates the
//!   connection, marked opening, and becomes the SYN to the real (the client's ISN, the MSS
//!   and SACK-permitted the cookie kept). The real's SYN-ACK is answered with the ACK that
//!   completes its side, and from then on every packet is shifted between the two halves
//!   (lb/forward/synproxy.rs). Client packets that arrive while the real side opens are dropped
//!   (the client retransmits them, as with DPVS); a real's reset then resets the client.
//! - DR/TUN services: a SYN creates no connection; it goes to the real a Maglev table picks
//!   from the client's address and port. The handshake's ACK, finding no connection, creates
//!   it with the same pick, so it reaches the same real.

use super::{drop_reason, Engine, Output, Pkt};
use crate::config::Defence;
use crate::lb::conn::{ConnHandle, Direction, InsertError, NewConn, ProxySeq};
use crate::lb::forward::synproxy::{self, Segment};
use crate::lb::sched::Scheduler;
use crate::lb::syncookie::{self, CookieFlow, CookieOptions, MSS_TABLE};
use crate::lb::types::{ForwardMode, Protocol};
use crate::tunables::{SYN_PROXY_MSS, SYN_PROXY_WINDOW};
use crate::wire::{ip_proto, Frame, TcpFlags};
use crate::worker::counters::{Counter, WorkerTotals};

const SYN: u8 = TcpFlags::SYN.0;
const ACK: u8 = TcpFlags::ACK.0;
const RST: u8 = TcpFlags::RST.0;
const FIN: u8 = TcpFlags::FIN.0;

impl<F: Frame> Engine<F> {
    /// Inbound hook, before the owner handoff: a SYN to service `si` whose defence is active on
    /// this worker is answered (cookie) or forwarded (stateless) here. Returns the frame when
    /// it is not taken.
    #[inline]
    pub(super) fn syn_guard<O: Output<F>>(
        &mut self,
        f: F,
        p: &Pkt,
        si: usize,
        out: &mut O,
        t: &mut WorkerTotals,
    ) -> Option<F> {
        let ip = &p.ip;
        if ip.proto != ip_proto::TCP || ip.tcp_flags & (SYN | ACK | RST | FIN) != SYN || ip.fragment
        {
            return Some(f);
        }
        let Some(policy) = self.snap.syn_policies.get(si) else {
            return Some(f);
        };
        if !policy.active(self.conns.half_open()) {
            return Some(f);
        }
        // A client the service's acl refuses gets no cookie (and no stateless SYN) either.
        if policy.defence != Defence::None && !self.acl_admits(si, ip.src, t) {
            return None;
        }
        match policy.defence {
            Defence::Proxy => self.answer_with_cookie(f, p, out, t),
            Defence::Stateless => self.stateless_syn(f, p, si, out, t),
            Defence::None => return Some(f),
        }
        None
    }

    /// The cookie SYN-ACK, built in the SYN's buffer and sent back to the client.
    fn answer_with_cookie<O: Output<F>>(
        &mut self,
        mut f: F,
        p: &Pkt,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let ip = &p.ip;
        let syn = match synproxy::read(f.data_mut(), p.l3) {
            Ok(s) => s,
            Err(e) => return t.inc(drop_reason(e)),
        };
        let kept = CookieOptions {
            mss: MSS_TABLE[usize::from(syncookie::mss_index(syn.options.mss))],
            sack_permitted: syn.options.sack_permitted,
        };
        let flow = CookieFlow {
            client: ip.src,
            cport: ip.sport,
            vip: ip.dst,
            vport: ip.dport,
            client_isn: syn.seq,
        };
        let cookie = syncookie::make(&self.snap.cookie_secrets, &flow, kept, self.now);
        let mtu = self
            .snap
            .ports
            .get(usize::from(p.port))
            .map_or(1500, |port| port.mtu);
        let seg = Segment {
            src: ip.dst,
            dst: ip.src,
            sport: ip.dport,
            dport: ip.sport,
            seq: cookie,
            ack: syn.seq.wrapping_add(1),
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: SYN_PROXY_WINDOW,
            options: Some((
                SYN_PROXY_MSS.min(mtu.saturating_sub(40)),
                kept.sack_permitted,
            )),
        };
        if let Err(c) = rewrite_as(&mut f, p.l3, &seg) {
            return t.inc(c);
        }
        t.inc(Counter::SynCookiesSent);
        self.route_out(f, ip.src, out, t);
    }

    /// A stateless SYN: to the real the service's stateless table picks, no connection.
    fn stateless_syn<O: Output<F>>(
        &mut self,
        f: F,
        p: &Pkt,
        si: usize,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let Some((mode, addr, rport, _)) = self.stateless_real(si, p) else {
            return t.inc(Counter::DropNoReal);
        };
        t.inc(Counter::SynStateless);
        self.forward_in(f, *p, mode, addr, rport, out, t);
    }

    /// The real a stateless SYN (and its ACK) of service `si` goes to: (mode, address, port,
    /// index in the service's reals).
    fn stateless_real(
        &self,
        si: usize,
        p: &Pkt,
    ) -> Option<(ForwardMode, std::net::Ipv4Addr, u16, usize)> {
        let svc = self.snap.services.services().get(si)?;
        let i = match self.scheds.get(si) {
            // A Maglev service picks by its own table and key (the client address), so a
            // stateless SYN, its ACK and a flow that ECMP moved here from another appliance
            // (sloppy TCP) all reach the real that every appliance with the same reals picks.
            Some(Scheduler::Mh(mh)) => mh.pick_key(&svc.reals, u64::from(u32::from(p.ip.src)))?,
            _ => {
                let table = self.snap.syn_tables.get(si)?.as_ref()?;
                let key = (u64::from(u32::from(p.ip.src)) << 16) | u64::from(p.ip.sport);
                table.pick_key(&svc.reals, key)?
            }
        };
        let r = svc.reals.get(i)?;
        Some((
            r.forward_mode(svc.forward),
            r.addr,
            r.dst_port(p.ip.dport),
            i,
        ))
    }

    /// Inbound hook for a TCP packet without SYN that found no connection (on the flow's
    /// owner): the handshake's ACK of a cookie (NAT) or of a stateless SYN (DR/TUN). Returns
    /// the frame and a new connection to forward it on, or `None` when the packet was taken
    /// (sent as the SYN to the real, or dropped and counted).
    pub(super) fn conn_from_ack<O: Output<F>>(
        &mut self,
        mut f: F,
        p: &Pkt,
        si: usize,
        out: &mut O,
        t: &mut WorkerTotals,
    ) -> Option<(F, ConnHandle)> {
        let policy = self.snap.syn_policies.get(si).copied();
        let pure_ack = p.ip.tcp_flags & (ACK | RST | SYN | FIN) == ACK;
        match policy {
            Some(pol) if pure_ack && pol.mode != crate::config::SynProxyMode::Off => {
                match pol.defence {
                    // Sloppy TCP (sloppy.rs): only an ACK that is not a cookie's is a moved flow.
                    Defence::Proxy if self.sloppy(si) && !self.acks_a_cookie(&mut f, p) => {
                        self.no_conn_or_sloppy(f, p, si, t)
                    }
                    Defence::Proxy => {
                        self.cookie_ack(f, p, si, out, t);
                        None
                    }
                    Defence::Stateless => self.stateless_ack(f, p, si, t),
                    Defence::None => self.no_conn_or_sloppy(f, p, si, t),
                }
            }
            _ => self.no_conn_or_sloppy(f, p, si, t),
        }
    }

    /// The client's ACK of a cookie: checked, then the connection is created and the ACK
    /// becomes the SYN to the real.
    fn cookie_ack<O: Output<F>>(
        &mut self,
        mut f: F,
        p: &Pkt,
        si: usize,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let ip = &p.ip;
        let ack = match synproxy::read(f.data_mut(), p.l3) {
            Ok(s) => s,
            Err(e) => return t.inc(drop_reason(e)),
        };
        let client_isn = ack.seq.wrapping_sub(1);
        let flow = CookieFlow {
            client: ip.src,
            cport: ip.sport,
            vip: ip.dst,
            vport: ip.dport,
            client_isn,
        };
        let cookie = ack.ack.wrapping_sub(1);
        let Some(kept) = syncookie::check(&self.snap.cookie_secrets, &flow, cookie, self.now)
        else {
            // While the proxy does not act here, an ACK of no connection is what it always
            // was (its cookie may still come from a worker that did act: checked above).
            let active = self
                .snap
                .syn_policies
                .get(si)
                .is_some_and(|pol| pol.active(self.conns.half_open()));
            return t.inc(if active {
                Counter::DropBadCookie
            } else {
                Counter::DropNoConn
            });
        };
        let Some(h) = self.new_conn(si, Protocol::Tcp, p, t) else {
            return;
        };
        let Some(c) = self.conns.get(h) else {
            return t.inc(Counter::DropNoConn);
        };
        if c.mode != ForwardMode::Nat {
            // The scheduler picked a real that is not NAT (a reload changed it since the SYN):
            // it cannot be proxied; the client's retransmitted SYN will open normally.
            self.conns.remove(h);
            return t.inc(Counter::DropProxyOpening);
        }
        self.conns.on_packet(h, Direction::In, SYN, self.now);
        self.conns.proxy_opening(h, cookie);
        t.inc(Counter::SynCookieAcks);
        let seg = Segment {
            src: ip.src,
            dst: ip.dst,
            sport: ip.sport,
            dport: ip.dport,
            seq: client_isn,
            ack: 0,
            flags: TcpFlags::SYN,
            window: ack.window,
            options: Some((kept.mss, kept.sack_permitted)),
        };
        if let Err(e) = rewrite_as(&mut f, p.l3, &seg) {
            return t.inc(e);
        }
        self.traffic.packet(c.real, true, f.data().len());
        self.forward_in(f, *p, c.mode, c.real_addr, c.rport, out, t);
    }

    /// The ACK of a stateless SYN: the connection is created on the real the SYN went to, as
    /// if it had seen the SYN. It stays half-open (SYN_RECV) until the client's next packet:
    /// an ACK flood creates only evictable, short-lived entries that count as SYN pressure,
    /// while a real client's first data makes its connection established.
    fn stateless_ack(
        &mut self,
        f: F,
        p: &Pkt,
        si: usize,
        t: &mut WorkerTotals,
    ) -> Option<(F, ConnHandle)> {
        let ip = &p.ip;
        let Some((mode, real_addr, rport, i)) = self.stateless_real(si, p) else {
            t.inc(Counter::DropNoReal);
            return None;
        };
        let real = self.snap.services.services()[si].reals[i].id;
        let nc = NewConn {
            proto: Protocol::Tcp,
            client: ip.src,
            cport: ip.sport,
            vip: ip.dst,
            vport: ip.dport,
            real,
            real_addr,
            rport,
            mode,
            template: None,
        };
        let h = match self.conns.insert(&nc, self.now) {
            Ok(h) => h,
            Err(InsertError::Exists(h)) => {
                self.conns.on_packet(h, Direction::In, ACK, self.now);
                return Some((f, h));
            }
            Err(_) => {
                t.inc(Counter::ConnRefusedFull);
                return None;
            }
        };
        t.inc(Counter::ConnNew);
        t.inc(Counter::ConnFromAck);
        self.traffic.conn(real);
        self.conns.on_packet(h, Direction::In, SYN, self.now);
        Some((f, h))
    }

    /// Inbound hook for a packet of connection `h`: a proxied connection's packet is shifted
    /// (or dropped while the real side opens). Returns the frame when it goes on.
    #[inline]
    pub(super) fn proxy_in(
        &mut self,
        mut f: F,
        h: ConnHandle,
        p: &Pkt,
        t: &mut WorkerTotals,
    ) -> Option<F> {
        match self.conns.proxy_seq(h) {
            None => Some(f),
            Some(ProxySeq::Opening { .. }) => {
                t.inc(Counter::DropProxyOpening);
                None
            }
            Some(ProxySeq::Shift { delta }) => {
                match synproxy::shift_in(f.data_mut(), p.l3, delta) {
                    Ok(()) => Some(f),
                    Err(e) => {
                        t.inc(drop_reason(e));
                        None
                    }
                }
            }
        }
    }

    /// Reply hook for a packet of connection `h` from its real: shifted on a proxied
    /// connection; while it opens, the real's SYN-ACK completes the real's side (answered with
    /// the ACK here) and a reset goes on to the client in its window. Returns the frame when
    /// it goes on as a NAT reply.
    #[inline]
    pub(super) fn proxy_out<O: Output<F>>(
        &mut self,
        mut f: F,
        h: ConnHandle,
        p: &Pkt,
        out: &mut O,
        t: &mut WorkerTotals,
    ) -> Option<F> {
        let Some(state) = self.conns.proxy_seq(h) else {
            return Some(f);
        };
        let result = match state {
            ProxySeq::Shift { delta } => synproxy::shift_out(f.data_mut(), p.l3, delta),
            ProxySeq::Opening { client_side_isn } => {
                let flags = p.ip.tcp_flags;
                if flags & RST != 0 {
                    t.inc(Counter::SynProxyRealReset);
                    synproxy::set_seq_number(f.data_mut(), p.l3, client_side_isn.wrapping_add(1))
                } else if flags & (SYN | ACK) == SYN | ACK {
                    self.real_syn_ack(f, h, p, out, t);
                    return None;
                } else {
                    t.inc(Counter::DropProxyOpening);
                    return None;
                }
            }
        };
        match result {
            Ok(()) => Some(f),
            Err(e) => {
                t.inc(drop_reason(e));
                None
            }
        }
    }

    /// The real's SYN-ACK to the proxy's SYN: the shift is fixed and the SYN-ACK becomes the
    /// ACK (from the client's address) that completes the real's side.
    fn real_syn_ack<O: Output<F>>(
        &mut self,
        mut f: F,
        h: ConnHandle,
        p: &Pkt,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let ip = &p.ip;
        let syn_ack = match synproxy::read(f.data_mut(), p.l3) {
            Ok(s) => s,
            Err(e) => return t.inc(drop_reason(e)),
        };
        if self.conns.proxy_open(h, syn_ack.seq).is_none() {
            return t.inc(Counter::DropProxyOpening);
        }
        self.conns.on_packet(h, Direction::Out, SYN | ACK, self.now);
        self.conns.on_packet(h, Direction::In, ACK, self.now);
        let seg = Segment {
            src: ip.dst,
            dst: ip.src,
            sport: ip.dport,
            dport: ip.sport,
            seq: syn_ack.ack,
            ack: syn_ack.seq.wrapping_add(1),
            flags: TcpFlags::ACK,
            window: SYN_PROXY_WINDOW,
            options: None,
        };
        if let Err(c) = rewrite_as(&mut f, p.l3, &seg) {
            return t.inc(c);
        }
        t.inc(Counter::SynProxyOpened);
        self.route_out(f, ip.src, out, t);
    }
}

/// Resizes the frame to `seg`'s length and writes it there (the Ethernet header stays; the
/// sender sets the MACs). A frame too short grows at the front and moves down.
fn rewrite_as<F: Frame>(f: &mut F, l3: usize, seg: &Segment) -> Result<(), Counter> {
    let len = synproxy::segment_len(l3, seg);
    let cur = f.data().len();
    if len > cur {
        let grow = u16::try_from(len - cur).map_err(|_| Counter::DropNoMbufRoom)?;
        if !f.prepend(grow) {
            return Err(Counter::DropNoMbufRoom);
        }
        f.data_mut().copy_within(usize::from(grow).., 0);
    } else if len < cur {
        let cut = u16::try_from(cur - len).map_err(|_| Counter::DropMalformed)?;
        if !f.trim(cut) {
            return Err(Counter::DropMalformed);
        }
    }
    synproxy::write(f.data_mut(), l3, seg).map_err(|_| Counter::DropMalformed)?;
    Ok(())
}
