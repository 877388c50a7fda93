//! Sloppy TCP (`services[].sloppy_tcp`, worker/engine/sloppy.rs) through the engine in process:
//! off, a non-SYN packet of no connection is `drop_no_conn` as before; on, it is scheduled and
//! its connection created in ESTABLISHED (a RST never opens one; a FIN opens and closes); with
//! the SYN proxy a valid cookie's ACK keeps the proxy's handling and any other ACK is sloppy.
//! Two appliances (two sims, the same config, `mh`) pick the same real for the same flow: a
//! flow opened on one and moved to the other goes on to the same real.
mod common;
use common::packets::*;
use common::two_ports::{EXT_MAC, INT_MAC};
use dataplane::lb::conn::TcpState;
use dataplane::lb::syncookie::{self, CookieFlow, CookieOptions};
use dataplane::worker::engine::sim::Sim;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// A two-port config: `moved` (NAT, mh over four reals, sloppy or not), `guarded` (the same
/// with the SYN proxy always on), and `dr-guarded` (DR, mh over the four reals, the SYN-flood
/// defence always on: stateless SYNs for DR).
fn config(sloppy: bool) -> String {
    format!(
        r#"eal: {{lcores: "0-1", memory_mb: 256, hugepages: off}}
workers: {{cores: [1]}}
mode: lb
ports:
  - {{name: ext, device: net_null0, ip: 198.18.0.1/24, mac: "02:d0:00:00:00:01"}}
  - {{name: int, device: net_null1, ip: 198.19.0.1/24, mac: "02:d0:00:00:00:02"}}
routes: [{{prefix: 0.0.0.0/0, via: 198.18.0.254}}]
neighbors:
  - {{ip: 198.18.0.2, mac: "02:00:00:00:01:02"}}
  - {{ip: 198.18.0.254, mac: "02:00:00:00:01:fe"}}
  - {{ip: 198.19.0.11, mac: "02:00:00:00:02:11"}}
  - {{ip: 198.19.0.12, mac: "02:00:00:00:02:12"}}
  - {{ip: 198.19.0.13, mac: "02:00:00:00:02:13"}}
  - {{ip: 198.19.0.14, mac: "02:00:00:00:02:14"}}
conn: {{max_per_core: 4096}}
services:
  - name: moved
    vip: 198.18.0.100
    port: 80
    scheduler: mh
    forward: nat
    syn_proxy: {{mode: off}}
    sloppy_tcp: {sloppy}
    reals: [{{ip: 198.19.0.11}}, {{ip: 198.19.0.12}}, {{ip: 198.19.0.13}}, {{ip: 198.19.0.14}}]
  - name: guarded
    vip: 198.18.0.100
    port: 8080
    scheduler: mh
    forward: nat
    syn_proxy: {{mode: always}}
    sloppy_tcp: {sloppy}
    reals: [{{ip: 198.19.0.11}}, {{ip: 198.19.0.12}}]
  - name: dr-guarded
    vip: 198.18.0.100
    port: 9090
    scheduler: mh
    forward: dr
    syn_proxy: {{mode: always}}
    sloppy_tcp: {sloppy}
    reals: [{{ip: 198.19.0.11}}, {{ip: 198.19.0.12}}, {{ip: 198.19.0.13}}, {{ip: 198.19.0.14}}]
"#
    )
}

const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;
const RST: u8 = 0x04;
const SYN: u8 = 0x02;

fn vip() -> Ipv4Addr {
    ip("198.18.0.100")
}

/// A TCP segment with sequence and acknowledgement numbers.
fn seg(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut t = tcp(sport, dport, flags, data);
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t
}

/// From `client` (through the router) to the VIP.
fn from(client: Ipv4Addr, tcp: Vec<u8>) -> Vec<u8> {
    ipv4(EXT_MAC, ROUTER_MAC, client, vip(), 6, &tcp)
}

fn sim(sloppy: bool) -> Sim {
    Sim::new(&config(sloppy), 1, false).unwrap()
}

fn rx(sim: &mut Sim, frame: &[u8]) {
    let p = sim.port("ext");
    sim.rx(0, p, frame);
}

/// The destination addresses of the frames out of int since the last call.
fn to_reals(sim: &mut Sim) -> Vec<Ipv4Addr> {
    let p = sim.port("int");
    sim.take_sent(p).iter().map(|f| seen(f).dst).collect()
}

