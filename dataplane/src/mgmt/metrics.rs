//! The Prometheus endpoint: its own thread, minimal HTTP/1.0 on a std TcpListener (loopback by
//! default), `GET /metrics` answered with the text exposition format (version 0.0.4). Everything
//! is read from the shared handles at scrape time: per real and service traffic and load, per
//! worker counters, per port DPDK stats and xstats. Metric names are listed in docs/ctl.md.

use super::control::Sources;
use crate::worker::Counter;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(50);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

pub fn spawn(
    addr: SocketAddr,
    sources: Arc<Sources>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    let l = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    l.set_nonblocking(true)?;
    tracing::info!(%addr, "metrics endpoint listening");
    Ok(std::thread::Builder::new()
        .name("dp-metrics".into())
        .spawn(move || {
            while !stop.load(Relaxed) {
                match l.accept() {
                    Ok((c, _)) => {
                        if let Err(e) = serve(c, &sources) {
                            tracing::debug!("metrics client: {e}");
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(POLL)
                    }
                    Err(e) => {
                        tracing::warn!("metrics accept: {e}");
                        std::thread::sleep(POLL);
                    }
                }
            }
        })?)
}

fn serve(mut c: TcpStream, src: &Sources) -> std::io::Result<()> {
    c.set_nonblocking(false)?;
    c.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    c.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    // Only the request line matters; read until the end of the headers (or 8 KiB).
    let mut buf = [0u8; 8192];
    let mut n = 0;
    while n < buf.len() {
        let got = c.read(&mut buf[n..])?;
        if got == 0 {
            break;
        }
        n += got;
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n")
            || buf[..n].windows(2).any(|w| w == b"\n\n")
        {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(src),
        ),
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "not found: try /metrics\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".into()),
    };
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes())?;
    c.write_all(body.as_bytes())?;
    c.flush()
}

/// A label value with `\`, `"` and newlines escaped.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes one metric family: HELP, TYPE, then its samples (`labels` already formatted
/// `a="x",b="y"`, possibly empty).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

