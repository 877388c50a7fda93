//! The management thread's duties while the workers run (it is the main lcore's thread): the
//! exception path to the kernel, neighbour learning and resolution by ARP, and publishing new
//! snapshots. Called every millisecond from the runtime's wait loop; never blocks on a worker.

pub mod control;
pub mod exception;
pub mod health;
pub mod metrics;
pub mod neighbours;
pub mod watch;

use crate::dpdk::mbuf::Mbuf;
use crate::dpdk::{Burst, Consumer, Mempool, Port, Producer};
use crate::lb::neigh::NeighEvent;
use crate::lb::published::Published;
use crate::lb::route::PortIdx;
use crate::wire::Frame;
use crate::worker::meta::{self, Kind};
use crossbeam::queue::ArrayQueue;
use health::Health;
use neighbours::Neighbours;
use std::sync::Arc;
use std::time::Instant;

/// Counters of the management thread's own traffic.
#[derive(Clone, Copy, Debug, Default)]
pub struct MgmtCounters {
    pub to_kernel: u64,
    pub from_kernel: u64,
    pub kernel_dropped: u64,
    pub arp_requests: u64,
    pub garps: u64,
    pub snapshots: u64,
}

pub struct Mgmt {
    pub pool: Arc<Mempool>,
    /// Exception interface (net_tap port) per port index, when it has one.
    pub taps: Vec<Option<Port>>,
    pub to_kernel: Vec<Consumer>,
    pub to_worker0: Producer,
    pub events: Vec<Arc<ArrayQueue<NeighEvent>>>,
    pub snapshot: Arc<Published>,
    pub neighbours: Neighbours,
    /// Health checks of the reals (their threads run beside this one, on its CPU).
    pub health: Health,
    pub counters: MgmtCounters,
    /// Each worker's published per-real figures and its connection-listing channel.
    pub real_stats: Vec<Arc<crate::worker::stats::RealStats>>,
    pub dumps: Vec<Arc<crate::worker::stats::ConnDump>>,
    /// Snapshots and scheduler sets the workers are done with: freed here, not on a worker.
    pub retired: Vec<Arc<ArrayQueue<crate::worker::engine::Retired>>>,
    /// The control socket's commands and its threads (control.rs); none in replay.
    pub control: Option<control::Inbox>,
    /// Frames built here (ARP) or read from the kernel, waiting for worker 0.
    pending: Burst,
    scratch: Burst,
    started: Instant,
    garp_sent: bool,
}

impl Mgmt {
    pub fn new(
        pool: Arc<Mempool>,
        taps: Vec<Option<Port>>,
        to_kernel: Vec<Consumer>,
        to_worker0: Producer,
        events: Vec<Arc<ArrayQueue<NeighEvent>>>,
        snapshot: Arc<Published>,
        neighbours: Neighbours,
    ) -> Mgmt {
        let health = Health::start(neighbours.config());
        Mgmt {
            pool,
            taps,
            to_kernel,
            to_worker0,
            events,
            snapshot,
            neighbours,
            health,
            counters: MgmtCounters::default(),
            real_stats: Vec::new(),
            dumps: Vec::new(),
            retired: Vec::new(),
            control: None,
            pending: Burst::new(),
            scratch: Burst::new(),
            started: Instant::now(),
            garp_sent: false,
        }
    }

    /// Re-reads the config file and applies its services (SIGHUP). A config that fails
    /// validation, or that changes what needs a restart (EAL, workers, ports, routes, mode,
    /// conn), changes nothing and says why; the running config stays.
    pub fn reload(&mut self, path: &std::path::Path) {
        let new = match crate::config::load_file(path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    "reload refused, running config kept: {}: {e}",
                    path.display()
                );
                return;
            }
        };
        let snap = self.snapshot.load_full();
        match self.neighbours.apply_config(new, &snap) {
            Ok(next) => {
                tracing::info!(services = next.services.services().len(), "reload applied");
                self.snapshot.store(Arc::new(next));
                self.counters.snapshots += 1;
                // Reals that stay keep their health state (already applied above); new ones
                // start up, removed ones are forgotten.
                self.health.reconfigure(self.neighbours.config());
                self.neighbours.set_down(self.health.down());
            }
            Err(e) => tracing::error!("reload refused, running config kept: {e}"),
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
        let snap = self.snapshot.load_full();
        if !self.garp_sent {
            self.garp_sent = true;
            for (port, mac, vip) in self.neighbours.garp_plan(&snap) {
                self.send_arp(port, |buf| {
                    crate::lb::forward::arp::build_gratuitous_arp(buf, mac, vip).ok()
                });
                self.counters.garps += 1;
            }
        }
        for (port, mac, our_ip, target) in
            self.neighbours.due_requests(&snap, self.started.elapsed())
        {
            self.send_arp(port, |buf| {
                crate::lb::forward::arp::build_arp_request(buf, mac, our_ip, target).ok()
            });
            self.counters.arp_requests += 1;
        }
        if self.health.poll() {
            self.neighbours.set_down(self.health.down());
        }
        if self.neighbours.take_dirty() {
            match self.neighbours.republish(&snap) {
                Ok(next) => {
                    self.snapshot.store(Arc::new(next));
                    self.counters.snapshots += 1;
                }
                Err(e) => tracing::error!("cannot publish the new neighbour table: {e}"),
            }
        }
        self.flush_pending();
    }

    /// Workers' packets for the kernel -> the port's tap.
    fn kernel_in(&mut self) {
        for ring in self.to_kernel.iter_mut() {
            while ring.dequeue(&mut self.scratch, 64) > 0 {
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
            while self.scratch.rx(q, 32) > 0 {
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
                self.neighbours.event(e);
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
