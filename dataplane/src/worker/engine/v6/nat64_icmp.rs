//! NAT64's ICMP errors, both ways (RFC 7915 4.2 and 5.2, the rewrites in
//! `lb/forward/nat64_icmp.rs`), so path MTU discovery and unreachable ports work across the
//! families as they do for NAT and NAT66:
//! - an ICMPv4 error to our own IPv4 address (from a real, or a router between us and it)
//!   quoting a packet a NAT64 connection sent from its bound port becomes an ICMPv6 error to
//!   the client, from the VIP, quoting the client's own packet (client -> VIP);
//! - an ICMPv6 error from the client side to the VIP quoting a NAT64 reply (VIP -> client)
//!   becomes an ICMPv4 error to the real, from our address, quoting the real's own reply.
//!
//! A type or code RFC 7915 has no translation for (redirect, source quench, a parameter
//! problem pointer with no IPv4 field...) is dropped as `drop_nat64_icmp_untranslatable`. An
//! ICMPv4 error that names no NAT64 binding is the kernel's, as before.

use super::super::{drop_reason, Engine, Output, Pkt};
use super::nat64::{in_range, port_owner};
use super::Pkt6;
use crate::lb::forward::icmp_nat::quoted_flow;
use crate::lb::forward::nat64::Endpoints;
use crate::lb::forward::nat64_icmp::{nat64_icmp_4to6, nat64_icmp_6to4, ErrorAddrs};
use crate::lb::forward::ForwardError;
use crate::lb::route::Hop;
use crate::wire::{Frame, WireError};
use crate::worker::counters::{Counter, WorkerTotals};
use std::net::Ipv4Addr;

/// The drop counter of a NAT64 ICMP translation the rewrite refused: `Unsupported` is a
/// message RFC 7915 does not translate (the caller checked it quotes TCP/UDP), the rest as
/// for every rewrite.
#[inline]
fn nat64_icmp_drop(e: ForwardError) -> Counter {
    match e {
        ForwardError::Wire(WireError::Unsupported) => Counter::DropNat64IcmpUntranslatable,
        e => drop_reason(e),
    }
}

impl<F: Frame> Engine<F> {
    /// The IPv4 next hop towards `real` and our address on its port: where a NAT64
    /// connection's IPv4 packets leave from.
    pub(super) fn nat64_hop(&self, real: Ipv4Addr) -> Result<(Hop, Ipv4Addr), Counter> {
        let hop = self.snap.routes.lookup(real).ok_or(Counter::DropNoRoute)?;
        let port = self.snap.ports.get(usize::from(hop.port));
        let (ours, _) = port.and_then(|p| p.ip).ok_or(Counter::DropNoRoute)?;
        Ok((hop, ours))
    }

    /// An ICMP message to one of our IPv4 addresses (the IPv4 dispatch's "kernel" class): an
    /// error quoting a NAT64 connection's packet (from our address and a bound port, to the
    /// bound real) goes to the client as ICMPv6 (handed first to the worker whose port it
    /// is); anything else is the kernel's.
    pub(super) fn icmp4_error_to_nat64<O: Output<F>>(
        &mut self,
        mut f: F,
        p: Pkt,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        // The quoted packet went ours:lport -> real:rport.
        let q = match quoted_flow(f.data(), p.l3) {
            Some(q) if q.src == p.ip.dst && in_range(q.sport) => q,
            _ => return self.deliver_to_kernel(f, p.port, out, t),
        };
        let owner = port_owner(q.sport, self.n_workers);
        if owner != self.id && !p.handed {
            return self.hand_off(f, owner, p.port, out, t);
        }
        let Some(v6) = self.v6.as_ref() else {
            return self.deliver_to_kernel(f, p.port, out, t);
        };
        let Some(b) = v6.binding(q.sport, q.proto, q.dst, q.dport) else {
            return self.deliver_to_kernel(f, p.port, out, t);
        };
        let found = v6
            .conns
            .lookup_out(q.proto, q.dst.to_ipv6_mapped(), q.dport, b.client, b.cport)
            .and_then(|h| v6.conns.get(h));
        let Some(c) = found else {
            return self.deliver_to_kernel(f, p.port, out, t);
        };
        // The client knows the VIP only: the error comes from it, about client -> VIP.
        let to = ErrorAddrs {
            src: c.vip,
            dst: b.client,
            quoted: Endpoints {
                src: b.client,
                sport: b.cport,
                dst: c.vip,
                dport: c.vport,
            },
        };
        if let Err(e) = nat64_icmp_4to6(&mut f, p.l3, to) {
            return t.inc(nat64_icmp_drop(e));
        }
        t.inc(Counter::IcmpErrorsTranslated);
        self.route_out6(f, b.client, out, t);
    }

    /// An ICMPv6 error from the client side about a reply of a NAT64 connection (the
    /// connection to `real`:`rport` from our address's port `lport`): to the real as ICMPv4,
    /// from our address, quoting the real's own reply.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn icmp6_error_to_real4<O: Output<F>>(
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
        let to = ErrorAddrs {
            src: ours,
            dst: real,
            quoted: Endpoints {
                src: real,
                sport: rport,
                dst: ours,
                dport: lport,
            },
        };
        if let Err(e) = nat64_icmp_6to4(&mut f, p.l3, to) {
            return t.inc(nat64_icmp_drop(e));
        }
        t.inc(Counter::IcmpErrorsTranslated);
        self.send(f, hop, out, t);
    }
}
