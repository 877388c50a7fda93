//! `dataplane ctl sync`: connection sync's role, resync progress and every sync counter of the
//! management thread and the workers (summed), by name.

use crate::mgmt::sync::SyncView;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The answer to `{"cmd":"sync"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// False when the config has no `sync` section.
    pub enabled: bool,
    pub status: SyncView,
    /// `sync_*` counters: the management thread's, and the workers' summed.
    pub counters: BTreeMap<String, u64>,
}

pub fn render(r: &SyncReport) -> String {
    if !r.enabled {
        return "connection sync is off (no `sync` section in the config)\n".to_string();
    }
    let s = &r.status;
    let mut out = String::new();
    let _ = writeln!(out, "role {}, sender id {}", s.role, s.sender_id);
    let _ = match s.resync.as_str() {
        "none" => writeln!(out, "resync: not a receiver"),
        "waiting" => writeln!(
            out,
            "resync: waiting for a peer's table ({} records in {} ms so far)",
            s.resync_records, s.resync_ms
        ),
        other => writeln!(
            out,
            "resync: {other}, {} records in {} ms",
            s.resync_records, s.resync_ms
        ),
    };
    let _ = writeln!(
        out,
        "table streams sent to peers: {}{}{}",
        s.streams_sent,
        if s.streams_sent > 0 {
            format!(" (last took {} ms)", s.last_stream_ms)
        } else {
            String::new()
        },
        if s.streaming { ", one under way" } else { "" }
    );
    for (k, v) in &r.counters {
        let _ = writeln!(out, "  {k} {v}");
    }
    out
}
