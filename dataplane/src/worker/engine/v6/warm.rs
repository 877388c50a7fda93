//! The burst warm-up's IPv6 half: `Engine::warm` hands each IPv6 packet of a burst here, which
//! prefetches the IPv6 table's bucket the packet's lookup will read; once the whole burst is
//! parsed, the entries those buckets point to. Without it every IPv6 lookup at a million
//! connections is a serial miss to DRAM (nat6 at 1 M flows cost 1.8x nat6 at 1 K).
//! The IPv4 packets of the burst pay nothing for it but one check per burst.

use super::super::WARM_MAX;
use super::V6State;
use crate::dpdk::mem::prefetch;
use crate::lb::conn::ENTRY_BYTES_V6;
use crate::lb::snapshot6::Snapshot6;
use crate::lb::types::Protocol;
use crate::wire::Ipv6Facts;

/// The IPv6 slots of the burst being warmed: (reply index?, bucket) per IPv6 packet.
pub struct Warm6 {
    slots: [(bool, usize); WARM_MAX],
    n: usize,
}

impl Default for Warm6 {
    fn default() -> Self {
        Warm6 {
            slots: [(false, 0); WARM_MAX],
            n: 0,
        }
    }
}

impl<F> V6State<F> {
    /// Prefetches the bucket of an IPv6 packet's connection (the inbound index for a packet to
    /// a VIP, else the reply index) and notes it for [`V6State::warm_entries`].
    #[inline]
    pub(in crate::worker::engine) fn warm_bucket(&mut self, snap: &Snapshot6, ip: &Ipv6Facts) {
        let Some(proto) = Protocol::from_ip_proto(ip.proto) else {
            return;
        };
        let reply = !snap.is_vip(ip.dst);
        let bucket = if reply {
            self.conns
                .bucket_index_out(proto, ip.src, ip.sport, ip.dst, ip.dport)
        } else {
            self.conns
                .bucket_index_in(proto, ip.src, ip.sport, ip.dst, ip.dport)
        };
        prefetch(self.conns.bucket_addr(reply, bucket));
        if let Some(slot) = self.warm.slots.get_mut(self.warm.n) {
            *slot = (reply, bucket);
            self.warm.n += 1;
        }
    }

    /// Once the burst's buckets are on their way: prefetches the entry each noted bucket points
    /// to (both cache lines a lookup reads: an 88-byte entry may straddle two), and forgets the
    /// burst's slots.
    #[inline]
    pub(in crate::worker::engine) fn warm_entries(&mut self) {
        let n = std::mem::take(&mut self.warm.n);
        for &(reply, bucket) in self.warm.slots.iter().take(n) {
            let entry = self.conns.entry_addr(self.conns.bucket_head(reply, bucket));
            if !entry.is_null() {
                prefetch(entry);
                prefetch(entry.wrapping_add(ENTRY_BYTES_V6 - 1));
            }
        }
    }
}
