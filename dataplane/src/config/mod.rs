//! The YAML configuration: schema (serde), loading with error messages that name the key path and
//! line, and semantic validation. The running config is never touched by a config that fails here.
mod kinds;

mod admission;
mod bgp;

mod console;
mod guard;
mod ipnet;
mod lcores;
mod load;
#[cfg(test)]
mod prop_no_panic;
mod restart;
mod schema;
mod syn_proxy;
mod sync;
mod units;
mod validate;
mod validate_family;
mod validate_lb;
mod vrrp;

pub use kinds::{ForwardMode, SchedKind, UnknownForwardMode, UnknownScheduler};

pub use admission::{Acl, MAX_ACL_PREFIXES};
pub use bgp::{Bgp, BgpDaemon, Drain};
pub use console::Console;
pub use ipnet::{addr_port, parse_addr_port, prefix_mask6, IpNet, Ipv6Net};
pub use lcores::parse_lcores;
pub use load::{check_file, check_str, load_file, load_str, ConfigError};
pub use restart::{restart_needed, RELOADABLE, RESTART_ONLY};
pub use schema::*;
pub use syn_proxy::{defence as syn_defence, Defence, SynProxy, SynProxyMode};
pub use sync::{SyncConfig, SyncRole};
pub use units::{prefix_mask, Dur, Ipv4Net, Mac, MacRewrite};
pub use validate::check_file_prefix;
pub use vrrp::{Floating, Vrrp};

/// configs/nat.yaml without its shipped health check, for tests that put their own in.
#[cfg(test)]
pub fn nat_yaml_unchecked() -> String {
    let text = include_str!("../../../configs/nat.yaml");
    let out: String = text
        .lines()
        .filter(|l| {
            !l.trim_start().starts_with("health_check:")
                && !l.contains("gets no new connections until it recovers")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(
        out.len(),
        text.len(),
        "nat.yaml no longer has a health check to strip"
    );
    out
}

#[cfg(test)]
mod layering {
    /// config/ is data: it imports nothing from the parts that act on it (docs/architecture.md,
    /// "Layering"); they convert its types at their edge.
    #[test]
    fn config_imports_nothing_from_the_engine_or_the_runtime() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config");
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            files += 1;
            // Spelled in pieces so that this file does not match itself.
            let mut banned: Vec<String> =
                ["lb", "worker", "dpdk", "mgmt", "runtime", "ctl", "replay"]
                    .iter()
                    .map(|m| format!("crate::{m}"))
                    .collect();
            banned.push(format!("super::{}", "super"));
            for banned in &banned {
                assert!(!text.contains(banned), "{} uses {banned}", path.display());
            }
        }
        assert!(files >= 8, "config/ has {files} files");
    }
}
