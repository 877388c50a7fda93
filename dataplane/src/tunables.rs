//! The data plane's tunables in one documented place (as Katran keeps its constants): each
//! bounds some work, memory or wait; each says what it bounds and why that value. Sections per
//! part of the appliance. Config keys are for what an operator sizes (`conn.max_per_core`,
//! `workers.burst`); these are the engineering choices behind them.

/// The LB worker's loop and its engine (dataplane/src/worker/).
pub mod worker {
    /// Packets of a burst whose connection-table bucket and entry the warm-up prefetches
    /// before processing. Covers the largest usual burst (32) twice over; past that the
    /// first lines would be evicted again before use (64 x 2 lines = 8 KiB of L1).
    pub const WARM_MAX: usize = 64;

    /// Connections the timer wheel may expire per loop: bounded work per iteration (a few
    /// microseconds), never a stall when many expire at once; at tens of thousands of loops
    /// a second that still retires millions of connections a second.
    pub const EXPIRE_BUDGET: usize = 64;

    /// How often (ms) a worker publishes its per-real figures for `ctl` and the metrics: ten
    /// times a second is live enough for an operator and costs one pass over the reals.
    pub const PUBLISH_MS: u64 = 100;

    /// Connection-table slots a listing (`ctl conns`) walks per loop: keeps a listing of a
    /// million-entry table from delaying packets (about a microsecond of work per loop).
    pub const DUMP_SLOTS_PER_LOOP: u32 = 1024;

    /// Packets a worker parks while their next hop's MAC is resolved (preallocated). ARP
    /// answers within milliseconds, so only the first packets of a new next hop wait; 64 holds
    /// two bursts without growing the per-worker footprint.
    pub const PENDING_PACKETS: usize = 64;

    /// How long (ms) a parked packet waits for its next hop before it is dropped
    /// (`drop_no_neighbour`): the management thread asks every second, so one full retry
    /// round; longer would only hold mbufs for a neighbour that is not there.
    pub const PENDING_WAIT_MS: u64 = 1000;

    /// Fragment-table slots per worker (a power of two): the first-fragment decisions of up to
    /// a few thousand datagrams in flight, 160 KiB per worker.
    pub const FRAG_SLOTS: usize = 4096;

    /// Slots one datagram's key may occupy from its hash on: bounded lookups; a full window
    /// overwrites its oldest entry.
    pub const FRAG_PROBE: usize = 8;

    /// How long (ms) a first fragment's decision holds for the later fragments: fragments of a
    /// datagram arrive back to back in practice; 2 s covers reordering and slow links without
    /// keeping stale entries (Linux keeps incomplete datagrams 30 s, but it reassembles).
    pub const FRAG_TTL_MS: u64 = 2000;

    /// Retired snapshots (with their scheduler sets) a worker may hand back before the
    /// management thread frees them. It drains every millisecond and snapshots change far
    /// less often; when full the worker delays its next adoption by a loop, never frees.
    pub const RETIRE_QUEUE: usize = 16;
}
