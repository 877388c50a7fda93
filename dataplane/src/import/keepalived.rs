//! keepalived.conf's `virtual_server` blocks in our terms: lb_algo/lvs_sched, lb_kind/lvs_method,
//! persistence_timeout/_granularity, protocol, delay_loop, real_server with weight,
//! uthreshold/lthreshold and one of
//! TCP_CHECK, HTTP_GET or MISC_CHECK (connect_timeout, connect_port, retry, url path/status_code,
//! misc_path, misc_timeout); the first vrrp_instance becomes the `vrrp` section
//! (keepalived_vrrp.rs). Everything else (virtual_server groups, fwmark
//! services, sorry servers, other checkers, ...) is listed in the notes with its line.

use super::tokenizer::Stmt;
use super::{scheduler, secs_ms, Check, CheckKind, Forward, Imported, Notes, Real, Service};
use std::net::{IpAddr, Ipv4Addr};

/// keepalived's defaults: delay_loop 60 s, connect_timeout 5 s, retry 1.
const DEFAULT_DELAY_LOOP_MS: u64 = 60_000;
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
const DEFAULT_RETRY: u32 = 1;

/// Translates parsed keepalived.conf statements.
pub fn translate(stmts: &[Stmt], notes: Notes) -> Imported {
    let mut out = Imported {
        services: Vec::new(),
        notes,
        vrrp: None,
    };
    // The virtual servers' VIPs, for the vrrp_instance (which may come first) to tell floating
    // addresses from VIPs.
    let vips: Vec<Ipv4Addr> = stmts
        .iter()
        .filter(|s| s.keyword() == "virtual_server")
        .filter_map(|s| s.words.get(1).and_then(|w| w.text.parse().ok()))
        .collect();
    for s in stmts {
        match s.keyword().as_str() {
            "virtual_server" => {
                if let Some(svc) = virtual_server(s, &mut out.notes) {
                    let key = (svc.tcp, svc.vip, svc.port);
                    if out.services.iter().any(|o| (o.tcp, o.vip, o.port) == key) {
                        out.notes.add(
                            s.at(),
                            format!("{} is defined twice; the second is skipped", s.text()),
                        );
                        continue;
                    }
                    out.services.push(svc);
                }
            }
            "vrrp_instance" if out.vrrp.is_none() => {
                out.vrrp = super::keepalived_vrrp::vrrp_instance(s, &vips, &mut out.notes);
            }
            "vrrp_instance" => out.notes.add(
                s.at(),
                format!(
                    "not translated: {} (one virtual router per appliance covers every VIP; \
                     the first instance is used)",
                    s.text()
                ),
            ),
            "vrrp_sync_group" => out.notes.add(
                s.at(),
                format!(
                    "not translated: {} (the one virtual router moves every VIP and floating \
                     address together, as a sync group does)",
                    s.text()
                ),
            ),
            "vrrp_script" | "vrrp_track_process" => out.notes.add(
                s.at(),
                format!(
                    "not translated: {} (VRRP tracking is not supported)",
                    s.text()
                ),
            ),
            "virtual_server_group" => out.notes.add(
                s.at(),
                format!(
                    "not translated: {} (virtual server groups are not supported)",
                    s.text()
                ),
            ),
            _ => out
                .notes
                .add(s.at(), format!("not translated: {}", s.text())),
        }
    }
    out
}

/// Defaults a virtual_server gives its checkers.
#[derive(Clone, Copy)]
struct CheckDefaults {
    interval_ms: u64,
    timeout_ms: u64,
    retry: u32,
}

fn ipv4(s: &str) -> Option<Ipv4Addr> {
    s.parse().ok()
}

/// A virtual or real server's address: IPv4 or IPv6 (keepalived writes both bare).
fn ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

fn int<T: std::str::FromStr>(s: &Stmt, notes: &mut Notes) -> Option<T> {
    let v = s.words.get(1).and_then(|w| w.text.parse().ok());
    if v.is_none() {
        notes.add(
            s.at(),
            format!("`{}`: not a valid number; ignored", s.text()),
        );
    }
    v
}

