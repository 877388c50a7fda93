//! Flow ownership: which worker owns a connection, as a pure function of the flow's client side.
//!
//! Every connection lives in exactly one worker's connection table, so every packet of it must
//! be processed by that worker. The owner is chosen from the *client* side of the flow (address
//! and port), which is the source of an inbound packet (client -> VIP) and the destination of a
//! NAT reply (real -> client): both directions therefore map to the same worker without any
//! shared state. A packet that arrives on another worker's queue is handed to its owner.
//!
//! For persistent services every connection of a client (any port; optionally a whole masked
//! network) must meet the same persistence template, which lives in one worker's memory, so
//! those flows are owned by the masked client address alone ([`owner_worker_persistent`]).
//!
//! # Mixer
//! For IPv4 the client side is packed into one 64-bit word and passed through the splitmix64 /
//! murmur3 `fmix64` finaliser (two multiply-xorshift rounds): every input bit affects every
//! output bit, it costs a handful of cycles and has no table. IPv6 absorbs the two halves of
//! the address and the port one `fmix64` round each ([`Family::owner_hash`]). The owner is the
//! top 32 bits of the mixed value mapped onto `0..n_workers` with Lemire's multiply-shift range
//! reduction (no division, no modulo bias worth mentioning for small `n`). The function is fixed
//! (no seed) so all workers, and every restart, agree on it.
//!
//! Every function is generic over the address family and takes the family's own address type,
//! so an IPv4 call site reads (and compiles) as before the split.

use super::family::Family;
use super::types::FlowKey;

/// Which way a packet travels relative to its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client -> VIP (the client is the packet's source). In DR/TUN only this direction is seen.
    In,
    /// Real server -> client, a NAT reply (the client is the packet's destination).
    Out,
}

/// Maps a mixed hash onto `0..n` (Lemire's multiply-shift on the top 32 bits). `n == 0` gives 0.
#[inline]
fn reduce(h: u64, n: usize) -> usize {
    (((h >> 32) * n as u64) >> 32) as usize
}

/// The worker (in `0..n_workers`) owning the connection whose client side is `client:client_port`.
/// Returns 0 when `n_workers` is 0 or 1.
#[inline]
pub fn owner_worker<A: Family>(client: A, client_port: u16, n_workers: usize) -> usize {
    reduce(A::owner_hash(client, client_port), n_workers)
}

/// The owner for a persistent service: only `client & netmask` counts, so every connection of a
/// client (or of its masked network) lands on one worker, where its persistence template lives.
#[inline]
pub fn owner_worker_persistent<A: Family>(client: A, netmask: A::Bits, n_workers: usize) -> usize {
    reduce(A::owner_hash_masked(client, netmask), n_workers)
}

/// The client side (address, port) of a packet travelling in `dir`.
#[inline]
pub fn client_side<A: Copy>(key: &FlowKey<A>, dir: Direction) -> (A, u16) {
    match dir {
        Direction::In => (key.src, key.sport),
        Direction::Out => (key.dst, key.dport),
    }
}

/// [`owner_worker`] for a packet's five-tuple seen travelling in `dir`.
#[inline]
pub fn flow_owner<A: Family>(key: &FlowKey<A>, dir: Direction, n_workers: usize) -> usize {
    let (client, port) = client_side(key, dir);
    owner_worker(client, port, n_workers)
}

