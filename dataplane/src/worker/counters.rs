//! Per-worker counters, each declared once below with its name, metric family and help text; the
//! exit summary, `dataplane ctl stats`, the metrics endpoint and docs/counters.md all read that
//! declaration. Each worker is the only writer of its own block and publishes its local totals
//! once per loop iteration with plain relaxed stores (no read-modify-write, so no locked
//! instructions); the management thread reads them for the summary and metrics.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

/// The metric family a worker counter is exported in, with the label value it carries there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `dataplane_worker_packets_total{direction}`.
    Packets(&'static str),
    /// `dataplane_worker_handoffs_total{direction}`.
    Handoffs(&'static str),
    /// `dataplane_worker_drops_total{reason}`: a packet freed without being sent.
    Drops(&'static str),
    /// `dataplane_worker_events_total{event}`: everything else a worker counts.
    Events(&'static str),
}

impl Family {
    /// Every family, in exposition order.
    pub const ALL: [FamilyInfo; 4] = [
        FamilyInfo {
            metric: "dataplane_worker_packets_total",
            label: "direction",
            help: "Packets a worker received from its queues (rx) and sent (tx).",
        },
        FamilyInfo {
            metric: "dataplane_worker_handoffs_total",
            label: "direction",
            help: "Packets handed to the owning worker (out) and taken from other workers (in).",
        },
        FamilyInfo {
            metric: "dataplane_worker_drops_total",
            label: "reason",
            help: "Packets a worker dropped, by reason.",
        },
        FamilyInfo {
            metric: "dataplane_worker_events_total",
            label: "event",
            help: "Everything else a worker counts (polls, NAT, ARP, connections...), by event.",
        },
    ];

    /// The family's position in [`Family::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Family::Packets(_) => 0,
            Family::Handoffs(_) => 1,
            Family::Drops(_) => 2,
            Family::Events(_) => 3,
        }
    }

    pub const fn info(self) -> FamilyInfo {
        Family::ALL[self.index()]
    }

    /// The value of the family's label for this counter.
    pub const fn label_value(self) -> &'static str {
        match self {
            Family::Packets(v) | Family::Handoffs(v) | Family::Drops(v) | Family::Events(v) => v,
        }
    }
}

/// A metric family's name, its one label and its help text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FamilyInfo {
    pub metric: &'static str,
    pub label: &'static str,
    pub help: &'static str,
}

/// Declares the `Counter` enum and its table from one list of
/// `Variant = "name", Family("label"), "help";`.
macro_rules! counters {
    ($($variant:ident = $name:literal, $family:ident($label:literal), $help:literal;)+) => {
        /// Every counter a worker keeps, by index. Drops carry their reason in the name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Counter {
            $($variant,)+
        }

        impl Counter {
            pub const COUNT: usize = [$($name),+].len();
            pub const ALL: [Counter; Counter::COUNT] = [$(Counter::$variant),+];

            /// The snake_case name used in the summary, `ctl stats` and the docs.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Counter::$variant => $name,)+
                }
            }

            /// What the counter counts and, for a drop, what causes it.
            pub const fn help(self) -> &'static str {
                match self {
                    $(Counter::$variant => $help,)+
                }
            }

            /// The metric family it is exported in, with its label value there.
            pub const fn family(self) -> Family {
                match self {
                    $(Counter::$variant => Family::$family($label),)+
                }
            }
        }
    };
}