fn seconds(s: &Stmt, notes: &mut Notes) -> Option<u64> {
    let v = s.words.get(1).and_then(|w| secs_ms(&w.text));
    if v.is_none() {
        notes.add(
            s.at(),
            format!("`{}`: not a number of seconds; ignored", s.text()),
        );
    }
    v
}

fn forward(s: &Stmt, notes: &mut Notes) -> Option<Forward> {
    match s.args().to_ascii_uppercase().as_str() {
        "NAT" => Some(Forward::Nat),
        "DR" => Some(Forward::Dr),
        "TUN" => Some(Forward::Tun),
        _ => {
            notes.add(
                s.at(),
                format!("`{}`: unknown forwarding method; ignored", s.text()),
            );
            None
        }
    }
}

fn virtual_server(vs: &Stmt, notes: &mut Notes) -> Option<Service> {
    let w: Vec<&str> = vs.words.iter().map(|w| w.text.as_str()).collect();
    let (vip, port) = match w.as_slice() {
        [_, kind, ..] if kind.eq_ignore_ascii_case("group") => {
            notes.add(
                vs.at(),
                format!(
                    "not translated: {} (virtual server groups are not supported)",
                    vs.text()
                ),
            );
            return None;
        }
        [_, kind, ..] if kind.eq_ignore_ascii_case("fwmark") => {
            notes.add(
                vs.at(),
                format!(
                    "not translated: {} (firewall-mark services are not supported)",
                    vs.text()
                ),
            );
            return None;
        }
        [_, addr, port] => match (ip(addr), port.parse::<u16>()) {
            (Some(ip), Ok(port)) => (ip, port),
            _ => {
                notes.add(
                    vs.at(),
                    format!(
                        "not translated: {} (an IPv4 or IPv6 address and a port are supported)",
                        vs.text()
                    ),
                );
                return None;
            }
        },
        _ => {
            notes.add(
                vs.at(),
                format!("not translated: {} (unknown form)", vs.text()),
            );
            return None;
        }
    };
    let body = vs.block.as_deref().unwrap_or(&[]);
    let mut svc = Service {
        from: format!("{} {}", vs.at(), vs.text()),
        tcp: true,
        vip,
        port,
        scheduler: "wlc".into(),
        forward: Forward::Nat,
        persistence: None,
        check: None,
        reals: Vec::new(),
    };
    let mut defaults = CheckDefaults {
        interval_ms: DEFAULT_DELAY_LOOP_MS,
        timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
        retry: DEFAULT_RETRY,
    };
    let mut mask = Ipv4Addr::BROADCAST;
    let mut persist: Option<u64> = None;
    // First the service's own keys (order in the block does not matter to keepalived)...
    for s in body {
        let arg = s.words.get(1).map(|w| w.text.as_str()).unwrap_or("");
        match s.keyword().as_str() {
            "real_server" => {}
            "lb_algo" | "lvs_sched" => svc.scheduler = scheduler(arg, s.at(), notes),
            "lb_kind" | "lvs_method" => {
                if let Some(f) = forward(s, notes) {
                    svc.forward = f;
                }
            }
            "protocol" => match arg.to_ascii_uppercase().as_str() {
                "TCP" => svc.tcp = true,
                "UDP" => svc.tcp = false,
                _ => {
                    notes.add(
                        s.at(),
                        format!("not translated: {} (TCP and UDP are supported); service skipped", vs.text()),
                    );
                    return None;
                }
            },
            "persistence_timeout" => persist = int(s, notes),
            "persistence_granularity" => match ipv4(arg) {
                Some(m) => mask = m,
                None => notes.add(s.at(), format!("`{}`: not an IPv4 netmask; ignored", s.text())),
            },
            "delay_loop" => {
                if let Some(ms) = seconds(s, notes) {
                    defaults.interval_ms = ms;
                }
            }
            "connect_timeout" => {
                if let Some(ms) = seconds(s, notes) {
                    defaults.timeout_ms = ms;
                }
            }
            "retry" | "nb_get_retry" => {
                if let Some(n) = int(s, notes) {
                    defaults.retry = n;
                }
            }
            "inhibit_on_failure" => {} // what a down real always is here: listed, no new connections
            "sorry_server" => notes.add(
                s.at(),
                format!("not translated: {} (no sorry server; a service without an available real drops new connections)", s.text()),
            ),
            _ => notes.add(s.at(), format!("not translated: {}", s.text())),
        }
    }
    if let Some(t) = persist {
        svc.persistence = Some((t.max(1), mask));
    } else if mask != Ipv4Addr::BROADCAST {
        notes.add(
            vs.at(),
            "persistence_granularity without persistence_timeout has no effect; ignored",
        );
    }
    // ...then its reals, which use those defaults.
    for s in body.iter().filter(|s| s.keyword() == "real_server") {
        if let Some(r) = real_server(s, &svc, defaults, notes) {
            if svc.reals.iter().any(|o| o.ip == r.ip && o.port == r.port) {
                notes.add(
                    s.at(),
                    format!("{} is listed twice; the second is skipped", s.text()),
                );
                continue;
            }
            svc.reals.push(r);
        }
    }
    svc.tidy();
    Some(svc)
}

