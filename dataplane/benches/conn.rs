//! Connection table benchmarks: lookups (hit and miss, both directions) in tables of 1K, 1M and
//! 10M connections, the per-packet update, and the steady-state insert + expiry cycle.
//! Prints the table's bytes per connection for each size.
//!
//! Run: `cargo bench -p dataplane --bench conn -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion};
use dataplane::lb::conn::{tcp_flags, ConnConfig, ConnTable, Direction, NewConn, Timeouts};
use dataplane::lb::types::{ForwardMode, Protocol};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const REALS: u32 = 64;

/// Connection `i`: a distinct client address:port in 198.18.0.0/15, NAT to one of 64 reals.
fn conn(i: u64, proto: Protocol) -> NewConn {
    let client = u32::from(Ipv4Addr::new(198, 18, 0, 0)) | (i as u32 & 0x1_FFFF);
    let real = (i % u64::from(REALS)) as u32;
    NewConn {
        proto,
        client: Ipv4Addr::from(client),
        cport: 1024 + ((i >> 17) % 64_000) as u16,
        vip: VIP,
        vport: 80,
        real,
        real_addr: Ipv4Addr::new(198, 19, 0, real as u8),
        rport: 8080,
        mode: ForwardMode::Nat,
        template: None,
    }
}

/// xorshift64* with Lemire range reduction: a random index costs ~1 ns.
struct Rng(u64);
impl Rng {
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((r >> 32) * n) >> 32
    }
}

fn filled(n: u64) -> ConnTable {
    let mut t = ConnTable::new(&ConnConfig::new(n as u32, REALS)).expect("config");
    for i in 0..n {
        t.insert(&conn(i, Protocol::Tcp), 0).expect("room");
    }
    t
}

fn lookups(c: &mut Criterion) {
    for (label, n) in [("1K", 1_000u64), ("1M", 1_000_000), ("10M", 10_000_000)] {
        let t = filled(n);
        eprintln!(
            "conn table {label}: {} connections, {} bytes, {:.1} bytes/connection",
            t.len(),
            t.memory_bytes(),
            t.memory_bytes() as f64 / n as f64
        );
        let mut g = c.benchmark_group(format!("conn_{label}"));
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        g.bench_function("lookup_in_hit", |b| {
            b.iter(|| {
                let k = conn(rng.below(n), Protocol::Tcp);
                black_box(t.lookup_in(k.proto, k.client, k.cport, k.vip, k.vport))
            })
        });
        g.bench_function("lookup_in_miss", |b| {
            b.iter(|| {
                let k = conn(rng.below(n), Protocol::Tcp);
                black_box(t.lookup_in(k.proto, k.client, k.cport, k.vip, 81))
            })
        });
        g.bench_function("lookup_out_hit", |b| {
            b.iter(|| {
                let k = conn(rng.below(n), Protocol::Tcp);
                black_box(t.lookup_out(k.proto, k.real_addr, k.rport, k.client, k.cport))
            })
        });
        drop(g);
        drop(t);
    }
}

fn updates(c: &mut Criterion) {
    let n = 1_000_000u64;
    let mut t = filled(n);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let k = conn(i, Protocol::Tcp);
            let h = t
                .lookup_in(k.proto, k.client, k.cport, k.vip, k.vport)
                .expect("hit");
            t.on_packet(h, Direction::In, tcp_flags::SYN, 0);
            t.on_packet(h, Direction::In, tcp_flags::ACK, 0);
            h
        })
        .collect();
    let mut rng = Rng(7);
    let mut now = 0u64;
    c.bench_function("conn_1M/lookup_and_on_packet_established", |b| {
        b.iter(|| {
            now += 1;
            let k = conn(rng.below(n), Protocol::Tcp);
            let h = t.lookup_in(k.proto, k.client, k.cport, k.vip, k.vport);
            h.and_then(|h| t.on_packet(h, Direction::In, tcp_flags::ACK, now))
        })
    });
    black_box(handles.len());

    // Steady state: 100 new UDP connections per simulated millisecond with a 2 s timeout
    // (about 200K live), each iteration one insert plus one bounded expiry call.
    let mut cfg = ConnConfig::new(1_000_000, REALS);
    cfg.timeouts = Timeouts {
        udp: 2,
        ..Timeouts::default()
    };
    let mut t = ConnTable::new(&cfg).expect("config");
    let mut i = 0u64;
    c.bench_function("conn_1M/insert_expire_cycle", |b| {
        b.iter(|| {
            let now = i / 100;
            let r = t.insert(&conn(i, Protocol::Udp), now);
            let n = t.expire(now, 8);
            i += 1;
            (r.is_ok(), n)
        })
    });
    eprintln!(
        "insert_expire_cycle: {} live, stats {:?}",
        t.len(),
        t.stats()
    );
}

criterion_group!(benches, lookups, updates);
criterion_main!(benches);
