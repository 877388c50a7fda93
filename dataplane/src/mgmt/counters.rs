//! The management thread's own counters, each declared once below with its help text; the exit
//! summary, `dataplane ctl stats`, the metrics endpoint and docs/counters.md read that
//! declaration. The management thread is their only writer; it publishes them once per tick
//! for the control and metrics threads.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Declares `MgmtCounters` (one `u64` field per counter, so the management thread writes
/// `self.counters.garps += 1`) and its table from one list of `field: "help";`.
macro_rules! mgmt_counters {
    ($($field:ident: $help:literal;)+) => {
        /// Counters of the management thread's own traffic and work.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct MgmtCounters {
            $(#[doc = $help] pub $field: u64,)+
        }

        impl MgmtCounters {
            pub const COUNT: usize = [$(stringify!($field)),+].len();
            /// (name, help) of every counter, in declaration order.
            pub const DECLARED: [(&'static str, &'static str); MgmtCounters::COUNT] =
                [$((stringify!($field), $help)),+];

            /// The values, in declaration order.
            pub fn values(&self) -> [u64; MgmtCounters::COUNT] {
                [$(self.$field),+]
            }

            fn from_values(v: [u64; MgmtCounters::COUNT]) -> MgmtCounters {
                let mut it = v.into_iter();
                MgmtCounters {
                    $($field: it.next().unwrap_or(0),)+
                }
            }
        }
    };
}

mgmt_counters! {
    to_kernel: "Packets for the appliance itself written to a port's exception interface.";
    from_kernel: "Frames the kernel sent on an exception interface, passed to worker 0 to leave by the port.";
    kernel_dropped: "Frames dropped between the workers, the kernel and worker 0: no exception interface, its queue full, or worker 0's ring full.";
    arp_requests: "ARP requests sent to resolve next hops and reals.";
    garps: "Gratuitous ARP announcements sent for the VIPs at start (with VRRP: for the VIPs and floating addresses on becoming master).";
    snapshots: "Snapshots published to the workers (reloads, weight changes, neighbour and health changes).";
    sync_sent: "Sync datagrams sent (one per destination: the group, or each unicast peer).";
    sync_bytes_sent: "Bytes of sync datagrams sent (UDP payload).";
    sync_records_sent: "Connection records put into sync datagrams.";
    sync_send_errors: "Sync datagrams the kernel refused to send (the socket buffer full, no route).";
    sync_received: "Sync datagrams accepted (format, HMAC and replay window checked).";
    sync_datagrams_missed: "Sync datagrams never received: gaps in a peer's sequence numbers (lost on the way; UDP does not retransmit, the next refresh or a resync sends the connections again).";
    sync_records_received: "Connection records in accepted sync datagrams, routed to their owning worker.";
    sync_records_ignored: "Records in accepted datagrams this node does not install (sync role master).";
    sync_records_unknown: "Records naming a service this node does not have (by protocol, VIP and port), or another family.";
    sync_install_queue_full: "Records dropped because the owning worker's install queue was full.";
    sync_drop_truncated: "Sync datagrams dropped: shorter than the header, records and trailer they declare.";
    sync_drop_bad_magic: "Sync datagrams dropped: not a sync datagram (bad magic).";
    sync_drop_wrong_version: "Sync datagrams dropped: a version this build does not speak.";
    sync_drop_bad_mac: "Sync datagrams dropped: the HMAC does not match (forged, or another key).";
    sync_drop_malformed: "Sync datagrams dropped: authenticated but malformed (kind, length or a record field).";
    sync_drop_replayed: "Sync datagrams dropped: their sequence number was seen already.";
    sync_drop_stale: "Sync datagrams dropped: their sequence number is older than the replay window.";
    sync_drop_own_sender: "Sync datagrams dropped: carrying this node's own sender id.";
    sync_resync_requests_sent: "Full-table resync requests this node sent (at start, repeated until a peer answers).";
    sync_resync_requests_received: "Full-table resync requests from peers, each answered by a table stream.";
    vrrp_adverts_sent: "VRRP adverts sent (as master, and the resignation at stop).";
    vrrp_adverts_received: "VRRP adverts received that passed the checks of RFC 5798 7.1.";
    vrrp_send_errors: "VRRP adverts the kernel refused to send.";
    vrrp_drop_malformed: "VRRP datagrams dropped: too short, fragmented or inconsistent.";
    vrrp_drop_ttl: "VRRP adverts dropped because their TTL was not 255 (they crossed a router).";
    vrrp_drop_checksum: "VRRP adverts dropped because their checksum (with the IPv4 pseudo-header) did not verify.";
    vrrp_drop_version: "VRRP messages dropped because they were not version 3 adverts.";
    vrrp_drop_vrid: "VRRP adverts dropped because they belong to another virtual router (VRID).";
    nd_solicits: "IPv6 Neighbor Solicitations sent to resolve next hops and reals (mgmt/nd.rs).";
    unsolicited_nas: "Unsolicited Neighbor Advertisements sent for the IPv6 VIPs at start (with VRRP: on becoming master).";
    vrrp_transitions: "VRRP state changes (docs/ha.md).";
}

impl MgmtCounters {
    /// Every counter with its name and value, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        MgmtCounters::DECLARED
            .into_iter()
            .zip(self.values())
            .map(|((name, _), v)| (name, v))
    }
}

/// The management thread's counters as the control and metrics threads read them.
#[derive(Debug)]
pub struct PublishedMgmtCounters {
    vals: [AtomicU64; MgmtCounters::COUNT],
}

impl Default for PublishedMgmtCounters {
    fn default() -> Self {
        PublishedMgmtCounters {
            vals: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl PublishedMgmtCounters {
    /// Called by the management thread only.
    pub fn publish(&self, c: &MgmtCounters) {
        for (a, v) in self.vals.iter().zip(c.values()) {
            a.store(v, Relaxed);
        }
    }

    pub fn snapshot(&self) -> MgmtCounters {
        MgmtCounters::from_values(std::array::from_fn(|i| self.vals[i].load(Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_counters_round_trip_by_name() {
        let c = MgmtCounters {
            to_kernel: 1,
            from_kernel: 2,
            kernel_dropped: 3,
            arp_requests: 4,
            garps: 5,
            snapshots: 6,
            ..MgmtCounters::default()
        };
        let p = PublishedMgmtCounters::default();
        p.publish(&c);
        assert_eq!(p.snapshot(), c);
        let named: Vec<(&str, u64)> = c.iter().collect();
        assert_eq!(named[0], ("to_kernel", 1));
        assert_eq!(named[5], ("snapshots", 6));
        assert_eq!(named.len(), MgmtCounters::COUNT);
    }
}
