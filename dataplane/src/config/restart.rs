//! Which keys a running appliance takes on reload and which need a restart. This is the one
//! list: SIGHUP, `ctl reload`, `control.watch_config` and `ctl weight` all go through
//! [`restart_needed`].

use super::load::ConfigError;
use super::schema::Config;
use serde_json::Value;

/// Declares the restart-only keys once: their names ([`RESTART_ONLY`]) and how to read each
/// section of a config, so a reload compares only those sections (serialising a config with
/// 10 000 services to compare its `eal` was most of a reload's time).
macro_rules! restart_only {
    ($($key:ident),* $(,)?) => {
        /// Top-level keys set up once at start (EAL, queues and workers, ports and their taps,
        /// routes, the connection tables' size and timeouts, the log filter, the control socket,
        /// the metrics listener and the web console, sync, vrrp); a reload that changes one is refused.
        pub const RESTART_ONLY: &[&str] = &[$(stringify!($key)),*];

        /// The restart-only sections of `c`, in [`RESTART_ONLY`]'s order.
        fn restart_sections(c: &Config) -> serde_json::Result<Vec<Value>> {
            Ok(vec![$(serde_json::to_value(&c.$key)?),*])
        }
    };
}

restart_only!(
    log, eal, workers, ports, mode, l2fwd, routes, conn, control, metrics, console, sync, vrrp
);

/// Top-level keys a reload applies to the running appliance.
pub const RELOADABLE: &[&str] = &["neighbors", "services", "bgp", "drain"];

/// The first restart-only key that differs between the running config and a new one, as a
/// refusal naming its path (`workers.burst`, `ports[1].ip`, ...); `None` when a reload may take
/// `new`.
pub fn restart_needed(old: &Config, new: &Config) -> Option<ConfigError> {
    let (a, b) = match (restart_sections(old), restart_sections(new)) {
        (Ok(a), Ok(b)) => (a, b),
        // Config serialises (dataplane check prints it); if that ever failed, refuse rather
        // than apply blind.
        _ => {
            return Some(ConfigError::new(
                "",
                "cannot compare with the running config",
            ))
        }
    };
    RESTART_ONLY
        .iter()
        .zip(a.iter().zip(&b))
        .find_map(|(key, (a, b))| {
            let path = first_difference(key.to_string(), a, b)?;
            Some(ConfigError::new(path, "changing it needs a restart"))
        })
}

/// The path of the first place where `a` and `b` differ, under `path`.
fn first_difference(path: String, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                first_difference(
                    format!("{path}.{k}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) => (0..x.len().max(y.len())).find_map(|i| {
            first_difference(
                format!("{path}[{i}]"),
                x.get(i).unwrap_or(&Value::Null),
                y.get(i).unwrap_or(&Value::Null),
            )
        }),
        _ => (a != b).then_some(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nat() -> (&'static str, Config) {
        let text = include_str!("../../../configs/nat.yaml");
        (text, crate::config::load_str(text).unwrap())
    }

    fn refusal(text: &str, from: &str, to: &str) -> Option<String> {
        let old = crate::config::load_str(text).unwrap();
        assert!(text.contains(from), "{from} not in the config");
        let new = crate::config::load_str(&text.replacen(from, to, 1)).unwrap();
        restart_needed(&old, &new).map(|e| e.to_string())
    }

    #[test]
    fn names_the_first_restart_only_key_that_differs() {
        let (text, _) = nat();
        assert_eq!(
            refusal(text, "cores: [1]", "cores: [1]\n  burst: 16").as_deref(),
            Some("workers.burst: changing it needs a restart")
        );
        assert_eq!(
            refusal(text, "198.19.0.1/24", "198.19.0.2/24").as_deref(),
            Some("ports[1].ip: changing it needs a restart")
        );
        let extra = format!("{text}\nmetrics: {{listen: none}}\n");
        assert_eq!(
            refusal(&extra, "listen: none", "listen: 127.0.0.1:9999").as_deref(),
            Some("metrics.listen: changing it needs a restart")
        );
    }

    #[test]
    fn services_and_neighbours_reload() {
        let (text, cfg) = nat();
        assert_eq!(restart_needed(&cfg, &cfg), None);
        assert_eq!(refusal(text, "weight: 1}", "weight: 5}"), None);
        let with_neigh =
            format!("{text}\nneighbors: [{{ip: 198.19.0.11, mac: \"02:00:00:00:02:11\"}}]\n");
        let n = crate::config::load_str(&with_neigh).unwrap();
        assert_eq!(restart_needed(&cfg, &n), None);
    }

    /// Every top-level key is either restart-only or reloadable: a new key must be placed.
    #[test]
    fn every_top_level_key_is_classified() {
        let (_, cfg) = nat();
        let Value::Object(top) = serde_json::to_value(&cfg).unwrap() else {
            panic!("config is not a map");
        };
        let mut keys: Vec<&str> = top.keys().map(String::as_str).collect();
        keys.sort();
        let mut listed: Vec<&str> = RESTART_ONLY.iter().chain(RELOADABLE).copied().collect();
        listed.sort();
        assert_eq!(keys, listed);
    }
}
