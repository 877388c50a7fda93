//! The engine's own cost, without the harness of `scripts/perf`: the real engine
//! (`worker::engine::Engine`) and the real connection table, driven in process on one core over
//! bursts of pre-built frames in memory (no memif copies, no generator sharing the CPU), in TSC
//! cycles per packet. Beside each figure, in the same run, the cost of this harness alone (the
//! same loop refilling the frames and taking them back, with no engine), so "engine" reads as
//! cycles the engine adds above that floor. Run by `scripts/perf-engine`, which also measures
//! the DPDK I/O floor on `net_null` in the same sitting.
//!
//! `cargo bench -p dataplane --bench engine -- [--flows 1K,1M,10M] [--secs S] [--only nat,dr,tun,newconn,nat6] [--burst 32]`
//!
//! Cells: established NAT, DR and TUN flows (client -> VIP, TCP ACKs visiting the flows in a
//! scattered order so that a large table misses the cache as live traffic would), and new
//! connections (every packet a SYN of a flow the table has not seen: lookup miss, scheduling,
//! insert, NAT). Frames are 64 bytes on the wire (60 without the FCS), as in `scripts/perf`.
//! `nat6`: established NAT66 flows the same way, on an engine with its IPv6 path (its own
//! table), frames of the smallest IPv6 TCP packet (74 bytes, 78 on the wire).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::queue::ArrayQueue;
use dataplane::config;
use dataplane::dpdk::lcore::tsc;
use dataplane::lb::conn::{ConnConfig, ConnTable};
use dataplane::lb::persist::PersistTable;
use dataplane::lb::route::PortIdx;
use dataplane::wire::{checksum, Frame};
use dataplane::worker::counters::{Counter, WorkerTotals};
use dataplane::worker::engine::{sim, Engine, Output, V6State, WARM_MAX};
use dataplane::worker::stats::RealTraffic;

/// The appliance this bench runs: one worker, a NAT, a DR and a TUN service on their own VIPs,
/// every real's MAC static (no ARP in the measured path).
const CONFIG: &str = r#"eal: {lcores: "0-1", memory_mb: 256, hugepages: off}
workers: {cores: [1]}
mode: lb
ports:
  - {name: ext, device: net_null0, ip: 198.18.0.1/15, mac: "02:d0:00:00:00:01"}
  - {name: int, device: net_null1, ip: 203.0.113.1/24, mac: "02:d0:00:00:00:02"}
neighbors:
  - {ip: 203.0.113.11, mac: "02:00:00:00:02:11"}
  - {ip: 203.0.113.12, mac: "02:00:00:00:02:12"}
  - {ip: 198.18.0.254, mac: "02:00:00:00:01:fe"}
routes: [{prefix: 0.0.0.0/0, via: 198.18.0.254}]
conn: {max_per_core: 1024}
# The SYN-flood defence off: this bench opens flows as fast as it can, which `auto` would
# rightly take for a flood (benches/synproxy.rs measures the cookies).
services:
  - {name: nat, vip: 198.18.255.100, port: 80, scheduler: rr, forward: nat, syn_proxy: {mode: off},
     reals: [{ip: 203.0.113.11}, {ip: 203.0.113.12}]}
  - {name: dr, vip: 198.18.255.101, port: 80, scheduler: rr, forward: dr, syn_proxy: {mode: off},
     reals: [{ip: 203.0.113.11}, {ip: 203.0.113.12}]}
  - {name: tun, vip: 198.18.255.102, port: 80, scheduler: rr, forward: tun, syn_proxy: {mode: off},
     reals: [{ip: 203.0.113.11}, {ip: 203.0.113.12}]}
"#;

/// The IPv6 cells' appliance: the same ports with IPv6 addresses, a NAT66 service, every
/// neighbour static (no neighbour discovery in the measured path).
const CONFIG6: &str = r#"eal: {lcores: "0-1", memory_mb: 256, hugepages: off}
workers: {cores: [1]}
mode: lb
ports:
  - {name: ext, device: net_null0, ip: 198.18.0.1/15, ip6: "2001:db8::1/64", mac: "02:d0:00:00:00:01"}
  - {name: int, device: net_null1, ip: 203.0.113.1/24, ip6: "2001:db8:1::1/64", mac: "02:d0:00:00:00:02"}
