//! Connection sync's settings (docs/config.md `sync`, wire format docs/sync.md): the role, where
//! datagrams go (a multicast group by default, or a list of unicast peers), the UDP port, the
//! shared key and this node's sender id.

use super::load::ConfigError;
use super::schema::Config;
use super::units::Dur;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// What this node does with connection sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncRole {
    /// Sends its connections; ignores peers' datagrams (answers their resync requests).
    Master,
    /// Installs the peers' connections; sends none (asks for the whole table at start).
    Backup,
    /// Both (active-active / scale-out).
    Both,
}

impl SyncRole {
    pub fn sends(self) -> bool {
        matches!(self, SyncRole::Master | SyncRole::Both)
    }

    pub fn receives(self) -> bool {
        matches!(self, SyncRole::Backup | SyncRole::Both)
    }
}

/// `sync:` (absent: no sync).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    pub role: SyncRole,
    /// Multicast group (239.0.0.0/8, administratively scoped) the datagrams go to.
    #[serde(default = "default_group")]
    pub group: Ipv4Addr,
    /// UDP port, sent to and listened on.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Unicast peers: when set, datagrams go to each of them instead of the group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<Ipv4Addr>,
    /// A file holding the shared HMAC key (at least 16 bytes; every byte is used).
    pub key_file: PathBuf,
    /// This node's id in the header, unique among the peers (default: the sync port's address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<u32>,
    /// The port (by name) whose exception interface carries sync (default: the first port with
    /// an address, the client side in the shipped configs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// How often every live connection is sent again, so that a backup's copy never expires
    /// before the master's.
    #[serde(default = "default_refresh")]
    pub refresh: Dur,
    /// Announce a TCP connection when it is created (SYN_RECV), not only once ESTABLISHED:
    /// for scale-out NAT, where the real's SYN-ACK may come back through another appliance
    /// (docs/scale-out.md). Off by default, as IPVS (docs/decisions.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub half_open: bool,
}

fn default_group() -> Ipv4Addr {
    Ipv4Addr::new(239, 18, 0, 81)
}

fn default_port() -> u16 {
    8848
}

fn default_refresh() -> Dur {
    Dur::secs(60)
}

/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

impl SyncConfig {
    /// The index of the port sync uses.
    pub fn port_index(&self, cfg: &Config) -> Option<usize> {
        match &self.via {
            Some(name) => cfg.ports.iter().position(|p| &p.name == name),
            None => cfg.ports.iter().position(|p| p.ip.is_some()),
        }
    }

    /// The sender id: the configured one, else the sync port's address.
    pub fn sender(&self, cfg: &Config) -> u32 {
        self.sender_id.unwrap_or_else(|| {
            self.port_index(cfg)
                .and_then(|i| cfg.ports[i].ip)
                .map_or(1, |n| u32::from(n.addr))
        })
    }

    /// Reads the key file (at start, and by validation so that a bad file is refused early).
    pub fn read_key(&self) -> Result<Vec<u8>, ConfigError> {
        let key = std::fs::read(&self.key_file).map_err(|e| {
            ConfigError::new(
                "sync.key_file",
                format!("cannot read {}: {e}", self.key_file.display()),
            )
        })?;
        if key.len() < MIN_KEY_BYTES {
            return Err(ConfigError::new(
                "sync.key_file",
                format!(
                    "{} holds {} bytes; the key needs at least {MIN_KEY_BYTES}",
                    self.key_file.display(),
                    key.len()
                ),
            ));
        }
        Ok(key)
    }

    pub fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        if self.group.octets()[0] != 239 {
            return Err(ConfigError::new(
                "sync.group",
                format!(
                    "{} is not an administratively scoped multicast group (239.0.0.0/8)",
                    self.group
                ),
            ));
        }
        if self.port == 0 {
            return Err(ConfigError::new("sync.port", "must be between 1 and 65535"));
        }
        for (i, p) in self.peers.iter().enumerate() {
            if p.is_multicast() || p.is_broadcast() || p.is_unspecified() || p.is_loopback() {
                return Err(ConfigError::new(
                    format!("sync.peers[{i}]"),
                    format!("{p} is not a unicast address"),
                ));
            }
        }
        if self.sender_id == Some(0) {
            return Err(ConfigError::new("sync.sender_id", "must not be 0"));
        }
        if self.half_open && !self.role.sends() {
            return Err(ConfigError::new(
                "sync.half_open",
                "role `backup` sends no connections; set it on the nodes that send \
                 (role `master` or `both`)",
            ));
        }
        if self.refresh.millis() < 1000 {
            return Err(ConfigError::new("sync.refresh", "must be at least 1s"));
        }
        match (&self.via, self.port_index(cfg)) {
            (Some(name), None) => {
                return Err(ConfigError::new(
                    "sync.via",
                    format!("no port named `{name}`"),
                ))
            }
            (_, None) => {
                return Err(ConfigError::new(
                    "sync",
                    "no port has an address (sync needs its exception interface)",
                ))
            }
            (Some(_), Some(i)) if cfg.ports[i].ip.is_none() => {
                return Err(ConfigError::new(
                    "sync.via",
                    format!(
                        "port `{}` has no address (sync needs its exception interface)",
                        cfg.ports[i].name
                    ),
                ))
            }
            _ => {}
        }
        self.read_key().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{load_str, SyncRole};
    use std::io::Write;

