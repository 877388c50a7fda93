//! VIP announcement through a BGP daemon beside the appliance (docs/bgp.md). The management
//! thread computes the wanted set (`wanted.rs`) and hands it to the announcer's own thread,
//! which diffs it against what the daemon holds and runs the daemon's CLI (`gobgp.rs`): a CLI
//! call is a process spawn and may wait on an absent daemon, so it never runs on the
//! management tick. Every `bgp.refresh` the thread reads the daemon's RIB and re-asserts the
//! wanted routes (a restarted daemon has none) and removes unwanted ones. On stop it withdraws
//! every VIP before returning.

pub mod gobgp;
pub mod metrics;
pub mod status;
pub mod wanted;

use crate::ctl::bgp::VipView;
use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender};
use gobgp::Cli;
use status::{BgpStatus, Routes};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wanted::Want;

/// After a failed call, the daemon is tried again this soon (or at `refresh`, if sooner).
const RETRY: Duration = Duration::from_secs(1);

/// What the announcer should make true.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub cli: Cli,
    pub refresh: Duration,
    pub wants: Vec<Want>,
}

enum Msg {
    Plan(Plan),
    /// Withdraw everything announced, answer, and end.
    Stop(Sender<()>),
}

/// The management thread's handle on the announcer's thread.
pub struct Announcer {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    last: Option<Plan>,
}

impl Announcer {
    pub fn start(status: Arc<BgpStatus>) -> std::io::Result<Announcer> {
        let (tx, rx) = channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("dp-bgp".into())
            .spawn(move || Worker::new(status).run(rx))?;
        Ok(Announcer {
            tx,
            thread: Some(thread),
            last: None,
        })
    }

    /// Hands `plan` to the thread when it differs from the last one handed.
    pub fn update(&mut self, plan: Plan) {
        if self.last.as_ref() == Some(&plan) {
            return;
        }
        self.last = Some(plan.clone());
        let _ = self.tx.send(Msg::Plan(plan));
    }

    /// Withdraws every announced VIP and ends the thread; waits at most `wait` for the
    /// withdraw (a daemon that does not answer must not hold the stop for ever).
    pub fn stop(&mut self, wait: Duration) {
        let Some(t) = self.thread.take() else {
            return;
        };
        let (ack, done) = channel::bounded(1);
        if self.tx.send(Msg::Stop(ack)).is_ok() && done.recv_timeout(wait).is_ok() {
            let _ = t.join();
        }
        // Else the thread is left to finish on its own (the process is ending).
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(2));
    }
}

/// The announcer's thread.
struct Worker {
    status: Arc<BgpStatus>,
    plan: Option<Plan>,
    /// VIP -> next hop of the routes this node put in the daemon (as far as it knows).
    announced: BTreeMap<Ipv4Addr, Ipv4Addr>,
    /// `announced` matches the daemon's RIB as last read (false until a RIB read succeeds,
    /// and again after a failed call).
    synced: bool,
    next_refresh: Instant,
    reachable: Option<bool>,
    last_error: Option<String>,
    errors: u64,
}

impl Worker {
    fn new(status: Arc<BgpStatus>) -> Worker {
        Worker {
            status,
            plan: None,
            announced: BTreeMap::new(),
            synced: false,
            next_refresh: Instant::now(),
            reachable: None,
            last_error: None,
            errors: 0,
        }
    }

