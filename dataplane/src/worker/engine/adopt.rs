//! Following the published snapshot without allocating or freeing on the worker: the
//! management thread built this worker's scheduler set into the snapshot; the worker takes it
//! (a pointer move) and hands the old snapshot and set back over a bounded queue, for the
//! management thread to free. A full queue keeps them here and delays the next adoption.

use super::Engine;
use crate::lb::published::Published;
use crate::lb::sched::Scheduler;
use crate::lb::snapshot::Snapshot;
use crate::wire::Frame;
use std::sync::Arc;

/// What a worker hands back to the management thread to free: a snapshot it stopped
/// following (or could not follow yet) and the scheduler set it replaced.
pub struct Retired {
    pub snap: Arc<Snapshot>,
    pub scheds: Option<Vec<Scheduler>>,
    /// The IPv6 scheduler set it replaced (`v6/mod.rs`).
    pub scheds6: Option<Vec<Scheduler>>,
}

impl<F: Frame> Engine<F> {
    /// Once per loop: follows the latest published snapshot when it changed (one atomic load
    /// when it did not). Never allocates or frees: see [`Engine::adopt`].
    #[inline]
    pub fn follow(&mut self, published: &Published) {
        if published.generation() == self.snap.generation || !self.retire_backlog() {
            return;
        }
        self.adopt(published.load_full());
    }

    /// Pushes what the retire queue had no room for; true when nothing is left waiting.
    pub(super) fn retire_backlog(&mut self) -> bool {
        match self.backlog.take() {
            None => true,
            Some(r) => match self.retire.push(r) {
                Ok(()) => true,
                Err(r) => {
                    self.backlog = Some(r);
                    false
                }
            },
        }
    }

    /// Hands `r` to the management thread, or keeps it for the next loop.
    fn retire(&mut self, r: Retired) {
        if let Err(r) = self.retire.push(r) {
            self.backlog = Some(r);
        }
    }

    /// Takes a new snapshot. A new services generation brings a new scheduler set, built for
    /// this worker with the snapshot (state such as the rr position starts over; connections
    /// and templates are untouched since real ids are stable); if the set is not there (taken
    /// with an older snapshot that this worker skipped), the worker stays where it is and
    /// tries the next snapshot. The old snapshot and scheduler set go back to the management
    /// thread to be freed. Called with an empty backlog ([`Engine::follow`] checks).
    fn adopt(&mut self, snap: Arc<Snapshot>) {
        // The IPv6 set first: taken, it can still go back into its slot if the IPv4 one is gone.
        let Ok(set6) = self.take_schedulers6(&snap) else {
            return self.retire(Retired {
                snap,
                scheds: None,
                scheds6: None,
            });
        };
        let mut replaced = None;
        if snap.services_generation != self.sched_generation {
            let Some(set) = snap.take_schedulers(self.id) else {
                if let Some(set6) = set6 {
                    // The slot it came from is empty (capacity 1): no allocation, no failure.
                    let _ = snap.v6.scheds.get(self.id).map(|q| q.push(set6));
                }
                return self.retire(Retired {
                    snap,
                    scheds: None,
                    scheds6: None,
                });
            };
            replaced = Some(std::mem::replace(&mut self.scheds, set));
            self.sched_generation = snap.services_generation;
        }
        let replaced6 = set6.and_then(|s| self.adopt_schedulers6(s, snap.v6.services_generation));
        let old = std::mem::replace(&mut self.snap, snap);
        self.retire(Retired {
            snap: old,
            scheds: replaced,
            scheds6: replaced6,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::sim;
    use super::*;
    use crate::lb::conn::{ConnConfig, ConnTable};
    use crate::lb::neigh::NeighTable;
    use crate::lb::persist::PersistTable;
    use crate::lb::service::ServiceSpec;
    use crate::lb::snapshot::service_specs;
    use crate::wire::VecFrame;
    use crate::worker::stats::RealTraffic;
    use crossbeam::queue::ArrayQueue;

    #[test]
    fn adoption_takes_prebuilt_schedulers_and_hands_everything_back() {
        let cfg = crate::config::load_str(sim::EXAMPLE_CONFIG).unwrap();
        let ports = sim::port_infos(&cfg, false).unwrap();
        let specs = service_specs(&cfg, &|_, _, _| true);
        let mut heavier = specs.clone();
        heavier[0].reals[0].weight = 5;
        let build = |g: u64, specs: &[ServiceSpec], prev: &Published| {
            let prev = (g > 1).then(|| prev.load_full());
            let n = NeighTable::default();
            let s = Snapshot::build(g, &cfg, ports.clone(), n, specs, prev.as_deref(), 1);
            Arc::new(s.unwrap())
        };
        let published = Published::new(
            Snapshot::build(
                1,
                &cfg,
                ports.clone(),
                NeighTable::default(),
                &specs,
                None,
                1,
            )
            .unwrap(),
        );
        let retire = Arc::new(ArrayQueue::new(1));
        let mut e: Engine<VecFrame> = Engine::new(
            0,
            1,
            published.load_full(),
            ConnTable::new(&ConnConfig::new(64, 64)).unwrap(),
            PersistTable::with_capacity(4),
            Arc::new(ArrayQueue::new(4)),
            retire.clone(),
            RealTraffic::new(64),
        );
        assert!(published.load_full().take_schedulers(0).is_none(), "taken");
        // A service change: the new set is taken, the old snapshot and set handed back.
        published.store(build(2, &heavier, &published));
        e.follow(&published);
        assert_eq!(e.snap.generation, 2);
        let r = retire.pop().unwrap();
        assert_eq!((r.snap.generation, r.scheds.map(|s| s.len())), (1, Some(4)));
        // A neighbour-only change keeps the schedulers.
        published.store(build(3, &heavier, &published));
        e.follow(&published);
        assert_eq!(e.snap.generation, 3);
        // The queue is full (generation 2 not yet freed): generation 3 waits on the worker,
        // and the worker adopts nothing more until there is room.
        published.store(build(4, &heavier, &published));
        e.follow(&published);
        assert_eq!(e.snap.generation, 4);
        published.store(build(5, &heavier, &published));
        e.follow(&published);
        assert_eq!(e.snap.generation, 4, "waits for room to retire");
        let r = retire.pop().unwrap();
        assert_eq!((r.snap.generation, r.scheds.is_none()), (2, true));
        e.follow(&published);
        assert_eq!(e.snap.generation, 5);
        assert_eq!(retire.pop().unwrap().snap.generation, 3);
        assert!(e.retire_backlog(), "generation 4 pushed");
        assert_eq!(retire.pop().unwrap().snap.generation, 4);
        // A service change whose set for this worker is gone (taken with a skipped
        // snapshot): the worker stays where it is and hands the new snapshot back.
        let s6 = build(6, &specs, &published);
        assert!(s6.take_schedulers(0).is_some());
        published.store(s6);
        e.follow(&published);
        assert_eq!(e.snap.generation, 5);
        assert_eq!(retire.pop().unwrap().snap.generation, 6);
        // The next snapshot of a new services generation brings a set again.
        published.store(build(7, &heavier, &published));
        e.follow(&published);
        assert_eq!(e.snap.generation, 7);
        assert_eq!(e.sched_generation, e.snap.services_generation);
    }
}
