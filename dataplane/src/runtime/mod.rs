//! Bringing the appliance up and down, in a fixed order (DPVS-style explicit init/teardown):
//! log bridge -> EAL -> mbuf pool -> ports configured -> workers launched, each setting up its
//! state and then waiting at the start gate -> ports started -> gate opened (every worker polls
//! before the first packet can arrive); then the management loop on the main lcore until a stop
//! signal (or, in replay, until the inputs are drained: drain.rs); then workers joined ->
//! management thread stopped -> counters, with what is left in rings counted as dropped at stop
//! -> ports closed -> pool -> EAL.

mod drain;
mod l2;
mod lb;
pub mod mbufs;
pub use lb::conn_timeouts;

use crate::config::{Config, Mode};
use crate::dpdk::port::PortSetup;
use crate::dpdk::{lcore, Eal, EalOptions, Mempool, Port, PortStats};
use crate::tunables::{MEMPOOL_CACHE, MGMT_TICK};
use crate::worker::counters::Family;
use crate::worker::gate::StartGate;
use crate::worker::l2fwd::{self, MacRewrite};
use crate::worker::{WorkerCounters, WorkerTotals};
use anyhow::{bail, Context, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Final counters, printed on shutdown.
#[derive(Debug, Default)]
pub struct Summary {
    pub ports: Vec<(String, String, PortStats)>,
    pub workers: Vec<(u32, WorkerTotals)>,
    /// The management thread's own counters (mode lb).
    pub mgmt: Option<crate::mgmt::MgmtCounters>,
}

impl std::fmt::Display for Summary {
    /// One line per port, per worker and for the management thread, each `name value, ...` with
    /// the names declared in dpdk/port.rs, worker/counters.rs and mgmt/counters.rs. A worker
    /// line shows its packet counts always and every other counter when it is not 0.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, dev, s) in &self.ports {
            write!(f, "port {name} ({dev}):")?;
            for (n, d) in PortStats::DECLARED.iter().enumerate() {
                let sep = if n == 0 { " " } else { ", " };
                write!(f, "{sep}{} {}", d.name, (d.get)(s))?;
            }
            writeln!(f)?;
        }
        for (i, (lc, w)) in self.workers.iter().enumerate() {
            write!(f, "worker {i} (lcore {lc}):")?;
            let shown = w
                .iter()
                .filter(|&(c, v)| v != 0 || matches!(c.family(), Family::Packets(_)));
            for (n, (c, v)) in shown.enumerate() {
                let sep = if n == 0 { " " } else { ", " };
                write!(f, "{sep}{} {v}", c.name())?;
            }
            writeln!(f)?;
        }
        if let Some(m) = &self.mgmt {
            write!(f, "management:")?;
            // Sync's counters only when sync did something (most runs have no sync).
            let shown = m
                .iter()
                .filter(|&(name, v)| v != 0 || !name.starts_with("sync_"));
            for (n, (name, v)) in shown.enumerate() {
                let sep = if n == 0 { " " } else { ", " };
                write!(f, "{sep}{name} {v}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// When the appliance stops.
pub enum Until {
    /// When the flag is set (SIGINT/SIGTERM).
    Signal {
        /// SIGINT: stop at once.
        stop: Arc<AtomicBool>,
        /// SIGTERM: drain first when `bgp` is configured, else stop at once (mgmt/drain.rs).
        terminate: Arc<AtomicBool>,
        /// Set by SIGHUP: re-read `config` and apply what changed (mode lb).
        reload: Arc<AtomicBool>,
        config: std::path::PathBuf,
        /// The EAL file prefix DPDK's tools attach with (eal.file_prefix or --file-prefix).
        file_prefix: String,
    },
    /// Replay: when the ports have received `expected_rx` packets in all and the workers have
    /// gone quiet; an error if that takes longer than `limit`.
    Drained { expected_rx: u64, limit: Duration },
}

/// Runs the appliance until `until` says stop; returns the final counters.
pub fn run(cfg: &Config, until: Until) -> Result<Summary> {
    crate::dpdk::log::install();
    let lcores = crate::config::parse_lcores(&cfg.eal.lcores).map_err(anyhow::Error::msg)?;
    // Before the EAL: a pool too small for what may be held at once is a config error.
    mbufs::MbufHolders::pool(cfg).map_err(anyhow::Error::msg)?;
    let eal = Eal::init(&EalOptions {
        lcores: cfg.eal.lcores.clone(),
        main_lcore: cfg.eal.main_lcore.unwrap_or(lcores[0]),
        memory_mb: cfg.eal.memory_mb,
        hugepages: cfg.eal.hugepages,
        huge_dir: cfg.eal.huge_dir.clone(),
        pci: cfg
            .ports
            .iter()
            .filter(|p| crate::dpdk::port::is_pci(&p.device))
            .map(|p| p.device.clone())
            .collect(),
        log_level: crate::dpdk::log::eal_level(&cfg.log).into(),
        extra: cfg.eal.extra_args.clone(),
        // Replay stays private: it is a batch job, not something to attach to.
        file_prefix: match &until {
            Until::Signal { file_prefix, .. } => Some(file_prefix.clone()),
            Until::Drained { .. } => None,
        },
    })?;
    let summary = run_with_eal(cfg, &until);
    drop(eal);
    summary
}

fn run_with_eal(cfg: &Config, until: &Until) -> Result<Summary> {
    let stop = Arc::new(AtomicBool::new(false));
    let replay = matches!(until, Until::Drained { .. });
    if replay {
        crate::dpdk::dynfield::register_rx_timestamp()?;
    }
    let nworkers = cfg.workers.cores.len() as u16;
    let pool = Arc::new(Mempool::new(
        "pkt",
        mbufs::MbufHolders::pool(cfg).map_err(anyhow::Error::msg)?,
        MEMPOOL_CACHE,
    )?);
    let mut ports = Vec::with_capacity(cfg.ports.len());
    for (i, p) in cfg.ports.iter().enumerate() {
        // Configured, not started: the ports start once every worker is ready to poll.
        let port = Port::open_stopped(PortSetup {
            name: &p.name,
            device: &p.device,
            queues: nworkers,
            rx_desc: p.rx_desc,
            tx_desc: p.tx_desc,
            promiscuous: p.promiscuous,
            rx_timestamp: replay,
            mac: p.mac.map(|m| m.0),
            pool: pool.clone(),
        })
        .with_context(|| format!("ports[{i}].device"))?;
        ports.push(port);
    }

    let counters: Arc<Vec<WorkerCounters>> =
        Arc::new((0..nworkers).map(|_| WorkerCounters::default()).collect());
    let gate = Arc::new(StartGate::default());
    // What each worker runs, and what the management thread does while they run.
    type Job = Box<dyn FnOnce() -> i32 + Send>;
    let mut jobs: Vec<Job> = Vec::new();
    let mut mgmt: Option<crate::mgmt::Mgmt> = None;
    let mut rings = Vec::new();
    match cfg.mode {
        Mode::L2fwd => {
            let rewrite =
                MacRewrite::parse(cfg.l2fwd.as_ref().map(|l| l.mac.as_str()).unwrap_or("none"))
                    .map_err(anyhow::Error::msg)?;
            let burst = usize::from(cfg.workers.burst);
            let backoff = cfg.workers.idle_backoff;
            for (w, paths) in l2::l2_plans(cfg, &ports)?.into_iter().enumerate() {
                let (c, s, g) = (counters.clone(), stop.clone(), gate.clone());
                jobs.push(Box::new(move || {
                    l2fwd::run(&paths, rewrite, burst, backoff, &c[w], &s, &g);
                    g.leave();
                    0
                }));
            }
        }
        Mode::Lb => {
            let config_path = match until {
                Until::Signal { config, .. } => Some(config.clone()),
                Until::Drained { .. } => None,
            };
            let (workers, m, watched) = lb::start(
                cfg,
                &ports,
                pool.clone(),
                replay,
                counters.clone(),
                config_path,
            )?;
            for (w, worker) in workers.into_iter().enumerate() {
                let (c, s, g) = (counters.clone(), stop.clone(), gate.clone());
                jobs.push(Box::new(move || {
                    let rc = worker.run(&c[w], &s, &g);
                    g.leave();
                    rc
                }));
            }
            mgmt = Some(m);
            rings = watched;
        }
    }
    let mut launched = Vec::new();
    let mut launch_err = None;
    for (w, (&lc, job)) in cfg.workers.cores.iter().zip(jobs).enumerate() {
        tracing::info!(worker = w, lcore = lc, "worker starting");
        match lcore::launch(lc, job) {
            Ok(()) => launched.push(lc),
            Err(e) => {
                launch_err = Some(e);
                break;
            }
        }
    }
    if launch_err.is_none() {
        launch_err = start_ports(&mut ports, &gate, launched.len()).err();
    }
    let mut watch = match until {
        Until::Signal { config, .. } if cfg.control.watch_config => {
            Some(crate::mgmt::watch::ConfigWatch::new(config.clone()))
        }
        _ => None,
    };
    let waited = match launch_err {
        Some(_) => Ok(()),
        None => wait(until, &ports, &counters, &rings, &mut || {
            let Some(m) = mgmt.as_mut() else {
                // l2fwd: SIGTERM stops at once, as SIGINT does.
                if let Until::Signal {
                    stop, terminate, ..
                } = until
                {
                    if terminate.load(Ordering::Relaxed) {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                return crate::mgmt::MgmtCounters::default();
            };
            if let Until::Signal {
                stop, terminate, ..
            } = until
            {
                m.follow_signals(stop, terminate);
            }
            if let Until::Signal { reload, config, .. } = until {
                let file_changed = watch.as_mut().is_some_and(|w| w.changed());
                if reload.swap(false, Ordering::Relaxed) || file_changed {
                    // Logged either way; nobody waits for the answer.
                    let _ = m.reload(config);
                }
            }
            m.tick();
            m.counters
        }),
    };
    if let Some(m) = mgmt.as_mut() {
        // The withdraw first (docs/bgp.md), while the workers still forward.
        m.stop_bgp();
        m.stop_ha();
    }
    stop.store(true, Ordering::SeqCst);
    for &lc in &launched {
        lcore::wait(lc);
    }
    // The management thread's own threads (control, metrics) read the ports: stop them first.
    // This also lets go of its ends of the rings, so what is left in them can be counted.
    let mgmt_counters = mgmt.as_ref().map(|m| m.counters);
    drop(mgmt);
    if let Some(e) = launch_err {
        return Err(e);
    }
    waited?;
    let mut summary = Summary {
        ports: ports
            .iter()
            .map(|p| (p.name().to_string(), p.device().to_string(), p.stats()))
            .collect(),
        workers: cfg
            .workers
            .cores
            .iter()
            .zip(counters.iter())
            .map(|(&lc, c)| (lc, c.snapshot()))
            .collect(),
        mgmt: mgmt_counters,
    };
    drain::free_at_stop(rings, &mut summary.workers);
    drop(ports);
    drop(pool);
    Ok(summary)
}

/// Start-up's last step: once every worker has set up and waits at the gate, the ports start
/// and the gate opens, so every worker is polling (or about to) when the first packet arrives.
fn start_ports(ports: &mut [Port], gate: &StartGate, workers: usize) -> Result<()> {
    gate.wait_ready(workers, crate::worker::gate::READY_LIMIT)
        .map_err(anyhow::Error::msg)?;
    for port in ports.iter_mut() {
        port.start()?;
        let q = port.queues();
        let (up, speed) = port.link();
        tracing::info!(
            port = %port.name(),
            device = %port.device(),
            driver = %port.driver(),
            queues = q.rx,
            rss = q.rss,
            link = if up { "up" } else { "down" },
            speed_mbps = speed,
            "port started"
        );
    }
    gate.open();
    tracing::info!(workers, "workers polling");
    Ok(())
}

/// The management thread's wait: for the signal, or for the replay inputs to drain. `tick` does
/// one round of management work and returns the management thread's counters.
fn wait(
    until: &Until,
    ports: &[Port],
    counters: &[WorkerCounters],
    rings: &[drain::WatchedRing],
    tick: &mut dyn FnMut() -> crate::mgmt::MgmtCounters,
) -> Result<()> {
    match until {
        Until::Signal { stop: flag, .. } => {
            tracing::info!("running; SIGINT or SIGTERM stops");
            while !flag.load(Ordering::Relaxed) {
                tick();
                std::thread::sleep(MGMT_TICK);
            }
            tracing::info!("stopping");
            Ok(())
        }
        Until::Drained { expected_rx, limit } => {
            tracing::info!(packets = expected_rx, "replaying");
            let start = std::time::Instant::now();
            let mut drain = drain::Drain::new(*expected_rx, ports, counters, rings);
            loop {
                let mgmt = tick();
                if drain.check(mgmt) {
                    tracing::info!("inputs drained");
                    return Ok(());
                }
                if start.elapsed() > *limit {
                    bail!(
                        "replay: inputs not drained within {limit:?} ({})",
                        drain.waiting_for()
                    );
                }
                std::thread::sleep(MGMT_TICK);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::Counter;

    #[test]
    fn summary_names_counters_as_declared() {
        let mut w = WorkerTotals::default();
        w.add(Counter::Rx, 3);
        w.add(Counter::DropMalformed, 2);
        w.inc(Counter::HandoffRingFull);
        let s = Summary {
            ports: vec![(
                "ext".into(),
                "net_null0".into(),
                PortStats {
                    ipackets: 5,
                    rx_nombuf: 1,
                    ..Default::default()
                },
            )],
            workers: vec![(1, w)],
            mgmt: Some(crate::mgmt::MgmtCounters {
                garps: 2,
                ..Default::default()
            }),
        };
        assert_eq!(
            s.to_string(),
            "port ext (net_null0): rx_packets 5, tx_packets 0, rx_bytes 0, tx_bytes 0, rx_errors 0, tx_errors 0, rx_missed 0, rx_nombuf 1\n\
             worker 0 (lcore 1): rx 3, tx 0, handoff_ring_full 1, drop_malformed 2\n\
             management: to_kernel 0, from_kernel 0, kernel_dropped 0, arp_requests 0, garps 2, snapshots 0, vrrp_adverts_sent 0, vrrp_adverts_received 0, vrrp_send_errors 0, vrrp_drop_malformed 0, vrrp_drop_ttl 0, vrrp_drop_checksum 0, vrrp_drop_version 0, vrrp_drop_vrid 0, vrrp_transitions 0\n"
        );
    }
}
