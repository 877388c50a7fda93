//! Reply-side sloppy TCP (scale-out NAT, docs/scale-out.md): the real's SYN-ACK may come back
//! through an appliance other than the one that took the client's SYN, before that one's
//! half-open sync record arrives. On a `sloppy_tcp` NAT service whose real address and port
//! name it without doubt (lb/sloppy_synack.rs), the SYN-ACK opens the connection here: the
//! client and its port are the packet's destination (NAT keeps them), the VIP and virtual port
//! are the service's, the real is the sender. It starts in SYN_RECV as if this appliance had
//! seen the SYN, so the client's ACK establishes it, and the peer's record for it, when it
//! comes, updates it (`ConnTable::install` takes an existing entry). Reached only on the path
//! that would otherwise count `drop_not_for_us`, after the reply's owner-worker handoff (whose
//! rule, the client's address and port with the service's persistence mask, is the inbound
//! side's), so the forwarding path of known flows is unchanged.

use super::{Engine, Pkt};
use crate::lb::conn::{ConnHandle, Direction, InsertError, NewConn};
use crate::lb::types::Protocol;
use crate::wire::{ip_proto, Frame, TcpFlags};
use crate::worker::counters::{Counter, WorkerTotals};

/// The control bits that must read exactly SYN|ACK (ECE, CWR, PSH, URG may be set: a SYN-ACK
/// agreeing to ECN carries ECE).
const CONTROL: u8 = TcpFlags::SYN.0 | TcpFlags::ACK.0 | TcpFlags::FIN.0 | TcpFlags::RST.0;
const SYN_ACK: u8 = TcpFlags::SYN.0 | TcpFlags::ACK.0;

impl<F: Frame> Engine<F> {
    /// A TCP reply that found no connection: if it is a SYN-ACK from a real of one sloppy NAT
    /// service, the connection it answers, created here (see the module doc); else None (the
    /// caller drops it as not for us).
    pub(super) fn conn_from_synack(&mut self, p: &Pkt, t: &mut WorkerTotals) -> Option<ConnHandle> {
        let ip = &p.ip;
        if ip.proto != ip_proto::TCP
            || ip.tcp_flags & CONTROL != SYN_ACK
            || ip.fragment
            || !self.snap.ha.active
        {
            return None;
        }
        let (si, vport) = self.snap.sloppy_synack.lookup(ip.src, ip.sport)?;
        let svc = self.snap.services.services().get(si)?;
        let real = svc
            .reals
            .iter()
            .find(|r| r.addr == ip.src && r.dst_port(vport) == ip.sport)?;
        let nc = NewConn {
            proto: Protocol::Tcp,
            client: ip.dst,
            cport: ip.dport,
            vip: svc.key.vip,
            vport,
            real: real.id,
            real_addr: real.addr,
            rport: ip.sport,
            mode: real.forward_mode(svc.forward),
            template: None,
        };
        let real_id = real.id;
        let before = self.conns.stats();
        let h = match self.conns.insert(&nc, self.now) {
            Ok(h) => h,
            // The client's flow is here with another real: not this SYN-ACK's connection.
            Err(InsertError::Exists(_)) => return None,
            Err(_) => {
                t.inc(Counter::ConnRefusedFull);
                return None;
            }
        };
        // NONE -SYN-> SYN_RECV through the table's own transition (its half-open count follows);
        // the SYN-ACK itself is then accounted as any reply.
        self.conns
            .on_packet(h, Direction::In, TcpFlags::SYN.0, self.now);
        t.inc(Counter::ConnNew);
        t.inc(Counter::SloppySynAckConnNew);
        let after = self.conns.stats();
        t.add(Counter::ConnEvicted, after.evicted - before.evicted);
        t.add(Counter::ConnExpired, after.expired - before.expired);
        self.traffic.conn(real_id);
        Some(h)
    }
}
