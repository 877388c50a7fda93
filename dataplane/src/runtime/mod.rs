//! Bringing the appliance up and down, in a fixed order (DPVS-style explicit init/teardown):
//! log bridge -> EAL -> mbuf pool -> ports -> workers; then the management loop on the main
//! lcore until a stop signal (or, in replay, until the inputs are drained); then workers joined
//! -> counters -> ports closed -> pool -> EAL.

mod l2;
mod lb;
pub use lb::conn_timeouts;

use crate::config::{Config, Mode};
use crate::dpdk::port::PortSetup;
use crate::dpdk::{lcore, Eal, EalOptions, Mempool, Port};
use crate::worker::l2fwd::{self, MacRewrite};
use crate::worker::{Counter, WorkerCounters, WorkerTotals};
use anyhow::{bail, Context, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Final counters, printed on shutdown.
#[derive(Debug, Default)]
pub struct Summary {
    pub ports: Vec<(String, String, crate::dpdk::PortStats)>,
    pub workers: Vec<(u32, WorkerTotals)>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, dev, s) in &self.ports {
            writeln!(
                f,
                "port {name} ({dev}): rx {} pkts {} bytes, tx {} pkts {} bytes, missed {}, rx errors {}, tx errors {}, no mbuf {}",
                s.ipackets, s.ibytes, s.opackets, s.obytes, s.imissed, s.ierrors, s.oerrors, s.rx_nombuf
            )?;
        }
        for (i, (lc, w)) in self.workers.iter().enumerate() {
            write!(
                f,
                "worker {i} (lcore {lc}): rx {} pkts, tx {} pkts, tx dropped {}, busy polls {}, idle polls {}",
                w.get(Counter::Rx),
                w.get(Counter::Tx),
                w.get(Counter::TxDropped),
                w.get(Counter::BusyPolls),
                w.get(Counter::IdlePolls)
            )?;
            for c in Counter::ALL.iter().skip(5) {
                if w.get(*c) != 0 {
                    write!(f, ", {} {}", c.name(), w.get(*c))?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Mbufs for every RX/TX descriptor of every queue, plus each worker's bursts and cache.
fn pool_size(cfg: &Config, queues: u32) -> u32 {
    if cfg.eal.mbufs > 0 {
        return cfg.eal.mbufs;
    }
    let desc: u32 = cfg
        .ports
        .iter()
        .map(|p| u32::from(p.rx_desc) + u32::from(p.tx_desc))
        .sum();
    let workers = cfg.workers.cores.len() as u32;
    (desc * queues + workers * (2 * crate::dpdk::mbuf::MAX_BURST as u32 + MEMPOOL_CACHE) + 4096)
        .next_power_of_two()
        - 1
}

const MEMPOOL_CACHE: u32 = 256;

/// When the appliance stops.
pub enum Until {
    /// When the flag is set (SIGINT/SIGTERM).
    Signal {
        stop: Arc<AtomicBool>,
        /// Set by SIGHUP: re-read `config` and apply what changed (mode lb).
        reload: Arc<AtomicBool>,
        config: std::path::PathBuf,
    },
    /// Replay: when the ports have received `expected_rx` packets in all and the workers have
    /// gone quiet; an error if that takes longer than `limit`.
    Drained { expected_rx: u64, limit: Duration },
}

/// Runs the appliance until `until` says stop; returns the final counters.
pub fn run(cfg: &Config, until: Until) -> Result<Summary> {
    crate::dpdk::log::install();
    let lcores = crate::config::parse_lcores(&cfg.eal.lcores).map_err(anyhow::Error::msg)?;
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
        pool_size(cfg, u32::from(nworkers)),
        MEMPOOL_CACHE,
    )?);
    let mut ports = Vec::with_capacity(cfg.ports.len());
    for (i, p) in cfg.ports.iter().enumerate() {
        let port = Port::open(PortSetup {
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
        let q = port.queues();
        let (up, speed) = port.link();
        tracing::info!(
            port = %p.name,
            device = %p.device,
            driver = %port.driver(),
            queues = q.rx,
            rss = q.rss,
            link = if up { "up" } else { "down" },
            speed_mbps = speed,
            "port started"
        );
        ports.push(port);
    }

    let counters: Arc<Vec<WorkerCounters>> =
        Arc::new((0..nworkers).map(|_| WorkerCounters::default()).collect());
    // What each worker runs, and what the management thread does while they run.
    type Job = Box<dyn FnOnce() -> i32 + Send>;
    let mut jobs: Vec<Job> = Vec::new();
    let mut mgmt: Option<crate::mgmt::Mgmt> = None;
    match cfg.mode {
        Mode::L2fwd => {
            let rewrite =
                MacRewrite::parse(cfg.l2fwd.as_ref().map(|l| l.mac.as_str()).unwrap_or("none"))
                    .map_err(anyhow::Error::msg)?;
            let burst = usize::from(cfg.workers.burst);
            let backoff = cfg.workers.idle_backoff;
            for (w, paths) in l2::l2_plans(cfg, &ports)?.into_iter().enumerate() {
                let (c, s) = (counters.clone(), stop.clone());
                jobs.push(Box::new(move || {
                    l2fwd::run(&paths, rewrite, burst, backoff, &c[w], &s);
                    0
                }));
            }
        }
        Mode::Lb => {
            let config_path = match until {
                Until::Signal { config, .. } => Some(config.clone()),
                Until::Drained { .. } => None,
            };
            let (workers, m) = lb::start(
                cfg,
                &ports,
                pool.clone(),
                replay,
                counters.clone(),
                config_path,
            )?;
            for (w, worker) in workers.into_iter().enumerate() {
                let (c, s) = (counters.clone(), stop.clone());
                jobs.push(Box::new(move || worker.run(&c[w], &s)));
            }
            mgmt = Some(m);
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
    let mut watch = match until {
        Until::Signal { config, .. } if cfg.control.watch_config => {
            Some(crate::mgmt::watch::ConfigWatch::new(config.clone()))
        }
        _ => None,
    };
    let waited = match launch_err {
        Some(_) => Ok(()),
        None => wait(until, &ports, &counters, &mut || {
            if let Some(m) = mgmt.as_mut() {
                if let Until::Signal { reload, config, .. } = until {
                    let file_changed = watch.as_mut().is_some_and(|w| w.changed());
                    if reload.swap(false, Ordering::Relaxed) || file_changed {
                        m.reload(config);
                    }
                }
                m.tick();
            }
        }),
    };
    stop.store(true, Ordering::SeqCst);
    for &lc in &launched {
        lcore::wait(lc);
    }
    if let Some(e) = launch_err {
        return Err(e);
    }
    waited?;
    let summary = Summary {
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
    };
    // The management thread's own threads (control, metrics) read the ports: stop them first.
    drop(mgmt);
    drop(ports);
    drop(pool);
    Ok(summary)
}

/// The management thread's wait: for the signal, or for the replay inputs to drain.
fn wait(
    until: &Until,
    ports: &[Port],
    counters: &[WorkerCounters],
    tick: &mut dyn FnMut(),
) -> Result<()> {
    match until {
        Until::Signal { stop: flag, .. } => {
            tracing::info!("running; SIGINT or SIGTERM stops");
            while !flag.load(Ordering::Relaxed) {
                tick();
                std::thread::sleep(Duration::from_millis(1));
            }
            tracing::info!("stopping");
            Ok(())
        }
        Until::Drained { expected_rx, limit } => {
            tracing::info!(packets = expected_rx, "replaying");
            let start = std::time::Instant::now();
            let mut last = Vec::new();
            let mut quiet = 0;
            let mut checked = std::time::Instant::now();
            loop {
                tick();
                std::thread::sleep(Duration::from_millis(1));
                if checked.elapsed() < Duration::from_millis(10) {
                    continue;
                }
                checked = std::time::Instant::now();
                let rx: u64 = ports.iter().map(|p| p.stats().ipackets).sum();
                let now: Vec<_> = counters.iter().map(|c| c.snapshot().traffic()).collect();
                // Quiet: every input read, and no worker moved a packet for 5 checks (50 ms).
                quiet = if rx >= *expected_rx && now == last {
                    quiet + 1
                } else {
                    0
                };
                if quiet >= 5 {
                    tracing::info!("inputs drained");
                    return Ok(());
                }
                last = now;
                if start.elapsed() > *limit {
                    bail!("replay: inputs not drained within {limit:?} ({rx} of {expected_rx} packets read)");
                }
            }
        }
    }
}
