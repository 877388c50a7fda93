//! The admission keys of a service (which new connections it takes): `acl` and
//! `max_connections` per service, `upper_threshold`/`lower_threshold` per real (ipvsadm's
//! `-x`/`-y`), and their checks. docs/config.md, "Admission".

use super::load::ConfigError;
use super::schema::Service;
use super::units::Ipv4Net;
use serde::{Deserialize, Serialize};

/// A service's access list for new connections: a client in `deny` is refused; otherwise it is
/// admitted if `allow` is empty or holds it. Established connections are never re-checked.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Acl {
    #[serde(default)]
    pub allow: Vec<Ipv4Net>,
    #[serde(default)]
    pub deny: Vec<Ipv4Net>,
}

/// Most prefixes an access list may hold (allow and deny together): a bound on the worker's
/// binary search and on the snapshot's memory.
pub const MAX_ACL_PREFIXES: usize = 65536;

fn err(key: String, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(key, reason)
}

/// Checks service `i`'s admission keys.
pub fn validate(s: &Service, i: usize) -> Result<(), ConfigError> {
    let key = |k: &str| format!("services[{i}].{k}");
    if let Some(acl) = &s.acl {
        if acl.allow.len() + acl.deny.len() > MAX_ACL_PREFIXES {
            return Err(err(
                key("acl"),
                format!("holds more than {MAX_ACL_PREFIXES} prefixes"),
            ));
        }
        for (list, name) in [(&acl.allow, "allow"), (&acl.deny, "deny")] {
            for (j, p) in list.iter().enumerate() {
                if p.addr != p.network() {
                    return Err(err(
                        key(&format!("acl.{name}[{j}]")),
                        format!(
                            "{p} has host bits set; the prefix is {}/{}",
                            p.network(),
                            p.len
                        ),
                    ));
                }
            }
        }
    }
    if s.max_connections == Some(0) {
        return Err(err(
            key("max_connections"),
            "must be at least 1 (leave it out for no limit)",
        ));
    }
    for (j, r) in s.reals.iter().enumerate() {
        let rkey = |k: &str| format!("services[{i}].reals[{j}].{k}");
        let upper = r.upper_threshold.unwrap_or(0);
        match r.lower_threshold {
            Some(l) if l > 0 && upper == 0 => {
                return Err(err(
                    rkey("lower_threshold"),
                    "needs an upper_threshold (the lower one only ends an overload)",
                ))
            }
            Some(l) if l > upper => {
                return Err(err(
                    rkey("lower_threshold"),
                    format!("{l} is above the upper_threshold {upper}"),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    fn with(service_keys: &str, real_keys: &str) -> String {
        crate::config::nat_yaml_unchecked()
            .replacen(
                "    forward: nat\n",
                &format!("    forward: nat\n{service_keys}"),
                1,
            )
            .replacen(
                "{ip: 198.19.0.11, weight: 1}",
                &format!("{{ip: 198.19.0.11, weight: 1{real_keys}}}"),
                1,
            )
    }

    fn error(service_keys: &str, real_keys: &str) -> String {
        load_str(&with(service_keys, real_keys))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn admission_keys_load() {
        let c = load_str(&with(
            "    acl: {allow: [198.18.0.0/24], deny: [198.18.0.3]}\n    max_connections: 100\n",
            ", upper_threshold: 8, lower_threshold: 4",
        ))
        .unwrap();
        let s = &c.services[0];
        let acl = s.acl.as_ref().unwrap();
        assert_eq!(acl.allow[0].to_string(), "198.18.0.0/24");
        assert_eq!(acl.deny[0].to_string(), "198.18.0.3/32");
        assert_eq!(s.max_connections, Some(100));
        assert_eq!(s.reals[0].upper_threshold, Some(8));
        assert_eq!(s.reals[0].lower_threshold, Some(4));
        // No keys: no limits.
        let c = load_str(&with("", "")).unwrap();
        assert_eq!(c.services[0].acl, None);
        assert_eq!(c.services[0].reals[0].upper_threshold, None);
    }

    #[test]
    fn refusals_name_the_key() {
        for (svc, real, key, reason) in [
            (
                "    acl: {deny: [198.18.0.1/24]}\n",
                "",
                "services[0].acl.deny[0]",
                "198.18.0.1/24 has host bits set; the prefix is 198.18.0.0/24",
            ),
            (
                "    acl: {allow: [198.18.0.0/16, 203.0.113.7/31]}\n",
                "",
                "services[0].acl.allow[1]",
                "203.0.113.7/31 has host bits set; the prefix is 203.0.113.6/31",
            ),
            (
                "    max_connections: 0\n",
                "",
                "services[0].max_connections",
                "must be at least 1 (leave it out for no limit)",
            ),
            (
                "",
                ", lower_threshold: 3",
                "services[0].reals[0].lower_threshold",
                "needs an upper_threshold (the lower one only ends an overload)",
            ),
            (
                "",
                ", upper_threshold: 4, lower_threshold: 5",
                "services[0].reals[0].lower_threshold",
                "5 is above the upper_threshold 4",
            ),
        ] {
            // The line is added where the key has one of its own (not inside a flow mapping).
            let e = error(svc, real);
            let rest = e.strip_prefix(key).unwrap_or_else(|| panic!("{e}"));
            let rest = match rest.strip_prefix(" (line ") {
                Some(r) => r.split_once(')').map_or("", |(_, r)| r),
                None => rest,
            };
            assert_eq!(rest, format!(": {reason}"), "{e}");
        }
        let e = error("    acl: {allow: [198.18.0.0/33]}\n", "");
        assert!(e.contains("acl.allow[0]"), "{e}");
        let e = error("    acl: {permit: []}\n", "");
        assert!(e.contains("unknown field `permit`"), "{e}");
    }
}
