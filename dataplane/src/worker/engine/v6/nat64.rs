//! NAT64 on the IPv6 path (RFC 6146 state, RFC 7915 translation: `lb/forward/nat64.rs`): an
//! IPv6 VIP over IPv4 reals. A new connection takes an IPv4 port of the appliance's own
//! address on the port towards the real ([`Nat64Ports`]: a per-worker binding per port, the
//! ports `p % workers == id` this worker's, so the owner of a reply is its destination port);
//! the client's packets become IPv4 from that address and port to the real, and the real's
//! replies, which come to the appliance's own address, become IPv6 from the VIP to the client.
//!
//! The connection lives in the IPv6 table like a NAT66 one: its real address is the IPv4 real
//! mapped into IPv6 (`::ffff:a.b.c.d`, which no IPv6 real can be: config validation refuses it),
//! and the bound IPv4 port rides in the entry's template word (the IPv6 path keeps no
//! persistence templates). A binding is free again once its connection is gone (checked when a
//! port is chosen: nothing runs at expiry). Fragments are translated one by one both ways
//! (RFC 7915 4.1, 5.1.1), the later ones by their first fragment's decision: the client's in
//! the IPv6 fragment table (`Frag6Action::To4`), the real's in the IPv4 one
//! (`FragAction::To6`). ICMP errors about a connection are translated both ways in
//! `nat64_icmp.rs`.

use super::super::fragments::{key as fragment_key, FragAction};
use super::super::{drop_reason, Engine, Output, Pkt};
use super::fragments::Frag6Action;
use super::{Pkt6, V6State};
use crate::lb::forward::frag6::Frag6Key;
use crate::lb::forward::nat64::{self, Endpoints};
use crate::lb::forward::{nat64_frag, ForwardError};
use crate::lb::types::Protocol;
use crate::tunables::{NAT64_PORT_END, NAT64_PORT_FIRST, NAT64_PORT_PROBES};
use crate::wire::Frame;
use crate::worker::counters::{Counter, WorkerTotals};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Who holds one IPv4 port: the connection's client side and its real.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Binding {
    pub client: Ipv6Addr,
    pub cport: u16,
    pub real: Ipv4Addr,
    pub rport: u16,
    pub proto: Protocol,
}

/// One worker's NAT64 port bindings (preallocated: 31 744 slots, about 1 MiB).
pub struct Nat64Ports {
    slots: Box<[Option<Binding>]>,
    /// The next port to try.
    cursor: u16,
}

impl Nat64Ports {
    pub fn new() -> Nat64Ports {
        Nat64Ports {
            slots: vec![None; usize::from(NAT64_PORT_END - NAT64_PORT_FIRST)].into_boxed_slice(),
            cursor: NAT64_PORT_FIRST,
        }
    }

    fn slot(&self, port: u16) -> Option<&Option<Binding>> {
        self.slots
            .get(usize::from(port.checked_sub(NAT64_PORT_FIRST)?))
    }
}

impl Default for Nat64Ports {
    fn default() -> Self {
        Nat64Ports::new()
    }
}

/// Is `port` one NAT64 binds (and so, on our own address, maybe a NAT64 reply)?
#[inline]
pub fn in_range(port: u16) -> bool {
    (NAT64_PORT_FIRST..NAT64_PORT_END).contains(&port)
}

/// The worker whose bindings hold `port`.
#[inline]
pub(super) fn port_owner(port: u16, n_workers: usize) -> usize {
    usize::from(port) % n_workers.max(1)
}

/// The connection of `b` is still in the table.
fn live<F>(v6: &V6State<F>, b: &Binding) -> bool {
    v6.conns
        .lookup_out(b.proto, b.real.to_ipv6_mapped(), b.rport, b.client, b.cport)
        .is_some()
}

impl<F> V6State<F> {
    /// Binds a free IPv4 port of worker `id` (of `n_workers`) to a new connection, trying at
    /// most NAT64_PORT_PROBES of its ports; `None` when they are all taken.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn bind64(
        &mut self,
        id: usize,
        n_workers: usize,
        proto: Protocol,
        client: Ipv6Addr,
        cport: u16,
        real: Ipv4Addr,
        rport: u16,
    ) -> Option<u16> {
        let n = n_workers.max(1) as u16;
        // This worker's first port in the range, and where the cursor stands among them.
        let first = NAT64_PORT_FIRST + (id as u16 + n - NAT64_PORT_FIRST % n) % n;
        let mut port = self.nat64.cursor.max(first);
        port -= (port - first) % n;
        for _ in 0..NAT64_PORT_PROBES {
            if port >= NAT64_PORT_END {
                port = first;
            }
            let free = match self.nat64.slot(port) {
                Some(None) => true,
                Some(Some(b)) => !live(self, b),
                None => false,
            };
            if free {
                let at = usize::from(port - NAT64_PORT_FIRST);
                self.nat64.slots[at] = Some(Binding {
                    client,
                    cport,
                    real,
                    rport,
                    proto,
                });
                self.nat64.cursor = port.saturating_add(n);
                return Some(port);
            }
            port = port.saturating_add(n);
        }
        None
    }

    /// The binding of our port `port` if it is `proto` to `real`:`rport` (a packet from that
    /// real to that port is the connection's).
    pub(super) fn binding(
        &self,
        port: u16,
        proto: Protocol,
        real: Ipv4Addr,
        rport: u16,
    ) -> Option<Binding> {
        match self.nat64.slot(port) {
            Some(Some(b)) if b.real == real && b.rport == rport && b.proto == proto => Some(*b),
            _ => None,
        }
    }
}

