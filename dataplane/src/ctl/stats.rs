//! `dataplane ctl stats`: the counters of the workers, the management thread and the ports of
//! the running appliance, by their declared names (docs/counters.md), as a table or JSON.

use crate::dpdk::PortStats;
use crate::mgmt::MgmtCounters;
use crate::worker::counters::Family;
use crate::worker::Counter;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Counter name -> value.
pub type Named = BTreeMap<String, u64>;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct StatsView {
    /// Every declared worker counter, one map per worker (index = worker).
    pub workers: Vec<Named>,
    /// Every management thread counter.
    pub management: Named,
    pub ports: Vec<PortStatsView>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PortStatsView {
    pub port: String,
    pub stats: Named,
}

impl StatsView {
    /// The view of published totals (the control thread builds it).
    pub fn new(
        workers: &[crate::worker::WorkerTotals],
        management: &MgmtCounters,
        ports: &[(String, PortStats)],
    ) -> StatsView {
        StatsView {
            workers: workers
                .iter()
                .map(|t| t.iter().map(|(c, v)| (c.name().to_string(), v)).collect())
                .collect(),
            management: management.iter().map(|(n, v)| (n.to_string(), v)).collect(),
            ports: ports
                .iter()
                .map(|(port, s)| PortStatsView {
                    port: port.clone(),
                    stats: PortStats::DECLARED
                        .iter()
                        .map(|d| (d.name.to_string(), (d.get)(s)))
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Names in declaration order, then any the appliance sent that this client does not know.
fn ordered<'a>(declared: impl Iterator<Item = &'a str>, sent: &'a Named) -> Vec<&'a str> {
    let mut names: Vec<&str> = declared.collect();
    for n in sent.keys() {
        if !names.contains(&n.as_str()) {
            names.push(n);
        }
    }
    names
}

/// The table: one row per worker counter (packet counts always, others when not 0 on some
/// worker) with a column per worker and the total; then the management and port counters.
pub fn render(v: &StatsView) -> String {
    let mut o = String::new();
    let _ = write!(o, "{:<26}", "Counter");
    for w in 0..v.workers.len() {
        let _ = write!(o, " {:>14}", format!("worker {w}"));
    }
    let _ = writeln!(o, " {:>14}", "total");
    let all = Named::new();
    let known = |name: &str| Counter::ALL.iter().find(|c| c.name() == name).copied();
    let first = v.workers.first().unwrap_or(&all);
    for name in ordered(Counter::ALL.iter().map(|c| c.name()), first) {
        let vals: Vec<u64> = v
            .workers
            .iter()
            .map(|w| w.get(name).copied().unwrap_or(0))
            .collect();
        let always = known(name).is_some_and(|c| matches!(c.family(), Family::Packets(_)));
        if !always && vals.iter().all(|&x| x == 0) {
            continue;
        }
        let _ = write!(o, "{name:<26}");
        for x in &vals {
            let _ = write!(o, " {x:>14}");
        }
        let _ = writeln!(o, " {:>14}", vals.iter().sum::<u64>());
    }
    let _ = writeln!(o, "\nManagement");
    for name in ordered(
        MgmtCounters::DECLARED.iter().map(|(n, _)| *n),
        &v.management,
    ) {
        let x = v.management.get(name).copied().unwrap_or(0);
        let _ = writeln!(o, "{name:<26} {x:>14}");
    }
    for p in &v.ports {
        let _ = writeln!(o, "\nPort {}", p.port);
        for name in ordered(PortStats::DECLARED.iter().map(|d| d.name), &p.stats) {
            let x = p.stats.get(name).copied().unwrap_or(0);
            let _ = writeln!(o, "{name:<26} {x:>14}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::WorkerTotals;

    #[test]
    fn view_names_every_declared_counter_and_the_table_shows_what_moved() {
        let mut w0 = WorkerTotals::default();
        w0.add(Counter::Rx, 10);
        w0.add(Counter::DropNoService, 3);
        let mut w1 = WorkerTotals::default();
        w1.add(Counter::Rx, 5);
        w1.add(Counter::Tx, 4);
        let m = MgmtCounters {
            snapshots: 2,
            ..Default::default()
        };
        let p = PortStats {
            ipackets: 15,
            ..Default::default()
        };
        let v = StatsView::new(&[w0, w1], &m, &[("ext".into(), p)]);
        assert_eq!(v.workers.len(), 2);
        assert_eq!(v.workers[0].len(), Counter::COUNT);
        assert_eq!(v.workers[0]["drop_no_service"], 3);
        assert_eq!(v.workers[1]["tx"], 4);
        assert_eq!(v.management["snapshots"], 2);
        assert_eq!(v.ports[0].stats["rx_packets"], 15);
        let back: StatsView = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!(back, v);
        let t = render(&v);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[..4],
            [
                "Counter                          worker 0       worker 1          total",
                "rx                                     10              5             15",
                "tx                                      0              4              4",
                "drop_no_service                         3              0              3",
            ]
        );
        assert!(lines.contains(&"snapshots                               2"));
        assert!(lines.contains(&"Port ext"));
        assert!(lines.contains(&"rx_packets                             15"));
    }
}
