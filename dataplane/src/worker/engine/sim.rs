//! Engines in process, without EAL: a config (the same YAML and the same snapshot building
//! the binary uses; ports' MACs come from the config), one engine per worker over plain
//! buffers ([`VecFrame`]), and outputs that record what each port would send. Handoffs are
//! delivered between the engines as the rings would. The fixture suite, the property test and
//! the fuzz target drive the whole engine through it.

use super::Engine;
use super::Output;
use crate::config::{self, Config};
use crate::lb::conn::{ConnConfig, ConnTable};
use crate::lb::neigh::{MacBytes, NeighEvent, NeighTable};
use crate::lb::persist::PersistTable;
use crate::lb::published::Published;
use crate::lb::route::PortIdx;
use crate::lb::service::ServiceSpec;
use crate::lb::snapshot::{service_specs, PortInfo, Snapshot};
use crate::wire::{Frame, VecFrame};
use crate::worker::counters::{Counter, WorkerTotals};
use crate::worker::meta::{self, Kind};
use crate::worker::stats::RealTraffic;
use crossbeam::queue::ArrayQueue;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Retired snapshots a simulated worker may hold before the simulation frees them.
const RETIRE_QUEUE: usize = 4;
/// Real ids a simulated worker's load array holds.
const MAX_REALS: u32 = 1 << 10;

/// A config with a NAT, a DR, a TUN and a persistent service on two ports, for the property
/// test and the fuzz target.
pub const EXAMPLE_CONFIG: &str = r#"eal: {lcores: "0-2", memory_mb: 256, hugepages: off}
workers: {cores: [1, 2]}
mode: lb
ports:
  - {name: ext, device: net_null0, ip: 198.18.0.1/24, mac: "02:d0:00:00:00:01"}
  - {name: int, device: net_null1, ip: 198.19.0.1/24, mac: "02:d0:00:00:00:02"}
routes: [{prefix: 0.0.0.0/0, via: 198.18.0.254}]
neighbors:
  - {ip: 198.18.0.2, mac: "02:00:00:00:01:02"}
  - {ip: 198.18.0.254, mac: "02:00:00:00:01:fe"}
  - {ip: 198.19.0.11, mac: "02:00:00:00:02:11"}
conn: {max_per_core: 1024, timeouts: {udp: 300s}}
services:
  - {name: web, vip: 198.18.0.100, port: 80, scheduler: rr, forward: nat,
     reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]}
  - {name: dns, vip: 198.18.0.100, port: 53, protocol: udp, scheduler: wrr, forward: dr,
     reals: [{ip: 198.19.0.11, weight: 2}, {ip: 198.19.0.12}]}
  - {name: tun, vip: 198.18.0.101, port: 80, scheduler: wlc, forward: tun,
     reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]}
  - {name: sticky, vip: 198.18.0.102, port: 0, scheduler: rr, forward: nat,
     persistence: {timeout: 360s, netmask: 255.255.255.0},
     reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]}
"#;

/// What one simulated worker sent.
#[derive(Default)]
pub struct Recorder {
    /// Frames out of each port, in order.
    pub sent: Vec<(PortIdx, VecFrame)>,
    /// Frames for other workers (tagged), delivered by [`Sim::deliver`].
    pub handoffs: Vec<(usize, VecFrame)>,
    /// Frames for the kernel behind a port.
    pub kernel: Vec<(PortIdx, VecFrame)>,
    /// Room left in the TX queues, the handoff rings and the ring to the kernel (None:
    /// unbounded); a full one drops and counts as the DPDK outputs do (worker/lb/output.rs).
    pub room: Room,
    n_workers: usize,
    n_ports: usize,
}

/// Packets each simulated queue still takes (None: any number).
#[derive(Clone, Copy, Debug, Default)]
pub struct Room {
    pub tx: Option<usize>,
    pub handoff: Option<usize>,
    pub kernel: Option<usize>,
}

/// Takes one slot of `room`; false if none is left.
fn take(room: &mut Option<usize>) -> bool {
    match room {
        None => true,
        Some(0) => false,
        Some(n) => {
            *n -= 1;
            true
        }
    }
}

impl Output<VecFrame> for Recorder {
    fn transmit(&mut self, port: PortIdx, f: VecFrame, t: &mut WorkerTotals) {
        if usize::from(port) >= self.n_ports {
            return t.inc(Counter::DropBadPort);
        }
        if !take(&mut self.room.tx) {
            return t.inc(Counter::TxDropped);
        }
        t.inc(Counter::Tx);
        self.sent.push((port, f));
    }

