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
//! The client side is packed into one 64-bit word and passed through the splitmix64 / murmur3
//! `fmix64` finaliser (two multiply-xorshift rounds): every input bit affects every output bit,
//! it costs a handful of cycles and has no table. The owner is the top 32 bits of the mixed value
//! mapped onto `0..n_workers` with Lemire's multiply-shift range reduction (no division, no
//! modulo bias worth mentioning for small `n`). The function is fixed (no seed) so all workers,
//! and every restart, agree on it.

use std::net::Ipv4Addr;

use super::types::FlowKey;

/// Which way a packet travels relative to its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client -> VIP (the client is the packet's source). In DR/TUN only this direction is seen.
    In,
    /// Real server -> client, a NAT reply (the client is the packet's destination).
    Out,
}

/// The splitmix64 / murmur3 `fmix64` finaliser: a bijective 64-bit mixer.
#[inline]
fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Maps a mixed hash onto `0..n` (Lemire's multiply-shift on the top 32 bits). `n == 0` gives 0.
#[inline]
fn reduce(h: u64, n: usize) -> usize {
    (((h >> 32) * n as u64) >> 32) as usize
}

/// The worker (in `0..n_workers`) owning the connection whose client side is `client:client_port`.
/// Returns 0 when `n_workers` is 0 or 1.
#[inline]
pub fn owner_worker(client: Ipv4Addr, client_port: u16, n_workers: usize) -> usize {
    // The persistent variant sets bit 63, which this word never has: the two never alias.
    let word = (u64::from(u32::from(client)) << 16) | u64::from(client_port);
    reduce(fmix64(word), n_workers)
}

/// The owner for a persistent service: only `client & netmask` counts, so every connection of a
/// client (or of its masked network) lands on one worker, where its persistence template lives.
#[inline]
pub fn owner_worker_persistent(client: Ipv4Addr, netmask: u32, n_workers: usize) -> usize {
    let word = (1u64 << 63) | u64::from(u32::from(client) & netmask);
    reduce(fmix64(word), n_workers)
}

/// The client side (address, port) of a packet travelling in `dir`.
#[inline]
pub fn client_side(key: &FlowKey, dir: Direction) -> (Ipv4Addr, u16) {
    match dir {
        Direction::In => (key.src, key.sport),
        Direction::Out => (key.dst, key.dport),
    }
}

/// [`owner_worker`] for a packet's five-tuple seen travelling in `dir`.
#[inline]
pub fn flow_owner(key: &FlowKey, dir: Direction, n_workers: usize) -> usize {
    let (client, port) = client_side(key, dir);
    owner_worker(client, port, n_workers)
}

/// [`owner_worker_persistent`] for a packet's five-tuple seen travelling in `dir`.
#[inline]
pub fn flow_owner_persistent(
    key: &FlowKey,
    dir: Direction,
    netmask: u32,
    n_workers: usize,
) -> usize {
    let (client, _) = client_side(key, dir);
    owner_worker_persistent(client, netmask, n_workers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::types::Protocol;

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
