//! The threads that run health checks, off the workers and off the management thread: one
//! scheduler that starts each target's check every `interval`, and a pool of probe threads that
//! run the blocking checks (grown on demand, up to MAX_PROBERS, so slow timeouts of many dead
//! reals do not delay the others). Results go back over a channel the management thread drains
//! without blocking. Threads are spawned from the management thread and inherit its CPU
//! affinity (the main lcore's CPU), so they never compete with the workers' cores.

use super::probe::{self, ProbeTarget};
use super::RealKey;
use crate::config::HealthCheck;
use crossbeam::channel::{self, Receiver, Sender};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::tunables::{HEALTH_MAX_PROBERS as MAX_PROBERS, HEALTH_MAX_WAIT};

/// One real to check, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub key: RealKey,
    pub check: HealthCheck,
}

/// A finished check.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub key: RealKey,
    /// The target list (reload) this check was started under.
    pub epoch: u64,
    pub result: Result<String, String>,
    pub took: Duration,
}

enum Cmd {
    Targets(Vec<Target>, u64),
}

/// Handle of the checker threads; dropping it stops them (a running check finishes first).
pub struct Checker {
    cmd: Sender<Cmd>,
    results: Receiver<Outcome>,
}

impl Checker {
    pub fn start(targets: Vec<Target>, epoch: u64) -> std::io::Result<Checker> {
        let (cmd_tx, cmd_rx) = channel::unbounded();
        let (res_tx, res_rx) = channel::unbounded();
        let _ = cmd_tx.send(Cmd::Targets(targets, epoch));
        std::thread::Builder::new()
            .name("health".into())
            .spawn(move || Scheduler::new(res_tx).run(cmd_rx))?;
        Ok(Checker {
            cmd: cmd_tx,
            results: res_rx,
        })
    }

    /// Replaces the targets: those that stay keep their schedule, new ones are checked now.
    pub fn set_targets(&self, targets: Vec<Target>, epoch: u64) {
        let _ = self.cmd.send(Cmd::Targets(targets, epoch));
    }

    /// A finished check, if any (never blocks).
    pub fn try_result(&self) -> Option<Outcome> {
        self.results.try_recv().ok()
    }
}

struct Slot {
    target: Target,
    due: Instant,
    running: bool,
}

struct Scheduler {
    slots: HashMap<RealKey, Slot>,
    epoch: u64,
    jobs_tx: Sender<(Target, u64)>,
    jobs_rx: Receiver<(Target, u64)>,
    done_tx: Sender<RealKey>,
    done_rx: Receiver<RealKey>,
    results: Sender<Outcome>,
    probers: usize,
    running: usize,
}

impl Scheduler {
    fn new(results: Sender<Outcome>) -> Scheduler {
        let (jobs_tx, jobs_rx) = channel::unbounded();
        let (done_tx, done_rx) = channel::unbounded();
        Scheduler {
            slots: HashMap::new(),
            epoch: 0,
            jobs_tx,
            jobs_rx,
            done_tx,
            done_rx,
            results,
            probers: 0,
            running: 0,
        }
    }

    fn run(mut self, cmd: Receiver<Cmd>) {
        loop {
            let now = Instant::now();
            self.dispatch(now);
            let wait = self
                .slots
                .values()
                .filter(|s| !s.running)
                .map(|s| s.due.saturating_duration_since(now))
                .min()
                .unwrap_or(HEALTH_MAX_WAIT)
                .min(HEALTH_MAX_WAIT);
            crossbeam::select! {
                recv(cmd) -> m => match m {
                    Ok(Cmd::Targets(t, epoch)) => self.set_targets(t, epoch, now),
                    Err(_) => return,
                },
                recv(self.done_rx) -> k => {
                    if let Ok(k) = k {
                        self.running = self.running.saturating_sub(1);
                        if let Some(s) = self.slots.get_mut(&k) {
                            s.running = false;
                        }
                    }
                },
                default(wait) => {},
            }
        }
    }

    fn set_targets(&mut self, targets: Vec<Target>, epoch: u64, now: Instant) {
        self.epoch = epoch;
        let mut old = std::mem::take(&mut self.slots);
        for t in targets {
            let slot = match old.remove(&t.key) {
                Some(mut s) if s.target.check.interval == t.check.interval => {
                    s.target = t;
                    s
                }
                Some(s) => Slot {
                    due: now,
                    running: s.running,
                    target: t,
                },
                None => Slot {
                    due: now,
                    running: false,
                    target: t,
                },
            };
            self.slots.insert(slot.target.key.clone(), slot);
        }
    }

    fn dispatch(&mut self, now: Instant) {
        for s in self.slots.values_mut() {
            if s.running || s.due > now {
                continue;
            }
            s.running = true;
            s.due = now + s.target.check.interval.0;
            self.running += 1;
            if self.running > self.probers && self.probers < MAX_PROBERS {
                let spawned = spawn_prober(
                    self.jobs_rx.clone(),
                    self.done_tx.clone(),
                    self.results.clone(),
                );
                match spawned {
                    Ok(()) => self.probers += 1,
                    Err(e) => tracing::warn!("cannot start a health-check thread: {e}"),
                }
            }
            let _ = self.jobs_tx.send((s.target.clone(), self.epoch));
        }
    }
}

fn spawn_prober(
    jobs: Receiver<(Target, u64)>,
    done: Sender<RealKey>,
    results: Sender<Outcome>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("health-probe".into())
        .spawn(move || {
            for (t, epoch) in jobs {
                let started = Instant::now();
                let result = probe::run(&ProbeTarget {
                    service: &t.key.service,
                    ip: t.key.ip,
                    real_port: t.key.port,
                    check: &t.check,
                });
                let took = started.elapsed();
                if results
                    .send(Outcome {
                        key: t.key.clone(),
                        epoch,
                        result,
                        took,
                    })
                    .is_err()
                {
                    return;
                }
                let _ = done.send(t.key);
            }
        })
        .map(|_| ())
}
