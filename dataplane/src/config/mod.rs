//! The YAML configuration: schema (serde), loading with error messages that name the key path and
//! line, and semantic validation. The running config is never touched by a config that fails here.
mod lcores;
mod load;
mod schema;
mod units;
mod validate;
mod validate_lb;

pub use lcores::parse_lcores;
pub use load::{load_file, load_str, ConfigError};
pub use schema::*;
pub use units::{Dur, Ipv4Net, Mac};
pub use validate::check_file_prefix;

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
