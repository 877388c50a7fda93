//! The HA pair on the testbed (configs/ha-{nat,dr}-{a,b}.yaml): director A in dpt-lb, B in
//! dpt-lb2 (`scripts/testbed lb2`), started from the shipped configs with this test's paths;
//! the control socket spoken directly (one JSON request per line), a long-lived line-echo
//! session and a loop of HTTP requests from the client, and kill -9.
#![allow(dead_code)]

use super::testbed::{curl, VIP};
use super::{Appliance, TestDir};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The advert interval the tests run the pair with (the shipped configs say 1 s). On this
/// shared 2-CPU machine an appliance can stall for seconds; 3 s (master-down about 10 s) keeps
/// such a stall from passing for a dead master, as in tests/testbed_vrrp.rs.
pub const ADVERT: &str = "3s";
/// Bound on a takeover: the master-down interval (about 10.8 s at priority 100) and slack.
pub const TAKEOVER: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One director of the pair: `node` is "a" (dpt-lb, priority 150) or "b" (dpt-lb2, 100).
pub struct Director {
    pub app: Appliance,
    pub sock: PathBuf,
    pub node: &'static str,
}

/// configs/ha-MODE-NODE.yaml with this test's control socket, the key by absolute path, the
/// test's advert interval, and `edits` (each must apply).
pub fn pair_config(d: &TestDir, mode: &str, node: &str, edits: &[(&str, &str)]) -> PathBuf {
    let name = format!("ha-{mode}-{node}.yaml");
    let mut s = std::fs::read_to_string(repo().join("configs").join(&name)).expect("read config");
    let key = repo().join("configs/ha-sync.key");
    let sock = d.path(&format!("{node}.sock"));
    let own = [
        (
            format!("socket: /run/dataplane-ha-{node}.sock"),
            format!("socket: {}", sock.display()),
        ),
        (
            "key_file: configs/ha-sync.key".to_string(),
            format!("key_file: {}", key.display()),
        ),
        (
            "advert_interval: 1s".to_string(),
            format!("advert_interval: {ADVERT}"),
        ),
    ];
    let all = own
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .chain(edits.iter().copied());
    for (from, to) in all {
        assert!(s.contains(from), "`{from}` not in configs/{name}");
        s = s.replacen(from, to, 1);
    }
    d.write(&format!("ha-{node}.yaml"), &s)
}

impl Director {
    /// Starts the director in its namespace and waits for "running".
    pub fn start(d: &TestDir, mode: &str, node: &'static str, edits: &[(&str, &str)]) -> Self {
        let cfg = pair_config(d, mode, node, edits);
        let ns = if node == "a" { "dpt-lb" } else { "dpt-lb2" };
        let mut app = Appliance::start_in_netns(ns, &cfg, d, node);
        app.wait_for_log("running", Duration::from_secs(60));
        Director {
            app,
            sock: d.path(&format!("{node}.sock")),
            node,
        }
    }

    pub fn ctl(&self) -> Ctl {
        Ctl::new(&self.sock)
    }

    /// kill -9 (no resignation advert, no goodbye): the instant it was sent. Its DPDK runtime
    /// files are removed afterwards (Appliance's drop).
    pub fn kill9(self) -> Instant {
        let Director { mut app, .. } = self;
        let pid = app.pid();
        let t = Instant::now();
        let st = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(st.success(), "kill -9 {pid}");
        if let Some(c) = app.child.as_mut() {
            let _ = c.wait();
        }
        // The child has exited; dropping the Appliance cleans up after it.
        drop(app);
        t
    }

    /// SIGTERM and a clean exit; its exit summary.
    pub fn stop(mut self) -> String {
        let (code, _, summary) = self.app.stop("TERM", Duration::from_secs(20));
        assert_eq!(
            code,
            Some(0),
            "director {}: {}",
            self.node,
            self.app.stderr()
        );
        summary
    }
}