neighbors:
  - {ip: "2001:db8:1::11", mac: "02:00:00:00:02:11"}
  - {ip: "2001:db8:1::12", mac: "02:00:00:00:02:12"}
  - {ip: "2001:db8::fe", mac: "02:00:00:00:01:fe"}
routes: [{prefix: "::/0", via: "2001:db8::fe"}]
conn: {max_per_core: 1024}
services:
  - {name: nat6, vip: "2001:db8::100", port: 80, scheduler: rr, forward: nat,
     reals: [{ip: "2001:db8:1::11"}, {ip: "2001:db8:1::12"}]}
"#;

/// Packets per burst: 32 unless `--burst N` (the cost of a small burst, where the warm-up has
/// few packets to overlap its cache misses with: what a half-loaded worker meets).
static BURST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(32);

fn burst_len() -> usize {
    BURST.load(std::sync::atomic::Ordering::Relaxed)
}
const ROOM: usize = 256;
const HEADROOM: usize = 128;
const FRAME_LEN: usize = 60;
/// The smallest IPv6 TCP frame: Ethernet, IPv6 and TCP headers, no payload.
const FRAME6_LEN: usize = 74;
const MAX_REALS: u32 = 64;

/// A packet in a fixed buffer with headroom, refilled in place between rounds (no allocation
/// in the measured loop).
struct BenchFrame {
    buf: Box<[u8; ROOM]>,
    start: usize,
    end: usize,
    meta: u32,
}

impl BenchFrame {
    fn new() -> BenchFrame {
        BenchFrame {
            buf: Box::new([0; ROOM]),
            start: HEADROOM,
            end: HEADROOM,
            meta: 0,
        }
    }

    #[inline]
    fn fill<const N: usize>(&mut self, bytes: &[u8; N]) {
        self.start = HEADROOM;
        self.end = HEADROOM + N;
        self.buf[HEADROOM..HEADROOM + N].copy_from_slice(bytes);
    }
}

impl Frame for BenchFrame {
    #[inline]
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }
    #[inline]
    fn prepend(&mut self, len: u16) -> bool {
        let len = usize::from(len);
        if len > self.start {
            return false;
        }
        self.start -= len;
        true
    }
    #[inline]
    fn adj(&mut self, len: u16) -> bool {
        let len = usize::from(len);
        if len > self.end - self.start {
            return false;
        }
        self.start += len;
        true
    }
    #[inline]
    fn trim(&mut self, len: u16) -> bool {
        let len = usize::from(len);
        if len > self.end - self.start {
            return false;
        }
        self.end -= len;
        true
    }
    #[inline]
    fn meta(&self) -> u32 {
        self.meta
    }
    #[inline]
    fn set_meta(&mut self, v: u32) {
        self.meta = v;
    }
}

/// Takes every packet back into the pool (the "TX" of this bench), counting where it went.
struct Sink {
    pool: Vec<BenchFrame>,
    other: u64,
}

impl Output<BenchFrame> for Sink {
    #[inline]
    fn transmit(&mut self, _port: PortIdx, f: BenchFrame, t: &mut WorkerTotals) {
        t.inc(Counter::Tx);
        self.pool.push(f);
    }
    fn handoff(&mut self, _w: usize, f: BenchFrame, _t: &mut WorkerTotals) {
        self.other += 1;
        self.pool.push(f);
    }
    fn kernel(&mut self, _port: PortIdx, f: BenchFrame, _t: &mut WorkerTotals) {
        self.other += 1;
        self.pool.push(f);
    }
}

/// Client -> VIP TCP frame of flow `i` (client address and port from `i`, spread over
/// 198.18.0.0/16 and 64 000 ports), with valid IP and TCP checksums.
fn client_frame(i: u64, vip: Ipv4Addr, flags: u8) -> [u8; FRAME_LEN] {
    let client = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) | (i as u32 & 0xFFFF));
    let cport = 1024 + ((i >> 16) % 64_000) as u16;
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&[0x02, 0xd0, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 1, 0xfe]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&client.octets());
    ip[16..20].copy_from_slice(&vip.octets());
    let c = checksum::checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let tcp = &mut f[34..54];
    tcp[0..2].copy_from_slice(&cport.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&(i as u32).to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&64_240u16.to_be_bytes());
    let c = checksum::l4_checksum_v4(client, vip, 6, &f[34..54]);
    f[50..52].copy_from_slice(&c.to_be_bytes());
    f
}

