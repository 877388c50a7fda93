//! `dataplane ctl bgp`: each VIP's announcement (announced or not, and why), whether the BGP
//! daemon answers, its last error, and the node's drain (docs/bgp.md).

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct BgpView {
    /// A `bgp` section is configured.
    pub enabled: bool,
    /// The daemon's gRPC address the CLI talks to.
    pub api: Option<String>,
    /// The last CLI call reached the daemon (None: none made yet).
    pub daemon_reachable: Option<bool>,
    pub last_error: Option<String>,
    /// CLI calls that failed since start.
    pub cli_errors: u64,
    /// Per VIP (IPv4), sorted.
    pub vips: Vec<VipView>,
    /// The node's drain (None: not draining).
    pub drain: Option<DrainView>,
    /// The node is stopping (the withdraw of a graceful stop is under way or done).
    pub stopping: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct VipView {
    pub vip: Ipv4Addr,
    /// The rule says announce.
    pub wanted: bool,
    /// The daemon holds the route (as of the last successful CLI call).
    pub announced: bool,
    /// Why it is (not) wanted.
    pub reason: String,
    pub next_hop: Ipv4Addr,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DrainView {
    /// Since the drain started.
    pub elapsed_ms: u64,
    /// `drain.grace` as it was when the drain started.
    pub grace_ms: u64,
    /// Connections left in the workers' tables.
    pub connections: u64,
}

/// The text of `ctl status`: the node line and how many VIPs are announced.
pub fn render_status(v: &BgpView) -> String {
    let mut s = node_line(v);
    if v.enabled {
        let on = v.vips.iter().filter(|r| r.announced).count();
        let _ = writeln!(s, "VIPs announced over BGP: {on} of {}", v.vips.len());
    }
    s
}

/// The text of `ctl bgp`.
pub fn render(v: &BgpView) -> String {
    let mut s = node_line(v);
    if !v.enabled {
        s.push_str("BGP: not configured (no VIP is announced)\n");
        return s;
    }
    s.push_str(&vips(v));
    s
}

/// Whether the node serves, drains or stops.
fn node_line(v: &BgpView) -> String {
    let mut s = String::new();
    match &v.drain {
        Some(d) => {
            let _ = writeln!(
                s,
                "node: draining for {} ms of {} ms, {} connections left",
                d.elapsed_ms, d.grace_ms, d.connections
            );
        }
        None if v.stopping => s.push_str("node: stopping\n"),
        None => s.push_str("node: serving\n"),
    }
    s
}

/// The daemon's line and the VIP table.
fn vips(v: &BgpView) -> String {
    let mut s = String::new();
    let reach = match v.daemon_reachable {
        Some(true) => "reachable",
        Some(false) => "NOT reachable",
        None => "not tried yet",
    };
    let _ = writeln!(
        s,
        "BGP daemon gobgp at {}: {reach}; CLI errors {}",
        v.api.as_deref().unwrap_or("?"),
        v.cli_errors
    );
    if let Some(e) = &v.last_error {
        let _ = writeln!(s, "last error: {e}");
    }
    let _ = writeln!(s, "{:<16} {:<9} {:<16} why", "VIP", "announced", "next hop");
    for r in &v.vips {
        let ann = match (r.announced, r.wanted) {
            (true, true) => "yes",
            (false, false) => "no",
            (false, true) => "pending",
            (true, false) => "removing",
        };
        let _ = writeln!(
            s,
            "{:<16} {:<9} {:<16} {}",
            r.vip.to_string(),
            ann,
            r.next_hop.to_string(),
            r.reason
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_vips_drain_and_daemon() {
        let v = BgpView {
            enabled: true,
            api: Some("127.0.0.1:50051".into()),
            daemon_reachable: Some(false),
            last_error: Some("gobgp: context deadline exceeded".into()),
            cli_errors: 3,
            vips: vec![
                VipView {
                    vip: "198.18.0.100".parse().unwrap(),
                    wanted: true,
                    announced: true,
                    reason: "2 healthy reals".into(),
                    next_hop: "198.18.0.1".parse().unwrap(),
                },
                VipView {
                    vip: "198.18.0.101".parse().unwrap(),
                    wanted: false,
                    announced: false,
                    reason: "no healthy real with a weight".into(),
                    next_hop: "198.18.0.1".parse().unwrap(),
                },
            ],
            drain: Some(DrainView {
                elapsed_ms: 1500,
                grace_ms: 30000,
                connections: 4,
            }),
            stopping: false,
        };
        assert_eq!(
            render(&v),
            "node: draining for 1500 ms of 30000 ms, 4 connections left\n\
             BGP daemon gobgp at 127.0.0.1:50051: NOT reachable; CLI errors 3\n\
             last error: gobgp: context deadline exceeded\n\
             VIP              announced next hop         why\n\
             198.18.0.100     yes       198.18.0.1       2 healthy reals\n\
             198.18.0.101     no        198.18.0.1       no healthy real with a weight\n"
        );
        assert_eq!(
            render_status(&v),
            "node: draining for 1500 ms of 30000 ms, 4 connections left\n\
             VIPs announced over BGP: 1 of 2\n"
        );
        let off = BgpView::default();
        assert_eq!(render_status(&off), "node: serving\n");
        assert_eq!(
            render(&off),
            "node: serving\nBGP: not configured (no VIP is announced)\n"
        );
    }
}
