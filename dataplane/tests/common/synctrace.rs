//! How connection sync races the real's SYN-ACK on the scale-out NAT testbed
//! (docs/scale-out.md): tcpdump on the switch ports of appliances A and B (dpt-sw's
//! `sw-lb-int`, `sw-lb2-int`: one kernel clock for both) while new connections run, then, for
//! every connection whose SYN one appliance forwarded and whose SYN-ACK the reals' ECMP route
//! sent to the other: when the forwarding appliance's half-open record (a sync datagram, read
//! with the shared key) left it and reached the other, against when the SYN-ACK reached it.
#![allow(dead_code)]

use dataplane::lb::conn::TcpState;
use dataplane::lb::sync::{parse_datagram, DatagramKind, Key};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The appliances' internal ports: switch port, MAC, address.
const NODES: [(&str, [u8; 6], Ipv4Addr); 2] = [
    (
        "sw-lb-int",
        [2, 0, 0, 0, 2, 1],
        Ipv4Addr::new(198, 19, 0, 1),
    ),
    (
        "sw-lb2-int",
        [2, 0, 0, 0, 2, 3],
        Ipv4Addr::new(198, 19, 0, 4),
    ),
];

/// The sync port (configs/scaleout-nat-*.yaml).
const SYNC_PORT: u16 = 8848;

type Flow = (Ipv4Addr, u16);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// An appliance's SYN to a real (client -> real:80).
    Syn,
    /// A real's SYN-ACK to a client (real:80 -> client).
    SynAck,
    /// A sync datagram's half-open record of the flow.
    Record,
}

#[derive(Clone, Copy, Debug)]
struct Ev {
    /// Which capture (`NODES` index: the appliance's switch port).
    at: usize,
    /// Seconds (the capture's clock).
    t: f64,
    kind: Kind,
    flow: Flow,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    ip_src: Ipv4Addr,
}

/// Captures running on both appliances' switch ports.
pub struct SyncTrace {
    dumps: Vec<(Child, PathBuf)>,
    key: Key,
}

/// What the captures tell, in milliseconds per connection that crossed both appliances.
#[derive(Debug, Default)]
pub struct Race {
    /// Connections whose SYN-ACK came back through the appliance that did not forward the SYN.
    pub crossed: usize,
    /// Of those, how many found the record there first (translated at once).
    pub record_first: usize,
    /// SYN forwarded -> the record's datagram leaving the forwarding appliance.
    pub send_ms: Vec<f64>,
    /// SYN forwarded -> the record's datagram reaching the other appliance.
    pub record_ms: Vec<f64>,
    /// SYN forwarded -> the SYN-ACK's first copy reaching the other appliance.
    pub synack_ms: Vec<f64>,
    /// Crossed connections for which no record was seen (lost, or none sent).
    pub no_record: usize,
}

impl SyncTrace {
    /// Starts the captures (TCP port 80 and UDP port 8848), written under `dir`.
    pub fn start(dir: &Path, key_file: &Path) -> SyncTrace {
        let key = Key::new(&std::fs::read(key_file).expect("read the sync key"));
        let mut dumps = Vec::new();
        for (port, _, _) in NODES {
            let file = dir.join(format!("{port}.pcap"));
            // `timeout` bounds it should the test die before stopping it.
            let child = Command::new("ip")
                .args([
                    "netns", "exec", "dpt-sw", "timeout", "600", "tcpdump", "-U", "-n", "-Z",
                    "root",
                ])
                .args(["-i", port, "-w"])
                .arg(&file)
                .arg(format!("tcp port 80 or udp port {SYNC_PORT}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start tcpdump");
            dumps.push((child, file));
        }
        // tcpdump creates its file once it captures; on a loaded machine that can take more than
        // the whole steady state (32 connections, well under a second without the race).
        let t0 = std::time::Instant::now();
        while !dumps.iter().all(|(_, f)| f.exists()) && t0.elapsed() < Duration::from_secs(15) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        SyncTrace { dumps, key }
    }

    /// Stops the captures and reads them.
    pub fn finish(self) -> Race {
        std::thread::sleep(Duration::from_millis(300));
        let mut evs = Vec::new();
        for (at, (mut child, file)) in self.dumps.into_iter().enumerate() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
            evs.extend(read(&file, &self.key, at));
        }
        evs.sort_by(|a, b| a.t.total_cmp(&b.t));
        race(&evs)
    }
}

