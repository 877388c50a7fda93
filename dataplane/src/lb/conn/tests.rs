//! Unit tests of the connection table.

use std::net::Ipv4Addr;

use super::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use super::*;
use crate::lb::types::{ForwardMode, Protocol, RealLoad};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);

fn real_addr(real: u32) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 0, 10 + real as u8)
}

/// A distinct client per `i` inside 198.18.0.0/15.
fn client(i: u32) -> (Ipv4Addr, u16) {
    let ip = u32::from(Ipv4Addr::new(198, 18, 0, 0)) | (i & 0x1_FFFF);
    (Ipv4Addr::from(ip), 1024 + (i >> 17) as u16)
}

fn conn(i: u32, proto: Protocol, mode: ForwardMode, real: u32) -> NewConn {
    let (c, p) = client(i);
    NewConn {
        proto,
        client: c,
        cport: p,
        vip: VIP,
        vport: 80,
        real,
        real_addr: real_addr(real),
        rport: 8080,
        mode,
        template: None,
    }
}

fn table(cap: u32) -> ConnTable {
    ConnTable::new(&ConnConfig::new(cap, 16)).expect("valid config")
}

fn lookup_in(t: &ConnTable, c: &NewConn) -> Option<ConnHandle> {
    t.lookup_in(c.proto, c.client, c.cport, c.vip, c.vport)
}

fn lookup_out(t: &ConnTable, c: &NewConn) -> Option<ConnHandle> {
    t.lookup_out(c.proto, c.real_addr, c.rport, c.client, c.cport)
}

fn load(t: &ConnTable, real: usize) -> RealLoad {
    t.loads()[real]
}

#[test]
fn nat_found_from_both_directions() {
    let mut t = table(1024);
    let c = conn(1, Protocol::Tcp, ForwardMode::Nat, 2);
    let h = t.insert(&c, 0).unwrap();
    assert_eq!(lookup_in(&t, &c), Some(h));
    assert_eq!(lookup_out(&t, &c), Some(h));
    let info = t.get(h).unwrap();
    assert_eq!(
        (info.real, info.real_addr, info.rport),
        (2, real_addr(2), 8080)
    );
    assert_eq!(
        (info.client, info.cport, info.vip, info.vport),
        (c.client, c.cport, VIP, 80)
    );
    assert_eq!(
        (info.mode, info.proto, info.state),
        (ForwardMode::Nat, Protocol::Tcp, TcpState::None)
    );
    assert_eq!(info.template, None);
    // Any field different: a miss.
    assert_eq!(t.lookup_in(Protocol::Udp, c.client, c.cport, VIP, 80), None);
    assert_eq!(
        t.lookup_in(Protocol::Tcp, c.client, c.cport + 1, VIP, 80),
        None
    );
    assert_eq!(t.lookup_in(Protocol::Tcp, c.client, c.cport, VIP, 81), None);
    assert_eq!(
        t.lookup_in(
            Protocol::Tcp,
            c.client,
            c.cport,
            Ipv4Addr::new(198, 18, 0, 101),
            80
        ),
        None
    );
    assert_eq!(
        t.lookup_out(Protocol::Tcp, real_addr(3), 8080, c.client, c.cport),
        None
    );
    assert_eq!(
        t.lookup_out(Protocol::Tcp, real_addr(2), 8081, c.client, c.cport),
        None
    );
    assert_eq!(
        t.lookup_out(
            Protocol::Tcp,
            real_addr(2),
            8080,
            Ipv4Addr::new(192, 0, 2, 1),
            c.cport
        ),
        None
    );
}

#[test]
fn dr_and_tun_only_indexed_inbound() {
    let mut t = table(1024);
    for (i, mode) in [(1, ForwardMode::Dr), (2, ForwardMode::Tun)] {
        let c = conn(i, Protocol::Tcp, mode, 1);
        let h = t.insert(&c, 0).unwrap();
        assert_eq!(lookup_in(&t, &c), Some(h));
        assert_eq!(lookup_out(&t, &c), None);
        assert_eq!(t.get(h).unwrap().mode, mode);
    }
}

