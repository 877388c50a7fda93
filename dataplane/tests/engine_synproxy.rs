//! The SYN-flood defence through the engine in process (worker/engine/synproxy.rs): the cookie
//! SYN-ACK, the full proxied handshake with data both ways and its sequence numbers, SACK
//! blocks shifted, an invalid cookie ACK dropped, a real's reset while opening, `auto` turning
//! on above its threshold, and DR's stateless SYNs whose ACK reaches the same real. Every
//! frame is checked field by field (checksums included) and every counter that moved exactly.
mod common;
use common::packets::*;
use common::two_ports::{config, EXT_MAC, INT_MAC};
use dataplane::lb::syncookie::{self, CookieFlow, CookieOptions};
use dataplane::worker::engine::sim::Sim;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

const GUARDED: &str = "  - name: guarded
    vip: 198.18.0.100
    port: 8080
    scheduler: rr
    forward: nat
    syn_proxy: {mode: always}
    reals: [{ip: 198.19.0.11}]
  - name: direct
    vip: 198.18.0.101
    port: 80
    scheduler: wlc
    forward: dr
    syn_proxy: {mode: always}
    reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]
  - name: busy
    vip: 198.18.0.102
    port: 80
    scheduler: rr
    forward: nat
    syn_proxy: {mode: auto, half_open_threshold: 2}
    reals: [{ip: 198.19.0.12}]
";

fn vip() -> Ipv4Addr {
    ip("198.18.0.100")
}
fn client() -> Ipv4Addr {
    ip("198.18.0.2")
}
fn real1() -> Ipv4Addr {
    ip("198.19.0.11")
}

/// A TCP segment: ports, numbers, flags, options (padded by the caller), payload.
#[allow(clippy::too_many_arguments)]
fn seg(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, opts: &[u8], data: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = (((20 + opts.len()) / 4) as u8) << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&29200u16.to_be_bytes());
    t.extend_from_slice(opts);
    t.extend_from_slice(data);
    t
}

/// From the client (through the router) to `dst`.
fn from_client(dst: Ipv4Addr, tcp: Vec<u8>) -> Vec<u8> {
    ipv4(EXT_MAC, ROUTER_MAC, client(), dst, 6, &tcp)
}

/// From real1 to the client (NAT reply).
fn from_real1(tcp: Vec<u8>) -> Vec<u8> {
    ipv4(INT_MAC, REAL1_MAC, real1(), client(), 6, &tcp)
}

/// Linux's SYN options: MSS 1460, SACK-permitted, timestamps, NOP, window scale 7.
const LINUX_SYN: [u8; 20] = [
    2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 1, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7,
];

/// A TCP frame as a test reads it.
#[derive(Debug, PartialEq)]
struct Tcp {
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    opts: Vec<u8>,
    data: Vec<u8>,
}

fn tcp_of(f: &[u8]) -> Tcp {
    let s = seen(f);
    assert!(s.ip_ok && s.l4_ok, "checksums of {f:02x?}");
    assert_eq!(s.proto, 6);
    let ihl = usize::from(s.l3[0] & 15) * 4;
    let t = &s.l3[ihl..];
    let hl = usize::from(t[12] >> 4) * 4;
    Tcp {
        dst_mac: s.dst_mac,
        src: s.src,
        dst: s.dst,
        ttl: s.ttl,
        sport: s.sport,
        dport: s.dport,
        seq: u32::from_be_bytes(t[4..8].try_into().unwrap()),
        ack: u32::from_be_bytes(t[8..12].try_into().unwrap()),
        flags: t[13],
        window: u16::from_be_bytes([t[14], t[15]]),
        opts: t[20..hl].to_vec(),
        data: t[hl..].to_vec(),
    }
}

fn sim() -> Sim {
    Sim::new(&config("nat", GUARDED), 1, false).unwrap()
}

fn rx(sim: &mut Sim, port: &str, frame: &[u8]) {
    let p = sim.port(port);
    sim.rx(0, p, frame);
}

/// The one frame sent out of `port` since the last call.
fn one(sim: &mut Sim, port: &str) -> Tcp {
    let p = sim.port(port);
    let mut sent = sim.take_sent(p);
    assert_eq!(
        sent.len(),
        1,
        "frames out of {port}: {:?}",
        sim.nonzero_counters()
    );
    tcp_of(&sent.remove(0))
}

fn none_out(sim: &mut Sim) {
    for port in ["ext", "int"] {
        let p = sim.port(port);
        assert_eq!(sim.take_sent(p), Vec::<Vec<u8>>::new(), "out of {port}");
    }
}