/// Client -> VIP TCP frame of IPv6 flow `i` (client 2001:db8:c::/112 by the low 16 bits of `i`,
/// the port from the rest, as for IPv4), with a valid TCP checksum.
fn client_frame6(i: u64, vip: Ipv6Addr, flags: u8) -> [u8; FRAME6_LEN] {
    let client = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, (i & 0xFFFF) as u16);
    let cport = 1024 + ((i >> 16) % 64_000) as u16;
    let mut f = [0u8; FRAME6_LEN];
    f[0..6].copy_from_slice(&[0x02, 0xd0, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 1, 0xfe]);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    let ip = &mut f[14..54];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&20u16.to_be_bytes());
    ip[6] = 6;
    ip[7] = 64;
    ip[8..24].copy_from_slice(&client.octets());
    ip[24..40].copy_from_slice(&vip.octets());
    let tcp = &mut f[54..74];
    tcp[0..2].copy_from_slice(&cport.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&(i as u32).to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&64_240u16.to_be_bytes());
    let c = checksum::l4_checksum_v6(&client, &vip, 6, &f[54..74]);
    f[70..72].copy_from_slice(&c.to_be_bytes());
    f
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

fn engine(capacity: u32) -> Engine<BenchFrame> {
    let snap = sim::snapshot_from_yaml(CONFIG, 1).expect("the bench config");
    let cfg = config::load_str(CONFIG).expect("the bench config");
    let mut conn = ConnConfig::new(capacity, MAX_REALS);
    conn.timeouts = dataplane::runtime::conn_timeouts(&cfg.conn.timeouts);
    conn.prefetch = true;
    let conns = ConnTable::new(&conn).expect("the connection table");
    Engine::new(
        0,
        1,
        Arc::new(snap),
        conns,
        PersistTable::with_capacity(1024),
        Arc::new(ArrayQueue::new(1024)),
        Arc::new(ArrayQueue::new(4)),
        RealTraffic::new(MAX_REALS as usize),
    )
}

/// An engine of [`CONFIG6`] with its IPv6 path, the IPv6 table holding `capacity`.
fn engine6(capacity: u32) -> Engine<BenchFrame> {
    let snap = sim::snapshot_from_yaml(CONFIG6, 1).expect("the IPv6 bench config");
    let cfg = config::load_str(CONFIG6).expect("the IPv6 bench config");
    let mut eng = Engine::new(
        0,
        1,
        Arc::new(snap),
        ConnTable::new(&ConnConfig::new(1024, MAX_REALS)).expect("the IPv4 table"),
        PersistTable::with_capacity(1024),
        Arc::new(ArrayQueue::new(1024)),
        Arc::new(ArrayQueue::new(4)),
        RealTraffic::new(MAX_REALS as usize),
    );
    let mut conn = ConnConfig::new(capacity, MAX_REALS);
    conn.timeouts = dataplane::runtime::conn_timeouts(&cfg.conn.timeouts);
    conn.prefetch = true;
    let conns = ConnTable::<Ipv6Addr>::allocate(&conn).expect("the IPv6 table");
    let snap = eng.snap.clone();
    eng.v6 = Some(Box::new(V6State::new(
        0,
        &snap,
        conns,
        Arc::new(ArrayQueue::new(1024)),
    )));
    eng
}

/// Runs the burst loop over `order` (flow indices) for at least `secs`, with the engine
/// (`eng`) or, when `None`, the harness alone. Returns (packets, cycles).
fn run<const N: usize>(
    eng: &mut Option<&mut Engine<BenchFrame>>,
    sink: &mut Sink,
    t: &mut WorkerTotals,
    frames: &[[u8; N]],
    order: &mut dyn FnMut() -> usize,
    packets: u64,
) -> (u64, u64) {
    let mut burst: Vec<BenchFrame> = Vec::with_capacity(burst_len());
    let mut done = 0u64;
    let start = tsc();
    while done < packets {
        for _ in 0..burst_len() {
            let mut f = sink.pool.pop().expect("pool holds a burst");
            f.fill(&frames[order()]);
            burst.push(f);
        }
        match eng {
            Some(e) => {
                e.warm(burst.iter().map(|f| f.data()));
                for (i, f) in burst.drain(..).enumerate() {
                    e.process_received(i, f, 0, sink, t);
                }
                e.housekeep(t);
            }
            None => {
                for f in burst.drain(..) {
                    sink.transmit(0, std::hint::black_box(f), t);
                }
            }
        }
        done += burst_len() as u64;
    }
    (done, tsc() - start)
}

