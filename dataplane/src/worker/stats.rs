//! What workers export for the control path besides their counters: per-real load and traffic
//! (published every 100 ms), and connection listings on request. Single writer per block;
//! the management thread only reads, and never waits on a worker (a listing that a busy worker
//! has not finished in time comes back partial).

use crate::lb::conn::ConnInfo;
use crate::lb::types::{RealId, RealLoad};
use crossbeam::queue::ArrayQueue;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Per-real figures of one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RealFigures {
    pub active: u64,
    pub inactive: u64,
    /// Connections scheduled to this real since start.
    pub conns: u64,
    pub pkts_in: u64,
    pub pkts_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Workers that mark this real overloaded (its upper_threshold reached; 0 or 1 per worker).
    pub overloaded: u64,
}

impl RealFigures {
    /// One worker's figures of a real: its table load, its traffic (`RealTraffic::get`) and
    /// whether the worker marks it overloaded.
    pub fn of(load: RealLoad, traffic: [u64; 5], overloaded: bool) -> RealFigures {
        RealFigures {
            active: u64::from(load.active),
            inactive: u64::from(load.inactive),
            conns: traffic[0],
            pkts_in: traffic[1],
            pkts_out: traffic[2],
            bytes_in: traffic[3],
            bytes_out: traffic[4],
            overloaded: u64::from(overloaded),
        }
    }

    pub fn add(&mut self, o: &RealFigures) {
        self.active += o.active;
        self.inactive += o.inactive;
        self.conns += o.conns;
        self.pkts_in += o.pkts_in;
        self.pkts_out += o.pkts_out;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.overloaded += o.overloaded;
    }
}

#[derive(Default)]
struct Cell([AtomicU64; 8]);

/// One worker's published per-real figures, indexed by RealId: the IPv4 services' reals, and
/// apart (their ids are a space of their own) the IPv6 VIPs' reals.
pub struct RealStats {
    cells: Box<[Cell]>,
    cells6: Box<[Cell]>,
}

impl RealStats {
    pub fn new(max_reals: usize) -> RealStats {
        RealStats {
            cells: (0..max_reals).map(|_| Cell::default()).collect(),
            cells6: (0..max_reals).map(|_| Cell::default()).collect(),
        }
    }

    /// The worker's connections (active and inactive) to the reals of `snap`, of both
    /// families: its tables' occupancy as far as the current config knows it (`ctl top`, the
    /// metrics).
    pub fn connections(&self, snap: &crate::lb::snapshot::Snapshot) -> u64 {
        let held = |f: RealFigures| f.active + f.inactive;
        let v4: u64 = snap
            .services
            .services()
            .iter()
            .flat_map(|s| s.reals.iter())
            .map(|r| held(self.get(r.id)))
            .sum();
        let v6: u64 = snap
            .v6
            .services
            .services()
            .iter()
            .flat_map(|s| s.reals.iter())
            .map(|r| held(self.get6(r.id)))
            .sum();
        v4 + v6
    }

    pub fn get(&self, id: RealId) -> RealFigures {
        figures(&self.cells, id)
    }

    /// The figures of real `id` of the IPv6 VIPs (`snap.v6.services`' ids).
    pub fn get6(&self, id: RealId) -> RealFigures {
        figures(&self.cells6, id)
    }

    /// The worker's connections (active and inactive) to real `id` as last published: what
    /// the other workers add to their own count for the thresholds (two loads, no write).
    #[inline]
    pub fn connections_of(&self, id: RealId) -> u64 {
        self.cells
            .get(id as usize)
            .map_or(0, |c| c.0[0].load(Relaxed) + c.0[1].load(Relaxed))
    }

    /// Publishes the worker's figures for ids below `bound` (owning worker only).
    pub fn publish(&self, bound: usize, f: impl Fn(usize) -> RealFigures) {
        store(&self.cells, bound, f);
    }

