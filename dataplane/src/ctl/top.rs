//! `dataplane ctl top`: per-worker load, like `top` for the data path. Every interval it asks
//! for the workers' counters and shows what changed since the last sample, per second: the
//! share of polls that found packets (a worker at 100 % never waits), packets received and
//! sent, drops, handoffs to other workers, and the connections in each worker's table.

use super::proto::{Request, WorkerView, WorkersView};
use super::watch::{interval_text, repeat, utc_now};
use anyhow::{bail, Result};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

fn sample(socket: &Path) -> Result<WorkersView> {
    let resp = super::call(socket, &Request::Workers {})?;
    if !resp.ok {
        bail!("{}", resp.error.unwrap_or_else(|| "failed".into()));
    }
    Ok(serde_json::from_value(resp.result)?)
}

/// Redraws the table every `interval`; the first frame comes after one interval (rates need
/// two samples).
pub fn run(socket: &Path, interval: Duration, count: Option<u64>) -> Result<()> {
    let mut last = (sample(socket)?, Instant::now());
    let mut first = true;
    repeat(interval, count, |_| {
        if first {
            first = false;
            return Ok(None);
        }
        let now = (sample(socket)?, Instant::now());
        let secs = now.1.duration_since(last.1).as_secs_f64();
        let text = frame(&last.0, &now.0, secs, interval, &utc_now());
        last = now;
        Ok(Some(text))
    })
}

/// Per second over `secs`; counters that went back (a restart) count from zero.
fn per_sec(old: u64, new: u64, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    new.checked_sub(old).unwrap_or(new) as f64 / secs
}

/// One frame from two samples `secs` apart.
pub fn frame(
    old: &WorkersView,
    new: &WorkersView,
    secs: f64,
    interval: Duration,
    now: &str,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Every {}: dataplane ctl top    {now}",
        interval_text(interval)
    );
    let _ = writeln!(
        o,
        "Worker   Load    RxPPS    TxPPS  DropPPS  HandoffOutPPS  HandoffInPPS  Connections"
    );
    for w in &new.workers {
        let before = old
            .workers
            .iter()
            .find(|o| o.worker == w.worker)
            .copied()
            .unwrap_or(WorkerView {
                worker: w.worker,
                ..Default::default()
            });
        let busy = w.busy_polls.saturating_sub(before.busy_polls);
        let idle = w.idle_polls.saturating_sub(before.idle_polls);
        let load = if busy + idle == 0 {
            0.0
        } else {
            100.0 * busy as f64 / (busy + idle) as f64
        };
        let r = |f: fn(&WorkerView) -> u64| per_sec(f(&before), f(w), secs).round() as u64;
        let _ = writeln!(
            o,
            "{:>6} {:>5.1}% {:>8} {:>8} {:>8} {:>14} {:>13} {:>12}",
            w.worker,
            load,
            r(|v| v.rx),
            r(|v| v.tx),
            r(|v| v.drops),
            r(|v| v.handoffs_out),
            r(|v| v.handoffs_in),
            w.connections
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(rows: &[(u16, u64, u64, u64, u64)]) -> WorkersView {
        WorkersView {
            workers: rows
                .iter()
                .map(|&(worker, busy, idle, rx, conns)| WorkerView {
                    worker,
                    busy_polls: busy,
                    idle_polls: idle,
                    rx,
                    tx: rx / 2,
                    drops: 3,
                    handoffs_out: rx / 10,
                    handoffs_in: 0,
                    connections: conns,
                })
                .collect(),
        }
    }

    #[test]
    fn rates_and_load_between_two_samples() {
        let old = view(&[(0, 100, 900, 1000, 5), (1, 0, 0, 0, 0)]);
        let new = view(&[(0, 350, 1650, 3000, 7), (1, 0, 2000, 0, 0)]);
        let f = frame(&old, &new, 2.0, Duration::from_secs(2), "T");
        let rows: Vec<Vec<&str>> = f
            .lines()
            .skip(2)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            f.lines().next().unwrap(),
            "Every 2s: dataplane ctl top    T"
        );
        assert_eq!(
            rows,
            [
                ["0", "25.0%", "1000", "500", "0", "100", "0", "7"],
                ["1", "0.0%", "0", "0", "0", "0", "0", "0"],
            ]
        );
        // A worker not in the old sample (or a restart) counts from zero.
        let f = frame(&view(&[]), &new, 1.0, Duration::from_secs(1), "T");
        assert!(f.lines().nth(2).unwrap().contains("3000"), "{f}");
        assert_eq!(per_sec(10, 5, 1.0), 5.0);
        assert_eq!(per_sec(0, 5, 0.0), 0.0);
    }
}
