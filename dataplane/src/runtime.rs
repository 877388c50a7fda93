//! Bringing the appliance up and down, in a fixed order (DPVS-style explicit init/teardown):
//! log bridge -> EAL -> mbuf pool -> ports -> workers; then the management loop on the main
//! lcore until a stop signal; then workers joined -> counters -> ports closed -> pool -> EAL.

use crate::config::{Config, Mode};
use crate::dpdk::port::PortSetup;
use crate::dpdk::{lcore, Eal, EalOptions, Mempool, Port};
use crate::worker::l2fwd::{self, L2Path, MacRewrite};
use crate::worker::{WorkerCounters, WorkerTotals};
use anyhow::{Context, Result};
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
            writeln!(
                f,
                "worker {i} (lcore {lc}): rx {} pkts, tx {} pkts, tx dropped {}, busy polls {}, idle polls {}",
                w.rx, w.tx, w.tx_dropped, w.busy_polls, w.idle_polls
            )?;
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

/// Runs the appliance until `stop` is set; returns the final counters.
pub fn run(cfg: &Config, stop: Arc<AtomicBool>) -> Result<Summary> {
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
    let summary = run_with_eal(cfg, &stop);
    drop(eal);
    summary
}

fn run_with_eal(cfg: &Config, stop: &Arc<AtomicBool>) -> Result<Summary> {
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

    let plans = match cfg.mode {
        Mode::L2fwd => l2_plans(cfg, &ports)?,
        Mode::Lb => anyhow::bail!("mode lb: the forwarding workers are not built yet"),
    };
    let counters: Arc<Vec<WorkerCounters>> =
        Arc::new((0..nworkers).map(|_| WorkerCounters::default()).collect());
    let rewrite = MacRewrite::parse(cfg.l2fwd.as_ref().map(|l| l.mac.as_str()).unwrap_or("none"))
        .map_err(anyhow::Error::msg)?;
    let burst = usize::from(cfg.workers.burst);
    let backoff = cfg.workers.idle_backoff;
    let mut launched = Vec::new();
    let mut launch_err = None;
    for (w, (&lc, paths)) in cfg.workers.cores.iter().zip(plans).enumerate() {
        let (c, s) = (counters.clone(), stop.clone());
        tracing::info!(
            worker = w,
            lcore = lc,
            paths = paths.len(),
            "worker starting"
        );
        match lcore::launch(lc, move || {
            l2fwd::run(&paths, rewrite, burst, backoff, &c[w], &s);
            0
        }) {
            Ok(()) => launched.push(lc),
            Err(e) => {
                launch_err = Some(e);
                break;
            }
        }
    }
    if launch_err.is_none() {
        tracing::info!("running; SIGINT or SIGTERM stops");
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::info!("stopping");
    }
    stop.store(true, Ordering::SeqCst);
    for &lc in &launched {
        lcore::wait(lc);
    }
    if let Some(e) = launch_err {
        return Err(e);
    }
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
    drop(ports);
    drop(pool);
    Ok(summary)
}

/// Splits the L2 pairs into per-worker paths: worker w serves queue w of both ports of a pair
/// (a pair uses as many queues as its smaller port has); workers past that have nothing to do
/// for the pair.
fn l2_plans(cfg: &Config, ports: &[Port]) -> Result<Vec<Vec<L2Path>>> {
    let l2 = cfg.l2fwd.as_ref().context("l2fwd: missing")?;
    let by_name = |n: &str| {
        ports
            .iter()
            .find(|p| p.name() == n)
            .context("l2fwd: unknown port")
    };
    let mut plans = vec![Vec::new(); cfg.workers.cores.len()];
    for [a, b] in &l2.pairs {
        let (pa, pb) = (by_name(a)?, by_name(b)?);
        let nq = pa.queues().rx.min(pb.queues().rx);
        for (w, plan) in plans.iter_mut().enumerate().take(usize::from(nq)) {
            let q = w as u16;
            let (qa, qb) = (pa.queue(q).context("queue")?, pb.queue(q).context("queue")?);
            plan.push(L2Path {
                rx: qa,
                tx: qb,
                tx_mac: pb.mac(),
            });
            if pa.id() != pb.id() {
                plan.push(L2Path {
                    rx: qb,
                    tx: qa,
                    tx_mac: pa.mac(),
                });
            }
        }
    }
    Ok(plans)
}