    fn handoff(&mut self, w: usize, f: VecFrame, t: &mut WorkerTotals) {
        if w >= self.n_workers {
            return t.inc(Counter::DropNoHandoffRing);
        }
        t.inc(Counter::HandoffOut);
        if !take(&mut self.room.handoff) {
            return t.inc(Counter::HandoffRingFull);
        }
        self.handoffs.push((w, f));
    }

    fn kernel(&mut self, port: PortIdx, mut f: VecFrame, t: &mut WorkerTotals) {
        f.set_meta(meta::encode(Kind::Kernel, port));
        t.inc(Counter::ToKernel);
        if !take(&mut self.room.kernel) {
            return t.inc(Counter::ToKernelRingFull);
        }
        self.kernel.push((port, f));
    }
}

/// One simulated worker.
pub struct SimWorker {
    pub engine: Engine<VecFrame>,
    pub out: Recorder,
    pub totals: WorkerTotals,
}

/// Engines for every worker of a config, fed frame by frame.
pub struct Sim {
    cfg: Config,
    ports: Vec<PortInfo>,
    specs: Vec<ServiceSpec>,
    neighbours: BTreeMap<Ipv4Addr, MacBytes>,
    /// IPv6 neighbours learned (`learn6`) on top of the config's static ones.
    neighbours6: BTreeMap<std::net::Ipv6Addr, MacBytes>,
    generation: u64,
    /// The published snapshot the engines follow (as the management thread publishes it).
    published: Published,
    pub workers: Vec<SimWorker>,
    /// The clock (ms) every engine sees.
    pub now: u64,
}

/// The ports of a config as the workers see them: MACs from the config, MTU 1500, and an
/// exception interface when `exception`.
pub fn port_infos(cfg: &Config, exception: bool) -> Result<Vec<PortInfo>, String> {
    cfg.ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mac = p
                .mac
                .as_ref()
                .ok_or_else(|| format!("ports.{}.mac: needed to run without DPDK", p.name))?;
            Ok(PortInfo {
                name: p.name.clone(),
                dpdk_id: i as u16,
                mac: mac.0,
                ip: p.ip.map(|n| (n.addr, n.len)),
                mtu: 1500,
                exception,
            })
        })
        .collect()
}

/// The first snapshot of a config (static neighbours only, every real available), built the
/// way the binary builds it.
pub fn snapshot_from_yaml(yaml: &str, n_workers: usize) -> Result<Snapshot, String> {
    let cfg = config::load_str(yaml).map_err(|e| e.to_string())?;
    let ports = port_infos(&cfg, false)?;
    let specs = service_specs(&cfg, &|_, _, _| true);
    let neigh = NeighTable::from_entries(cfg.neighbors_v4().map(|(a, m)| (a, m.0)));
    Snapshot::build(1, &cfg, ports, neigh, &specs, None, n_workers)
}

impl Sim {
    /// Engines for `n_workers` workers of the config `yaml`; `exception`: whether ports have a
    /// kernel interface (the replay runs without).
    pub fn new(yaml: &str, n_workers: usize, exception: bool) -> Result<Sim, String> {
        let cfg = config::load_str(yaml).map_err(|e| e.to_string())?;
        let ports = port_infos(&cfg, exception)?;
        let specs = service_specs(&cfg, &|_, _, _| true);
        let neighbours: BTreeMap<_, _> = cfg.neighbors_v4().map(|(a, m)| (a, m.0)).collect();
        let snap = Snapshot::build(
            1,
            &cfg,
            ports.clone(),
            NeighTable::from_entries(neighbours.iter().map(|(a, m)| (*a, *m))),
            &specs,
            None,
            n_workers,
        )?;
        let published = Published::new(snap);
        let snap = published.load_full();
        let mut conn = ConnConfig::new(cfg.conn.max_per_core, MAX_REALS);
        conn.timeouts = crate::runtime::conn_timeouts(&cfg.conn.timeouts);
        let mut conn6 = ConnConfig::new(cfg.conn.max_per_core_v6, MAX_REALS);
        conn6.timeouts = conn.timeouts;
        let mut workers = Vec::with_capacity(n_workers);
        for id in 0..n_workers {
            let conns = ConnTable::new(&conn).map_err(|e| e.to_string())?;
            let mut engine = Engine::new(
                id,
                n_workers,
                snap.clone(),
                conns,
                PersistTable::with_capacity(cfg.conn.max_templates_per_core as usize),
                Arc::new(ArrayQueue::new(1024)),
                Arc::new(ArrayQueue::new(RETIRE_QUEUE)),
                RealTraffic::new(MAX_REALS as usize),
            );
            // The IPv6 path, as the DPDK worker starts it: only when a port has `ip6`.
            if snap.v6.enabled() {
                let conns6 = ConnTable::allocate(&conn6).map_err(|e| e.to_string())?;
                let events6 = Arc::new(ArrayQueue::new(1024));
                engine.v6 = Some(Box::new(super::V6State::new(id, &snap, conns6, events6)));
            }
            workers.push(SimWorker {
                engine,
                out: Recorder {
                    n_workers,
                    n_ports: ports.len(),
                    ..Recorder::default()
                },
                totals: WorkerTotals::default(),
            });
        }
        Ok(Sim {
            cfg,
            ports,
            specs,
            neighbours,
            neighbours6: BTreeMap::new(),
            generation: 1,
            published,
            workers,
            now: 0,
        })
    }