    fn with(extra: &str) -> Result<crate::config::Config, crate::config::ConfigError> {
        load_str(&format!(
            "{}\n{extra}\n",
            include_str!("../../../configs/nat.yaml")
        ))
    }

    fn key_file(bytes: usize) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&vec![0x5a; bytes]).unwrap();
        f
    }

    #[test]
    fn defaults_and_round_trip() {
        assert_eq!(with("").unwrap().sync, None);
        let k = key_file(32);
        let c = with(&format!(
            "sync: {{role: both, key_file: {}}}",
            k.path().display()
        ))
        .unwrap();
        let s = c.sync.clone().unwrap();
        assert_eq!(s.role, SyncRole::Both);
        assert_eq!(s.group, std::net::Ipv4Addr::new(239, 18, 0, 81));
        assert_eq!(s.port, 8848);
        assert_eq!(s.port_index(&c), Some(0));
        assert_eq!(
            s.sender(&c),
            u32::from(std::net::Ipv4Addr::new(198, 18, 0, 1))
        );
        assert_eq!(s.refresh.millis(), 60_000);
        assert!(!s.half_open);
        let text = serde_yaml_ng::to_string(&c).unwrap();
        assert_eq!(load_str(&text).unwrap(), c);
    }

    #[test]
    fn half_open_is_taken_where_the_node_sends() {
        let k = key_file(32);
        for role in ["master", "both"] {
            let c = with(&format!(
                "sync: {{role: {role}, key_file: {}, half_open: true}}",
                k.path().display()
            ))
            .unwrap();
            let s = c.sync.clone().unwrap();
            assert!(s.half_open, "{role}");
            let text = serde_yaml_ng::to_string(&c).unwrap();
            assert_eq!(load_str(&text).unwrap(), c);
        }
    }

    #[test]
    fn every_bad_key_is_named() {
        let k = key_file(32);
        let short = key_file(8);
        let kp = k.path().display().to_string();
        let cases = [
            (
                format!("sync: {{role: master, key_file: {kp}, group: 224.0.0.18}}"),
                "sync.group",
            ),
            (
                format!("sync: {{role: master, key_file: {kp}, port: 0}}"),
                "sync.port",
            ),
            (
                format!("sync: {{role: master, key_file: {kp}, peers: [198.18.0.9, 239.1.1.1]}}"),
                "sync.peers[1]",
            ),
            (
                format!("sync: {{role: master, key_file: {kp}, sender_id: 0}}"),
                "sync.sender_id",
            ),
            (
                format!("sync: {{role: master, key_file: {kp}, via: nope}}"),
                "sync.via",
            ),
            (
                format!("sync: {{role: master, key_file: {kp}, refresh: 10ms}}"),
                "sync.refresh",
            ),
            (
                format!("sync: {{role: primary, key_file: {kp}}}"),
                "sync.role",
            ),
            (
                format!("sync: {{role: master, key_file: {kp}, colour: red}}"),
                "sync.colour",
            ),
            (
                format!(
                    "sync: {{role: master, key_file: {}}}",
                    short.path().display()
                ),
                "sync.key_file",
            ),
            (
                "sync: {role: master, key_file: /nonexistent/sync.key}".to_string(),
                "sync.key_file",
            ),
            ("sync: {role: master}".to_string(), "sync"),
            (
                format!("sync: {{role: both, key_file: {kp}, half_open: maybe}}"),
                "sync.half_open",
            ),
            (
                format!("sync: {{role: backup, key_file: {kp}, half_open: true}}"),
                "sync.half_open",
            ),
        ];
        for (yaml, key) in cases {
            let e = with(&yaml).unwrap_err();
            assert_eq!(e.key, key, "{yaml}: {e}");
        }
        let e = with(&format!(
            "sync: {{role: master, key_file: {}}}",
            short.path().display()
        ))
        .unwrap_err();
        assert!(
            e.reason
                .ends_with("holds 8 bytes; the key needs at least 16"),
            "{e}"
        );
    }
}
