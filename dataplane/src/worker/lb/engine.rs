//! One worker's packet processing: classify each frame, keep the connection table, and apply
//! the LVS forwarding. Every packet ends in exactly one place: a TX burst, another worker's
//! ring, the kernel's ring, or dropped with its reason counted.

use super::frag::{FragAction, FragKey, FragTable};
use super::output::Outputs;
use crate::dpdk::mbuf::Mbuf;
use crate::lb::conn::{ConnTable, Direction, InsertError, NewConn};
use crate::lb::flow;
use crate::lb::forward::{arp as farp, frag, icmp_gen, icmp_nat, nat, tun, ForwardError};
use crate::lb::neigh::NeighEvent;
use crate::lb::persist::PersistTable;
use crate::lb::route::{Hop, PortIdx};
use crate::lb::sched::Scheduler;
use crate::lb::snapshot::Snapshot;
use crate::lb::types::{FlowKey, ForwardMode, Protocol};
use crate::wire::{
    ether_type, icmpv4, ArpPacket, EthernetFrame, Icmpv4Packet, Ipv4Packet, MacAddr,
};
use crate::worker::counters::{Counter, WorkerTotals};
use crate::worker::meta::{self, Kind};
use crossbeam::queue::ArrayQueue;
use std::net::Ipv4Addr;
use std::sync::Arc;

const IP_TCP: u8 = 6;
const IP_UDP: u8 = 17;
const IP_ICMP: u8 = 1;
const ARP_REQUEST: u16 = 1;
/// Packets of a burst whose table slots `warm` reads ahead.
const WARM_MAX: usize = 64;

/// The parsed facts about an IPv4 packet that every decision needs.
#[derive(Clone, Copy)]
struct Ip {
    l3: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    /// Part of a fragmented datagram (the first fragment carries the ports, the later do not).
    fragment: bool,
    /// A fragment other than the first: no L4 header.
    later: bool,
    /// IP identification: with the addresses and protocol, names a fragment's datagram.
    ident: u16,
    /// TCP/UDP ports (0 when not TCP/UDP or a fragment).
    sport: u16,
    dport: u16,
    tcp_flags: u8,
}

pub struct Engine {
    pub id: usize,
    pub n_workers: usize,
    pub snap: Arc<Snapshot>,
    pub scheds: Vec<Scheduler>,
    pub conns: ConnTable,
    pub persist: PersistTable,
    pub events: Arc<ArrayQueue<NeighEvent>>,
    pub pending: super::pending::Pending,
    /// What the first fragments of datagrams decided, for their later fragments.
    pub frags: FragTable,
    pub traffic: crate::worker::stats::RealTraffic,
    pub now: u64,
}

impl Engine {
    /// Takes a new snapshot: per-service schedulers are rebuilt (state such as the rr position
    /// starts over; connections and templates are untouched since real ids are stable).
    pub fn adopt(&mut self, snap: Arc<Snapshot>) {
        if self.scheds.is_empty() || snap.services_generation != self.snap.services_generation {
            self.scheds = snap
                .services
                .services()
                .iter()
                .map(|s| s.new_scheduler())
                .collect();
        }
        self.snap = snap;
    }

