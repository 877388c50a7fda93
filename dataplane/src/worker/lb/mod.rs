//! The load-balancer worker: per burst it reads the current snapshot, receives from its RX
//! queues, its handoff rings and (worker 0) the management thread's ring, processes each packet
//! to completion (engine.rs), flushes its outputs (output.rs), and expires connections.

mod engine;
mod output;
mod pending;

pub use output::Outputs;

use crate::config::IdleBackoff;
use crate::dpdk::port::QueueRef;
use crate::dpdk::{Burst, Consumer};
use crate::lb::conn::{ConnConfig, ConnTable};
use crate::lb::neigh::NeighEvent;
use crate::lb::persist::PersistTable;
use crate::lb::snapshot::Snapshot;
use crate::worker::backoff::Backoff;
use crate::worker::clock::Clock;
use crate::worker::counters::{Counter, WorkerCounters, WorkerTotals};
use crate::worker::meta::{self, Kind};
use arc_swap::ArcSwap;
use crossbeam::queue::ArrayQueue;
use engine::Engine;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

/// Connections expired per loop at most: bounded work, never a stall.
const EXPIRE_BUDGET: usize = 64;

/// Everything one LB worker owns, handed to it at launch.
pub struct LbWorker {
    pub id: usize,
    pub n_workers: usize,
    pub burst: usize,
    pub backoff: IdleBackoff,
    pub replay: bool,
    /// RX queues this worker polls, with the port index each belongs to.
    pub rx: Vec<(QueueRef, u16)>,
    pub outputs: Outputs,
    pub handoff_in: Vec<Consumer>,
    /// Worker 0: frames from the management thread (kernel output, ARP, GARP) to transmit.
    pub from_mgmt: Option<Consumer>,
    pub conn: ConnConfig,
    pub templates: usize,
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub events: Arc<ArrayQueue<NeighEvent>>,
}

impl LbWorker {
    pub fn run(mut self, counters: &WorkerCounters, stop: &AtomicBool) -> i32 {
        let conns = match ConnTable::new(&self.conn) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(worker = self.id, "cannot build the connection table: {e}");
                return 1;
            }
        };
        let snap = self.snapshot.load_full();
        let mut eng = Engine {
            id: self.id,
            n_workers: self.n_workers,
            scheds: Vec::new(),
            snap: snap.clone(),
            conns,
            persist: PersistTable::with_capacity(self.templates),
            events: self.events.clone(),
            pending: pending::Pending::default(),
            now: 0,
        };
        eng.adopt(snap);
        let mut clock = if self.replay {
            Clock::capture()
        } else {
            Clock::live()
        };
        let mut t = WorkerTotals::default();
        let mut idle = Backoff::new(self.backoff);
        let mut b = Burst::new();
        while !stop.load(Relaxed) {
            {
                let cur = self.snapshot.load();
                if cur.generation != eng.snap.generation {
                    eng.adopt(Arc::clone(&cur));
                }
            }
            let mut moved = 0usize;
            for &(q, port) in &self.rx {
                let n = b.rx(q, self.burst);
                if n == 0 {
                    continue;
                }
                moved += n;
                t.add(Counter::Rx, n as u64);
                for m in b.drain() {
                    if self.replay {
                        clock.observe(m.rx_timestamp());
                    }
                    eng.now = clock.now_ms();
                    eng.process(m, Kind::Fresh, port, &mut self.outputs, &mut t);
                }
            }
            eng.now = clock.now_ms();
            for c in self.handoff_in.iter_mut() {
                let n = c.dequeue(&mut b, self.burst);
                if n == 0 {
                    continue;
                }
                moved += n;
                t.add(Counter::HandoffIn, n as u64);
                for m in b.drain() {
                    let (kind, port) = meta::decode(m.meta());
                    eng.process(m, kind, port, &mut self.outputs, &mut t);
                }
            }
            if let Some(c) = self.from_mgmt.as_mut() {
                let n = c.dequeue(&mut b, self.burst);
                if n > 0 {
                    moved += n;
                    t.add(Counter::FromKernel, n as u64);
                    for m in b.drain() {
                        let (_, port) = meta::decode(m.meta());
                        self.outputs.transmit(port, m, &mut t);
                    }
                }
            }
            if !eng.pending.is_empty() {
                eng.retry_pending(&mut self.outputs, &mut t);
            }
            self.outputs.flush(&mut t);
            let expired = eng.conns.expire(eng.now, EXPIRE_BUDGET);
            t.add(Counter::ConnExpired, expired as u64);
            let persist = &mut eng.persist;
            let now = eng.now;
            eng.conns.drain_ended(|e| {
                if let Some(tr) = e.template {
                    persist.release(crate::lb::persist::TemplateRef::from_raw(tr), e.real, now);
                }
            });
            if moved > 0 {
                t.inc(Counter::BusyPolls);
                idle.busy();
            } else {
                t.inc(Counter::IdlePolls);
                idle.idle();
            }
            counters.publish(&t);
        }
        0
    }
}
