//! The published snapshot: an `ArcSwap` plus its generation in a plain atomic, so a worker can
//! see "nothing changed" with one load of a shared word per loop instead of an `ArcSwap::load`
//! (whose debt-slot protocol showed up at 4-8 % of a worker's cycles).

use super::snapshot::Snapshot;
use arc_swap::{ArcSwap, Guard};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct Published {
    cell: ArcSwap<Snapshot>,
    generation: AtomicU64,
}

impl Published {
    pub fn new(s: Snapshot) -> Published {
        let g = s.generation;
        Published {
            cell: ArcSwap::from_pointee(s),
            generation: AtomicU64::new(g),
        }
    }

    /// Publishes `s`; readers that check `generation` afterwards see it.
    pub fn store(&self, s: Arc<Snapshot>) {
        let g = s.generation;
        self.cell.store(s);
        self.generation.store(g, Ordering::Release);
    }

    /// The generation of the latest published snapshot.
    #[inline(always)]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.cell.load()
    }

    pub fn load_full(&self) -> Arc<Snapshot> {
        self.cell.load_full()
    }
}
