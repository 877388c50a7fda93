//! The LB mode's share of start-up: exception interfaces, the first snapshot, the rings between
//! workers and the management thread, and one `LbWorker` per worker lcore.

use super::drain::WatchedRing;
use crate::config::{Config, Timeouts as CfgTimeouts};
use crate::dpdk::{Mempool, Port, Ring};
use crate::lb::conn::{ConnConfig, Timeouts};
use crate::lb::snapshot::PortInfo;
use crate::mgmt::control_state::ControlState;
use crate::mgmt::{exception, Mgmt};
use crate::tunables::RETIRE_QUEUE;
use crate::worker::engine::Retired;
use crate::worker::lb::{LbWorker, Outputs};
use crate::worker::stats::{ConnDump, RealStats};
use anyhow::Result;
use crossbeam::queue::ArrayQueue;
use std::hash::BuildHasher;
use std::sync::Arc;

use crate::tunables::{CONN_DUMP_QUEUE, KERNEL_RING, MAX_REALS, NEIGH_EVENT_QUEUE};

fn secs(d: crate::config::Dur) -> u32 {
    (d.millis() / 1000).clamp(1, u64::from(u32::MAX)) as u32
}

pub fn conn_timeouts(t: &CfgTimeouts) -> Timeouts {
    Timeouts {
        tcp_established: secs(t.tcp_established),
        tcp_syn_sent: secs(t.tcp_syn_sent),
        tcp_syn_recv: secs(t.tcp_syn_recv),
        tcp_fin_wait: secs(t.tcp_fin_wait),
        tcp_time_wait: secs(t.tcp_time_wait),
        tcp_close: secs(t.tcp_close),
        tcp_close_wait: secs(t.tcp_close_wait),
        tcp_last_ack: secs(t.tcp_last_ack),
        tcp_listen: secs(t.tcp_listen),
        tcp_synack: secs(t.tcp_synack),
        udp: secs(t.udp),
        icmp: secs(t.icmp),
        ..Timeouts::default()
    }
}