    /// Warms the cache for a burst about to be processed: prefetches the connection-table bucket
    /// of every packet, then (once those are on their way) the entry each bucket points to. At a
    /// million connections each lookup in `process` would otherwise be a serial miss to DRAM.
    #[inline]
    pub fn warm(&self, b: &crate::dpdk::Burst) {
        use crate::dpdk::mem::prefetch;
        let n = b.len().min(WARM_MAX);
        // (reply index?, bucket) per packet; usize::MAX: nothing to look up.
        let mut slots = [(false, usize::MAX); WARM_MAX];
        for (i, slot) in slots.iter_mut().enumerate().take(n) {
            let frame = b.data(i);
            let Ok(eth) = EthernetFrame::new_checked(frame) else {
                continue;
            };
            if eth.ethertype() != ether_type::IPV4 {
                continue;
            }
            let Some(ip) = parse_ip(frame, eth.header_len()) else {
                continue;
            };
            let Some(proto) = Protocol::from_ip_proto(ip.proto) else {
                continue;
            };
            *slot = if self.snap.services.is_vip(ip.dst) {
                (
                    false,
                    self.conns
                        .bucket_index_in(proto, ip.src, ip.sport, ip.dst, ip.dport),
                )
            } else {
                (
                    true,
                    self.conns
                        .bucket_index_out(proto, ip.src, ip.sport, ip.dst, ip.dport),
                )
            };
            prefetch(self.conns.bucket_addr(slot.0, slot.1));
        }
        for &(reply, bucket) in &slots[..n] {
            if bucket != usize::MAX {
                prefetch(self.conns.entry_addr(self.conns.bucket_head(reply, bucket)));
            }
        }
    }

    /// Processes one packet. `kind`/`port` come from the packet's tag (handed over) or are
    /// (Fresh, the port it arrived on).
    #[inline]
    pub fn process(
        &mut self,
        m: Mbuf,
        kind: Kind,
        port: PortIdx,
        out: &mut Outputs,
        t: &mut WorkerTotals,
    ) {
        match kind {
            Kind::Transmit => return out.transmit(port, m, t),
            Kind::Kernel => return out.kernel(port, m, t),
            Kind::Fresh | Kind::Process => {}
        }
        let handed = kind == Kind::Process;
        let (ethertype, l3) = match EthernetFrame::new_checked(m.data()) {
            Ok(f) => (f.ethertype(), f.header_len()),
            Err(_) => return t.inc(Counter::DropMalformed),
        };
        match ethertype {
            ether_type::ARP => self.arp(m, port, l3, out, t),
            ether_type::IPV4 => {
                let Some(ip) = parse_ip(m.data(), l3) else {
                    return t.inc(Counter::DropMalformed);
                };
                self.ipv4(m, ip, port, handed, out, t);
            }
            _ => t.inc(Counter::DropUnsupported),
        }
    }

    fn arp(
        &mut self,
        mut m: Mbuf,
        port: PortIdx,
        l3: usize,
        out: &mut Outputs,
        t: &mut WorkerTotals,
    ) {
        let (op, sender_ip, sender_mac, target_ip) = match ArpPacket::new_checked(&m.data()[l3..]) {
            Ok(a) => (a.operation(), a.sender_ip(), a.sender_mac(), a.target_ip()),
            Err(_) => return t.inc(Counter::DropMalformed),
        };
        let snap = &self.snap;
        if snap.routes.on_link(sender_ip) && !sender_ip.is_unspecified() {
            // Losing an event only delays learning; the management thread also asks on its own.
            let _ = self.events.push(NeighEvent::Learned {
                port,
                ip: sender_ip,
                mac: sender_mac.0,
            });
        }
        let ours = snap.own_port(target_ip).is_some() || snap.services.is_vip(target_ip);
        if op == ARP_REQUEST {
            if !ours {
                return t.inc(Counter::DropNotForUs);
            }
            let mac = MacAddr(snap.ports[usize::from(port)].mac);
            if farp::arp_reply_in_place(m.data_mut(), l3, mac).is_err() {
                return t.inc(Counter::DropMalformed);
            }
            t.inc(Counter::ArpReplies);
            return out.transmit(port, m, t);
        }
        // Replies (and anything else) also go to the kernel, whose own ARP may be waiting.
        self.deliver_to_kernel(m, port, out, t);
    }

    fn deliver_to_kernel(
        &mut self,
        m: Mbuf,
        port: PortIdx,
        out: &mut Outputs,
        t: &mut WorkerTotals,
    ) {
        if self.snap.ports[usize::from(port)].exception {
            out.kernel(port, m, t);
        } else {
            t.inc(Counter::DropNoException);
        }
    }

