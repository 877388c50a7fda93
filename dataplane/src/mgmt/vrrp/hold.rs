//! Failback without loss (docs/ha.md, "Preemption held until the resync is done"): while this
//! node receives connection sync and its own full resync has not finished, VRRP does not
//! preempt a lower-priority master. A returning master that took the VIPs back before it had
//! the table would reset every connection opened while it was away (keepalived's failback
//! problem). The hold only delays preemption: a backup whose master is gone (master-down timer,
//! resignation) still takes over, as there is nobody to resync from then.
//!
//! Plain logic: the management thread feeds it the resync progress each round and carries out
//! the hold it returns (`Machine::set_preempt_hold`), logging each event.

pub use crate::ctl::ha::PreemptHoldView;

/// This node's own resync as connection sync reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResyncProgress {
    /// This node does not receive sync (role master): nothing to wait for.
    Off,
    /// Asked for the table; `records` received in the `waited_ms` since.
    Waiting { records: u64, waited_ms: u64 },
    /// The peer's stream ended.
    Done { records: u64, took_ms: u64 },
}

/// Why the hold ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Released {
    /// The resync finished: the table is here.
    ResyncDone { records: u64, took_ms: u64 },
    /// No peer finished a resync within `vrrp.preempt_hold_max` (a peer without sync, another
    /// key): preempt anyway rather than never.
    Bound { waited_ms: u64, records: u64 },
}

/// What a round changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldEvent {
    Started,
    Ended(Released),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing decided yet (before the first round).
    Idle,
    Held,
    Released(Released),
}

/// The hold of one virtual router.
#[derive(Clone, Debug)]
pub struct PreemptHold {
    /// `vrrp.preempt_hold_max` in ms; 0: no hold at all (preempt as keepalived does).
    max_ms: u64,
    phase: Phase,
}

impl PreemptHold {
    pub fn new(max_ms: u64) -> PreemptHold {
        PreemptHold {
            max_ms,
            phase: Phase::Idle,
        }
    }

    pub fn max_ms(&self) -> u64 {
        self.max_ms
    }

    pub fn held(&self) -> bool {
        self.phase == Phase::Held
    }

    /// One round: the resync's progress now; the event, if the hold started or ended.
    pub fn update(&mut self, resync: ResyncProgress) -> Option<HoldEvent> {
        if self.max_ms == 0 {
            return None;
        }
        let next = match resync {
            ResyncProgress::Off => Phase::Idle,
            ResyncProgress::Waiting { records, waited_ms } => match self.phase {
                // A hold that ran out stays released until a resync finishes.
                Phase::Released(Released::Bound { .. }) => self.phase,
                _ if waited_ms >= self.max_ms => {
                    Phase::Released(Released::Bound { waited_ms, records })
                }
                _ => Phase::Held,
            },
            ResyncProgress::Done { records, took_ms } => match self.phase {
                Phase::Idle => Phase::Idle,
                _ => Phase::Released(Released::ResyncDone { records, took_ms }),
            },
        };
        let event = match (self.phase, next) {
            (a, b) if a == b => None,
            (_, Phase::Held) => Some(HoldEvent::Started),
            (Phase::Held, Phase::Released(r)) => Some(HoldEvent::Ended(r)),
            _ => None,
        };
        self.phase = next;
        event
    }

    /// The view for `ctl ha`; None when no hold applies (hold off, or this node does not
    /// receive sync).
    pub fn view(&self) -> Option<PreemptHoldView> {
        let (held, reason) = match self.phase {
            Phase::Idle => return None,
            Phase::Held => (true, "connection resync not done".to_string()),
            Phase::Released(r) => (false, r.to_string()),
        };
        Some(PreemptHoldView {
            held,
            reason,
            max_ms: self.max_ms,
        })
    }
}

impl std::fmt::Display for Released {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Released::ResyncDone { records, took_ms } => {
                write!(f, "resync done: {records} records in {took_ms} ms")
            }
            Released::Bound { waited_ms, records } => write!(
                f,
                "no resync finished within preempt_hold_max ({waited_ms} ms waited, {records} \
                 records received)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(records: u64, waited_ms: u64) -> ResyncProgress {
        ResyncProgress::Waiting { records, waited_ms }
    }