/// The whole exposition.
pub fn render(src: &Sources) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let snap = src.snapshot.load();

    // Per real, and per service (the sum of its reals).
    let mut real_rows = Vec::new();
    let mut svc_rows = Vec::new();
    for s in snap.services.services() {
        let sl = format!("service=\"{}\"", esc(&s.name));
        let mut sum = crate::worker::stats::RealFigures::default();
        for r in &s.reals {
            let f = src.real_totals(r.id);
            sum.add(&f);
            let l = format!("{sl},real=\"{}:{}\"", r.addr, r.port);
            real_rows.push((l, f, r.weight, r.available));
        }
        svc_rows.push((sl, sum));
    }
    let rows = |f: &dyn Fn(&crate::worker::stats::RealFigures) -> u64| -> Vec<(String, u64)> {
        real_rows
            .iter()
            .map(|(l, r, _, _)| (l.clone(), f(r)))
            .collect()
    };
    let dir = |f_in: &dyn Fn(&crate::worker::stats::RealFigures) -> u64,
               f_out: &dyn Fn(&crate::worker::stats::RealFigures) -> u64,
               rows: &[(String, crate::worker::stats::RealFigures)]|
     -> Vec<(String, u64)> {
        rows.iter()
            .flat_map(|(l, r)| {
                [
                    (format!("{l},direction=\"in\""), f_in(r)),
                    (format!("{l},direction=\"out\""), f_out(r)),
                ]
            })
            .collect()
    };
    let real_fig: Vec<(String, crate::worker::stats::RealFigures)> = real_rows
        .iter()
        .map(|(l, f, _, _)| (l.clone(), *f))
        .collect();
    family(
        &mut out,
        "dataplane_real_connections_total",
        "counter",
        "Connections scheduled to the real since start.",
        &rows(&|r| r.conns),
    );
    family(
        &mut out,
        "dataplane_real_packets_total",
        "counter",
        "Packets of the real's connections, client to real (in) and real to client (out).",
        &dir(&|r| r.pkts_in, &|r| r.pkts_out, &real_fig),
    );
    family(
        &mut out,
        "dataplane_real_bytes_total",
        "counter",
        "Bytes of the real's connections, client to real (in) and real to client (out).",
        &dir(&|r| r.bytes_in, &|r| r.bytes_out, &real_fig),
    );
    family(
        &mut out,
        "dataplane_real_active_connections",
        "gauge",
        "The real's ESTABLISHED connections, summed over workers.",
        &rows(&|r| r.active),
    );
    family(
        &mut out,
        "dataplane_real_inactive_connections",
        "gauge",
        "The real's connections in other states, summed over workers.",
        &rows(&|r| r.inactive),
    );
    family(
        &mut out,
        "dataplane_real_weight",
        "gauge",
        "The real's current weight.",
        &real_rows
            .iter()
            .map(|(l, _, w, _)| (l.clone(), u64::from(*w)))
            .collect::<Vec<_>>(),
    );
    family(
        &mut out,
        "dataplane_real_up",
        "gauge",
        "1 when the real may take new connections (health checks pass), else 0.",
        &real_rows
            .iter()
            .map(|(l, _, _, up)| (l.clone(), u64::from(*up)))
            .collect::<Vec<_>>(),
    );
    family(
        &mut out,
        "dataplane_service_connections_total",
        "counter",
        "Connections scheduled by the service since start.",
        &svc_rows
            .iter()
            .map(|(l, f)| (l.clone(), f.conns))
            .collect::<Vec<_>>(),
    );
    family(
        &mut out,
        "dataplane_service_packets_total",
        "counter",
        "Packets of the service's connections by direction.",
        &dir(&|r| r.pkts_in, &|r| r.pkts_out, &svc_rows),
    );
    family(
        &mut out,
        "dataplane_service_bytes_total",
        "counter",
        "Bytes of the service's connections by direction.",
        &dir(&|r| r.bytes_in, &|r| r.bytes_out, &svc_rows),
    );
    family(
        &mut out,
        "dataplane_service_active_connections",
        "gauge",
        "The service's ESTABLISHED connections.",
        &svc_rows
            .iter()
            .map(|(l, f)| (l.clone(), f.active))
            .collect::<Vec<_>>(),
    );
    family(
        &mut out,
        "dataplane_service_inactive_connections",
        "gauge",
        "The service's connections in other states.",
        &svc_rows
            .iter()
            .map(|(l, f)| (l.clone(), f.inactive))
            .collect::<Vec<_>>(),
    );

    // Per worker.
    let totals: Vec<_> = src.counters.iter().map(|c| c.snapshot()).collect();
    let per_worker = |c: Counter, extra: &str| -> Vec<(String, u64)> {
        totals
            .iter()
            .enumerate()
            .map(|(w, t)| (format!("worker=\"{w}\"{extra}"), t.get(c)))
            .collect()
    };
    let mut pk = per_worker(Counter::Rx, ",direction=\"rx\"");
    pk.extend(per_worker(Counter::Tx, ",direction=\"tx\""));
    family(
        &mut out,
        "dataplane_worker_packets_total",
        "counter",
        "Packets a worker received from its queues (rx) and sent (tx).",
        &pk,
    );
    let mut ho = per_worker(Counter::HandoffOut, ",direction=\"out\"");
    ho.extend(per_worker(Counter::HandoffIn, ",direction=\"in\""));
    family(
        &mut out,
        "dataplane_worker_handoffs_total",
        "counter",
        "Packets handed to the owning worker (out) and taken from other workers (in).",
        &ho,
    );
    let drops: Vec<(String, u64)> = Counter::ALL
        .iter()
        .filter_map(|c| {
            let reason = c.name().strip_prefix("drop_")?;
            Some(per_worker(*c, &format!(",reason=\"{reason}\"")))
        })
        .chain(std::iter::once(per_worker(
            Counter::TxDropped,
            ",reason=\"tx_full\"",
        )))
        .flatten()
        .collect();
    family(
        &mut out,
        "dataplane_worker_drops_total",
        "counter",
        "Packets a worker dropped, by reason.",
        &drops,
    );
    let events: Vec<(String, u64)> = Counter::ALL
        .iter()
        .filter(|c| {
            !c.name().starts_with("drop_")
                && !matches!(
                    c,
                    Counter::Rx
                        | Counter::Tx
                        | Counter::TxDropped
                        | Counter::HandoffIn
                        | Counter::HandoffOut
                )
        })
        .flat_map(|c| per_worker(*c, &format!(",event=\"{}\"", c.name())))
        .collect();
    family(
        &mut out,
        "dataplane_worker_events_total",
        "counter",
        "Everything else a worker counts (polls, NAT, ARP, connections...), by event.",
        &events,
    );
    let occupancy: Vec<(String, u64)> = src
        .real_stats
        .iter()
        .enumerate()
        .map(|(w, rs)| {
            let n: u64 = snap
                .services
                .services()
                .iter()
                .flat_map(|s| s.reals.iter())
                .map(|r| {
                    let f = rs.get(r.id);
                    f.active + f.inactive
                })
                .sum();
            (format!("worker=\"{w}\""), n)
        })
        .collect();
    family(
        &mut out,
        "dataplane_worker_connections",
        "gauge",
        "Connections in the worker's table (reals of the current config).",
        &occupancy,
    );

    // Per port.
    let stats: Vec<_> = src
        .ports
        .iter()
        .map(|(id, name)| {
            (
                format!("port=\"{}\"", esc(name)),
                crate::dpdk::port::stats_of(*id),
            )
        })
        .collect();
    let two = |a: &dyn Fn(&crate::dpdk::PortStats) -> u64,
               b: &dyn Fn(&crate::dpdk::PortStats) -> u64|
     -> Vec<(String, u64)> {
        stats
            .iter()
            .flat_map(|(l, s)| {
                [
                    (format!("{l},direction=\"rx\""), a(s)),
                    (format!("{l},direction=\"tx\""), b(s)),
                ]
            })
            .collect()
    };
    family(
        &mut out,
        "dataplane_port_packets_total",
        "counter",
        "Packets received and sent by the port (DPDK stats).",
        &two(&|s| s.ipackets, &|s| s.opackets),
    );
    family(
        &mut out,
        "dataplane_port_bytes_total",
        "counter",
        "Bytes received and sent by the port.",
        &two(&|s| s.ibytes, &|s| s.obytes),
    );
    family(
        &mut out,
        "dataplane_port_errors_total",
        "counter",
        "Receive and transmit errors of the port.",
        &two(&|s| s.ierrors, &|s| s.oerrors),
    );
    family(
        &mut out,
        "dataplane_port_missed_total",
        "counter",
        "Packets the port dropped because the RX queues were full.",
        &stats
            .iter()
            .map(|(l, s)| (l.clone(), s.imissed))
            .collect::<Vec<_>>(),
    );
    family(
        &mut out,
        "dataplane_port_rx_nombuf_total",
        "counter",
        "Receive failures for want of an mbuf.",
        &stats
            .iter()
            .map(|(l, s)| (l.clone(), s.rx_nombuf))
            .collect::<Vec<_>>(),
    );
    let xstats: Vec<(String, u64)> = src
        .ports
        .iter()
        .flat_map(|(id, name)| {
            crate::dpdk::port::xstats_of(*id)
                .unwrap_or_default()
                .into_iter()
                .map(move |(x, v)| (format!("port=\"{}\",name=\"{}\"", esc(name), esc(&x)), v))
        })
        .collect();
    family(
        &mut out,
        "dataplane_port_xstat",
        "untyped",
        "The driver's extended statistics, by name.",
        &xstats,
    );
    out
}