    fn ipv4(
        &mut self,
        m: Mbuf,
        ip: Ip,
        port: PortIdx,
        handed: bool,
        out: &mut Outputs,
        t: &mut WorkerTotals,
    ) {
        if self.snap.own_port(ip.dst).is_some() {
            if ip.proto == IP_ICMP && is_echo_request(m.data(), ip.l3) {
                return self.echo_reply(m, ip, port, out, t);
            }
            return self.deliver_to_kernel(m, port, out, t);
        }
        if self.snap.services.is_vip(ip.dst) {
            if ip.proto == IP_ICMP {
                if ip.fragment {
                    return t.inc(Counter::DropFragment);
                }
                if is_echo_request(m.data(), ip.l3) {
                    return self.echo_reply(m, ip, port, out, t);
                }
                return self.icmp_error_in(m, ip, port, handed, out, t);
            }
            return self.serve(m, ip, port, handed, out, t);
        }
        // Not for us: a NAT reply from a real server (or an ICMP error about one), or transit we
        // do not route.
        match ip.proto {
            IP_TCP | IP_UDP => self.nat_reply(m, ip, port, handed, out, t),
            IP_ICMP => self.icmp_error_out(m, ip, port, handed, out, t),
            _ => t.inc(Counter::DropNotForUs),
        }
    }

    fn echo_reply(
        &mut self,
        mut m: Mbuf,
        ip: Ip,
        port: PortIdx,
        out: &mut Outputs,
        t: &mut WorkerTotals,
    ) {
        if icmp_gen::echo_reply_in_place(m.data_mut(), ip.l3).is_err() {
            return t.inc(Counter::DropMalformed);
        }
        t.inc(Counter::EchoReplies);
        out.transmit(port, m, t);
    }

    /// Client -> VIP, TCP or UDP.
    fn serve(
        &mut self,
        m: Mbuf,
        ip: Ip,
        port: PortIdx,
        handed: bool,
        out: &mut Outputs,
        t: &mut WorkerTotals,
    ) {
        let Some(proto) = Protocol::from_ip_proto(ip.proto).filter(|p| *p != Protocol::Icmp) else {
            return t.inc(Counter::DropUnsupported);
        };
        if ip.later {
            return self.later_fragment(m, ip, port, handed, out, t);
        }
        let Some(si) = self.snap.services.lookup_index(proto, ip.dst, ip.dport) else {
            return t.inc(Counter::DropNoService);
        };
        let mask = self.snap.services.services()[si]
            .persistence
            .map(|p| p.netmask);
        if let Some(owner) = self.elsewhere(handed, ip.src, ip.sport, mask) {
            self.fragment_owner(&ip, owner);
            return hand_off(m, owner, port, out, t);
        }
        let mut found = self
            .conns
            .lookup_in(proto, ip.src, ip.sport, ip.dst, ip.dport);
        if let Some(h) = found {
            // Expired but not yet swept: it is gone, and this packet may start a new one.
            if self.conns.get(h).is_some_and(|c| c.expires_ms <= self.now) {
                self.conns.remove(h);
                t.inc(Counter::ConnExpired);
                found = None;
            }
        }
        let handle = match found {
            Some(h) => h,
            None => {
                // Like IPVS: only a SYN opens a TCP connection.
                if proto == Protocol::Tcp && ip.tcp_flags & 0x02 == 0 {
                    return t.inc(Counter::DropNoConn);
                }
                match self.new_conn(si, proto, &ip, t) {
                    Some(h) => h,
                    None => return,
                }
            }
        };
        self.conns
            .on_packet(handle, Direction::In, ip.tcp_flags, self.now);
        let Some(c) = self.conns.get(handle) else {
            return t.inc(Counter::DropNoConn);
        };
        self.traffic.packet(c.real, true, m.data().len());
        if ip.fragment {
            let action = FragAction::In {
                mode: c.mode,
                real_addr: c.real_addr,
                real: c.real,
            };
            self.frags.record(frag_key(&ip), action, self.now);
        }
        self.forward_in(m, ip, port, c.mode, c.real_addr, c.rport, out, t);
    }

