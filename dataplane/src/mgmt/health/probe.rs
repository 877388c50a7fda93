//! One blocking health check of one real server, bounded by the check's timeout: a TCP connect,
//! a hand-written HTTP/1.0 GET (status line and an optional body substring), or a shell command.
//! Runs on the checker's threads, never on the management thread or a worker. Ordinary sockets
//! of the appliance's network namespace reach the reals through the exception interfaces.

use crate::config::{CheckKind, HealthCheck};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::tunables::{
    HEALTH_COMMAND_POLL_MAX, HEALTH_COMMAND_POLL_MIN, HEALTH_MAX_RESPONSE as MAX_RESPONSE,
};

/// What is checked: the real's address and the port to probe, the service for the command's env.
#[derive(Clone, Debug)]
pub struct ProbeTarget<'a> {
    pub service: &'a str,
    pub ip: Ipv4Addr,
    /// The real's own port (REAL_PORT for a command).
    pub real_port: u16,
    pub check: &'a HealthCheck,
}

/// Runs the check: Ok(what succeeded) or Err(why it failed), both short and fit for a log line.
pub fn run(t: &ProbeTarget) -> Result<String, String> {
    let deadline = Instant::now() + t.check.timeout.0;
    let port = t.check.port.unwrap_or(t.real_port);
    let addr = SocketAddr::from((t.ip, port));
    match t.check.kind {
        CheckKind::Tcp => connect(addr, deadline).map(|_| format!("tcp port {port} accepts")),
        CheckKind::Http => http(addr, t.check, deadline),
        CheckKind::Command => command(t, deadline),
    }
}

fn left(deadline: Instant, what: &str) -> Result<Duration, String> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        Err(format!("{what} timed out"))
    } else {
        Ok(d)
    }
}

fn connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, String> {
    TcpStream::connect_timeout(&addr, left(deadline, "connect")?).map_err(|e| match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "connect timed out".to_string(),
        ErrorKind::ConnectionRefused => "connection refused".to_string(),
        _ => format!("connect failed: {e}"),
    })
}

fn io_err(what: &str, e: std::io::Error) -> String {
    match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => format!("{what} timed out"),
        _ => format!("{what} failed: {e}"),
    }
}

fn http(addr: SocketAddr, check: &HealthCheck, deadline: Instant) -> Result<String, String> {
    let mut s = connect(addr, deadline)?;
    let req = format!(
        "GET {} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: dataplane-health\r\nConnection: close\r\n\r\n",
        check.path()
    );
    s.set_write_timeout(Some(left(deadline, "request")?))
        .map_err(|e| io_err("request", e))?;
    s.write_all(req.as_bytes())
        .map_err(|e| io_err("request", e))?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        s.set_read_timeout(Some(left(deadline, "response")?))
            .map_err(|e| io_err("response", e))?;
        let n = match s.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err("response", e)),
        };
        let take = n.min(MAX_RESPONSE - buf.len());
        buf.extend_from_slice(&chunk[..take]);
        let done = n == 0 || buf.len() >= MAX_RESPONSE;
        // Without a body to look for, the status line is enough.
        if done || (check.body.is_none() && buf.contains(&b'\n')) {
            break;
        }
    }
    judge_http(&buf, check.expect(), check.body.as_deref())
}

/// The verdict on an HTTP response (as much of it as was read).
pub fn judge_http(resp: &[u8], expect: u16, body: Option<&str>) -> Result<String, String> {
    let line_end = resp
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| "no HTTP status line in the response".to_string())?;
    let line = String::from_utf8_lossy(&resp[..line_end]);
    let mut parts = line.split_whitespace();
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(format!("bad HTTP status line `{}`", line.trim()));
    };
    let code: u16 = match code.parse() {
        Ok(c) if version.starts_with("HTTP/") => c,
        _ => return Err(format!("bad HTTP status line `{}`", line.trim())),
    };
    if code != expect {
        return Err(format!("http status {code} (expected {expect})"));
    }
    if let Some(want) = body {
        let start = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| i + 4)
            .or_else(|| resp.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
            .unwrap_or(resp.len());
        let want = want.as_bytes();
        if !resp[start..].windows(want.len()).any(|w| w == want) {
            return Err(format!(
                "http status {code} but the body lacks `{}`",
                String::from_utf8_lossy(want)
            ));
        }
    }
    Ok(format!("http status {code}"))
}