fn real_server(rs: &Stmt, svc: &Service, d: CheckDefaults, notes: &mut Notes) -> Option<Real> {
    let w: Vec<&str> = rs.words.iter().map(|w| w.text.as_str()).collect();
    let (ip, port) = match w.as_slice() {
        [_, addr, port] => (ip(addr), port.parse::<u16>().ok()),
        [_, addr] => (ip(addr), Some(svc.port)),
        _ => (None, None),
    };
    let (Some(ip), Some(port)) = (ip, port) else {
        notes.add(
            rs.at(),
            format!(
                "not translated: {} (an IPv4 or IPv6 address and a port are supported)",
                rs.text()
            ),
        );
        return None;
    };
    let mut real = Real {
        ip,
        port: Some(port),
        weight: 1,
        forward: None,
        check: None,
        upper_threshold: 0,
        lower_threshold: 0,
    };
    for s in rs.block.as_deref().unwrap_or(&[]) {
        let kw = s.keyword();
        match kw.as_str() {
            "weight" => {
                if let Some(n) = int::<u32>(s, notes) {
                    if n > 65535 {
                        notes.add(s.at(), format!("`{}`: more than 65535; 65535 used", s.text()));
                    }
                    real.weight = n.min(65535);
                }
            }
            "lvs_method" | "lb_kind" => real.forward = forward(s, notes),
            "uthreshold" => {
                if let Some(n) = int::<u32>(s, notes) {
                    real.upper_threshold = n;
                }
            }
            "lthreshold" => {
                if let Some(n) = int::<u32>(s, notes) {
                    real.lower_threshold = n;
                }
            }
            "inhibit_on_failure" => {}
            "tcp_check" | "http_get" | "misc_check" => {
                if real.check.is_some() {
                    notes.add(
                        s.at(),
                        format!("not translated: a second checker {} (one check per real; the first is used)", s.keyword().to_ascii_uppercase()),
                    );
                    continue;
                }
                let check_port = if port == 0 { None } else { Some(port) };
                real.check = checker(s, check_port, d, notes);
            }
            "ssl_get" | "smtp_check" | "dns_check" | "udp_check" | "ping_check" | "file_check"
            | "bfd_check" => notes.add(
                s.at(),
                format!("not translated: {} (tcp, http and command checks exist; a MISC_CHECK script can replace it)", s.words[0].text),
            ),
            _ => notes.add(s.at(), format!("not translated: {}", s.text())),
        }
    }
    real.check_thresholds(rs.at(), notes);
    Some(real)
}

