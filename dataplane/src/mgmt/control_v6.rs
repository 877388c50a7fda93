//! The IPv6-involving services in the control socket's views (`ctl list`, `ctl health`,
//! `ctl conns`) and the metrics: the services of the snapshot's IPv6 part (`lb/snapshot6.rs`),
//! listed after the IPv4 ones, addresses as `[2001:db8:1::11]:80`.
//!
//! The IPv6 VIPs' reals have ids of their own (`snap.v6.services`), so their figures are read
//! with `Sources::real_totals6` (the workers publish them apart, `RealStats::publish6`). The
//! IPv4 VIPs over IPv6 reals (`services46`) are listed without traffic: the engine does not
//! forward them.

use super::control::{add_rate, add_traffic, traffic, RateKey, RateWindow, Sources};
use crate::ctl::proto::{HealthRow, Rate, RealView, ServiceView, Traffic};
use crate::lb::family::Family;
use crate::lb::service6::Service6;
use crate::lb::snapshot::Snapshot;
use crate::lb::types::{Protocol, RealId};
use crate::worker::stats::RealFigures;
use std::time::Duration;

fn protocol(p: Protocol) -> String {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Icmp => "icmp",
    }
    .into()
}

/// Where a service's per-real figures come from: the IPv6 VIPs' published figures, or none
/// (the IPv4 VIPs over IPv6 reals, not forwarded).
trait Figures {
    fn figures(&self, id: RealId) -> RealFigures;
    fn rate(&self, id: RealId) -> (Rate, Option<Duration>);
}

/// An IPv6 VIP's reals: what the workers published for them.
struct Published<'a> {
    sources: &'a Sources,
    /// The rate samples (`ctl list --rate`); none where only totals are read (metrics).
    rates: Option<&'a RateWindow>,
}

impl Figures for Published<'_> {
    fn figures(&self, id: RealId) -> RealFigures {
        self.sources.real_totals6(id)
    }
    fn rate(&self, id: RealId) -> (Rate, Option<Duration>) {
        self.rates
            .map_or((Rate::default(), None), |w| w.rate(RateKey::V6(id)))
    }
}

/// Not forwarded: every figure 0.
struct Unforwarded;

impl Figures for Unforwarded {
    fn figures(&self, _: RealId) -> RealFigures {
        RealFigures::default()
    }
    fn rate(&self, _: RealId) -> (Rate, Option<Duration>) {
        (Rate::default(), None)
    }
}

fn view<V: Family>(
    s: &Service6<V>,
    src: &dyn Figures,
    interval: &mut Option<Duration>,
    stats: bool,
    rate: bool,
) -> ServiceView {
    let mut svc_stats = Traffic::default();
    let mut svc_rate = Rate::default();
    let reals = s
        .reals
        .iter()
        .map(|r| {
            let f = src.figures(r.id);
            let t = traffic(&f);
            add_traffic(&mut svc_stats, &t);
            let (rt, dt) = src.rate(r.id);
            *interval = interval.or(dt);
            add_rate(&mut svc_rate, &rt);
            RealView {
                addr: r.addr,
                port: r.port,
                forward: r.forward_mode(s.forward),
                weight: r.weight,
                active: f.active,
                inactive: f.inactive,
                available: r.available,
                overloaded: false,
                stats: stats.then_some(t),
                rate: rate.then_some(rt),
            }
        })
        .collect();
    ServiceView {
        name: s.name.clone(),
        protocol: protocol(s.key.proto),
        vip: s.key.vip.into(),
        port: s.key.port,
        scheduler: s.sched,
        forward: s.forward,
        persistence: s.persistence_ms.map(|ms| crate::ctl::proto::PersistView {
            timeout_s: ms / 1000,
            netmask: std::net::Ipv4Addr::BROADCAST,
        }),
        stats: stats.then_some(svc_stats),
        rate: rate.then_some(svc_rate),
        reals,
    }
}

/// `ctl list`'s rows of the IPv6 part, and the interval their rates cover.
pub struct V6Views {
    pub services: Vec<ServiceView>,
    pub interval: Option<Duration>,
}

/// `ctl list`'s rows of the IPv6 part: IPv6 VIPs, then IPv4 VIPs over IPv6 reals.
pub(super) fn service_views(
    snap: &Snapshot,
    sources: &Sources,
    rates: &RateWindow,
    stats: bool,
    rate: bool,
) -> V6Views {
    let published = Published {
        sources,
        rates: Some(rates),
    };
    let mut interval = None;
    let mut services = Vec::new();
    for s in snap.v6.services.services() {
        services.push(view(s, &published, &mut interval, stats, rate));
    }
    for s in snap.v6.services46.services() {
        services.push(view(s, &Unforwarded, &mut interval, stats, rate));
    }
    V6Views { services, interval }
}

/// The name of the IPv6 VIP's service real `id` belongs to (`ctl conns`), else the service of
/// (proto, VIP, port).
pub(super) fn service_of(
    snap: &Snapshot,
    id: RealId,
    proto: Protocol,
    vip: std::net::Ipv6Addr,
    vport: u16,
) -> Option<&str> {
    let table = &snap.v6.services;
    table
        .services()
        .iter()
        .find(|s| s.reals.iter().any(|r| r.id == id))
        .or_else(|| table.lookup(proto, vip, vport))
        .map(|s| s.name.as_str())
}

/// `ctl health`'s rows of the IPv6 part (`[2001:db8:1::11]:80`).
pub fn health_rows(snap: &Snapshot) -> Vec<HealthRow> {
    fn rows<V: Family>(s: &Service6<V>) -> impl Iterator<Item = HealthRow> + '_ {
        s.reals.iter().map(|r| HealthRow {
            service: s.name.clone(),
            real: crate::config::addr_port(r.addr, r.port),
            weight: r.weight,
            available: r.available,
            state: if r.available { "up" } else { "down" }.into(),
        })
    }
    let v6 = snap.v6.services.services().iter().flat_map(rows);
    let v46 = snap.v6.services46.services().iter().flat_map(rows);
    v6.chain(v46).collect()
}

/// One real of the IPv6 part for the metrics: (service, `[addr]:port`, weight, available,
/// figures summed over workers).
pub type RealRow = (String, String, u32, bool, RealFigures);

/// The metrics' rows of the IPv6 part (`real="[2001:db8:1::11]:80"`), in `ctl list` order.
pub(super) fn real_rows(snap: &Snapshot, sources: &Sources) -> Vec<(String, Vec<RealRow>)> {
    fn rows<V: Family>(s: &Service6<V>, src: &dyn Figures) -> (String, Vec<RealRow>) {
        let reals = s
            .reals
            .iter()
            .map(|r| {
                let at = crate::config::addr_port(r.addr, r.port);
                (s.name.clone(), at, r.weight, r.available, src.figures(r.id))
            })
            .collect();
        (s.name.clone(), reals)
    }
    let published = Published {
        sources,
        rates: None,
    };
    let v6 = snap
        .v6
        .services
        .services()
        .iter()
        .map(|s| rows(s, &published));
    let v46 = snap
        .v6
        .services46
        .services()
        .iter()
        .map(|s| rows(s, &Unforwarded));
    v6.chain(v46).collect()
}
