//! `services[].syn_proxy`: the SYN-flood defence of a service, its schema and its checks.
//!
//! - NAT services: the appliance answers SYNs itself with SYN cookies and opens to the real
//!   only when the client's ACK proves the handshake (worker/engine/synproxy.rs).
//! - DR and TUN services (the real answers the client directly, so no proxy is possible):
//!   SYNs create no connection; the real is chosen by a consistent hash of the flow, so the
//!   handshake's ACK, which creates the connection, reaches the same real.
//!
//! `mode: auto` (the default) does that while the worker that receives the SYN holds more than
//! `half_open_threshold` half-open TCP connections; `always` always; `off` never.

use super::kinds::ForwardMode;
use super::load::ConfigError;
use super::schema::{Config, Protocol, Service};
use serde::{Deserialize, Serialize};

/// When the defence applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SynProxyMode {
    /// Above `half_open_threshold` half-open connections on the receiving worker.
    #[default]
    Auto,
    Always,
    Off,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SynProxy {
    pub mode: SynProxyMode,
    /// Half-open TCP connections per worker above which `auto` acts; default
    /// `conn.max_per_core / 8`.
    pub half_open_threshold: Option<u32>,
}

impl SynProxy {
    /// The threshold in effect for a table of `max_per_core` connections.
    pub fn threshold(&self, max_per_core: u32) -> u32 {
        self.half_open_threshold
            .unwrap_or((max_per_core / crate::tunables::SYN_PROXY_DEFAULT_THRESHOLD_DIVISOR).max(1))
    }
}

/// How a service's SYNs can be defended, from how its reals are forwarded (a real's `forward`
/// overrides the service's; a real at one of our addresses is the local node).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defence {
    /// Every real is NAT: SYN proxy with cookies.
    Proxy,
    /// Every real is DR or TUN: stateless SYNs.
    Stateless,
    /// A local real, a mix, or no real: nothing to do.
    None,
}

/// The defence `s` can have.
pub fn defence(cfg: &Config, s: &Service) -> Defence {
    let mode = |r: &super::schema::Real| match cfg.local_port(r.ip) {
        Some(_) => ForwardMode::Local,
        None => r.forward.unwrap_or(s.forward),
    };
    if s.protocol != Protocol::Tcp || s.reals.is_empty() {
        Defence::None
    } else if s.persistence.is_some() && s.reals.iter().all(|r| mode(r) != ForwardMode::Nat) {
        // A stateless SYN cannot consult (or create) a persistence template: the ACK would be
        // scheduled through it and could reach another real than the SYN did.
        Defence::None
    } else if s.reals.iter().all(|r| mode(r) == ForwardMode::Nat) {
        Defence::Proxy
    } else if s
        .reals
        .iter()
        .all(|r| matches!(mode(r), ForwardMode::Dr | ForwardMode::Tun))
    {
        Defence::Stateless
    } else {
        Defence::None
    }
}

/// Checks `s.syn_proxy` (`key` is its path, `services.N.syn_proxy`).
pub fn validate(cfg: &Config, s: &Service, key: &str) -> Result<(), ConfigError> {
    let sp = &s.syn_proxy;
    if let Some(t) = sp.half_open_threshold {
        if t == 0 || t > cfg.conn.max_per_core {
            return Err(ConfigError::new(
                format!("{key}.half_open_threshold"),
                format!(
                    "must be between 1 and conn.max_per_core ({}), got {t}",
                    cfg.conn.max_per_core
                ),
            ));
        }
    }
    if sp.mode != SynProxyMode::Always {
        return Ok(());
    }
    if s.protocol != Protocol::Tcp {
        return Err(ConfigError::new(
            format!("{key}.mode"),
            "always applies to tcp services only",
        ));
    }
    if !s.reals.is_empty() && defence(cfg, s) == Defence::None {
        return Err(ConfigError::new(
            format!("{key}.mode"),
            "always needs every real forwarded the same way: all nat (SYN proxy) or all dr/tun \
             (stateless SYNs, without persistence); a local real or a mix of nat and dr/tun \
             cannot be defended",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    fn base(service_extra: &str, reals: &str) -> String {
        format!(
            r#"eal: {{lcores: "0-1", memory_mb: 256, hugepages: off}}
workers: {{cores: [1]}}
mode: lb
ports:
  - {{name: ext, device: net_null0, ip: 198.18.0.1/24}}
  - {{name: int, device: net_null1, ip: 198.19.0.1/24}}
conn: {{max_per_core: 4096}}
services:
  - {{name: web, vip: 198.18.0.100, port: 80, forward: nat, {service_extra}
     reals: [{reals}]}}
"#
        )
    }

    fn check(extra: &str, reals: &str) -> Result<crate::config::Config, String> {
        load_str(&base(extra, reals)).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_values() {
        use super::SynProxyMode;
        let c = check("", "{ip: 198.19.0.11}").unwrap();
        let sp = &c.services[0].syn_proxy;
        assert_eq!(sp.mode, SynProxyMode::Auto);
        assert_eq!(sp.threshold(4096), 512);
        let c = check(
            "syn_proxy: {mode: always, half_open_threshold: 100},",
            "{ip: 198.19.0.11}",
        )
        .unwrap();
        let sp = &c.services[0].syn_proxy;
        assert_eq!((sp.mode, sp.threshold(4096)), (SynProxyMode::Always, 100));
        let c = check("syn_proxy: {mode: off},", "{ip: 198.19.0.11}").unwrap();
        assert_eq!(c.services[0].syn_proxy.mode, SynProxyMode::Off);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = check("syn_proxy: {half_open_threshold: 0},", "{ip: 198.19.0.11}").unwrap_err();
        assert!(
            e.contains("services[0].syn_proxy.half_open_threshold"),
            "{e}"
        );
        assert!(
            e.contains("between 1 and conn.max_per_core (4096), got 0"),
            "{e}"
        );
        let e = check(
            "syn_proxy: {half_open_threshold: 5000},",
            "{ip: 198.19.0.11}",
        )
        .unwrap_err();
        assert!(e.contains("got 5000"), "{e}");
        let e = check("syn_proxy: {mode: sometimes},", "{ip: 198.19.0.11}").unwrap_err();
        assert!(e.contains("syn_proxy.mode"), "{e}");
        let e = check("syn_proxy: {mod: always},", "{ip: 198.19.0.11}").unwrap_err();
        assert!(e.contains("syn_proxy"), "{e}");
        let e = check(
            "syn_proxy: {mode: always},",
            "{ip: 198.19.0.11}, {ip: 198.19.0.12, forward: dr}",
        )
        .unwrap_err();
        assert!(e.contains("services[0].syn_proxy.mode"), "{e}");
        assert!(e.contains("all nat (SYN proxy) or all dr/tun"), "{e}");
        // auto on a mixed service is fine: it just cannot act there.
        check("", "{ip: 198.19.0.11}, {ip: 198.19.0.12, forward: dr}").unwrap();
        check(
            "syn_proxy: {mode: always},",
            "{ip: 198.19.0.11, forward: dr}, {ip: 198.19.0.12, forward: tun}",
        )
        .unwrap();
    }
}
