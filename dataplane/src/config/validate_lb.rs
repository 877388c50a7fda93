//! Checks of the load-balancer sections (ports' addresses, routes, neighbours, conn limits,
//! services and their reals): cross references, reachability, and value ranges.

use super::kinds::ForwardMode;
use super::load::ConfigError;
use super::schema::{CheckKind, Config, HealthCheck, Real};
use crate::tunables::{
    MAX_CONNS_PER_CORE, MAX_CONN_TIMEOUT, MAX_TEMPLATES_PER_CORE, MIN_CONNS_PER_CORE,
    MIN_CONN_TIMEOUT, MIN_TEMPLATES_PER_CORE,
};
use std::collections::HashSet;
use std::net::IpAddr;

fn err(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(key, reason)
}

/// Is `ip` on one of the ports' connected subnets (`ip` or `ip6`, by its family)?
pub(super) fn connected(cfg: &Config, ip: IpAddr) -> bool {
    cfg.ports.iter().any(|p| match ip {
        IpAddr::V4(a) => p.ip.is_some_and(|n| n.contains(a)),
        IpAddr::V6(a) => p.ip6.is_some_and(|n| n.contains(a)),
    })
}

/// Is `ip` reachable: on a connected subnet or covered by a static route?
pub(super) fn routable(cfg: &Config, ip: IpAddr) -> bool {
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
            if !own.insert(IpAddr::V4(ip.addr)) {
                return Err(err(
                    format!("ports[{i}].ip"),
                    format!("{} is used by another port", ip.addr),
                ));
            }
        }
        super::validate_family::port_ip6(p, i, &mut own)?;
        if let Some(ex) = &p.exception {
            if ex != "none" && (ex.is_empty() || ex.len() > 15 || ex.contains(['/', ' ', ','])) {
                return Err(err(
                    format!("ports[{i}].exception"),
                    "must be `none` or an interface name of 1-15 characters without '/', ',' or spaces",
                ));
            }
            if ex != "none" && p.ip.is_none() && p.ip6.is_none() {
                return Err(err(
                    format!("ports[{i}].exception"),
                    "needs the port's `ip` or `ip6`",
                ));
            }
        }
    }
    if own.is_empty() {
        return Err(err("ports", "mode lb needs at least one port with an `ip`"));
    }
    for (i, r) in cfg.routes.iter().enumerate() {
        super::validate_family::route_families(r, i)?;
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
    if !(MIN_CONNS_PER_CORE..=MAX_CONNS_PER_CORE).contains(&cfg.conn.max_per_core) {
        return Err(err(
            "conn.max_per_core",
            format!("must be between {MIN_CONNS_PER_CORE} and {MAX_CONNS_PER_CORE}"),
        ));
    }
    if !(MIN_CONNS_PER_CORE..=MAX_CONNS_PER_CORE).contains(&cfg.conn.max_per_core_v6) {
        return Err(err(
            "conn.max_per_core_v6",
            format!("must be between {MIN_CONNS_PER_CORE} and {MAX_CONNS_PER_CORE}"),
        ));
    }
    if !(MIN_TEMPLATES_PER_CORE..=MAX_TEMPLATES_PER_CORE).contains(&cfg.conn.max_templates_per_core)
    {
        return Err(err(
            "conn.max_templates_per_core",
            format!("must be between {MIN_TEMPLATES_PER_CORE} and {MAX_TEMPLATES_PER_CORE}"),
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
        if d.0 < MIN_CONN_TIMEOUT || d.0 > MAX_CONN_TIMEOUT {
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
        super::validate_family::service(s, &key)?;
        if own.contains(&s.vip) {
            return Err(err(
                key("vip"),
                format!("{} is a port address, not a virtual one", s.vip),
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
        if let Some(hc) = &s.health_check {
            health_check(hc, &key("health_check"), s.port)?;
        }
        super::admission::validate(s, i)?;

        super::syn_proxy::validate(cfg, s, &key("syn_proxy"))?;
        if s.forward == ForwardMode::Local {
            return Err(err(
                key("forward"),
                "`local` is a real's mode, not a service's: a real at one of the appliance's own addresses is local",
            ));
        }
        let mut reals = HashSet::new();
        for (j, r) in s.reals.iter().enumerate() {
            let rkey = |k: &str| format!("services[{i}].reals[{j}].{k}");
            if let Some(hc) = &r.health_check {
                health_check(hc, &rkey("health_check"), r.port.unwrap_or(s.port))?;
            }
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
            // A local real is served through NAT to the kernel, whatever the service's mode.
            let family_mode = match cfg.local_port(r.ip) {
                Some(_) => ForwardMode::Nat,
                None => r.forward.unwrap_or(s.forward),
            };
            super::validate_family::real(s.vip, r.ip, family_mode, &rkey)?;
            if let Some(pi) = cfg.local_port(r.ip) {
                local_real(cfg, pi, r, &rkey)?;
                continue;
            }
            let mode = r.forward.unwrap_or(s.forward);
            if mode == ForwardMode::Local {
                return Err(err(
                    rkey("forward"),
                    format!("{} is not one of the appliance's own addresses (the ports' `ip`); only such a real is local", r.ip),
                ));
            }
            let reach = match mode {
                ForwardMode::Dr => connected(cfg, r.ip),
                ForwardMode::Nat | ForwardMode::Tun | ForwardMode::Local => routable(cfg, r.ip),
            };
            if !reach {
                return Err(err(
                    rkey("ip"),
                    match mode {
                        ForwardMode::Dr => format!(
                            "{} is not on any port's subnet; DR needs the real server on the same L2 segment",
                            r.ip
                        ),
                        _ => format!("{} is not reachable: no port subnet or route covers it", r.ip),
                    },
                ));
            }
            if mode == ForwardMode::Dr && r.port.is_some_and(|p| p != s.port) {
                return Err(err(
                    rkey("port"),
                    "DR cannot change the port (only MAC addresses are rewritten)",
                ));
            }
            if mode == ForwardMode::Tun && r.port.is_some_and(|p| p != s.port) {
                return Err(err(
                    rkey("port"),
                    "TUN cannot change the port (the packet is only encapsulated)",
                ));
            }
        }
    }
    Ok(())
}

/// A real at the address of port `pi`: the appliance itself, reached through the kernel of the
/// exception path (NAT to the kernel, whatever the service's mode).
fn local_real(
    cfg: &Config,
    pi: usize,
    r: &Real,
    rkey: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    if matches!(r.forward, Some(ForwardMode::Dr | ForwardMode::Tun)) {
        return Err(err(
            rkey("forward"),
            format!(
                "{} is the appliance's own address (a local real, served by its kernel through NAT); DR and TUN cannot reach it, remove `forward`",
                r.ip
            ),
        ));
    }
    if cfg.ports[pi].exception.as_deref() == Some("none") {
        return Err(err(
            rkey("ip"),
            format!(
                "{} is the address of ports[{pi}], whose exception interface is `none`: a local real is served by the kernel behind it",
                r.ip
            ),
        ));
    }
    Ok(())
}

/// One health check at `at` (its key path); `real_port` is the port probed when the check names
/// none (0 for a port-0 service, which has no port to probe).
pub fn health_check(hc: &HealthCheck, at: &str, real_port: u16) -> Result<(), ConfigError> {
    let key = |k: &str| format!("{at}.{k}");
    let kind = match hc.kind {
        CheckKind::Tcp => "tcp",
        CheckKind::Http => "http",
        CheckKind::Command => "command",
    };
    let not_for = |k: &str, set: bool, applies: bool| {
        if set && !applies {
            Err(err(key(k), format!("does not apply to a {kind} check")))
        } else {
            Ok(())
        }
    };
    let http = hc.kind == CheckKind::Http;
    let net = hc.kind != CheckKind::Command;
    not_for("port", hc.port.is_some(), net)?;
    not_for("path", hc.path.is_some(), http)?;
    not_for("expect", hc.expect.is_some(), http)?;
    not_for("body", hc.body.is_some(), http)?;
    not_for("command", hc.command.is_some(), !net)?;
    if net && hc.port.unwrap_or(real_port) == 0 {
        return Err(err(
            key("port"),
            "needed: the real's port is 0 (a port-0 service), so there is no port to probe",
        ));
    }
    if let Some(p) = &hc.path {
        if !p.starts_with('/')
            || p.len() > 1024
            || p.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(err(
                key("path"),
                "must start with '/', have no spaces or control characters, and be at most 1024 bytes",
            ));
        }
    }
    if hc.expect.is_some_and(|e| !(100..=599).contains(&e)) {
        return Err(err(key("expect"), "must be an HTTP status code (100-599)"));
    }
    if hc.body.as_ref().is_some_and(|b| b.is_empty()) {
        return Err(err(key("body"), "must not be empty (leave it out instead)"));
    }
    if hc.kind == CheckKind::Command && hc.command.as_ref().is_none_or(|c| c.trim().is_empty()) {
        return Err(err(key("command"), "a command check needs a command"));
    }
    if !(100..=3_600_000).contains(&hc.interval.millis()) {
        return Err(err(key("interval"), "must be between 100ms and 1h"));
    }
    if hc.timeout.millis() < 10 {
        return Err(err(key("timeout"), "must be at least 10ms"));
    }
    if hc.timeout >= hc.interval {
        return Err(err(
            key("timeout"),
            format!(
                "{} must be shorter than the interval ({})",
                hc.timeout, hc.interval
            ),
        ));
    }
    for (k, v) in [("rise", hc.rise), ("fall", hc.fall)] {
        if !(1..=100).contains(&v) {
            return Err(err(key(k), "must be between 1 and 100"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{load_str, CheckKind, Dur};

    /// nat.yaml with `hc` as the web service's health_check.
    fn with_check(hc: &str) -> Result<crate::config::Config, String> {
        let text = crate::config::nat_yaml_unchecked().replacen(
            "    scheduler: wrr",
            &format!("    scheduler: wrr\n    health_check: {hc}"),
            1,
        );
        load_str(&text).map_err(|e| e.to_string())
    }

    #[test]
    fn scheduler_and_forward_names_are_parsed_once() {
        let text = include_str!("../../../configs/nat.yaml");
        let c = crate::config::load_str(text).unwrap();
        assert_eq!(c.services[0].scheduler, crate::config::SchedKind::Wrr);
        assert_eq!(c.services[0].forward, crate::config::ForwardMode::Nat);
        let e = crate::config::load_str(&text.replacen("scheduler: wrr", "scheduler: fastest", 1))
            .unwrap_err();
        assert_eq!(e.key, "services[0].scheduler");
        assert_eq!(
            e.reason,
            "unknown scheduler \"fastest\": expected one of rr, wrr, lc, wlc, sed, nq, sh, dh, mh"
        );
        let e = crate::config::load_str(&text.replacen("forward: nat", "forward: masq", 1))
            .unwrap_err();
        assert_eq!(e.key, "services[0].forward");
        assert!(e.reason.starts_with("unknown variant `masq`"), "{e}");
        // No scheduler key: LVS's default.
        let c = crate::config::load_str(&text.replacen("scheduler: wrr", "", 1)).unwrap();
        assert_eq!(c.services[0].scheduler, crate::config::SchedKind::Wlc);
    }

    #[test]
    fn defaults_and_overrides() {
        let c = with_check("{type: http}").unwrap();
        let hc = c.services[0].health_check.clone().unwrap();
        assert_eq!(hc.kind, CheckKind::Http);
        assert_eq!((hc.path(), hc.expect()), ("/", 200));
        assert_eq!((hc.interval, hc.timeout), (Dur::secs(2), Dur::secs(1)));
        assert_eq!((hc.rise, hc.fall, hc.port), (2, 3, None));
        let c = with_check(
            "{type: http, port: 8080, path: /health, expect: 204, body: ok, interval: 500ms, timeout: 300ms, rise: 1, fall: 5}",
        )
        .unwrap();
        let hc = c.services[0].health_check.clone().unwrap();
        assert_eq!(
            (hc.path(), hc.expect(), hc.port),
            ("/health", 204, Some(8080))
        );
        assert_eq!(hc.body.as_deref(), Some("ok"));
        assert!(with_check("{type: tcp}").is_ok());
        assert!(with_check("{type: command, command: 'nc -z $REAL_IP $REAL_PORT'}").is_ok());
    }

    #[test]
    fn bad_checks_are_refused_with_the_key_and_reason() {
        for (hc, want) in [
            ("{type: tcp, intervall: 2s}", "services[0].health_check"),
            ("{type: udp}", "services[0].health_check.type"),
            ("{port: 80}", "services[0].health_check"),
            (
                "{type: tcp, interval: 1s, timeout: 1s}",
                "services[0].health_check.timeout: 1s must be shorter than the interval (1s)",
            ),
            (
                "{type: tcp, interval: 2s, timeout: 3s}",
                "shorter than the interval",
            ),
            (
                "{type: tcp, rise: 0}",
                "services[0].health_check.rise: must be between 1 and 100",
            ),
            ("{type: tcp, fall: 0}", "services[0].health_check.fall"),
            (
                "{type: tcp, interval: 50ms, timeout: 10ms}",
                "services[0].health_check.interval",
            ),
            (
                "{type: tcp, timeout: 5ms}",
                "services[0].health_check.timeout",
            ),
            ("{type: tcp, interval: 2}", "needs a unit"),
            (
                "{type: tcp, path: /x}",
                "services[0].health_check.path: does not apply to a tcp check",
            ),
            (
                "{type: tcp, command: 'true'}",
                "services[0].health_check.command",
            ),
            (
                "{type: command, port: 81, command: 'true'}",
                "services[0].health_check.port",
            ),
            (
                "{type: command}",
                "services[0].health_check.command: a command check needs a command",
            ),
            ("{type: http, path: x}", "services[0].health_check.path"),
            (
                "{type: http, path: '/a b'}",
                "services[0].health_check.path",
            ),
            (
                "{type: http, expect: 99}",
                "services[0].health_check.expect",
            ),
            ("{type: http, body: ''}", "services[0].health_check.body"),
        ] {
            let e = with_check(hc).expect_err(hc);
            assert!(e.contains(want), "{hc}: {e}");
        }
    }

    #[test]
    fn real_checks_and_port_zero_services() {
        let text = crate::config::nat_yaml_unchecked().replacen(
            "{ip: 198.19.0.12}",
            "{ip: 198.19.0.12, health_check: {type: tcp, rise: 0}}",
            1,
        );
        let e = load_str(&text).unwrap_err().to_string();
        assert!(
            e.starts_with("services[1].reals[1].health_check.rise"),
            "{e}"
        );
        let port0 =
            crate::config::nat_yaml_unchecked().replacen("    port: 7\n", "    port: 0\n", 1);
        assert!(load_str(&port0).is_ok());
        let e = load_str(&port0.replacen(
            "    scheduler: rr",
            "    scheduler: rr\n    health_check: {type: tcp}",
            1,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("services[1].health_check.port"), "{e}");
        assert!(e.contains("port-0"), "{e}");
        assert!(load_str(&port0.replacen(
            "    scheduler: rr",
            "    scheduler: rr\n    health_check: {type: tcp, port: 7}",
            1,
        ))
        .is_ok());
    }

    /// A real at a port's address is the local node: any port, NAT or the service's mode; DR,
    /// TUN, or a port without an exception interface are refused, naming the key.
    #[test]
    fn local_reals() {
        let local = |real: &str| {
            crate::config::nat_yaml_unchecked().replacen(
                "      - {ip: 198.19.0.12, weight: 1}",
                &format!("      - {{ip: 198.19.0.12, weight: 1}}\n      - {real}"),
                1,
            )
        };
        let c = load_str(&local("{ip: 198.19.0.1, port: 8080, weight: 2}")).unwrap();
        assert_eq!(c.local_port(c.services[0].reals[2].ip), Some(1));
        assert_eq!(c.local_port(c.services[0].reals[0].ip), None);
        assert!(load_str(&local("{ip: 198.18.0.1, forward: nat}")).is_ok());
        assert!(load_str(&local("{ip: 198.18.0.1, forward: local}")).is_ok());
        let e = load_str(&local("{ip: 198.19.0.13, forward: local}"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("services[0].reals[2].forward (line "), "{e}");
        assert!(
            e.contains("): 198.19.0.13 is not one of the appliance's own addresses"),
            "{e}"
        );
        let e = load_str(&crate::config::nat_yaml_unchecked().replacen(
            "forward: nat",
            "forward: local",
            1,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("services[0].forward (line "), "{e}");
        assert!(
            e.contains("): `local` is a real's mode, not a service's"),
            "{e}"
        );
        for (real, want) in [
            (
                "{ip: 198.19.0.1, forward: dr}",
                "198.19.0.1 is the appliance's own address",
            ),
            (
                "{ip: 198.18.0.1, forward: tun}",
                "198.18.0.1 is the appliance's own address",
            ),
        ] {
            let e = load_str(&local(real)).unwrap_err().to_string();
            assert!(e.starts_with("services[0].reals[2].forward"), "{real}: {e}");
            assert!(e.contains(want), "{real}: {e}");
        }
        let no_tap = local("{ip: 198.19.0.1}").replacen(
            "    ip: 198.19.0.1/24\n",
            "    ip: 198.19.0.1/24\n    exception: none\n",
            1,
        );
        let e = load_str(&no_tap).unwrap_err().to_string();
        assert!(e.starts_with("services[0].reals[2].ip"), "{e}");
        assert!(
            e.contains(
                "198.19.0.1 is the address of ports[1], whose exception interface is `none`"
            ),
            "{e}"
        );
    }
}
