//! The management thread's duties while the workers run (it is the main lcore's thread): the
//! exception path to the kernel, neighbour learning and resolution by ARP, health checks,
//! reloads and control commands, all applied to the control state (`control_state.rs`), which
//! publishes the snapshots. Called every millisecond from the runtime's wait loop; never blocks
//! on a worker.

pub mod bgp;
pub mod console;
pub mod control;
pub mod control_client;
pub mod control_state;
pub mod control_v6;
pub mod counters;
pub mod drain;
pub mod exception;
pub mod exception6;
pub mod health;
pub mod metrics;
pub mod nd;
pub mod neigh_cache;
pub mod neighbours;
pub mod sync;
pub mod vrrp;
pub mod watch;

use crate::dpdk::mbuf::Mbuf;
use crate::dpdk::{Burst, Consumer, Mempool, Port, Producer};
use crate::lb::neigh::NeighEvent;
use crate::lb::route::PortIdx;
use crate::tunables::{KERNEL_RING, MGMT_KERNEL_BURST, MGMT_TAP_BURST};

use crate::wire::Frame;
use crate::worker::meta::{self, Kind};
use control_state::ControlState;
use crossbeam::queue::ArrayQueue;
use health::Health;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

pub use counters::{MgmtCounters, PublishedMgmtCounters};

pub struct Mgmt {
    pub pool: Arc<Mempool>,
    /// Exception interface (net_tap port) per port index, when it has one.
    pub taps: Vec<Option<Port>>,
    pub to_kernel: Vec<Consumer>,
    pub to_worker0: Producer,
    pub events: Vec<Arc<ArrayQueue<NeighEvent>>>,
    /// The workers' IPv6 neighbour events (`nd.rs`).
    pub events6: Vec<Arc<ArrayQueue<NeighEvent<std::net::Ipv6Addr>>>>,
    /// Running config, services, health verdicts, neighbours; publishes the snapshots.
    pub control_state: ControlState,
    /// Health checks of the reals (their threads run beside this one, on its CPU).
    pub health: Health,
    pub counters: MgmtCounters,
    /// `counters` as the control and metrics threads see them (published every tick).
    pub shared_counters: Arc<PublishedMgmtCounters>,
    /// Each worker's published per-real figures and its connection-listing channel.
    pub real_stats: Vec<Arc<crate::worker::stats::RealStats>>,
    pub dumps: Vec<Arc<crate::worker::stats::ConnDump>>,
    /// Snapshots and scheduler sets the workers are done with: freed here, not on a worker.
    pub retired: Vec<Arc<ArrayQueue<crate::worker::engine::Retired>>>,
    /// The control socket's commands and its threads (control.rs); none in replay.
    pub control: Option<control::Inbox>,
    /// Connection sync (sync/): none when the config has no `sync` section, and in replay.
    pub sync: Option<sync::SyncNode>,
    /// VRRP (docs/ha.md), when configured.
    pub vrrp: Option<vrrp::Vrrp>,
    /// VIP announcement over BGP and the node's drain (drain.rs).
    pub node: drain::Node,
    /// Frames built here (ARP) or read from the kernel, waiting for worker 0.
    pending: Burst,
    scratch: Burst,
    started: Instant,
    garp_sent: bool,
    /// When (since `started`) the SYN cookie secret was last replaced.
    cookie_rotated: std::time::Duration,
}

impl Mgmt {
    pub fn new(
        pool: Arc<Mempool>,
        taps: Vec<Option<Port>>,
        to_kernel: Vec<Consumer>,
        to_worker0: Producer,
        events: Vec<Arc<ArrayQueue<NeighEvent>>>,
        control_state: ControlState,
    ) -> Mgmt {
        let health = Health::start(control_state.config());
        Mgmt {
            pool,
            taps,
            to_kernel,
            to_worker0,
            events,
            events6: Vec::new(),
            control_state,
            health,
            counters: MgmtCounters::default(),
            shared_counters: Arc::default(),
            real_stats: Vec::new(),
            dumps: Vec::new(),
            retired: Vec::new(),
            control: None,
            sync: None,
            vrrp: None,
            node: drain::Node::default(),
            pending: Burst::new(),
            scratch: Burst::new(),
            started: Instant::now(),
            garp_sent: false,
            cookie_rotated: std::time::Duration::ZERO,
        }
    }