/// A scattered visiting order over `n` flows: a full-period LCG walk (so every flow is visited
/// once per `n` packets, in no cache-friendly order).
fn scatter(n: usize) -> impl FnMut() -> usize {
    let mut x = 0usize;
    // n is a power of two here: c odd and a = 1 mod 4 give the full period.
    let mask = n - 1;
    move || {
        x = (x.wrapping_mul(1_103_515_245).wrapping_add(12_345)) & mask;
        x
    }
}

struct Cell {
    name: String,
    flows: usize,
    engine: f64,
    harness: f64,
    forwarded: u64,
    packets: u64,
    bytes_per_conn: f64,
}

fn established(mode: &str, vip: Ipv4Addr, flows: usize, packets: u64, counter: Counter) -> Cell {
    let capacity = (flows as u32).saturating_mul(2).max(1024);
    let eng = engine(capacity);
    let syns: Vec<[u8; FRAME_LEN]> = (0..flows as u64)
        .map(|i| client_frame(i, vip, SYN))
        .collect();
    let acks = |i| client_frame(i, vip, ACK);
    let (eng, mut cell) = measure(mode, eng, syns, acks, flows, packets, counter);
    cell.bytes_per_conn = eng.conns.memory_bytes() as f64 / eng.conns.capacity() as f64;
    cell
}

/// Established NAT66 flows: as [`established`], on the IPv6 path and its table.
fn established6(flows: usize, packets: u64) -> Cell {
    let capacity = (flows as u32).saturating_mul(2).max(1024);
    let eng = engine6(capacity);
    let vip = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
    let syns: Vec<[u8; FRAME6_LEN]> = (0..flows as u64)
        .map(|i| client_frame6(i, vip, SYN))
        .collect();
    let acks = |i| client_frame6(i, vip, ACK);
    let (eng, mut cell) = measure("nat6", eng, syns, acks, flows, packets, Counter::NatIn);
    let v6 = eng.v6.as_ref().expect("the IPv6 path");
    cell.bytes_per_conn = v6.conns.memory_bytes() as f64 / v6.conns.capacity() as f64;
    cell
}

/// Opens every flow with `syns` (not measured), then measures the flows' `ack`s visited in a
/// scattered order, and the harness alone over the same frames.
fn measure<const N: usize>(
    mode: &str,
    mut eng: Engine<BenchFrame>,
    syns: Vec<[u8; N]>,
    ack: impl Fn(u64) -> [u8; N],
    flows: usize,
    packets: u64,
    counter: Counter,
) -> (Engine<BenchFrame>, Cell) {
    let mut t = WorkerTotals::default();
    let mut sink = Sink {
        pool: (0..2 * WARM_MAX.max(burst_len()))
            .map(|_| BenchFrame::new())
            .collect(),
        other: 0,
    };
    let mut i = 0usize;
    let mut seq = || {
        let v = i % flows;
        i += 1;
        v
    };
    run(
        &mut Some(&mut eng),
        &mut sink,
        &mut t,
        &syns,
        &mut seq,
        flows.div_ceil(burst_len()) as u64 * burst_len() as u64,
    );
    drop(syns);
    let opened = t.get(Counter::ConnNew);
    assert_eq!(opened, flows as u64, "{mode}: every flow opened");
    let acks: Vec<[u8; N]> = (0..flows as u64).map(ack).collect();
    let mut t = WorkerTotals::default();
    // Warm up (every flow once), then measure.
    run(
        &mut Some(&mut eng),
        &mut sink,
        &mut t,
        &acks,
        &mut scatter(flows),
        flows as u64,
    );
    let mut t = WorkerTotals::default();
    let (n, cycles) = run(
        &mut Some(&mut eng),
        &mut sink,
        &mut t,
        &acks,
        &mut scatter(flows),
        packets,
    );
    let forwarded = t.get(counter);
    let mut th = WorkerTotals::default();
    let (nh, hcycles) = run(
        &mut None,
        &mut sink,
        &mut th,
        &acks,
        &mut scatter(flows),
        packets,
    );
    let cell = Cell {
        name: mode.into(),
        flows,
        engine: cycles as f64 / n as f64 - hcycles as f64 / nh as f64,
        harness: hcycles as f64 / nh as f64,
        forwarded,
        packets: n,
        bytes_per_conn: 0.0,
    };
    (eng, cell)
}

