//! The load-balancer worker: per burst it reads the current snapshot, receives from its RX
//! queues, its handoff rings and (worker 0) the management thread's ring, processes each packet
//! to completion (the DPDK-free engine, `worker/engine/`), flushes its outputs (output.rs: the
//! engine's `Output` over TX bursts and rte_rings), and expires connections.

mod output;

pub use output::Outputs;

use crate::config::IdleBackoff;
use crate::dpdk::port::QueueRef;
use crate::dpdk::{Burst, Consumer};
use crate::lb::conn::{ConnConfig, ConnTable};
use crate::lb::neigh::NeighEvent;
use crate::lb::persist::PersistTable;
use crate::lb::published::Published;
use crate::wire::Frame;
use crate::worker::backoff::Backoff;
use crate::worker::clock::Clock;
use crate::worker::counters::{Counter, WorkerCounters, WorkerTotals};
use crate::worker::engine::{Engine, Retired};
use crate::worker::gate::StartGate;
use crate::worker::loop_trace::{LoopTrace, Step};
use crate::worker::meta;
use crate::worker::stats::{ConnDump, ConnRecord, RealFigures, RealStats, RealTraffic};
use crossbeam::queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

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
    pub snapshot: Arc<Published>,
    pub events: Arc<ArrayQueue<NeighEvent>>,
    /// The IPv6 connection table's parameters (`conn.max_per_core_v6`) and the IPv6 neighbour
    /// events queue; the table is built only when a port has an IPv6 address.
    pub conn6: ConnConfig,
    pub events6: Arc<ArrayQueue<NeighEvent<std::net::Ipv6Addr>>>,
    /// Snapshots and scheduler sets this worker is done with, freed by the management thread.
    pub retire: Arc<ArrayQueue<Retired>>,
    /// Per-real figures published for the control path, and connection listings on request.
    pub real_stats: Arc<RealStats>,
    /// The other workers' published figures (their connections count toward thresholds).
    pub peer_stats: Vec<Arc<RealStats>>,
    pub dump: Arc<ConnDump>,
    /// Connection sync's queues (empty when sync is off).
    pub sync: crate::worker::engine::sync::SyncIo,
}

use crate::tunables::{DUMP_SLOTS_PER_LOOP, EXPIRE_BUDGET, PUBLISH_MS, SYNC_WORKER_BUDGET};

impl LbWorker {
    /// The engine's IPv6 path, when a port has an IPv6 address: its own connection table
    /// (allocated here, on the worker's core, like the IPv4 one) and scheduler set.
    fn start_v6<F: Frame>(
        &mut self,
        eng: &mut Engine<F>,
    ) -> Result<(), crate::lb::conn::ConnConfigError> {
        if !eng.snap.v6.enabled() {
            return Ok(());
        }
        self.conn6.advise = Some(crate::dpdk::mem::advise_hugepages);
        self.conn6.prefetch = true;
        let conns = ConnTable::<std::net::Ipv6Addr>::allocate(&self.conn6)?;
        let bytes = conns.memory_bytes();
        tracing::info!(
            worker = self.id,
            capacity = conns.capacity(),
            mib = bytes >> 20,
            bytes_per_conn = format!("{:.1}", bytes as f64 / conns.capacity() as f64),
            "IPv6 connection table"
        );
        let snap = eng.snap.clone();
        eng.v6 = Some(Box::new(crate::worker::engine::V6State::new(
            self.id,
            &snap,
            conns,
            self.events6.clone(),
        )));
        Ok(())
    }