    /// Reads the config file once and applies it (SIGHUP, `control.watch_config`, `ctl
    /// reload`). A file that fails to load or validate, or that changes a key that needs a
    /// restart, changes nothing: the refusal names the key and the reason, and the running
    /// config stays. The result is logged here and returned for `ctl reload`'s reply.
    pub fn reload(&mut self, path: &Path) -> Result<String, String> {
        let started = std::time::Instant::now();
        match self.control_state.reload(path) {
            Ok(a) => {
                // From reading the file to the snapshot's publication (workers take it on
                // their next loop: a pointer move).
                let ms = started.elapsed().as_secs_f64() * 1e3;
                tracing::info!(
                    services = a.services,
                    generation = a.generation,
                    ms = format_args!("{ms:.1}"),
                    "reload applied"
                );
                self.counters.snapshots += 1;
                // Reals that stay keep their health state (already applied); new ones start
                // up, removed ones are forgotten.
                self.health.reconfigure(self.control_state.config());
                self.control_state.set_health(self.health.down());
                Ok(format!(
                    "reloaded {}: {} services, generation {}",
                    path.display(),
                    a.services,
                    a.generation
                ))
            }
            Err(e) => {
                let e = format!("reload refused, running config kept: {e}");
                tracing::error!("{e}");
                Err(e)
            }
        }
    }

    /// One round of management work.
    pub fn tick(&mut self) {
        for q in &self.retired {
            while let Some(r) = q.pop() {
                drop(r);
            }
        }
        self.serve_control();
        self.kernel_in();
        self.kernel_out();
        self.learn();
        self.nd_tick();
        if let Some(v) = self.vrrp.as_mut() {
            if let Some(s) = &self.sync {
                v.follow_resync(s.own_resync());
            }
            let effects = v.poll(&mut self.counters);
            self.ha_effects(effects);
        }
        // With VRRP, gratuitous ARPs go out on becoming master, not at start.
        if !self.garp_sent && self.vrrp.is_none() {
            self.garp_sent = true;
            for (port, mac, vip) in self.control_state.garp_plan() {
                self.send_arp(port, |buf| {
                    crate::lb::forward::arp::build_gratuitous_arp(buf, mac, vip).ok()
                });
                self.counters.garps += 1;
            }
            self.announce_v6();
        }
        for (port, mac, our_ip, target) in
            self.control_state.arp_requests_due(self.started.elapsed())
        {
            self.send_arp(port, |buf| {
                crate::lb::forward::arp::build_arp_request(buf, mac, our_ip, target).ok()
            });
            self.counters.arp_requests += 1;
        }
        if self.health.poll() {
            self.control_state.set_health(self.health.down());
        }
        self.rotate_cookie_secret();
        match self.control_state.publish_changes() {
            Ok(true) => self.counters.snapshots += 1,
            Ok(false) => {}
            Err(e) => tracing::error!("cannot publish the new neighbour or health state: {e}"),
        }
        if let Some(s) = self.sync.as_mut() {
            s.tick(&self.control_state.snapshot(), &mut self.counters);
        }
        self.node_tick();
        self.flush_pending();
        self.shared_counters.publish(&self.counters);
    }

    /// Replaces the SYN cookie secret every `SYN_COOKIE_ROTATE` (the previous one stays valid
    /// for one more period, see lb/syncookie.rs).
    fn rotate_cookie_secret(&mut self) {
        let now = self.started.elapsed();
        if now < self.cookie_rotated + crate::tunables::SYN_COOKIE_ROTATE {
            return;
        }
        self.cookie_rotated = now;
        let key = crate::lb::syncookie::random_key();
        match self.control_state.rotate_cookie_secret(key) {
            Ok(()) => self.counters.snapshots += 1,
            Err(e) => tracing::error!("cannot publish the new SYN cookie secret: {e}"),
        }
    }

