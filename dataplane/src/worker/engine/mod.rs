//! One worker's packet processing, free of DPDK: classify each frame, keep the connection
//! table, and apply the LVS forwarding. Every packet ends in exactly one place: sent out of a
//! port, handed to another worker, given to the kernel, parked for its next hop's MAC, or
//! dropped with its reason counted.
//!
//! Generic over the packet buffer ([`Frame`]: the DPDK mbuf, or a plain buffer in tests) and
//! over where packets go ([`Output`]: TX bursts and rte_rings, or recording vectors), and
//! monomorphised, so the DPDK build pays nothing for either. One concern per file:
//! - `adopt.rs`: following the published snapshot without allocating or freeing;
//! - `classify.rs`: what a parsed packet is, who owns its connection, and the burst warm-up;
//! - `inbound.rs`: client -> VIP (lookup, new connection, scheduling, NAT/DR/TUN);
//! - `admission.rs`: whether a new connection is admitted (acl, limits, overloaded reals);
//! - `reply.rs`: real -> client (NAT);
//! - `synproxy.rs`: SYN-flood defence (SYN cookies and the proxy for NAT, stateless SYNs for DR/TUN);
//! - `local.rs`: the local node (a real that is the appliance itself, served by its kernel);
//! - `icmp.rs`: echo replies and ICMP errors both ways;
//! - `fragments.rs`: the fragment table and the later fragments of a datagram;
//! - `arp.rs`: ARP answers and neighbour events for the management thread;
//! - `output.rs`: the output trait, next-hop resolution and the wait queue for unresolved ones;
//! - `limits.rs`: per-worker rate limits (generated ICMP errors, the exception path);
//! - `sim.rs`: engines in process over plain buffers (fixtures, property tests, fuzzing);
//! - `fuzz.rs`: the fuzz driver (arbitrary bytes -> frames on two ports of two workers);
//! - `v6/`: the IPv6 path (its own connection table, classification and forwarding).

mod admission;
mod adopt;
mod arp;
mod classify;
mod fragments;
pub mod fuzz;
#[cfg(test)]
mod ha_tests;
mod icmp;
mod inbound;
mod ipv6_kernel;
pub mod limits;
mod local;
mod output;
mod reply;
pub mod sim;
mod sloppy;
mod sloppy_synack;
pub mod sync;
mod synproxy;
pub mod v6;

pub use admission::Admission;
pub use adopt::Retired;
pub use classify::WARM_MAX;
pub use fragments::{FragAction, FragKey, FragTable};
pub use output::{Output, Pending};
pub use v6::V6State;

use crate::lb::conn::ConnTable;
use crate::lb::forward::ForwardError;
use crate::lb::neigh::NeighEvent;
use crate::lb::persist::{PersistTable, TemplateRef};
use crate::lb::route::PortIdx;
use crate::lb::sched::Scheduler;
use crate::lb::snapshot::Snapshot;
use crate::wire::{parse_frame, Frame, Ipv4Facts, Net, Parsed, WireError};
use crate::worker::counters::{Counter, WorkerTotals};
use crate::worker::meta::Kind;
use crate::worker::stats::RealTraffic;
use classify::Class;
use crossbeam::queue::ArrayQueue;
use std::sync::Arc;

pub use crate::tunables::EXPIRE_BUDGET;

/// One worker's engine: its connection table, persistence templates, fragment table and
/// parked packets, and the snapshot of control-plane state it currently follows.
pub struct Engine<F> {
    pub id: usize,
    pub n_workers: usize,
    pub snap: Arc<Snapshot>,
    /// One scheduler per service of `snap` (taken from the snapshot, never built here).
    pub scheds: Vec<Scheduler>,
    /// The services generation `scheds` belong to.
    pub(super) sched_generation: u64,
    /// Snapshots and scheduler sets this worker no longer uses, for the management thread to
    /// free (a worker never frees on its loop).
    pub retire: Arc<ArrayQueue<Retired>>,
    /// What the retire queue had no room for yet (retried before the next adoption).
    pub(super) backlog: Option<Retired>,
    pub conns: ConnTable,
    pub persist: PersistTable,
    /// Neighbour events for the management thread (senders seen, next hops missing).
    pub events: Arc<ArrayQueue<NeighEvent>>,
    /// Packets waiting for their next hop's MAC.
    pub pending: Pending<F>,
    /// What the first fragments of datagrams decided, for their later fragments.
    pub frags: FragTable,
    pub traffic: RealTraffic,
    /// Overload marks and the scheduler's view of a service's reals (`admission.rs`).
    admission: Admission,
    /// What a flood may make this worker generate or pass to the kernel.
    pub limits: limits::Limits,
    /// The clock (ms) the caller sets before processing.
    pub now: u64,
    /// What `warm` parsed of the IPv4 packets of the burst being processed (packet `i` has
    /// `warmed[i]` when bit `i` of `warmed_v4` is set), so an IPv4 packet is parsed once.
    /// Only IPv4: a record of the whole `Parsed` (a 72-byte union of the families) was copied
    /// through a stack temporary with wide loads over narrow stores, a store-forwarding stall
    /// per packet; the rarer ARP/IPv6/other frames are parsed again when processed.
    warmed: [(usize, Ipv4Facts); WARM_MAX],
    warmed_v4: u64,
    /// Connection sync's rings (empty when sync is off: `sync.rs`).
    pub sync: sync::SyncIo,
    /// The IPv6 path's state (`v6/`); `None` when no port has an IPv6 address. Boxed: the
    /// engine's own fields, which the IPv4 path reads, keep their size and layout.
    pub v6: Option<Box<V6State<F>>>,
}

