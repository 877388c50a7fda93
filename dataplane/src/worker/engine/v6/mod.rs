//! The engine's IPv6 path (issue 11), beside the IPv4 one and sharing none of its state: its own
//! connection table (`ConnTable<Ipv6Addr>`, 88-byte entries), scheduler set, fragment table and
//! neighbour-event queue, all in [`V6State`]. `Engine::dispatch` hands every parsed IPv6 packet
//! to [`Engine::dispatch6`], which reads top to bottom like the IPv4 dispatch:
//! - `classify` (here): what the packet is to the appliance;
//! - `inbound.rs`: client -> VIP (lookup, new connection, NAT66 / DR / TUN6 with Packet Too Big);
//! - `reply.rs`: real -> client (NAT66);
//! - `icmp.rs`: echo replies, ICMPv6 errors quoting a connection, both ways;
//! - `fragments.rs`: the later fragments of a datagram, by its first fragment's decision;
//! - `nd.rs`: neighbour discovery (answers, learning) and the next hop of a finished packet;
//! - `warm.rs`: the burst warm-up's IPv6 half (the IPv6 table's buckets and entries).
//!
//! - `nat64.rs`: an IPv6 VIP over IPv4 reals (stateful NAT64), and its replies, which the IPv4
//!   dispatch hands over as packets to our own address; `nat64_icmp.rs`: its ICMP errors, both
//!   ways.
//!
//! Not here yet: persistence and the admission rules for IPv6 services, the SYN-flood defence,
//! connection sync and the local node.

mod fragments;
mod icmp;
mod inbound;
mod nat64;
mod nat64_icmp;
mod nd;
mod reply;
mod warm;

pub use fragments::{Frag6Action, Frag6Table};

use super::{Engine, Output, Pending};
use crate::lb::conn::ConnTable;
use crate::lb::flow;
use crate::lb::neigh::NeighEvent;
use crate::lb::route::PortIdx;
use crate::lb::sched::Scheduler;
use crate::lb::snapshot::Snapshot;
use crate::wire::{ip_proto, Frame, Ipv6Facts};
use crate::worker::counters::{Counter, WorkerTotals};
use crate::worker::stats::RealTraffic;
use crossbeam::queue::ArrayQueue;
use std::net::Ipv6Addr;
use std::sync::Arc;

/// One worker's IPv6 state (`F`: the packet buffer, for the packets parked for a neighbour).
pub struct V6State<F> {
    pub conns: ConnTable<Ipv6Addr>,
    /// One scheduler per IPv6 service of the snapshot (taken from it, never built on the loop).
    pub scheds: Vec<Scheduler>,
    /// The IPv6 services generation `scheds` belong to.
    pub sched_generation: u64,
    pub frags: Frag6Table,
    /// IPv6 neighbour events for the management thread (senders seen, next hops missing).
    pub events: Arc<ArrayQueue<NeighEvent<Ipv6Addr>>>,
    /// NAT64's IPv4 port bindings (`nat64.rs`).
    pub(super) nat64: nat64::Nat64Ports,
    /// Packets waiting for their IPv6 next hop's MAC (`nd.rs`), as IPv4 ones wait for ARP.
    pub pending: Pending<F, Ipv6Addr>,
    /// Per-real traffic of the IPv6 services, by their own real ids (a space apart from the
    /// IPv4 services' ids), published beside the IPv4 figures (`RealStats::publish6`).
    pub traffic: RealTraffic,
    /// The IPv6 packets of the burst being warmed (`warm.rs`).
    warm: warm::Warm6,
}

impl<F> V6State<F> {
    /// The IPv6 state of worker `w` following `snap` (at start-up: the only place it may
    /// build its own schedulers, if its set was taken).
    pub fn new(
        w: usize,
        snap: &Snapshot,
        conns: ConnTable<Ipv6Addr>,
        events: Arc<ArrayQueue<NeighEvent<Ipv6Addr>>>,
    ) -> V6State<F> {
        let scheds = snap.v6.take_schedulers(w).unwrap_or_else(|| {
            let services = snap.v6.services.services();
            services.iter().map(|s| s.new_scheduler()).collect()
        });
        V6State {
            scheds,
            sched_generation: snap.v6.services_generation,
            frags: Frag6Table::new(),
            events,
            nat64: nat64::Nat64Ports::new(),
            pending: Pending::default(),
            traffic: RealTraffic::new(conns.loads().len()),
            warm: warm::Warm6::default(),
            conns,
        }
    }
}

/// An IPv6 packet being processed: where its IPv6 header starts, what it says, the port it
/// concerns, and whether another worker already handed it here.
#[derive(Clone, Copy)]
pub(crate) struct Pkt6 {
    pub l3: usize,
    pub ip: Ipv6Facts,
    pub port: PortIdx,
    pub handed: bool,
}

/// Where an IPv6 packet goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class6 {
    /// A Neighbor Solicitation or Advertisement.
    Nd,
    /// An echo request to a port address or a VIP: answered in place.
    Echo,
    /// Anything else to the appliance (own address, link-local, link-scope multicast): the
    /// kernel's, through the exception path.
    Kernel,
    /// Client -> VIP, TCP or UDP (or a protocol the service lookup refuses).
    ToService,
    /// An ICMPv6 error to a VIP: about a reply we sent to a client.
    IcmpToVip,
    /// A fragmented ICMPv6 message to a VIP: not handled.
    IcmpFragmentToVip,
    /// TCP/UDP not addressed to us: a NAT66 reply from a real.
    Reply,
    /// An ICMPv6 error not addressed to us: from the real side about a packet we forwarded.
    IcmpFromReal,
    /// Transit we do not route, and other multicast.
    NotForUs,
    /// To a VIP while this node is the VRRP backup.
    HaBackup,
}