#[test]
fn many_connections_all_found() {
    let mut t = table(20_000);
    let conns: Vec<_> = (0..20_000)
        .map(|i| conn(i * 7, Protocol::Tcp, ForwardMode::Nat, i % 16))
        .collect();
    let handles: Vec<_> = conns.iter().map(|c| t.insert(c, 5_000).unwrap()).collect();
    assert_eq!(t.len(), 20_000);
    for (c, h) in conns.iter().zip(&handles) {
        assert_eq!(lookup_in(&t, c), Some(*h));
        assert_eq!(lookup_out(&t, c), Some(*h));
    }
    for i in 0..1000 {
        let miss = conn(i * 7 + 1, Protocol::Tcp, ForwardMode::Nat, 0);
        assert_eq!(lookup_in(&t, &miss), None);
    }
    assert_eq!(t.iter().count(), 20_000);
}

#[test]
fn duplicates_are_refused() {
    let mut t = table(64);
    let c = conn(1, Protocol::Tcp, ForwardMode::Nat, 0);
    let h = t.insert(&c, 0).unwrap();
    assert_eq!(t.insert(&c, 0), Err(InsertError::Exists(h)));
    // Same reply tuple through another VIP: the reply would be ambiguous.
    let other_vip = NewConn {
        vip: Ipv4Addr::new(198, 18, 0, 101),
        ..c
    };
    assert_eq!(t.insert(&other_vip, 0), Err(InsertError::Exists(h)));
    // ...but fine for DR, which has no reply index.
    let dr = NewConn {
        mode: ForwardMode::Dr,
        ..other_vip
    };
    assert!(t.insert(&dr, 0).is_ok());
    assert_eq!(
        t.insert(&conn(2, Protocol::Tcp, ForwardMode::Nat, 16), 0),
        Err(InsertError::UnknownReal(16))
    );
    assert_eq!(t.stats().inserted, 2);
}

#[test]
fn bad_configs_are_rejected() {
    assert_eq!(
        ConnTable::new(&ConnConfig::new(0, 4)).err(),
        Some(ConnConfigError::Capacity(0))
    );
    assert_eq!(
        ConnTable::new(&ConnConfig::new(MAX_CAPACITY + 1, 4)).err(),
        Some(ConnConfigError::Capacity(MAX_CAPACITY + 1))
    );
    assert_eq!(
        ConnTable::new(&ConnConfig::new(8, 0)).err(),
        Some(ConnConfigError::MaxReals)
    );
    assert_eq!(table(1).capacity(), 1);
}

#[test]
fn nat_open_close_with_loads() {
    let mut t = table(64);
    let c = conn(1, Protocol::Tcp, ForwardMode::Nat, 3);
    let h = t.insert(&c, 1_000).unwrap();
    assert_eq!(
        load(&t, 3),
        RealLoad {
            active: 0,
            inactive: 1
        }
    );
    let steps = [
        (Direction::In, SYN, TcpState::SynRecv, 60),
        (Direction::Out, SYN | ACK, TcpState::SynRecv, 60),
        (Direction::In, ACK, TcpState::Established, 900),
        (Direction::In, ACK | PSH, TcpState::Established, 900),
        (Direction::Out, ACK, TcpState::Established, 900),
        (Direction::In, FIN | ACK, TcpState::CloseWait, 60),
        (Direction::Out, FIN | ACK, TcpState::TimeWait, 120),
        (Direction::In, ACK, TcpState::TimeWait, 120),
    ];
    let mut now = 1_000;
    for (i, (dir, flags, want, timeout)) in steps.into_iter().enumerate() {
        now += 10;
        assert_eq!(t.on_packet(h, dir, flags, now), Some(want), "step {i}");
        let info = t.get(h).unwrap();
        assert_eq!(info.state, want);
        assert_eq!(
            info.expires_ms,
            (now.div_ceil(1000) + timeout) * 1000,
            "step {i}"
        );
        let expect = if want == TcpState::Established {
            RealLoad {
                active: 1,
                inactive: 0,
            }
        } else {
            RealLoad {
                active: 0,
                inactive: 1,
            }
        };
        assert_eq!(load(&t, 3), expect, "step {i}");
    }
    // TIME_WAIT lasts 120 s.
    assert_eq!(t.expire(now + 119_000, usize::MAX), 0);
    assert_eq!(t.expire(now + 121_000, usize::MAX), 1);
    assert_eq!(lookup_in(&t, &c), None);
    assert_eq!(lookup_out(&t, &c), None);
    assert_eq!(load(&t, 3), RealLoad::default());
    assert_eq!(t.get(h), None);
    assert_eq!(t.on_packet(h, Direction::In, ACK, now), None);
}

