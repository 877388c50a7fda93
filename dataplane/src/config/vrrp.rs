//! The `vrrp` section (docs/ha.md): VRRPv3 (RFC 5798) between this appliance and a peer
//! director (another appliance or keepalived). Data only: the management thread runs it.

use super::load::ConfigError;
use super::schema::Config;
use super::units::Dur;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// One virtual router: this node is master or backup for every VIP and floating address.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Vrrp {
    /// Virtual router id, 1 to 255; the same on both directors.
    pub vrid: u8,
    /// 1 to 254; the higher wins (equal: the higher primary address wins).
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// How often the master advertises (10 ms steps, 10 ms to 40.95 s).
    #[serde(default = "default_interval")]
    pub advert_interval: Dur,
    /// Take over from a lower-priority master.
    #[serde(default = "default_true")]
    pub preempt: bool,
    /// Wait this long after start (or after first seeing a lower-priority master) before
    /// preempting it.
    #[serde(default = "default_zero")]
    pub preempt_delay: Dur,
    /// While this node's connection resync is not done it does not preempt (failback without
    /// loss); this bounds that hold when no peer answers. 0: no hold.
    #[serde(default = "default_hold_max")]
    pub preempt_hold_max: Dur,
    /// The port whose exception interface speaks VRRP (default: the first port with an address).
    #[serde(default)]
    pub port: Option<String>,
    /// Addresses that move with the master beside the VIPs (the reals' gateway on the inside
    /// port in NAT mode).
    #[serde(default)]
    pub floating: Vec<Floating>,
    /// A command run on every state change, with DATAPLANE_VRRP_STATE (MASTER, BACKUP,
    /// FAULT, STOP) and the previous state, vrid and reason in its environment.
    #[serde(default)]
    pub notify: Option<PathBuf>,
}

/// An address answered for (ARP) only by the master, on a named port.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Floating {
    pub ip: Ipv4Addr,
    pub port: String,
}

fn default_priority() -> u8 {
    100
}
fn default_interval() -> Dur {
    Dur::secs(1)
}
fn default_true() -> bool {
    true
}
fn default_zero() -> Dur {
    Dur::secs(0)
}
fn default_hold_max() -> Dur {
    Dur::secs(60)
}

impl Vrrp {
    /// The index of the port VRRP speaks on (validated to exist and have an address).
    pub fn port_index(&self, cfg: &Config) -> Option<usize> {
        match &self.port {
            Some(n) => cfg.ports.iter().position(|p| &p.name == n),
            None => cfg.ports.iter().position(|p| p.ip.is_some()),
        }
    }

    /// The advert interval in centiseconds (validated to fit 12 bits).
    pub fn interval_cs(&self) -> u16 {
        (self.advert_interval.millis() / 10) as u16
    }

    pub fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        if self.vrid == 0 {
            return Err(ConfigError::new("vrrp.vrid", "must be between 1 and 255"));
        }
        if self.priority == 0 || self.priority == 255 {
            return Err(ConfigError::new(
                "vrrp.priority",
                "must be between 1 and 254 (0 is the resignation signal; 255 is for the \
                 owner of the addresses, which a director never is)",
            ));
        }
        let ms = self.advert_interval.millis();
        if !(10..=40_950).contains(&ms) || !ms.is_multiple_of(10) {
            return Err(ConfigError::new(
                "vrrp.advert_interval",
                format!(
                    "{} must be a multiple of 10ms between 10ms and 40950ms (RFC 5798 \
                     carries it in centiseconds, 12 bits)",
                    self.advert_interval
                ),
            ));
        }
        if self.preempt_delay.millis() > 3_600_000 {
            return Err(ConfigError::new("vrrp.preempt_delay", "must be at most 1h"));
        }
        if self.preempt_hold_max.millis() > 3_600_000 {
            return Err(ConfigError::new(
                "vrrp.preempt_hold_max",
                "must be at most 1h (0s: no hold)",
            ));
        }
        let port_key = "vrrp.port";
        let Some(i) = self.port_index(cfg) else {
            return Err(ConfigError::new(
                port_key,
                match &self.port {
                    Some(n) => format!("no port named `{n}`"),
                    None => "no port has an address to speak VRRP from".to_string(),
                },
            ));
        };
        let p = &cfg.ports[i];
        if p.ip.is_none() {
            return Err(ConfigError::new(
                port_key,
                format!("port `{}` has no address to send adverts from", p.name),
            ));
        }
        if p.exception.as_deref() == Some("none") {
            return Err(ConfigError::new(
                port_key,
                format!(
                    "port `{}` has no exception interface (exception: none); VRRP runs on it",
                    p.name
                ),
            ));
        }
        for (k, f) in self.floating.iter().enumerate() {
            let key = format!("vrrp.floating[{k}]");
            let Some(fp) = cfg.ports.iter().find(|p| p.name == f.port) else {
                return Err(ConfigError::new(
                    format!("{key}.port"),
                    format!("no port named `{}`", f.port),
                ));
            };
            if !is_unicast(f.ip) {
                return Err(ConfigError::new(
                    format!("{key}.ip"),
                    format!("{} is not a unicast address", f.ip),
                ));
            }
            if cfg
                .ports
                .iter()
                .any(|p| p.ip.is_some_and(|n| n.addr == f.ip))
            {
                return Err(ConfigError::new(
                    format!("{key}.ip"),
                    format!("{} is a port's own address, not a floating one", f.ip),
                ));
            }
            if cfg.services.iter().any(|s| s.vip == f.ip) {
                return Err(ConfigError::new(
                    format!("{key}.ip"),
                    format!("{} is a VIP (VIPs float already)", f.ip),
                ));
            }
            if !fp.ip.is_some_and(|n| n.contains(f.ip)) {
                return Err(ConfigError::new(
                    format!("{key}.ip"),
                    format!("{} is not in port `{}`'s subnet", f.ip, f.port),
                ));
            }
            if self.floating[..k].iter().any(|g| g.ip == f.ip) {
                return Err(ConfigError::new(
                    format!("{key}.ip"),
                    format!("{} is listed twice", f.ip),
                ));
            }
        }
        if let Some(n) = &self.notify {
            if n.as_os_str().is_empty() {
                return Err(ConfigError::new("vrrp.notify", "is empty"));
            }
        }
        Ok(())
    }
}

