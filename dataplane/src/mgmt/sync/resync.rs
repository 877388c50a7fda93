//! Full resync, both ends. A receiving node asks for the whole table when it starts (again after
//! `SYNC_RESYNC_RETRY` without a record from a peer, or ten times that in any case: a stream
//! under way is not asked for again, which would restart the peer's walk) and reports "waiting"
//! until the peer's "done" arrives. A sending node answers a request by asking every worker for a table walk; the walks'
//! events go out paced like live events, and once every walk is finished and what it queued
//! has been sent, a "done" datagram ends the stream. Forwarding goes on meanwhile: the walks
//! cover a bounded number of slots per worker loop and stop when their queue is full.

use super::status::SyncView;
use super::wiring::SyncQueues;
use crate::config::SyncRole;
use crate::mgmt::vrrp::hold::ResyncProgress;
use crate::tunables::SYNC_RESYNC_RETRY;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

/// The receiving side's progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Incoming {
    /// Not a receiver.
    Off,
    /// Asked (or about to ask; `since` is the first request); `records` received since, the
    /// last of them at `heard`.
    Waiting {
        since: Instant,
        last_ask: Option<Instant>,
        heard: Option<Instant>,
        records: u64,
    },
    Done {
        records: u64,
        took: Duration,
    },
}

/// A stream being sent: each walk's target, then (once every walk reached it) how many events
/// each queue still held from it.
struct Outgoing {
    targets: Vec<u64>,
    remaining: Option<Vec<usize>>,
    since: Instant,
}

pub(super) struct Resync {
    incoming: Incoming,
    outgoing: Option<Outgoing>,
    streams_sent: u64,
    last_stream_ms: u64,
}

impl Resync {
    pub fn new(receives: bool) -> Resync {
        Resync {
            incoming: if receives {
                Incoming::Waiting {
                    since: Instant::now(),
                    last_ask: None,
                    heard: None,
                    records: 0,
                }
            } else {
                Incoming::Off
            },
            outgoing: None,
            streams_sent: 0,
            last_stream_ms: 0,
        }
    }

    /// Whether to send a resync request now.
    pub fn should_ask(&mut self) -> bool {
        if let Incoming::Waiting {
            since,
            last_ask,
            heard,
            ..
        } = &mut self.incoming
        {
            let quiet = |t: &Instant| t.elapsed() >= SYNC_RESYNC_RETRY;
            // Records arriving may be a peer's live events only (our request lost): ask again
            // after ten retry periods in any case.
            let long_ago = |t: &Instant| t.elapsed() >= SYNC_RESYNC_RETRY * 10;
            if last_ask.is_none() {
                // The wait is timed from the first request.
                *since = Instant::now();
            } else if !last_ask.as_ref().is_some_and(long_ago)
                && (!last_ask.as_ref().is_some_and(quiet) || !heard.as_ref().is_none_or(quiet))
            {
                return false;
            }
            *last_ask = Some(Instant::now());
            return true;
        }
        false
    }

    pub fn record_received(&mut self) {
        if let Incoming::Waiting { records, heard, .. } = &mut self.incoming {
            *records += 1;
            *heard = Some(Instant::now());
        }
    }

    /// The peer's "done" arrived; true if this ends our wait.
    pub fn peer_done(&mut self) -> bool {
        if let Incoming::Waiting { since, records, .. } = self.incoming {
            self.incoming = Incoming::Done {
                records,
                took: since.elapsed(),
            };
            return true;
        }
        false
    }

    /// A peer asked: every worker walks its table once more (a stream already under way is
    /// extended to the new walks).
    pub fn start_stream(&mut self, q: &SyncQueues) {
        let targets = q
            .walks
            .iter()
            .map(|w| {
                // `full` first (Release): a worker that sees the request sees it is a resync.
                let t = w.requested.load(Relaxed) + 1;
                w.full.store(t, Release);
                w.requested.store(t, Release);
                t
            })
            .collect();
        let since = self
            .outgoing
            .as_ref()
            .map_or_else(Instant::now, |o| o.since);
        self.outgoing = Some(Outgoing {
            targets,
            remaining: None,
            since,
        });
    }

    pub fn streaming(&self) -> bool {
        self.outgoing.is_some()
    }

