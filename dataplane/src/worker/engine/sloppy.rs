//! Sloppy TCP (IPVS `sloppy_tcp`, config `services[].sloppy_tcp`, docs/bgp.md): a TCP packet
//! that is not a SYN and finds no connection belongs to a flow that started elsewhere — on
//! another appliance behind the same ECMP router, before the router moved the flow here. On a
//! sloppy service it is scheduled like a SYN (with `mh` every appliance with the same reals
//! picks the same real for the flow) and the connection is created in ESTABLISHED, as IPVS
//! does. A RST never opens one. Reached only on the path that would otherwise count
//! `drop_no_conn`, so the forwarding path of known flows is unchanged.

use super::{Engine, Pkt};
use crate::lb::conn::{ConnHandle, Direction};
use crate::lb::forward::synproxy;
use crate::lb::syncookie::{self, CookieFlow};
use crate::lb::types::Protocol;
use crate::wire::{Frame, TcpFlags};
use crate::worker::counters::{Counter, WorkerTotals};

const SYN: u8 = TcpFlags::SYN.0;
const ACK: u8 = TcpFlags::ACK.0;
const RST: u8 = TcpFlags::RST.0;

impl<F: Frame> Engine<F> {
    /// Whether service `si` takes non-SYN packets of no connection.
    #[inline]
    pub(super) fn sloppy(&self, si: usize) -> bool {
        self.snap.sloppy.get(si).copied().unwrap_or(false)
    }

    /// A TCP packet without SYN that found no connection and is not a SYN-proxy handshake:
    /// on a sloppy service the connection is opened (see the module doc), else it is dropped
    /// (`drop_no_conn`, IPVS's default).
    pub(super) fn no_conn_or_sloppy(
        &mut self,
        f: F,
        p: &Pkt,
        si: usize,
        t: &mut WorkerTotals,
    ) -> Option<(F, ConnHandle)> {
        if !self.sloppy(si) || p.ip.tcp_flags & RST != 0 {
            t.inc(Counter::DropNoConn);
            return None;
        }
        let h = self.new_conn(si, Protocol::Tcp, p, t)?;
        // NONE -SYN-> SYN_RECV -ACK-> ESTABLISHED through the table's own transitions (so its
        // half-open and active counts follow), then the packet's own flags (a FIN closes).
        let now = self.now;
        self.conns.on_packet(h, Direction::In, SYN, now);
        self.conns.on_packet(h, Direction::In, ACK, now);
        self.conns.on_packet(h, Direction::In, p.ip.tcp_flags, now);
        t.inc(Counter::SloppyConnNew);
        Some((f, h))
    }

    /// Whether a pure ACK to a SYN-proxied service acknowledges a valid SYN cookie (then the
    /// proxy's handling applies; any other ACK may be a moved flow).
    pub(super) fn acks_a_cookie(&self, f: &mut F, p: &Pkt) -> bool {
        let Ok(ack) = synproxy::read(f.data_mut(), p.l3) else {
            return false;
        };
        let ip = &p.ip;
        let flow = CookieFlow {
            client: ip.src,
            cport: ip.sport,
            vip: ip.dst,
            vport: ip.dport,
            client_isn: ack.seq.wrapping_sub(1),
        };
        let cookie = ack.ack.wrapping_sub(1);
        syncookie::check(&self.snap.cookie_secrets, &flow, cookie, self.now).is_some()
    }
}
