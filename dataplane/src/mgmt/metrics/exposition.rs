//! What `GET /metrics` shows, encoded by prometheus-client's Prometheus text encoder (format
//! 0.0.4). Everything is read from the shared handles at scrape time (a `Collector`, no
//! registered metric objects to keep in step): per real and service traffic and load, the
//! worker and management counters as declared in worker/counters.rs and mgmt/counters.rs, and
//! the per-port DPDK stats as declared in dpdk/port.rs. docs/ctl.md lists the metrics.

use crate::dpdk::PortStats;
use crate::mgmt::control::Sources;
use crate::mgmt::MgmtCounters;
use crate::worker::counters::{Counter, Family, FamilyInfo};
use crate::worker::stats::RealFigures;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt::Error;
use std::sync::Arc;

/// The family of the management thread's counters, labelled by counter name.
pub const MGMT_FAMILY: FamilyInfo = FamilyInfo {
    metric: "dataplane_management_events_total",
    label: "event",
    help: "What the management thread counts (exception path, ARP, snapshots), by event.",
};

/// A label set: (name, value) pairs.
pub(crate) type Labels = Vec<(&'static str, String)>;

/// The whole exposition as text.
pub fn render(src: &Arc<Sources>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Exposition(src.clone())));
    let mut out = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail; an encoder error would leave a partial text, which
    // the scraper rejects and retries.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

/// Reads the sources on each scrape.
struct Exposition(Arc<Sources>);

impl std::fmt::Debug for Exposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exposition")
    }
}

impl Collector for Exposition {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), Error> {
        let src = &self.0;
        reals_and_services(&mut enc, src)?;
        workers(&mut enc, src)?;
        management(&mut enc, &src.mgmt.snapshot())?;
        vrrp(&mut enc, src)?;
        super::super::bgp::metrics::encode(&mut enc, src)?;
        ports(&mut enc, src)
    }
}

/// Writes one family: its HELP and TYPE, then one sample per label set. `name` is the name
/// samples carry (counters end in `_total`, which the encoder adds itself).
pub(crate) fn family(
    enc: &mut DescriptorEncoder,
    name: &str,
    kind: MetricType,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, u64)>,
) -> Result<(), Error> {
    let base = match kind {
        MetricType::Counter => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    };
    let mut m = enc.encode_descriptor(base, help, None, kind)?;
    for (labels, v) in samples {
        let s = m.encode_family(&labels)?;
        match kind {
            MetricType::Counter => ConstCounter::new(v).encode(s)?,
            _ => ConstGauge::new(v).encode(s)?,
        }
    }
    Ok(())
}

/// `labels` plus `direction="in"` and `="out"`, with the two figures.
fn by_direction(
    rows: &[(Labels, RealFigures)],
    f_in: fn(&RealFigures) -> u64,
    f_out: fn(&RealFigures) -> u64,
) -> Vec<(Labels, u64)> {
    let with = |l: &Labels, d: &str| {
        let mut l = l.clone();
        l.push(("direction", d.to_string()));
        l
    };
    rows.iter()
        .flat_map(|(l, r)| [(with(l, "in"), f_in(r)), (with(l, "out"), f_out(r))])
        .collect()
}