    /// True once every walk of the stream is finished (then what each queue holds is counted
    /// down as the sender pops it).
    pub fn stream_check(&mut self, q: &SyncQueues) -> bool {
        let Some(o) = &mut self.outgoing else {
            return false;
        };
        if o.remaining.is_none() {
            let finished = q
                .walks
                .iter()
                .zip(&o.targets)
                .all(|(w, &t)| w.done.load(Acquire) >= t);
            if !finished {
                return false;
            }
            o.remaining = Some(q.events.iter().map(|e| e.len()).collect());
        }
        true
    }

    /// The sender took an event from worker `w`'s queue.
    pub fn popped(&mut self, w: usize) {
        if let Some(r) = self
            .outgoing
            .as_mut()
            .and_then(|o| o.remaining.as_mut())
            .and_then(|r| r.get_mut(w))
        {
            *r = r.saturating_sub(1);
        }
    }

    /// Whether every event of the finished walks has been taken from the queues.
    pub fn stream_flushed(&self, _q: &SyncQueues) -> bool {
        self.outgoing
            .as_ref()
            .and_then(|o| o.remaining.as_ref())
            .is_some_and(|r| r.iter().all(|&n| n == 0))
    }

    pub fn stream_done(&mut self) {
        if let Some(o) = self.outgoing.take() {
            self.streams_sent += 1;
            self.last_stream_ms = o.since.elapsed().as_millis() as u64;
        }
    }

    /// This node's own resync, for VRRP's preempt hold.
    pub fn progress(&self) -> ResyncProgress {
        match self.incoming {
            Incoming::Off => ResyncProgress::Off,
            Incoming::Waiting { since, records, .. } => ResyncProgress::Waiting {
                records,
                waited_ms: since.elapsed().as_millis() as u64,
            },
            Incoming::Done { records, took } => ResyncProgress::Done {
                records,
                took_ms: took.as_millis() as u64,
            },
        }
    }

    pub fn view(&self, role: SyncRole, sender: u32) -> SyncView {
        let (resync, records, ms) = match self.incoming {
            Incoming::Off => ("none", 0, 0),
            Incoming::Waiting { since, records, .. } => {
                ("waiting", records, since.elapsed().as_millis() as u64)
            }
            Incoming::Done { records, took } => ("done", records, took.as_millis() as u64),
        };
        SyncView {
            role: format!("{role:?}").to_lowercase(),
            sender_id: sender,
            resync: resync.to_string(),
            resync_records: records,
            resync_ms: ms,
            streaming: self.outgoing.is_some(),
            streams_sent: self.streams_sent,
            last_stream_ms: self.last_stream_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::engine::sync::WalkRequest;
    use std::sync::Arc;

    fn ago(secs: u64) -> Instant {
        Instant::now()
            .checked_sub(Duration::from_secs(secs))
            .expect("the clock is past boot + a minute")
    }

    fn set_wait(r: &mut Resync, asked: u64, heard: Option<u64>) {
        if let Incoming::Waiting {
            last_ask, heard: h, ..
        } = &mut r.incoming
        {
            *last_ask = Some(ago(asked));
            *h = heard.map(ago);
        }
    }

    #[test]
    fn asks_at_start_then_only_when_no_stream_is_coming() {
        assert!(!Resync::new(false).should_ask());
        let mut r = Resync::new(true);
        assert!(r.should_ask());
        assert!(!r.should_ask());
        // 3 s without a record: again.
        set_wait(&mut r, 3, None);
        assert!(r.should_ask());
        // 3 s since asking, but a record a moment ago (a stream under way): not again.
        set_wait(&mut r, 3, Some(0));
        assert!(!r.should_ask());
        // Records for 21 s may be live events only: again.
        set_wait(&mut r, 21, Some(0));
        assert!(r.should_ask());
        // Done: never again.
        assert!(r.peer_done());
        set_wait(&mut r, 60, None);
        assert!(!r.should_ask());
    }

    #[test]
    fn a_stream_marks_its_walks_as_resyncs() {
        let w = Arc::new(WalkRequest::default());
        let q = SyncQueues {
            walks: vec![w.clone()],
            ..SyncQueues::default()
        };
        let mut r = Resync::new(false);
        // A refresh raised the request count to 4.
        w.requested.store(4, Relaxed);
        r.start_stream(&q);
        assert_eq!((w.requested.load(Relaxed), w.full.load(Relaxed)), (5, 5));
        assert!(r.streaming());
    }
}