counters! {
    Rx = "rx", Packets("rx"),
        "Packets the worker received from its ports' RX queues.";
    Tx = "tx", Packets("tx"),
        "Packets the worker sent on its ports' TX queues.";
    TxDropped = "tx_dropped", Drops("tx_full"),
        "Packets a port's TX queue did not take (the queue was full); freed.";
    BusyPolls = "busy_polls", Events("busy_polls"),
        "Loop iterations that moved at least one packet.";
    IdlePolls = "idle_polls", Events("idle_polls"),
        "Loop iterations that found nothing to do (the idle back-off follows these).";
    HandoffOut = "handoff_out", Handoffs("out"),
        "Packets handed to another worker: the flow's owner, or the worker that sends on a port this one has no TX queue on.";
    HandoffIn = "handoff_in", Handoffs("in"),
        "Packets taken from other workers' handoff rings.";
    HandoffRingFull = "handoff_ring_full", Drops("handoff_ring_full"),
        "Packets for another worker dropped because its handoff ring was full.";
    ToKernel = "to_kernel", Events("to_kernel"),
        "Packets for the appliance itself passed to the management thread for the kernel's exception interface.";
    ToKernelRingFull = "to_kernel_ring_full", Drops("to_kernel_ring_full"),
        "Packets for the kernel dropped because the ring to the management thread was full.";
    FromKernel = "from_kernel", Events("from_kernel"),
        "Frames worker 0 took from the management thread to send out (the kernel's output, ARP the management thread built).";
    ArpReplies = "arp_replies", Events("arp_replies"),
        "ARP requests for a VIP or a port address answered.";
    EchoReplies = "echo_replies", Events("echo_replies"),
        "ICMP echo requests to a VIP or a port address answered.";
    ConnNew = "conn_new", Events("conn_new"),
        "Connections created (a real was scheduled).";
    ConnRefusedFull = "conn_refused_full", Drops("conn_refused_full"),
        "First packets of new connections dropped because the connection table was full and nothing could be evicted.";
    ConnEvicted = "conn_evicted", Events("conn_evicted"),
        "Half-open or closing TCP connections (the first to expire) evicted to make room for a new connection in a full connection table.";
    ConnExpired = "conn_expired", Events("conn_expired"),
        "Connections removed after their timeout.";
    NatIn = "nat_in", Events("nat_in"),
        "Client-to-real packets rewritten by NAT.";
    NatOut = "nat_out", Events("nat_out"),
        "Real-to-client packets rewritten by NAT.";
    DrIn = "dr_in", Events("dr_in"),
        "Client-to-real packets forwarded by direct routing (MAC rewrite).";
    TunIn = "tun_in", Events("tun_in"),
        "Client-to-real packets encapsulated (IPv4-in-IPv4, or IPv6-in-IPv6 for IPv6 services).";
    LocalIn = "local_in", Events("local_in"),
        "Client-to-real packets of a local real (the appliance itself) rewritten and delivered to its own kernel.";
    LocalOut = "local_out", Events("local_out"),
        "Replies of a local real (the appliance's kernel output) rewritten back to their VIP.";
    IcmpErrorsTranslated = "icmp_errors_translated", Events("icmp_errors_translated"),
        "ICMP errors quoting a NAT connection rewritten and forwarded (either direction).";
    FragNeededSent = "frag_needed_sent", Events("frag_needed_sent"),
        "ICMP fragmentation-needed sent to a client whose DF packet would not fit once encapsulated.";
    DropMalformed = "drop_malformed", Drops("malformed"),
        "Packets dropped because a header was short or inconsistent, or a rewrite found the packet unusable.";
    DropUnsupported = "drop_unsupported", Drops("unsupported"),
        "Packets dropped because their protocol is not handled (an ethertype other than ARP, IPv4 and IPv6, a QinQ double tag, ARP for another hardware or protocol type, IPv6 on a port without ip6, an IP protocol a VIP does not serve, an ICMP error about a DR/TUN connection).";
    DropNotForUs = "drop_not_for_us", Drops("not_for_us"),
        "Packets dropped because they are neither for the appliance nor part of a known connection (ARP for other hosts, another host's gratuitous ARP, transit traffic, replies and ICMP errors of no connection).";
    DropHaBackup = "drop_ha_backup", Drops("ha_backup"),
        "Packets to a VIP, and ARP requests for a VIP or a floating address, dropped because this node is not the VRRP master (docs/ha.md).";
    DropNoService = "drop_no_service", Drops("no_service"),
        "Packets to a VIP on a protocol and port no service listens on.";
    DropNoReal = "drop_no_real", Drops("no_real"),
        "New connections dropped because the scheduler found no available real (all down or weight 0).";
    DropAclDenied = "drop_acl_denied", Drops("acl_denied"),
        "New connections refused by the service's acl: the client is in its deny list, or its allow list is not empty and does not hold the client.";
    DropServiceFull = "drop_service_full", Drops("service_full"),
        "New connections refused because the service already holds max_connections (active and inactive, all workers).";
    DropRealsOverloaded = "drop_reals_overloaded", Drops("reals_overloaded"),
        "New connections refused because every real that could take them is overloaded (its connections reached upper_threshold and have not yet fallen below lower_threshold).";
    RealOverloaded = "real_overloaded", Events("real_overloaded"),
        "Times a worker marked a real overloaded: its connections (active and inactive, all workers) reached its upper_threshold.";
    DropNoConn = "drop_no_conn", Drops("no_conn"),
        "Packets to a VIP of no connection that cannot open one (a TCP packet without SYN, an ICMP error of no connection).";
    DropNoRoute = "drop_no_route", Drops("no_route"),
        "Packets dropped because no route leads to their destination, or the outgoing port has no IPv4 address (TUN).";
    DropNoNeighbour = "drop_no_neighbour", Drops("no_neighbour"),
        "Packets dropped because their next hop's MAC was not learned within 1 s (they waited in the ARP queue, or the IPv6 path's ND queue, that long).";
    DropTtl = "drop_ttl", Drops("ttl"),
        "Packets dropped because forwarding would send them with TTL 0 (a NAT rewrite refused them: TTL 0 or 1 on arrival).";
    DropFragment = "drop_fragment", Drops("fragment"),
        "Fragments dropped where fragments are not forwarded: ICMP fragments to a VIP, or a fragment that reached a whole-packet rewrite.";
    DropTooBig = "drop_too_big", Drops("too_big"),
        "TUN packets that would exceed the outgoing port's MTU once encapsulated and have DF clear (the outer packet is never fragmented), or whose fragmentation-needed reply could not be built.";
    DropNoException = "drop_no_exception", Drops("no_exception"),
        "Packets for the appliance itself on a port without an exception interface.";
    DropNoMbufRoom = "drop_no_mbuf_room", Drops("no_mbuf_room"),
        "Packets dropped because the mbuf had no headroom for the outer header (TUN).";
    FragmentsForwarded = "fragments_forwarded", Events("fragments_forwarded"),
        "IP fragments forwarded (first fragments balanced, later ones following them).";
    DropFragmentUnmatched = "drop_fragment_unmatched", Drops("fragment_unmatched"),
        "Later fragments dropped because their first fragment was not seen in the last 2 s.";
    DropAtStop = "drop_at_stop", Drops("at_stop"),
        "Packets still waiting when the appliance stopped (in a handoff or kernel ring, or parked for ARP): freed at stop.";
    DropNoHandoffRing = "drop_no_handoff_ring", Drops("no_handoff_ring"),
        "Packets for a worker this one has no handoff ring to (a wiring fault, never expected).";
    DropBadPort = "drop_bad_port", Drops("bad_port"),
        "Packets to transmit on a port index the worker does not know (a wiring fault, never expected).";
    DropBadIcmpChecksum = "drop_bad_icmp_checksum", Drops("bad_icmp_checksum"),
        "ICMP errors quoting a connection whose own checksum does not verify (translating them would launder the corruption).";
    DropNeighbourQueueFull = "drop_neighbour_queue_full", Drops("neighbour_queue_full"),
        "Packets for an unresolved next hop dropped on arrival: the ARP wait queue was full, or already held its per-neighbour share (a flood towards a neighbour that does not answer).";
    DropIcmpRateLimit = "drop_icmp_rate_limit", Drops("icmp_rate_limit"),
        "Packets that called for an ICMP error (fragmentation needed) over the worker's ICMP error rate; dropped unanswered.";
    DropExceptionRateLimit = "drop_exception_rate_limit", Drops("exception_rate_limit"),
        "Packets for the appliance itself over the worker's exception-path rate (a flood to its own address); dropped before the kernel ring.";

    SynCookiesSent = "syn_cookies_sent", Events("syn_cookies_sent"),
        "SYNs to a NAT service under SYN pressure (or with syn_proxy mode always) answered by the appliance with a SYN cookie, no state kept.";
    SynCookieAcks = "syn_cookie_acks", Events("syn_cookie_acks"),
        "ACKs that carried a valid SYN cookie: a connection was created and the proxy opened it to the real.";
    DropBadCookie = "drop_bad_cookie", Drops("bad_cookie"),
        "ACKs of no connection to a NAT service whose SYN proxy is acting on this worker (under SYN pressure, or mode always) and whose acknowledgement is not a valid cookie (forged, stale, or for another flow); otherwise such an ACK is drop_no_conn.";
    SynProxyOpened = "syn_proxy_opened", Events("syn_proxy_opened"),
        "SYN-proxied connections whose real answered the proxy's SYN: both halves joined, sequence numbers shifted from then on.";
    SynProxyRealReset = "syn_proxy_real_reset", Events("syn_proxy_real_reset"),
        "SYN-proxied connections the real refused (reset): the client is reset.";
    DropProxyOpening = "drop_proxy_opening", Drops("proxy_opening"),
        "Client packets of a SYN-proxied connection that arrived before its real answered (the client retransmits them), or unusable real packets then.";
    SynStateless = "syn_stateless", Events("syn_stateless"),
        "SYNs to a DR/TUN service under SYN pressure (or syn_proxy mode always) forwarded without creating a connection, to the real a consistent hash of the flow picks.";
    ConnFromAck = "conn_from_ack", Events("conn_from_ack"),
        "DR/TUN connections created by a handshake's ACK after a stateless SYN (to the same real the SYN went to).";
    SloppyConnNew = "sloppy_conn_new", Events("sloppy_conn_new"),
        "TCP connections created in ESTABLISHED from a packet that is not a SYN (a flow ECMP moved here from another appliance) on a service with sloppy_tcp; also counted in conn_new.";
    SloppySynAckConnNew = "sloppy_synack_conn_new", Events("sloppy_synack_conn_new"),
        "TCP connections created in SYN_RECV from a real's SYN-ACK that found no connection (scale-out NAT: the reply came back through this appliance before the peer's half-open sync record) on a NAT service with sloppy_tcp whose real address and port belong to it alone; also counted in conn_new.";

    SyncEvents = "sync_events", Events("sync_events"),
        "Connection events (new, state change, refresh, resync) queued for the sync sender.";
    SyncEventsLost = "sync_events_lost", Events("sync_events_lost"),
        "Connection events dropped because the sync event queue was full (the next refresh sends them again).";
    SyncInstalled = "sync_installed", Events("sync_installed"),
        "Connections installed or updated from a sync peer's records.";
    SyncInstallUnknown = "sync_install_unknown", Events("sync_install_unknown"),
        "Sync records skipped because this node has no such service or real (by address and port).";
    SyncInstallFull = "sync_install_full", Events("sync_install_full"),
        "Sync records skipped because the connection table was full.";

    NdAnswered = "nd_answered", Events("nd_answered"),
        "IPv6 Neighbor Solicitations for a VIP or a port address answered (the IPv6 side of arp_replies).";
    DropNat64PortsFull = "drop_nat64_ports_full", Drops("nat64_ports_full"),
        "New NAT64 connections refused because the worker found no free IPv4 port to bind on the appliance's address (every port it tried holds a live connection).";
    PacketTooBigSent = "packet_too_big_sent", Events("packet_too_big_sent"),
        "ICMPv6 Packet Too Big sent to a client whose IPv6 packet would not fit once encapsulated (TUN6; the IPv6 side of frag_needed_sent).";
    DropNat64IcmpUntranslatable = "drop_nat64_icmp_untranslatable", Drops("nat64_icmp_untranslatable"),
        "ICMP errors about a NAT64 connection of a type or code RFC 7915 does not translate (redirect, source quench, a parameter problem pointer with no counterpart...), either direction.";
}

