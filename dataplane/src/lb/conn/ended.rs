//! Reports of ended connections that held a persistence template.
//!
//! `PersistTable::release` must be called exactly once per connection that received a template,
//! whenever and however the connection ends (expiry, removal, eviction by a full-table insert).
//! The table cannot call it itself (it does not own the persistence table), so it queues one
//! [`Ended`] record per such connection in a fixed ring allocated by `ConnTable::new`, and the
//! worker drains it with `ConnTable::drain_ended`. Nothing is ever dropped: when the ring is full
//! the table refuses to end a templated connection instead (see `ConnTable::drain_ended`).
//! Connections without a template are not reported.

use crate::lb::types::RealId;

/// Default number of records the ring holds (`ConnConfig::ended_capacity`; see
/// [`crate::tunables::CONN_ENDED_CAPACITY`]).
pub const DEFAULT_ENDED_CAPACITY: u32 = crate::tunables::CONN_ENDED_CAPACITY;

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// Its idle timeout elapsed (found by `expire`, or by a full-table insert looking for room).
    Expired,
    /// A non-established TCP connection pushed out by an insert into a full table.
    Evicted,
    /// Removed by `ConnTable::remove`.
    Removed,
}

/// One ended connection that held a template: hand `template` and `real` to
/// `PersistTable::release` (`TemplateRef::from_raw(template)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ended {
    /// The real the connection was scheduled to.
    pub real: RealId,
    /// The template it held. Always `Some` today: only templated connections are reported.
    pub template: Option<u32>,
    pub reason: EndReason,
}

/// A bounded FIFO of [`Ended`] records. Its storage is allocated once; `push` never grows it.
pub(super) struct EndedRing {
    buf: Vec<Ended>,
    cap: usize,
}

impl EndedRing {
    pub fn new(cap: u32) -> EndedRing {
        let cap = cap.max(1) as usize;
        EndedRing {
            buf: Vec::with_capacity(cap),
            cap,
        }
    }

    #[inline]
    pub fn has_room(&self) -> bool {
        self.buf.len() < self.cap
    }

    /// Queues `e`; false (and nothing queued) if full. Callers check `has_room` first.
    #[inline]
    pub fn push(&mut self, e: Ended) -> bool {
        if !self.has_room() {
            return false;
        }
        self.buf.push(e);
        true
    }

    /// Hands every queued record to `f`, oldest first, and empties the ring (keeps its storage).
    #[inline]
    pub fn drain(&mut self, f: impl FnMut(Ended)) {
        self.buf.drain(..).for_each(f);
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Bytes of heap storage.
    pub fn memory_bytes(&self) -> usize {
        self.buf.capacity() * std::mem::size_of::<Ended>()
    }
}