fn command(t: &ProbeTarget, deadline: Instant) -> Result<String, String> {
    let cmd = t.check.command.as_deref().unwrap_or("false");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("REAL_IP", t.ip.to_string())
        .env("REAL_PORT", t.real_port.to_string())
        .env("SERVICE", t.service)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so a timeout kills what the shell started too.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run the command: {e}"))?;
    let mut pause = HEALTH_COMMAND_POLL_MIN;
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok("command exited 0".into()),
            Ok(Some(st)) => return Err(format!("command {st}")),
            Ok(None) => {}
            Err(e) => return Err(format!("cannot wait for the command: {e}")),
        }
        let rest = deadline.saturating_duration_since(Instant::now());
        if rest.is_zero() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
            return Err("command timed out (killed)".into());
        }
        std::thread::sleep(pause.min(rest));
        pause = (pause * 2).min(HEALTH_COMMAND_POLL_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dur;
    use std::net::TcpListener;

    fn check(kind: CheckKind) -> HealthCheck {
        HealthCheck {
            kind,
            port: None,
            path: None,
            expect: None,
            body: None,
            command: None,
            interval: Dur(Duration::from_millis(1000)),
            timeout: Dur(Duration::from_millis(500)),
            rise: 2,
            fall: 3,
        }
    }

    fn target<'a>(c: &'a HealthCheck, port: u16) -> ProbeTarget<'a> {
        ProbeTarget {
            service: "web",
            ip: Ipv4Addr::LOCALHOST,
            real_port: port,
            check: c,
        }
    }

    #[test]
    fn http_verdicts() {
        let ok = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nhello real1\n";
        assert_eq!(judge_http(ok, 200, None).unwrap(), "http status 200");
        assert!(judge_http(ok, 200, Some("real1")).is_ok());
        let e = judge_http(ok, 200, Some("real2")).unwrap_err();
        assert!(e.contains("lacks `real2`"), "{e}");
        // The substring must be in the body, not the headers.
        assert!(judge_http(ok, 200, Some("Server")).is_err());
        let e = judge_http(b"HTTP/1.1 503 Unavailable\r\n\r\n", 200, None).unwrap_err();
        assert_eq!(e, "http status 503 (expected 200)");
        assert!(judge_http(b"HTTP/1.1 404 x\r\n", 404, None).is_ok());
        for bad in [
            &b""[..],
            b"garbage",
            b"SSH-2.0-x\r\n",
            b"HTTP/1.0 abc\r\n",
            b"\n",
        ] {
            assert!(judge_http(bad, 200, None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tcp_check_up_and_refused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = check(CheckKind::Tcp);
        assert!(run(&target(&c, port)).is_ok());
        drop(l);
        assert_eq!(run(&target(&c, port)).unwrap_err(), "connection refused");
    }

    #[test]
    fn http_check_against_a_tiny_server() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let srv = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for reply in ["HTTP/1.0 200 OK\r\n\r\nall good", "HTTP/1.0 500 x\r\n\r\n"] {
                let (mut s, _) = l.accept().unwrap();
                let mut req = [0u8; 1024];
                let n = s.read(&mut req).unwrap();
                seen.push(String::from_utf8_lossy(&req[..n]).to_string());
                s.write_all(reply.as_bytes()).unwrap();
            }
            seen
        });
        let mut c = check(CheckKind::Http);
        c.path = Some("/health".into());
        c.body = Some("good".into());
        assert_eq!(run(&target(&c, port)).unwrap(), "http status 200");
        assert_eq!(
            run(&target(&c, port)).unwrap_err(),
            "http status 500 (expected 200)"
        );
        let seen = srv.join().unwrap();
        assert!(seen[0].starts_with("GET /health HTTP/1.0\r\n"), "{seen:?}");
    }

    #[test]
    fn http_check_times_out_on_a_silent_server() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut c = check(CheckKind::Http);
        c.timeout = Dur(Duration::from_millis(100));
        let t0 = Instant::now();
        let e = run(&target(&c, port)).unwrap_err();
        assert_eq!(e, "response timed out");
        assert!(t0.elapsed() < Duration::from_millis(400));
        drop(l);
    }

    #[test]
    fn command_check_sees_its_env_and_is_killed_on_timeout() {
        let mut c = check(CheckKind::Command);
        c.command = Some(
            r#"test "$REAL_IP" = 127.0.0.1 && test "$REAL_PORT" = 8080 && test "$SERVICE" = web"#
                .into(),
        );
        assert_eq!(run(&target(&c, 8080)).unwrap(), "command exited 0");
        assert!(run(&target(&c, 8081))
            .unwrap_err()
            .contains("exit status: 1"));
        c.command = Some("sleep 5".into());
        c.timeout = Dur(Duration::from_millis(100));
        let t0 = Instant::now();
        assert_eq!(
            run(&target(&c, 8080)).unwrap_err(),
            "command timed out (killed)"
        );
        assert!(t0.elapsed() < Duration::from_secs(2));
    }
}
