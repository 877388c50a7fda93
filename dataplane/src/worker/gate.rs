//! The start-up barrier between the runtime and the workers: the data ports start only once every
//! worker has built its state (connection table, ...) and is about to poll, so no packet arrives
//! at a queue nobody reads, and no packet is handed to a worker that is still setting up.
//! Used once at start-up, never on the per-packet path.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use crate::tunables::{GATE_POLL as POLL, READY_LIMIT};

#[derive(Default)]
pub struct StartGate {
    ready: AtomicUsize,
    /// Worker functions that have returned (before the gate opened: a worker that failed).
    left: AtomicUsize,
    open: AtomicBool,
}

impl StartGate {
    /// Worker: says it is ready, then waits until the ports have started (true) or the
    /// appliance is stopping without having started them (false: return without polling).
    pub fn arrive_and_wait(&self, stop: &AtomicBool) -> bool {
        self.ready.fetch_add(1, Ordering::AcqRel);
        loop {
            if self.open.load(Ordering::Acquire) {
                return true;
            }
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Runtime, when a worker's function returns (whatever it returned).
    pub fn leave(&self) {
        self.left.fetch_add(1, Ordering::AcqRel);
    }

    /// Runtime: waits until `n` workers are ready. Fails if a worker returned first (it could
    /// not set up; it logged why) or if `limit` passes.
    pub fn wait_ready(&self, n: usize, limit: Duration) -> Result<(), String> {
        let t0 = Instant::now();
        loop {
            let ready = self.ready.load(Ordering::Acquire);
            if self.left.load(Ordering::Acquire) > 0 {
                return Err(format!(
                    "a worker stopped before it was ready to poll ({ready} of {n} ready)"
                ));
            }
            if ready >= n {
                return Ok(());
            }
            if t0.elapsed() > limit {
                return Err(format!(
                    "only {ready} of {n} workers ready to poll within {limit:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Runtime: the ports have started; the workers may poll.
    pub fn open(&self) {
        self.open.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn workers_wait_for_the_gate_and_the_runtime_for_the_workers() {
        let gate = Arc::new(StartGate::default());
        let stop = Arc::new(AtomicBool::new(false));
        let polled = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (g, s, p) = (gate.clone(), stop.clone(), polled.clone());
                std::thread::spawn(move || {
                    if g.arrive_and_wait(&s) {
                        p.fetch_add(1, Ordering::SeqCst);
                    }
                    g.leave();
                })
            })
            .collect();
        gate.wait_ready(3, Duration::from_secs(60)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            polled.load(Ordering::SeqCst),
            0,
            "nobody polls before the gate opens"
        );
        gate.open();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(polled.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_worker_that_fails_to_set_up_is_reported() {
        let gate = StartGate::default();
        let stop = AtomicBool::new(true);
        assert!(!gate.arrive_and_wait(&stop), "stopping: no polling");
        gate.leave();
        let e = gate.wait_ready(2, Duration::from_secs(60)).unwrap_err();
        assert_eq!(
            e,
            "a worker stopped before it was ready to poll (1 of 2 ready)"
        );
    }

    #[test]
    fn waiting_for_workers_is_bounded() {
        let gate = StartGate::default();
        let e = gate.wait_ready(1, Duration::from_millis(10)).unwrap_err();
        assert_eq!(e, "only 0 of 1 workers ready to poll within 10ms");
    }
}
