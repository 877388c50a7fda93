//! Semantic checks that serde cannot express: cross references and value ranges.

use super::lcores::parse_lcores;
use super::load::ConfigError;
use super::schema::{Config, Mode};
use crate::tunables::{MAX_BURST, MAX_DESCRIPTORS, MIN_DESCRIPTORS};
use std::collections::HashSet;

pub fn validate(cfg: &Config) -> Result<(), ConfigError> {
    let lcores = parse_lcores(&cfg.eal.lcores).map_err(|e| ConfigError::new("eal.lcores", e))?;
    let main = match cfg.eal.main_lcore {
        Some(m) if !lcores.contains(&m) => {
            return Err(ConfigError::new(
                "eal.main_lcore",
                format!("lcore {m} is not in eal.lcores `{}`", cfg.eal.lcores),
            ))
        }
        Some(m) => m,
        None => lcores[0],
    };
    check_file_prefix(&cfg.eal.file_prefix)?;
    if cfg.eal.memory_mb < 64 {
        return Err(ConfigError::new("eal.memory_mb", "must be at least 64"));
    }
    if cfg.workers.cores.is_empty() {
        return Err(ConfigError::new(
            "workers.cores",
            "at least one worker lcore is needed",
        ));
    }
    let mut seen = HashSet::new();
    for (i, &c) in cfg.workers.cores.iter().enumerate() {
        let key = format!("workers.cores[{i}]");
        if !lcores.contains(&c) {
            return Err(ConfigError::new(
                key,
                format!("lcore {c} is not in eal.lcores `{}`", cfg.eal.lcores),
            ));
        }
        if c == main {
            return Err(ConfigError::new(
                key,
                format!("lcore {c} is the main lcore, which runs the management thread"),
            ));
        }
        if !seen.insert(c) {
            return Err(ConfigError::new(key, format!("lcore {c} is listed twice")));
        }
    }
    if cfg.workers.burst == 0 || usize::from(cfg.workers.burst) > MAX_BURST {
        return Err(ConfigError::new(
            "workers.burst",
            format!("must be between 1 and {MAX_BURST}"),
        ));
    }
    if cfg.ports.is_empty() {
        return Err(ConfigError::new("ports", "at least one port is needed"));
    }
    let mut names = HashSet::new();
    for (i, p) in cfg.ports.iter().enumerate() {
        if p.name.is_empty() || !names.insert(p.name.as_str()) {
            return Err(ConfigError::new(
                format!("ports[{i}].name"),
                format!("`{}` is empty or used twice", p.name),
            ));
        }
        if p.device.trim().is_empty() {
            return Err(ConfigError::new(format!("ports[{i}].device"), "is empty"));
        }
        for (k, v) in [("rx_desc", p.rx_desc), ("tx_desc", p.tx_desc)] {
            if !(MIN_DESCRIPTORS..=MAX_DESCRIPTORS).contains(&v) {
                return Err(ConfigError::new(
                    format!("ports[{i}].{k}"),
                    format!("must be between {MIN_DESCRIPTORS} and {MAX_DESCRIPTORS}"),
                ));
            }
        }
    }
    match cfg.mode {
        Mode::L2fwd => {
            let l2 = cfg
                .l2fwd
                .as_ref()
                .ok_or_else(|| ConfigError::new("l2fwd", "required when mode is l2fwd"))?;
            if l2.pairs.is_empty() {
                return Err(ConfigError::new(
                    "l2fwd.pairs",
                    "at least one pair is needed",
                ));
            }
            let mut used = HashSet::new();
            for (i, pair) in l2.pairs.iter().enumerate() {
                for (j, name) in pair.iter().enumerate() {
                    if !names.contains(name.as_str()) {
                        return Err(ConfigError::new(
                            format!("l2fwd.pairs[{i}][{j}]"),
                            format!("no port named `{name}`"),
                        ));
                    }
                }
                // A port may be in one pair only: its RX queues have one destination.
                for name in pair.iter().collect::<HashSet<_>>() {
                    if !used.insert(name.clone()) {
                        return Err(ConfigError::new(
                            format!("l2fwd.pairs[{i}]"),
                            format!("port `{name}` is already in another pair"),
                        ));
                    }
                }
            }
            super::units::MacRewrite::parse(&l2.mac)
                .map_err(|e| ConfigError::new("l2fwd.mac", e))?;
        }
        Mode::Lb => super::validate_lb::validate(cfg)?,
    }
    cfg.console.validate()?;
    if let Some(s) = &cfg.sync {
        s.validate(cfg)?;
    }
    if let Some(v) = &cfg.vrrp {
        v.validate(cfg)?;
    }
    super::bgp::validate(cfg)?;
    Ok(())
}

/// A file prefix names a directory and starts file names: letters, digits, `-`, `_`, `.`.
pub fn check_file_prefix(p: &str) -> Result<(), ConfigError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if p.is_empty() || p.len() > 64 || !p.chars().all(ok_char) || p.starts_with('.') {
        return Err(ConfigError::new(
            "eal.file_prefix",
            format!(
                "`{p}` must be 1 to 64 letters, digits, `-`, `_` or `.` (not starting with `.`)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    fn with_prefix(line: &str) -> Result<crate::config::Config, String> {
        let text = crate::config::nat_yaml_unchecked().replacen(
            "  memory_mb: 512",
            &format!("  memory_mb: 512\n{line}"),
            1,
        );
        load_str(&text).map_err(|e| e.to_string())
    }

    #[test]
    fn file_prefix_default_and_override() {
        assert_eq!(with_prefix("").unwrap().eal.file_prefix, "dataplane");
        let c = with_prefix("  file_prefix: lb-2.blue_x").unwrap();
        assert_eq!(c.eal.file_prefix, "lb-2.blue_x");
    }

    #[test]
    fn file_prefix_refused_with_key_and_reason() {
        for bad in ["\"\"", "a/b", ".hidden", "\"a b\""] {
            let e = with_prefix(&format!("  file_prefix: {bad}")).unwrap_err();
            assert!(e.starts_with("eal.file_prefix"), "{bad}: {e}");
            assert!(e.contains("must be 1 to 64 letters"), "{bad}: {e}");
        }
    }
}