fn counters(sim: &Sim, want: &[(&'static str, u64)]) {
    let want: BTreeMap<&str, u64> = want.iter().copied().collect();
    assert_eq!(sim.nonzero_counters(), want);
}

/// (client, client port, real, state) of every connection.
fn conns(sim: &Sim) -> Vec<(Ipv4Addr, u16, Ipv4Addr, TcpState)> {
    sim.conns()
        .iter()
        .map(|c| (c.client, c.cport, c.real_addr, c.state))
        .collect()
}

#[test]
fn off_a_non_syn_of_no_connection_is_dropped() {
    let mut s = sim(false);
    let c = ip("198.18.0.2");
    rx(
        &mut s,
        &from(c, seg(40000, 80, 5000, 7000, PSH_ACK, b"data")),
    );
    assert_eq!(to_reals(&mut s), Vec::<Ipv4Addr>::new());
    assert_eq!(conns(&s), vec![]);
    counters(&s, &[("rx", 1), ("drop_no_conn", 1)]);
}

#[test]
fn on_an_ack_opens_an_established_connection_and_is_forwarded_both_ways() {
    let mut s = sim(true);
    let c = ip("198.18.0.2");
    rx(
        &mut s,
        &from(c, seg(40000, 80, 5000, 7000, PSH_ACK, b"data")),
    );
    let reals = to_reals(&mut s);
    assert_eq!(reals.len(), 1, "{:?}", s.nonzero_counters());
    let real = reals[0];
    assert_eq!(conns(&s), vec![(c, 40000, real, TcpState::Established)]);
    counters(
        &s,
        &[
            ("rx", 1),
            ("tx", 1),
            ("conn_new", 1),
            ("sloppy_conn_new", 1),
            ("nat_in", 1),
        ],
    );
    // The next packet finds the connection: no second sloppy pick, the same real.
    rx(&mut s, &from(c, seg(40000, 80, 5004, 7000, ACK, b"")));
    assert_eq!(to_reals(&mut s), vec![real]);
    // The real's answer goes back to the client from the VIP.
    let real_mac = [2, 0, 0, 0, 2, real.octets()[3]];
    let reply = ipv4(
        INT_MAC,
        real_mac,
        real,
        c,
        6,
        &seg(80, 40000, 7000, 5004, ACK, b"ok"),
    );
    let p = s.port("int");
    s.rx(0, p, &reply);
    let ext = s.port("ext");
    let out = s.take_sent(ext);
    assert_eq!(out.len(), 1, "{:?}", s.nonzero_counters());
    let back = seen(&out[0]);
    assert_eq!(
        (back.src, back.sport, back.dst, back.dport),
        (vip(), 80, c, 40000)
    );
    assert!(back.ip_ok && back.l4_ok);
    counters(
        &s,
        &[
            ("rx", 3),
            ("tx", 3),
            ("conn_new", 1),
            ("sloppy_conn_new", 1),
            ("nat_in", 2),
            ("nat_out", 1),
        ],
    );
}

#[test]
fn on_a_rst_never_opens_and_a_fin_opens_closing() {
    let mut s = sim(true);
    let c = ip("198.18.0.2");
    rx(&mut s, &from(c, seg(40001, 80, 5000, 7000, RST, b"")));
    assert_eq!(to_reals(&mut s), Vec::<Ipv4Addr>::new());
    assert_eq!(conns(&s), vec![]);
    counters(&s, &[("rx", 1), ("drop_no_conn", 1)]);
    // A FIN of a moved flow: forwarded, and the connection is closing (IPVS: CLOSE_WAIT).
    rx(&mut s, &from(c, seg(40002, 80, 5000, 7000, FIN_ACK, b"")));
    let reals = to_reals(&mut s);
    assert_eq!(reals.len(), 1);
    assert_eq!(conns(&s), vec![(c, 40002, reals[0], TcpState::CloseWait)]);
    counters(
        &s,
        &[
            ("rx", 2),
            ("tx", 1),
            ("drop_no_conn", 1),
            ("conn_new", 1),
            ("sloppy_conn_new", 1),
            ("nat_in", 1),
        ],
    );
}

#[test]
fn with_the_syn_proxy_a_cookie_ack_is_proxied_and_any_other_ack_is_sloppy() {
    let mut s = sim(true);
    let c = ip("198.18.0.2");
    // Not a cookie: a moved flow, sloppy (not drop_bad_cookie).
    rx(
        &mut s,
        &from(c, seg(41000, 8080, 5000, 7000, PSH_ACK, b"data")),
    );
    let reals = to_reals(&mut s);
    assert_eq!(reals.len(), 1, "{:?}", s.nonzero_counters());
    assert_eq!(conns(&s), vec![(c, 41000, reals[0], TcpState::Established)]);
    counters(
        &s,
        &[
            ("rx", 1),
            ("tx", 1),
            ("conn_new", 1),
            ("sloppy_conn_new", 1),
            ("nat_in", 1),
        ],
    );
    // A SYN answered with a cookie, then the ACK of that cookie: the proxy opens it to the
    // real with a SYN, as without sloppy.
    rx(&mut s, &from(c, seg(41001, 8080, 999, 0, SYN, b"")));
    let ext = s.port("ext");
    let synack = s.take_sent(ext);
    assert_eq!(synack.len(), 1);
    let flow = CookieFlow {
        client: c,
        cport: 41001,
        vip: vip(),
        vport: 8080,
        client_isn: 999,
    };
    let opts = CookieOptions {
        mss: 536,
        sack_permitted: false,
    };
    let cookie = syncookie::make(&s.snapshot().cookie_secrets, &flow, opts, s.now);
    let l3 = &seen(&synack[0]).l3;
    assert_eq!(u32::from_be_bytes(l3[24..28].try_into().unwrap()), cookie);
    rx(
        &mut s,
        &from(c, seg(41001, 8080, 1000, cookie.wrapping_add(1), ACK, b"")),
    );
    let p = s.port("int");
    let to_real = s.take_sent(p);
    assert_eq!(to_real.len(), 1);
    let l3 = seen(&to_real[0]).l3;
    assert_eq!(l3[20 + 13], SYN, "the proxy's SYN to the real");
    counters(
        &s,
        &[
            ("rx", 3),
            ("tx", 3),
            ("conn_new", 2),
            ("sloppy_conn_new", 1),
            ("nat_in", 2),
            ("syn_cookies_sent", 1),
            ("syn_cookie_acks", 1),
        ],
    );
}

/// 64 clients: each flow's SYN opens on appliance A; its next packet (ECMP moved it) reaches
/// appliance B, which has no connection: B's sloppy pick is A's real, and B's next packet
/// follows its new entry to the same real.
#[test]
fn two_appliances_with_mh_pick_the_same_real_and_sloppy_keeps_a_moved_flow_there() {
    let mut a = sim(true);
    let mut b = sim(true);
    let mut spread: BTreeMap<Ipv4Addr, usize> = BTreeMap::new();
    for i in 0..64u8 {
        let c = Ipv4Addr::new(203, 0, 113, i + 1);
        let sport = 30000 + u16::from(i);
        rx(&mut a, &from(c, seg(sport, 80, 100, 0, SYN, b"")));
        let on_a = to_reals(&mut a);
        assert_eq!(on_a.len(), 1);
        // The same flow's SYN on B (a fresh flow) picks the same real: consistent choice.
        let mut fresh = sim(true);
        rx(&mut fresh, &from(c, seg(sport, 80, 100, 0, SYN, b"")));
        assert_eq!(
            to_reals(&mut fresh),
            on_a,
            "client {c}: same real for a SYN"
        );
        // Moved: B sees only the flow's later packets.
        rx(&mut b, &from(c, seg(sport, 80, 101, 9, PSH_ACK, b"more")));
        assert_eq!(to_reals(&mut b), on_a, "client {c}: sloppy pick on B");
        rx(&mut b, &from(c, seg(sport, 80, 105, 9, ACK, b"")));
        assert_eq!(to_reals(&mut b), on_a, "client {c}: B's entry");
        *spread.entry(on_a[0]).or_default() += 1;
    }
    assert_eq!(spread.len(), 4, "the flows use every real: {spread:?}");
    assert_eq!(b.counter("sloppy_conn_new"), 64);
    assert_eq!(b.counter("conn_new"), 64);
    assert_eq!(b.counter("drop_no_conn"), 0);
    assert_eq!(a.counter("sloppy_conn_new"), 0);
    assert!(conns(&b)
        .iter()
        .all(|(_, _, _, st)| *st == TcpState::Established));
}

/// The destination MACs of the frames out of int since the last call (DR keeps the VIP).
fn to_real_macs(sim: &mut Sim) -> Vec<[u8; 6]> {
    let p = sim.port("int");
    sim.take_sent(p).iter().map(|f| seen(f).dst_mac).collect()
}

/// DR with the SYN-flood defence on: a stateless SYN, the pure ACK of a flow that ECMP moved to
/// another appliance (stateless there too) and a moved FIN (not a pure ACK: the scheduler's
/// sloppy pick) on a third all reach the real that `mh` picks for the client, so a
/// moved flow is not reset by another real.
#[test]
fn with_mh_the_stateless_dr_choice_is_the_consistent_one() {
    let mut a = sim(true);
    let mut b = sim(true);
    let mut open = sim(true);
    let mut spread: BTreeMap<[u8; 6], usize> = BTreeMap::new();
    for i in 0..32u8 {
        let c = Ipv4Addr::new(203, 0, 113, i + 1);
        let sport = 31000 + u16::from(i);
        rx(&mut a, &from(c, seg(sport, 9090, 100, 0, SYN, b"")));
        let on_a = to_real_macs(&mut a);
        assert_eq!(on_a.len(), 1, "client {c}: the stateless SYN is forwarded");
        rx(&mut b, &from(c, seg(sport, 9090, 101, 9, ACK, b"")));
        assert_eq!(to_real_macs(&mut b), on_a, "client {c}: stateless ACK on B");
        rx(&mut open, &from(c, seg(sport, 9090, 101, 9, FIN_ACK, b"")));
        assert_eq!(
            to_real_macs(&mut open),
            on_a,
            "client {c}: the scheduler's sloppy pick"
        );
        *spread.entry(on_a[0]).or_default() += 1;
    }
    assert_eq!(spread.len(), 4, "the flows use every real: {spread:?}");
    assert_eq!(a.counter("syn_stateless"), 32);
    assert_eq!(b.counter("conn_from_ack"), 32);
    assert_eq!(open.counter("sloppy_conn_new"), 32);
}
