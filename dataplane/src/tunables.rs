//! The appliance's tunables in one documented place (the way Katran keeps its constants): each
//! says what it bounds and why it has its value. Grouped by the part of the appliance they
//! size; configuration keys (`conn.max_per_core`, timeouts, ...) are not here, only the fixed
//! choices behind them.

/// The connection table (`lb/conn/`).
pub mod conn {
    /// Largest connection table capacity per worker. Keeps every slot index, the `NIL` link
    /// (`u32::MAX`), the sweep cursors just below it, and the bucket reduction
    /// `(hash >> 32) * buckets` inside their integer types; 2^30 connections (60 GiB of IPv4
    /// entries) is far beyond one worker's memory anyway.
    pub const MAX_CAPACITY: u32 = 1 << 30;

    /// How many wheel slots + entries an insert into a full table may inspect looking for a
    /// connection to evict. Bounds the worst-case cost of one insert under a SYN flood (a few
    /// hundred nanoseconds of cache misses); 64 finds a half-open connection whenever the
    /// soonest-expiring second holds one, which is where a flood's entries sit.
    pub const EVICT_PROBES: u32 = 64;

    /// Records the ended-connection ring holds (connections with a persistence template that
    /// ended and wait for the worker to release the template). `expire` ends at most this many
    /// templated connections per call; the worker drains after every call, and its expiry
    /// budget per loop is of the same order, so 64 never holds back an expiry in practice.
    pub const ENDED_CAPACITY: u32 = 64;

    /// Connections per timer-wheel slot the wheel is sized for: capacity / 16 slots (a power
    /// of two), so a full table has about 16 entries per one-second slot and the wheel costs
    /// 0.25 bytes per connection.
    pub const WHEEL_CONNS_PER_SLOT: usize = 16;

    /// Fewest timer-wheel slots (one-second each): a small table still spans a minute, the
    /// shortest common timeout (`tcp_syn_recv`, `icmp`), so those entries are filed exactly.
    pub const WHEEL_SLOTS_MIN: usize = 64;

    /// Most timer-wheel slots: 4096 s (over an hour, beyond every default timeout but the
    /// established one) and within the entry's u16 slot field; longer expiries are visited once
    /// per revolution.
    pub const WHEEL_SLOTS_MAX: usize = 4096;

    /// The bucket-hash seed `ConnConfig::new` uses. Fixed so that tests and benchmarks are
    /// reproducible; the runtime replaces it with a random value per table (hash-flooding
    /// resistance).
    pub const DEFAULT_HASH_SEED: u64 = 0x6C62_2D63_6F6E_6E31;
}

/// Neighbour resolution (`mgmt::neighbours`): how the management thread keeps next hops
/// resolved by ARP.
pub mod neighbours {
    use std::time::Duration;

    /// An unresolved next hop is asked again after this long. One second is what the kernel's
    /// ARP does (`retrans_time_ms` 1000): a real server that comes up is found within about a
    /// second, and an absent one costs one request a second.
    pub const ARP_RETRY: Duration = Duration::from_secs(1);
    /// A resolved next hop is asked again after this long, so an entry stays fresh when a real
    /// server's MAC changes (a replaced NIC, a VRRP pair on the real side) even if it never sends
    /// a gratuitous ARP; the kernel's `base_reachable_time` is of the same order (30 s).
    pub const ARP_REFRESH: Duration = Duration::from_secs(30);
    /// A learned entry not confirmed by any ARP packet for this long is forgotten (and asked
    /// again when needed). Ten refresh periods: a next hop has missed ten requests in a row.
    pub const NEIGHBOUR_STALE: Duration = Duration::from_secs(300);
}