    /// Carries out what a VRRP round asked for: VIP ownership published to the workers, and
    /// gratuitous ARPs for the VIPs and floating addresses on becoming master.
    fn ha_effects(&mut self, effects: Vec<vrrp::Effect>) {
        for e in effects {
            match e {
                vrrp::Effect::Own(active) => match self.control_state.set_ha_active(active) {
                    Ok(true) => self.counters.snapshots += 1,
                    Ok(false) => {}
                    Err(err) => tracing::error!("cannot publish VIP ownership: {err}"),
                },
                vrrp::Effect::Announce => {
                    let snap = self.control_state.snapshot();
                    let plan = vrrp::announce_plan(&snap, self.control_state.garp_plan());
                    for (port, mac, ip) in plan {
                        self.send_arp(port, |buf| {
                            crate::lb::forward::arp::build_gratuitous_arp(buf, mac, ip).ok()
                        });
                        self.counters.garps += 1;
                    }
                    self.announce_v6();
                }
            }
        }
    }

    /// Stopping with VRRP: a master resigns (priority 0, so that the backup takes over at
    /// once) and gives up its VIPs; the advert is pushed out while the workers still run.
    pub fn stop_ha(&mut self) {
        let Some(v) = self.vrrp.as_mut() else {
            return;
        };
        let effects = v.shutdown(&mut self.counters);
        self.ha_effects(effects);
        for _ in 0..crate::tunables::VRRP_STOP_FLUSH_TICKS {
            self.kernel_out();
            self.flush_pending();
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self.shared_counters.publish(&self.counters);
    }

    /// Workers' packets for the kernel -> the port's tap: at most one ring's worth from each
    /// worker per tick, so a worker refilling its ring as fast as it is drained (a flood to the
    /// appliance's own address) cannot keep this thread from its other work.
    fn kernel_in(&mut self) {
        for ring in self.to_kernel.iter_mut() {
            let mut budget = KERNEL_RING as usize;
            while budget > 0 && ring.dequeue(&mut self.scratch, MGMT_KERNEL_BURST.min(budget)) > 0 {
                budget = budget.saturating_sub(self.scratch.len());
                for m in self.scratch.drain() {
                    let (_, port) = meta::decode(m.meta());
                    match self
                        .taps
                        .get(usize::from(port))
                        .and_then(|t| t.as_ref())
                        .and_then(|t| t.queue(0))
                    {
                        Some(q) => {
                            let mut one = Burst::new();
                            let _ = one.push(m);
                            let (sent, dropped) = one.tx(q);
                            self.counters.to_kernel += sent as u64;
                            self.counters.kernel_dropped += dropped as u64;
                        }
                        None => self.counters.kernel_dropped += 1,
                    }
                }
            }
        }
    }

    /// The kernel's output on each tap -> out of the matching port (through worker 0).
    fn kernel_out(&mut self) {
        for (i, tap) in self.taps.iter().enumerate() {
            let Some(q) = tap.as_ref().and_then(|t| t.queue(0)) else {
                continue;
            };
            while self.scratch.rx(q, MGMT_TAP_BURST) > 0 {
                for mut m in self.scratch.drain() {
                    m.set_meta(meta::encode(Kind::Transmit, i as PortIdx));
                    self.counters.from_kernel += 1;
                    if let Err(m) = self.pending.push(m) {
                        drop(m);
                        self.counters.kernel_dropped += 1;
                    }
                }
            }
        }
    }

    fn learn(&mut self) {
        for q in &self.events {
            while let Some(e) = q.pop() {
                self.control_state.neighbour_event(e);
            }
        }
    }

    fn send_arp(&mut self, port: PortIdx, build: impl FnOnce(&mut [u8]) -> Option<usize>) {
        let Some(mut m) = Mbuf::alloc(&self.pool) else {
            return;
        };
        let Some(buf) = m.append(60) else {
            return;
        };
        let Some(len) = build(buf) else {
            return;
        };
        if len < 60 {
            m.trim((60 - len) as u16);
        }
        m.set_meta(meta::encode(Kind::Transmit, port));
        let _ = self.pending.push(m);
    }

    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.to_worker0.enqueue(&mut self.pending);
        // What worker 0 cannot take now is dropped: the kernel and ARP retry.
        self.counters.kernel_dropped += self.pending.len() as u64;
        self.pending.clear();
    }
}