    pub fn run(mut self, counters: &WorkerCounters, stop: &AtomicBool, gate: &StartGate) -> i32 {
        // Allocated here, on the worker's own core (its NUMA node), in huge pages when the
        // kernel gives them.
        self.conn.advise = Some(crate::dpdk::mem::advise_hugepages);
        self.conn.prefetch = true;
        let conns = match ConnTable::new(&self.conn) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(worker = self.id, "cannot build the connection table: {e}");
                return 1;
            }
        };
        let mut eng: Engine<crate::dpdk::mbuf::Mbuf> = Engine::new(
            self.id,
            self.n_workers,
            self.snapshot.load_full(),
            conns,
            PersistTable::with_capacity(self.templates),
            self.events.clone(),
            self.retire.clone(),
            RealTraffic::new(self.conn.max_reals as usize),
        );
        if let Err(e) = self.start_v6(&mut eng) {
            tracing::error!(
                worker = self.id,
                "cannot build the IPv6 connection table: {e}"
            );
            return 1;
        }
        eng.set_admission_peers(std::mem::take(&mut self.peer_stats));
        eng.sync = std::mem::take(&mut self.sync);
        let mut published_at = 0u64;
        let mut dump_cursor = 0u64;
        let mut clock = if self.replay {
            Clock::capture()
        } else {
            Clock::live()
        };
        let mut t = WorkerTotals::default();
        let mut idle = Backoff::new(self.backoff);
        let mut b = Burst::new();
        // Set up: the ports start once every worker is here.
        if !gate.arrive_and_wait(stop) {
            return 0;
        }
        let mut loops = 0u64;
        let mut lt = LoopTrace::new();
        while !stop.load(Relaxed) {
            lt.start();
            eng.follow(&self.snapshot);
            lt.mark(Step::Follow);
            let mut moved = 0usize;
            for &(q, port) in &self.rx {
                let n = b.rx(q, self.burst);
                if n == 0 {
                    continue;
                }
                moved += n;
                t.add(Counter::Rx, n as u64);
                eng.warm((0..b.len()).map(|i| b.data(i)));
                // Live, the clock is read once per burst (a TSC read and a division); in
                // replay, time is each packet's capture timestamp.
                eng.now = clock.now_ms();
                for (i, m) in b.drain().enumerate() {
                    if self.replay {
                        clock.observe(m.rx_timestamp());
                        eng.now = clock.now_ms();
                    }
                    eng.process_received(i, m, port, &mut self.outputs, &mut t);
                }
                // Out before the next queue's burst is processed: a packet waits for its own
                // burst only, not for every queue's (a full burst at 1 M flows is ~10 us).
                self.outputs.flush(&mut t);
            }
            lt.mark(Step::Rx);
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
                        eng.from_kernel(m, port, &mut self.outputs, &mut t);
                    }
                }
            }
            lt.mark(Step::Rings);
            if eng.parked() > 0 {
                eng.retry_pending(&mut self.outputs, &mut t);
            }
            lt.mark(Step::Pending);
            self.outputs.flush(&mut t);
            lt.mark(Step::Flush);
            let expired_before = t.get(Counter::ConnExpired);
            eng.housekeep(&mut t);
            // Expiry that used its whole budget has more to do: not a loop to back off in.
            let expiring = t.get(Counter::ConnExpired) - expired_before >= EXPIRE_BUDGET as u64;
            lt.mark(Step::Housekeep);
            let synced = eng.sync_housekeep(SYNC_WORKER_BUDGET, &mut t);
            lt.mark(Step::Sync);
            if eng.now >= published_at + PUBLISH_MS || self.replay {
                published_at = eng.now;
                eng.refresh_overload(&mut t);
                self.publish_real_stats(&eng);
                self.publish_real_stats6(&eng);
            }
            lt.mark(Step::Publish);
            let wanted = self.dump.requested.load(Relaxed);
            if wanted != self.dump.done.load(Relaxed) {
                dump_cursor = self.dump_some(&eng, dump_cursor, wanted);
            }
            if moved > 0 || synced || expiring {
                t.inc(Counter::BusyPolls);
                idle.busy();
            } else {
                t.inc(Counter::IdlePolls);
                idle.idle();
            }
            counters.publish(&t);
            loops += 1;
            counters.loop_done(loops);
            lt.mark(Step::Tail);
        }
        lt.report(self.id);
        // Stopping: every loop ends flushed, so only packets parked for ARP are still ours.
        // What waits in rings is counted by the stopping thread once every worker is gone.
        eng.stop(&mut t);
        counters.publish(&t);
        0
    }

    fn publish_real_stats<F>(&self, eng: &Engine<F>) {
        let loads = eng.conns.loads();
        let bound = eng.snap.services.real_id_bound().min(loads.len());
        self.real_stats.publish(bound, |id| {
            let overloaded = eng.admission().is_overloaded(id as u32);
            RealFigures::of(loads[id], eng.traffic.get(id), overloaded)
        });
    }

    /// The IPv6 VIPs' per-real figures (`RealStats::publish6`), from the IPv6 table's loads
    /// and the IPv6 path's traffic; nothing without the IPv6 path.
    fn publish_real_stats6<F>(&self, eng: &Engine<F>) {
        let Some(v6) = eng.v6.as_ref() else {
            return;
        };
        let loads = v6.conns.loads();
        let bound = eng.snap.v6.services.real_id_bound().min(loads.len());
        // IPv6 services have no admission thresholds: never overloaded.
        self.real_stats.publish6(bound, |id| {
            RealFigures::of(loads[id], v6.traffic.get(id), false)
        });
    }

    /// Walks part of the tables for a listing (the IPv4 table's slots, then the IPv6 table's
    /// after them); returns where to continue.
    fn dump_some<F>(&self, eng: &Engine<F>, mut cursor: u64, wanted: u64) -> u64 {
        let cap4 = eng.conns.capacity() as u64;
        let cap6 = eng.v6.as_ref().map_or(0, |v6| v6.conns.capacity() as u64);
        let end = (cursor + u64::from(DUMP_SLOTS_PER_LOOP)).min(cap4 + cap6);
        let w = self.id as u16;
        while cursor < end {
            let rec = if cursor < cap4 {
                eng.conns
                    .get_slot(cursor as u32)
                    .map(|c| ConnRecord::new(w, c))
            } else {
                eng.v6
                    .as_ref()
                    .and_then(|v6| v6.conns.get_slot((cursor - cap4) as u32))
                    .map(|c| ConnRecord::new(w, c))
            };
            if let Some(rec) = rec {
                if self.dump.out.push(rec).is_err() {
                    // The reader is behind: continue from this slot next loop.
                    return cursor;
                }
            }
            cursor += 1;
        }
        if cursor >= cap4 + cap6 {
            self.dump.now_ms.store(eng.now, Relaxed);
            self.dump.done.store(wanted, Relaxed);
            return 0;
        }
        cursor
    }
}