    fn run(mut self, rx: Receiver<Msg>) {
        loop {
            let wait = match self.plan {
                Some(_) => self.next_refresh.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            match rx.recv_timeout(wait) {
                Ok(Msg::Plan(p)) => {
                    self.plan = Some(p);
                    if self.synced {
                        self.apply();
                    } else {
                        self.refresh();
                    }
                }
                Ok(Msg::Stop(ack)) => {
                    self.withdraw_all();
                    let _ = ack.send(());
                    return;
                }
                Err(RecvTimeoutError::Timeout) => self.refresh(),
                Err(RecvTimeoutError::Disconnected) => {
                    self.withdraw_all();
                    return;
                }
            }
            self.publish();
        }
    }

    /// Reads the daemon's RIB, takes it as the truth about our VIPs, then applies the plan.
    fn refresh(&mut self) {
        let Some(plan) = self.plan.as_ref() else {
            return;
        };
        self.next_refresh = Instant::now() + plan.refresh;
        let rib = match plan.cli.rib() {
            Ok(r) => r,
            Err(e) => return self.failed(e),
        };
        self.reachable = Some(true);
        // Ours: the plan's VIPs, and those announced before that the plan no longer has.
        let ours = |vip: &Ipv4Addr| {
            plan.wants.iter().any(|w| w.vip == *vip) || self.announced.contains_key(vip)
        };
        let held: BTreeMap<Ipv4Addr, Ipv4Addr> =
            rib.into_iter().filter(|(vip, _)| ours(vip)).collect();
        let lost = plan
            .wants
            .iter()
            .filter(|w| w.announce && self.announced.contains_key(&w.vip))
            .filter(|w| !held.contains_key(&w.vip))
            .count();
        if lost > 0 && self.synced {
            tracing::warn!(
                routes = lost,
                "BGP daemon lost announced routes (restarted?): announcing them again"
            );
        }
        self.announced = held;
        self.synced = true;
        self.apply();
    }

    /// Adds the wanted routes the daemon lacks and deletes the unwanted ones it has.
    fn apply(&mut self) {
        let Some(plan) = self.plan.clone() else {
            return;
        };
        for w in plan.wants.iter().filter(|w| w.announce) {
            if self.announced.get(&w.vip) == Some(&w.next_hop) {
                continue;
            }
            match plan.cli.add(w.vip, w.next_hop) {
                Ok(()) => {
                    tracing::info!(vip = %w.vip, next_hop = %w.next_hop, why = %w.reason, "BGP announce");
                    self.announced.insert(w.vip, w.next_hop);
                    self.reachable = Some(true);
                }
                Err(e) => return self.failed(e),
            }
        }
        let unwanted: Vec<(Ipv4Addr, Ipv4Addr)> = self
            .announced
            .iter()
            .filter(|(vip, _)| !plan.wants.iter().any(|w| w.vip == **vip && w.announce))
            .map(|(a, b)| (*a, *b))
            .collect();
        for (vip, nh) in unwanted {
            match plan.cli.del(vip, nh) {
                Ok(()) => {
                    let why = plan
                        .wants
                        .iter()
                        .find(|w| w.vip == vip)
                        .map_or("no longer a VIP", |w| w.reason.as_str());
                    tracing::info!(vip = %vip, why, "BGP withdraw");
                    self.announced.remove(&vip);
                    self.reachable = Some(true);
                }
                Err(e) => return self.failed(e),
            }
        }
    }

    /// Stopping: every VIP of the plan or announced is withdrawn (deleting an absent route is
    /// harmless), stopping at the first failure (an absent daemon would make each call wait).
    fn withdraw_all(&mut self) {
        let Some(plan) = self.plan.clone() else {
            return;
        };
        let mut all = self.announced.clone();
        for w in &plan.wants {
            all.entry(w.vip).or_insert(w.next_hop);
        }
        for (vip, nh) in all {
            match plan.cli.del(vip, nh) {
                Ok(()) => {
                    if self.announced.remove(&vip).is_some() {
                        tracing::info!(vip = %vip, why = "stopping", "BGP withdraw");
                    }
                }
                Err(e) => {
                    self.failed(e);
                    break;
                }
            }
        }
        self.publish();
    }

    fn failed(&mut self, e: String) {
        tracing::warn!("BGP: {e}");
        self.errors += 1;
        self.reachable = Some(false);
        self.last_error = Some(e);
        self.synced = false;
        let retry = self.plan.as_ref().map_or(RETRY, |p| p.refresh.min(RETRY));
        self.next_refresh = Instant::now() + retry;
    }

    fn publish(&self) {
        let Some(plan) = &self.plan else {
            return;
        };
        let vips = plan
            .wants
            .iter()
            .map(|w| VipView {
                vip: w.vip,
                wanted: w.announce,
                announced: self.announced.contains_key(&w.vip),
                reason: w.reason.clone(),
                next_hop: w.next_hop,
            })
            .collect();
        self.status.set_routes(Some(Routes {
            api: plan.cli.api.to_string(),
            daemon_reachable: self.reachable,
            last_error: self.last_error.clone(),
            cli_errors: self.errors,
            vips,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    /// A stand-in for the gobgp CLI: the RIB is a file of `PREFIX NEXTHOP` lines; every call
    /// is logged; a file `down` makes every call fail as an absent daemon does.
    fn fake_cli(dir: &Path) -> PathBuf {
        let d = dir.display();
        let script = format!(
            r#"#!/bin/sh
d={d}
[ -e $d/down ] && {{ echo '{{"error":"context deadline exceeded"}}'; exit 1; }}
shift 4
echo "$*" >> $d/calls
case "$3" in
  add) grep -v "^$6 " $d/rib > $d/rib.new; echo "$6 $8" >> $d/rib.new; mv $d/rib.new $d/rib ;;
  del) grep -v "^$6 " $d/rib > $d/rib.new; mv $d/rib.new $d/rib ;;
  -a) printf '{{'; sep=''
      while read p nh; do
        printf '%s"%s":[{{"best":true,"attrs":[{{"type":3,"nexthop":"%s"}}]}}]' "$sep" "$p" "$nh"
        sep=','
      done < $d/rib
      printf '}}\n' ;;
esac
"#
        );
        let path = dir.join("gobgp");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("rib"), "").unwrap();
        path
    }

    fn want(vip: &str, announce: bool) -> Want {
        Want {
            vip: vip.parse().unwrap(),
            announce,
            reason: if announce {
                "1 healthy real"
            } else {
                "draining"
            }
            .into(),
            next_hop: "198.18.0.1".parse().unwrap(),
        }
    }

    fn rib(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("rib")).unwrap()
    }

    fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{what}: not within 20 s");
    }

    #[test]
    fn routes_follow_the_plan_survive_a_daemon_restart_and_go_on_stop() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let cli = Cli {
            program: fake_cli(d),
            api: "127.0.0.1:50151".parse().unwrap(),
        };
        let status = Arc::new(BgpStatus::default());
        let mut a = Announcer::start(status.clone()).unwrap();
        let plan = |wants: Vec<Want>| Plan {
            cli: cli.clone(),
            refresh: Duration::from_millis(200),
            wants,
        };
        // A route of ours left by an earlier run, now unwanted, goes; another prefix stays.
        std::fs::write(
            d.join("rib"),
            "198.18.0.101/32 198.18.0.1\n203.0.113.0/24 198.18.0.1\n",
        )
        .unwrap();
        a.update(plan(vec![
            want("198.18.0.100", true),
            want("198.18.0.101", false),
        ]));
        wait_for("announced", || {
            rib(d) == "203.0.113.0/24 198.18.0.1\n198.18.0.100/32 198.18.0.1\n"
        });
        wait_for("published", || {
            let v = status.view();
            v.vips.len() == 2 && v.vips[0].announced && !v.vips[1].announced
        });
        let v = status.view();
        assert_eq!(v.daemon_reachable, Some(true));
        assert_eq!(v.cli_errors, 0);
        assert_eq!(v.api.as_deref(), Some("127.0.0.1:50151"));

        // Withdrawn when no longer wanted.
        a.update(plan(vec![
            want("198.18.0.100", false),
            want("198.18.0.101", false),
        ]));
        wait_for("withdrawn", || rib(d) == "203.0.113.0/24 198.18.0.1\n");

        // The daemon restarts with an empty RIB: the next refresh adds the route again.
        a.update(plan(vec![want("198.18.0.100", true)]));
        wait_for("announced again", || rib(d).contains("198.18.0.100/32"));
        std::fs::write(d.join("rib"), "").unwrap();
        wait_for("re-asserted", || rib(d) == "198.18.0.100/32 198.18.0.1\n");

        // An absent daemon: errors counted, the last one kept; back, and all is well again.
        std::fs::write(d.join("down"), "").unwrap();
        wait_for("errors counted", || status.view().cli_errors >= 2);
        let v = status.view();
        assert_eq!(v.daemon_reachable, Some(false));
        assert!(
            v.last_error.as_deref().is_some_and(
                |e| e.ends_with("exit status: 1: {\"error\":\"context deadline exceeded\"}")
            ),
            "{v:?}"
        );
        std::fs::write(d.join("rib"), "").unwrap();
        std::fs::remove_file(d.join("down")).unwrap();
        wait_for("reachable again", || {
            status.view().daemon_reachable == Some(true) && rib(d) == "198.18.0.100/32 198.18.0.1\n"
        });

        // Stop: withdrawn before stop returns.
        a.stop(Duration::from_secs(10));
        assert_eq!(rib(d), "");
        let calls = std::fs::read_to_string(d.join("calls")).unwrap();
        assert!(
            calls.ends_with("global rib del -a ipv4 198.18.0.100/32 nexthop 198.18.0.1\n"),
            "{calls}"
        );
    }
}
