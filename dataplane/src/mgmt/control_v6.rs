//! The IPv6-involving services in the control socket's views (`ctl list`, `ctl health`): the
//! services of the snapshot's IPv6 part (`lb/snapshot6.rs`), listed after the IPv4 ones.
//!
//! Their traffic figures are zero until the engine forwards IPv6: the workers count per real id
//! of the IPv4 table only, and an IPv6 table's ids are a space of their own, so reading those
//! counters here would show another real's traffic.

use crate::ctl::proto::{HealthRow, Rate, RealView, ServiceView, Traffic};
use crate::lb::family::Family;
use crate::lb::service6::Service6;
use crate::lb::snapshot::Snapshot;
use crate::lb::types::Protocol;

fn protocol(p: Protocol) -> String {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Icmp => "icmp",
    }
    .into()
}

fn view<V: Family>(s: &Service6<V>, stats: bool, rate: bool) -> ServiceView {
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
        stats: stats.then(Traffic::default),
        rate: rate.then(Rate::default),
        reals: s
            .reals
            .iter()
            .map(|r| RealView {
                addr: r.addr,
                port: r.port,
                forward: r.forward_mode(s.forward),
                weight: r.weight,
                active: 0,
                inactive: 0,
                available: r.available,
                overloaded: false,
                stats: stats.then(Traffic::default),
                rate: rate.then(Rate::default),
            })
            .collect(),
    }
}

/// `ctl list`'s rows of the IPv6 part: IPv6 VIPs, then IPv4 VIPs over IPv6 reals.
pub fn service_views(snap: &Snapshot, stats: bool, rate: bool) -> Vec<ServiceView> {
    let v6 = snap
        .v6
        .services
        .services()
        .iter()
        .map(|s| view(s, stats, rate));
    let v46 = snap
        .v6
        .services46
        .services()
        .iter()
        .map(|s| view(s, stats, rate));
    v6.chain(v46).collect()
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

/// One real of the IPv6 part for the metrics: (service, `[addr]:port`, weight, available).
pub type RealRow = (String, String, u32, bool);

/// The metrics' rows of the IPv6 part (`real="[2001:db8:1::11]:80"`), in `ctl list` order.
pub fn real_rows(snap: &Snapshot) -> Vec<(String, Vec<RealRow>)> {
    fn rows<V: Family>(s: &Service6<V>) -> (String, Vec<RealRow>) {
        let reals = s
            .reals
            .iter()
            .map(|r| {
                let at = crate::config::addr_port(r.addr, r.port);
                (s.name.clone(), at, r.weight, r.available)
            })
            .collect();
        (s.name.clone(), reals)
    }
    let v6 = snap.v6.services.services().iter().map(rows);
    let v46 = snap.v6.services46.services().iter().map(rows);
    v6.chain(v46).collect()
}
