//! The generator's DPDK loop: one thread sends on the client-side port and receives on the
//! server-side port (pktgen's one-core mode), so sent and received counts and the latency stamps
//! share one clock and need no synchronisation.
//!
//! Phases: `establish` opens every flow with a SYN (waiting for each to come back), `measure`
//! sends for a fixed time (established-flow ACKs round-robin over the flows, SYNs of new flows, or
//! each new flow's SYN followed by its handshake-completing ACK) flat out or at a fixed rate, then drains what is still in flight.

use crate::check::{Checker, Verdict, Wrong};
use crate::frame::{self, Target};
use crate::sizes::SizeMix;
use dataplane::dpdk::mbuf::Mbuf;
use dataplane::dpdk::port::QueueRef;
use dataplane::dpdk::{lcore, Burst, Mempool};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// What the measurement phase sends.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// Established flows 0..flows, visited round-robin.
    pub flows: u32,
    pub sizes: SizeMix,
    /// Every packet a SYN of a flow never seen before (numbered from `flows` up).
    pub new_conns: bool,
    /// With `new_conns`: each new flow's SYN is followed by the client's ACK that completes
    /// the handshake (two packets a connection, the second moves it to ESTABLISHED).
    pub handshake: bool,
    /// Packets per second offered; 0 = flat out.
    pub rate_pps: f64,
    pub duration: Duration,
    pub burst: usize,
}

/// The generator's two queues and its pool.
pub struct Io<'a> {
    pub tx: QueueRef,
    pub rx: QueueRef,
    /// The client-side port's RX queue: only drained (gratuitous ARPs and the like).
    pub tx_side_rx: QueueRef,
    pub pool: &'a Mempool,
    pub target: Target,
    pub checker: &'a Checker,
}

/// Counts of one phase.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    /// Packets the client-side queue accepted.
    pub sent: u64,
    /// Packets built but refused by a full TX ring (not offered: back-pressure).
    pub tx_full: u64,
    /// Correct packets received during the timed window.
    pub good: u64,
    /// Correct packets received after it (in-flight at the end, drained).
    pub good_late: u64,
    /// Wire bytes (with FCS) of `good`.
    pub good_wire_bytes: u64,
    pub wrong: u64,
    pub wrong_by_reason: Vec<(String, u64)>,
    /// Sent and never seen again: dropped somewhere (appliance or rings).
    pub missing: u64,
    /// Frames that were not IPv4/TCP (ARP) on either port.
    pub other: u64,
    /// Mbuf allocation failures.
    pub no_mbuf: u64,
    pub seconds: f64,
}

/// The result of the establish phase.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Setup {
    pub flows: u32,
    pub syn_sent: u64,
    pub syn_back: u64,
    pub wrong: u64,
    pub seconds: f64,
}

struct Rx {
    wrong: [u64; Wrong::COUNT],
    good: u64,
    good_bytes: u64,
    other: u64,
}

impl Rx {
    fn new() -> Rx {
        Rx {
            wrong: [0; Wrong::COUNT],
            good: 0,
            good_bytes: 0,
            other: 0,
        }
    }
    fn wrong_total(&self) -> u64 {
        self.wrong.iter().sum()
    }
}

/// Receives one burst on `q` and checks every frame; returns how many frames arrived.
fn receive(
    q: QueueRef,
    b: &mut Burst,
    checker: &Checker,
    rx: &mut Rx,
    hist: &mut Histogram<u64>,
    ns_per_tick: f64,
) -> usize {
    let n = b.rx(q, 64);
    if n == 0 {
        return 0;
    }
    let now = lcore::tsc();
    for i in 0..b.len() {
        let f = b.data(i);
        match checker.check(f) {
            Verdict::Good { stamp, .. } => {
                rx.good += 1;
                rx.good_bytes += (f.len() + crate::sizes::FCS) as u64;
                let ns = frame::elapsed(now, stamp) as f64 * ns_per_tick;
                hist.saturating_record(ns as u64);
            }
            Verdict::Wrong(w) => rx.wrong[w as usize] += 1,
            Verdict::Other => rx.other += 1,
        }
    }
    b.clear();
    n
}

