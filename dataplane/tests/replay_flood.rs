//! A SYN flood against a full connection table locks nobody out (issue 16, the first replay
//! trial), through the real binary: `dataplane replay` with `conn.max_per_core: 1024` and
//! IPVS's default timeouts. 100 established NAT connections, then 20 480 spoofed SYNs from
//! random sources over 50 s with data on the established connections in between, then data on
//! each of them again and, 5 s after the flood by the capture's clock, a new client's SYN.
mod common;
use common::packets::*;
use common::two_ports::{config, replay_within, EXT_MAC};
use common::*;
use std::net::Ipv4Addr;
use std::time::Duration;

const ESTABLISHED: u16 = 100;
const FLOOD: u32 = 20_480;
/// Data packets on the established connections during the flood (103 rounds of 100).
const DATA_DURING: u32 = 10_300;
/// When the flood starts and how long it lasts (capture seconds): within the 60 s SYN_RECV
/// timeout, so no flood entry expires and every insert into the full table evicts one.
const FLOOD_START: u64 = 2;
const FLOOD_SECS: u64 = 50;

/// Established client `i`: 198.18.10.1 onwards, port 40000 + i.
fn client(i: u16) -> (Ipv4Addr, u16) {
    (Ipv4Addr::new(198, 18, 10, 1 + i as u8), 40_000 + i)
}

/// Spoofed source `k`: a distinct pseudo-random host in 198.18.128.0/17 (k -> k * 40503 is a
/// bijection modulo 128 x 254 hosts) with a pseudo-random port.
fn spoofed(k: u32) -> (Ipv4Addr, u16) {
    let m = (u64::from(k) * 40_503 % (128 * 254)) as u32;
    let mut x = u64::from(k) ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    let port = 1024 + (x % 60_000) as u16;
    (
        Ipv4Addr::new(198, 18, 128 + (m / 254) as u8, 1 + (m % 254) as u8),
        port,
    )
}

fn vip() -> Ipv4Addr {
    ip("198.18.0.100")
}

fn to_vip(src: (Ipv4Addr, u16), flags: u8, payload: &[u8]) -> Vec<u8> {
    ipv4(
        EXT_MAC,
        ROUTER_MAC,
        src.0,
        vip(),
        6,
        &tcp(src.1, 80, flags, payload),
    )
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;

#[test]
fn syn_flood_on_a_full_table_evicts_half_open_and_serves_a_new_client() {
    // The table's own policy, without the SYN proxy in front of it (synproxy_replay.rs runs
    // the same flood with the proxy on, as it is by default).
    let cfg = config("nat", "")
        .replace("max_per_core: 4096", "max_per_core: 1024")
        .replace(
            "    forward: nat\n",
            "    forward: nat\n    syn_proxy: {mode: off}\n",
        );
    assert!(cfg.contains("max_per_core: 1024"));
    assert_eq!(cfg.matches("syn_proxy: {mode: off}").count(), 2);
    let mut ext: Vec<(u64, Vec<u8>)> = Vec::new();
    // 100 clients complete their handshake (SYN, then ACK: ESTABLISHED in IPVS's input table).
    for i in 0..ESTABLISHED {
        ext.push((1, to_vip(client(i), SYN, b"")));
        ext.push((1, to_vip(client(i), ACK, b"")));
    }
    // The flood, with data on the established connections in between.
    let mut data = 0u32;
    for k in 0..FLOOD {
        let t = FLOOD_START + u64::from(k) * FLOOD_SECS / u64::from(FLOOD);
        ext.push((t, to_vip(spoofed(k), SYN, b"")));
        while u64::from(data) * u64::from(FLOOD) < u64::from(k + 1) * u64::from(DATA_DURING) {
            let i = (data % u32::from(ESTABLISHED)) as u16;
            ext.push((t, to_vip(client(i), PSH_ACK, b"during")));
            data += 1;
        }
    }
    assert_eq!(data, DATA_DURING);
    let end = FLOOD_START + FLOOD_SECS;
    for i in 0..ESTABLISHED {
        ext.push((end, to_vip(client(i), PSH_ACK, b"after!")));
    }
    let newcomer = (Ipv4Addr::new(198, 18, 11, 7), 50_000);
    ext.push((end + 5, to_vip(newcomer, SYN, b"")));

    let r = replay_within(&cfg, &ext, &[], Duration::from_secs(300));
    let summary = r.summary;
    let counter = |name: &str| summary_counter(&summary, "worker ", name);

    // What reached the reals: every packet (each opened or continued a connection).
    let int: Vec<Seen> = r
        .int
        .iter()
        .map(|f| seen(f))
        .filter(|s| s.ethertype == 0x0800 && s.proto == 6)
        .collect();
    assert_eq!(int.len(), ext.len(), "{summary}");
    let payload = |s: &Seen| s.l3[40..].to_vec();
    let during = int.iter().filter(|s| payload(s) == b"during").count();
    let after = int.iter().filter(|s| payload(s) == b"after!").count();
    assert_eq!(
        (during, after),
        (DATA_DURING as usize, usize::from(ESTABLISHED)),
        "{summary}"
    );
    // The new client's SYN reached a real, rewritten to it.
    let last = int.last().expect("frames");
    assert_eq!((last.src, last.sport), newcomer, "{summary}");
    assert!([ip("198.19.0.11"), ip("198.19.0.12")].contains(&last.dst));
    assert_eq!(last.l3[33], SYN);

    // Counted exactly: every insert past the table's 1024 evicted the oldest half-open entry.
    let inserted = u64::from(ESTABLISHED) + u64::from(FLOOD) + 1;
    assert_eq!(counter("conn_new"), inserted, "{summary}");
    assert_eq!(counter("conn_evicted"), inserted - 1024, "{summary}");
    assert_eq!(counter("conn_evicted"), 19_557, "{summary}");
    assert_eq!(counter("conn_refused_full"), 0, "{summary}");
    assert_eq!(counter("conn_expired"), 0, "{summary}");
    assert_eq!(counter("nat_in"), ext.len() as u64, "{summary}");
    assert_eq!(counter("drop_no_conn"), 0, "{summary}");
}