/// One TCP_CHECK, HTTP_GET or MISC_CHECK block; `real_port` is None for a port-0 service.
fn checker(c: &Stmt, real_port: Option<u16>, d: CheckDefaults, notes: &mut Notes) -> Option<Check> {
    let kw = c.keyword();
    let mut interval_ms = d.interval_ms;
    let mut timeout_ms = d.timeout_ms;
    let mut retry = d.retry;
    let mut port: Option<u16> = None;
    let mut url: Option<(String, u16)> = None;
    let mut misc: Option<String> = None;
    for s in c.block.as_deref().unwrap_or(&[]) {
        let arg = s.words.get(1).map(|w| w.text.clone()).unwrap_or_default();
        match (kw.as_str(), s.keyword().as_str()) {
            (_, "connect_timeout") | ("misc_check", "misc_timeout") => {
                if let Some(ms) = seconds(s, notes) {
                    timeout_ms = ms;
                }
            }
            (_, "delay_loop") => {
                if let Some(ms) = seconds(s, notes) {
                    interval_ms = ms;
                }
            }
            (_, "retry") | (_, "nb_get_retry") => {
                if let Some(n) = int(s, notes) {
                    retry = n;
                }
            }
            (_, "connect_port") => port = int(s, notes),
            (_, "delay_before_retry") => notes.add(
                s.at(),
                format!("approximated: {} (a failed check is retried at the next interval; fall = retry + 1)", s.text()),
            ),
            ("http_get", "url") => {
                if url.is_some() {
                    notes.add(
                        s.at(),
                        "not translated: a further url block (an http check has one path; the first is used)",
                    );
                    continue;
                }
                url = Some(url_block(s, notes));
            }
            ("misc_check", "misc_path") => misc = Some(arg),
            _ => notes.add(s.at(), format!("not translated: {} in {}", s.text(), c.words[0].text)),
        }
    }
    let kind = match kw.as_str() {
        "tcp_check" => CheckKind::Tcp,
        "http_get" => {
            let (path, expect) = url.unwrap_or_else(|| {
                notes.add(c.at(), "HTTP_GET without a url block: GET / expecting 200");
                ("/".into(), 200)
            });
            CheckKind::Http { path, expect }
        }
        _ => match misc {
            Some(cmd) if !cmd.is_empty() => CheckKind::Command(cmd),
            _ => {
                notes.add(
                    c.at(),
                    "not translated: MISC_CHECK without misc_path (no check)",
                );
                return None;
            }
        },
    };
    if !matches!(kind, CheckKind::Command(_)) {
        port = port.or(real_port);
        if port.is_none() {
            notes.add(
                c.at(),
                format!(
                    "not translated: {} on a port-0 service needs connect_port (no check)",
                    c.words[0].text
                ),
            );
            return None;
        }
        if port == real_port {
            port = None;
        }
    }
    let interval_ms = interval_ms.clamp(100, 3_600_000);
    if timeout_ms >= interval_ms || timeout_ms < 10 {
        let t = (interval_ms / 2).max(10);
        notes.add(
            c.at(),
            format!("approximated: a {} timeout within a {} interval cannot finish in time; timeout {t}ms used", super::dur(timeout_ms), super::dur(interval_ms)),
        );
        timeout_ms = t;
    }
    Some(Check {
        kind,
        port,
        interval_ms,
        timeout_ms,
        rise: 1,
        fall: (retry.saturating_add(1)).min(100),
    })
}

/// `url { path P; status_code C; digest D }`: (path, expected status).
fn url_block(u: &Stmt, notes: &mut Notes) -> (String, u16) {
    let mut path = None;
    let mut code = None;
    for s in u.block.as_deref().unwrap_or(&[]) {
        let arg = s.words.get(1).map(|w| w.text.clone()).unwrap_or_default();
        match s.keyword().as_str() {
            "path" if arg.starts_with('/') => path = Some(arg),
            "path" => notes.add(
                s.at(),
                format!("`{}`: a path starts with /; / used", s.text()),
            ),
            "status_code" => match arg.parse::<u16>() {
                Ok(c) if (100..=599).contains(&c) && s.words.len() == 2 => code = Some(c),
                _ => {
                    let first = arg
                        .split(|c: char| !c.is_ascii_digit())
                        .next()
                        .and_then(|x| x.parse::<u16>().ok())
                        .filter(|c| (100..=599).contains(c))
                        .unwrap_or(200);
                    notes.add(
                        s.at(),
                        format!(
                            "approximated: {} (one status code is expected); {first} used",
                            s.text()
                        ),
                    );
                    code = Some(first);
                }
            },
            "digest" => notes.add(
                s.at(),
                "not translated: digest (the body's MD5); use a body substring (`body:`) by hand",
            ),
            _ => notes.add(s.at(), format!("not translated: {} in url", s.text())),
        }
    }
    if code.is_none() {
        notes.add(
            u.at(),
            "approximated: url without status_code (keepalived accepts any 2xx); 200 expected",
        );
    }
    (path.unwrap_or_else(|| "/".into()), code.unwrap_or(200))
}