/// Per real, and per service (the sum of its reals).
fn reals_and_services(enc: &mut DescriptorEncoder, src: &Sources) -> Result<(), Error> {
    use MetricType::{Counter as C, Gauge as G};
    let snap = src.snapshot.load();
    let mut reals: Vec<(Labels, RealFigures)> = Vec::new();
    let mut weight_up: Vec<(Labels, u64, u64)> = Vec::new();
    let mut services: Vec<(Labels, RealFigures)> = Vec::new();
    for s in snap.services.services() {
        let mut sum = RealFigures::default();
        for r in &s.reals {
            let f = src.real_totals(r.id);
            sum.add(&f);
            let l = vec![
                ("service", s.name.clone()),
                ("real", format!("{}:{}", r.addr, r.port)),
            ];
            weight_up.push((l.clone(), u64::from(r.weight), u64::from(r.available)));
            reals.push((l, f));
        }
        services.push((vec![("service", s.name.clone())], sum));
    }
    // The IPv6 part, its reals by their own ids (mgmt/control_v6.rs).
    for (service, rows) in crate::mgmt::control_v6::real_rows(&snap, src) {
        let mut sum = RealFigures::default();
        for (svc, real, weight, up, f) in rows {
            sum.add(&f);
            let l = vec![("service", svc), ("real", real)];
            weight_up.push((l.clone(), u64::from(weight), u64::from(up)));
            reals.push((l, f));
        }
        services.push((vec![("service", service)], sum));
    }
    let each = |rows: &[(Labels, RealFigures)], f: fn(&RealFigures) -> u64| -> Vec<(Labels, u64)> {
        rows.iter().map(|(l, r)| (l.clone(), f(r))).collect()
    };
    family(
        enc,
        "dataplane_real_connections_total",
        C,
        "Connections scheduled to the real since start.",
        each(&reals, |r| r.conns),
    )?;
    family(
        enc,
        "dataplane_real_packets_total",
        C,
        "Packets of the real's connections, client to real (in) and real to client (out).",
        by_direction(&reals, |r| r.pkts_in, |r| r.pkts_out),
    )?;
    family(
        enc,
        "dataplane_real_bytes_total",
        C,
        "Bytes of the real's connections, client to real (in) and real to client (out).",
        by_direction(&reals, |r| r.bytes_in, |r| r.bytes_out),
    )?;
    family(
        enc,
        "dataplane_real_active_connections",
        G,
        "The real's ESTABLISHED connections, summed over workers.",
        each(&reals, |r| r.active),
    )?;
    family(
        enc,
        "dataplane_real_inactive_connections",
        G,
        "The real's connections in other states, summed over workers.",
        each(&reals, |r| r.inactive),
    )?;
    family(
        enc,
        "dataplane_real_weight",
        G,
        "The real's current weight.",
        weight_up.iter().map(|(l, w, _)| (l.clone(), *w)),
    )?;
    family(
        enc,
        "dataplane_real_up",
        G,
        "1 when the real may take new connections (health checks pass), else 0.",
        weight_up.iter().map(|(l, _, up)| (l.clone(), *up)),
    )?;
    family(
        enc,
        "dataplane_real_overloaded",
        G,
        "1 when a worker marks the real overloaded (its connections reached upper_threshold and have not yet fallen below lower_threshold), else 0.",
        each(&reals, |r| u64::from(r.overloaded > 0)),
    )?;
    family(
        enc,
        "dataplane_service_connections_total",
        C,
        "Connections scheduled by the service since start.",
        each(&services, |r| r.conns),
    )?;
    family(
        enc,
        "dataplane_service_packets_total",
        C,
        "Packets of the service's connections by direction.",
        by_direction(&services, |r| r.pkts_in, |r| r.pkts_out),
    )?;
    family(
        enc,
        "dataplane_service_bytes_total",
        C,
        "Bytes of the service's connections by direction.",
        by_direction(&services, |r| r.bytes_in, |r| r.bytes_out),
    )?;
    family(
        enc,
        "dataplane_service_active_connections",
        G,
        "The service's ESTABLISHED connections.",
        each(&services, |r| r.active),
    )?;
    family(
        enc,
        "dataplane_service_inactive_connections",
        G,
        "The service's connections in other states.",
        each(&services, |r| r.inactive),
    )
}

/// The worker counters, one family per [`Family`] of their declaration, and table occupancy.
fn workers(enc: &mut DescriptorEncoder, src: &Sources) -> Result<(), Error> {
    let totals: Vec<_> = src.counters.iter().map(|c| c.snapshot()).collect();
    for (i, info) in Family::ALL.iter().enumerate() {
        let samples = Counter::ALL
            .iter()
            .filter(|c| c.family().index() == i)
            .flat_map(|&c| {
                totals.iter().enumerate().map(move |(w, t)| {
                    let labels = vec![
                        ("worker", w.to_string()),
                        (info.label, c.family().label_value().to_string()),
                    ];
                    (labels, t.get(c))
                })
            });
        family(enc, info.metric, MetricType::Counter, info.help, samples)?;
    }
    let snap = src.snapshot.load();
    let occupancy = src
        .real_stats
        .iter()
        .enumerate()
        .map(|(w, rs)| (vec![("worker", w.to_string())], rs.connections(&snap)));
    family(
        enc,
        "dataplane_worker_connections",
        MetricType::Gauge,
        "Connections in the worker's table (reals of the current config).",
        occupancy,
    )
}

fn management(enc: &mut DescriptorEncoder, m: &MgmtCounters) -> Result<(), Error> {
    family(
        enc,
        MGMT_FAMILY.metric,
        MetricType::Counter,
        MGMT_FAMILY.help,
        m.iter()
            .map(|(name, v)| (vec![(MGMT_FAMILY.label, name.to_string())], v)),
    )
}

