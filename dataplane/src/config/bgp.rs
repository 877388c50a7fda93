//! The `bgp` and `drain` sections (docs/bgp.md): VIP announcement through a BGP daemon running
//! beside the appliance (GoBGP, driven through its CLI), and the graceful drain of the node.
//! Data only: the management thread runs the announcer (mgmt/bgp/) and the drain
//! (mgmt/drain.rs). Both sections are hot-reloadable.

use super::load::ConfigError;
use super::schema::{Config, Protocol};
use super::units::Dur;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// The daemon that carries the announcements. Only GoBGP for now (docs/decisions.md).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BgpDaemon {
    #[default]
    Gobgp,
}

/// VIP announcement: each VIP's /32 is added to (or withdrawn from) the daemon's global RIB.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bgp {
    #[serde(default)]
    pub daemon: BgpDaemon,
    /// The daemon's gRPC address (`gobgp -u HOST -p PORT`).
    #[serde(default = "default_api")]
    pub api: SocketAddr,
    /// The CLI (a path, or a name looked up on PATH).
    #[serde(default = "default_cli")]
    pub cli: PathBuf,
    /// The next hop announced; default: the IPv4 address of the port the VIP is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<Ipv4Addr>,
    /// How often the announced set is compared with the daemon's RIB and re-asserted (a
    /// restarted daemon has forgotten the routes).
    #[serde(default = "default_refresh")]
    pub refresh: Dur,
}

/// The graceful drain of the whole node (SIGTERM with `bgp`, `ctl drain`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Drain {
    /// After the withdraw, established connections are forwarded until none is left or this
    /// runs out; then the appliance stops.
    #[serde(default = "default_grace")]
    pub grace: Dur,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            grace: default_grace(),
        }
    }
}

fn default_api() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}
fn default_cli() -> PathBuf {
    "gobgp".into()
}
fn default_refresh() -> Dur {
    Dur::secs(5)
}
fn default_grace() -> Dur {
    Dur::secs(30)
}

/// Longest `refresh` and `grace` accepted.
const MAX_SECS: u64 = 3600;

impl Bgp {
    pub fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        if self.api.port() == 0 {
            return Err(ConfigError::new("bgp.api", "the port must not be 0"));
        }
        let cli = self.cli.as_os_str();
        if cli.is_empty() || self.cli.to_string_lossy().ends_with('/') {
            return Err(ConfigError::new(
                "bgp.cli",
                "must name the gobgp CLI (a path or a name on PATH)",
            ));
        }
        if let Some(nh) = self.next_hop {
            if nh.is_unspecified() || nh.is_multicast() || nh.is_broadcast() || nh.is_loopback() {
                return Err(ConfigError::new(
                    "bgp.next_hop",
                    format!("{nh} is not a unicast address the router can reach"),
                ));
            }
        }
        let ms = self.refresh.millis();
        if !(1_000..=MAX_SECS * 1000).contains(&ms) {
            return Err(ConfigError::new(
                "bgp.refresh",
                format!("{} must be between 1s and 1h", self.refresh),
            ));
        }
        if self.next_hop.is_none() && !cfg.ports.iter().any(|p| p.ip.is_some()) {
            return Err(ConfigError::new(
                "bgp.next_hop",
                "required when no port has an IPv4 address (the default next hop is the \
                 address of the VIP's port)",
            ));
        }
        Ok(())
    }
}

impl Drain {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.grace.millis() > MAX_SECS * 1000 {
            return Err(ConfigError::new("drain.grace", "must be at most 1h"));
        }
        Ok(())
    }
}

/// Checks the `bgp` and `drain` sections and each service's `sloppy_tcp`.
pub fn validate(cfg: &Config) -> Result<(), ConfigError> {
    if let Some(b) = &cfg.bgp {
        b.validate(cfg)?;
    }
    if let Some(d) = &cfg.drain {
        d.validate()?;
    }
    for (i, s) in cfg.services.iter().enumerate() {
        if s.sloppy_tcp && s.protocol != Protocol::Tcp {
            return Err(ConfigError::new(
                format!("services[{i}].sloppy_tcp"),
                "applies to TCP services only (a UDP datagram always opens a connection)",
            ));
        }
        if s.sloppy_tcp && s.vip.is_ipv6() {
            return Err(ConfigError::new(
                format!("services[{i}].sloppy_tcp"),
                "is not supported on IPv6 VIPs yet (IPv4 services only)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    fn with(extra: &str) -> Result<crate::config::Config, String> {
        let text = format!("{}\n{extra}", crate::config::nat_yaml_unchecked());
        load_str(&text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_overrides() {
        let c = with("bgp: {}\ndrain: {}").unwrap();
        let b = c.bgp.unwrap();
        assert_eq!(b.api.to_string(), "127.0.0.1:50051");
        assert_eq!(b.cli.to_str(), Some("gobgp"));
        assert_eq!(b.next_hop, None);
        assert_eq!(b.refresh.millis(), 5000);
        assert_eq!(c.drain.unwrap().grace.millis(), 30_000);
        let c = with(
            "bgp: {api: 127.0.0.1:50151, cli: /usr/bin/gobgp, next_hop: 198.18.0.9, \
             refresh: 2s}\ndrain: {grace: 5s}",
        )
        .unwrap();
        let b = c.bgp.unwrap();
        assert_eq!(b.api.port(), 50151);
        assert_eq!(b.next_hop, Some("198.18.0.9".parse().unwrap()));
        assert_eq!(b.refresh.millis(), 2000);
        assert_eq!(c.drain.unwrap().grace.millis(), 5000);
        let none = with("").unwrap();
        assert!(none.bgp.is_none() && none.drain.is_none());
    }

    #[test]
    fn refusals_name_the_key() {
        for (extra, key, why) in [
            ("bgp: {daemon: bird}", "bgp.daemon", "unknown variant"),
            (
                "bgp: {api: \"127.0.0.1:0\"}",
                "bgp.api",
                "port must not be 0",
            ),
            ("bgp: {cli: \"\"}", "bgp.cli", "must name the gobgp CLI"),
            ("bgp: {next_hop: 0.0.0.0}", "bgp.next_hop", "not a unicast"),
            ("bgp: {refresh: 100ms}", "bgp.refresh", "between 1s and 1h"),
            ("bgp: {peer: 198.18.0.254}", "bgp.peer", "unknown field"),
            ("drain: {grace: 2h}", "drain.grace", "at most 1h"),
            (
                "  - {name: u, vip: 198.18.0.100, port: 9, protocol: udp, sloppy_tcp: true}",
                "services[3].sloppy_tcp",
                "TCP services only",
            ),
        ] {
            let e = with(extra).unwrap_err();
            assert!(e.starts_with(key), "{extra}: {e}");
            assert!(e.contains(why), "{extra}: {e}");
        }
    }
}