pub fn start(
    cfg: &Config,
    ports: &[Port],
    pool: Arc<Mempool>,
    replay: bool,
    counters: Arc<Vec<crate::worker::WorkerCounters>>,
    config_path: Option<std::path::PathBuf>,
) -> Result<(Vec<LbWorker>, Mgmt, Vec<WatchedRing>)> {
    crate::dpdk::dynfield::register_meta()?;
    let n = cfg.workers.cores.len();
    let mut taps = Vec::with_capacity(ports.len());
    for (i, (pc, port)) in cfg.ports.iter().zip(ports).enumerate() {
        taps.push(if replay {
            None
        } else {
            exception::open_tap(i, cfg, pc, port.mac(), pool.clone())?
        });
    }
    let infos: Vec<PortInfo> = cfg
        .ports
        .iter()
        .zip(ports)
        .zip(&taps)
        .map(|((pc, p), tap)| PortInfo {
            name: pc.name.clone(),
            dpdk_id: p.id(),
            mac: p.mac(),
            ip: pc.ip.map(|n| (n.addr, n.len)),
            mtu: 1500,
            exception: tap.is_some(),
        })
        .collect();
    let control_state = ControlState::new(cfg.clone(), infos, n).map_err(anyhow::Error::msg)?;
    let snapshot = control_state.published();

    // Rings: handoff[w][v] from worker w to worker v; worker -> management (kernel);
    // management -> worker 0 (frames to transmit). Each is also watched by the management
    // thread (replay's drain; what is left at stop is charged to the worker named here).
    let mut watched = Vec::new();
    let mut handoff_tx: Vec<Vec<Option<crate::dpdk::Producer>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut handoff_rx: Vec<Vec<crate::dpdk::Consumer>> = (0..n).map(|_| Vec::new()).collect();
    for (w, row) in handoff_tx.iter_mut().enumerate() {
        for (v, slot) in row.iter_mut().enumerate() {
            if w != v {
                let name = format!("ho{w}-{v}");
                let (p, c) = Ring::spsc(&name, super::mbufs::handoff_ring(n as u32))?;
                watched.push(WatchedRing::new(&name, &c, v));
                *slot = Some(p);
                handoff_rx[v].push(c);
            }
        }
    }
    let mut to_kernel_rx = Vec::new();
    let mut to_kernel_tx = Vec::new();
    for w in 0..n {
        let name = format!("tk{w}");
        let (p, c) = Ring::spsc(&name, KERNEL_RING)?;
        watched.push(WatchedRing::new(&name, &c, w));
        to_kernel_tx.push(p);
        to_kernel_rx.push(c);
    }
    let (to_worker0, from_mgmt) = Ring::spsc("fm", KERNEL_RING)?;
    watched.push(WatchedRing::new("fm", &from_mgmt, 0));
    let mut from_mgmt = Some(from_mgmt);
    let events: Vec<_> = (0..n)
        .map(|_| Arc::new(ArrayQueue::new(NEIGH_EVENT_QUEUE)))
        .collect();
    let retired: Vec<Arc<ArrayQueue<Retired>>> = (0..n)
        .map(|_| Arc::new(ArrayQueue::new(RETIRE_QUEUE)))
        .collect();

    let mut conn = ConnConfig::new(cfg.conn.max_per_core, MAX_REALS);
    conn.timeouts = conn_timeouts(&cfg.conn.timeouts);
    // A per-run random seed makes bucket collisions unpredictable (hash-flooding resistance).
    conn.hash_seed = std::collections::hash_map::RandomState::new().hash_one(std::process::id());

    let real_stats: Vec<Arc<RealStats>> = (0..n)
        .map(|_| Arc::new(RealStats::new(MAX_REALS as usize)))
        .collect();
    let dumps: Vec<Arc<ConnDump>> = (0..n)
        .map(|_| Arc::new(ConnDump::new(CONN_DUMP_QUEUE)))
        .collect();
    // Connection sync's queues (all empty without a `sync` section; none in replay).
    let sync_cfg = cfg.sync.as_ref().filter(|_| !replay);
    let (sync_queues, mut sync_ios) = crate::mgmt::sync::wire(sync_cfg, n);
    let mut workers = Vec::with_capacity(n);
    for (w, (handoff, (handoff_in, to_kernel))) in handoff_tx
        .into_iter()
        .zip(handoff_rx.into_iter().zip(to_kernel_tx))
        .enumerate()
    {
        let rx = ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.queue(w as u16).map(|q| (q, i as u16)))
            .collect();
        let tx_queue = ports.iter().map(|p| p.queue(w as u16)).collect();
        workers.push(LbWorker {
            id: w,
            n_workers: n,
            burst: usize::from(cfg.workers.burst),
            backoff: cfg.workers.idle_backoff,
            replay,
            rx,
            outputs: Outputs::new(tx_queue, handoff, to_kernel),
            handoff_in,
            from_mgmt: if w == 0 { from_mgmt.take() } else { None },
            conn,
            templates: cfg.conn.max_templates_per_core as usize,
            snapshot: snapshot.clone(),
            events: events[w].clone(),
            retire: retired[w].clone(),
            real_stats: real_stats[w].clone(),
            peer_stats: (0..n)
                .filter(|&v| v != w)
                .map(|v| real_stats[v].clone())
                .collect(),
            dump: dumps[w].clone(),
            sync: std::mem::take(&mut sync_ios[w]),
        });
    }
    let sync = if sync_cfg.is_some() {
        crate::mgmt::sync::SyncNode::start(cfg, sync_queues)?
    } else {
        None
    };
    // The control socket and metrics endpoint (not in replay: they would clash with a running
    // appliance's socket and port).
    let mgmt_counters = Arc::new(crate::mgmt::PublishedMgmtCounters::default());
    let ha_status = Arc::new(crate::mgmt::vrrp::status::HaStatus::default());
    let bgp_status = Arc::new(crate::mgmt::bgp::status::BgpStatus::default());
    let control = (!replay).then(|| {
        let sources = Arc::new(crate::mgmt::control::Sources {
            snapshot: snapshot.clone(),
            real_stats: real_stats.clone(),
            counters,
            mgmt: mgmt_counters.clone(),
            ports: ports
                .iter()
                .map(|p| (p.id(), p.name().to_string()))
                .collect(),
            sync: sync.as_ref().map(|s| s.status()),

            ha: ha_status.clone(),
            bgp: bgp_status.clone(),
        });
        let mut inbox = crate::mgmt::control::start(cfg, sources, dumps.clone());
        inbox.config = config_path;
        inbox
    });
    let mut mgmt = Mgmt::new(pool, taps, to_kernel_rx, to_worker0, events, control_state);
    mgmt.sync = sync;
    mgmt.real_stats = real_stats;
    mgmt.shared_counters = mgmt_counters;
    mgmt.dumps = dumps;
    mgmt.retired = retired;
    mgmt.control = control;
    // No announcing and no drain in replay (no daemon beside it, no signals).
    mgmt.node = crate::mgmt::drain::Node::new(bgp_status, !replay);
    // Not in replay: it has no exception interfaces to speak VRRP on, and owns its VIPs.
    if replay {
        if let Err(e) = mgmt.control_state.set_ha_active(true) {
            anyhow::bail!("replay: cannot publish VIP ownership: {e}");
        }
    } else {
        mgmt.vrrp = crate::mgmt::vrrp::Vrrp::from_config(cfg, ha_status);
    }
    Ok((workers, mgmt, watched))
}