/// The DPDK port stats as declared in [`PortStats::DECLARED`], then the driver's xstats.
/// VRRP's state as a gauge per state (1 for the current one), when VRRP is configured; its
/// adverts and drops are management counters.
fn vrrp(enc: &mut DescriptorEncoder, src: &Sources) -> Result<(), Error> {
    let Some(v) = src.ha.vrrp() else {
        return Ok(());
    };
    let samples = ["INIT", "BACKUP", "MASTER"].map(|s| {
        let labels: Labels = vec![
            ("vrid", v.vrid.to_string()),
            ("state", s.to_ascii_lowercase()),
        ];
        (labels, u64::from(v.state == s))
    });
    family(
        enc,
        "dataplane_vrrp_state",
        MetricType::Gauge,
        "VRRP state of this node: 1 for the current state (init, backup, master), 0 for the others.",
        samples,
    )?;
    family(
        enc,
        "dataplane_vrrp_priority",
        MetricType::Gauge,
        "This node's configured VRRP priority.",
        [(vec![("vrid", v.vrid.to_string())], u64::from(v.priority))],
    )?;
    let held = v.preempt_hold.as_ref().is_some_and(|h| h.held);
    family(
        enc,
        "dataplane_vrrp_preempt_held",
        MetricType::Gauge,
        "1 while this node holds off preempting a lower-priority master because its connection \
         resync is not done (docs/ha.md), else 0.",
        [(vec![("vrid", v.vrid.to_string())], u64::from(held))],
    )
}

fn ports(enc: &mut DescriptorEncoder, src: &Sources) -> Result<(), Error> {
    let stats: Vec<(String, PortStats)> = src
        .ports
        .iter()
        .map(|(id, name)| (name.clone(), crate::dpdk::port::stats_of(*id)))
        .collect();
    let declared = &PortStats::DECLARED;
    let mut i = 0;
    while i < declared.len() {
        let metric = declared[i].metric;
        let group: Vec<_> = declared[i..]
            .iter()
            .take_while(|d| d.metric == metric)
            .collect();
        i += group.len();
        let help = family_help(group.iter().map(|d| (d.direction, d.help)));
        let samples = stats.iter().flat_map(|(port, s)| {
            group.iter().map(move |d| {
                let mut l = vec![("port", port.clone())];
                if let Some(dir) = d.direction {
                    l.push(("direction", dir.to_string()));
                }
                (l, (d.get)(s))
            })
        });
        family(enc, metric, MetricType::Counter, &help, samples)?;
    }
    let xstats = src.ports.iter().flat_map(|(id, name)| {
        crate::dpdk::port::xstats_of(*id)
            .unwrap_or_default()
            .into_iter()
            .map(move |(x, v)| (vec![("port", name.clone()), ("name", x)], v))
    });
    family(
        enc,
        "dataplane_port_xstat",
        MetricType::Unknown,
        "The driver's extended statistics, by name.",
        xstats,
    )
}