/// [`owner_worker_persistent`] for a packet's five-tuple seen travelling in `dir`.
#[inline]
pub fn flow_owner_persistent<A: Family>(
    key: &FlowKey<A>,
    dir: Direction,
    netmask: A::Bits,
    n_workers: usize,
) -> usize {
    let (client, _) = client_side(key, dir);
    owner_worker_persistent(client, netmask, n_workers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::types::Protocol;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Deterministic xorshift64* so the distribution test is reproducible.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    /// A random client inside 198.18.0.0/15 (the benchmarking range).
    fn random_client(rng: &mut Rng) -> (Ipv4Addr, u16) {
        let r = rng.next();
        let ip = u32::from(Ipv4Addr::new(198, 18, 0, 0)) | (r as u32 & 0x1_FFFF);
        (Ipv4Addr::from(ip), (r >> 32) as u16 | 1024)
    }

    fn assert_fair(counts: &[usize], total: usize) {
        let fair = total as f64 / counts.len() as f64;
        for (w, &c) in counts.iter().enumerate() {
            let dev = (c as f64 - fair).abs() / fair;
            assert!(
                dev <= 0.10,
                "worker {w} got {c} of {total} (fair {fair}, off by {dev:.3})"
            );
        }
    }

    #[test]
    fn random_clients_spread_evenly() {
        for n in [2usize, 4] {
            let mut rng = Rng(0x1234_5678_9ABC_DEF1 + n as u64);
            let mut counts = vec![0usize; n];
            let mut counts_p = vec![0usize; n];
            let total = 100_000;
            for _ in 0..total {
                let (ip, port) = random_client(&mut rng);
                counts[owner_worker(ip, port, n)] += 1;
                counts_p[owner_worker_persistent(ip, u32::MAX, n)] += 1;
            }
            assert_fair(&counts, total);
            assert_fair(&counts_p, total);
        }
    }

    #[test]
    fn sequential_ports_of_one_client_spread_evenly() {
        // A single client (or a proxy) opening many connections must not pin one worker.
        let client = Ipv4Addr::new(203, 0, 113, 7);
        for n in [2usize, 4] {
            let mut counts = vec![0usize; n];
            for port in 1024..=65535u16 {
                counts[owner_worker(client, port, n)] += 1;
            }
            assert_fair(&counts, 65535 - 1024 + 1);
        }
    }

    #[test]
    fn stable_and_in_range() {
        let mut rng = Rng(42);
        for _ in 0..10_000 {
            let (ip, port) = random_client(&mut rng);
            for n in 1..=8 {
                let w = owner_worker(ip, port, n);
                assert!(w < n);
                assert_eq!(w, owner_worker(ip, port, n), "must be a pure function");
                assert!(owner_worker_persistent(ip, 0xFFFF_FF00, n) < n);
            }
            assert_eq!(owner_worker(ip, port, 1), 0);
            assert_eq!(owner_worker(ip, port, 0), 0);
        }
        // Pinned values (computed independently): changing the mixer moves flows between
        // workers, which must be a deliberate decision.
        let a = Ipv4Addr::new(198, 51, 100, 1);
        let got: Vec<usize> = (40000..40004).map(|p| owner_worker(a, p, 4)).collect();
        assert_eq!(got, vec![3, 2, 1, 2]);
        assert_eq!(owner_worker(a, 40002, 2), 0);
        assert_eq!(owner_worker_persistent(a, 0xFFFF_FF00, 4), 2);
    }

    /// Owners before the family split, computed outside Rust (a Python copy of the old
    /// `fmix64(client << 16 | port)` and `fmix64(1 << 63 | client & mask)`): the IPv4 owner
    /// function must not move a single flow.
    #[test]
    fn v4_owners_are_unchanged_by_the_family_split() {
        let cases: [(&str, u16, [usize; 4]); 5] = [
            ("198.51.100.1", 40000, [1, 2, 3, 7]),
            ("203.0.113.200", 1024, [1, 2, 3, 7]),
            ("192.0.2.33", 65535, [0, 1, 1, 3]),
            ("198.18.7.9", 53000, [0, 0, 1, 2]),
            ("198.19.255.254", 80, [0, 0, 0, 0]),
        ];
        for (ip, port, want) in cases {
            let a: Ipv4Addr = ip.parse().unwrap();
            let got = [2, 3, 4, 8].map(|n| owner_worker(a, port, n));
            assert_eq!(got, want, "{ip}:{port}");
        }
        let persistent: [(&str, [usize; 4], usize); 3] = [
            ("192.0.2.33", [0, 1, 1, 3], 1),
            ("203.0.113.200", [1, 2, 3, 6], 0),
            ("198.18.7.9", [0, 0, 1, 2], 0),
        ];
        for (ip, want, host4) in persistent {
            let a: Ipv4Addr = ip.parse().unwrap();
            let got = [2, 3, 4, 8].map(|n| owner_worker_persistent(a, 0xFFFF_FF00, n));
            assert_eq!(got, want, "{ip}/24");
            assert_eq!(owner_worker_persistent(a, u32::MAX, 4), host4, "{ip}/32");
        }
    }

    /// A random client in 2001:db8::/32 (random network and host bits).
    fn random_client_v6(rng: &mut Rng) -> (Ipv6Addr, u16) {
        let hi = (0x2001_0db8u128 << 96) | (u128::from(rng.next() as u32) << 64);
        (
            Ipv6Addr::from(hi | u128::from(rng.next())),
            rng.next() as u16 | 1024,
        )
    }

    #[test]
    fn v6_clients_spread_evenly_and_directions_agree() {
        let vip: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let real: Ipv6Addr = "2001:db8:2::11".parse().unwrap();
        for n in [2usize, 4] {
            let mut rng = Rng(0xDEAD_BEEF + n as u64);
            let (mut counts, mut counts_p) = (vec![0usize; n], vec![0usize; n]);
            let total = 100_000;
            for _ in 0..total {
                let (client, cport) = random_client_v6(&mut rng);
                let inbound = FlowKey {
                    proto: Protocol::Tcp,
                    src: client,
                    dst: vip,
                    sport: cport,
                    dport: 443,
                };
                let reply = FlowKey {
                    proto: Protocol::Tcp,
                    src: real,
                    dst: client,
                    sport: 8443,
                    dport: cport,
                };
                let w = flow_owner(&inbound, Direction::In, n);
                assert_eq!(w, flow_owner(&reply, Direction::Out, n));
                assert_eq!(w, owner_worker(client, cport, n));
                counts[w] += 1;
                let mask = Ipv6Addr::prefix_mask(64);
                let wp = flow_owner_persistent(&inbound, Direction::In, mask, n);
                assert_eq!(wp, flow_owner_persistent(&reply, Direction::Out, mask, n));
                counts_p[wp] += 1;
            }
            assert_fair(&counts, total);
            assert_fair(&counts_p, total);
        }
        // The ports of one IPv6 client spread too.
        let client: Ipv6Addr = "2001:db8:1::7".parse().unwrap();
        let mut counts = vec![0usize; 4];
        for port in 1024..=65535u16 {
            counts[owner_worker(client, port, 4)] += 1;
        }
        assert_fair(&counts, 65535 - 1024 + 1);
    }

    #[test]
    fn v6_persistent_owner_ignores_host_bits_under_the_mask() {
        let mask = Ipv6Addr::prefix_mask(64);
        let base = u128::from("2001:db8:5:6::".parse::<Ipv6Addr>().unwrap());
        let mut networks = vec![0usize; 4];
        for net in 0..4096u128 {
            let first = Ipv6Addr::from(base | (net << 64));
            let w = owner_worker_persistent(first, mask, 4);
            networks[w] += 1;
            for host in [1u128, 0xFFFF, 0xDEAD_BEEF_0000_0001] {
                let c = Ipv6Addr::from(base | (net << 64) | host);
                assert_eq!(owner_worker_persistent(c, mask, 4), w);
            }
        }
        assert_fair(&networks, 4096);
        for n in 1..=8 {
            let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
            assert!(owner_worker(a, 80, n) < n);
            assert!(owner_worker_persistent(a, u128::MAX, n) < n);
        }
    }

    #[test]
    fn both_directions_map_to_the_same_owner() {
        let mut rng = Rng(7);
        let vip = Ipv4Addr::new(198, 18, 0, 100);
        let real = Ipv4Addr::new(198, 19, 0, 11);
        for _ in 0..10_000 {
            let (client, cport) = random_client(&mut rng);
            let inbound = FlowKey {
                proto: Protocol::Tcp,
                src: client,
                dst: vip,
                sport: cport,
                dport: 80,
            };
            let reply = FlowKey {
                proto: Protocol::Tcp,
                src: real,
                dst: client,
                sport: 8080,
                dport: cport,
            };
            for n in [2, 3, 4, 8] {
                assert_eq!(
                    flow_owner(&inbound, Direction::In, n),
                    flow_owner(&reply, Direction::Out, n)
                );
                assert_eq!(
                    flow_owner(&inbound, Direction::In, n),
                    owner_worker(client, cport, n)
                );
                assert_eq!(
                    flow_owner_persistent(&inbound, Direction::In, 0xFFFF_FF00, n),
                    flow_owner_persistent(&reply, Direction::Out, 0xFFFF_FF00, n)
                );
            }
        }
    }

    #[test]
    fn persistent_owner_ignores_port_and_masked_bits() {
        for n in [2, 4, 7] {
            let base = Ipv4Addr::new(192, 0, 2, 0);
            let w = owner_worker_persistent(base, 0xFFFF_FF00, n);
            for host in 0..=255u8 {
                let c = Ipv4Addr::new(192, 0, 2, host);
                assert_eq!(owner_worker_persistent(c, 0xFFFF_FF00, n), w);
                let k = FlowKey {
                    proto: Protocol::Udp,
                    src: c,
                    dst: Ipv4Addr::new(198, 18, 0, 100),
                    sport: 1024 + u16::from(host),
                    dport: 53,
                };
                assert_eq!(flow_owner_persistent(&k, Direction::In, 0xFFFF_FF00, n), w);
            }
        }
    }

    #[test]
    fn persistent_networks_spread_evenly() {
        // Distinct /24 client networks under a /24 persistence mask spread over workers.
        for n in [2usize, 4] {
            let mut counts = vec![0usize; n];
            let mut total = 0;
            for a in [198u8, 203] {
                for b in 0..=255u8 {
                    for c in 0..=255u8 {
                        counts
                            [owner_worker_persistent(Ipv4Addr::new(a, b, c, 9), 0xFFFF_FF00, n)] +=
                            1;
                        total += 1;
                    }
                }
            }
            assert_fair(&counts, total);
        }
    }
}
