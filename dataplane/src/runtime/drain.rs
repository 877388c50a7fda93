//! When a replay is drained, and what is left over when the appliance stops.
//!
//! Drained means: every input packet has been read, and after that a *round* passed in which
//! nothing moved. A round starts when the management thread notes each worker's loop count and
//! every counter (the workers' and its own); it ends once every worker has completed a poll loop
//! that started after that (its count went up by two: the loop running at the start may have
//! begun before it). A loop ends with its outputs flushed — TX bursts sent, handoff and kernel
//! bursts enqueued — and its counters published, so a packet a worker had taken from a ring
//! into its local burst shows up either in a counter or in a ring. If at the end of the round
//! no counter changed and every ring (handoff, to the kernel, from the management thread) is
//! empty, no packet is anywhere but in the outputs; otherwise the next round starts from there.
//! A worker that has not started yet has completed no loop, so the drain waits for it.

use crate::dpdk::{Consumer, Port, RingWatch};
use crate::mgmt::MgmtCounters;
use crate::worker::{Counter, WorkerCounters, WorkerTotals};

/// A ring the management thread watches, and the worker its leftovers are charged to at stop.
pub struct WatchedRing {
    name: String,
    ring: RingWatch,
    charged_to: usize,
}

impl WatchedRing {
    pub fn new(name: &str, consumer: &Consumer, charged_to: usize) -> WatchedRing {
        WatchedRing {
            name: name.to_string(),
            ring: consumer.watch(),
            charged_to,
        }
    }
}

/// Everything that changes when a packet moves: each worker's counters (without its poll
/// counts) and the management thread's.
#[derive(PartialEq)]
struct Activity {
    workers: Vec<Vec<u64>>,
    mgmt: MgmtCounters,
}

struct Round {
    loops: Vec<u64>,
    activity: Activity,
}

/// Replay's drain check, made by the management thread after each of its ticks.
pub struct Drain<'a> {
    expected_rx: u64,
    ports: &'a [Port],
    counters: &'a [WorkerCounters],
    rings: &'a [WatchedRing],
    round: Option<Round>,
}

impl<'a> Drain<'a> {
    pub fn new(
        expected_rx: u64,
        ports: &'a [Port],
        counters: &'a [WorkerCounters],
        rings: &'a [WatchedRing],
    ) -> Drain<'a> {
        Drain {
            expected_rx,
            ports,
            counters,
            rings,
            round: None,
        }
    }

    fn read(&self) -> u64 {
        self.ports.iter().map(|p| p.stats().ipackets).sum()
    }

    /// True once drained (see the module comment). `mgmt` is the management thread's counters
    /// after its latest tick.
    pub fn check(&mut self, mgmt: MgmtCounters) -> bool {
        if self.read() < self.expected_rx {
            self.round = None;
            return false;
        }
        // Loop counts first (Acquire): what those loops did is then visible in what follows.
        let loops: Vec<u64> = self.counters.iter().map(|c| c.loops()).collect();
        let activity = Activity {
            workers: self
                .counters
                .iter()
                .map(|c| c.snapshot().traffic())
                .collect(),
            mgmt,
        };
        let Some(round) = &self.round else {
            self.round = Some(Round { loops, activity });
            return false;
        };
        if loops
            .iter()
            .zip(&round.loops)
            .any(|(&now, &then)| now < then + 2)
        {
            return false;
        }
        let still = activity == round.activity && self.rings.iter().all(|r| r.ring.is_empty());
        if !still {
            self.round = Some(Round { loops, activity });
        }
        still
    }

    /// What the drain is waiting for (for the error when replay takes too long).
    pub fn waiting_for(&self) -> String {
        let read = self.read();
        if read < self.expected_rx {
            return format!("{read} of {} packets read", self.expected_rx);
        }
        let mut why = Vec::new();
        for (w, c) in self.counters.iter().enumerate() {
            match (c.loops(), &self.round) {
                (0, _) => why.push(format!("worker {w} has not completed a poll loop")),
                (n, Some(r)) if n < r.loops[w] + 2 => why.push(format!(
                    "worker {w} has not completed a loop in the last round"
                )),
                _ => {}
            }
        }
        for r in self.rings.iter().filter(|r| !r.ring.is_empty()) {
            why.push(format!("ring {} holds {} packets", r.name, r.ring.len()));
        }
        if why.is_empty() {
            why.push("packets are still moving".into());
        }
        format!("all {read} packets read, but {}", why.join("; "))
    }
}

/// Frees what is left in the rings once every worker and the management thread have let go of
/// them, and charges each packet to its worker's `drop_at_stop` in the final totals.
pub fn free_at_stop(rings: Vec<WatchedRing>, workers: &mut [(u32, WorkerTotals)]) {
    for r in rings {
        match r.ring.free_remaining() {
            Ok(0) => {}
            Ok(n) => {
                if let Some((_, t)) = workers.get_mut(r.charged_to) {
                    t.add(Counter::DropAtStop, n as u64);
                }
                tracing::info!(ring = %r.name, packets = n, "packets left at stop, freed");
            }
            // An end is still held (not expected after teardown): its last owner frees the
            // packets when it drops them, uncounted.
            Err(_) => tracing::warn!(ring = %r.name, "ring still in use at stop; not counted"),
        }
    }
}
