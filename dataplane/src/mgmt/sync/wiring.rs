//! The queues between the workers and the sync sender/receiver, made once at start: per worker,
//! an event queue (if this node sends), an install queue (if it receives) and a walk request
//! (refresh and resync streams, if it sends).

use crate::config::SyncConfig;
use crate::lb::sync::{EventRing, Record, SyncEvent};
use crate::tunables::{SYNC_EVENT_QUEUE, SYNC_INSTALL_QUEUE};
use crate::worker::engine::sync::{SyncIo, WalkRequest};
use crossbeam::queue::ArrayQueue;
use std::sync::Arc;

/// The management thread's ends, one entry per worker.
#[derive(Default)]
pub struct SyncQueues {
    pub events: Vec<Arc<ArrayQueue<SyncEvent>>>,
    pub installs: Vec<Arc<ArrayQueue<Record>>>,
    pub walks: Vec<Arc<WalkRequest>>,
}

/// The queues for `n` workers and each worker's end (`SyncIo::default()`, all empty, when sync
/// is off).
pub fn wire(cfg: Option<&SyncConfig>, n: usize) -> (SyncQueues, Vec<SyncIo>) {
    let Some(cfg) = cfg else {
        return (
            SyncQueues::default(),
            (0..n).map(|_| SyncIo::default()).collect(),
        );
    };
    let mut q = SyncQueues::default();
    let mut ios = Vec::with_capacity(n);
    for _ in 0..n {
        let events = cfg.role.sends().then(|| {
            let e = Arc::new(ArrayQueue::new(SYNC_EVENT_QUEUE));
            q.events.push(e.clone());
            e
        });
        let installs = cfg.role.receives().then(|| {
            let i = Arc::new(ArrayQueue::new(SYNC_INSTALL_QUEUE));
            q.installs.push(i.clone());
            i
        });
        let walk = cfg.role.sends().then(|| {
            let w = Arc::new(WalkRequest::default());
            q.walks.push(w.clone());
            w
        });
        ios.push(SyncIo::new(EventRing::new(events), installs, walk).with_half_open(cfg.half_open));
    }
    (q, ios)
}
