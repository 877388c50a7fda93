//! `dataplane ctl list --watch`: the live table of the LVS walkthrough's monitor (`watch ipvsadm
//! -Ln --rate`): services and reals with weight, connections, per-second rates and health,
//! redrawn every interval, a real that fails shown DOWN in the next frame. On a terminal each
//! frame replaces the last; otherwise (a pipe, a file, a log) frames follow one another, each
//! starting with its `Every ...` header line and separated by an empty line. Ends on Ctrl-C
//! (SIGINT) or SIGTERM after the current frame, or after `--count` frames.

use super::format::{fwd, human};
use super::proto::{ListView, Request};
use anyhow::{bail, Result};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Shortest and longest refresh interval.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// `--interval`: a duration with a unit (`200ms`, `1s`, `2m`), 100ms..1h.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let d: crate::config::Dur = s.parse()?;
    if d.0 < MIN_INTERVAL || d.0 > MAX_INTERVAL {
        return Err(format!("`{s}` must be between 100ms and 1h"));
    }
    Ok(d.0)
}

/// Redraws the list every `interval` until a signal or `count` frames.
pub fn run(socket: &Path, interval: Duration, count: Option<u64>) -> Result<()> {
    let req = Request::List {
        stats: false,
        rate: true,
    };
    repeat(interval, count, |tty| {
        let resp = super::call(socket, &req)?;
        if !resp.ok {
            bail!("{}", resp.error.unwrap_or_else(|| "failed".into()));
        }
        let view: ListView = serde_json::from_value(resp.result)?;
        Ok(Some(frame(&view, interval, &utc_now(), tty)))
    })
}

/// Prints what `draw` returns every `interval` (None: nothing this time), until SIGINT or
/// SIGTERM, `count` frames, or an error. On a terminal each frame replaces the last; otherwise
/// frames follow one another, separated by an empty line. `draw` is told whether it is a
/// terminal.
pub fn repeat(
    interval: Duration,
    count: Option<u64>,
    mut draw: impl FnMut(bool) -> Result<Option<String>>,
) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let tty = std::io::stdout().is_terminal();
    let mut frames = 0u64;
    while !stop.load(Relaxed) {
        let started = Instant::now();
        if let Some(f) = draw(tty)? {
            let mut text = String::new();
            if tty {
                text.push_str("\x1b[H\x1b[2J"); // home, clear: the frame replaces the last
            } else if frames > 0 {
                text.push('\n');
            }
            text.push_str(&f);
            let mut out = std::io::stdout().lock();
            if out
                .write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                return Ok(()); // the reader went away (`| head`)
            }
            frames += 1;
            if count.is_some_and(|c| frames >= c) {
                break;
            }
        }
        // Sleep in short steps so Ctrl-C ends it promptly.
        while !stop.load(Relaxed) && started.elapsed() < interval {
            std::thread::sleep(
                interval
                    .saturating_sub(started.elapsed())
                    .min(Duration::from_millis(50)),
            );
        }
    }
    Ok(())
}

pub(crate) fn interval_text(d: Duration) -> String {
    crate::config::Dur(d).to_string()
}

/// One frame: the header line and the table.
pub fn frame(v: &ListView, interval: Duration, now: &str, tty: bool) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Every {}: dataplane ctl list --watch    {now}",
        interval_text(interval)
    );
    let _ = writeln!(
        o,
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn      CPS    InPPS   OutPPS    InBPS   OutBPS Health"
    );
    for s in &v.services {
        let proto = s.protocol.to_ascii_uppercase();
        let mut flags = String::new();
        if let Some(p) = &s.persistence {
            let _ = write!(flags, " persistent {}", p.timeout_s);
        }
        let head = format!(
            "{proto:<4} {} {}{flags}  ({})",
            crate::config::addr_port(s.vip, s.port),
            s.scheduler,
            s.name
        );
        let _ = writeln!(o, "{head:<69}{}", rates(s.rate.as_ref()));
        for r in &s.reals {
            let health = match (r.available, tty) {
                (true, _) => "up",
                (false, true) => "\x1b[7mDOWN\x1b[0m",
                (false, false) => "DOWN",
            };
            let _ = writeln!(
                o,
                "  -> {:<28} {:<7} {:<6} {:<10} {:<9}{} {health}",
                crate::config::addr_port(r.addr, r.port),
                fwd(r.forward),
                r.weight,
                r.active,
                r.inactive,
                rates(r.rate.as_ref())
            );
        }
    }
    o
}