/// One worker's published counters, on their own cache lines so workers never false-share.
#[repr(align(128))]
#[derive(Debug)]
pub struct WorkerCounters {
    vals: [AtomicU64; Counter::COUNT],
    /// Poll loops completed (the loop epoch): replay's drain waits for every worker to complete
    /// loops that started after the last input was read (runtime/drain.rs).
    loops: AtomicU64,
}

impl Default for WorkerCounters {
    fn default() -> Self {
        WorkerCounters {
            vals: std::array::from_fn(|_| AtomicU64::new(0)),
            loops: AtomicU64::new(0),
        }
    }
}

/// A plain snapshot of one worker's counters (also the worker's local accumulator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerTotals {
    pub vals: [u64; Counter::COUNT],
}

impl Default for WorkerTotals {
    fn default() -> Self {
        WorkerTotals {
            vals: [0; Counter::COUNT],
        }
    }
}

impl WorkerTotals {
    #[inline(always)]
    pub fn add(&mut self, c: Counter, n: u64) {
        self.vals[c as usize] += n;
    }

    #[inline(always)]
    pub fn inc(&mut self, c: Counter) {
        self.vals[c as usize] += 1;
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.vals[c as usize]
    }

    /// Everything except the poll counts: what changes only when packets move.
    pub fn traffic(&self) -> Vec<u64> {
        Counter::ALL
            .iter()
            .filter(|c| !matches!(c, Counter::BusyPolls | Counter::IdlePolls))
            .map(|&c| self.get(c))
            .collect()
    }