#[test]
fn dr_uses_input_only_table() {
    let mut t = table(64);
    let h = t
        .insert(&conn(1, Protocol::Tcp, ForwardMode::Dr, 0), 0)
        .unwrap();
    assert_eq!(
        t.on_packet(h, Direction::In, SYN, 0),
        Some(TcpState::SynRecv)
    );
    assert_eq!(
        t.on_packet(h, Direction::In, ACK, 0),
        Some(TcpState::Established)
    );
    // Client FIN: input-only goes to FIN_WAIT (the NAT input table would say CLOSE_WAIT).
    assert_eq!(
        t.on_packet(h, Direction::In, FIN | ACK, 0),
        Some(TcpState::FinWait)
    );
    assert_eq!(
        t.loads()[0],
        RealLoad {
            active: 0,
            inactive: 1
        }
    );
}

#[test]
fn rst_closes_and_expires_after_close_timeout() {
    let mut t = table(64);
    let c = conn(9, Protocol::Tcp, ForwardMode::Nat, 1);
    let h = t.insert(&c, 0).unwrap();
    t.on_packet(h, Direction::In, SYN, 0);
    t.on_packet(h, Direction::Out, SYN | ACK, 0);
    t.on_packet(h, Direction::In, ACK, 0);
    assert_eq!(
        load(&t, 1),
        RealLoad {
            active: 1,
            inactive: 0
        }
    );
    assert_eq!(
        t.on_packet(h, Direction::Out, RST, 2_000),
        Some(TcpState::Close)
    );
    assert_eq!(
        load(&t, 1),
        RealLoad {
            active: 0,
            inactive: 1
        }
    );
    // CLOSE lasts 10 s, not the 900 s of ESTABLISHED it was filed under.
    assert_eq!(t.expire(11_999, usize::MAX), 0);
    assert_eq!(t.expire(12_000, usize::MAX), 1);
    assert!(t.is_empty());
    assert_eq!(t.stats().expired, 1);
}

#[test]
fn idle_timeouts_follow_time_and_packets_refresh_them() {
    let mut t = table(1024);
    let tcp = conn(1, Protocol::Tcp, ForwardMode::Nat, 0);
    let udp = conn(2, Protocol::Udp, ForwardMode::Nat, 0);
    let icmp = conn(3, Protocol::Icmp, ForwardMode::Dr, 0);
    let ht = t.insert(&tcp, 0).unwrap();
    t.on_packet(ht, Direction::In, SYN, 0);
    t.on_packet(ht, Direction::Out, SYN | ACK, 0);
    t.on_packet(ht, Direction::In, ACK, 0);
    let hu = t.insert(&udp, 0).unwrap();
    t.insert(&icmp, 0).unwrap();
    assert_eq!(t.on_packet(hu, Direction::In, 0, 0), Some(TcpState::None));
    assert_eq!(
        t.loads()[0],
        RealLoad {
            active: 3,
            inactive: 0
        }
    );
    // Expire in small steps, as a worker would.
    let mut now = 0;
    let mut gone = vec![];
    while now <= 1_000_000 {
        t.expire(now, 64);
        for (name, c) in [("tcp", &tcp), ("udp", &udp), ("icmp", &icmp)] {
            if lookup_in(&t, c).is_none() && !gone.iter().any(|(n, _)| *n == name) {
                gone.push((name, now));
            }
        }
        // Keep the UDP flow alive until 400 s.
        if now <= 400_000 && now % 50_000 == 0 {
            assert!(t.touch(hu, now));
        }
        now += 500;
    }
    assert_eq!(
        gone,
        vec![("icmp", 60_000), ("udp", 700_000), ("tcp", 900_000)]
    );
    assert!(t.is_empty());
    assert_eq!(t.loads()[0], RealLoad::default());
}

