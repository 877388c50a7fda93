//! The IPv6 instantiation of the connection table (issue 11 builds on it): the same API and
//! policies as IPv4, with 128-bit addresses in an 88-byte entry.

use std::net::Ipv6Addr;

use super::tcp_flags::{ACK, SYN};
use super::*;
use crate::lb::types::{ForwardMode, Protocol, RealLoad};

fn vip() -> Ipv6Addr {
    "2001:db8:0:1::100".parse().unwrap()
}

fn real_addr(real: u32) -> Ipv6Addr {
    Ipv6Addr::from(u128::from("2001:db8:0:2::10".parse::<Ipv6Addr>().unwrap()) + u128::from(real))
}

/// A distinct client per `i` inside 2001:db8::/32: the low 64 bits vary (as a client choosing
/// addresses in its own /64 would), and the network bits too every 4096 clients.
fn client(i: u32) -> (Ipv6Addr, u16) {
    let base = u128::from("2001:db8:100::".parse::<Ipv6Addr>().unwrap());
    let net = u128::from(i >> 12) << 64;
    let host = u128::from(i & 0xFFF) * 0x1_0000_0001;
    (Ipv6Addr::from(base | net | host), 1024 + (i % 7) as u16)
}

fn conn(i: u32, proto: Protocol, mode: ForwardMode, real: u32) -> NewConn<Ipv6Addr> {
    let (c, p) = client(i);
    NewConn {
        proto,
        client: c,
        cport: p,
        vip: vip(),
        vport: 443,
        real,
        real_addr: real_addr(real),
        rport: 8443,
        mode,
        template: None,
    }
}

fn table(cap: u32) -> ConnTable<Ipv6Addr> {
    ConnTable::allocate(&ConnConfig::new(cap, 16)).expect("valid config")
}

fn lookup_in(t: &ConnTable<Ipv6Addr>, c: &NewConn<Ipv6Addr>) -> Option<ConnHandle> {
    t.lookup_in(c.proto, c.client, c.cport, c.vip, c.vport)
}

fn lookup_out(t: &ConnTable<Ipv6Addr>, c: &NewConn<Ipv6Addr>) -> Option<ConnHandle> {
    t.lookup_out(c.proto, c.real_addr, c.rport, c.client, c.cport)
}

#[test]
fn v6_nat_found_from_both_directions() {
    let mut t = table(1024);
    let c = conn(1, Protocol::Tcp, ForwardMode::Nat, 2);
    let h = t.insert(&c, 0).unwrap();
    assert_eq!(lookup_in(&t, &c), Some(h));
    assert_eq!(lookup_out(&t, &c), Some(h));
    let info = t.get(h).unwrap();
    assert_eq!(info.client, c.client);
    assert_eq!(info.vip, vip());
    assert_eq!(info.real_addr, real_addr(2));
    assert_eq!(
        (info.cport, info.vport, info.rport, info.real),
        (c.cport, 443, 8443, 2)
    );
    assert_eq!(
        (info.mode, info.proto, info.state),
        (ForwardMode::Nat, Protocol::Tcp, TcpState::None)
    );
    // One bit off anywhere in an address: a miss (high word, low word).
    let flip = |a: Ipv6Addr, bit: u32| Ipv6Addr::from(u128::from(a) ^ (1u128 << bit));
    for bit in [0, 31, 32, 63, 64, 100, 127] {
        let k = flip(c.client, bit);
        assert_eq!(
            t.lookup_in(c.proto, k, c.cport, c.vip, 443),
            None,
            "bit {bit}"
        );
        assert_eq!(
            t.lookup_out(c.proto, c.real_addr, 8443, k, c.cport),
            None,
            "bit {bit}"
        );
        let v = flip(vip(), bit);
        assert_eq!(t.lookup_in(c.proto, c.client, c.cport, v, 443), None);
        let r = flip(real_addr(2), bit);
        assert_eq!(t.lookup_out(c.proto, r, 8443, c.client, c.cport), None);
    }
    assert_eq!(
        t.lookup_in(Protocol::Udp, c.client, c.cport, vip(), 443),
        None
    );
    assert_eq!(t.lookup_in(c.proto, c.client, c.cport, vip(), 444), None);
}

#[test]
fn v6_dr_only_indexed_inbound_and_duplicates_refused() {
    let mut t = table(64);
    let c = conn(3, Protocol::Udp, ForwardMode::Dr, 1);
    let h = t.insert(&c, 0).unwrap();
    assert_eq!(lookup_in(&t, &c), Some(h));
    assert_eq!(lookup_out(&t, &c), None);
    assert_eq!(t.insert(&c, 0), Err(InsertError::Exists(h)));
    let n = conn(4, Protocol::Tcp, ForwardMode::Nat, 1);
    let hn = t.insert(&n, 0).unwrap();
    // Same reply tuple through another VIP: the reply would be ambiguous.
    let clash = NewConn { vport: 80, ..n };
    assert_eq!(t.insert(&clash, 0), Err(InsertError::Exists(hn)));
}

