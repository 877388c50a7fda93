//! One blocking health check of one real server, bounded by the check's timeout: a TCP connect,
//! an HTTP GET through ureq (status and an optional body substring), or a shell command.
//! Runs on the checker's threads, never on the management thread or a worker. Ordinary sockets
//! of the appliance's network namespace reach the reals through the exception interfaces.

use crate::config::{CheckKind, HealthCheck};
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
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
    /// IPv4 or IPv6: the kernel routes either through the exception interfaces.
    pub ip: IpAddr,
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

/// The http check, on ureq (docs/decisions.md): a fresh agent per check so no pooled
/// connection hides a server that stopped accepting; no proxy from the environment, no
/// redirects followed, any status returned as a status (not an error). Plain HTTP only: the
/// crate is built without TLS.
fn http(addr: SocketAddr, check: &HealthCheck, deadline: Instant) -> Result<String, String> {
    let left = left(deadline, "connect")?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(None)
        .max_redirects(0)
        .http_status_as_error(false)
        .user_agent("dataplane-health")
        .timeout_connect(Some(left))
        // A hair over the connect budget, so a connect that uses all of it is reported as one.
        .timeout_global(Some(left + Duration::from_millis(1)))
        .max_idle_connections(0)
        .build()
        .into();
    let url = format!("http://{addr}{}", check.path());
    let mut resp = agent
        .get(&url)
        .header("Host", addr.to_string())
        .header("Connection", "close")
        .call()
        .map_err(http_err)?;
    let code = resp.status().as_u16();
    let body = match &check.body {
        None => None,
        Some(want) => {
            let mut buf = Vec::with_capacity(4096);
            resp.body_mut()
                .as_reader()
                .take(MAX_RESPONSE as u64)
                .read_to_end(&mut buf)
                .map_err(|e| io_err("response", e))?;
            Some((buf, want.as_str()))
        }
    };
    judge_http(
        code,
        check.expect(),
        body.as_ref().map(|(b, w)| (b.as_slice(), *w)),
    )
}

fn http_err(e: ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect) => "connect timed out".into(),
        ureq::Error::Timeout(_) => "response timed out".into(),
        ureq::Error::Io(e) if e.kind() == ErrorKind::ConnectionRefused => {
            "connection refused".into()
        }
        ureq::Error::Io(e) => io_err("http check", e),
        ureq::Error::Protocol(e) => format!("bad HTTP response: {e}"),
        e => format!("http check failed: {e}"),
    }
}

/// The verdict on an HTTP status and, when a substring is expected, the body read (its first
/// MAX_RESPONSE bytes).
pub fn judge_http(code: u16, expect: u16, body: Option<(&[u8], &str)>) -> Result<String, String> {
    if code != expect {
        return Err(format!("http status {code} (expected {expect})"));
    }
    if let Some((got, want)) = body {
        let w = want.as_bytes();
        if !got.windows(w.len()).any(|x| x == w) {
            return Err(format!("http status {code} but the body lacks `{want}`"));
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
            ip: std::net::Ipv4Addr::LOCALHOST.into(),
            real_port: port,
            check: c,
        }
    }

    #[test]
    fn http_verdicts() {
        assert_eq!(judge_http(200, 200, None).unwrap(), "http status 200");
        assert!(judge_http(200, 200, Some((b"hello real1", "real1"))).is_ok());
        assert_eq!(
            judge_http(200, 200, Some((b"hello real1", "real2"))).unwrap_err(),
            "http status 200 but the body lacks `real2`"
        );
        assert_eq!(
            judge_http(503, 200, None).unwrap_err(),
            "http status 503 (expected 200)"
        );
        assert!(judge_http(404, 404, None).is_ok());
    }

    /// A one-shot server: answers each connection with the next reply, returns the requests.
    fn serve(replies: Vec<&'static str>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        use std::io::Write;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for reply in replies {
                let (mut s, _) = l.accept().unwrap();
                let mut req = [0u8; 1024];
                let n = s.read(&mut req).unwrap();
                seen.push(String::from_utf8_lossy(&req[..n]).to_string());
                s.write_all(reply.as_bytes()).unwrap();
            }
            seen
        });
        (port, h)
    }

    #[test]
    fn http_check_against_a_tiny_server() {
        let (port, srv) = serve(vec![
            "HTTP/1.0 200 OK\r\n\r\nall good",
            "HTTP/1.0 500 x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nall bad!",
            "HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n",
            "SSH-2.0-OpenSSH_9.2\r\n",
        ]);
        let mut c = check(CheckKind::Http);
        c.path = Some("/health".into());
        c.body = Some("good".into());
        assert_eq!(run(&target(&c, port)).unwrap(), "http status 200");
        assert_eq!(
            run(&target(&c, port)).unwrap_err(),
            "http status 500 (expected 200)"
        );
        assert_eq!(
            run(&target(&c, port)).unwrap_err(),
            "http status 200 but the body lacks `good`"
        );
        // Redirects are not followed: the status is the verdict.
        assert_eq!(
            run(&target(&c, port)).unwrap_err(),
            "http status 301 (expected 200)"
        );
        let e = run(&target(&c, port)).unwrap_err();
        assert!(e.starts_with("bad HTTP response"), "{e}");
        let seen = srv.join().unwrap();
        let head: Vec<&str> = seen[0].lines().collect();
        assert_eq!(head[0], "GET /health HTTP/1.1");
        assert!(
            head.contains(&format!("host: 127.0.0.1:{port}").as_str())
                || head.contains(&format!("Host: 127.0.0.1:{port}").as_str()),
            "{head:?}"
        );
        assert!(
            head.iter()
                .any(|h| h.eq_ignore_ascii_case("connection: close")),
            "{head:?}"
        );
        assert!(
            head.iter()
                .any(|h| h.eq_ignore_ascii_case("user-agent: dataplane-health")),
            "{head:?}"
        );
    }

    #[test]
    fn http_check_refused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let c = check(CheckKind::Http);
        assert_eq!(run(&target(&c, port)).unwrap_err(), "connection refused");
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