#[test]
fn configurable_timeouts() {
    let mut cfg = ConnConfig::new(64, 4);
    cfg.timeouts.udp = 5;
    let mut t = ConnTable::new(&cfg).unwrap();
    t.insert(&conn(1, Protocol::Udp, ForwardMode::Nat, 0), 0)
        .unwrap();
    assert_eq!(t.expire(4_999, usize::MAX), 0);
    assert_eq!(t.expire(5_000, usize::MAX), 1);
    t.set_timeouts(Timeouts {
        udp: 2,
        ..*t.timeouts()
    });
    t.insert(&conn(1, Protocol::Udp, ForwardMode::Nat, 0), 10_000)
        .unwrap();
    assert_eq!(t.expire(11_999, usize::MAX), 0);
    assert_eq!(t.expire(12_000, usize::MAX), 1);
}

#[test]
fn expiry_frees_slots_for_reuse() {
    let mut t = table(1000);
    for round in 0..3u32 {
        let base = round * 1_000_000;
        for i in 0..1000 {
            t.insert(
                &conn(round * 5000 + i, Protocol::Udp, ForwardMode::Nat, i % 16),
                u64::from(base),
            )
            .unwrap();
        }
        assert_eq!(t.len(), 1000);
        assert_eq!(
            t.insert(
                &conn(round * 5000 + 4000, Protocol::Udp, ForwardMode::Nat, 0),
                u64::from(base)
            ),
            Err(InsertError::Full),
            "UDP is never evicted"
        );
        let mut expired = 0;
        while expired < 1000 {
            let n = t.expire(u64::from(base) + 301_000, 100);
            assert!(n <= 100);
            expired += n;
        }
        assert!(t.is_empty());
        assert!(t.loads().iter().all(|l| *l == RealLoad::default()));
    }
    assert_eq!(t.stats().expired, 3000);
    assert_eq!(t.stats().refused_full, 3);
}

#[test]
fn expire_work_is_bounded_and_resumes() {
    let mut t = table(10_000);
    for i in 0..10_000 {
        t.insert(&conn(i, Protocol::Udp, ForwardMode::Nat, 0), 0)
            .unwrap();
    }
    // Far in the future (many wheel revolutions): every call does at most `budget` work.
    let mut calls = 0;
    while !t.is_empty() {
        let n = t.expire(10_000_000_000, 16);
        assert!(n <= 16);
        calls += 1;
        assert!(calls < 10_000, "expiry makes progress");
    }
    assert!(calls >= 10_000 / 16);
    // An empty table costs nothing and a zero budget does nothing.
    assert_eq!(t.expire(10_000_100_000, 0), 0);
}

#[test]
fn full_table_refuses_when_everything_is_established() {
    let mut t = table(100);
    for i in 0..100 {
        let h = t
            .insert(&conn(i, Protocol::Tcp, ForwardMode::Nat, 0), 0)
            .unwrap();
        t.on_packet(h, Direction::In, SYN, 0);
        t.on_packet(h, Direction::In, ACK, 0);
    }
    let extra = conn(500, Protocol::Tcp, ForwardMode::Nat, 0);
    assert_eq!(t.insert(&extra, 1_000), Err(InsertError::Full));
    assert_eq!(t.insert(&extra, 1_000), Err(InsertError::Full));
    assert_eq!(t.stats().refused_full, 2);
    assert_eq!(t.stats().evicted, 0);
    assert_eq!(t.len(), 100);
    // Once they are past their timeout (even before expire() ran), the space is reclaimed.
    assert!(t.insert(&extra, 901_000).is_ok());
    assert_eq!(t.stats().expired, 1);
}