fn is_unicast(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback())
}

#[cfg(test)]
mod tests {
    fn nat_with(vrrp: &str) -> Result<crate::config::Config, String> {
        let text = format!("{}\n{vrrp}\n", include_str!("../../../configs/nat.yaml"));
        crate::config::load_str(&text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_section_loads() {
        let c = nat_with(
            "vrrp: {vrid: 51, priority: 150, advert_interval: 100ms, preempt: false, \
             preempt_delay: 5s, preempt_hold_max: 0s, port: ext, floating: [{ip: 198.19.0.254, port: int}], \
             notify: /bin/true}",
        )
        .unwrap();
        let v = c.vrrp.unwrap();
        assert_eq!((v.vrid, v.priority, v.interval_cs()), (51, 150, 10));
        assert!(!v.preempt);
        assert_eq!(v.preempt_delay.millis(), 5000);
        assert_eq!(v.preempt_hold_max.millis(), 0);
        assert_eq!(v.floating[0].ip, std::net::Ipv4Addr::new(198, 19, 0, 254));
    }

    #[test]
    fn defaults() {
        let v = nat_with("vrrp: {vrid: 7}").unwrap().vrrp.unwrap();
        assert_eq!((v.priority, v.interval_cs(), v.preempt), (100, 100, true));
        assert_eq!(v.preempt_delay.millis(), 0);
        assert_eq!(v.preempt_hold_max.millis(), 60_000);
        assert!(v.floating.is_empty() && v.notify.is_none() && v.port.is_none());
    }

    #[test]
    fn refusals_name_the_key() {
        let cases = [
            ("vrrp: {vrid: 0}", "vrrp.vrid"),
            ("vrrp: {vrid: 1, priority: 255}", "vrrp.priority"),
            ("vrrp: {vrid: 1, priority: 0}", "vrrp.priority"),
            (
                "vrrp: {vrid: 1, advert_interval: 5ms}",
                "vrrp.advert_interval",
            ),
            (
                "vrrp: {vrid: 1, advert_interval: 15ms}",
                "vrrp.advert_interval",
            ),
            (
                "vrrp: {vrid: 1, advert_interval: 41s}",
                "vrrp.advert_interval",
            ),
            ("vrrp: {vrid: 1, preempt_delay: 2h}", "vrrp.preempt_delay"),
            (
                "vrrp: {vrid: 1, preempt_hold_max: 2h}",
                "vrrp.preempt_hold_max",
            ),
            ("vrrp: {vrid: 1, port: nope}", "vrrp.port"),
            (
                "vrrp: {vrid: 1, floating: [{ip: 198.19.0.254, port: nope}]}",
                "vrrp.floating[0].port",
            ),
            (
                "vrrp: {vrid: 1, floating: [{ip: 198.19.0.1, port: int}]}",
                "vrrp.floating[0].ip",
            ),
            (
                "vrrp: {vrid: 1, floating: [{ip: 198.18.0.100, port: ext}]}",
                "vrrp.floating[0].ip",
            ),
            (
                "vrrp: {vrid: 1, floating: [{ip: 198.51.100.1, port: int}]}",
                "vrrp.floating[0].ip",
            ),
            (
                "vrrp: {vrid: 1, floating: [{ip: 224.0.0.1, port: int}]}",
                "vrrp.floating[0].ip",
            ),
            (
                "vrrp: {vrid: 1, floating: [{ip: 198.19.0.254, port: int}, \
                 {ip: 198.19.0.254, port: int}]}",
                "vrrp.floating[1].ip",
            ),
            ("vrrp: {vrid: 1, notify: ''}", "vrrp.notify"),
            // VRRPv3 has no authentication (RFC 5798 removed it).
            ("vrrp: {vrid: 1, auth: secret}", "vrrp.auth"),
        ];
        for (text, key) in cases {
            let e = nat_with(text).expect_err(text);
            let named = e.split([' ', ':']).next().unwrap_or_default();
            assert_eq!(named, key, "{text}: {e}");
        }
    }
}