fn rates(r: Option<&super::proto::Rate>) -> String {
    let r = r.copied().unwrap_or_default();
    let mut s = String::new();
    for v in [r.cps, r.pps_in, r.pps_out, r.bps_in, r.bps_out] {
        let _ = write!(s, " {:>8}", human(v));
    }
    s
}

/// `YYYY-MM-DD HH:MM:SS UTC` (the civil date from days since 1970, proleptic Gregorian).
pub(crate) fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc(secs)
}

fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::super::proto::*;
    use super::*;

    fn view(up: bool) -> ListView {
        let real = |ip: &str, available: bool| RealView {
            addr: ip.parse().unwrap(),
            port: 80,
            forward: crate::config::ForwardMode::Nat,
            weight: 1,
            active: 2,
            inactive: 7,
            available,
            overloaded: false,
            stats: None,
            rate: Some(Rate {
                cps: 12.0,
                pps_in: 120.0,
                pps_out: 100.0,
                bps_in: 15_000.0,
                bps_out: 2_500_000.0,
            }),
        };
        ListView {
            services: vec![ServiceView {
                name: "web".into(),
                protocol: "tcp".into(),
                vip: "198.18.0.100".parse().unwrap(),
                port: 80,
                scheduler: crate::config::SchedKind::Wrr,
                forward: crate::config::ForwardMode::Nat,
                persistence: None,
                stats: None,
                rate: Some(Rate::default()),
                reals: vec![real("198.19.0.11", true), real("198.19.0.12", up)],
            }],
            rate_interval_ms: Some(1000),
        }
    }

    #[test]
    fn a_frame_has_rates_per_real_and_health() {
        let f = frame(&view(false), Duration::from_millis(200), "T", false);
        let lines: Vec<&str> = f.lines().collect();
        assert_eq!(lines[0], "Every 200ms: dataplane ctl list --watch    T");
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            [
                "->",
                "RemoteAddress:Port",
                "Forward",
                "Weight",
                "ActiveConn",
                "InActConn",
                "CPS",
                "InPPS",
                "OutPPS",
                "InBPS",
                "OutBPS",
                "Health"
            ]
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            [
                "TCP",
                "198.18.0.100:80",
                "wrr",
                "(web)",
                "0",
                "0",
                "0",
                "0",
                "0"
            ]
        );
        assert_eq!(
            lines[4].split_whitespace().collect::<Vec<_>>(),
            [
                "->",
                "198.19.0.11:80",
                "Masq",
                "1",
                "2",
                "7",
                "12",
                "120",
                "100",
                "15K",
                "2500K",
                "up"
            ]
        );
        assert!(lines[5].ends_with(" DOWN"), "{f}");
        assert_eq!(lines.len(), 6);
        // On a terminal DOWN stands out.
        let t = frame(&view(false), Duration::from_secs(1), "T", true);
        assert!(t.lines().nth(5).unwrap().ends_with("\x1b[7mDOWN\x1b[0m"));
        assert!(frame(&view(true), Duration::from_secs(1), "T", false)
            .lines()
            .nth(5)
            .unwrap()
            .ends_with(" up"));
    }

    #[test]
    fn intervals_and_dates() {
        assert_eq!(parse_interval("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_interval("50ms")
            .unwrap_err()
            .contains("between 100ms and 1h"));
        assert!(parse_interval("2").is_err());
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400 + 3_723), "2000-02-29 01:02:03 UTC");
        assert_eq!(utc(1_798_761_599), "2026-12-31 23:59:59 UTC");
    }
}
