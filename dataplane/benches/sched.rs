//! Scheduler costs: ns per pick for every scheduler with 16 reals, lc/wlc with 1000 reals, the
//! Maglev table build for 1000 reals, and the service lookup / persistent schedule around a pick.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dataplane::lb::persist::PersistTable;
use dataplane::lb::sched::{maglev_table, Pick, SchedKind, SchedParams, Scheduler};
use dataplane::lb::service::{
    PersistScope, Persistence, RealServer, RealSpec, ServiceSpec, ServiceTable,
};
use dataplane::lb::types::{FlowKey, ForwardMode, Protocol, RealLoad};

fn reals(n: usize) -> Vec<RealServer> {
    (0..n)
        .map(|i| RealServer {
            id: i as u32,
            addr: Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 0, 1)) + i as u32),
            port: 80,
            weight: 1 + (i as u32 * 7) % 10,
            forward: None,
            available: true,
        })
        .collect()
}

fn loads(n: usize) -> Vec<RealLoad> {
    (0..n as u32)
        .map(|i| RealLoad {
            active: 100 + (i * 37) % 50,
            inactive: (i * 11) % 300,
        })
        .collect()
}

/// 1024 flows from distinct sources in 198.18.0.0/15.
fn flows() -> Vec<FlowKey> {
    (0..1024u32)
        .map(|i| FlowKey {
            proto: Protocol::Tcp,
            src: Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i * 97),
            dst: Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 51, 100, 0)) + (i & 0xff)),
            sport: 1024 + i as u16,
            dport: 80,
        })
        .collect()
}

fn picks(c: &mut Criterion) {
    let fl = flows();
    let mut g = c.benchmark_group("pick");
    let mut cases: Vec<(SchedKind, usize)> = SchedKind::ALL.iter().map(|&k| (k, 16)).collect();
    cases.push((SchedKind::Lc, 1000));
    cases.push((SchedKind::Wlc, 1000));
    for (kind, n) in cases {
        let r = reals(n);
        let l = loads(n);
        let mut s = Scheduler::build(kind, &r, &SchedParams::default()).unwrap();
        let mut i = 0usize;
        g.bench_function(format!("{kind}/{n}"), |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                black_box(s.pick(black_box(&r), black_box(&l), &fl[i]))
            })
        });
    }
    g.finish();
}

fn maglev_build(c: &mut Criterion) {
    let r = reals(1000);
    let mut g = c.benchmark_group("maglev_build");
    g.sample_size(20);
    g.bench_function("1000 reals, M=65537", |b| {
        b.iter(|| maglev_table(black_box(&r), 65537).unwrap())
    });
    g.finish();
}

fn spec(i: u8, persistence: Option<Persistence>) -> ServiceSpec {
    ServiceSpec {
        name: format!("s{i}"),
        proto: Protocol::Tcp,
        vip: Ipv4Addr::new(198, 18, 1, i),
        port: if i & 1 == 0 { 80 } else { 0 },
        sched: SchedKind::Wlc,
        forward: ForwardMode::Nat,
        persistence,
        sched_params: None,
        reals: (0..16)
            .map(|k| RealSpec {
                addr: Ipv4Addr::new(198, 19, i, 1 + k),
                port: 0,
                weight: 1,
                forward: None,
                available: true,
            })
            .collect(),
    }
}

fn around_the_pick(c: &mut Criterion) {
    let specs: Vec<ServiceSpec> = (0..100).map(|i| spec(i, None)).collect();
    let t = ServiceTable::build(&specs).unwrap();
    let mut i = 0u8;
    c.bench_function(
        "service lookup (100 services, port-0 fallback on odd)",
        |b| {
            b.iter(|| {
                i = (i + 1) % 100;
                black_box(t.lookup(Protocol::Tcp, Ipv4Addr::new(198, 18, 1, i), 443))
            })
        },
    );

    let p = Persistence {
        timeout_ms: 300_000,
        netmask: u32::MAX,
        scope: PersistScope::AllPorts,
    };
    let t = ServiceTable::build(&[spec(0, Some(p))]).unwrap();
    let svc = t.get(0).unwrap();
    let fl = flows();
    let l = loads(t.real_id_bound());
    c.bench_function("persistent schedule x1024 (template hits)", |b| {
        b.iter_batched_ref(
            || {
                let mut pt = PersistTable::with_capacity(4096);
                let mut s = svc.new_scheduler();
                for f in &fl {
                    pt.schedule(svc, &mut s, &l, f, 0);
                }
                (pt, s, 0usize)
            },
            |(pt, s, k)| {
                for _ in 0..1024 {
                    *k = (*k + 1) & 1023;
                    black_box(pt.schedule(svc, s, &l, &fl[*k], 1));
                }
            },
            BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, picks, maglev_build, around_the_pick);
criterion_main!(benches);
