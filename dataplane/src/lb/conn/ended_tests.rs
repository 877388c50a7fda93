//! Unit tests of the ended-connection reports (templates released exactly once).

use std::net::Ipv4Addr;

use super::tcp_flags::{ACK, SYN};
use super::*;
use crate::lb::types::{ForwardMode, Protocol};

fn conn(i: u8, proto: Protocol, template: Option<u32>) -> NewConn {
    NewConn {
        proto,
        client: Ipv4Addr::new(203, 0, 113, i),
        cport: 40_000,
        vip: Ipv4Addr::new(198, 18, 0, 100),
        vport: 80,
        real: u32::from(i % 4),
        real_addr: Ipv4Addr::new(198, 19, 0, 10 + i % 4),
        rport: 8080,
        mode: ForwardMode::Nat,
        template,
    }
}

fn table(cap: u32, ring: u32) -> ConnTable {
    let mut cfg = ConnConfig::new(cap, 4);
    cfg.ended_capacity = ring;
    ConnTable::new(&cfg).expect("valid config")
}

fn drained(t: &mut ConnTable) -> Vec<Ended> {
    let mut v = Vec::new();
    t.drain_ended(|e| v.push(e));
    v
}

#[test]
fn expired_connection_is_reported_once_with_its_template() {
    let mut t = table(64, 8);
    let h = t.insert(&conn(1, Protocol::Udp, Some(7)), 0).unwrap();
    t.insert(&conn(2, Protocol::Udp, None), 0).unwrap();
    assert_eq!(t.get(h).unwrap().template, Some(7));
    assert_eq!(t.expire(299_000, usize::MAX), 0);
    assert!(drained(&mut t).is_empty());
    assert_eq!(t.expire(301_000, usize::MAX), 2);
    // Only the templated one is reported.
    assert_eq!(
        drained(&mut t),
        vec![Ended {
            real: 1,
            template: Some(7),
            reason: EndReason::Expired
        }]
    );
    assert_eq!(t.expire(1_000_000, usize::MAX), 0);
    assert!(drained(&mut t).is_empty());
    assert_eq!(t.ended_pending(), 0);
}

#[test]
fn removed_connection_is_reported_once() {
    let mut t = table(64, 8);
    let h = t.insert(&conn(3, Protocol::Tcp, Some(0)), 0).unwrap();
    assert!(t.remove(h));
    assert!(!t.remove(h));
    assert_eq!(
        drained(&mut t),
        vec![Ended {
            real: 3,
            template: Some(0),
            reason: EndReason::Removed
        }]
    );
    // Its slot is reused without the old template.
    let h2 = t.insert(&conn(4, Protocol::Tcp, None), 0).unwrap();
    assert_eq!(h2, h);
    assert_eq!(t.get(h2).unwrap().template, None);
    assert!(t.remove(h2));
    assert!(drained(&mut t).is_empty());
}

#[test]
fn evicted_connection_is_reported_once() {
    let mut t = table(2, 8);
    let a = t.insert(&conn(1, Protocol::Tcp, Some(11)), 0).unwrap();
    t.on_packet(a, Direction::In, SYN, 0);
    let b = t.insert(&conn(2, Protocol::Tcp, Some(12)), 1_000).unwrap();
    t.on_packet(b, Direction::In, SYN, 1_000);
    t.on_packet(b, Direction::In, ACK, 1_000);
    t.on_packet(b, Direction::Out, SYN | ACK, 1_000);
    t.on_packet(b, Direction::In, ACK, 1_000);
    assert_eq!(t.get(b).unwrap().state, TcpState::Established);
    // Full: the half-open `a` makes room, established `b` stays.
    t.insert(&conn(3, Protocol::Tcp, None), 2_000).unwrap();
    assert_eq!(t.stats().evicted, 1);
    let old = conn(1, Protocol::Tcp, None);
    assert_eq!(
        t.lookup_in(old.proto, old.client, old.cport, old.vip, old.vport),
        None
    );
    assert_eq!(
        drained(&mut t),
        vec![Ended {
            real: 1,
            template: Some(11),
            reason: EndReason::Evicted
        }]
    );
    assert!(drained(&mut t).is_empty());
}

#[test]
fn full_ring_holds_back_instead_of_losing_reports() {
    let mut t = table(3, 1);
    assert_eq!(t.ended_capacity(), 1);
    let x = t.insert(&conn(9, Protocol::Udp, Some(9)), 0).unwrap();
    assert!(t.remove(x));
    assert_eq!(t.ended_pending(), 1);
    // Three templated half-open connections fill the table.
    let hs: Vec<ConnHandle> = (1..=3)
        .map(|i| {
            t.insert(&conn(i, Protocol::Tcp, Some(u32::from(i))), 0)
                .unwrap()
        })
        .collect();
    // While the ring is full: expire stops (all three are due), remove is refused, and an
    // insert into the full table cannot evict any of them.
    assert_eq!(t.expire(400_000, usize::MAX), 0);
    assert!(!t.remove(hs[0]));
    assert!(t.get(hs[0]).is_some());
    let d = conn(4, Protocol::Tcp, None);
    assert_eq!(t.insert(&d, 400_000), Err(InsertError::Full));
    assert_eq!(t.len(), 3);
    assert_eq!(drained(&mut t)[0].template, Some(9));
    // After each drain, one more proceeds; every template is reported exactly once.
    let mut seen = Vec::new();
    assert!(t.insert(&d, 400_000).is_ok());
    seen.extend(drained(&mut t));
    assert_eq!(t.expire(400_000, usize::MAX), 1);
    seen.extend(drained(&mut t));
    assert_eq!(t.expire(400_000, usize::MAX), 1);
    seen.extend(drained(&mut t));
    assert_eq!(t.expire(400_000, usize::MAX), 0);
    let mut tpls: Vec<u32> = seen.iter().filter_map(|e| e.template).collect();
    tpls.sort_unstable();
    assert_eq!(tpls, vec![1, 2, 3]);
    assert!(seen.iter().all(|e| e.reason == EndReason::Expired));
    assert_eq!(t.len(), 1);
}

#[test]
fn untemplated_connections_ignore_a_full_ring() {
    let mut t = table(4, 1);
    let a = t.insert(&conn(1, Protocol::Udp, Some(9)), 0).unwrap();
    assert!(t.remove(a));
    assert_eq!(t.ended_pending(), 1);
    let b = t.insert(&conn(2, Protocol::Udp, None), 0).unwrap();
    t.insert(&conn(3, Protocol::Udp, None), 0).unwrap();
    t.insert(&conn(4, Protocol::Udp, None), 0).unwrap();
    assert!(t.remove(b));
    assert_eq!(t.expire(400_000, usize::MAX), 2);
    assert_eq!(t.ended_pending(), 1);
    assert_eq!(t.len(), 0);
}
