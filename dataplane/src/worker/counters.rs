//! Per-worker counters. Each worker is the only writer of its own block and publishes its local
//! totals once per loop iteration with plain relaxed stores (no read-modify-write, so no locked
//! instructions); the management thread reads them for the summary and metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One worker's published counters, on their own cache lines so workers never false-share.
#[repr(align(128))]
#[derive(Default, Debug)]
pub struct WorkerCounters {
    rx: AtomicU64,
    tx: AtomicU64,
    tx_dropped: AtomicU64,
    busy_polls: AtomicU64,
    idle_polls: AtomicU64,
}

/// A plain snapshot of one worker's counters (also the worker's local accumulator).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerTotals {
    pub rx: u64,
    pub tx: u64,
    pub tx_dropped: u64,
    pub busy_polls: u64,
    pub idle_polls: u64,
}

impl WorkerCounters {
    /// Publishes the worker's running totals (called by the owning worker only).
    #[inline]
    pub fn publish(&self, t: &WorkerTotals) {
        self.rx.store(t.rx, Relaxed);
        self.tx.store(t.tx, Relaxed);
        self.tx_dropped.store(t.tx_dropped, Relaxed);
        self.busy_polls.store(t.busy_polls, Relaxed);
        self.idle_polls.store(t.idle_polls, Relaxed);
    }

    pub fn snapshot(&self) -> WorkerTotals {
        WorkerTotals {
            rx: self.rx.load(Relaxed),
            tx: self.tx.load(Relaxed),
            tx_dropped: self.tx_dropped.load(Relaxed),
            busy_polls: self.busy_polls.load(Relaxed),
            idle_polls: self.idle_polls.load(Relaxed),
        }
    }
}
