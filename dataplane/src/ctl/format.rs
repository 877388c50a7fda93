//! Human output of `dataplane ctl`, laid out like ipvsadm's (`-Ln`, `--stats`, `--rate`, `-Lnc`)
//! so an LVS operator reads it at a glance.

use super::proto::{ConnsView, HealthView, ListView, Message, Request};
use crate::config::ForwardMode;
use anyhow::Result;
use std::fmt::Write as _;

/// The text for a request's result.
pub fn render(req: &Request, result: serde_json::Value) -> Result<String> {
    Ok(match req {
        Request::List { stats, rate } => list(&serde_json::from_value(result)?, *stats, *rate),
        Request::Conns { .. } => conns(&serde_json::from_value(result)?),
        Request::Health {} => health(&serde_json::from_value(result)?),
        // `ctl top` draws its own frames (top.rs); this is the raw sample.
        Request::Workers {} => format!("{}\n", serde_json::to_string_pretty(&result)?),

        Request::Stats {} => super::stats::render(&serde_json::from_value(result)?),
        Request::Sync {} => super::sync::render(&serde_json::from_value(result)?),
        Request::Ha {} => super::ha::render(&serde_json::from_value(result)?),
        Request::Bgp {} => super::bgp::render(&serde_json::from_value(result)?),
        Request::Status {} => super::bgp::render_status(&serde_json::from_value(result)?),
        Request::Weight { .. }
        | Request::Drain { .. }
        | Request::DrainNode {}
        | Request::Reload {} => {
            let m: Message = serde_json::from_value(result)?;
            format!("{}\n", m.message)
        }
    })
}

/// ipvsadm's forwarding names.
pub(crate) fn fwd(f: ForwardMode) -> &'static str {
    match f {
        ForwardMode::Nat => "Masq",
        ForwardMode::Dr => "Route",
        ForwardMode::Tun => "Tunnel",
        ForwardMode::Local => "Local",
    }
}

/// ipvsadm prints large counters with K/M/G suffixes in --stats/--rate; so do we.
pub(crate) fn human(v: f64) -> String {
    let units = [("G", 1e9), ("M", 1e6), ("K", 1e3)];
    for (u, d) in units {
        if v >= d * 10.0 {
            return format!("{}{u}", (v / d).round() as u64);
        }
    }
    format!("{}", v.round() as u64)
}

pub fn list(v: &ListView, stats: bool, rate: bool) -> String {
    let mut o = String::new();
    if stats {
        let _ = writeln!(
            o,
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n  -> RemoteAddress:Port"
        );
    } else if rate {
        let _ = writeln!(
            o,
            "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n  -> RemoteAddress:Port"
        );
    } else {
        let _ = writeln!(
            o,
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health"
        );
    }
    for s in &v.services {
        let local = crate::config::addr_port(s.vip, s.port);
        let proto = s.protocol.to_ascii_uppercase();
        if stats || rate {
            let nums = numbers(s.stats.as_ref(), s.rate.as_ref(), stats);
            let _ = writeln!(o, "{proto:<4} {local:<28}{nums}");
        } else {
            let mut flags = String::new();
            if let Some(p) = &s.persistence {
                let _ = write!(flags, " persistent {}", p.timeout_s);
                if p.netmask != std::net::Ipv4Addr::BROADCAST {
                    let _ = write!(flags, " mask {}", p.netmask);
                }
            }
            let _ = writeln!(o, "{proto:<4} {local} {}{flags}  ({})", s.scheduler, s.name);
        }
        for r in &s.reals {
            let remote = crate::config::addr_port(r.addr, r.port);
            if stats || rate {
                let nums = numbers(r.stats.as_ref(), r.rate.as_ref(), stats);
                let _ = writeln!(o, "  -> {remote:<28}{nums}");
            } else {
                let _ = writeln!(
                    o,
                    "  -> {remote:<28} {:<7} {:<6} {:<10} {:<9} {}",
                    fwd(r.forward),
                    r.weight,
                    r.active,
                    r.inactive,
                    health_text(r)
                );
            }
        }
    }
    o
}

/// The Health column: up or down, and `overloaded` when a worker marks the real so.
fn health_text(r: &super::proto::RealView) -> &'static str {
    match (r.available, r.overloaded) {
        (true, false) => "up",
        (true, true) => "up overloaded",
        (false, false) => "down",
        (false, true) => "down overloaded",
    }
}

