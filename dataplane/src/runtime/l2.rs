//! The L2 mode's share of start-up: which worker serves which queues of which pair.

use crate::config::Config;
use crate::dpdk::Port;
use crate::worker::l2fwd::L2Path;
use anyhow::{Context, Result};

/// Splits the L2 pairs into per-worker paths: worker w serves queue w of both ports of a pair
/// (a pair uses as many queues as its smaller port has); workers past that have nothing to do
/// for the pair.
pub fn l2_plans(cfg: &Config, ports: &[Port]) -> Result<Vec<Vec<L2Path>>> {
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
