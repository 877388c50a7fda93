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

/// The drain's decision on plain numbers: rounds of quiet.
#[derive(Default)]
struct Rounds {
    round: Option<Round>,
}

impl Rounds {
    /// Called with every input read; true once a round has passed with nothing moving.
    fn observe(&mut self, loops: Vec<u64>, activity: Activity, rings_empty: bool) -> bool {
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
        let still = activity == round.activity && rings_empty;
        if !still {
            self.round = Some(Round { loops, activity });
        }
        still
    }

    /// Workers that have not yet completed a loop begun in this round.
    fn behind<'a>(&'a self, loops: &'a [u64]) -> impl Iterator<Item = usize> + 'a {
        loops.iter().enumerate().filter_map(|(w, &n)| {
            let then = self.round.as_ref().map_or(0, |r| r.loops[w]);
            (n < then + 2).then_some(w)
        })
    }
}

/// Replay's drain check, made by the management thread after each of its ticks.
pub struct Drain<'a> {
    expected_rx: u64,
    ports: &'a [Port],
    counters: &'a [WorkerCounters],
    rings: &'a [WatchedRing],
    rounds: Rounds,
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
            rounds: Rounds::default(),
        }
    }

    fn read(&self) -> u64 {
        self.ports.iter().map(|p| p.stats().ipackets).sum()
    }

    /// True once drained (see the module comment). `mgmt` is the management thread's counters
    /// after its latest tick.
    pub fn check(&mut self, mgmt: MgmtCounters) -> bool {
        if self.read() < self.expected_rx {
            self.rounds = Rounds::default();
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
        let rings_empty = self.rings.iter().all(|r| r.ring.is_empty());
        self.rounds.observe(loops, activity, rings_empty)
    }

    /// What the drain is waiting for (for the error when replay takes too long).
    pub fn waiting_for(&self) -> String {
        let read = self.read();
        if read < self.expected_rx {
            return format!("{read} of {} packets read", self.expected_rx);
        }
        let mut why = Vec::new();
        let loops: Vec<u64> = self.counters.iter().map(|c| c.loops()).collect();
        for w in self.rounds.behind(&loops) {
            why.push(if loops[w] == 0 {
                format!("worker {w} has not completed a poll loop")
            } else {
                format!("worker {w} has not completed a loop in the last round")
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(workers: usize) -> Activity {
        Activity {
            workers: vec![vec![0; 3]; workers],
            mgmt: MgmtCounters::default(),
        }
    }

    #[test]
    fn drained_after_every_worker_completes_a_loop_begun_in_a_quiet_round() {
        let mut r = Rounds::default();
        assert!(
            !r.observe(vec![5, 9], quiet(2), true),
            "the first look starts a round"
        );
        assert!(
            !r.observe(vec![7, 10], quiet(2), true),
            "worker 1 may be in the loop it was in"
        );
        assert_eq!(r.behind(&[7, 10]).collect::<Vec<_>>(), vec![1]);
        assert!(r.observe(vec![7, 11], quiet(2), true));
    }

    #[test]
    fn a_worker_that_never_loops_holds_the_drain() {
        let mut r = Rounds::default();
        assert!(!r.observe(vec![3, 0], quiet(2), true));
        for n in 5..50 {
            assert!(!r.observe(vec![n, 0], quiet(2), true));
        }
        assert_eq!(r.behind(&[50, 0]).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn a_moved_counter_or_a_full_ring_starts_the_next_round() {
        let mut r = Rounds::default();
        assert!(!r.observe(vec![0, 0], quiet(2), true));
        let mut moved = quiet(2);
        moved.workers[1][0] = 146; // e.g. handoff_in
        assert!(!r.observe(vec![2, 2], moved, true), "a counter moved");
        let moved_again = || {
            let mut a = quiet(2);
            a.workers[1][0] = 146;
            a
        };
        // The next round counts from there: loops 2 and 2 are its start.
        assert!(!r.observe(vec![3, 4], moved_again(), true));
        assert!(
            !r.observe(vec![4, 4], moved_again(), false),
            "a ring holds packets"
        );
        assert!(
            !r.observe(vec![5, 5], moved_again(), true),
            "a new round from 4, 4"
        );
        assert!(r.observe(vec![6, 6], moved_again(), true));
        let mut mgmt = moved_again();
        mgmt.mgmt.arp_requests = 1;
        assert!(
            !r.observe(vec![9, 9], mgmt, true),
            "the management thread moved"
        );
    }
}