#[test]
fn v6_many_connections_all_found_and_removed() {
    let n = 20_000u32;
    let mut t = table(n);
    let conns: Vec<_> = (0..n)
        .map(|i| conn(i, Protocol::Tcp, ForwardMode::Nat, i % 16))
        .collect();
    let handles: Vec<_> = conns.iter().map(|c| t.insert(c, 0).unwrap()).collect();
    assert_eq!(t.len(), n as usize);
    for (c, &h) in conns.iter().zip(&handles) {
        assert_eq!(lookup_in(&t, c), Some(h));
        assert_eq!(lookup_out(&t, c), Some(h));
    }
    for (c, &h) in conns.iter().zip(&handles).step_by(2) {
        assert!(t.remove(h));
        assert_eq!(lookup_in(&t, c), None);
        assert_eq!(lookup_out(&t, c), None);
    }
    for (c, &h) in conns.iter().zip(&handles).skip(1).step_by(2) {
        assert_eq!(lookup_in(&t, c), Some(h));
    }
    assert_eq!(t.len(), n as usize / 2);
    assert_eq!(t.stats().removed, u64::from(n / 2));
}

#[test]
fn v6_idle_connections_expire() {
    let mut t = table(1000);
    for i in 0..1000 {
        t.insert(&conn(i, Protocol::Udp, ForwardMode::Nat, i % 16), 0)
            .unwrap();
    }
    let c = conn(7, Protocol::Udp, ForwardMode::Nat, 7);
    let h = lookup_in(&t, &c).unwrap();
    // One connection is kept alive by a packet at 200 s; the rest time out at 300 s.
    t.on_packet(h, Direction::In, 0, 200_000);
    assert_eq!(t.expire(299_999, usize::MAX), 0);
    assert_eq!(t.expire(301_000, usize::MAX), 999);
    assert_eq!(t.len(), 1);
    assert_eq!(lookup_in(&t, &c), Some(h));
    assert_eq!(t.expire(501_000, usize::MAX), 1);
    assert!(t.is_empty());
    assert!(t.loads().iter().all(|l| *l == RealLoad::default()));
    assert_eq!(t.stats().expired, 1000);
}

#[test]
fn v6_full_table_refuses_established_and_evicts_half_open() {
    let mut t = table(100);
    for i in 0..100 {
        let h = t
            .insert(&conn(i, Protocol::Tcp, ForwardMode::Nat, 0), 0)
            .unwrap();
        // The last one never sees a packet (TCP NONE, 2 s): the one evictable connection.
        if i < 99 {
            t.on_packet(h, Direction::In, SYN, 0);
            t.on_packet(h, Direction::In, ACK, 0);
        }
    }
    let extra = conn(500, Protocol::Tcp, ForwardMode::Nat, 1);
    let h = t.insert(&extra, 1_000).unwrap();
    assert_eq!(t.stats().evicted, 1);
    assert_eq!(
        lookup_in(&t, &conn(99, Protocol::Tcp, ForwardMode::Nat, 0)),
        None
    );
    assert_eq!(lookup_in(&t, &extra), Some(h));
    t.on_packet(h, Direction::In, SYN, 1_000);
    t.on_packet(h, Direction::In, ACK, 1_000);
    // Now everything is established: refused.
    let more = conn(501, Protocol::Tcp, ForwardMode::Nat, 1);
    assert_eq!(t.insert(&more, 2_000), Err(InsertError::Full));
    assert_eq!(t.stats().refused_full, 1);
    assert_eq!(t.len(), 100);
    assert_eq!(
        t.loads()[0],
        RealLoad {
            active: 99,
            inactive: 0
        }
    );
}

/// Issue 11's budget: at most 96 bytes per IPv6 connection, index included.
#[test]
fn v6_memory_per_connection() {
    assert_eq!(ENTRY_BYTES_V6 + 8, 96);
    for cap in [1_000u32, 100_000, 1_000_000] {
        let t = table(cap);
        let per = t.memory_bytes() as f64 / f64::from(cap);
        eprintln!("IPv6 capacity {cap}: {per:.2} bytes per connection");
        assert!(t.memory_bytes() >= cap as usize * 96);
        // Entries and index are 96; the wheel, loads and ring add a fixed amount on top.
        let fixed = t.memory_bytes() - cap as usize * 96;
        assert!(fixed <= 4096 * 4 + 16 * 8 + 4096, "{fixed} fixed bytes");
    }
    let t = table(1_000_000);
    assert!(t.memory_bytes() as f64 / 1e6 < 96.1);
}