#[test]
fn full_table_evicts_the_oldest_half_open() {
    let mut t = table(100);
    // 60 established, then 40 half-open created at increasing times.
    for i in 0..60 {
        let h = t
            .insert(&conn(i, Protocol::Tcp, ForwardMode::Nat, 0), 0)
            .unwrap();
        t.on_packet(h, Direction::In, SYN, 0);
        t.on_packet(h, Direction::In, ACK, 0);
    }
    for i in 60..100 {
        let now = u64::from(i) * 1000;
        let h = t
            .insert(&conn(i, Protocol::Tcp, ForwardMode::Nat, 1), now)
            .unwrap();
        t.on_packet(h, Direction::In, SYN, now);
    }
    assert_eq!(
        t.loads()[0],
        RealLoad {
            active: 60,
            inactive: 0
        }
    );
    assert_eq!(
        t.loads()[1],
        RealLoad {
            active: 0,
            inactive: 40
        }
    );
    let now = 101_000;
    for k in 0..5u32 {
        let h = t
            .insert(&conn(1000 + k, Protocol::Tcp, ForwardMode::Nat, 2), now)
            .unwrap();
        t.on_packet(h, Direction::In, SYN, now);
        // The evicted one is the oldest remaining half-open connection.
        assert_eq!(
            lookup_in(&t, &conn(60 + k, Protocol::Tcp, ForwardMode::Nat, 1)),
            None
        );
        assert!(lookup_in(&t, &conn(61 + k, Protocol::Tcp, ForwardMode::Nat, 1)).is_some());
    }
    assert_eq!(t.stats().evicted, 5);
    assert_eq!(t.len(), 100);
    for i in 0..60 {
        assert!(lookup_in(&t, &conn(i, Protocol::Tcp, ForwardMode::Nat, 0)).is_some());
    }
    assert_eq!(
        t.loads()[0],
        RealLoad {
            active: 60,
            inactive: 0
        }
    );
    assert_eq!(
        t.loads()[1],
        RealLoad {
            active: 0,
            inactive: 35
        }
    );
    assert_eq!(
        t.loads()[2],
        RealLoad {
            active: 0,
            inactive: 5
        }
    );
}

#[test]
fn eviction_finds_a_half_open_connection_however_far_it_sits() {
    // A probe budget of 1: the old wheel search looked 8 slots ahead and missed this one.
    let mut cfg = ConnConfig::new(1000, 4);
    cfg.evict_probes = 1;
    let mut t = ConnTable::new(&cfg).unwrap();
    // 999 established connections file first, then one half-open one far behind them.
    for i in 0..999 {
        let h = t
            .insert(&conn(i, Protocol::Tcp, ForwardMode::Nat, 0), 0)
            .unwrap();
        t.on_packet(h, Direction::In, SYN, 0);
        t.on_packet(h, Direction::In, ACK, 0);
    }
    let h = t
        .insert(&conn(999, Protocol::Tcp, ForwardMode::Nat, 1), 0)
        .unwrap();
    t.on_packet(h, Direction::In, SYN, 0);
    t.on_packet(h, Direction::Out, SYN | ACK, 0);
    let new = t
        .insert(&conn(2000, Protocol::Tcp, ForwardMode::Nat, 2), 1_000)
        .unwrap();
    assert_eq!(t.stats().evicted, 1);
    assert_eq!(t.stats().refused_full, 0);
    assert_eq!(
        lookup_in(&t, &conn(999, Protocol::Tcp, ForwardMode::Nat, 1)),
        None
    );
    assert_eq!(
        lookup_in(&t, &conn(2000, Protocol::Tcp, ForwardMode::Nat, 2)),
        Some(new)
    );
    assert_eq!(load(&t, 1), RealLoad::default());
    assert_eq!(
        load(&t, 0),
        RealLoad {
            active: 999,
            inactive: 0
        }
    );
    // Now only established ones and the new (NONE) one: the next insert evicts the new one,
    // the one after that is refused.
    assert!(t
        .insert(&conn(2001, Protocol::Tcp, ForwardMode::Nat, 2), 1_000)
        .is_ok());
    assert_eq!(t.stats().evicted, 2);
    let h = lookup_in(&t, &conn(2001, Protocol::Tcp, ForwardMode::Nat, 2)).unwrap();
    t.on_packet(h, Direction::In, SYN, 1_000);
    t.on_packet(h, Direction::In, ACK, 1_000);
    assert_eq!(
        t.insert(&conn(2002, Protocol::Tcp, ForwardMode::Nat, 2), 1_000),
        Err(InsertError::Full)
    );
    assert_eq!(t.stats().refused_full, 1);
    assert_eq!(t.stats().evicted, 2);
}

