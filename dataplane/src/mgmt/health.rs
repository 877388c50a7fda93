//! Health checks of real servers, as the management thread sees them: which reals are checked
//! and how (from the config), their up/down state, and the result stream of the checker threads.
//! `poll` is called from `Mgmt::tick` and never blocks; a state change is logged at info with
//! its reason and makes the management thread publish a snapshot with the new availability.
//! A real that goes down takes no new connections; its existing connections continue.

pub mod checker;
pub mod probe;
pub mod state;

use crate::config::Config;
use checker::{Checker, Outcome, Target};
use state::{Change, RealState};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// A real server of a service, as the health state knows it: (service name, address, the real's
/// port as in the service specs).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RealKey {
    pub service: String,
    pub ip: IpAddr,
    pub port: u16,
}

impl std::fmt::Display for RealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = crate::config::addr_port(self.ip, self.port);
        write!(f, "real {at} of {}", self.service)
    }
}

/// The reals of `cfg` that have a health check (the real's own, else its service's).
pub fn targets(cfg: &Config) -> Vec<Target> {
    cfg.services
        .iter()
        .flat_map(|s| {
            s.reals.iter().filter_map(move |r| {
                let check = r.health_check.as_ref().or(s.health_check.as_ref())?;
                Some(Target {
                    key: RealKey {
                        service: s.name.clone(),
                        ip: r.ip,
                        port: r.port.unwrap_or(s.port),
                    },
                    check: check.clone(),
                })
            })
        })
        .collect()
}

struct Tracked {
    state: RealState,
    rise: u32,
    fall: u32,
    /// The last failure's reason, for the down message when the streak completes.
    last: String,
}

pub struct Health {
    tracked: HashMap<RealKey, Tracked>,
    checker: Option<Checker>,
    epoch: u64,
}

impl Health {
    /// Starts checking the reals of `cfg` that have a health check (no thread when none has).
    pub fn start(cfg: &Config) -> Health {
        let mut h = Health {
            tracked: HashMap::new(),
            checker: None,
            epoch: 0,
        };
        h.reconfigure(cfg);
        h
    }

    /// Applies a reloaded config: reals that stay keep their state, new ones start fresh (up),
    /// removed ones (and reals whose service lost its check) are dropped.
    pub fn reconfigure(&mut self, cfg: &Config) {
        let targets = targets(cfg);
        self.retarget(&targets);
        match &self.checker {
            Some(c) => c.set_targets(targets, self.epoch),
            None if targets.is_empty() => {}
            None => match Checker::start(targets, self.epoch) {
                Ok(c) => self.checker = Some(c),
                Err(e) => tracing::error!("cannot start the health checker: {e}"),
            },
        }
    }

    /// The state part of `reconfigure` (no threads): a new epoch and the tracked reals.
    fn retarget(&mut self, targets: &[Target]) {
        self.epoch += 1;
        let mut old = std::mem::take(&mut self.tracked);
        for t in targets {
            let mut tr = old.remove(&t.key).unwrap_or(Tracked {
                state: RealState::new(),
                rise: 0,
                fall: 0,
                last: String::new(),
            });
            tr.rise = t.check.rise;
            tr.fall = t.check.fall;
            self.tracked.insert(t.key.clone(), tr);
        }
        for (k, tr) in old {
            if !tr.state.is_up() {
                tracing::info!("{k} is no longer health checked (removed from the config)");
            }
        }
    }

    /// Takes the finished checks; true when a real's availability changed.
    pub fn poll(&mut self) -> bool {
        let mut changed = false;
        while let Some(o) = self.checker.as_ref().and_then(|c| c.try_result()) {
            changed |= self.record(o);
        }
        changed
    }

    /// Counts one check result; true on a state change.
    pub fn record(&mut self, o: Outcome) -> bool {
        if o.epoch != self.epoch {
            return false;
        }
        let Some(tr) = self.tracked.get_mut(&o.key) else {
            return false;
        };
        let ok = o.result.is_ok();
        match &o.result {
            Ok(d) => tracing::trace!("{} check ok in {:?}: {d}", o.key, o.took),
            Err(e) => {
                tracing::debug!("{} check failed in {:?}: {e}", o.key, o.took);
                tr.last.clone_from(e);
            }
        }
        match tr.state.record(ok, tr.rise, tr.fall) {
            Some(Change::Down) => {
                let n = tr.fall;
                tracing::info!(
                    "{} down: {} after {n} failure{}",
                    o.key,
                    tr.last,
                    if n == 1 { "" } else { "s" }
                );
                true
            }
            Some(Change::Up) => {
                let n = tr.rise;
                tracing::info!(
                    "{} up: {} after {n} success{}",
                    o.key,
                    o.result.as_deref().unwrap_or(""),
                    if n == 1 { "" } else { "es" }
                );
                true
            }
            None => false,
        }
    }

