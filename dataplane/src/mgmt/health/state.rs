//! The up/down state of one real server under health checks, with rise/fall hysteresis.
//!
//! A real starts UP, as in keepalived (without its `alpha` option): a service that is (re)started
//! keeps serving with the reals it has, and a dead real is taken out after `fall` consecutive
//! failed checks (at most `fall x interval` plus one timeout after start). Starting DOWN instead
//! would refuse every connection to the service until `rise` checks passed.

/// A state change, returned by [`RealState::record`] when it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Up,
    Down,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealState {
    up: bool,
    /// Consecutive successes (while down) or failures (while up) so far.
    run: u32,
}

impl Default for RealState {
    fn default() -> Self {
        RealState::new()
    }
}

impl RealState {
    /// A real not checked yet: up.
    pub fn new() -> RealState {
        RealState { up: true, run: 0 }
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Counts one check's result: down after `fall` consecutive failures, up after `rise`
    /// consecutive successes. A result that agrees with the current state resets the run.
    pub fn record(&mut self, ok: bool, rise: u32, fall: u32) -> Option<Change> {
        if ok == self.up {
            self.run = 0;
            return None;
        }
        self.run += 1;
        let needed = if self.up { fall } else { rise };
        if self.run < needed.max(1) {
            return None;
        }
        self.up = ok;
        self.run = 0;
        Some(if ok { Change::Up } else { Change::Down })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut RealState, results: &[bool], rise: u32, fall: u32) -> Vec<Option<Change>> {
        results.iter().map(|&ok| s.record(ok, rise, fall)).collect()
    }

    #[test]
    fn starts_up_and_falls_after_fall_consecutive_failures() {
        let mut s = RealState::new();
        assert!(s.is_up());
        let out = feed(&mut s, &[false, false], 2, 3);
        assert_eq!(out, [None, None]);
        assert!(s.is_up());
        assert_eq!(s.record(false, 2, 3), Some(Change::Down));
        assert!(!s.is_up());
        // More failures change nothing.
        assert_eq!(s.record(false, 2, 3), None);
    }

    #[test]
    fn a_success_resets_the_failure_run() {
        let mut s = RealState::new();
        let out = feed(&mut s, &[false, false, true, false, false], 2, 3);
        assert!(out.iter().all(Option::is_none));
        assert!(s.is_up());
        assert_eq!(s.record(false, 2, 3), Some(Change::Down));
    }

    #[test]
    fn rises_after_rise_consecutive_successes_and_a_failure_resets() {
        let mut s = RealState::new();
        feed(&mut s, &[false], 2, 1);
        assert!(!s.is_up());
        assert_eq!(s.record(true, 2, 1), None);
        assert_eq!(s.record(false, 2, 1), None);
        assert!(!s.is_up());
        assert_eq!(s.record(true, 2, 1), None);
        assert_eq!(s.record(true, 2, 1), Some(Change::Up));
        assert!(s.is_up());
    }

    #[test]
    fn rise_and_fall_of_one_flip_on_every_change() {
        let mut s = RealState::new();
        assert_eq!(s.record(true, 1, 1), None);
        assert_eq!(s.record(false, 1, 1), Some(Change::Down));
        assert_eq!(s.record(true, 1, 1), Some(Change::Up));
        // A zero (refused by validation) behaves as one rather than flapping on nothing.
        assert_eq!(s.record(false, 0, 0), Some(Change::Down));
    }
}
