//! The announce rule (docs/bgp.md): which VIP /32s this node should announce now, and why.
//! A VIP is announced while at least one of its services has a real that is healthy and has a
//! non-zero weight, and the node is not draining nor stopping; with VRRP, only while master.
//! Pure: the config, the health verdicts and the node's state in, the list out.

use crate::config::Config;
use crate::mgmt::health::RealKey;
use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

/// What the node is doing, beside its services' health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeState {
    pub draining: bool,
    pub stopping: bool,
    /// With VRRP: whether this node is master; None without VRRP.
    pub vrrp_master: Option<bool>,
}

/// One VIP's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want {
    pub vip: Ipv4Addr,
    pub announce: bool,
    pub reason: String,
    pub next_hop: Ipv4Addr,
}

/// Every IPv4 VIP of `cfg`'s services, sorted, with its verdict. Without a `bgp` section the
/// next hop is the VIP's port address as it would be (nothing is announced then anyway).
pub fn wanted(cfg: &Config, down: &HashSet<RealKey>, node: NodeState) -> Vec<Want> {
    // VIP -> healthy reals with a weight, over all its services.
    let mut usable: BTreeMap<Ipv4Addr, usize> = BTreeMap::new();
    for s in &cfg.services {
        let IpAddr::V4(vip) = s.vip else {
            continue;
        };
        let n = s
            .reals
            .iter()
            .filter(|r| r.weight > 0)
            .filter(|r| {
                !down.contains(&RealKey {
                    service: s.name.clone(),
                    ip: r.ip,
                    port: r.port.unwrap_or(s.port),
                })
            })
            .count();
        *usable.entry(vip).or_default() += n;
    }
    usable
        .into_iter()
        .map(|(vip, n)| {
            let (announce, reason) = verdict(n, node);
            Want {
                vip,
                announce,
                reason,
                next_hop: next_hop(cfg, vip),
            }
        })
        .collect()
}

/// The node's state first (it overrides health), then the reals.
fn verdict(usable: usize, node: NodeState) -> (bool, String) {
    if node.stopping {
        return (false, "stopping".into());
    }
    if node.draining {
        return (false, "draining".into());
    }
    if node.vrrp_master == Some(false) {
        return (false, "VRRP: not master".into());
    }
    match usable {
        0 => (false, "no healthy real with a weight".into()),
        1 => (true, "1 healthy real".into()),
        n => (true, format!("{n} healthy reals")),
    }
}