/// The control socket, one JSON request per line (docs/ctl.md "Protocol"), reconnecting when
/// the appliance closed an idle connection.
pub struct Ctl {
    path: PathBuf,
    conn: Option<BufReader<UnixStream>>,
}

impl Ctl {
    pub fn new(path: &Path) -> Ctl {
        Ctl {
            path: path.to_path_buf(),
            conn: None,
        }
    }

    fn try_request(&mut self, req: &str) -> Option<serde_json::Value> {
        if self.conn.is_none() {
            let s = UnixStream::connect(&self.path).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
            self.conn = Some(BufReader::new(s));
        }
        let c = self.conn.as_mut()?;
        c.get_mut().write_all(format!("{req}\n").as_bytes()).ok()?;
        let mut line = String::new();
        match c.read_line(&mut line) {
            Ok(n) if n > 0 => serde_json::from_str(&line).ok(),
            _ => None,
        }
    }

    /// The `result` of a request such as `{"cmd":"stats"}`.
    pub fn request(&mut self, req: &str) -> serde_json::Value {
        for _ in 0..3 {
            if let Some(v) = self.try_request(req) {
                assert_eq!(v["ok"], true, "{req}: {v}");
                return v["result"].clone();
            }
            self.conn = None;
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no answer to {req} on {}", self.path.display());
    }

    /// A worker counter summed over the workers.
    pub fn worker_counter(&mut self, name: &str) -> u64 {
        let s = self.request(r#"{"cmd":"stats"}"#);
        s["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .map(|w| {
                w[name]
                    .as_u64()
                    .unwrap_or_else(|| panic!("no counter {name}: {w}"))
            })
            .sum()
    }

    /// Every drop counter that is not zero, summed over the workers ("drop_x 3, ..."): what a
    /// failure message shows.
    pub fn drops(&mut self) -> String {
        let s = self.request(r#"{"cmd":"stats"}"#);
        let mut sum = std::collections::BTreeMap::<String, u64>::new();
        for w in s["workers"].as_array().expect("workers") {
            for (k, v) in w.as_object().expect("worker") {
                if k.starts_with("drop_") {
                    *sum.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
                }
            }
        }
        let nz: Vec<String> = sum
            .into_iter()
            .filter(|(_, v)| *v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        if nz.is_empty() {
            "no drops".into()
        } else {
            nz.join(", ")
        }
    }

    /// `ctl ha`'s VRRP part.
    pub fn vrrp(&mut self) -> serde_json::Value {
        self.request(r#"{"cmd":"ha"}"#)["vrrp"].clone()
    }

    /// `ctl sync`.
    pub fn sync(&mut self) -> serde_json::Value {
        self.request(r#"{"cmd":"sync"}"#)
    }

    pub fn sync_counter(&mut self, name: &str) -> u64 {
        let s = self.sync();
        s["counters"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no sync counter {name}: {s}"))
    }

    /// (client, vip, real, state) of every connection.
    pub fn conns(&mut self) -> Vec<(String, String, String, String)> {
        let v = self.request(r#"{"cmd":"conns"}"#);
        let s = |c: &serde_json::Value, k: &str| c[k].as_str().unwrap_or_default().to_string();
        let mut all: Vec<_> = v["conns"]
            .as_array()
            .expect("conns")
            .iter()
            .map(|c| (s(c, "client"), s(c, "vip"), s(c, "real"), s(c, "state")))
            .collect();
        all.sort();
        all
    }

    /// Waits (bounded) until VRRP says `state`; how long it took.
    pub fn wait_state(&mut self, state: &str, limit: Duration) -> Duration {
        let t0 = Instant::now();
        loop {
            let v = self.vrrp();
            if v["state"] == state {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < limit,
                "{} not {state} within {limit:?}: {v}",
                self.path.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (bounded) until this node's resync is done; its report.
    pub fn wait_resync_done(&mut self, limit: Duration) -> serde_json::Value {
        let t0 = Instant::now();
        loop {
            let s = self.sync();
            if s["status"]["resync"] == "done" {
                return s;
            }
            assert!(
                t0.elapsed() < limit,
                "resync not done within {limit:?}: {s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Waits (bounded) until `f` holds.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "no {what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `counter` on `ctl` every 20 ms until it rises above `base`; the time from `since`.
pub fn first_forwarded(ctl: &mut Ctl, counter: &str, base: u64, since: Instant) -> Duration {
    loop {
        if ctl.worker_counter(counter) > base {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < TAKEOVER,
            "the backup forwarded nothing ({counter}) within {TAKEOVER:?} of the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A long-lived TCP session from the client to the echo service (VIP:7): a line every 100 ms,
/// each awaited (60 s, across a failover) and compared, so a lost, reordered or reset line ends
/// it. After `stop` exists, ten more lines, then `ok LINES gap_ms G` with G the longest time
/// between two echoes. Bounded to 300 s.
pub struct Session {
    child: Child,
    stop: PathBuf,
}

/// How a session ended well.
#[derive(Debug)]
pub struct SessionReport {
    pub lines: u64,
    pub gap_ms: u64,
}

impl Session {
    pub fn start(d: &TestDir, src: &str) -> Session {
        let stop = d.path(&format!("stop-session-{src}"));
        let script = format!(
            "import socket,sys,time,os\n\
             s=socket.create_connection(('{VIP}',7),timeout=60,source_address=('{src}',0))\n\
             f=s.makefile('rwb')\n\
             i=0; after=None; end=time.time()+300; last=time.monotonic(); gap=0.0\n\
             try:\n\
             \x20   while time.time()<end:\n\
             \x20       msg=('line %d ' % i).encode()*10+b'\\n'\n\
             \x20       f.write(msg); f.flush()\n\
             \x20       back=f.readline()\n\
             \x20       now=time.monotonic()\n\
             \x20       if back!=msg:\n\
             \x20           print('mismatch at', i, back[:40]); sys.exit(2)\n\
             \x20       gap=max(gap,now-last); last=now; i+=1\n\
             \x20       if after is None and os.path.exists('{stop}'): after=i\n\
             \x20       if after is not None and i>=after+10:\n\
             \x20           print('ok', i, 'gap_ms', int(gap*1000)); sys.exit(0)\n\
             \x20       time.sleep(0.1)\n\
             except OSError as e:\n\
             \x20   print('error at', i, repr(e)); sys.exit(4)\n\
             print('timeout', i); sys.exit(3)\n",
            stop = stop.display()
        );
        let child = Command::new("ip")
            .args(["netns", "exec", "dpt-client", "python3", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the session");
        Session { child, stop }
    }

    /// Asks for the last ten lines and waits for the end; panics unless every line came back.
    pub fn finish(self) -> SessionReport {
        std::fs::write(&self.stop, "").expect("stop file");
        let out = self.child.wait_with_output().expect("session");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let words: Vec<&str> = text.split_whitespace().collect();
        assert!(
            out.status.success() && words.len() == 4 && words[0] == "ok" && words[2] == "gap_ms",
            "the session broke: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        SessionReport {
            lines: words[1].parse().expect("lines"),
            gap_ms: words[3].parse().expect("gap"),
        }
    }
}

/// GETs of the VIP one after another (each a new connection, curl's 2 s limit) until stopped;
/// each result with the times it started and ended.
pub struct HttpLoop {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Request>>,
}

/// (started, ended, the body: the real's name, or None).
pub type Request = (Instant, Instant, Option<String>);

impl HttpLoop {
    pub fn start() -> HttpLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut results = Vec::new();
            // Bounded: 1000 requests at most.
            while !flag.load(Ordering::Relaxed) && results.len() < 1000 {
                let t = Instant::now();
                let body = curl();
                results.push((t, Instant::now(), body));
                std::thread::sleep(Duration::from_millis(200));
            }
            results
        });
        HttpLoop { stop, handle }
    }

    pub fn finish(self) -> Vec<Request> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("http loop")
    }
}