    /// The snapshot the engines follow (its SYN cookie secrets, its policies).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.published.load_full()
    }

    /// The index of the port named `name`.
    pub fn port(&self, name: &str) -> PortIdx {
        self.ports
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("no port {name}")) as PortIdx
    }

    /// `frame` arrives on `port` at worker `w` (its own RX queue), then one loop of every
    /// worker runs: handoffs delivered, parked packets retried, connections expired.
    pub fn rx(&mut self, w: usize, port: PortIdx, frame: &[u8]) {
        self.rx_frame(w, port, VecFrame::new(frame));
    }

    /// As [`Sim::rx`], for a frame built by the caller (its headroom, say).
    pub fn rx_frame(&mut self, w: usize, port: PortIdx, frame: VecFrame) {
        self.follow();
        let sw = &mut self.workers[w];
        sw.engine.now = self.now;
        sw.totals.inc(Counter::Rx);
        sw.engine.warm(std::iter::once(frame.data()));
        sw.engine
            .process_received(0, frame, port, &mut sw.out, &mut sw.totals);
        self.poll();
    }

    /// Every worker stops, as the DPDK worker does at the end of its loop.
    pub fn stop(&mut self) {
        for sw in &mut self.workers {
            sw.engine.stop(&mut sw.totals);
        }
    }

    /// `frame` is the kernel's output on `port`'s exception interface, which the management
    /// thread gives to worker 0; then one loop of every worker runs.
    pub fn from_kernel(&mut self, port: PortIdx, frame: &[u8]) {
        self.follow();
        let sw = &mut self.workers[0];
        sw.engine.now = self.now;
        sw.totals.inc(Counter::FromKernel);
        sw.engine
            .from_kernel(VecFrame::new(frame), port, &mut sw.out, &mut sw.totals);
        self.poll();
    }

    /// One loop iteration of every worker: handoffs delivered (until none are left), parked
    /// packets retried, connections expired.
    pub fn poll(&mut self) {
        self.deliver();
        for sw in &mut self.workers {
            sw.engine.now = self.now;
            if sw.engine.parked() > 0 {
                sw.engine.retry_pending(&mut sw.out, &mut sw.totals);
            }
            sw.engine.housekeep(&mut sw.totals);
        }
    }

    /// Every engine follows the published snapshot; what they retire is freed here, as the
    /// management thread does.
    fn follow(&mut self) {
        for sw in &mut self.workers {
            sw.engine.follow(&self.published);
            while let Some(r) = sw.engine.retire.pop() {
                drop(r);
            }
        }
    }

    /// Delivers every handoff to its worker, as the rings would, until none are left.
    pub fn deliver(&mut self) {
        loop {
            let mut moved = Vec::new();
            for sw in &mut self.workers {
                moved.append(&mut sw.out.handoffs);
            }
            if moved.is_empty() {
                return;
            }
            for (w, f) in moved {
                let sw = &mut self.workers[w];
                sw.engine.now = self.now;
                sw.totals.inc(Counter::HandoffIn);
                let (kind, port) = meta::decode(f.meta());
                sw.engine
                    .process(f, kind, port, &mut sw.out, &mut sw.totals);
            }
        }
    }

    /// A reload: `yaml` becomes the running config and its snapshot is published (ids kept,
    /// as the management thread's `apply_config`).
    pub fn reload(&mut self, yaml: &str) -> Result<(), String> {
        let cfg = config::load_str(yaml).map_err(|e| e.to_string())?;
        let specs = service_specs(&cfg, &|_, _, _| true);
        self.generation += 1;
        let prev = self.published.load_full();
        let snap = Snapshot::build(
            self.generation,
            &cfg,
            self.ports.clone(),
            NeighTable::from_entries(self.neighbours.iter().map(|(a, m)| (*a, *m))),
            &specs,
            Some(&prev),
            self.workers.len(),
        )?;
        self.cfg = cfg;
        self.specs = specs;
        self.publish(snap);
        Ok(())
    }

    /// The management thread learned `ip` at `mac`: a new snapshot, published (the engines
    /// follow it before their next packet).
    /// Publishes VIP ownership (VRRP master or not), as the management thread does.
    pub fn set_ha_active(&mut self, active: bool) -> Result<(), String> {
        self.generation += 1;
        let prev = self.published.load_full();
        let mut snap = Snapshot::build(
            self.generation,
            &self.cfg,
            self.ports.clone(),
            NeighTable::from_entries(self.neighbours.iter().map(|(a, m)| (*a, *m))),
            &self.specs,
            Some(&prev),
            self.workers.len(),
        )?;
        snap.ha.active = active;
        self.publish(snap);
        Ok(())
    }

    pub fn learn(&mut self, ip: Ipv4Addr, mac: MacBytes) -> Result<(), String> {
        self.neighbours.insert(ip, mac);
        self.generation += 1;
        let prev = self.published.load_full();
        let snap = Snapshot::build(
            self.generation,
            &self.cfg,
            self.ports.clone(),
            NeighTable::from_entries(self.neighbours.iter().map(|(a, m)| (*a, *m))),
            &self.specs,
            Some(&prev),
            self.workers.len(),
        )?;
        self.publish(snap);
        Ok(())
    }

    /// The management thread learned the IPv6 neighbour `ip` at `mac` (`mgmt/nd.rs`): a new
    /// snapshot, published.
    pub fn learn6(&mut self, ip: std::net::Ipv6Addr, mac: MacBytes) -> Result<(), String> {
        self.neighbours6.insert(ip, mac);
        self.generation += 1;
        let prev = self.published.load_full();
        let snap = Snapshot::build(
            self.generation,
            &self.cfg,
            self.ports.clone(),
            NeighTable::from_entries(self.neighbours.iter().map(|(a, m)| (*a, *m))),
            &self.specs,
            Some(&prev),
            self.workers.len(),
        )?;
        self.publish(snap);
        Ok(())
    }

    /// Publishes `snap` with the learned IPv6 neighbours added to its static ones, as the
    /// management thread's `ControlState::publish` does.
    fn publish(&mut self, mut snap: Snapshot) {
        if !self.neighbours6.is_empty() {
            let statics = snap.v6.neigh.iter();
            let learned = self.neighbours6.iter().map(|(a, m)| (*a, *m));
            snap.v6.neigh = learned.chain(statics).collect();
        }
        self.published.store(Arc::new(snap));
    }

    /// Everything sent out of `port` so far by any worker (taken: the next call starts empty).
    pub fn take_sent(&mut self, port: PortIdx) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        for sw in &mut self.workers {
            let (mine, rest): (Vec<_>, Vec<_>) =
                sw.out.sent.drain(..).partition(|(p, _)| *p == port);
            sw.out.sent = rest;
            frames.extend(mine.into_iter().map(|(_, f)| f.to_vec()));
        }
        frames
    }

    /// Frames given to the kernel so far (taken).
    pub fn take_kernel(&mut self) -> Vec<(PortIdx, Vec<u8>)> {
        let mut frames = Vec::new();
        for sw in &mut self.workers {
            frames.extend(sw.out.kernel.drain(..).map(|(p, f)| (p, f.to_vec())));
        }
        frames
    }

    /// Neighbour events the workers raised (taken).
    pub fn take_events(&mut self) -> Vec<NeighEvent> {
        let mut ev = Vec::new();
        for sw in &mut self.workers {
            while let Some(e) = sw.engine.events.pop() {
                ev.push(e);
            }
        }
        ev
    }

    /// IPv6 neighbour events the workers raised (taken).
    pub fn take_events6(&mut self) -> Vec<NeighEvent<std::net::Ipv6Addr>> {
        let mut ev = Vec::new();
        for sw in &mut self.workers {
            if let Some(v6) = &sw.engine.v6 {
                while let Some(e) = v6.events.pop() {
                    ev.push(e);
                }
            }
        }
        ev
    }

    /// The counter named `name`, summed over the workers.
    pub fn counter(&self, name: &str) -> u64 {
        let c = Counter::ALL
            .iter()
            .find(|c| c.name() == name)
            .unwrap_or_else(|| panic!("no counter {name}"));
        self.workers.iter().map(|w| w.totals.get(*c)).sum()
    }

    /// The counter named `name` of worker `w`.
    pub fn worker_counter(&self, w: usize, name: &str) -> u64 {
        let c = Counter::ALL
            .iter()
            .find(|c| c.name() == name)
            .unwrap_or_else(|| panic!("no counter {name}"));
        self.workers[w].totals.get(*c)
    }

    /// Every counter that is not zero, summed over the workers, by name.
    pub fn nonzero_counters(&self) -> BTreeMap<&'static str, u64> {
        Counter::ALL
            .iter()
            .map(|c| {
                (
                    c.name(),
                    self.workers.iter().map(|w| w.totals.get(*c)).sum(),
                )
            })
            .filter(|(_, v)| *v != 0)
            .collect()
    }
}