/// Fills `b` with `n` frames; `next` gives (flow, flags, frame length) for each. Returns how
/// many were built (fewer when the pool runs dry).
fn build(
    io: &Io<'_>,
    b: &mut Burst,
    n: usize,
    mut next: impl FnMut() -> (u32, u8, usize),
) -> usize {
    let stamp = lcore::tsc();
    let mut built = 0;
    while built < n {
        let Some(mut m) = Mbuf::alloc(io.pool) else {
            break;
        };
        let (flow, flags, len) = next();
        let Some(buf) = m.append(len as u16) else {
            break;
        };
        frame::write_tcp(buf, &io.target, flow, flags, stamp);
        if b.push(m).is_err() {
            break;
        }
        built += 1;
    }
    built
}

/// A latency histogram in nanoseconds, 1 ns .. 100 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // Fixed, valid bounds: creation cannot fail.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).unwrap_or_else(|_| Histogram::new(3).unwrap())
}

/// Opens flows 0..flows with one SYN each, flat out with back-pressure (a SYN the TX ring
/// refuses is sent again), and waits until every SYN came back or `patience` passed since the
/// last one did.
pub fn establish(io: &Io<'_>, flows: u32, patience: Duration) -> Setup {
    pass(io, 0, flows, frame::SYN, patience)
}

/// Opens flows `first..first + count` with a SYN each, as [`establish`], and leaves them: the
/// appliance keeps them half-open until their SYN_RECV timeout, when they all expire at once
/// (the "expiry" latency cells: a million connections ending in the timed phase).
pub fn open_idle(io: &Io<'_>, first: u32, count: u32, patience: Duration) -> Setup {
    pass(io, first, count, frame::SYN, patience)
}

/// Sends one ACK on each of flows 0..flows (after [`establish`]), with back-pressure, and
/// waits for them as `establish` does: every flow then holds an ESTABLISHED connection (a SYN
/// leaves it in SYN_RECV), so the timed phase meets established connections only, however
/// many flows it cycles through in its time (10 M flows take seconds for one round).
pub fn confirm(io: &Io<'_>, flows: u32, patience: Duration) -> Setup {
    pass(io, 0, flows, frame::ACK_PSH, patience)
}

/// One packet with `flags` per flow, in flow order; counts what came back correct.
fn pass(io: &Io<'_>, first: u32, flows: u32, flags: u8, patience: Duration) -> Setup {
    let hz = lcore::tsc_hz() as f64;
    let ns_per_tick = 1e9 / hz;
    let mut hist = histogram();
    let mut rx = Rx::new();
    let (mut txb, mut rxb) = (Burst::new(), Burst::new());
    let start = lcore::tsc();
    let mut cursor: u32 = 0;
    let mut sent = 0u64;
    let min_frame = io.target.min_frame();
    let mut last_progress = start;
    let patience = (patience.as_secs_f64() * hz) as u64;
    loop {
        if cursor < flows {
            let n = ((flows - cursor) as usize).min(32);
            let mut f = first + cursor;
            let built = build(io, &mut txb, n, || {
                f += 1;
                (f - 1, flags, min_frame)
            });
            let (s, d) = txb.tx(io.tx);
            debug_assert!(s + d == built);
            cursor += s as u32;
            sent += s as u64;
        }
        let before = rx.good;
        receive(io.rx, &mut rxb, io.checker, &mut rx, &mut hist, ns_per_tick);
        receive(
            io.tx_side_rx,
            &mut rxb,
            io.checker,
            &mut Rx::new(),
            &mut hist,
            ns_per_tick,
        );
        let now = lcore::tsc();
        if rx.good != before || cursor < flows {
            last_progress = now;
        }
        if cursor >= flows && (rx.good >= u64::from(flows) || now - last_progress > patience) {
            break;
        }
    }
    Setup {
        flows,
        syn_sent: sent,
        syn_back: rx.good,
        wrong: rx.wrong_total(),
        seconds: (lcore::tsc() - start) as f64 / hz,
    }
}