/// `bgp.next_hop`, else the address of the port whose subnet holds the VIP, else the first
/// port with an IPv4 address (validation makes sure one of these exists).
pub fn next_hop(cfg: &Config, vip: Ipv4Addr) -> Ipv4Addr {
    if let Some(nh) = cfg.bgp.as_ref().and_then(|b| b.next_hop) {
        return nh;
    }
    let with_ip = || cfg.ports.iter().filter_map(|p| p.ip);
    with_ip()
        .find(|n| {
            let mask = crate::config::prefix_mask(n.len);
            u32::from(n.addr) & mask == u32::from(vip) & mask
        })
        .or_else(|| with_ip().next())
        .map_or(Ipv4Addr::UNSPECIFIED, |n| n.addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two VIPs: .100 with web (two reals) and echo (one real), .101 with one real of weight 0
    /// and one healthy; an IPv6 VIP that is never announced.
    const CFG: &str = r#"
eal: {lcores: "0-1", memory_mb: 256, hugepages: off}
workers: {cores: [1]}
mode: lb
ports:
  - {name: ext, device: net_null0, ip: 198.18.0.1/24}
  - {name: int, device: net_null1, ip: 198.19.0.1/24, ip6: "2001:db8:1::1/64"}
bgp: {}
services:
  - name: web
    vip: 198.18.0.100
    port: 80
    reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]
  - name: echo
    vip: 198.18.0.100
    port: 7
    reals: [{ip: 198.19.0.13}]
  - name: other
    vip: 203.0.113.10
    port: 80
    scheduler: mh
    reals: [{ip: 198.19.0.21, weight: 0}, {ip: 198.19.0.22, port: 8080}]
  - name: six
    vip: "2001:db8::100"
    port: 80
    reals: [{ip: "2001:db8:1::11"}]
"#;

    fn cfg() -> Config {
        crate::config::load_str(CFG).unwrap()
    }

    fn down(list: &[(&str, &str, u16)]) -> HashSet<RealKey> {
        list.iter()
            .map(|(s, ip, port)| RealKey {
                service: s.to_string(),
                ip: ip.parse().unwrap(),
                port: *port,
            })
            .collect()
    }

    fn brief(w: &[Want]) -> Vec<(String, bool, String, String)> {
        w.iter()
            .map(|w| {
                (
                    w.vip.to_string(),
                    w.announce,
                    w.reason.clone(),
                    w.next_hop.to_string(),
                )
            })
            .collect()
    }

    fn row(vip: &str, a: bool, why: &str, nh: &str) -> (String, bool, String, String) {
        (vip.into(), a, why.into(), nh.into())
    }

    #[test]
    fn healthy_vips_are_announced_with_the_ports_address() {
        let w = wanted(&cfg(), &HashSet::new(), NodeState::default());
        assert_eq!(
            brief(&w),
            vec![
                row("198.18.0.100", true, "3 healthy reals", "198.18.0.1"),
                // Not in a port's subnet: the first port with an address.
                row("203.0.113.10", true, "1 healthy real", "198.18.0.1"),
            ]
        );
    }

    #[test]
    fn a_vip_is_withdrawn_when_its_last_usable_real_is_down() {
        // The weight-0 real does not count; the other one (port 8080) is down.
        let d = down(&[("other", "198.19.0.22", 8080)]);
        let w = wanted(&cfg(), &d, NodeState::default());
        assert_eq!(
            brief(&w)[1],
            row(
                "203.0.113.10",
                false,
                "no healthy real with a weight",
                "198.18.0.1"
            )
        );
        // A down real with the wrong port is another real: still announced.
        let d = down(&[("other", "198.19.0.22", 80)]);
        assert!(wanted(&cfg(), &d, NodeState::default())[1].announce);
        // One service of a VIP with no real left keeps it while another service has one.
        let d = down(&[("web", "198.19.0.11", 80), ("web", "198.19.0.12", 80)]);
        assert_eq!(
            brief(&wanted(&cfg(), &d, NodeState::default()))[0],
            row("198.18.0.100", true, "1 healthy real", "198.18.0.1")
        );
        let d = down(&[
            ("web", "198.19.0.11", 80),
            ("web", "198.19.0.12", 80),
            ("echo", "198.19.0.13", 7),
        ]);
        assert!(!wanted(&cfg(), &d, NodeState::default())[0].announce);
    }

    #[test]
    fn drain_stop_and_vrrp_backup_withdraw_everything() {
        for (node, why) in [
            (
                NodeState {
                    draining: true,
                    ..Default::default()
                },
                "draining",
            ),
            (
                NodeState {
                    stopping: true,
                    draining: true,
                    ..Default::default()
                },
                "stopping",
            ),
            (
                NodeState {
                    vrrp_master: Some(false),
                    ..Default::default()
                },
                "VRRP: not master",
            ),
        ] {
            let w = wanted(&cfg(), &HashSet::new(), node);
            assert_eq!(w.len(), 2);
            for v in &w {
                assert!(!v.announce, "{node:?}");
                assert_eq!(v.reason, why);
            }
        }
        let master = NodeState {
            vrrp_master: Some(true),
            ..Default::default()
        };
        assert!(wanted(&cfg(), &HashSet::new(), master)
            .iter()
            .all(|w| w.announce));
    }

    #[test]
    fn configured_next_hop_wins() {
        let text = CFG.replace("bgp: {}", "bgp: {next_hop: 198.18.0.9}");
        let c = crate::config::load_str(&text).unwrap();
        let w = wanted(&c, &HashSet::new(), NodeState::default());
        assert!(w.iter().all(|w| w.next_hop.to_string() == "198.18.0.9"));
    }
}
