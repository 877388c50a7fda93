//! What `dataplane ctl sync` shows of sync besides the counters: role, sender id and resync
//! progress, published by the management thread every tick.

use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// One moment of the sync state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncView {
    pub role: String,
    pub sender_id: u32,
    /// This node's own resync: `none` (it does not receive), `waiting` or `done`.
    pub resync: String,
    /// Records received while waiting (or in the resync, once done).
    pub resync_records: u64,
    /// Milliseconds waiting so far, or how long the resync took.
    pub resync_ms: u64,
    /// Whether a full-table stream for a peer is under way.
    pub streaming: bool,
    /// Full-table streams sent to peers, and how long the last one took.
    pub streams_sent: u64,
    pub last_stream_ms: u64,
}

/// The published view (the management thread writes it, the control thread reads it).
#[derive(Debug, Default)]
pub struct SyncStatus(Mutex<SyncView>);

impl SyncStatus {
    pub fn set(&self, v: SyncView) {
        if let Ok(mut g) = self.0.lock() {
            *g = v;
        }
    }

    pub fn get(&self) -> SyncView {
        self.0.lock().map(|g| g.clone()).unwrap_or_default()
    }
}