    /// Publishes the worker's figures of the IPv6 VIPs' reals for ids below `bound`.
    pub fn publish6(&self, bound: usize, f: impl Fn(usize) -> RealFigures) {
        store(&self.cells6, bound, f);
    }
}

fn figures(cells: &[Cell], id: RealId) -> RealFigures {
    let Some(c) = cells.get(id as usize) else {
        return RealFigures::default();
    };
    let v = |i: usize| c.0[i].load(Relaxed);
    RealFigures {
        active: v(0),
        inactive: v(1),
        conns: v(2),
        pkts_in: v(3),
        pkts_out: v(4),
        bytes_in: v(5),
        bytes_out: v(6),
        overloaded: v(7),
    }
}

fn store(cells: &[Cell], bound: usize, f: impl Fn(usize) -> RealFigures) {
    for (id, c) in cells.iter().enumerate().take(bound) {
        let r = f(id);
        for (a, v) in c.0.iter().zip([
            r.active,
            r.inactive,
            r.conns,
            r.pkts_in,
            r.pkts_out,
            r.bytes_in,
            r.bytes_out,
            r.overloaded,
        ]) {
            a.store(v, Relaxed);
        }
    }
}

/// A worker's local per-real traffic accumulators (preallocated; plain adds per packet).
pub struct RealTraffic {
    v: Vec<[u64; 5]>,
}

impl RealTraffic {
    pub fn new(max_reals: usize) -> RealTraffic {
        RealTraffic {
            v: vec![[0; 5]; max_reals],
        }
    }

    #[inline(always)]
    pub fn conn(&mut self, id: RealId) {
        if let Some(c) = self.v.get_mut(id as usize) {
            c[0] += 1;
        }
    }

    #[inline(always)]
    pub fn packet(&mut self, id: RealId, inbound: bool, bytes: usize) {
        if let Some(c) = self.v.get_mut(id as usize) {
            let i = if inbound { 1 } else { 2 };
            c[i] += 1;
            c[i + 2] += bytes as u64;
        }
    }

    pub fn get(&self, id: usize) -> [u64; 5] {
        self.v.get(id).copied().unwrap_or_default()
    }
}

/// One connection in a listing, of either family (`info.client` says which table it is from).
#[derive(Clone, Copy, Debug)]
pub struct ConnRecord {
    pub worker: u16,
    pub info: ConnInfo<IpAddr>,
}

impl ConnRecord {
    /// The record of a connection of either table. A NAT64 connection (an IPv6 entry whose
    /// real is an IPv4 address mapped into it, with its bound port in the template word)
    /// shows its real as the IPv4 address it is.
    pub fn new<A: Into<IpAddr>>(worker: u16, c: ConnInfo<A>) -> ConnRecord {
        let real_addr = match c.real_addr.into() {
            IpAddr::V6(a) if c.template.is_some() => {
                a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4)
            }
            a => a,
        };
        ConnRecord {
            worker,
            info: ConnInfo {
                proto: c.proto,
                client: c.client.into(),
                cport: c.cport,
                vip: c.vip.into(),
                vport: c.vport,
                real: c.real,
                real_addr,
                rport: c.rport,
                mode: c.mode,
                state: c.state,
                template: c.template,
                expires_ms: c.expires_ms,
            },
        }
    }
}

/// A connection listing in progress: the management thread bumps `requested`; the worker walks
/// its table a bounded number of slots per loop, pushing records, and sets `done` to the
/// request it finished.
pub struct ConnDump {
    pub requested: AtomicU64,
    pub done: AtomicU64,
    pub out: ArrayQueue<ConnRecord>,
    /// The worker's clock (ms) when it finished the listing: records' `expires_ms` are on it.
    pub now_ms: AtomicU64,
}

impl ConnDump {
    pub fn new(capacity: usize) -> ConnDump {
        ConnDump {
            requested: AtomicU64::new(0),
            done: AtomicU64::new(0),
            out: ArrayQueue::new(capacity),
            now_ms: AtomicU64::new(0),
        }
    }
}
