//! Connection events a worker emits for sync: a fixed-size record per event on a bounded,
//! lock-free queue the management thread drains. A full queue never blocks the worker: the
//! event is dropped and counted (`sync_events_lost`); the periodic refresh sends the
//! connection again later. With sync off the worker holds no queue and emitting is one branch.

use crate::config::ForwardMode;
use crate::lb::conn::{ConnInfo, TcpState};
use crate::lb::types::Protocol;
use crossbeam::queue::ArrayQueue;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::Record;

/// One IPv4 connection as the worker saw it when the event happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncEvent {
    /// A persistence template (`client` masked, `cport` 0), not a connection.
    pub template: bool,
    pub proto: Protocol,
    pub state: TcpState,
    pub mode: ForwardMode,
    pub client: Ipv4Addr,
    pub cport: u16,
    pub vip: Ipv4Addr,
    pub vport: u16,
    pub real: Ipv4Addr,
    pub rport: u16,
    /// Seconds left before it expires.
    pub timeout: u32,
}

impl SyncEvent {
    /// The event for connection `c` at `now_ms`.
    #[inline]
    pub fn of(c: &ConnInfo, now_ms: u64) -> SyncEvent {
        SyncEvent {
            template: false,
            proto: c.proto,
            state: c.state,
            mode: c.mode,
            client: c.client,
            cport: c.cport,
            vip: c.vip,
            vport: c.vport,
            real: c.real_addr,
            rport: c.rport,
            timeout: (c.expires_ms.saturating_sub(now_ms) / 1000).min(u64::from(u32::MAX)) as u32,
        }
    }

    /// The wire record.
    pub fn record(&self) -> Record {
        Record {
            proto: self.proto,
            state: self.state,
            mode: self.mode,
            template: self.template,
            vip: IpAddr::V4(self.vip),
            vport: self.vport,
            client: IpAddr::V4(self.client),
            cport: self.cport,
            real: IpAddr::V4(self.real),
            rport: self.rport,
            timeout: self.timeout,
        }
    }
}

/// A worker's end of its event queue: none when sync does not send.
#[derive(Clone, Default)]
pub struct EventRing(Option<Arc<ArrayQueue<SyncEvent>>>);

impl EventRing {
    pub fn new(q: Option<Arc<ArrayQueue<SyncEvent>>>) -> EventRing {
        EventRing(q)
    }

    /// Whether events are wanted at all (sync sends).
    #[inline]
    pub fn on(&self) -> bool {
        self.0.is_some()
    }

    /// Free slots in the queue (only this worker pushes, so at least this many pushes succeed).
    #[inline]
    pub fn room(&self) -> usize {
        self.0
            .as_ref()
            .map_or(usize::MAX, |q| q.capacity() - q.len())
    }

    /// Queues an event; false if the queue was full (the caller counts the loss). Never blocks,
    /// never allocates.
    #[inline]
    pub fn emit(&self, e: SyncEvent) -> bool {
        match &self.0 {
            Some(q) => q.push(e).is_ok(),
            None => true,
        }
    }
}