/// One sample of an exposition: metric name, labels, value.
pub type Sample = (String, Vec<(String, String)>, f64);

/// A strict reader of the text exposition format (0.0.4), for tests and tools: HELP/TYPE lines,
/// one TYPE per family before its samples, families not interleaved, valid metric and label
/// names, escaped label values, float values, no duplicate series.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    fn name_ok(n: &str, colon: bool) -> bool {
        let mut cs = n.chars();
        cs.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
            && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
    }
    let mut out: Vec<Sample> = Vec::new();
    let mut typed: std::collections::HashMap<String, String> = Default::default();
    let mut finished: std::collections::HashSet<String> = Default::default();
    let mut current: Option<String> = None;
    let mut series = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let at = |m: &str| format!("line {}: {m}: {line}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut w = rest.splitn(3, ' ');
            match (w.next(), w.next(), w.next()) {
                (Some("TYPE"), Some(n), Some(k)) => {
                    if !["counter", "gauge", "untyped", "histogram", "summary"].contains(&k) {
                        return Err(at("unknown type"));
                    }
                    if typed.insert(n.to_string(), k.to_string()).is_some() {
                        return Err(at("second TYPE for a family"));
                    }
                    if out.iter().any(|s| s.0 == n) {
                        return Err(at("TYPE after the family's samples"));
                    }
                }
                (Some("HELP"), Some(n), _) if name_ok(n, true) => {}
                (Some("HELP"), ..) => return Err(at("bad HELP")),
                _ => {}
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series_part, value) = line.rsplit_once(' ').ok_or_else(|| at("no value"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| at("bad value"))?,
        };
        let (name, labels) = match series_part.split_once('{') {
            None => (series_part, Vec::new()),
            Some((n, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .ok_or_else(|| at("unclosed labels"))?;
                let mut labels = Vec::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
                    if !name_ok(&key, false) {
                        return Err(at("bad label name"));
                    }
                    if chars.next() != Some('"') {
                        return Err(at("label value not quoted"));
                    }
                    let mut val = String::new();
                    loop {
                        match chars.next() {
                            Some('\\') => match chars.next() {
                                Some('n') => val.push('\n'),
                                Some(c @ ('\\' | '"')) => val.push(c),
                                _ => return Err(at("bad escape")),
                            },
                            Some('"') => break,
                            Some(c) => val.push(c),
                            None => return Err(at("unterminated label value")),
                        }
                    }
                    labels.push((key, val));
                    match chars.next() {
                        Some(',') | None => {}
                        _ => return Err(at("expected , between labels")),
                    }
                }
                (n, labels)
            }
        };
        if !name_ok(name, true) {
            return Err(at("bad metric name"));
        }
        if current.as_deref() != Some(name) {
            if finished.contains(name) {
                return Err(at("family's samples are not together"));
            }
            if let Some(c) = current.take() {
                finished.insert(c);
            }
            current = Some(name.to_string());
        }
        if !series.insert(series_part.to_string()) {
            return Err(at("duplicate series"));
        }
        out.push((name.to_string(), labels, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_refuses_malformed_text() {
        assert!(parse("m{a=\"1\"} 2\n").is_ok());
        for bad in [
            "m{a=1} 2\n",
            "m{a=\"1\"\n",
            "m 2 3 x\n",
            "1m 2\n",
            "m 2\nn 1\nm 3\n",
            "m 2\nm 2\n",
            "# TYPE m counter\n# TYPE m gauge\n",
            "# TYPE m flavour\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let s = parse("a{x=\"q\\\"\\\\\\n\",y=\"\"} 1.5\n").unwrap();
        assert_eq!(s[0].1[0].1, "q\"\\\n");
        assert_eq!(s[0].2, 1.5);
    }

    #[test]
    fn exposition_parses_and_carries_the_figures() {
        let src = super::super::control::tests::sources();
        let text = render(&src);
        let samples = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let get = |name: &str, labels: &[(&str, &str)]| -> f64 {
            samples
                .iter()
                .find(|(n, l, _)| {
                    n == name
                        && labels
                            .iter()
                            .all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
                })
                .unwrap_or_else(|| panic!("{name} {labels:?} missing"))
                .2
        };
        let web1 = [("service", "web"), ("real", "198.19.0.11:80")];
        assert_eq!(get("dataplane_real_connections_total", &web1), 10.0);
        assert_eq!(get("dataplane_real_active_connections", &web1), 1.0);
        assert_eq!(get("dataplane_real_up", &web1), 1.0);
        assert_eq!(
            get(
                "dataplane_real_up",
                &[("real", "198.19.0.12:80"), ("service", "web")]
            ),
            0.0
        );
        assert_eq!(get("dataplane_real_weight", &web1), 1.0);
        let mut d = web1.to_vec();
        d.push(("direction", "out"));
        assert_eq!(get("dataplane_real_bytes_total", &d), 9000.0);
        assert_eq!(
            get(
                "dataplane_service_packets_total",
                &[("service", "dns"), ("direction", "in")]
            ),
            200.0
        );
        assert_eq!(
            get(
                "dataplane_worker_drops_total",
                &[("worker", "0"), ("reason", "no_service")]
            ),
            0.0
        );
        assert_eq!(
            get("dataplane_worker_connections", &[("worker", "0")]),
            18.0
        );
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(esc(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(esc("x\ny"), "x\\ny");
    }

    #[test]
    fn family_format() {
        let mut s = String::new();
        family(
            &mut s,
            "m_total",
            "counter",
            "Help.",
            &[("a=\"1\"".into(), 3), (String::new(), 4)],
        );
        assert_eq!(
            s,
            "# HELP m_total Help.\n# TYPE m_total counter\nm_total{a=\"1\"} 3\nm_total 4\n"
        );
    }
}