    /// Total drops of every reason (every counter of the drops family).
    pub fn drops(&self) -> u64 {
        Counter::ALL
            .iter()
            .filter(|c| matches!(c.family(), Family::Drops(_)))
            .map(|&c| self.get(c))
            .sum()
    }

    /// Every counter with its value, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (Counter, u64)> + '_ {
        Counter::ALL.iter().map(|&c| (c, self.get(c)))
    }
}

impl WorkerCounters {
    /// Publishes the worker's running totals (called by the owning worker only).
    #[inline]
    pub fn publish(&self, t: &WorkerTotals) {
        for (a, &v) in self.vals.iter().zip(t.vals.iter()) {
            a.store(v, Relaxed);
        }
    }

    /// Says that the worker's `n`th poll loop is complete (called by the owning worker only, at
    /// the very end of the loop, after its outputs are flushed and its counters published). One
    /// plain store; Release so that a reader that sees `n` also sees that loop's ring enqueues,
    /// transmissions and counters (on x86 it compiles to the same `mov` as Relaxed).
    #[inline]
    pub fn loop_done(&self, n: u64) {
        self.loops.store(n, Release);
    }

    /// Poll loops the worker has completed (0: it has not finished its first yet).
    pub fn loops(&self) -> u64 {
        self.loops.load(Acquire)
    }

    pub fn snapshot(&self) -> WorkerTotals {
        WorkerTotals {
            vals: std::array::from_fn(|i| self.vals[i].load(Relaxed)),
        }
    }
}
