//! Tunables: the fixed sizes, budgets and periods of the appliance, in one documented place (as
//! Katran keeps its constants). Each says what it bounds and why it has its value. Sections are
//! by the part of the appliance that reads them.

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