fn counters(sim: &Sim, want: &[(&'static str, u64)]) {
    let want: BTreeMap<&str, u64> = want.iter().copied().collect();
    assert_eq!(sim.nonzero_counters(), want);
}

/// The cookie the engine must have sent for (client port, client ISN) to VIP:8080.
fn cookie(sim: &Sim, cport: u16, isn: u32, mss: u16, sack: bool) -> u32 {
    let flow = CookieFlow {
        client: client(),
        cport,
        vip: vip(),
        vport: 8080,
        client_isn: isn,
    };
    let opts = CookieOptions {
        mss,
        sack_permitted: sack,
    };
    syncookie::make(&sim.snapshot().cookie_secrets, &flow, opts, sim.now)
}

#[test]
fn a_syn_is_answered_with_a_cookie_and_no_state() {
    let mut sim = sim();
    sim.now = 5_000;
    rx(
        &mut sim,
        "ext",
        &from_client(vip(), seg(40000, 8080, 1000, 0, 0x02, &LINUX_SYN, b"")),
    );
    let c = cookie(&sim, 40000, 1000, 1460, true);
    assert_eq!(
        one(&mut sim, "ext"),
        Tcp {
            dst_mac: CLIENT_MAC,
            src: vip(),
            dst: client(),
            ttl: 64,
            sport: 8080,
            dport: 40000,
            seq: c,
            ack: 1001,
            flags: 0x12,
            window: 14600,
            // MSS 1460, NOP NOP SACK-permitted; no window scale, no timestamps.
            opts: vec![2, 4, 5, 0xb4, 1, 1, 4, 2],
            data: vec![],
        }
    );
    none_out(&mut sim);
    counters(&sim, &[("rx", 1), ("tx", 1), ("syn_cookies_sent", 1)]);
    assert_eq!(sim.workers[0].engine.conns.len(), 0);
    // A SYN without options: MSS 536 kept, no SACK; the header grows to carry the MSS.
    rx(
        &mut sim,
        "ext",
        &from_client(vip(), seg(40001, 8080, 7, 0, 0x02, &[], b"")),
    );
    let c = cookie(&sim, 40001, 7, 536, false);
    let s = one(&mut sim, "ext");
    assert_eq!(
        (s.seq, s.ack, s.flags, s.opts),
        (c, 8, 0x12, vec![2, 4, 5, 0xb4])
    );
    assert_eq!(c & 7, 0, "MSS index of 536");
}

/// The proxied handshake up to the real's side open; returns (cookie, real ISN).
fn open_proxied(sim: &mut Sim, cport: u16) -> (u32, u32) {
    let isn = 1000;
    rx(
        sim,
        "ext",
        &from_client(vip(), seg(cport, 8080, isn, 0, 0x02, &LINUX_SYN, b"")),
    );
    let c = one(sim, "ext").seq;
    assert_eq!(c, cookie(sim, cport, isn, 1460, true));
    // The client's ACK becomes the proxy's SYN to the real: the client's ISN, its window, the
    // MSS and SACK-permitted the cookie kept.
    rx(
        sim,
        "ext",
        &from_client(
            vip(),
            seg(cport, 8080, isn + 1, c.wrapping_add(1), 0x10, &[], b""),
        ),
    );
    assert_eq!(
        one(sim, "int"),
        Tcp {
            dst_mac: REAL1_MAC,
            src: client(),
            dst: real1(),
            ttl: 63,
            sport: cport,
            dport: 8080,
            seq: isn,
            ack: 0,
            flags: 0x02,
            window: 29200,
            opts: vec![2, 4, 5, 0xb4, 1, 1, 4, 2],
            data: vec![],
        }
    );
    // Data from the client before the real answered: dropped (the client retransmits).
    rx(
        sim,
        "ext",
        &from_client(
            vip(),
            seg(cport, 8080, isn + 1, c.wrapping_add(1), 0x18, &[], b"early"),
        ),
    );
    none_out(sim);
    // The real's SYN-ACK is answered by the proxy with the ACK that opens the real's side.
    let r_isn = 0x8000_0000;
    rx(
        sim,
        "int",
        &from_real1(seg(
            8080,
            cport,
            r_isn,
            isn + 1,
            0x12,
            &[2, 4, 5, 0xb4],
            b"",
        )),
    );
    assert_eq!(
        one(sim, "int"),
        Tcp {
            dst_mac: REAL1_MAC,
            src: client(),
            dst: real1(),
            ttl: 64,
            sport: cport,
            dport: 8080,
            seq: isn + 1,
            ack: r_isn + 1,
            flags: 0x10,
            window: 14600,
            opts: vec![],
            data: vec![],
        }
    );
    none_out(sim);
    (c, r_isn)
}

#[test]
fn a_proxied_connection_carries_data_both_ways_with_shifted_numbers() {
    let mut sim = sim();
    sim.now = 70_000;
    let (c, r_isn) = open_proxied(&mut sim, 40000);
    // Client -> real: the acknowledgement moves from the cookie's space to the real's.
    rx(
        &mut sim,
        "ext",
        &from_client(
            vip(),
            seg(40000, 8080, 1001, c.wrapping_add(1), 0x18, &[], b"GET /"),
        ),
    );
    let s = one(&mut sim, "int");
    assert_eq!(
        (s.dst, s.dport, s.seq, s.ack, s.data.as_slice()),
        (real1(), 8080, 1001, r_isn + 1, &b"GET /"[..])
    );
    // Real -> client: the sequence number moves to the cookie's space; NAT back to the VIP.
    rx(
        &mut sim,
        "int",
        &from_real1(seg(
            8080,
            40000,
            r_isn + 1,
            1006,
            0x18,
            &[],
            b"HTTP/1.0 200",
        )),
    );
    let s = one(&mut sim, "ext");
    assert_eq!(
        (s.src, s.sport, s.dst, s.seq, s.ack, s.data.as_slice()),
        (
            vip(),
            8080,
            client(),
            c.wrapping_add(1),
            1006,
            &b"HTTP/1.0 200"[..]
        )
    );
    // A SACK block from the client (NOP NOP SACK [c+13, c+113)) reaches the real shifted.
    let mut sack = vec![1, 1, 5, 10];
    sack.extend_from_slice(&c.wrapping_add(13).to_be_bytes());
    sack.extend_from_slice(&c.wrapping_add(113).to_be_bytes());
    rx(
        &mut sim,
        "ext",
        &from_client(
            vip(),
            seg(40000, 8080, 1006, c.wrapping_add(1), 0x10, &sack, b""),
        ),
    );
    let s = one(&mut sim, "int");
    let mut want = vec![1, 1, 5, 10];
    want.extend_from_slice(&(r_isn + 13).to_be_bytes());
    want.extend_from_slice(&(r_isn + 113).to_be_bytes());
    assert_eq!((s.ack, s.opts), (r_isn + 1, want));
    // The real's SACK blocks are about the client's numbers, which are not shifted.
    let mut rsack = vec![1, 1, 5, 10];
    rsack.extend_from_slice(&2000u32.to_be_bytes());
    rsack.extend_from_slice(&2100u32.to_be_bytes());
    rx(
        &mut sim,
        "int",
        &from_real1(seg(8080, 40000, r_isn + 13, 1006, 0x10, &rsack, b"")),
    );
    let s = one(&mut sim, "ext");
    assert_eq!((s.seq, s.ack, s.opts), (c.wrapping_add(13), 1006, rsack));
    counters(
        &sim,
        &[
            ("rx", 8),
            ("tx", 7),
            ("syn_cookies_sent", 1),
            ("syn_cookie_acks", 1),
            ("conn_new", 1),
            ("drop_proxy_opening", 1),
            ("syn_proxy_opened", 1),
            ("nat_in", 3),
            ("nat_out", 2),
        ],
    );
    let conns = &sim.workers[0].engine.conns;
    let (_, info) = conns.iter().next().unwrap();
    assert_eq!(info.state.name(), "ESTABLISHED");
}

#[test]
fn a_bad_cookie_ack_is_dropped_and_counted() {
    let mut sim = sim();
    sim.now = 1_000;
    rx(
        &mut sim,
        "ext",
        &from_client(vip(), seg(40000, 8080, 1000, 0, 0x02, &LINUX_SYN, b"")),
    );
    let c = one(&mut sim, "ext").seq;
    // Off by one, another client port, another ISN, and a cookie gone stale (3 periods on).
    for (cport, seq, ack, now) in [
        (40000, 1001, c.wrapping_add(2), 1_000),
        (40002, 1001, c.wrapping_add(1), 1_000),
        (40000, 1002, c.wrapping_add(1), 1_000),
        (40000, 1001, c.wrapping_add(1), 1_000 + 3 * 64_000),
    ] {
        sim.now = now;
        rx(
            &mut sim,
            "ext",
            &from_client(vip(), seg(cport, 8080, seq, ack, 0x10, &[], b"")),
        );
    }
    none_out(&mut sim);
    counters(
        &sim,
        &[
            ("rx", 5),
            ("tx", 1),
            ("syn_cookies_sent", 1),
            ("drop_bad_cookie", 4),
        ],
    );
    assert_eq!(sim.workers[0].engine.conns.len(), 0);
}

#[test]
fn a_real_refusing_the_proxy_resets_the_client() {
    let mut sim = sim();
    rx(
        &mut sim,
        "ext",
        &from_client(vip(), seg(40000, 8080, 1000, 0, 0x02, &[], b"")),
    );
    let c = one(&mut sim, "ext").seq;
    rx(
        &mut sim,
        "ext",
        &from_client(
            vip(),
            seg(40000, 8080, 1001, c.wrapping_add(1), 0x10, &[], b""),
        ),
    );
    one(&mut sim, "int");
    // The real's RST|ACK (seq 0, ack client ISN + 1) reaches the client in its window.
    rx(
        &mut sim,
        "int",
        &from_real1(seg(8080, 40000, 0, 1001, 0x14, &[], b"")),
    );
    let s = one(&mut sim, "ext");
    assert_eq!(
        (s.src, s.seq, s.ack, s.flags),
        (vip(), c.wrapping_add(1), 1001, 0x14)
    );
    assert_eq!(sim.counter("syn_proxy_real_reset"), 1);
}

#[test]
fn auto_answers_with_cookies_only_above_the_threshold() {
    let mut sim = sim();
    let busy = ip("198.18.0.102");
    for sport in 1..=4u16 {
        rx(
            &mut sim,
            "ext",
            &from_client(busy, seg(sport, 80, 1000, 0, 0x02, &[], b"")),
        );
    }
    // Half-open 0, 1, 2: three SYNs go to the real; at 3 (> 2) the fourth gets a cookie.
    let p = sim.port("int");
    assert_eq!(sim.take_sent(p).len(), 3);
    let s = one(&mut sim, "ext");
    assert_eq!((s.src, s.dport, s.flags), (busy, 4, 0x12));
    counters(
        &sim,
        &[
            ("rx", 4),
            ("tx", 4),
            ("conn_new", 3),
            ("nat_in", 3),
            ("syn_cookies_sent", 1),
        ],
    );
}

#[test]
fn dr_syns_are_stateless_and_their_ack_reaches_the_same_real() {
    let mut sim = sim();
    let direct = ip("198.18.0.101");
    let mut reals = std::collections::BTreeSet::new();
    for sport in 0..32u16 {
        let syn = from_client(direct, seg(30000 + sport, 80, 5, 0, 0x02, &[], b""));
        rx(&mut sim, "int", &syn); // arriving on either port makes no difference
        let s = one(&mut sim, "int");
        assert_eq!((s.dst, s.flags, s.seq), (direct, 0x02, 5));
        assert_eq!(
            sim.workers[0].engine.conns.len(),
            usize::from(sport),
            "no state for a SYN"
        );
        let ack = from_client(direct, seg(30000 + sport, 80, 6, 77, 0x10, &[], b""));
        rx(&mut sim, "ext", &ack);
        let a = one(&mut sim, "int");
        assert_eq!(
            a.dst_mac,
            s.dst_mac,
            "the ACK follows its SYN (port {})",
            30000 + sport
        );
        assert_eq!(sim.workers[0].engine.conns.len(), usize::from(sport) + 1);
        // Half-open until the client's first data: an ACK flood makes only evictable entries.
        assert_eq!(sim.workers[0].engine.conns.half_open(), 1);
        let data = from_client(direct, seg(30000 + sport, 80, 6, 77, 0x18, &[], b"GET"));
        rx(&mut sim, "ext", &data);
        assert_eq!(one(&mut sim, "int").dst_mac, s.dst_mac);
        assert_eq!(sim.workers[0].engine.conns.half_open(), 0);
        reals.insert(s.dst_mac);
    }
    assert_eq!(reals.len(), 2, "both reals get flows");
    counters(
        &sim,
        &[
            ("rx", 96),
            ("tx", 96),
            ("syn_stateless", 32),
            ("conn_new", 32),
            ("conn_from_ack", 32),
            ("dr_in", 96),
        ],
    );
    let (_, info) = sim.workers[0].engine.conns.iter().next().unwrap();
    assert_eq!(info.state.name(), "ESTABLISHED");
}

/// The fuzz driver over the SYN proxy's packets: a SYN (with and without options), a forged
/// cookie ACK, both directions of a proxied connection (SACK included), the real's SYN-ACK and
/// reset of a connection still opening, and DR's stateless SYN, ACK and data; mangled at
/// random, on two workers. Never a panic, never a lost packet.
mod mangled {
    use super::*;
    use dataplane::worker::engine::fuzz::{check_accounting, drive_with};
    use proptest::prelude::*;

    fn sim_with_proxied_connections() -> (Sim, Vec<Vec<u8>>) {
        let mut sim = Sim::new(&config("nat", GUARDED), 2, true).unwrap();
        sim.now = 100_000;
        let (c, r_isn) = open_proxied(&mut sim, 40000);
        // A second connection left opening (no SYN-ACK from its real yet).
        rx(
            &mut sim,
            "ext",
            &from_client(vip(), seg(40003, 8080, 50, 0, 0x02, &[], b"")),
        );
        let c3 = one(&mut sim, "ext").seq;
        rx(
            &mut sim,
            "ext",
            &from_client(
                vip(),
                seg(40003, 8080, 51, c3.wrapping_add(1), 0x10, &[], b""),
            ),
        );
        one(&mut sim, "int");
        check_accounting(&sim);
        let mut sack = vec![1, 1, 5, 10];
        sack.extend_from_slice(&c.wrapping_add(5).to_be_bytes());
        sack.extend_from_slice(&c.wrapping_add(9).to_be_bytes());
        let direct = ip("198.18.0.101");
        let templates = vec![
            Vec::new(),
            from_client(vip(), seg(40001, 8080, 9, 0, 0x02, &LINUX_SYN, b"")),
            from_client(vip(), seg(40001, 8080, 9, 0, 0x02, &[], b"")),
            from_client(vip(), seg(40002, 8080, 10, 0x1234_5678, 0x10, &[], b"")),
            from_client(
                vip(),
                seg(40000, 8080, 1001, c.wrapping_add(1), 0x18, &sack, b"more"),
            ),
            from_real1(seg(8080, 40000, r_isn + 1, 1001, 0x18, &[], b"reply")),
            from_real1(seg(8080, 40003, 777, 51, 0x12, &[2, 4, 5, 0xb4], b"")),
            from_real1(seg(8080, 40003, 0, 51, 0x14, &[], b"")),
            from_client(direct, seg(30000, 80, 5, 0, 0x02, &[], b"")),
            from_client(direct, seg(30000, 80, 6, 1, 0x10, &[], b"")),
            from_client(direct, seg(30000, 80, 6, 1, 0x18, &[], b"GET")),
        ];
        (sim, templates)
    }

    fn record() -> impl Strategy<Value = (u8, Vec<u8>)> {
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..24))
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 300,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn mangled_proxy_packets_never_panic_nor_get_lost(
            records in prop::collection::vec(record(), 1..16)
        ) {
            let (mut sim, templates) = sim_with_proxied_connections();
            let mut data = Vec::new();
            for (ctrl, bytes) in records {
                data.push(ctrl & 0x3f); // no clock steps: the cookies stay valid
                data.push(bytes.len() as u8);
                data.extend(bytes);
            }
            drive_with(&mut sim, &[&templates, &[]], &data);
        }
    }

    /// Unmangled, each template reaches its decision.
    #[test]
    fn the_templates_reach_the_proxy_paths() {
        let (mut sim, templates) = sim_with_proxied_connections();
        let before = sim.nonzero_counters();
        for i in 1..templates.len() {
            let port = if (5..=7).contains(&i) { 1u8 } else { 0 };
            drive_with(
                &mut sim,
                &[&templates, &[]],
                &[(port << 1) | ((i as u8) << 2), 0],
            );
        }
        let after = sim.nonzero_counters();
        let moved = |name: &str| {
            after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0)
        };
        assert_eq!(moved("syn_cookies_sent"), 2, "{after:?}");
        assert_eq!(moved("drop_bad_cookie"), 1, "{after:?}");
        assert_eq!(moved("syn_proxy_opened"), 1, "{after:?}");
        assert_eq!(
            moved("syn_proxy_real_reset"),
            0,
            "the SYN-ACK opened it first: {after:?}"
        );
        assert_eq!(moved("syn_stateless"), 1, "{after:?}");
        assert_eq!(moved("conn_from_ack"), 1, "{after:?}");
        assert_eq!(
            moved("nat_out"),
            2,
            "reply and the RST (now shifted): {after:?}"
        );
    }
}
