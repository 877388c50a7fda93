//! Hostile clients on the control socket of a running appliance (net_null ports, so no
//! namespace is needed): malformed, oversized and slow requests and a crowd of connections are
//! refused or timed out with a message, while other clients, the management thread (a reload)
//! and the worker (its polls keep counting) carry on.
mod common;
use common::*;
use dataplane::ctl::proto::{Request, Response, WorkersView};
use dataplane::tunables::{
    CONTROL_CLIENT_IDLE, CONTROL_MAX_CLIENTS, CONTROL_MAX_LINE, CONTROL_REQUEST_DEADLINE,
};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a test waits for an answer the appliance should give at once: generous, since the
/// machine is shared.
const PROMPT: Duration = Duration::from_secs(20);

fn config(sock: &Path) -> String {
    format!(
        r#"eal: {{lcores: "0-1", memory_mb: 256, hugepages: off}}
workers: {{cores: [1], idle_backoff: adaptive}}
mode: lb
ports:
  - {{name: ext, device: "net_null0,no-rx=1", ip: 198.18.0.1/24, exception: none}}
  - {{name: int, device: "net_null1,no-rx=1", ip: 198.19.0.1/24, exception: none}}
routes: [{{prefix: 0.0.0.0/0, via: 198.18.0.254}}]
services:
  - name: web
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    forward: nat
    reals: [{{ip: 198.19.0.11}}, {{ip: 198.19.0.12}}]
control: {{socket: {}}}
metrics: {{listen: none}}
"#,
        sock.display()
    )
}

struct Setup {
    _dir: TestDir,
    app: Appliance,
    sock: PathBuf,
}

fn start(tag: &str) -> Setup {
    let dir = TestDir::new();
    let sock = dir.path("ctl.sock");
    let cfg = dir.write("lb.yaml", &config(&sock));
    let mut app = Appliance::start(&cfg, &dir, tag);
    app.wait_for_log("control socket listening", Duration::from_secs(60));
    Setup {
        _dir: dir,
        app,
        sock,
    }
}

/// A raw client: the test writes bytes and reads response lines itself.
struct Raw {
    w: UnixStream,
    r: BufReader<UnixStream>,
}

impl Raw {
    fn connect(sock: &Path) -> Raw {
        let s = UnixStream::connect(sock).expect("connect");
        s.set_read_timeout(Some(PROMPT)).unwrap();
        s.set_write_timeout(Some(PROMPT)).unwrap();
        Raw {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("send");
    }

    /// The next response line, parsed; panics on the end of stream or a timeout.
    fn response(&mut self) -> Response {
        let mut line = String::new();
        let n = self
            .r
            .read_line(&mut line)
            .expect("a response line in time");
        assert!(n > 0, "the appliance closed without a response");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("response `{line}`: {e}"))
    }

    /// The appliance closed the connection (after its last response).
    fn assert_closed(&mut self) {
        let mut line = String::new();
        let n = self.r.read_line(&mut line).expect("end of stream in time");
        assert_eq!(
            (n, line.as_str()),
            (0, ""),
            "expected the connection closed"
        );
    }

    /// Whether anything (a response or the end) is waiting to be read, without waiting.
    fn has_data(&mut self) -> bool {
        if !self.r.buffer().is_empty() {
            return true;
        }
        self.r.get_ref().set_nonblocking(true).unwrap();
        // Buffered, not consumed: a later `response` still reads it. Empty means the end.
        let got = self.r.fill_buf().map(|_| ());
        self.r.get_ref().set_nonblocking(false).unwrap();
        match got {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(e) => panic!("peek: {e}"),
        }
    }

    fn request(&mut self, req: &Request) -> Response {
        let mut text = serde_json::to_string(req).unwrap();
        text.push('\n');
        self.send(text.as_bytes());
        self.response()
    }
}

fn error_of(r: &Response) -> &str {
    assert!(!r.ok, "expected a refusal, got {r:?}");
    r.error.as_deref().expect("an error message")
}

/// The worker's polls (busy + idle) as `ctl workers` reports them: they keep rising while the
/// worker runs.
fn polls(sock: &Path) -> u64 {
    let r = Raw::connect(sock).request(&Request::Workers {});
    assert!(r.ok, "{r:?}");
    let v: WorkersView = serde_json::from_value(r.result).unwrap();
    assert_eq!(v.workers.len(), 1);
    v.workers[0].busy_polls + v.workers[0].idle_polls
}

fn bad_request(text: &str) -> String {
    let e = serde_json::from_str::<Request>(text).unwrap_err();
    format!("bad request: {e}")
}

#[test]
fn malformed_requests_are_refused_and_the_connection_stays_usable() {
    let s = start("ctl-malformed");
    let mut c = Raw::connect(&s.sock);
    for text in [
        "{nope",
        "",
        "[1,2,3]",
        "{\"cmd\":\"rm -rf\"}",
        "{\"cmd\":\"weight\",\"service\":\"web\"}",
        "{\"cmd\":\"weight\",\"service\":\"web\",\"real\":\"198.19.0.11\",\"weight\":-1}",
        "{\"cmd\":\"list\",\"stats\":\"yes\"}",
        "{\"cmd\":\"list\",\"extra\":1}",
        "null",
    ] {
        c.send(format!("{text}\n").as_bytes());
        let r = c.response();
        assert_eq!(error_of(&r), bad_request(text), "request `{text}`");
    }
    c.send(b"\xff\xfe{\"cmd\":\"list\"}\n");
    assert_eq!(error_of(&c.response()), "bad request: not UTF-8");
    // A well-formed request that names nothing that exists: refused by the management thread.
    let r = c.request(&Request::Weight {
        service: "nope".into(),
        real: "198.19.0.11".into(),
        weight: 1,
    });
    assert!(!r.ok, "{r:?}");
    // The same connection still answers.
    let r = c.request(&Request::List {
        stats: false,
        rate: false,
    });
    assert!(r.ok, "{r:?}");
    assert_eq!(r.result["services"][0]["name"], "web");
    drop(s.app);
}

