//! SYN-flood defence throughput on one worker (the engine in process, no EAL): how many SYNs
//! per second it answers with SYN cookies, against the baseline of opening a connection for
//! each (schedule, insert, NAT to the real); and how fast an established flow's packets go
//! while the worker answers a flood (one data packet per flood SYN).
//!
//! Run: `cargo bench -p dataplane --bench synproxy` (prints the figures; no criterion: each
//! case is a fixed batch of distinct packets, so the baseline's table never fills).

use std::net::Ipv4Addr;
use std::time::Instant;

use dataplane::lb::route::PortIdx;
use dataplane::wire::checksum;
use dataplane::wire::VecFrame;
use dataplane::worker::counters::{Counter, WorkerTotals};
use dataplane::worker::engine::{sim::Sim, Output};
use dataplane::worker::meta::Kind;

/// Packets per measured batch.
const N: usize = 200_000;
/// Batches per case (the best one is reported: the machine is shared).
const ROUNDS: usize = 5;

const CONFIG: &str = r#"eal: {lcores: "0-1", memory_mb: 256, hugepages: off}
workers: {cores: [1]}
mode: lb
ports:
  - {name: ext, device: net_null0, ip: 198.18.0.1/24, mac: "02:d0:00:00:00:01"}
  - {name: int, device: net_null1, ip: 198.19.0.1/24, mac: "02:d0:00:00:00:02"}
routes: [{prefix: 0.0.0.0/0, via: 198.18.0.254}]
neighbors:
  - {ip: 198.18.0.254, mac: "02:00:00:00:01:fe"}
  - {ip: 198.19.0.11, mac: "02:00:00:00:02:11"}
  - {ip: 198.19.0.12, mac: "02:00:00:00:02:12"}
conn: {max_per_core: 1048576}
services:
  - {name: plain, vip: 198.18.0.100, port: 80, scheduler: wlc, forward: nat,
     syn_proxy: {mode: off}, reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]}
  - {name: guarded, vip: 198.18.0.100, port: 443, scheduler: wlc, forward: nat,
     syn_proxy: {mode: always}, reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]}
"#;

/// Frames go nowhere (counted), as a TX burst would take them.
struct Sink;
impl Output<VecFrame> for Sink {
    fn transmit(&mut self, _: PortIdx, _: VecFrame, t: &mut WorkerTotals) {
        t.inc(Counter::Tx);
    }
    fn handoff(&mut self, _: usize, _: VecFrame, t: &mut WorkerTotals) {
        t.inc(Counter::HandoffOut);
    }
    fn kernel(&mut self, _: PortIdx, _: VecFrame, t: &mut WorkerTotals) {
        t.inc(Counter::ToKernel);
    }
}

/// A TCP frame from `src:sport` to the VIP's `dport` (Linux-like SYN options on a SYN).
fn frame(src: Ipv4Addr, sport: u16, dport: u16, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
    let vip = Ipv4Addr::new(198, 18, 0, 100);
    let opts: &[u8] = if flags == 0x02 {
        &[
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 1, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7,
        ]
    } else {
        &[]
    };
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&ack.to_be_bytes());
    tcp[12] = (((20 + opts.len()) / 4) as u8) << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    tcp.extend_from_slice(opts);
    if flags & 0x08 != 0 {
        tcp.extend_from_slice(&[b'x'; 64]);
    }
    let c = checksum::l4_checksum_v4(src, vip, 6, &tcp);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    let mut f = vec![2, 0xd0, 0, 0, 0, 1, 2, 0, 0, 0, 1, 0xfe, 8, 0];
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&vip.octets());
    let c = checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp);
    f
}

/// Flood SYN `i` (round `r`): a distinct source in 198.18.0.0/15 behind the router.
fn flood_src(r: usize, i: usize) -> (Ipv4Addr, u16) {
    let k = (r * N + i) as u32;
    let addr = u32::from(Ipv4Addr::new(198, 18, 128, 0)) | (k & 0x7fff);
    (Ipv4Addr::from(addr), 1024 + (k >> 15) as u16)
}

/// Processes `frames` on worker 0 and returns packets per second.
fn run(sim: &mut Sim, frames: Vec<VecFrame>) -> f64 {
    let port = sim.port("ext");
    let w = &mut sim.workers[0];
    w.engine.now = 10_000;
    let n = frames.len();
    let start = Instant::now();
    for f in frames {
        w.engine
            .process(f, Kind::Fresh, port, &mut Sink, &mut w.totals);
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn best(mut f: impl FnMut(usize) -> f64) -> f64 {
    (0..ROUNDS).map(&mut f).fold(0.0, f64::max)
}

fn main() {
    let mut sim = Sim::new(CONFIG, 1, false).expect("config");
    // Baseline: every SYN opens a connection (port 80, proxy off).
    let baseline = best(|r| {
        let frames = (0..N)
            .map(|i| {
                let (src, sport) = flood_src(r, i);
                VecFrame::new(&frame(src, sport, 80, 7, 0, 0x02))
            })
            .collect();
        run(&mut sim, frames)
    });
    let opened = sim.counter("conn_new");
    assert_eq!(
        opened,
        (ROUNDS * N) as u64,
        "every baseline SYN opened a connection"
    );
    // Cookies: every SYN answered with a SYN-ACK (port 443, proxy always).
    let cookies = best(|r| {
        let frames = (0..N)
            .map(|i| {
                let (src, sport) = flood_src(r + ROUNDS, i);
                VecFrame::new(&frame(src, sport, 443, 7, 0, 0x02))
            })
            .collect();
        run(&mut sim, frames)
    });
    assert_eq!(sim.counter("syn_cookies_sent"), (ROUNDS * N) as u64);
    // An established connection (opened on port 80) carrying data, one packet per flood SYN.
    let client = Ipv4Addr::new(192, 0, 2, 7);
    run(
        &mut sim,
        vec![VecFrame::new(&frame(client, 4242, 80, 100, 0, 0x02))],
    );
    let before = sim.counter("nat_in");
    let mixed = best(|r| {
        let frames = (0..N)
            .map(|i| {
                if i % 2 == 0 {
                    let (src, sport) = flood_src(r + 2 * ROUNDS, i);
                    VecFrame::new(&frame(src, sport, 443, 7, 0, 0x02))
                } else {
                    VecFrame::new(&frame(client, 4242, 80, 101, 1, 0x18))
                }
            })
            .collect();
        run(&mut sim, frames)
    });
    assert_eq!(sim.counter("nat_in") - before, (ROUNDS * N / 2) as u64);
    println!("one worker, in process (no NIC), best of {ROUNDS} x {N} packets:");
    println!("  baseline, a connection per SYN: {:>10.0} SYN/s", baseline);
    println!("  SYN cookies (SYN-ACK per SYN):  {:>10.0} SYN/s", cookies);
    println!(
        "  ratio cookies / baseline:       {:>10.2}",
        cookies / baseline
    );
    println!(
        "  1:1 flood + established data:   {:>10.0} packets/s ({:.0} established data packets/s)",
        mixed,
        mixed / 2.0
    );
}