    #[test]
    fn held_while_waiting_released_when_the_resync_is_done() {
        let mut h = PreemptHold::new(60_000);
        assert_eq!(h.view(), None, "nothing before the first round");
        assert_eq!(h.update(waiting(0, 0)), Some(HoldEvent::Started));
        assert!(h.held());
        assert_eq!(h.update(waiting(40, 1_500)), None);
        assert!(h.held());
        assert_eq!(
            h.view(),
            Some(PreemptHoldView {
                held: true,
                reason: "connection resync not done".into(),
                max_ms: 60_000
            })
        );
        let done = Released::ResyncDone {
            records: 96,
            took_ms: 2_100,
        };
        assert_eq!(
            h.update(ResyncProgress::Done {
                records: 96,
                took_ms: 2_100
            }),
            Some(HoldEvent::Ended(done))
        );
        assert!(!h.held());
        // Later rounds change nothing.
        for _ in 0..3 {
            assert_eq!(
                h.update(ResyncProgress::Done {
                    records: 96,
                    took_ms: 2_100
                }),
                None
            );
        }
        assert_eq!(
            h.view(),
            Some(PreemptHoldView {
                held: false,
                reason: "resync done: 96 records in 2100 ms".into(),
                max_ms: 60_000
            })
        );
    }

    #[test]
    fn the_bound_releases_a_hold_nobody_answers() {
        let mut h = PreemptHold::new(60_000);
        assert_eq!(h.update(waiting(0, 10)), Some(HoldEvent::Started));
        assert_eq!(h.update(waiting(0, 59_999)), None);
        assert!(h.held());
        let bound = Released::Bound {
            waited_ms: 60_000,
            records: 0,
        };
        assert_eq!(h.update(waiting(0, 60_000)), Some(HoldEvent::Ended(bound)));
        assert!(!h.held());
        // Still waiting: stays released (no hold again).
        assert_eq!(h.update(waiting(3, 70_000)), None);
        assert!(!h.held());
        assert_eq!(
            h.view().map(|v| v.reason),
            Some(
                "no resync finished within preempt_hold_max (60000 ms waited, 0 records \
                 received)"
                    .to_string()
            )
        );
        // A late answer is still recorded, without an event (the hold had ended).
        assert_eq!(
            h.update(ResyncProgress::Done {
                records: 3,
                took_ms: 71_000
            }),
            None
        );
        assert_eq!(
            h.view().map(|v| v.reason),
            Some("resync done: 3 records in 71000 ms".to_string())
        );
    }

    #[test]
    fn no_hold_without_receiving_sync_or_with_a_zero_bound() {
        let mut master_only = PreemptHold::new(60_000);
        for _ in 0..3 {
            assert_eq!(master_only.update(ResyncProgress::Off), None);
            assert!(!master_only.held());
        }
        assert_eq!(master_only.view(), None);
        let mut off = PreemptHold::new(0);
        assert_eq!(off.update(waiting(0, 0)), None);
        assert!(!off.held());
        assert_eq!(off.view(), None);
    }

    #[test]
    fn a_resync_done_before_the_first_round_never_holds() {
        let mut h = PreemptHold::new(60_000);
        assert_eq!(
            h.update(ResyncProgress::Done {
                records: 0,
                took_ms: 1
            }),
            None
        );
        assert!(!h.held());
        assert_eq!(h.view(), None);
    }

    /// A node that starts waiting after its bound would already be over (a resync asked again
    /// later, on a rejoin) is held again from a fresh start of the wait.
    #[test]
    fn a_new_resync_after_a_finished_one_holds_again() {
        let mut h = PreemptHold::new(30_000);
        h.update(waiting(0, 0));
        h.update(ResyncProgress::Done {
            records: 5,
            took_ms: 400,
        });
        assert!(!h.held());
        assert_eq!(h.update(waiting(0, 0)), Some(HoldEvent::Started));
        assert!(h.held());
    }
}