/// One help text for the figures that share a metric: the figure's own, or each one's after
/// its direction ("rx: ... tx: ...").
fn family_help<'a>(parts: impl Iterator<Item = (Option<&'a str>, &'a str)>) -> String {
    let parts: Vec<_> = parts.collect();
    match parts.as_slice() {
        [(_, help)] => help.to_string(),
        _ => parts
            .iter()
            .map(|(d, h)| format!("{}: {h}", d.unwrap_or("-")))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    #[test]
    fn exposition_parses_and_carries_the_figures() {
        let src = crate::mgmt::control::tests::sources();
        src.counters[0].publish(&{
            let mut t = crate::worker::WorkerTotals::default();
            t.add(Counter::DropNoService, 7);
            t.add(Counter::TxDropped, 2);
            t.add(Counter::ConnNew, 5);
            t.add(Counter::HandoffIn, 3);
            t
        });
        src.mgmt.publish(&MgmtCounters {
            arp_requests: 4,
            ..Default::default()
        });
        let text = render(&src);
        let samples = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let get = |name: &str, labels: &[(&str, &str)]| -> f64 {
            let hits: Vec<_> = samples
                .iter()
                .filter(|(n, l, _)| {
                    n == name
                        && l.len() == labels.len()
                        && labels
                            .iter()
                            .all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
                })
                .collect();
            assert_eq!(hits.len(), 1, "{name} {labels:?} in\n{text}");
            hits[0].2
        };
        let web1 = [("service", "web"), ("real", "198.19.0.11:80")];
        assert_eq!(get("dataplane_real_connections_total", &web1), 10.0);
        assert_eq!(get("dataplane_real_active_connections", &web1), 1.0);
        assert_eq!(get("dataplane_real_up", &web1), 1.0);
        assert_eq!(
            get(
                "dataplane_real_up",
                &[("real", "198.19.0.12:80"), ("service", "web")]
            ),
            0.0
        );
        assert_eq!(get("dataplane_real_weight", &web1), 1.0);
        let mut d = web1.to_vec();
        d.push(("direction", "out"));
        assert_eq!(get("dataplane_real_bytes_total", &d), 9000.0);
        assert_eq!(
            get(
                "dataplane_service_packets_total",
                &[("service", "dns"), ("direction", "in")]
            ),
            200.0
        );
        let w0 = |k: &'static str, v: &'static str| [("worker", "0"), (k, v)];
        assert_eq!(
            get("dataplane_worker_drops_total", &w0("reason", "no_service")),
            7.0
        );
        assert_eq!(
            get("dataplane_worker_drops_total", &w0("reason", "tx_full")),
            2.0
        );
        assert_eq!(
            get("dataplane_worker_drops_total", &w0("reason", "no_real")),
            0.0
        );
        assert_eq!(
            get("dataplane_worker_events_total", &w0("event", "conn_new")),
            5.0
        );
        assert_eq!(
            get("dataplane_worker_handoffs_total", &w0("direction", "in")),
            3.0
        );
        assert_eq!(
            get(
                "dataplane_management_events_total",
                &[("event", "arp_requests")]
            ),
            4.0
        );
        assert_eq!(
            get("dataplane_worker_connections", &[("worker", "0")]),
            18.0
        );
        // Every declared worker counter is exported exactly once per worker.
        let worker_samples = samples
            .iter()
            .filter(|(n, l, _)| {
                n.starts_with("dataplane_worker_")
                    && n.ends_with("_total")
                    && l.iter().any(|(k, _)| k == "worker")
            })
            .count();
        assert_eq!(worker_samples, Counter::COUNT);
        assert!(text.contains(
            "# HELP dataplane_worker_drops_total Packets a worker dropped, by reason.\n\
             # TYPE dataplane_worker_drops_total counter\n"
        ));
    }

    /// Prometheus's own checker accepts the exposition (promtool: Debian package `prometheus`,
    /// installed by scripts/setup).
    #[test]
    fn promtool_accepts_the_exposition() {
        let text = render(&crate::mgmt::control::tests::sources());
        if let Err(e) = super::super::promtool_check(&text) {
            panic!("{e}\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut registry = Registry::default();
        #[derive(Debug)]
        struct One;
        impl Collector for One {
            fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), Error> {
                family(
                    &mut enc,
                    "m_total",
                    MetricType::Counter,
                    "Help.",
                    [(vec![("a", "x\"y\\z\nw".to_string())], 3)],
                )
            }
        }
        registry.register_collector(Box::new(One));
        let mut s = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut s, &registry).unwrap();
        assert_eq!(
            s,
            "# HELP m_total Help.\n# TYPE m_total counter\nm_total{a=\"x\\\"y\\\\z\\nw\"} 3\n"
        );
        let back = parse(&s).unwrap();
        assert_eq!(back[0].1[0].1, "x\"y\\z\nw");
    }

    #[test]
    fn port_family_help_names_each_direction() {
        let h = family_help([(Some("rx"), "In."), (Some("tx"), "Out.")].into_iter());
        assert_eq!(h, "rx: In. tx: Out.");
        assert_eq!(family_help([(None, "Missed.")].into_iter()), "Missed.");
    }

    #[test]
    fn vrrp_state_is_a_gauge_per_state() {
        let src = crate::mgmt::control::tests::sources();
        let none = render(&src);
        assert!(!none.contains("dataplane_vrrp_state"), "no VRRP, no family");
        src.ha.set(
            crate::ctl::ha::VrrpView {
                state: "MASTER".into(),
                vrid: 51,
                priority: 150,
                advert_interval_ms: 1000,
                preempt: true,
                interface: "dp-ext".into(),
                address: "198.18.0.1".parse().unwrap(),
                master: None,
                last_advert: None,
                transitions: 2,
                last_reason: None,
                preempt_hold: Some(crate::ctl::ha::PreemptHoldView {
                    held: true,
                    reason: "connection resync not done".into(),
                    max_ms: 60_000,
                }),
            },
            None,
        );
        let text = render(&src);
        let samples = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut got: Vec<(String, f64)> = samples
            .iter()
            .filter(|(n, _, _)| n.starts_with("dataplane_vrrp_"))
            .map(|(n, l, v)| {
                let state = l.iter().find(|(k, _)| k == "state").map(|(_, v)| v.clone());
                (format!("{n}/{}", state.unwrap_or_default()), *v)
            })
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let want = [
            ("dataplane_vrrp_preempt_held/", 1.0),
            ("dataplane_vrrp_priority/", 150.0),
            ("dataplane_vrrp_state/backup", 0.0),
            ("dataplane_vrrp_state/init", 0.0),
            ("dataplane_vrrp_state/master", 1.0),
        ];
        let want: Vec<(String, f64)> = want.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        assert_eq!(got, want);
    }
}