/// Is `dst` link-scoped (link-local unicast, or link-local multicast: ND's groups, all-nodes)?
#[inline]
fn link_scope(dst: Ipv6Addr) -> bool {
    let first = dst.segments()[0];
    (first & 0xffc0) == 0xfe80 || (first & 0xff0f) == 0xff02
}

/// Is this ICMPv6 type an error message (RFC 4443 2.1: types 0..127)?
#[inline]
fn is_icmp_error(t: Option<u8>) -> bool {
    t.is_some_and(|t| t < 128)
}

/// Classifies an IPv6 packet by its destination and protocol.
#[inline]
pub(super) fn classify6(snap: &Snapshot, ip: &Ipv6Facts) -> Class6 {
    if ip.proto == ip_proto::ICMPV6 && ip.is_neighbour_discovery() {
        return Class6::Nd;
    }
    let v6 = &snap.v6;
    if v6.own_port(ip.dst).is_some() {
        return if ip.is_echo_request() {
            Class6::Echo
        } else {
            Class6::Kernel
        };
    }
    if v6.is_vip(ip.dst) {
        if !snap.ha.active {
            return Class6::HaBackup;
        }
        return match ip.proto {
            ip_proto::ICMPV6 if ip.fragment => Class6::IcmpFragmentToVip,
            ip_proto::ICMPV6 if ip.is_echo_request() => Class6::Echo,
            ip_proto::ICMPV6 => Class6::IcmpToVip,
            _ => Class6::ToService,
        };
    }
    if link_scope(ip.dst) {
        return Class6::Kernel;
    }
    match ip.proto {
        _ if ip.dst.is_multicast() => Class6::NotForUs,
        ip_proto::TCP | ip_proto::UDP => Class6::Reply,
        ip_proto::ICMPV6 if is_icmp_error(ip.icmp_type) => Class6::IcmpFromReal,
        _ => Class6::NotForUs,
    }
}

impl<F: Frame> Engine<F> {
    /// Where a parsed IPv6 packet goes: the IPv6 side of `Engine::dispatch`. Without IPv6 state
    /// (no port has an IPv6 address), or on a port without one (IPv6 is off there), it is
    /// `ipv6_to_kernel`'s: dropped as unsupported.
    /// Not inlined into the IPv4 dispatch: that function stays the size it was.
    #[inline(never)]
    pub(super) fn dispatch6<O: Output<F>>(
        &mut self,
        f: F,
        p: Pkt6,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let (l3, port) = (p.l3, p.port);
        if self.v6.is_none() || self.snap.v6.port_addr(port).is_none() {
            return self.ipv6_to_kernel(f, l3, port, out, t);
        }
        match classify6(&self.snap, &p.ip) {
            Class6::Nd => self.nd(f, p, out, t),
            Class6::Echo => self.echo6(f, p, out, t),
            Class6::Kernel => self.ipv6_to_kernel(f, l3, port, out, t),
            Class6::ToService => self.inbound6(f, p, out, t),
            Class6::IcmpToVip => self.icmp6_error_in(f, p, out, t),
            Class6::Reply => self.reply6(f, p, out, t),
            Class6::IcmpFromReal => self.icmp6_error_out(f, p, out, t),
            Class6::IcmpFragmentToVip => t.inc(Counter::DropFragment),
            Class6::NotForUs => t.inc(Counter::DropNotForUs),
            Class6::HaBackup => t.inc(Counter::DropHaBackup),
        }
    }

    /// The other worker the connections of `client:cport` belong to, if not this one (a packet
    /// handed over is processed here whatever the rule says).
    #[inline]
    fn elsewhere6(&self, handed: bool, client: Ipv6Addr, cport: u16) -> Option<usize> {
        if handed {
            return None;
        }
        let owner = flow::owner_worker(client, cport, self.n_workers);
        (owner != self.id).then_some(owner)
    }

    /// Once per loop (from `housekeep`): links the loop's new NAT66 connections into the reply
    /// index and expires up to `budget` IPv6 connections.
    pub(super) fn housekeep6(&mut self, budget: usize, t: &mut WorkerTotals) {
        let Some(v6) = self.v6.as_mut() else {
            return;
        };
        v6.conns.link_replies();
        let expired = v6.conns.expire(self.now, budget);
        t.add(Counter::ConnExpired, expired as u64);
        // No persistence templates on the IPv6 path: the ended records have nothing to release.
        v6.conns.drain_ended(|_| {});
    }

    /// On adopting `snap`: this worker's IPv6 scheduler set when the IPv6 services changed.
    /// `Ok(None)`: nothing to change; `Err(())`: the set is gone (taken with a snapshot this
    /// worker skipped), so the worker must stay on its snapshot.
    pub(super) fn take_schedulers6(&self, snap: &Snapshot) -> Result<Option<Vec<Scheduler>>, ()> {
        match &self.v6 {
            Some(v6) if v6.sched_generation != snap.v6.services_generation => {
                snap.v6.take_schedulers(self.id).map(Some).ok_or(())
            }
            _ => Ok(None),
        }
    }

    /// Puts on the IPv6 scheduler set taken with [`Engine::take_schedulers6`]; returns the one
    /// it replaces, for the management thread to free.
    pub(super) fn adopt_schedulers6(
        &mut self,
        set: Vec<Scheduler>,
        generation: u64,
    ) -> Option<Vec<Scheduler>> {
        let v6 = self.v6.as_mut()?;
        v6.sched_generation = generation;
        Some(std::mem::replace(&mut v6.scheds, set))
    }
}

#[cfg(test)]
mod tests;