#[test]
fn an_oversized_request_is_refused_with_the_limit_and_closed() {
    let s = start("ctl-oversized");
    let mut c = Raw::connect(&s.sock);
    // One byte over the limit, no newline: refused as soon as the limit is passed.
    let big = vec![b'x'; CONTROL_MAX_LINE as usize + 1];
    let mut w = c.w.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&big);
        // More after the refusal must not be read as the next request.
        let _ = w.write_all(b"\n{\"cmd\":\"list\"}\n");
    });
    let r = c.response();
    assert_eq!(
        error_of(&r),
        format!("request longer than {CONTROL_MAX_LINE} bytes (the limit); closing")
    );
    c.assert_closed();
    writer.join().unwrap();
    // A request of exactly the limit is still read (and refused as JSON, not as too long).
    let mut c = Raw::connect(&s.sock);
    let mut exact = format!("{{\"cmd\":\"list\",\"stats\":{}", " ".repeat(16));
    exact.push_str(&" ".repeat(CONTROL_MAX_LINE as usize - exact.len() - 5));
    exact.push_str("true}\n");
    assert_eq!(exact.len() as u64, CONTROL_MAX_LINE + 1);
    c.send(exact.as_bytes());
    let r = c.response();
    assert!(r.ok, "a request of exactly {CONTROL_MAX_LINE} bytes: {r:?}");
    assert!(r.result["services"][0]["stats"].is_object());
}

#[test]
fn a_slow_client_times_out_without_holding_up_others_or_the_management_thread() {
    let s = start("ctl-slow");
    let before = polls(&s.sock);
    // Half a request, then nothing.
    let mut slow = Raw::connect(&s.sock);
    slow.send(b"{\"cmd\":\"li");
    let t0 = Instant::now();
    // Others are served meanwhile: a listing and a reload (the management thread's work).
    let mut other = Raw::connect(&s.sock);
    let r = other.request(&Request::List {
        stats: false,
        rate: false,
    });
    assert!(r.ok, "{r:?}");
    let r = other.request(&Request::Reload {});
    assert!(r.ok, "reload while a client is stuck: {r:?}");
    // ... while the slow one is still waiting (no answer for it yet).
    assert!(
        !slow.has_data(),
        "the others were served only after the slow client was dropped"
    );
    // The slow one is told and dropped once its deadline passes (not before).
    let r = slow.response();
    let waited = t0.elapsed();
    assert_eq!(
        error_of(&r),
        format!(
            "request incomplete after {} s (one JSON request per line); closing",
            CONTROL_REQUEST_DEADLINE.as_secs()
        )
    );
    slow.assert_closed();
    assert!(
        waited >= CONTROL_REQUEST_DEADLINE - Duration::from_millis(100),
        "dropped after {waited:?}"
    );
    // A client that connects and says nothing is dropped after the idle limit.
    let mut quiet = Raw::connect(&s.sock);
    let r = quiet.response();
    assert_eq!(
        error_of(&r),
        format!("idle for {} s; closing", CONTROL_CLIENT_IDLE.as_secs())
    );
    quiet.assert_closed();
    let after = polls(&s.sock);
    assert!(
        after > before,
        "the worker stopped polling: {before} -> {after}"
    );
}

#[test]
fn a_crowd_of_connections_is_bounded_and_refused_with_the_limit() {
    let s = start("ctl-crowd");
    // Fill every slot with clients that have not sent their request yet.
    let mut held: Vec<Raw> = (0..CONTROL_MAX_CLIENTS)
        .map(|_| Raw::connect(&s.sock))
        .collect();
    // Give the acceptor time to take them all (it accepts in order).
    std::thread::sleep(Duration::from_millis(500));
    let refusal =
        format!("too many control clients (at most {CONTROL_MAX_CLIENTS} at once); try again");
    let mut refused = 0;
    for _ in 0..50 {
        let mut c = Raw::connect(&s.sock);
        let r = c.response();
        assert_eq!(error_of(&r), refusal);
        c.assert_closed();
        refused += 1;
    }
    assert_eq!(refused, 50);
    // The held clients send their requests and are answered; then a new client is served.
    for c in &mut held {
        assert!(!c.has_data(), "a held client was answered or dropped early");
        c.send(b"{\"cmd\":\"health\"}\n");
        let r = c.response();
        assert!(r.ok, "{r:?}");
    }
    drop(held);
    let deadline = Instant::now() + PROMPT;
    loop {
        let r = Raw::connect(&s.sock).request(&Request::Health {});
        if r.ok {
            break;
        }
        assert_eq!(error_of(&r), refusal);
        assert!(Instant::now() < deadline, "slots were not freed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = polls(&s.sock);
    std::thread::sleep(Duration::from_millis(200));
    assert!(polls(&s.sock) > before, "the worker stopped polling");
}