    fn new_conn(
        &mut self,
        si: usize,
        proto: Protocol,
        ip: &Ip,
        t: &mut WorkerTotals,
    ) -> Option<crate::lb::conn::ConnHandle> {
        let svc = &self.snap.services.services()[si];
        let key = FlowKey {
            proto,
            src: ip.src,
            dst: ip.dst,
            sport: ip.sport,
            dport: ip.dport,
        };
        let Some(s) = self.persist.schedule(
            svc,
            &mut self.scheds[si],
            self.conns.loads(),
            &key,
            self.now,
        ) else {
            t.inc(Counter::DropNoReal);
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
        match self.conns.insert(&nc, self.now) {
            Ok(h) => {
                t.inc(Counter::ConnNew);
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

    #[allow(clippy::too_many_arguments)]
    fn forward_in(
        &mut self,
        mut m: Mbuf,
        ip: Ip,
        in_port: PortIdx,
        mode: ForwardMode,
        real: Ipv4Addr,
        rport: u16,
        out: &mut Outputs,
        t: &mut WorkerTotals,
    ) {
        let Some(hop) = self.snap.routes.lookup(real) else {
            return t.inc(Counter::DropNoRoute);
        };
        match mode {
            ForwardMode::Nat => {
                if ip.fragment {
                    if let Err(e) = frag::nat_in_fragment(m.data_mut(), ip.l3, real, rport) {
                        return t.inc(fragment_refused(e));
                    }
                } else if nat::nat_in(m.data_mut(), ip.l3, real, rport).is_err() {
                    return t.inc(Counter::DropTtl);
                }
                t.inc(Counter::NatIn);
            }
            ForwardMode::Dr => t.inc(Counter::DrIn),
            ForwardMode::Tun => {
                let inner_len = Ipv4Packet::new_checked(&m.data()[ip.l3..])
                    .map(|p| p.total_len())
                    .unwrap_or(u16::MAX);
                let mtu = self.snap.ports[usize::from(hop.port)].mtu;
                if !tun::tun_fits(inner_len, mtu) {
                    return self.too_big(m, ip, in_port, mtu, out, t);
                }
                let Some((src, _)) = self.snap.ports[usize::from(hop.port)].ip else {
                    return t.inc(Counter::DropNoRoute);
                };
                if !m.prepend(20) {
                    return t.inc(Counter::DropNoMbufRoom);
                }
                // A fragment's outer header carries its own identification (the datagram's).
                let ident = if ip.fragment {
                    ip.ident
                } else {
                    (self.now as u16) ^ (ip.sport.rotate_left(3)) ^ ip.dport
                };
                if tun::encapsulate(m.data_mut(), ip.l3, src, real, ident).is_err() {
                    return t.inc(Counter::DropMalformed);
                }
                t.inc(Counter::TunIn);
            }
        }
        if ip.fragment {
            t.inc(Counter::FragmentsForwarded);
        }
        self.send(m, hop, out, t);
    }

    /// TUN: the encapsulated packet would exceed the MTU. With DF set, tell the client
    /// (ICMP fragmentation needed, with room for the 20-byte outer header); without, drop.
    fn too_big(
        &mut self,
        mut m: Mbuf,
        ip: Ip,
        in_port: PortIdx,
        mtu: u16,
        out: &mut Outputs,
        t: &mut WorkerTotals,
    ) {
        let df = Ipv4Packet::new_checked(&m.data()[ip.l3..])
            .map(|p| p.dont_frag())
            .unwrap_or(false);
        let Some((our_ip, _)) = self.snap.ports[usize::from(in_port)].ip else {
            return t.inc(Counter::DropTooBig);
        };
        if !df {
            return t.inc(Counter::DropTooBig);
        }
        let Ok(len) =
            icmp_gen::frag_needed_in_place(m.data_mut(), ip.l3, our_ip, mtu.saturating_sub(20))
        else {
            return t.inc(Counter::DropTooBig);
        };
        let cur = m.data().len();
        if len < cur && !m.trim((cur - len) as u16) {
            return t.inc(Counter::DropMalformed);
        }
        t.inc(Counter::FragNeededSent);
        out.transmit(in_port, m, t);
    }

    /// Real -> client (NAT reply).
    fn nat_reply(
        &mut self,
        mut m: Mbuf,
        ip: Ip,
        port: PortIdx,
        handed: bool,
        out: &mut Outputs,
        t: &mut WorkerTotals,
    ) {
        let Some(proto) = Protocol::from_ip_proto(ip.proto) else {
            return t.inc(Counter::DropUnsupported);
        };
        if ip.later {
            return self.later_fragment(m, ip, port, handed, out, t);
        }
        let mask = self.snap.reply_mask(proto, ip.src, ip.sport);
        if let Some(owner) = self.elsewhere(handed, ip.dst, ip.dport, mask) {
            self.fragment_owner(&ip, owner);
            return hand_off(m, owner, port, out, t);
        }
        let Some(h) = self
            .conns
            .lookup_out(proto, ip.src, ip.sport, ip.dst, ip.dport)
        else {
            return t.inc(Counter::DropNotForUs);
        };
        self.conns
            .on_packet(h, Direction::Out, ip.tcp_flags, self.now);
        let Some(c) = self.conns.get(h) else {
            return t.inc(Counter::DropNoConn);
        };
        self.traffic.packet(c.real, false, m.data().len());
        if ip.fragment {
            let action = FragAction::Out {
                vip: c.vip,
                real: c.real,
            };
            self.frags.record(frag_key(&ip), action, self.now);
            if let Err(e) = frag::nat_out_fragment(m.data_mut(), ip.l3, c.vip, c.vport) {
                return t.inc(fragment_refused(e));
            }
            t.inc(Counter::FragmentsForwarded);
        } else if nat::nat_out(m.data_mut(), ip.l3, c.vip, c.vport).is_err() {
            return t.inc(Counter::DropTtl);
        }
        t.inc(Counter::NatOut);
        self.route_out(m, ip.dst, out, t);
    }

    /// The receiving worker of a first fragment owned by another worker remembers that owner,
    /// so the datagram's later fragments (which arrive on the same queue) follow it.
    #[inline]
    fn fragment_owner(&mut self, ip: &Ip, owner: usize) {
        if ip.fragment {
            let action = FragAction::HandTo(owner as u16);
            self.frags.record(frag_key(ip), action, self.now);
        }
    }

    /// A fragment after the first: no ports, so it follows what its first fragment decided
    /// (handed to the owner, or rewritten as the first was); without a decision (it came
    /// before its first fragment, or too late) it is dropped.
    fn later_fragment(
        &mut self,
        mut m: Mbuf,
        ip: Ip,
        port: PortIdx,
        handed: bool,
        out: &mut Outputs,
        t: &mut WorkerTotals,
    ) {
        match self.frags.get(&frag_key(&ip), self.now) {
            Some(FragAction::HandTo(w)) if !handed && usize::from(w) != self.id => {
                hand_off(m, usize::from(w), port, out, t)
            }
            Some(FragAction::In {
                mode,
                real_addr,
                real,
            }) => {
                self.traffic.packet(real, true, m.data().len());
                self.forward_in(m, ip, port, mode, real_addr, 0, out, t);
            }
            Some(FragAction::Out { vip, real }) => {
                self.traffic.packet(real, false, m.data().len());
                if let Err(e) = frag::nat_out_fragment(m.data_mut(), ip.l3, vip, 0) {
                    return t.inc(fragment_refused(e));
                }
                t.inc(Counter::NatOut);
                t.inc(Counter::FragmentsForwarded);
                self.route_out(m, ip.dst, out, t);
            }
            _ => t.inc(Counter::DropFragmentUnmatched),
        }
    }

    /// Sends a packet towards `dst` by the routing table.
    fn route_out(&mut self, m: Mbuf, dst: Ipv4Addr, out: &mut Outputs, t: &mut WorkerTotals) {
        let Some(hop) = self.snap.routes.lookup(dst) else {
            return t.inc(Counter::DropNoRoute);
        };
        self.send(m, hop, out, t);
    }

    /// An ICMP error sent to a VIP: about a reply we sent to a client (NAT). Goes to the real.
    fn icmp_error_in(
        &mut self,
        mut m: Mbuf,
        ip: Ip,
        port: PortIdx,
        handed: bool,
        out: &mut Outputs,
        t: &mut WorkerTotals,
    ) {
        let Some(q) = icmp_nat::quoted_flow(m.data(), ip.l3) else {
            return t.inc(Counter::DropNotForUs);
        };
        // The quoted packet went VIP:vport -> client:cport.
        let (proto, vip, vport, client, cport) = (q.proto, q.src, q.sport, q.dst, q.dport);
        let mask = self
            .snap
            .services
            .lookup(proto, vip, vport)
            .and_then(|s| s.persistence);
        if let Some(owner) = self.elsewhere(handed, client, cport, mask.map(|p| p.netmask)) {
            return hand_off(m, owner, port, out, t);
        }
        let Some(h) = self.conns.lookup_in(proto, client, cport, vip, vport) else {
            return t.inc(Counter::DropNoConn);
        };
        let Some(c) = self.conns.get(h) else {
            return t.inc(Counter::DropNoConn);
        };
        if c.mode != ForwardMode::Nat {
            return t.inc(Counter::DropUnsupported);
        }
        if icmp_nat::icmp_error_to_real(m.data_mut(), ip.l3, c.real_addr, c.rport).is_err() {
            return t.inc(Counter::DropMalformed);
        }
        t.inc(Counter::IcmpErrorsTranslated);
        self.route_out(m, c.real_addr, out, t);
    }

    /// An ICMP error from the real side about a packet we forwarded (NAT). Goes to the client.
    fn icmp_error_out(
        &mut self,
        mut m: Mbuf,
        ip: Ip,
        port: PortIdx,
        handed: bool,
        out: &mut Outputs,
        t: &mut WorkerTotals,
    ) {
        let Some(q) = icmp_nat::quoted_flow(m.data(), ip.l3) else {
            return t.inc(Counter::DropNotForUs);
        };
        // The quoted packet went client:cport -> real:rport.
        let (proto, client, cport, real, rport) = (q.proto, q.src, q.sport, q.dst, q.dport);
        let mask = self.snap.reply_mask(proto, real, rport);
        if let Some(owner) = self.elsewhere(handed, client, cport, mask) {
            return hand_off(m, owner, port, out, t);
        }
        let Some(h) = self.conns.lookup_out(proto, real, rport, client, cport) else {
            return t.inc(Counter::DropNotForUs);
        };
        let Some(c) = self.conns.get(h) else {
            return t.inc(Counter::DropNoConn);
        };
        if icmp_nat::icmp_error_to_client(m.data_mut(), ip.l3, c.vip, c.vport).is_err() {
            return t.inc(Counter::DropMalformed);
        }
        t.inc(Counter::IcmpErrorsTranslated);
        self.route_out(m, client, out, t);
    }

    /// The worker that owns the connections of `client:cport`; for a persistent service (`mask`)
    /// the masked client address alone decides, so a client's connections share a worker.
    #[inline]
    fn owner(&self, client: Ipv4Addr, cport: u16, mask: Option<u32>) -> usize {
        match mask {
            Some(mask) => flow::owner_worker_persistent(client, mask, self.n_workers),
            None => flow::owner_worker(client, cport, self.n_workers),
        }
    }

    /// The other worker a packet of `client:cport` belongs to, if not this one. A packet that was
    /// handed over is processed here whatever the rule says (no ping-pong across a reload).
    #[inline]
    fn elsewhere(
        &self,
        handed: bool,
        client: Ipv4Addr,
        cport: u16,
        mask: Option<u32>,
    ) -> Option<usize> {
        if handed {
            return None;
        }
        let owner = self.owner(client, cport, mask);
        (owner != self.id).then_some(owner)
    }

    /// Sends a finished packet to its next hop: Ethernet addresses set, out of the hop's port.
    /// An unknown neighbour parks the packet (bounded) and asks the management thread.
    #[inline]
    fn send(&mut self, mut m: Mbuf, hop: Hop, out: &mut Outputs, t: &mut WorkerTotals) {
        match self.snap.neigh.get(hop.next_hop) {
            Some(mac) => {
                set_macs(
                    m.data_mut(),
                    mac,
                    self.snap.ports[usize::from(hop.port)].mac,
                );
                out.transmit(hop.port, m, t);
            }
            None => {
                let _ = self.events.push(NeighEvent::Missing {
                    port: hop.port,
                    ip: hop.next_hop,
                });
                self.pending.park(m, hop, self.now, t);
            }
        }
    }

    /// Sends the parked packets whose neighbour is now known; drops those that waited too long.
    pub fn retry_pending(&mut self, out: &mut Outputs, t: &mut WorkerTotals) {
        let snap = &self.snap;
        self.pending.retry(self.now, t, |m, hop, t| {
            match snap.neigh.get(hop.next_hop) {
                Some(mac) => {
                    let mut m = m;
                    set_macs(m.data_mut(), mac, snap.ports[usize::from(hop.port)].mac);
                    out.transmit(hop.port, m, t);
                    None
                }
                None => Some(m),
            }
        });
    }
}

fn frag_key(ip: &Ip) -> FragKey {
    FragKey {
        src: ip.src,
        dst: ip.dst,
        proto: ip.proto,
        ident: ip.ident,
    }
}

/// The drop counter for a fragment a NAT rewrite refused.
fn fragment_refused(e: ForwardError) -> Counter {
    match e {
        ForwardError::TtlExpired => Counter::DropTtl,
        _ => Counter::DropMalformed,
    }
}

fn hand_off(mut m: Mbuf, owner: usize, port: PortIdx, out: &mut Outputs, t: &mut WorkerTotals) {
    m.set_meta(meta::encode(Kind::Process, port));
    out.handoff(owner, m, t);
}

#[inline]
fn set_macs(frame: &mut [u8], dst: [u8; 6], src: [u8; 6]) {
    if frame.len() >= 12 {
        frame[..6].copy_from_slice(&dst);
        frame[6..12].copy_from_slice(&src);
    }
}

fn is_echo_request(frame: &[u8], l3: usize) -> bool {
    let Ok(ip) = Ipv4Packet::new_checked(&frame[l3..]) else {
        return false;
    };
    if ip.is_fragment() {
        return false;
    }
    Icmpv4Packet::new_checked(ip.payload())
        .is_ok_and(|i| i.msg_type() == icmpv4::icmp_type::ECHO_REQUEST)
}

fn parse_ip(frame: &[u8], l3: usize) -> Option<Ip> {
    let p = Ipv4Packet::new_checked(frame.get(l3..)?).ok()?;
    let fragment = p.is_fragment();
    let mut ip = Ip {
        l3,
        src: p.src_addr(),
        dst: p.dst_addr(),
        proto: p.protocol(),
        fragment,
        later: p.frag_offset() != 0,
        ident: p.ident(),
        sport: 0,
        dport: 0,
        tcp_flags: 0,
    };
    // Only a first fragment (or an unfragmented packet) carries the L4 header.
    if p.frag_offset() == 0 {
        let l4 = p.payload();
        match ip.proto {
            IP_TCP if l4.len() >= 20 => {
                ip.sport = u16::from_be_bytes([l4[0], l4[1]]);
                ip.dport = u16::from_be_bytes([l4[2], l4[3]]);
                ip.tcp_flags = l4[13];
            }
            IP_UDP if l4.len() >= 8 => {
                ip.sport = u16::from_be_bytes([l4[0], l4[1]]);
                ip.dport = u16::from_be_bytes([l4[2], l4[3]]);
            }
            IP_TCP | IP_UDP => return None,
            _ => {}
        }
    }
    Some(ip)
}