/// Every packet a SYN of a flow the table has not seen, `flows` of them (the table holds
/// them all: no eviction in the measured path).
fn new_connections(vip: Ipv4Addr, flows: usize) -> Cell {
    let mut eng = engine((flows as u32).saturating_mul(2));
    let mut sink = Sink {
        pool: (0..2 * burst_len()).map(|_| BenchFrame::new()).collect(),
        other: 0,
    };
    let syns: Vec<[u8; FRAME_LEN]> = (0..flows as u64)
        .map(|i| client_frame(i, vip, SYN))
        .collect();
    let mut t = WorkerTotals::default();
    let mut order = scatter(flows);
    let (n, cycles) = run(
        &mut Some(&mut eng),
        &mut sink,
        &mut t,
        &syns,
        &mut order,
        flows as u64,
    );
    let forwarded = t.get(Counter::ConnNew);
    let mut th = WorkerTotals::default();
    let (nh, hcycles) = run(
        &mut None,
        &mut sink,
        &mut th,
        &syns,
        &mut scatter(flows),
        flows as u64,
    );
    Cell {
        name: "newconn".into(),
        flows,
        engine: cycles as f64 / n as f64 - hcycles as f64 / nh as f64,
        harness: hcycles as f64 / nh as f64,
        forwarded,
        packets: n,
        bytes_per_conn: eng.conns.memory_bytes() as f64 / eng.conns.capacity() as f64,
    }
}

fn parse_count(s: &str) -> usize {
    let s = s.trim();
    let (num, mul) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1 << 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    let n: usize = num
        .parse()
        .unwrap_or_else(|_| panic!("--flows: {s:?} is not a count"));
    (n * mul).next_power_of_two()
}

fn main() {
    let mut flows = vec![1 << 10, 1 << 20];
    let mut only: Vec<String> = ["nat", "dr", "tun", "newconn", "nat6"]
        .map(String::from)
        .to_vec();
    let mut secs = 1.0f64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--flows" => {
                flows = args
                    .next()
                    .expect("--flows LIST")
                    .split(',')
                    .map(parse_count)
                    .collect()
            }
            "--only" => {
                only = args
                    .next()
                    .expect("--only LIST")
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            "--secs" => {
                secs = args
                    .next()
                    .expect("--secs S")
                    .parse()
                    .expect("--secs: seconds")
            }
            "--burst" => {
                let n: usize = args
                    .next()
                    .expect("--burst N")
                    .parse()
                    .expect("--burst: a packet count");
                assert!((1..=256).contains(&n), "--burst: 1 to 256");
                BURST.store(n, std::sync::atomic::Ordering::Relaxed);
            }
            // cargo bench passes --bench; criterion-style filters are not used here.
            _ => {}
        }
    }
    // Calibrate: how many packets make `secs` (TSC cycles per second measured here).
    let t0 = (Instant::now(), tsc());
    std::thread::sleep(Duration::from_millis(200));
    let hz = (tsc() - t0.1) as f64 / t0.0.elapsed().as_secs_f64();
    println!(
        "TSC {:.2} GHz; burst {}; frames {FRAME_LEN} B (+FCS)",
        hz / 1e9,
        burst_len()
    );
    println!();
    println!("| cell | flows | engine cycles/pkt | harness cycles/pkt | forwarded/packets | table B/conn |");
    println!("|---|---|---|---|---|---|");
    let vip = |last: u8| Ipv4Addr::new(198, 18, 255, last);
    for &n in &flows {
        // About `secs` of traffic at ~100 cycles per packet, at least every flow twice.
        let packets = ((hz * secs / 100.0) as u64).max(2 * n as u64);
        let packets = packets.div_ceil(burst_len() as u64) * burst_len() as u64;
        let mut cells = Vec::new();
        for name in &only {
            let cell = match name.as_str() {
                "nat" => established("nat", vip(100), n, packets, Counter::NatIn),
                "dr" => established("dr", vip(101), n, packets, Counter::DrIn),
                "tun" => established("tun", vip(102), n, packets, Counter::TunIn),
                "newconn" => new_connections(vip(100), n),
                "nat6" => established6(n, packets),
                other => panic!("--only: unknown cell {other:?}"),
            };
            cells.push(cell);
        }
        for c in cells {
            println!(
                "| {} | {} | {:.1} | {:.1} | {}/{} | {:.2} |",
                c.name, c.flows, c.engine, c.harness, c.forwarded, c.packets, c.bytes_per_conn
            );
        }
    }
}