/// An IPv4 packet being processed: where its IP header starts, what it says, the port it
/// concerns, and whether another worker already handed it here.
#[derive(Clone, Copy)]
pub(crate) struct Pkt {
    pub l3: usize,
    pub ip: Ipv4Facts,
    pub port: PortIdx,
    pub handed: bool,
}

impl<F: Frame> Engine<F> {
    /// An engine for worker `id` of `n_workers`, following `snap` (at start-up, before the
    /// loop: the only place an engine may build its own schedulers, if its set was taken).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: usize,
        n_workers: usize,
        snap: Arc<Snapshot>,
        conns: ConnTable,
        persist: PersistTable,
        events: Arc<ArrayQueue<NeighEvent>>,
        retire: Arc<ArrayQueue<Retired>>,
        traffic: RealTraffic,
    ) -> Engine<F> {
        let scheds = snap.take_schedulers(id).unwrap_or_else(|| {
            let services = snap.services.services();
            services.iter().map(|s| s.new_scheduler()).collect()
        });
        let admission = Admission::new(conns.loads().len());
        Engine {
            id,
            n_workers,
            admission,
            sched_generation: snap.services_generation,
            snap,
            scheds,
            retire,
            backlog: None,
            conns,
            persist,
            events,
            pending: Pending::default(),
            frags: FragTable::new(),
            traffic,
            limits: limits::Limits::default(),
            now: 0,
            warmed: [(0, Ipv4Facts::default()); WARM_MAX],
            warmed_v4: 0,
            sync: sync::SyncIo::default(),
            v6: None,
        }
    }

    /// Processes one packet. `kind`/`port` come from the packet's tag (handed over) or are
    /// (Fresh, the port it arrived on).
    #[inline]
    pub fn process<O: Output<F>>(
        &mut self,
        f: F,
        kind: Kind,
        port: PortIdx,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let handed = match kind {
            Kind::Transmit => return out.transmit(port, f, t),
            Kind::Kernel => return out.kernel(port, f, t),
            Kind::LocalReply => return self.local_reply_handed(f, port, out, t),
            Kind::Fresh => false,
            Kind::Process => true,
        };
        let parsed = parse_frame(f.data());
        self.dispatch(f, parsed, port, handed, out, t);
    }

    /// Processes packet `i` of the burst last given to [`Engine::warm`] (received on `port`),
    /// with what the warm-up parsed of it (parsed here past the warmed ones).
    #[inline]
    pub fn process_received<O: Output<F>>(
        &mut self,
        i: usize,
        f: F,
        port: PortIdx,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        if i < WARM_MAX && self.warmed_v4 & (1 << i) != 0 {
            let (l3, ip) = self.warmed[i];
            let p = Pkt {
                l3,
                ip,
                port,
                handed: false,
            };
            return self.dispatch4(f, p, out, t);
        }
        let parsed = parse_frame(f.data());
        self.dispatch(f, parsed, port, false, out, t);
    }

    /// Where a parsed packet goes: the one dispatch of the engine.
    #[inline]
    fn dispatch<O: Output<F>>(
        &mut self,
        f: F,
        parsed: Result<Parsed, WireError>,
        port: PortIdx,
        handed: bool,
        out: &mut O,
        t: &mut WorkerTotals,
    ) {
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => return t.inc(wire_drop_reason(e)),
        };
        let ip = match parsed.net {
            Net::Ipv4(ip) => ip,
            Net::Arp(a) => return self.arp(f, parsed.l3, a, port, out, t),
            Net::Ipv6(ip) => {
                let p = v6::Pkt6 {
                    l3: parsed.l3,
                    ip,
                    port,
                    handed,
                };
                return self.dispatch6(f, p, out, t);
            }
            Net::Other(_) => return t.inc(Counter::DropUnsupported),
        };
        let p = Pkt {
            l3: parsed.l3,
            ip,
            port,
            handed,
        };
        self.dispatch4(f, p, out, t)
    }

    /// Where an IPv4 packet goes.
    #[inline]
    fn dispatch4<O: Output<F>>(&mut self, f: F, p: Pkt, out: &mut O, t: &mut WorkerTotals) {
        match classify::classify(&self.snap, &p.ip) {
            Class::Echo => self.echo_reply(f, p, out, t),
            Class::Kernel => self.kernel_or_nat64(f, p, out, t),
            Class::ToService => self.inbound(f, p, out, t),
            Class::IcmpToVip => self.icmp_error_in(f, p, out, t),
            Class::Reply => self.reply(f, p, out, t),
            Class::IcmpFromReal => self.icmp_error_out(f, p, out, t),
            Class::IcmpFragmentToVip => t.inc(Counter::DropFragment),
            Class::NotForUs => t.inc(Counter::DropNotForUs),
            Class::HaBackup => t.inc(Counter::DropHaBackup),
        }
    }

    /// The worker is stopping: frees the packets parked for ARP (the only packets an engine
    /// holds between loops) and counts them as `drop_at_stop`.
    pub fn stop(&mut self, t: &mut WorkerTotals) {
        t.add(Counter::DropAtStop, self.pending.free_all() as u64);
        t.add(Counter::DropAtStop, self.free_parked6() as u64);
    }

    /// Once per loop: links the loop's new NAT connections into the reply index, expires up to
    /// [`EXPIRE_BUDGET`] connections (bounded work, never a stall) and releases the persistence templates of the connections that ended.
    pub fn housekeep(&mut self, t: &mut WorkerTotals) {
        // The loop's new NAT connections join the reply index (their buckets were prefetched).
        self.conns.link_replies();
        let expired = self.conns.expire(self.now, EXPIRE_BUDGET);
        t.add(Counter::ConnExpired, expired as u64);
        let persist = &mut self.persist;
        let now = self.now;
        self.conns.drain_ended(|e| {
            if let Some(tr) = e.template {
                persist.release(TemplateRef::from_raw(tr), e.real, now);
            }
        });
        self.housekeep6(EXPIRE_BUDGET, t);
    }
}

