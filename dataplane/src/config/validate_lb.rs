//! Checks of the load-balancer sections (ports' addresses, routes, neighbours, conn limits,
//! services and their reals): cross references, reachability, and value ranges.

use super::load::ConfigError;
use super::schema::{Config, Forward};
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// Scheduler names the engine knows (lb::sched).
pub const SCHEDULERS: &[&str] = &["rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh"];

fn err(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(key, reason)
}

/// Is `ip` on one of the ports' connected subnets?
fn connected(cfg: &Config, ip: Ipv4Addr) -> bool {
    cfg.ports
        .iter()
        .filter_map(|p| p.ip)
        .any(|n| n.contains(ip))
}

/// Is `ip` reachable: on a connected subnet or covered by a static route?
fn routable(cfg: &Config, ip: Ipv4Addr) -> bool {
    connected(cfg, ip) || cfg.routes.iter().any(|r| r.prefix.contains(ip))
}

pub fn validate(cfg: &Config) -> Result<(), ConfigError> {
    let mut own = HashSet::new();
    for (i, p) in cfg.ports.iter().enumerate() {
        if let Some(ip) = p.ip {
            if ip.len == 0 {
                return Err(err(
                    format!("ports[{i}].ip"),
                    "needs a prefix length, e.g. /24",
                ));
            }
            if !own.insert(ip.addr) {
                return Err(err(
                    format!("ports[{i}].ip"),
                    format!("{} is used by another port", ip.addr),
                ));
            }
        }
        if let Some(ex) = &p.exception {
            if ex != "none" && (ex.is_empty() || ex.len() > 15 || ex.contains(['/', ' ', ','])) {
                return Err(err(
                    format!("ports[{i}].exception"),
                    "must be `none` or an interface name of 1-15 characters without '/', ',' or spaces",
                ));
            }
            if ex != "none" && p.ip.is_none() {
                return Err(err(
                    format!("ports[{i}].exception"),
                    "needs the port's `ip`",
                ));
            }
        }
    }
    if own.is_empty() {
        return Err(err("ports", "mode lb needs at least one port with an `ip`"));
    }
    for (i, r) in cfg.routes.iter().enumerate() {
        if !connected(cfg, r.via) {
            return Err(err(
                format!("routes[{i}].via"),
                format!("{} is not on any port's subnet", r.via),
            ));
        }
    }
    for (i, n) in cfg.neighbors.iter().enumerate() {
        if !connected(cfg, n.ip) {
            return Err(err(
                format!("neighbors[{i}].ip"),
                format!("{} is not on any port's subnet", n.ip),
            ));
        }
    }
    if !(1024..=(1 << 27)).contains(&cfg.conn.max_per_core) {
        return Err(err(
            "conn.max_per_core",
            "must be between 1024 and 134217728",
        ));
    }
    if !(256..=(1 << 24)).contains(&cfg.conn.max_templates_per_core) {
        return Err(err(
            "conn.max_templates_per_core",
            "must be between 256 and 16777216",
        ));
    }
    let t = &cfg.conn.timeouts;
    for (k, d) in [
        ("tcp_established", t.tcp_established),
        ("tcp_syn_sent", t.tcp_syn_sent),
        ("tcp_syn_recv", t.tcp_syn_recv),
        ("tcp_fin_wait", t.tcp_fin_wait),
        ("tcp_time_wait", t.tcp_time_wait),
        ("tcp_close", t.tcp_close),
        ("tcp_close_wait", t.tcp_close_wait),
        ("tcp_last_ack", t.tcp_last_ack),
        ("tcp_listen", t.tcp_listen),
        ("tcp_synack", t.tcp_synack),
        ("udp", t.udp),
        ("icmp", t.icmp),
    ] {
        if d.millis() < 1000 || d.millis() > 7 * 24 * 3_600_000 {
            return Err(err(
                format!("conn.timeouts.{k}"),
                "must be between 1s and 168h",
            ));
        }
    }

    let mut names = HashSet::new();
    let mut keys = HashSet::new();
    for (i, s) in cfg.services.iter().enumerate() {
        let key = |k: &str| format!("services[{i}].{k}");
        if s.name.is_empty() || !names.insert(s.name.as_str()) {
            return Err(err(
                key("name"),
                format!("`{}` is empty or used by another service", s.name),
            ));
        }
        if !keys.insert((s.protocol, s.vip, s.port)) {
            return Err(err(
                key("vip"),
                format!(
                    "another service already has {:?} {}:{}",
                    s.protocol, s.vip, s.port
                )
                .to_lowercase(),
            ));
        }
        if own.contains(&s.vip) {
            return Err(err(
                key("vip"),
                format!("{} is a port address, not a virtual one", s.vip),
            ));
        }
        if !SCHEDULERS.contains(&s.scheduler.as_str()) {
            return Err(err(
                key("scheduler"),
                format!(
                    "unknown scheduler `{}` (one of {})",
                    s.scheduler,
                    SCHEDULERS.join(", ")
                ),
            ));
        }
        if let Some(p) = &s.persistence {
            let m = u32::from(p.netmask);
            if m.leading_ones() + m.trailing_zeros() != 32 || m == 0 {
                return Err(err(
                    key("persistence.netmask"),
                    format!("{} is not a netmask", p.netmask),
                ));
            }
            if p.timeout.millis() < 1000 {
                return Err(err(key("persistence.timeout"), "must be at least 1s"));
            }
        }
        let mut reals = HashSet::new();
        for (j, r) in s.reals.iter().enumerate() {
            let rkey = |k: &str| format!("services[{i}].reals[{j}].{k}");
            if !reals.insert((r.ip, r.port)) {
                return Err(err(rkey("ip"), format!("{} is listed twice", r.ip)));
            }
            if r.weight > 65535 {
                return Err(err(rkey("weight"), "must be between 0 and 65535"));
            }
            if s.port == 0 && r.port.is_some_and(|p| p != 0) {
                return Err(err(
                    rkey("port"),
                    "a port-0 service sends each connection to the port the client asked for; remove it",
                ));
            }
            let mode = r.forward.unwrap_or(s.forward);
            let reach = match mode {
                Forward::Dr => connected(cfg, r.ip),
                Forward::Nat | Forward::Tun => routable(cfg, r.ip),
            };
            if !reach {
                return Err(err(
                    rkey("ip"),
                    match mode {
                        Forward::Dr => format!(
                            "{} is not on any port's subnet; DR needs the real server on the same L2 segment",
                            r.ip
                        ),
                        _ => format!("{} is not reachable: no port subnet or route covers it", r.ip),
                    },
                ));
            }
            if mode == Forward::Dr && r.port.is_some_and(|p| p != s.port) {
                return Err(err(
                    rkey("port"),
                    "DR cannot change the port (only MAC addresses are rewritten)",
                ));
            }
            if mode == Forward::Tun && r.port.is_some_and(|p| p != s.port) {
                return Err(err(
                    rkey("port"),
                    "TUN cannot change the port (the packet is only encapsulated)",
                ));
            }
        }
    }
    Ok(())
}
