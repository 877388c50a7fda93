//! Issue 16's replay case through the real binary (`dataplane replay`), with the SYN-flood
//! defence on by default: `conn.max_per_core: 1024`, 100 established NAT connections, then
//! 20 480 spoofed SYNs with data on the established connections in between, then a new client.
//! The default `syn_proxy` (auto, above 1024 / 8 = 128 half-open connections) answers the
//! flood with cookies, so the table never fills and the new client's SYN is answered; a forged
//! cookie ACK is dropped and counted.
mod common;
use common::packets::*;
use common::two_ports::{config, replay_within, EXT_MAC, INT_MAC};
use common::*;
use std::net::Ipv4Addr;
use std::time::Duration;

fn seg(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut t = tcp(sport, dport, flags, data);
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t
}

#[test]
fn a_syn_flood_in_replay_leaves_room_for_a_new_client() {
    let cfg = config("nat", "").replace("max_per_core: 4096", "max_per_core: 1024");
    let (vip, client, real1, real2) = (
        ip("198.18.0.100"),
        ip("198.18.0.2"),
        ip("198.19.0.11"),
        ip("198.19.0.12"),
    );
    let mut ext = Vec::new();
    let mut int = Vec::new();
    // 100 connections: SYN (t=1), the real's SYN-ACK (t=2), the client's ACK (t=3). rr sends
    // them to real1 and real2 in turn; the ports are polled a burst at a time in config order,
    // so each burst of SYN-ACKs follows the burst of SYNs it answers.
    for i in 0..100u16 {
        ext.push((
            1,
            ipv4(
                EXT_MAC,
                ROUTER_MAC,
                client,
                vip,
                6,
                &seg(10_000 + i, 80, 1000, 0, 0x02, b""),
            ),
        ));
        let (real, mac) = if i % 2 == 0 {
            (real1, REAL1_MAC)
        } else {
            (real2, REAL2_MAC)
        };
        int.push((
            2,
            ipv4(
                INT_MAC,
                mac,
                real,
                client,
                6,
                &seg(80, 10_000 + i, 5000, 1001, 0x12, b""),
            ),
        ));
    }
    for i in 0..100u16 {
        ext.push((
            3,
            ipv4(
                EXT_MAC,
                ROUTER_MAC,
                client,
                vip,
                6,
                &seg(10_000 + i, 80, 1001, 5001, 0x10, b""),
            ),
        ));
    }
    // The flood: spoofed sources in two documentation ranges, random ports and numbers; data
    // on an established connection every 200 SYNs.
    let mut x: u32 = 0x1605_2026;
    let mut next = || {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        x
    };
    for i in 0..20_480u32 {
        let r = next();
        let src = if r & 1 == 0 {
            Ipv4Addr::new(198, 51, 100, (r >> 8) as u8)
        } else {
            Ipv4Addr::new(203, 0, 113, (r >> 8) as u8)
        };
        let sport = 1024 + (r >> 16) as u16 % 60_000;
        ext.push((
            4,
            ipv4(
                EXT_MAC,
                ROUTER_MAC,
                src,
                vip,
                6,
                &seg(sport, 80, next(), 0, 0x02, b""),
            ),
        ));
        if i % 200 == 199 {
            let c = (i / 200) as u16 % 100;
            ext.push((
                4,
                ipv4(
                    EXT_MAC,
                    ROUTER_MAC,
                    client,
                    vip,
                    6,
                    &seg(10_000 + c, 80, 1001, 5001, 0x18, b"data"),
                ),
            ));
        }
    }
    // 5 s later a new client: its SYN, then an ACK with a forged cookie.
    // (Behind the router, so its answer needs no ARP in replay.)
    let new = ip("192.0.2.77");
    ext.push((
        9,
        ipv4(
            EXT_MAC,
            ROUTER_MAC,
            new,
            vip,
            6,
            &seg(55_555, 80, 777, 0, 0x02, b""),
        ),
    ));
    ext.push((
        9,
        ipv4(
            EXT_MAC,
            ROUTER_MAC,
            new,
            vip,
            6,
            &seg(55_556, 80, 778, 0x1234_5678, 0x10, b""),
        ),
    ));

    let r = replay_within(&cfg, &ext, &int, Duration::from_secs(120));
    let summary = r.summary;
    let w = |name: &str| summary_counter(&summary, "worker ", name);
    // 100 + the flood's first 129 SYNs (half-open 0..=128 is not above 128) made connections;
    // every later SYN, the new client's included, was answered with a cookie.
    assert_eq!(w("conn_new"), 229, "{summary}");
    assert_eq!(w("syn_cookies_sent"), 20_480 - 129 + 1, "{summary}");
    assert_eq!(w("conn_refused_full"), 0, "{summary}");
    assert_eq!(w("drop_bad_cookie"), 1, "{summary}");
    // SYNs, ACKs and data of the established connections (100 + 100 + 102) and the flood's
    // 129 stateful SYNs went to the reals; the 100 SYN-ACKs came back.
    assert_eq!(w("nat_in"), 100 + 100 + 102 + 129, "{summary}");
    assert_eq!(w("nat_out"), 100, "{summary}");
    // The new client's SYN-ACK: from the VIP, acknowledging its ISN, MSS 536 kept (no option
    // in its SYN), the proxy's own MSS and window.
    let answers: Vec<_> = r
        .ext
        .iter()
        .map(|f| seen(f))
        .filter(|s| s.proto == 6 && s.dst == new)
        .collect();
    assert_eq!(answers.len(), 1);
    let s = &answers[0];
    assert!(s.ip_ok && s.l4_ok);
    let t = &s.l3[20..];
    assert_eq!((s.src, s.sport, s.dport), (vip, 80, 55_555));
    assert_eq!(
        u32::from_be_bytes(t[8..12].try_into().unwrap()),
        778,
        "ack = ISN + 1"
    );
    assert_eq!(t[13], 0x12, "SYN-ACK");
    assert_eq!(&t[20..24], &[2, 4, 0x05, 0xb4], "MSS 1460 announced");
    assert_eq!(
        u32::from_be_bytes(t[4..8].try_into().unwrap()) & 7,
        0,
        "MSS index 536 kept"
    );
}
