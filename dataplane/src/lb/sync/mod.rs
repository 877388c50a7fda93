//! Connection sync between directors, as plain data code (the counterpart of IPVS's
//! `ip_vs_sync.c` message format): the versioned datagram format with its HMAC-SHA256 trailer
//! (`wire.rs`), the per-sender replay window on sequence numbers (`window.rs`) and the
//! connection events workers emit for the management thread to batch (`event.rs`).
//! Transport, batching and resync live in `mgmt/sync/`. docs/sync.md describes the format byte
//! by byte.

mod event;
mod window;
mod wire;

pub use event::{EventRing, SyncEvent};
pub use window::{ReplayWindow, WindowError};
pub use wire::{
    emit_datagram, parse_datagram, record_len, Datagram, DatagramKind, Header, Key, Record,
    SyncError, HEADER_LEN, MAC_LEN, MAGIC, MAX_DATAGRAM, VERSION,
};

#[cfg(test)]
mod tests;
