//! The counter reference of docs/counters.md, written from the declarations (worker/counters.rs,
//! mgmt/counters.rs, dpdk/port.rs). A test compares the file with it, so a counter declared
//! but not documented (or documented but gone) fails the build's tests.

use super::exposition::MGMT_FAMILY;
use crate::dpdk::PortStats;
use crate::mgmt::MgmtCounters;
use crate::worker::Counter;
use std::fmt::Write as _;

/// Where the generated part of docs/counters.md begins and ends.
pub const BEGIN: &str = "<!-- BEGIN generated from the counter declarations -->";
pub const END: &str = "<!-- END generated -->";

/// The tables of every counter: name, the metric sample it is exported as, what it counts.
pub fn markdown() -> String {
    let mut o = String::new();
    let header = "| name | metric sample | what it counts |\n|---|---|---|\n";
    o.push_str("### Worker counters (`worker N` lines, `ctl stats`)\n\n");
    o.push_str(header);
    for c in Counter::ALL {
        let fam = c.family();
        let info = fam.info();
        let _ = writeln!(
            o,
            "| `{}` | `{}{{worker,{}=\"{}\"}}` | {} |",
            c.name(),
            info.metric,
            info.label,
            fam.label_value(),
            c.help()
        );
    }
    o.push_str("\n### Management thread (`management` line, `ctl stats`)\n\n");
    o.push_str(header);
    for (name, help) in MgmtCounters::DECLARED {
        let _ = writeln!(
            o,
            "| `{name}` | `{}{{{}=\"{name}\"}}` | {help} |",
            MGMT_FAMILY.metric, MGMT_FAMILY.label
        );
    }
    o.push_str("\n### Ports (`port` lines, `ctl stats`)\n\n");
    o.push_str(header);
    for d in PortStats::DECLARED {
        let labels = match d.direction {
            Some(dir) => format!("{{port,direction=\"{dir}\"}}"),
            None => "{port}".to_string(),
        };
        let _ = writeln!(o, "| `{}` | `{}{labels}` | {} |", d.name, d.metric, d.help);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = include_str!("../../../../docs/counters.md");

    /// The names in the first column of the doc's tables.
    fn documented(doc: &str) -> Vec<String> {
        doc.lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once('`'))
            .map(|(name, _)| name.to_string())
            .collect()
    }

    #[test]
    fn every_declared_counter_is_documented_exactly() {
        let declared: Vec<String> = Counter::ALL
            .iter()
            .map(|c| c.name().to_string())
            .chain(MgmtCounters::DECLARED.iter().map(|(n, _)| n.to_string()))
            .chain(PortStats::DECLARED.iter().map(|d| d.name.to_string()))
            .collect();
        let (_, rest) = DOC
            .split_once(BEGIN)
            .expect("docs/counters.md: no BEGIN marker");
        let (generated, _) = rest
            .split_once(END)
            .expect("docs/counters.md: no END marker");
        let want = markdown();
        assert_eq!(
            documented(generated),
            declared,
            "docs/counters.md lists other counters than are declared; its generated part should read:\n{want}"
        );
        assert_eq!(
            generated.trim(),
            want.trim(),
            "docs/counters.md is out of date; its generated part should read:\n{want}"
        );
    }

    #[test]
    fn names_are_unique_and_drop_names_are_drops() {
        let mut names: Vec<&str> = Counter::ALL.iter().map(|c| c.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(
            names.len(),
            Counter::COUNT,
            "a worker counter name is used twice"
        );
        for c in Counter::ALL {
            assert!(c.help().ends_with('.'), "{}: help is a sentence", c.name());
            if c.name().starts_with("drop_") {
                assert!(
                    matches!(c.family(), crate::worker::counters::Family::Drops(_)),
                    "{} is a drop",
                    c.name()
                );
            }
        }
    }
}