    /// The reals that are down now.
    pub fn down(&self) -> HashSet<RealKey> {
        self.tracked
            .iter()
            .filter(|(_, t)| !t.state.is_up())
            .map(|(k, _)| k.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg(extra: &str) -> Config {
        let base = crate::config::nat_yaml_unchecked();
        let text = base.replacen(
            "    scheduler: wrr",
            &format!("    scheduler: wrr\n{extra}"),
            1,
        );
        crate::config::load_str(&text).expect("config")
    }

    fn key(ip: &str) -> RealKey {
        RealKey {
            service: "web".into(),
            ip: ip.parse().unwrap(),
            port: 80,
        }
    }

    fn outcome(h: &Health, ip: &str, ok: bool) -> Outcome {
        Outcome {
            key: key(ip),
            epoch: h.epoch,
            result: if ok {
                Ok("http status 200".into())
            } else {
                Err("connection refused".into())
            },
            took: Duration::ZERO,
        }
    }

    /// A Health with the config's targets but no checker threads (results are fed by hand).
    fn offline(c: &Config) -> Health {
        let mut h = Health {
            tracked: HashMap::new(),
            checker: None,
            epoch: 0,
        };
        h.retarget(&targets(c));
        h
    }

    const HC: &str =
        "    health_check: {type: tcp, interval: 1s, timeout: 500ms, rise: 2, fall: 2}";

    #[test]
    fn targets_come_from_the_service_or_the_real() {
        let c = cfg(HC);
        let t = targets(&c);
        assert_eq!(t.len(), 2, "only web has a check: {t:?}");
        assert_eq!(t[0].key, key("198.19.0.11"));
        assert!(targets(&cfg("")).is_empty());
        let text = crate::config::nat_yaml_unchecked().replacen(
            "{ip: 198.19.0.12}",
            "{ip: 198.19.0.12, health_check: {type: command, command: 'true'}}",
            1,
        );
        let t = targets(&crate::config::load_str(&text).unwrap());
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].key.service, "echo");
        assert_eq!(t[0].key.port, 7);
    }

    #[test]
    fn results_drive_the_down_set_and_stale_epochs_are_ignored() {
        let c = cfg(HC);
        let mut h = offline(&c);
        assert!(h.down().is_empty(), "reals start up");
        let o = outcome(&h, "198.19.0.12", false);
        assert!(!h.record(o.clone()));
        assert!(h.record(o), "second failure with fall 2");
        assert_eq!(h.down(), HashSet::from([key("198.19.0.12")]));
        let mut stale = outcome(&h, "198.19.0.12", true);
        stale.epoch = 0;
        assert!(!h.record(stale.clone()));
        assert!(!h.record(stale));
        assert_eq!(h.down().len(), 1);
        assert!(!h.record(outcome(&h, "198.19.0.12", true)));
        assert!(h.record(outcome(&h, "198.19.0.12", true)));
        assert!(h.down().is_empty());
    }

    #[test]
    fn reconfigure_keeps_staying_reals_and_drops_removed_ones() {
        let c = cfg(HC);
        let mut h = offline(&c);
        for _ in 0..2 {
            h.record(outcome(&h, "198.19.0.12", false));
            h.record(outcome(&h, "198.19.0.11", false));
        }
        assert_eq!(h.down().len(), 2);
        // .11 is replaced by .13; .12 stays (and stays down); .13 starts up.
        let text = crate::config::nat_yaml_unchecked()
            .replacen(
                "    scheduler: wrr",
                &format!("    scheduler: wrr\n{HC}"),
                1,
            )
            .replacen(
                "{ip: 198.19.0.11, weight: 1}",
                "{ip: 198.19.0.13, weight: 1}",
                1,
            );
        let c2 = crate::config::load_str(&text).unwrap();
        h.retarget(&targets(&c2));
        assert_eq!(h.down(), HashSet::from([key("198.19.0.12")]));
        assert!(h.tracked.contains_key(&key("198.19.0.13")));
        assert!(!h.tracked.contains_key(&key("198.19.0.11")));
        // A config without checks drops them all: every real available again.
        h.retarget(&targets(&cfg("")));
        assert!(h.down().is_empty());
        assert!(h.tracked.is_empty());
    }
}