/// The connections' events out of both captures: per flow, which appliance forwarded its SYN,
/// and the first time of each thing.
fn race(evs: &[Ev]) -> Race {
    // Flow -> (forwarding node, time of its SYN on that node's port).
    let mut syn: HashMap<Flow, (usize, f64)> = HashMap::new();
    for e in evs.iter().filter(|e| e.kind == Kind::Syn) {
        if NODES[e.at].1 == e.src_mac {
            syn.entry(e.flow).or_insert((e.at, e.t));
        }
    }
    let mut r = Race::default();
    let first = |kind: Kind, flow: Flow, pick: &dyn Fn(&Ev) -> bool| {
        evs.iter()
            .find(|e| e.kind == kind && e.flow == flow && pick(e))
            .map(|e| e.t)
    };
    for (&flow, &(n, t_syn)) in &syn {
        let other = 1 - n;
        let Some(t_sa) = first(Kind::SynAck, flow, &|e| {
            e.at == other && e.dst_mac == NODES[other].1
        }) else {
            continue;
        };
        r.crossed += 1;
        r.synack_ms.push((t_sa - t_syn) * 1e3);
        // The forwarding node's datagram leaving it (on its port) and reaching the other (the
        // same datagram on the other's port, flooded there by the bridge).
        let from_n = |e: &Ev| e.ip_src == NODES[n].2 && e.src_mac == NODES[n].1;
        let (Some(t_out), Some(t_in)) = (
            first(Kind::Record, flow, &|e| from_n(e) && e.at == n),
            first(Kind::Record, flow, &|e| from_n(e) && e.at == other),
        ) else {
            r.no_record += 1;
            continue;
        };
        r.send_ms.push((t_out - t_syn) * 1e3);
        r.record_ms.push((t_in - t_syn) * 1e3);
        if t_in <= t_sa {
            r.record_first += 1;
        }
    }
    r
}

/// The events of one capture file.
fn read(file: &Path, key: &Key, at: usize) -> Vec<Ev> {
    let Ok(f) = std::fs::File::open(file) else {
        return Vec::new();
    };
    let Ok(mut rd) = pcap_file::pcap::PcapReader::new(f) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while let Some(Ok(p)) = rd.next_packet() {
        parse(at, p.timestamp.as_secs_f64(), &p.data, key, &mut out);
    }
    out
}

/// One Ethernet frame: an appliance's SYN, a real's SYN-ACK, or a sync datagram's half-open
/// records.
fn parse(at: usize, t: f64, b: &[u8], key: &Key, out: &mut Vec<Ev>) {
    if b.len() < 34 || b[12..14] != [0x08, 0x00] {
        return;
    }
    let mac = |at: usize| -> [u8; 6] { b[at..at + 6].try_into().unwrap() };
    let ihl = usize::from(b[14] & 0x0f) * 4;
    let (src, dst) = (ip(&b[26..30]), ip(&b[30..34]));
    let l4 = 14 + ihl;
    let Some(h) = b.get(l4..) else { return };
    let ev = |kind, flow| Ev {
        at,
        t,
        kind,
        flow,
        src_mac: mac(6),
        dst_mac: mac(0),
        ip_src: src,
    };
    match b[23] {
        6 if h.len() >= 20 => {
            let (sport, dport) = (port(&h[0..2]), port(&h[2..4]));
            match (h[13] & 0x12, sport, dport) {
                (0x02, _, 80) => out.push(ev(Kind::Syn, (src, sport))),
                (0x12, 80, _) => out.push(ev(Kind::SynAck, (dst, dport))),
                _ => {}
            }
        }
        17 if h.len() >= 8 && port(&h[2..4]) == SYNC_PORT => {
            let Ok(d) = parse_datagram(&h[8..], key) else {
                return;
            };
            if d.header.kind != DatagramKind::Records {
                return;
            }
            for r in d.records() {
                if let (false, TcpState::SynRecv, IpAddr::V4(c)) = (r.template, r.state, r.client) {
                    out.push(ev(Kind::Record, (c, r.cport)));
                }
            }
        }
        _ => {}
    }
}

fn ip(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

fn port(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// "min / median / max" of `v` in ms, or "-".
pub fn spread(v: &[f64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    format!(
        "{:.2} / {:.2} / {:.2} ms",
        s[0],
        s[s.len() / 2],
        s[s.len() - 1]
    )
}
