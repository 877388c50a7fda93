//! `insert_batched`: NAT connections join the reply index at `link_replies`, and nothing can
//! tell the difference meanwhile (lookups, removal, expiry, a full batch, a taken reply key).

use std::net::Ipv4Addr;

use super::*;
use crate::lb::types::{ForwardMode, Protocol};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const REAL: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);

fn nat(i: u16, vip: Ipv4Addr) -> NewConn {
    NewConn {
        proto: Protocol::Tcp,
        client: Ipv4Addr::new(203, 0, 113, 7),
        cport: 40000 + i,
        vip,
        vport: 80,
        real: 1,
        real_addr: REAL,
        rport: 8080,
        mode: ForwardMode::Nat,
        template: None,
    }
}

fn table(batch: usize) -> ConnTable {
    let mut cfg = ConnConfig::new(1024, 16);
    cfg.reply_link_batch = batch;
    ConnTable::new(&cfg).expect("valid config")
}

fn reply(t: &ConnTable, i: u16) -> Option<ConnHandle> {
    t.lookup_out(
        Protocol::Tcp,
        REAL,
        8080,
        Ipv4Addr::new(203, 0, 113, 7),
        40000 + i,
    )
}

#[test]
fn small_tables_link_at_once_large_ones_batch() {
    assert_eq!(ConnConfig::new(1024, 16).reply_link_batch, 0);
    assert_eq!(
        ConnConfig::new(1 << 20, 16).reply_link_batch,
        crate::tunables::CONN_REPLY_LINK_BATCH
    );
}

#[test]
fn a_batched_connection_answers_reply_lookups_before_and_after_linking() {
    let mut t = table(4);
    let h = t.insert_batched(&nat(1, VIP), 0).unwrap();
    assert_eq!(reply(&t, 1), Some(h), "found while waiting");
    assert_eq!(reply(&t, 2), None);
    t.link_replies();
    assert_eq!(reply(&t, 1), Some(h), "found once linked");
    // Linked for real: removing it unlinks it from the reply chain.
    assert!(t.remove(h));
    assert_eq!(reply(&t, 1), None);
    assert_eq!(t.len(), 0);
}

#[test]
fn removing_a_waiting_connection_leaves_no_reply_entry() {
    let mut t = table(4);
    let a = t.insert_batched(&nat(1, VIP), 0).unwrap();
    let b = t.insert_batched(&nat(2, VIP), 0).unwrap();
    assert!(t.remove(a));
    assert_eq!(reply(&t, 1), None);
    assert_eq!(reply(&t, 2), Some(b));
    // The freed slot is reused by the next insert; each reply key still finds its own.
    let c = t.insert_batched(&nat(3, VIP), 0).unwrap();
    t.link_replies();
    assert_eq!((reply(&t, 2), reply(&t, 3)), (Some(b), Some(c)));
}

#[test]
fn a_full_batch_links_at_once() {
    let mut t = table(2);
    let hs: Vec<_> = (0..5)
        .map(|i| t.insert_batched(&nat(i, VIP), 0).unwrap())
        .collect();
    for (i, h) in hs.iter().enumerate() {
        assert_eq!(reply(&t, i as u16), Some(*h));
    }
    t.link_replies();
    for (i, h) in hs.iter().enumerate() {
        assert_eq!(reply(&t, i as u16), Some(*h));
    }
    assert_eq!(t.stats().reply_key_taken, 0);
}

#[test]
fn a_taken_reply_key_stays_with_the_older_connection() {
    let mut t = table(4);
    // The same client port to two VIPs, both scheduled to the same real:port.
    let old = t.insert(&nat(1, VIP), 0).unwrap();
    let new = t
        .insert_batched(&nat(1, Ipv4Addr::new(198, 18, 0, 101)), 0)
        .unwrap();
    assert_ne!(old, new);
    t.link_replies();
    assert_eq!(reply(&t, 1), Some(old));
    assert_eq!(t.stats().reply_key_taken, 1);
    // The new connection lives on its inbound side, and removing it touches no reply chain.
    assert!(t.remove(new));
    assert_eq!(reply(&t, 1), Some(old));
    // `insert` refuses the same case outright.
    assert_eq!(
        t.insert(&nat(1, Ipv4Addr::new(198, 18, 0, 102)), 0),
        Err(InsertError::Exists(old))
    );
}

#[test]
fn expiry_links_first_then_unlinks() {
    let mut t = table(4);
    let h = t.insert_batched(&nat(1, VIP), 0).unwrap();
    // Far past any timeout: the waiting connection expires and leaves nothing behind.
    let n = t.expire(10_000_000, 100);
    assert_eq!(n, 1);
    assert_eq!(t.get(h).map(|c| c.cport), None);
    assert_eq!(reply(&t, 1), None);
}