impl<F: Frame> Engine<F> {
    /// Client -> VIP of a NAT64 connection: the packet becomes IPv4 from our address on the
    /// port towards `real` and the connection's bound port `lport`, to `real`:`rport`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_64<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt6,
        real: Ipv4Addr,
        rport: u16,
        lport: u16,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let (hop, ours) = match self.nat64_hop(real) {
            Ok(h) => h,
            Err(c) => return t.inc(c),
        };
        let to = Endpoints {
            src: ours,
            sport: lport,
            dst: real,
            dport: rport,
        };
        // The IPv4 identification: varies by packet and flow (DF is set above 1260 bytes).
        let ident = (self.now as u16) ^ p.ip.sport.rotate_left(3) ^ lport;
        // A packet with a Fragment header (a fragment, or an atomic one) is translated as a
        // fragment: its identification, offset and MF carried into IPv4 (RFC 7915 5.1.1).
        let done = match nat64::nat64_6to4(&mut f, p.l3, to, ident) {
            Err(ForwardError::Fragment) => nat64_frag::nat64_6to4_fragment(&mut f, p.l3, to),
            r => r,
        };
        if let Err(e) = done {
            return t.inc(drop_reason(e));
        }
        if p.ip.fragment {
            self.record_fragment64(&p, real, rport, lport);
            t.inc(Counter::FragmentsForwarded);
        }
        t.inc(Counter::NatIn);
        self.send(f, hop, out, t);
    }

    /// A first fragment of a NAT64 connection: its later fragments (no ports) follow it.
    fn record_fragment64(&mut self, p: &Pkt6, real: Ipv4Addr, rport: u16, lport: u16) {
        if p.ip.later {
            return;
        }
        let (Some(key), Some(v6)) = (Frag6Key::of(&p.ip), self.v6.as_mut()) else {
            return;
        };
        let action = Frag6Action::To4 { real, rport, lport };
        v6.frags.record(key, action, self.now);
    }

    /// An IPv4 packet to one of our addresses (the IPv4 dispatch's "kernel" class): a real's
    /// reply to a NAT64 connection when it comes to a bound port from the bound real (handed
    /// to the worker whose port it is), a later fragment of one, or an ICMP error about one
    /// (`nat64_icmp.rs`); else the kernel's.
    pub(in crate::worker::engine) fn kernel_or_nat64<O: Output<F>>(
        &mut self,
        f: F,
        p: Pkt,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let ip = &p.ip;
        if self.v6.is_none() {
            return self.deliver_to_kernel(f, p.port, out, t);
        }
        let proto = match Protocol::from_ip_proto(ip.proto) {
            Some(proto @ (Protocol::Tcp | Protocol::Udp)) if !ip.later && in_range(ip.dport) => {
                proto
            }
            Some(Protocol::Tcp | Protocol::Udp) if ip.later => {
                return self.later_fragment64(f, p, out, t);
            }
            Some(Protocol::Icmp) if !ip.fragment => {
                return self.icmp4_error_to_nat64(f, p, out, t);
            }
            _ => return self.deliver_to_kernel(f, p.port, out, t),
        };
        let owner = port_owner(ip.dport, self.n_workers);
        if owner != self.id && !p.handed {
            self.fragment_owner(ip, owner);
            return self.hand_off(f, owner, p.port, out, t);
        }
        let Some(v6) = self.v6.as_mut() else {
            return self.deliver_to_kernel(f, p.port, out, t);
        };
        let Some(b) = v6.binding(ip.dport, proto, ip.src, ip.sport) else {
            return self.deliver_to_kernel(f, p.port, out, t);
        };
        let Some(h) =
            v6.conns
                .lookup_out(proto, ip.src.to_ipv6_mapped(), ip.sport, b.client, b.cport)
        else {
            return self.deliver_to_kernel(f, p.port, out, t);
        };
        v6.conns
            .on_packet(h, crate::lb::conn::Direction::Out, ip.tcp_flags, self.now);
        let Some(c) = v6.conns.get(h) else {
            return t.inc(Counter::DropNoConn);
        };
        v6.traffic.packet(c.real, false, f.data().len());
        if ip.fragment {
            let action = FragAction::To6 {
                lport: ip.dport,
                rport: ip.sport,
            };
            self.frags.record(fragment_key(ip), action, self.now);
        }
        self.reply_64(f, p, b, c.vip, c.vport, out, t);
    }

    /// A later fragment of an IPv4 datagram to our address: a NAT64 reply's when its first
    /// fragment was one (handed to the worker that took it, or translated here), else the
    /// kernel's (which reassembles its own).
    fn later_fragment64<O: Output<F>>(&mut self, f: F, p: Pkt, out: &mut O, t: &mut WorkerTotals) {
        let (lport, rport) = match self.frags.get(&fragment_key(&p.ip), self.now) {
            Some(FragAction::HandTo(w)) if !p.handed && usize::from(w) != self.id => {
                return self.hand_off(f, usize::from(w), p.port, out, t);
            }
            Some(FragAction::To6 { lport, rport }) => (lport, rport),
            _ => return self.deliver_to_kernel(f, p.port, out, t),
        };
        let Some(proto) = Protocol::from_ip_proto(p.ip.proto) else {
            return self.deliver_to_kernel(f, p.port, out, t);
        };
        let Some(v6) = self.v6.as_mut() else {
            return self.deliver_to_kernel(f, p.port, out, t);
        };
        let Some(b) = v6.binding(lport, proto, p.ip.src, rport) else {
            return t.inc(Counter::DropFragmentUnmatched);
        };
        let found = v6
            .conns
            .lookup_out(proto, b.real.to_ipv6_mapped(), b.rport, b.client, b.cport)
            .and_then(|h| v6.conns.get(h));
        let Some(c) = found else {
            return t.inc(Counter::DropFragmentUnmatched);
        };
        v6.traffic.packet(c.real, false, f.data().len());
        self.reply_64(f, p, b, c.vip, c.vport, out, t);
    }

    /// A NAT64 reply (or a fragment of one) of binding `b` becomes IPv6 from `vip`:`vport`
    /// to the client; a fragment gains a Fragment header (RFC 7915 4.1).
    #[allow(clippy::too_many_arguments)]
    fn reply_64<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt,
        b: Binding,
        vip: Ipv6Addr,
        vport: u16,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let to = Endpoints {
            src: vip,
            sport: vport,
            dst: b.client,
            dport: b.cport,
        };
        let done = match nat64::nat64_4to6(&mut f, p.l3, to) {
            Err(ForwardError::Fragment) => nat64_frag::nat64_4to6_fragment(&mut f, p.l3, to),
            r => r,
        };
        if let Err(e) = done {
            return t.inc(drop_reason(e));
        }
        if p.ip.fragment {
            t.inc(Counter::FragmentsForwarded);
        }
        t.inc(Counter::NatOut);
        self.route_out6(f, b.client, out, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::conn::{ConnConfig, ConnTable, NewConn};
    use crate::lb::types::ForwardMode;
    use crossbeam::queue::ArrayQueue;
    use std::sync::Arc;

    fn state() -> V6State<crate::wire::VecFrame> {
        let snap = super::super::super::sim::snapshot_from_yaml(
            super::super::super::sim::EXAMPLE_CONFIG,
            1,
        )
        .unwrap();
        let conns = ConnTable::allocate(&ConnConfig::new(1024, 64)).unwrap();
        V6State::new(0, &snap, conns, Arc::new(ArrayQueue::new(4)))
    }

    #[test]
    fn ports_are_the_workers_own_and_free_again_once_their_connection_is_gone() {
        let mut v6 = state();
        let client: Ipv6Addr = "2001:db8:5::2".parse().unwrap();
        let real = Ipv4Addr::new(198, 19, 0, 11);
        let a = v6
            .bind64(1, 3, Protocol::Tcp, client, 40000, real, 80)
            .unwrap();
        let b = v6
            .bind64(1, 3, Protocol::Tcp, client, 40001, real, 80)
            .unwrap();
        assert_eq!((a % 3, b % 3), (1, 1));
        assert!(in_range(a) && in_range(b) && a != b);
        // Neither binding has a connection in the table: the next bind may take the first
        // again once the cursor wraps; with a live connection it may not.
        let nc = NewConn {
            proto: Protocol::Tcp,
            client,
            cport: 40000,
            vip: "2001:db8::100".parse().unwrap(),
            vport: 8080,
            real: 0,
            real_addr: real.to_ipv6_mapped(),
            rport: 80,
            mode: ForwardMode::Nat,
            template: Some(u32::from(a)),
        };
        v6.conns.insert(&nc, 0).unwrap();
        v6.nat64.cursor = a;
        let c = v6
            .bind64(1, 3, Protocol::Tcp, client, 40002, real, 80)
            .unwrap();
        assert_eq!(c, b, "a's connection lives; b's binding has none: reused");
        assert_eq!(port_owner(a, 3), 1);
        assert!(!in_range(NAT64_PORT_END) && !in_range(80));
    }
}