/// The drop counter of a frame the parser or a rewrite refused: a well-formed frame the engine
/// does not handle (a QinQ double tag, ARP for another hardware or protocol type) is
/// unsupported, not malformed.
#[inline]
pub fn wire_drop_reason(e: WireError) -> Counter {
    match e {
        WireError::Unsupported => Counter::DropUnsupported,
        _ => Counter::DropMalformed,
    }
}

/// The drop counter for a packet a rewrite refused: each reason its own counter.
#[inline]
pub fn drop_reason(e: ForwardError) -> Counter {
    match e {
        ForwardError::TtlExpired => Counter::DropTtl,
        ForwardError::Wire(e) => wire_drop_reason(e),
        ForwardError::Fragment => Counter::DropFragment,
        ForwardError::BadIcmpChecksum => Counter::DropBadIcmpChecksum,
        // Only the "fragmentation needed" answer refuses this way (no DF, a later fragment, a
        // non-unicast source): the packet is dropped for being too big, unanswered.
        ForwardError::NotAnswerable => Counter::DropTooBig,
        ForwardError::NoRoom => Counter::DropNoMbufRoom,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst warmed as a whole: each packet is processed with its own parse (the warm-up
    /// keeps IPv4 packets' facts; garbage and ARP are parsed again, and so is one past the
    /// warmed ones).
    #[test]
    fn a_warmed_burst_is_processed_with_its_own_parses() {
        let mut sim = sim::Sim::new(sim::EXAMPLE_CONFIG, 1, false).unwrap();
        let t = fuzz::templates();
        // A SYN to the NAT service, garbage, an ARP request for the VIP, a UDP query to the
        // DR service; then, not warmed, an echo request.
        let burst = [t[1].clone(), vec![0xff; 10], t[14].clone(), t[3].clone()];
        let w = &mut sim.workers[0];
        w.engine.warm(burst.iter().map(|f| &f[..]));
        for (i, f) in burst.iter().chain([&t[11]]).enumerate() {
            let f = crate::wire::VecFrame::new(f);
            w.engine
                .process_received(i, f, 0, &mut w.out, &mut w.totals);
        }
        let c = sim.nonzero_counters();
        for (name, want) in [
            ("nat_in", 1),
            ("drop_malformed", 1),
            ("arp_replies", 1),
            ("dr_in", 1),
            ("echo_replies", 1),
        ] {
            assert_eq!(c.get(name), Some(&want), "{name}: {c:?}");
        }
    }

    #[test]
    fn every_rewrite_error_has_its_own_reason() {
        let cases = [
            (ForwardError::TtlExpired, "drop_ttl"),
            (ForwardError::Wire(WireError::Truncated), "drop_malformed"),
            (
                ForwardError::Wire(WireError::Unsupported),
                "drop_unsupported",
            ),
            (ForwardError::Fragment, "drop_fragment"),
            (ForwardError::BadIcmpChecksum, "drop_bad_icmp_checksum"),
            (ForwardError::NotAnswerable, "drop_too_big"),
            (ForwardError::NoRoom, "drop_no_mbuf_room"),
        ];
        for (e, name) in cases {
            assert_eq!(drop_reason(e).name(), name, "{e:?}");
        }
    }
}