#[cfg(test)]
mod tests {
    use super::super::tokenizer::parse_str;
    use super::*;
    use std::path::Path;

    fn import(text: &str) -> Imported {
        let mut notes = Notes::default();
        let stmts = parse_str(text, Path::new("k.conf"), &mut notes);
        translate(&stmts, notes)
    }

    #[test]
    fn real_thresholds() {
        let i = import(
            "virtual_server 192.0.2.10 80 {\n lb_kind NAT\n protocol TCP\n real_server 198.51.100.11 80 {\n  uthreshold 100\n  lthreshold 60\n }\n real_server 198.51.100.12 80 {\n  lthreshold 5\n }\n}\n",
        );
        assert_eq!(
            i.notes.lines(),
            ["k.conf:8: lower threshold 5 above the upper one 0 (IPVS refuses it); left out"]
        );
        let r = &i.services[0].reals;
        assert_eq!((r[0].upper_threshold, r[0].lower_threshold), (100, 60));
        assert_eq!((r[1].upper_threshold, r[1].lower_threshold), (0, 0));
    }

    #[test]
    fn ipv6_virtual_and_real_servers() {
        let i = import(
            "virtual_server 2001:db8::100 80 {\n lb_kind NAT\n protocol TCP\n real_server 2001:db8:1::11 80 {\n  weight 2\n }\n real_server 198.51.100.12 80 {\n }\n}\nvirtual_server 2001:db8::zz 80 {\n}\n",
        );
        assert_eq!(
            i.notes.lines(),
            ["k.conf:10: not translated: virtual_server 2001:db8::zz 80 (an IPv4 or IPv6 address and a port are supported)"]
        );
        let s = &i.services[0];
        assert_eq!(s.name(), "tcp-2001:db8::100-80");
        assert_eq!(s.vip, "2001:db8::100".parse::<IpAddr>().unwrap());
        assert_eq!(
            s.reals
                .iter()
                .map(|r| (r.ip.to_string(), r.weight))
                .collect::<Vec<_>>(),
            [
                ("2001:db8:1::11".to_string(), 2),
                ("198.51.100.12".to_string(), 1)
            ]
        );
    }

    #[test]
    fn a_nat_service_with_tcp_checks() {
        let i = import(
            "virtual_server 192.0.2.10 80 {\n delay_loop 6\n lb_algo wrr\n lb_kind NAT\n persistence_timeout 360\n persistence_granularity 255.255.255.0\n protocol TCP\n real_server 198.51.100.11 80 {\n  weight 3\n  TCP_CHECK {\n   connect_timeout 3\n   retry 2\n  }\n }\n real_server 198.51.100.12 8080 {\n  weight 1\n  TCP_CHECK { connect_timeout 3\n retry 2 }\n }\n}\n",
        );
        assert!(i.notes.is_empty(), "{:?}", i.notes);
        let s = &i.services[0];
        assert_eq!(s.name(), "tcp-192.0.2.10-80");
        assert_eq!(s.scheduler, "wrr");
        assert_eq!(s.forward, Forward::Nat);
        assert_eq!(s.persistence, Some((360, "255.255.255.0".parse().unwrap())));
        assert_eq!(s.reals.len(), 2);
        assert_eq!((s.reals[0].weight, s.reals[0].port), (3, None));
        assert_eq!((s.reals[1].weight, s.reals[1].port), (1, Some(8080)));
        // Each probes its own real's port: one check, moved up to the service.
        assert!(s.reals.iter().all(|r| r.check.is_none()));
        let c = s.check.clone().unwrap();
        assert_eq!(
            c,
            Check {
                kind: CheckKind::Tcp,
                port: None,
                interval_ms: 6000,
                timeout_ms: 3000,
                rise: 1,
                fall: 3
            }
        );
    }