/// The timed phase; returns its counts and the latency histogram (ns).
pub fn measure(io: &Io<'_>, t: &Traffic) -> (Counts, Histogram<u64>) {
    let hz = lcore::tsc_hz() as f64;
    let ns_per_tick = 1e9 / hz;
    let mut hist = histogram();
    let mut rx = Rx::new();
    let mut ext_rx = Rx::new();
    let (mut txb, mut rxb) = (Burst::new(), Burst::new());
    let mut c = Counts::default();
    let burst = t.burst.clamp(1, 256);
    let flows = t.flows.max(1);
    let mut flow: u32 = 0;
    let mut new_flow: u32 = t.flows;
    let min_frame = io.target.min_frame();
    let mut pkt: u64 = 0;
    let mut offered: u64 = 0;
    let start = lcore::tsc();
    let end = start + (t.duration.as_secs_f64() * hz) as u64;
    let mut iter: u64 = 0;
    loop {
        let now = lcore::tsc();
        if now >= end {
            break;
        }
        let mut n = burst;
        if t.rate_pps > 0.0 {
            let due = ((now - start) as f64 / hz * t.rate_pps) as u64;
            n = (due.saturating_sub(offered) as usize).min(burst);
        }
        if n > 0 {
            let built = if t.new_conns && t.handshake {
                build(io, &mut txb, n, || {
                    // Even packets open flow `new_flow`, odd ones acknowledge it.
                    pkt += 1;
                    if pkt % 2 == 1 {
                        (new_flow, frame::SYN, min_frame)
                    } else {
                        new_flow = new_flow.wrapping_add(1);
                        (new_flow - 1, frame::ACK_PSH, min_frame)
                    }
                })
            } else if t.new_conns {
                build(io, &mut txb, n, || {
                    new_flow = new_flow.wrapping_add(1);
                    (new_flow - 1, frame::SYN, min_frame)
                })
            } else {
                build(io, &mut txb, n, || {
                    let f = flow;
                    flow = if flow + 1 >= flows { 0 } else { flow + 1 };
                    pkt += 1;
                    (f, frame::ACK_PSH, t.sizes.frame(pkt - 1))
                })
            };
            c.no_mbuf += (n - built) as u64;
            let (s, d) = txb.tx(io.tx);
            c.sent += s as u64;
            c.tx_full += d as u64;
            offered += n as u64;
        }
        receive(io.rx, &mut rxb, io.checker, &mut rx, &mut hist, ns_per_tick);
        iter += 1;
        if iter & 63 == 0 {
            receive(
                io.tx_side_rx,
                &mut rxb,
                io.checker,
                &mut ext_rx,
                &mut hist,
                ns_per_tick,
            );
        }
    }
    c.seconds = (lcore::tsc() - start) as f64 / hz;
    c.good = rx.good;
    c.good_wire_bytes = rx.good_bytes;
    // Drain what is in flight: until 20 ms pass without a packet (at most 500 ms).
    let drain_start = lcore::tsc();
    let mut last = drain_start;
    loop {
        let now = lcore::tsc();
        if now - last > (0.02 * hz) as u64 || now - drain_start > (0.5 * hz) as u64 {
            break;
        }
        if receive(io.rx, &mut rxb, io.checker, &mut rx, &mut hist, ns_per_tick) > 0 {
            last = now;
        }
        receive(
            io.tx_side_rx,
            &mut rxb,
            io.checker,
            &mut ext_rx,
            &mut hist,
            ns_per_tick,
        );
    }
    c.good_late = rx.good - c.good;
    c.wrong = rx.wrong_total();
    c.wrong_by_reason = Wrong::NAMES
        .iter()
        .zip(rx.wrong)
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| (s.to_string(), n))
        .collect();
    c.other = rx.other + ext_rx.other;
    c.missing = c.sent.saturating_sub(rx.good + c.wrong);
    (c, hist)
}