fn numbers(
    stats: Option<&super::proto::Traffic>,
    rate: Option<&super::proto::Rate>,
    want_stats: bool,
) -> String {
    let vals: [f64; 5] = if want_stats {
        let t = stats.copied().unwrap_or_default();
        [
            t.conns as f64,
            t.pkts_in as f64,
            t.pkts_out as f64,
            t.bytes_in as f64,
            t.bytes_out as f64,
        ]
    } else {
        let r = rate.copied().unwrap_or_default();
        [r.cps, r.pps_in, r.pps_out, r.bps_in, r.bps_out]
    };
    let mut s = String::new();
    for v in vals {
        let _ = write!(s, " {:>8}", human(v));
    }
    s
}

fn mmss(secs: u64) -> String {
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

pub fn conns(v: &ConnsView) -> String {
    let mut o = String::from("IPVS connection entries\n");
    let _ = writeln!(
        o,
        "pro expire state       source                virtual               destination"
    );
    for c in &v.conns {
        let _ = writeln!(
            o,
            "{:<3} {:<6} {:<11} {:<21} {:<21} {}",
            c.proto,
            mmss(c.expire_s),
            c.state,
            c.client,
            c.vip,
            c.real
        );
    }
    if !v.complete {
        o.push_str("(partial: a worker did not finish its listing in time)\n");
    }
    o
}

pub fn health(v: &HealthView) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{:<16} {:<22} {:>6} State", "Service", "Real", "Weight");
    for r in &v.reals {
        let _ = writeln!(
            o,
            "{:<16} {:<22} {:>6} {}",
            r.service, r.real, r.weight, r.state
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::super::proto::*;
    use super::*;
    use crate::config::SchedKind;

    fn view() -> ListView {
        ListView {
            services: vec![ServiceView {
                name: "web".into(),
                protocol: "tcp".into(),
                vip: "198.18.0.100".parse().unwrap(),
                port: 80,
                scheduler: SchedKind::Wrr,
                forward: ForwardMode::Nat,
                persistence: Some(PersistView {
                    timeout_s: 360,
                    netmask: "255.255.255.0".parse().unwrap(),
                }),
                stats: Some(Traffic {
                    conns: 10,
                    pkts_in: 60,
                    pkts_out: 50,
                    bytes_in: 4000,
                    bytes_out: 123_456,
                }),
                rate: None,
                reals: vec![RealView {
                    addr: "198.19.0.11".parse().unwrap(),
                    port: 80,
                    forward: ForwardMode::Nat,
                    weight: 3,
                    active: 1,
                    inactive: 2,
                    available: true,
                    overloaded: false,
                    stats: None,
                    rate: None,
                }],
            }],
            rate_interval_ms: None,
        }
    }

    #[test]
    fn list_like_ipvsadm() {
        let s = list(&view(), false, false);
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[0].starts_with("Prot LocalAddress:Port Scheduler Flags"));
        assert_eq!(
            lines[2],
            "TCP  198.18.0.100:80 wrr persistent 360 mask 255.255.255.0  (web)"
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["->", "198.19.0.11:80", "Masq", "3", "1", "2", "up"]
        );
        let st = list(&view(), true, false);
        assert!(
            st.lines()
                .nth(2)
                .unwrap()
                .ends_with("10       60       50     4000     123K"),
            "{st}"
        );
    }

    #[test]
    fn conns_like_ipvsadm() {
        let v = ConnsView {
            conns: vec![ConnView {
                proto: "TCP".into(),
                state: "TIME_WAIT".into(),
                expire_s: 119,
                client: "198.18.0.2:40000".into(),
                vip: "198.18.0.100:80".into(),
                real: "198.19.0.11:80".into(),
                service: Some("web".into()),
                worker: 0,
            }],
            complete: false,
        };
        let s = conns(&v);
        assert_eq!(
            s.lines()
                .nth(2)
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>(),
            [
                "TCP",
                "01:59",
                "TIME_WAIT",
                "198.18.0.2:40000",
                "198.18.0.100:80",
                "198.19.0.11:80"
            ]
        );
        assert!(s.contains("partial"));
    }

    #[test]
    fn suffixes() {
        assert_eq!(human(9999.0), "9999");
        assert_eq!(human(123_456.0), "123K");
        assert_eq!(human(12_345_678.0), "12M");
    }
}