    #[test]
    fn a_service_defined_twice_is_listed() {
        let i = import(
            "virtual_server 192.0.2.10 80 {\n}\nvirtual_server 192.0.2.10 80 {\n protocol UDP\n}\nvirtual_server 192.0.2.10 80 {\n}\n",
        );
        assert_eq!(i.services.len(), 2, "tcp and udp");
        assert_eq!(
            i.notes.lines(),
            ["k.conf:6: virtual_server 192.0.2.10 80 is defined twice; the second is skipped"]
        );
    }

    #[test]
    fn http_urls_misc_and_what_is_left_out() {
        let i = import(
            "vrrp_instance VI_1 {\n state MASTER\n}\nvirtual_server 192.0.2.20 443 {\n lb_algo lblc\n lb_kind DR\n sorry_server 198.51.100.99 443\n real_server 198.51.100.21 443 {\n  HTTP_GET {\n   url { path /a\n status_code 200 }\n   url { path /b\n digest 0123 }\n   nb_get_retry 4\n   delay_before_retry 2\n  }\n  MISC_CHECK { misc_path /bin/true }\n }\n real_server 198.51.100.22 443 {\n  SSL_GET { url { path / } }\n  MISC_CHECK { misc_path \"/usr/local/bin/check 198.51.100.22\"\n misc_timeout 4 }\n }\n}\nvirtual_server group G1 {\n}\nvirtual_server fwmark 5 {\n}\nvirtual_server 2001:db8::zz 80 {\n}\n",
        );
        assert_eq!(
            i.notes.lines(),
            [
                "k.conf:2: not translated: state MASTER (every node starts as backup; the priority decides)",
                "k.conf:1: not translated: vrrp_instance VI_1 (no virtual_router_id)",
                "k.conf:5: scheduler `lblc` is not supported (one of rr, wrr, lc, wlc, sed, nq, sh, dh, mh); wlc used",
                "k.conf:7: not translated: sorry_server 198.51.100.99 443 (no sorry server; a service without an available real drops new connections)",
                "k.conf:12: not translated: a further url block (an http check has one path; the first is used)",
                "k.conf:15: approximated: delay_before_retry 2 (a failed check is retried at the next interval; fall = retry + 1)",
                "k.conf:17: not translated: a second checker MISC_CHECK (one check per real; the first is used)",
                "k.conf:20: not translated: SSL_GET (tcp, http and command checks exist; a MISC_CHECK script can replace it)",
                "k.conf:25: not translated: virtual_server group G1 (virtual server groups are not supported)",
                "k.conf:27: not translated: virtual_server fwmark 5 (firewall-mark services are not supported)",
                "k.conf:29: not translated: virtual_server 2001:db8::zz 80 (an IPv4 or IPv6 address and a port are supported)",
            ]
        );
        assert_eq!(i.services.len(), 1);
        let s = &i.services[0];
        assert_eq!((s.scheduler.as_str(), s.forward), ("wlc", Forward::Dr));
        assert_eq!(
            s.reals[0].check.as_ref().unwrap().kind,
            CheckKind::Http {
                path: "/a".into(),
                expect: 200
            }
        );
        assert_eq!(s.reals[0].check.as_ref().unwrap().fall, 5);
        assert_eq!(
            s.reals[1].check.as_ref().unwrap().kind,
            CheckKind::Command("/usr/local/bin/check 198.51.100.22".into())
        );
        assert_eq!(s.reals[1].check.as_ref().unwrap().timeout_ms, 4000);
    }
}
