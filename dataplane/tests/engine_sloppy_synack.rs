//! Reply-side sloppy TCP (worker/engine/sloppy_synack.rs) through the engine in process: a
//! real's SYN-ACK that finds no connection opens it in SYN_RECV on a sloppy NAT service whose
//! real address and port name it alone, is translated back to the VIP, and the client's ACK
//! establishes it; on the owner worker of the client's address and port; a peer's sync record
//! then updates it. Ambiguous reals, services without sloppy_tcp or with a SYN proxy, and
//! packets that are not a SYN-ACK are `drop_not_for_us` as before.
mod common;
use common::packets::*;
use common::two_ports::{EXT_MAC, INT_MAC};
use crossbeam::queue::ArrayQueue;
use dataplane::config::ForwardMode;
use dataplane::lb::conn::TcpState;
use dataplane::lb::sync::{EventRing, Record};
use dataplane::lb::types::Protocol;
use dataplane::worker::engine::sim::Sim;
use dataplane::worker::engine::sync::SyncIo;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// `web` (NAT, port 80, reals .11 and .12, sloppy or not), `guarded` (NAT, port 8080, the SYN
/// proxy always on, sloppy) and, with `ambiguous`, `other` (another VIP, port 80, real .12: a
/// SYN-ACK from .12:80 could be either service's).
fn config(sloppy: bool, ambiguous: bool, workers: usize) -> String {
    let cores: Vec<String> = (1..=workers).map(|c| c.to_string()).collect();
    let other = if ambiguous {
        "  - {name: other, vip: 198.18.0.101, port: 80, scheduler: rr, forward: nat, \
         sloppy_tcp: true, reals: [{ip: 198.19.0.12}]}\n"
    } else {
        ""
    };
    format!(
        r#"eal: {{lcores: "0-{workers}", memory_mb: 256, hugepages: off}}
workers: {{cores: [{cores}]}}
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
conn: {{max_per_core: 4096}}
services:
  - {{name: web, vip: 198.18.0.100, port: 80, scheduler: rr, forward: nat,
     sloppy_tcp: {sloppy}, reals: [{{ip: 198.19.0.11}}, {{ip: 198.19.0.12}}]}}
  - {{name: guarded, vip: 198.18.0.100, port: 8080, scheduler: rr, forward: nat,
     syn_proxy: {{mode: always}}, sloppy_tcp: true,
     reals: [{{ip: 198.19.0.11}}, {{ip: 198.19.0.12}}]}}
{other}"#,
        cores = cores.join(", ")
    )
}

const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const RST_ACK: u8 = 0x14;
const FIN_SYN_ACK: u8 = 0x13;
/// A SYN-ACK agreeing to ECN (ECE set): still a SYN-ACK.
const SYN_ACK_ECE: u8 = 0x52;

fn vip() -> Ipv4Addr {
    ip("198.18.0.100")
}

fn client() -> Ipv4Addr {
    ip("198.18.0.2")
}

fn real1() -> Ipv4Addr {
    ip("198.19.0.11")
}

/// A TCP segment with sequence and acknowledgement numbers.
fn seg(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
    let mut t = tcp(sport, dport, flags, b"");
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t
}

/// The real `real:rport`'s segment to the client's port `cport`, as it reaches the int port.
fn from_real(real: Ipv4Addr, rport: u16, cport: u16, flags: u8) -> Vec<u8> {
    let mac = [2, 0, 0, 0, 2, real.octets()[3]];
    ipv4(
        INT_MAC,
        mac,
        real,
        client(),
        6,
        &seg(rport, cport, 7000, 5001, flags),
    )
}

/// The client's segment from `cport` to the VIP's `vport`.
fn from_client(cport: u16, vport: u16, flags: u8) -> Vec<u8> {
    ipv4(
        EXT_MAC,
        ROUTER_MAC,
        client(),
        vip(),
        6,
        &seg(cport, vport, 5001, 7001, flags),
    )
}