#[test]
fn loads_follow_state_changes_and_removal() {
    let mut t = table(64);
    let a = t
        .insert(&conn(1, Protocol::Tcp, ForwardMode::Nat, 5), 0)
        .unwrap();
    let b = t
        .insert(&conn(2, Protocol::Tcp, ForwardMode::Dr, 5), 0)
        .unwrap();
    let u = t
        .insert(&conn(3, Protocol::Udp, ForwardMode::Nat, 5), 0)
        .unwrap();
    assert_eq!(
        t.loads()[5],
        RealLoad {
            active: 1,
            inactive: 2
        }
    );
    for h in [a, b] {
        t.on_packet(h, Direction::In, SYN, 0);
        t.on_packet(h, Direction::In, ACK, 0);
    }
    assert_eq!(
        t.loads()[5],
        RealLoad {
            active: 3,
            inactive: 0
        }
    );
    t.on_packet(a, Direction::In, RST, 0);
    assert_eq!(
        t.loads()[5],
        RealLoad {
            active: 2,
            inactive: 1
        }
    );
    assert!(t.remove(a));
    assert!(!t.remove(a));
    assert_eq!(
        t.loads()[5],
        RealLoad {
            active: 2,
            inactive: 0
        }
    );
    assert!(t.remove(u));
    assert!(t.remove(b));
    assert_eq!(t.loads()[5], RealLoad::default());
    assert_eq!(t.stats().removed, 3);
    assert!(t.is_empty());
    assert!(t
        .loads()
        .iter()
        .enumerate()
        .all(|(i, l)| i == 5 || *l == RealLoad::default()));
}

#[test]
fn memory_is_at_most_64_bytes_per_connection() {
    // Includes the worst case for the bucket rounding (just above a power of two).
    for cap in [
        1000u32,
        1024,
        1025,
        1537,
        1639,
        3000,
        4097,
        100_000,
        1 << 20,
        1_000_000,
    ] {
        let t = ConnTable::new(&ConnConfig::new(cap, 256)).unwrap();
        let per = t.memory_bytes() as f64 / f64::from(cap);
        eprintln!("capacity {cap}: {per:.2} bytes per connection");
        assert!(per <= 64.0, "capacity {cap}: {per:.2} bytes per connection");
        assert!(t.memory_bytes() >= cap as usize * 60);
    }
}

#[test]
fn handles_out_of_range_are_harmless() {
    let mut t = table(8);
    let bogus = ConnHandle(7);
    assert_eq!(t.get(bogus), None);
    assert_eq!(t.on_packet(bogus, Direction::In, SYN, 0), None);
    assert!(!t.touch(bogus, 0));
    assert!(!t.remove(bogus));
    let far = ConnHandle(1_000);
    assert_eq!(t.get(far), None);
    assert_eq!(t.on_packet(far, Direction::Out, ACK, 0), None);
}

#[test]
fn time_going_backwards_does_not_break_anything() {
    let mut t = table(64);
    let h = t
        .insert(&conn(1, Protocol::Udp, ForwardMode::Nat, 0), 100_000)
        .unwrap();
    assert_eq!(t.expire(50_000, usize::MAX), 0);
    t.touch(h, 10_000);
    assert_eq!(t.expire(400_000, usize::MAX), 1);
    assert_eq!(t.expire(u64::MAX, usize::MAX), 0);
    assert!(t
        .insert(&conn(2, Protocol::Udp, ForwardMode::Nat, 0), u64::MAX)
        .is_ok());
}
