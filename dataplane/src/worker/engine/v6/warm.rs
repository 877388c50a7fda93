//! The burst warm-up's IPv6 half: `Engine::warm` hands each IPv6 packet of a burst here, which
//! prefetches the IPv6 table's bucket the packet's lookup will read; once the whole burst is
//! parsed, the entries those buckets point to. Without it every IPv6 lookup at a million
//! connections is a serial miss to DRAM (nat6 at 1 M flows cost 1.8x nat6 at 1 K).
//! The IPv4 packets of the burst pay nothing for it but one check per burst.
//!
//! Below [`WARM6_MIN_CONNS`] connections the table is cache-resident and the warm-up would only
//! repeat the lookup's hash (five `fmix64` rounds over two IPv6 addresses) and the VIP check:
//! measured in the engine bench at 1 K flows, about 90 cycles per packet more with it than
//! without, while at 1 M flows it halves the cost. So a small table is not warmed.

use super::super::WARM_MAX;
use super::V6State;
use crate::dpdk::mem::prefetch;
use crate::lb::conn::ENTRY_BYTES_V6;
use crate::lb::snapshot6::Snapshot6;
use crate::lb::types::Protocol;
use crate::wire::Ipv6Facts;

/// The IPv6 table warms its lookups from this many live connections (about 1.5 MiB of 96-byte
/// entries and index: past a core's L2, where a lookup starts to miss).
pub const WARM6_MIN_CONNS: usize = 16_384;

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
        if self.conns.len() < WARM6_MIN_CONNS {
            return;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::conn::NewConn;
    use crate::lb::types::ForwardMode;
    use crate::worker::engine::sim::Sim;
    use std::net::Ipv6Addr;

    const CONFIG: &str = r#"eal: {lcores: "0-1", memory_mb: 256, hugepages: off}
workers: {cores: [1]}
mode: lb
ports:
  - {name: ext, device: net_null0, ip: 198.18.0.1/24, ip6: "2001:db8::1/64", mac: "02:d0:00:00:00:01"}
  - {name: int, device: net_null1, ip: 198.19.0.1/24, ip6: "2001:db8:1::1/64", mac: "02:d0:00:00:00:02"}
routes: [{prefix: "::/0", via: "2001:db8::fe"}]
conn: {max_per_core_v6: 32768}
services:
  - {name: web6, vip: "2001:db8::100", port: 80, scheduler: rr,
     reals: [{ip: "2001:db8:1::11"}]}
"#;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// Ethernet + IPv6 `src` -> `dst`, TCP `sport` -> `dport` (ACK).
    fn tcp6(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<u8> {
        let mut f = vec![2, 0xd0, 0, 0, 0, 1, 2, 0, 0, 0, 1, 0xfe, 0x86, 0xdd];
        f.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, 6, 64]);
        f.extend_from_slice(&a(src).octets());
        f.extend_from_slice(&a(dst).octets());
        let mut tcp = [0u8; 20];
        tcp[0..2].copy_from_slice(&sport.to_be_bytes());
        tcp[2..4].copy_from_slice(&dport.to_be_bytes());
        tcp[12] = 0x50;
        tcp[13] = 0x10;
        f.extend_from_slice(&tcp);
        f
    }

    /// A small IPv6 table is not warmed; from `WARM6_MIN_CONNS` connections each IPv6 TCP/UDP
    /// packet of a burst notes the bucket its lookup reads (inbound index to a VIP, reply index
    /// otherwise), IPv4 and other packets note nothing, and the entry pass forgets the burst.
    #[test]
    fn a_large_ipv6_table_warms_each_ipv6_packets_bucket() {
        let mut sim = Sim::new(CONFIG, 1, false).unwrap();
        let eng = &mut sim.workers[0].engine;
        let to_vip = tcp6("2001:db8:5::2", "2001:db8::100", 40000, 80);
        let reply = tcp6("2001:db8:1::11", "2001:db8:5::2", 80, 40000);
        let v4 = crate::worker::engine::fuzz::templates()[1].clone();
        let burst = [to_vip.clone(), v4, reply.clone(), vec![0xff; 10]];
        eng.warm(burst.iter().map(|f| &f[..]));
        assert_eq!(
            eng.v6.as_ref().unwrap().warm.n,
            0,
            "empty table: not warmed"
        );
        let v6 = eng.v6.as_mut().unwrap();
        for i in 0..WARM6_MIN_CONNS as u32 {
            let client = Ipv6Addr::from(u128::from(a("2001:db8:6::")) | u128::from(i));
            let nc = NewConn {
                proto: Protocol::Tcp,
                client,
                cport: 1024,
                vip: a("2001:db8::100"),
                vport: 80,
                real: 0,
                real_addr: a("2001:db8:1::11"),
                rport: 80,
                mode: ForwardMode::Nat,
                template: None,
            };
            v6.conns.insert(&nc, 0).unwrap();
        }
        // Only what `warm` parses is read: stop before the entry pass to see the slots.
        let snap = eng.snap.clone();
        for f in &burst {
            if let Ok(p) = crate::wire::parse_frame(f) {
                if let crate::wire::Net::Ipv6(ip) = p.net {
                    v6.warm_bucket(&snap.v6, &ip);
                }
            }
        }
        let want = [
            (
                false,
                v6.conns.bucket_index_in(
                    Protocol::Tcp,
                    a("2001:db8:5::2"),
                    40000,
                    a("2001:db8::100"),
                    80,
                ),
            ),
            (
                true,
                v6.conns.bucket_index_out(
                    Protocol::Tcp,
                    a("2001:db8:1::11"),
                    80,
                    a("2001:db8:5::2"),
                    40000,
                ),
            ),
        ];
        assert_eq!(&v6.warm.slots[..v6.warm.n], &want[..]);
        v6.warm_entries();
        assert_eq!(v6.warm.n, 0, "the entry pass forgets the burst");
        // `warm` itself ends with the entry pass: nothing is left noted.
        eng.warm(burst.iter().map(|f| &f[..]));
        assert_eq!(eng.v6.as_ref().unwrap().warm.n, 0);
    }
}
