//! The node's part in scale-out (docs/bgp.md): VIP announcement (the announcer of `bgp/`, fed
//! from here with the wanted set) and the graceful drain. A drain (`ctl drain`, or SIGTERM with
//! `bgp` configured) withdraws every VIP and keeps forwarding, new connections included (flows
//! still in flight from the router), until no connection is established or `drain.grace` runs
//! out; then the appliance stops. A second SIGTERM or SIGINT stops at once. On every graceful
//! stop the withdraw is the first thing done (`Mgmt::stop_bgp`).

use super::bgp::{status::BgpStatus, wanted, Announcer, Plan};
use super::Mgmt;
use crate::ctl::bgp::DrainView;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The wanted set is recomputed at most this often (and at once on a drain or stop).
const PLAN_INTERVAL: Duration = Duration::from_millis(100);
/// A graceful stop waits at most this long for the daemon to take the withdraws.
const STOP_WITHDRAW_WAIT: Duration = Duration::from_secs(5);

/// The announcer and the drain, owned by the management thread.
pub struct Node {
    /// Shared with `ctl bgp` and the metrics.
    pub status: Arc<BgpStatus>,
    /// Off in replay (no daemon, no signals).
    enabled: bool,
    announcer: Option<Announcer>,
    draining: Option<Draining>,
    stopping: bool,
    planned: Option<Instant>,
}

#[derive(Clone, Copy, Debug)]
struct Draining {
    started: Instant,
    grace: Duration,
}

impl Node {
    pub fn new(status: Arc<BgpStatus>, enabled: bool) -> Node {
        Node {
            status,
            enabled,
            announcer: None,
            draining: None,
            stopping: false,
            planned: None,
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.is_some()
    }
}

impl Default for Node {
    /// Off: replay and tests that build a `Mgmt` by hand.
    fn default() -> Self {
        Node::new(Arc::default(), false)
    }
}

impl Mgmt {
    /// Each tick: the drain's figures for `ctl bgp`, and (every `PLAN_INTERVAL`) the wanted
    /// set handed to the announcer, which is started or stopped as `bgp` comes and goes.
    pub fn node_tick(&mut self) {
        if !self.node.enabled {
            return;
        }
        self.publish_node();
        let due = self
            .node
            .planned
            .is_none_or(|t| t.elapsed() >= PLAN_INTERVAL);
        if due {
            self.node.planned = Some(Instant::now());
            self.plan_announcements();
        }
    }

    fn plan_announcements(&mut self) {
        let cfg = self.control_state.config();
        let Some(b) = cfg.bgp.clone() else {
            if let Some(mut a) = self.node.announcer.take() {
                tracing::info!("bgp section removed: withdrawing every VIP");
                a.stop(STOP_WITHDRAW_WAIT);
                self.node.status.set_routes(None);
            }
            return;
        };
        if self.node.announcer.is_none() {
            match Announcer::start(self.node.status.clone()) {
                Ok(a) => self.node.announcer = Some(a),
                Err(e) => {
                    tracing::error!("cannot start the BGP announcer thread: {e}");
                    return;
                }
            }
        }
        let state = wanted::NodeState {
            draining: self.node.draining.is_some(),
            stopping: self.node.stopping,
            vrrp_master: cfg
                .vrrp
                .as_ref()
                .map(|_| self.control_state.snapshot().ha.active),
        };
        let plan = Plan {
            cli: super::bgp::gobgp::Cli {
                program: b.cli.clone(),
                api: b.api,
            },
            refresh: Duration::from_millis(b.refresh.millis()),
            wants: wanted::wanted(cfg, &self.health.down(), state),
        };
        if let Some(a) = self.node.announcer.as_mut() {
            a.update(plan);
        }
    }

    /// `ctl drain` (no service): starts the node's drain.
    pub fn start_drain(&mut self, by: &str) -> Result<String, String> {
        if let Some(d) = self.node.draining {
            return Ok(format!(
                "already draining for {} ms",
                d.started.elapsed().as_millis()
            ));
        }
        let grace = self
            .control_state
            .config()
            .drain
            .clone()
            .unwrap_or_default()
            .grace;
        self.node.draining = Some(Draining {
            started: Instant::now(),
            grace: Duration::from_millis(grace.millis()),
        });
        let left = self.established();
        tracing::info!(
            by,
            grace_ms = grace.millis(),
            connections = left,
            "draining: VIPs withdrawn, forwarding until no connection is left or the grace ends"
        );
        // Withdraw now, not at the next plan interval.
        self.node.planned = None;
        self.node_tick();
        Ok(format!(
            "draining: VIPs withdrawn; stopping when no connection is left ({left} now) or \
             after {grace}"
        ))
    }

    /// Follows the stop signals of the running appliance: SIGTERM drains when `bgp` is
    /// configured (else stops at once, as SIGINT does); a second SIGTERM stops at once; a
    /// finished drain stops. Sets `stop` to end the management loop.
    pub fn follow_signals(&mut self, stop: &AtomicBool, terminate: &AtomicBool) {
        if terminate.swap(false, Ordering::Relaxed) {
            if self.node.draining.is_some() {
                tracing::info!("SIGTERM while draining: stopping at once");
                stop.store(true, Ordering::Relaxed);
            } else if self.control_state.config().bgp.is_some() && self.node.enabled {
                let _ = self.start_drain("SIGTERM");
            } else {
                stop.store(true, Ordering::Relaxed);
            }
        }
        if let Some(why) = self.drain_over() {
            tracing::info!(why, "drain over: stopping");
            stop.store(true, Ordering::Relaxed);
        }
    }

    /// Why the drain is over (None: not draining, or not over).
    fn drain_over(&self) -> Option<&'static str> {
        let d = self.node.draining?;
        if d.started.elapsed() >= d.grace {
            return Some("grace period over");
        }
        // Not before the daemon has taken the withdraws (the router may still send new
        // flows until it has the update).
        if self.node.status.any_announced() {
            return None;
        }
        (self.established() == 0).then_some("no connection left")
    }

    /// Established connections in every worker's table (IPVS's ActiveConn): closing ones
    /// (FIN_WAIT, TIME_WAIT, ...) do not hold the drain.
    fn established(&self) -> u64 {
        let snap = self.control_state.snapshot();
        self.real_stats
            .iter()
            .map(|rs| {
                snap.services
                    .services()
                    .iter()
                    .flat_map(|s| s.reals.iter())
                    .map(|r| rs.get(r.id).active)
                    .sum::<u64>()
            })
            .sum()
    }

    fn publish_node(&self) {
        let drain = self.node.draining.map(|d| DrainView {
            elapsed_ms: d.started.elapsed().as_millis() as u64,
            grace_ms: d.grace.as_millis() as u64,
            connections: self.established(),
        });
        self.node.status.set_node(drain, self.node.stopping);
    }

    /// A graceful stop's first step: every VIP withdrawn (waiting for the daemon, boundedly).
    pub fn stop_bgp(&mut self) {
        if !self.node.enabled {
            return;
        }
        self.node.stopping = true;
        self.publish_node();
        if self.node.announcer.is_none() {
            return;
        }
        self.plan_announcements();
        if let Some(mut a) = self.node.announcer.take() {
            a.stop(STOP_WITHDRAW_WAIT);
        }
    }
}
