//! Per-worker counters. Each worker is the only writer of its own block and publishes its local
//! totals once per loop iteration with plain relaxed stores (no read-modify-write, so no locked
//! instructions); the management thread reads them for the summary and metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Every counter a worker keeps, by index. Drops carry their reason in the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    Rx,
    Tx,
    TxDropped,
    BusyPolls,
    IdlePolls,
    HandoffOut,
    HandoffIn,
    HandoffRingFull,
    ToKernel,
    ToKernelRingFull,
    FromKernel,
    ArpReplies,
    EchoReplies,
    ConnNew,
    ConnRefusedFull,
    ConnExpired,
    NatIn,
    NatOut,
    DrIn,
    TunIn,
    /// Client -> VIP delivered to the appliance's own kernel (a local real).
    LocalIn,
    /// A local real's reply (the kernel's output) rewritten back to its VIP.
    LocalOut,
    IcmpErrorsTranslated,
    FragNeededSent,
    DropMalformed,
    DropUnsupported,
    DropNotForUs,
    DropNoService,
    DropNoReal,
    DropNoConn,
    DropNoRoute,
    DropNoNeighbour,
    DropTtl,
    DropFragment,
    DropTooBig,
    DropNoException,
    DropNoMbufRoom,
    FragmentsForwarded,
    DropFragmentUnmatched,
    /// A handoff to a worker this one has no ring to (a wiring fault, never expected).
    DropNoHandoffRing,
    /// A transmit to a port index the worker does not know.
    DropBadPort,
    /// An ICMP error whose own checksum does not verify (translating it would launder it).
    DropBadIcmpChecksum,
}

impl Counter {
    pub const ALL: [Counter; 42] = [
        Counter::Rx,
        Counter::Tx,
        Counter::TxDropped,
        Counter::BusyPolls,
        Counter::IdlePolls,
        Counter::HandoffOut,
        Counter::HandoffIn,
        Counter::HandoffRingFull,
        Counter::ToKernel,
        Counter::ToKernelRingFull,
        Counter::FromKernel,
        Counter::ArpReplies,
        Counter::EchoReplies,
        Counter::ConnNew,
        Counter::ConnRefusedFull,
        Counter::ConnExpired,
        Counter::NatIn,
        Counter::NatOut,
        Counter::DrIn,
        Counter::TunIn,
        Counter::LocalIn,
        Counter::LocalOut,
        Counter::IcmpErrorsTranslated,
        Counter::FragNeededSent,
        Counter::DropMalformed,
        Counter::DropUnsupported,
        Counter::DropNotForUs,
        Counter::DropNoService,
        Counter::DropNoReal,
        Counter::DropNoConn,
        Counter::DropNoRoute,
        Counter::DropNoNeighbour,
        Counter::DropTtl,
        Counter::DropFragment,
        Counter::DropTooBig,
        Counter::DropNoException,
        Counter::DropNoMbufRoom,
        Counter::FragmentsForwarded,
        Counter::DropFragmentUnmatched,
        Counter::DropNoHandoffRing,
        Counter::DropBadPort,
        Counter::DropBadIcmpChecksum,
    ];
    pub const COUNT: usize = Counter::ALL.len();

    /// The snake_case name used in summaries and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Rx => "rx",
            Counter::Tx => "tx",
            Counter::TxDropped => "tx_dropped",
            Counter::BusyPolls => "busy_polls",
            Counter::IdlePolls => "idle_polls",
            Counter::HandoffOut => "handoff_out",
            Counter::HandoffIn => "handoff_in",
            Counter::HandoffRingFull => "handoff_ring_full",
            Counter::ToKernel => "to_kernel",
            Counter::ToKernelRingFull => "to_kernel_ring_full",
            Counter::FromKernel => "from_kernel",
            Counter::ArpReplies => "arp_replies",
            Counter::EchoReplies => "echo_replies",
            Counter::ConnNew => "conn_new",
            Counter::ConnRefusedFull => "conn_refused_full",
            Counter::ConnExpired => "conn_expired",
            Counter::NatIn => "nat_in",
            Counter::NatOut => "nat_out",
            Counter::DrIn => "dr_in",
            Counter::TunIn => "tun_in",
            Counter::LocalIn => "local_in",
            Counter::LocalOut => "local_out",
            Counter::IcmpErrorsTranslated => "icmp_errors_translated",
            Counter::FragNeededSent => "frag_needed_sent",
            Counter::DropMalformed => "drop_malformed",
            Counter::DropUnsupported => "drop_unsupported",
            Counter::DropNotForUs => "drop_not_for_us",
            Counter::DropNoService => "drop_no_service",
            Counter::DropNoReal => "drop_no_real",
            Counter::DropNoConn => "drop_no_conn",
            Counter::DropNoRoute => "drop_no_route",
            Counter::DropNoNeighbour => "drop_no_neighbour",
            Counter::DropTtl => "drop_ttl",
            Counter::DropFragment => "drop_fragment",
            Counter::DropTooBig => "drop_too_big",
            Counter::DropNoException => "drop_no_exception",
            Counter::DropNoMbufRoom => "drop_no_mbuf_room",
            Counter::FragmentsForwarded => "fragments_forwarded",
            Counter::DropFragmentUnmatched => "drop_fragment_unmatched",
            Counter::DropNoHandoffRing => "drop_no_handoff_ring",
            Counter::DropBadPort => "drop_bad_port",
            Counter::DropBadIcmpChecksum => "drop_bad_icmp_checksum",
        }
    }
}

/// One worker's published counters, on their own cache lines so workers never false-share.
#[repr(align(128))]
#[derive(Debug)]
pub struct WorkerCounters {
    vals: [AtomicU64; Counter::COUNT],
}

impl Default for WorkerCounters {
    fn default() -> Self {
        WorkerCounters {
            vals: std::array::from_fn(|_| AtomicU64::new(0)),
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

    /// Total drops of every reason.
    pub fn drops(&self) -> u64 {
        Counter::ALL
            .iter()
            .filter(|c| c.name().starts_with("drop_"))
            .map(|&c| self.get(c))
            .sum()
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

    pub fn snapshot(&self) -> WorkerTotals {
        WorkerTotals {
            vals: std::array::from_fn(|i| self.vals[i].load(Relaxed)),
        }
    }
}