fn counters(sim: &Sim, want: &[(&'static str, u64)]) {
    let want: BTreeMap<&str, u64> = want.iter().copied().collect();
    assert_eq!(sim.nonzero_counters(), want);
}

/// (client, client port, VIP, virtual port, real, real port, state) of every connection.
type Row = (Ipv4Addr, u16, Ipv4Addr, u16, Ipv4Addr, u16, TcpState);

fn conns(sim: &Sim) -> Vec<Row> {
    sim.conns()
        .iter()
        .map(|c| {
            (
                c.client,
                c.cport,
                c.vip,
                c.vport,
                c.real_addr,
                c.rport,
                c.state,
            )
        })
        .collect()
}

#[test]
fn a_real_syn_ack_of_no_connection_opens_it_and_the_client_ack_establishes_it() {
    let mut s = Sim::new(&config(true, false, 1), 1, false).unwrap();
    let (ext, int) = (s.port("ext"), s.port("int"));
    s.rx(0, int, &from_real(real1(), 80, 40000, SYN_ACK));
    let out = s.take_sent(ext);
    assert_eq!(out.len(), 1, "{:?}", s.nonzero_counters());
    let back = seen(&out[0]);
    assert_eq!(
        (back.src, back.sport, back.dst, back.dport),
        (vip(), 80, client(), 40000)
    );
    assert_eq!(back.l3[33], SYN_ACK, "still a SYN-ACK");
    assert!(back.ip_ok && back.l4_ok, "checksums");
    assert_eq!(
        conns(&s),
        vec![(client(), 40000, vip(), 80, real1(), 80, TcpState::SynRecv)]
    );
    counters(
        &s,
        &[
            ("rx", 1),
            ("tx", 1),
            ("conn_new", 1),
            ("sloppy_synack_conn_new", 1),
            ("nat_out", 1),
        ],
    );
    // The real retransmits: the connection is found, no second one.
    s.rx(0, int, &from_real(real1(), 80, 40000, SYN_ACK));
    assert_eq!(s.take_sent(ext).len(), 1);
    // The client's ACK: to the same real, ESTABLISHED (found, not sloppy-opened).
    s.rx(0, ext, &from_client(40000, 80, ACK));
    let fwd = s.take_sent(int);
    assert_eq!(fwd.len(), 1);
    let to = seen(&fwd[0]);
    assert_eq!(
        (to.src, to.sport, to.dst, to.dport),
        (client(), 40000, real1(), 80)
    );
    assert!(to.ip_ok && to.l4_ok, "checksums");
    assert_eq!(
        conns(&s),
        vec![(
            client(),
            40000,
            vip(),
            80,
            real1(),
            80,
            TcpState::Established
        )]
    );
    // Data both ways.
    s.rx(0, int, &from_real(real1(), 80, 40000, PSH_ACK));
    assert_eq!(s.take_sent(ext).len(), 1);
    counters(
        &s,
        &[
            ("rx", 4),
            ("tx", 4),
            ("conn_new", 1),
            ("sloppy_synack_conn_new", 1),
            ("nat_out", 3),
            ("nat_in", 1),
        ],
    );
}

#[test]
fn a_syn_ack_with_ece_opens_it_too() {
    let mut s = Sim::new(&config(true, false, 1), 1, false).unwrap();
    let int = s.port("int");
    s.rx(0, int, &from_real(real1(), 80, 40001, SYN_ACK_ECE));
    assert_eq!(s.counter("sloppy_synack_conn_new"), 1);
    assert_eq!(s.counter("nat_out"), 1);
}

#[test]
fn ambiguous_non_sloppy_proxied_and_non_syn_ack_replies_are_dropped_as_before() {
    let int_frames = |s: &mut Sim, frames: &[Vec<u8>]| {
        let int = s.port("int");
        for f in frames {
            s.rx(0, int, f);
        }
        let ext = s.port("ext");
        assert!(s.take_sent(ext).is_empty());
        assert_eq!(conns(s), vec![]);
    };
    // .12:80 is in web and in other.
    let mut s = Sim::new(&config(true, true, 1), 1, false).unwrap();
    let real2 = ip("198.19.0.12");
    int_frames(
        &mut s,
        &[
            from_real(real2, 80, 40000, SYN_ACK),
            // guarded: its SYN proxy takes the real's SYN-ACK.
            from_real(real1(), 8080, 40001, SYN_ACK),
            // Not a SYN-ACK.
            from_real(real1(), 80, 40002, ACK),
            from_real(real1(), 80, 40003, PSH_ACK),
            from_real(real1(), 80, 40004, SYN),
            from_real(real1(), 80, 40005, RST_ACK),
            from_real(real1(), 80, 40006, FIN_SYN_ACK),
            // Not a real's port.
            from_real(real1(), 81, 40007, SYN_ACK),
        ],
    );
    counters(&s, &[("rx", 8), ("drop_not_for_us", 8)]);
    // The same web service without sloppy_tcp.
    let mut s = Sim::new(&config(false, false, 1), 1, false).unwrap();
    int_frames(&mut s, &[from_real(real1(), 80, 40000, SYN_ACK)]);
    counters(&s, &[("rx", 1), ("drop_not_for_us", 1)]);
}

#[test]
fn the_owner_worker_of_the_client_port_opens_it() {
    let mut s = Sim::new(&config(true, false, 2), 2, false).unwrap();
    let (ext, int) = (s.port("ext"), s.port("int"));
    // A client port each worker owns; each SYN-ACK arrives on the other worker, which hands
    // it to the owner (the sim delivers handoffs at once).
    let owner = |cport: u16| dataplane::lb::flow::owner_worker(client(), cport, 2);
    let p0 = (40000..).find(|&p| owner(p) == 0).unwrap();
    let p1 = (40000..).find(|&p| owner(p) == 1).unwrap();
    s.rx(1, int, &from_real(real1(), 80, p0, SYN_ACK));
    s.rx(0, int, &from_real(real1(), 80, p1, SYN_ACK));
    assert_eq!(s.worker_counter(0, "handoff_out"), 1);
    assert_eq!(s.worker_counter(1, "handoff_out"), 1);
    assert_eq!(s.worker_counter(0, "sloppy_synack_conn_new"), 1);
    assert_eq!(s.worker_counter(1, "sloppy_synack_conn_new"), 1);
    assert_eq!(s.counter("conn_new"), 2);
    assert_eq!(s.take_sent(ext).len(), 2);
    // The client's ACKs find their connections on the same workers.
    s.rx(0, ext, &from_client(p0, 80, ACK));
    s.rx(1, ext, &from_client(p1, 80, ACK));
    assert_eq!(s.counter("handoff_out"), 2);
    assert_eq!(s.counter("nat_in"), 2);
    assert_eq!(s.counter("sloppy_conn_new"), 0);
    let mut states: Vec<_> = conns(&s).iter().map(|c| (c.1, c.6)).collect();
    states.sort_unstable();
    let mut want = vec![(p0, TcpState::Established), (p1, TcpState::Established)];
    want.sort_unstable();
    assert_eq!(states, want);
}

#[test]
fn the_peers_records_then_update_the_connection() {
    let mut s = Sim::new(&config(true, false, 1), 1, false).unwrap();
    let installs = Arc::new(ArrayQueue::new(4));
    s.workers[0].engine.sync = SyncIo::new(EventRing::new(None), Some(installs.clone()), None);
    s.now = 5_000;
    let int = s.port("int");
    s.rx(0, int, &from_real(real1(), 80, 40000, SYN_ACK));
    assert_eq!(s.counter("sloppy_synack_conn_new"), 1);
    let record = |state: TcpState, timeout: u32| Record {
        proto: Protocol::Tcp,
        state,
        mode: ForwardMode::Nat,
        template: false,
        vip: IpAddr::V4(vip()),
        vport: 80,
        client: IpAddr::V4(client()),
        cport: 40000,
        real: IpAddr::V4(real1()),
        rport: 80,
        timeout,
    };
    // The peer's half-open record, late: the same connection, its timeout.
    installs.push(record(TcpState::SynRecv, 59)).unwrap();
    let w = &mut s.workers[0];
    w.engine.sync_housekeep(64, &mut w.totals);
    assert_eq!(s.counter("sync_installed"), 1);
    let c = s.conns();
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].state, c[0].expires_ms),
        (TcpState::SynRecv, 5_000 + 59_000)
    );
    // Its ESTABLISHED record (the client's ACK went to the peer).
    installs.push(record(TcpState::Established, 900)).unwrap();
    let w = &mut s.workers[0];
    w.engine.sync_housekeep(64, &mut w.totals);
    assert_eq!(s.counter("sync_installed"), 2);
    assert_eq!(
        conns(&s),
        vec![(
            client(),
            40000,
            vip(),
            80,
            real1(),
            80,
            TcpState::Established
        )]
    );
    assert_eq!(s.conns()[0].expires_ms, 5_000 + 900_000);
    assert_eq!(s.counter("conn_new"), 1);
}
