//! The web console in a real browser: headless Chromium, driven over the WebDriver protocol by
//! chromedriver, against the appliance on the namespace testbed. The browser and chromedriver
//! run inside dpt-lb (the console listens on the appliance's loopback there); the test speaks
//! WebDriver to chromedriver with curl inside that namespace. Screenshots are saved under
//! target/console-artifacts/.
mod common;
use common::testbed::*;
use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONSOLE: &str = "http://127.0.0.1:9718/";
const DRIVER_PORT: u16 = 9515;

fn artifacts() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-artifacts");
    std::fs::create_dir_all(&d).expect("create target/console-artifacts");
    d
}

/// An HTTP request inside dpt-lb; (status, body).
fn curl_in_lb(method: &str, url: &str, headers: &[&str], body: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", "dpt-lb", "curl", "-s", "--max-time", "20"])
        .args(["-o", "-", "-w", "\n%{http_code}", "-X", method]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    if body.is_some() {
        cmd.args(["--data-binary", "@-"]);
    }
    let mut child = cmd
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run curl in dpt-lb");
    let mut stdin = child.stdin.take().expect("stdin");
    if let Some(b) = body {
        stdin.write_all(b.as_bytes()).expect("write the body");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Standard base64 (the WebDriver screenshot's encoding) to bytes.
fn base64_decode(text: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | u32::from(val(c)) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Headless Chromium under chromedriver in dpt-lb, one WebDriver session.
struct Browser {
    driver: Child,
    session: String,
    chromium: Option<u32>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let driver = Command::new("ip")
            .args(["netns", "exec", "dpt-lb", "chromedriver"])
            .arg(format!("--port={DRIVER_PORT}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (Debian package chromium-driver; scripts/setup)");
        let profile = tempfile::Builder::new()
            .prefix("dpt-chromium")
            .tempdir()
            .expect("profile dir");
        let base = format!("http://127.0.0.1:{DRIVER_PORT}");
        let start = Instant::now();
        while curl_in_lb("GET", &format!("{base}/status"), &[], None).0 != 200 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1400,1100",
                     format!("--user-data-dir={}", profile.path().display())]
        }}}});
        let (code, body) = curl_in_lb(
            "POST",
            &format!("{base}/session"),
            &["Content-Type: application/json"],
            Some(&caps.to_string()),
        );
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(code, 200, "new session: {body}");
        Browser {
            driver,
            session: v["value"]["sessionId"]
                .as_str()
                .expect("session id")
                .to_string(),
            chromium: v["value"]["capabilities"]["goog:processID"]
                .as_u64()
                .map(|p| p as u32),
            _profile: profile,
        }
    }

    /// One WebDriver command of this session; its `value`.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!(
            "http://127.0.0.1:{DRIVER_PORT}/session/{}{path}",
            self.session
        );
        let body = body.map(|b| b.to_string());
        let (code, text) = curl_in_lb(
            method,
            &url,
            &["Content-Type: application/json"],
            body.as_deref(),
        );
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("WebDriver {method} {path}: {code} {text}"));
        assert_eq!(code, 200, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// A script's result (the page's own view of itself).
    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        // The element reference is the object's one value (its key is a fixed W3C UUID).
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(|x| x.as_str())
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/clear"), Some(json!({})));
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None);
        let path = artifacts().join(name);
        let png = base64_decode(b64.as_str().expect("base64 PNG"));
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(&path, &png).expect("save the screenshot");
        println!("screenshot: {}", path.display());
        path
    }

    /// Waits until `cond` holds of a script's result; panics with the last result.
    fn wait_for(&self, what: &str, limit: Duration, script: &str, cond: impl Fn(&Value) -> bool) {
        let start = Instant::now();
        loop {
            let v = self.js(script);
            if cond(&v) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "{what}: not within {limit:?}; last: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The result box: (class, text), once it shows something new.
    fn result_after(&self, action: impl FnOnce()) -> (String, String) {
        self.js("const r = document.getElementById('result'); r.hidden = true; r.textContent = ''; return null");
        action();
        let script = "const r = document.getElementById('result'); return r.hidden ? null : [r.className, r.textContent]";
        self.wait_for(
            "the action's answer",
            Duration::from_secs(15),
            script,
            |v| !v.is_null(),
        );
        let v = self.js(script);
        (
            v[0].as_str().unwrap_or("").to_string(),
            v[1].as_str().unwrap_or("").to_string(),
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = curl_in_lb(
            "DELETE",
            &format!("http://127.0.0.1:{DRIVER_PORT}/session/{}", self.session),
            &[],
            None,
        );
        if let Some(pid) = self.chromium {
            // Normally gone with its session already.
            let _ = Command::new("kill")
                .arg(pid.to_string())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Every real row as the page shows it: (service, real, health, marked down, weight).
const ROWS: &str = "return [...document.querySelectorAll('tr.real')].map(r => [r.dataset.service, \
     r.dataset.real, r.querySelector('td.health').textContent, r.classList.contains('down'), \
     r.dataset.weight])";

fn row<'a>(rows: &'a Value, service: &str, real: &str) -> Option<&'a Value> {
    rows.as_array()?
        .iter()
        .find(|r| r[0] == service && r[1] == real)
}

fn health_is(rows: &Value, real: &str, health: &str) -> bool {
    row(rows, "web", real).is_some_and(|r| r[2] == health && r[3] == (health == "down"))
}

fn weight_is(rows: &Value, real: &str, w: &str) -> bool {
    row(rows, "web", real).is_some_and(|r| r[4] == w)
}

/// `dataplane ctl --socket SOCK ARGS --json`: the response.
fn ctl(sock: &Path, args: &[&str]) -> Value {
    let mut all = vec!["ctl", "--socket", sock.to_str().expect("utf-8"), "--json"];
    all.extend_from_slice(args);
    let out = run(&all, Duration::from_secs(20));
    serde_json::from_slice(&out.stdout).expect("ctl --json prints JSON")
}

#[test]
fn console_in_a_browser_shows_health_sets_weights_and_refuses_a_bad_config() {
    let tb = Testbed::up("nat");
    let d = TestDir::new();
    let sock = d.path("ctl.sock");
    // Quicker health checks than the shipped 2 s x 3, so the test waits less.
    let (interval, timeout, fall) = (500u64, 300u64, 2u64);
    let check = format!(
        "    health_check: {{type: http, interval: {interval}ms, timeout: {timeout}ms, rise: 2, fall: {fall}}}\n"
    );
    let shipped = "    health_check: {type: http, path: /, expect: 200, interval: 2s, timeout: 1s, rise: 2, fall: 3}\n";
    let yaml = format!(
        "{}\ncontrol: {{socket: {}}}\nconsole: {{listen: 127.0.0.1:9718}}\n",
        config_from("nat.yaml", &[(shipped, &check)]),
        sock.display()
    );
    let (mut app, cfg_path) = start_appliance(&d, &yaml);
    app.wait_for_log("web console listening", Duration::from_secs(5));
    let b = Browser::start();

    // The page loads and shows the services and both reals, up.
    b.goto(CONSOLE);
    b.wait_for("real1 and real2 up", Duration::from_secs(15), ROWS, |v| {
        health_is(v, "198.19.0.11:80", "up") && health_is(v, "198.19.0.12:80", "up")
    });
    let services =
        b.js("return [...document.querySelectorAll('table.service')].map(t => t.dataset.service)");
    assert_eq!(services, json!(["web", "echo", "dns"]));
    let workers = b.js(
        "return [...document.querySelectorAll('#workers tr.worker')].map(r => r.dataset.worker)",
    );
    assert_eq!(workers, json!(["0"]), "one worker's load and drops");
    b.wait_for(
        "the running config",
        Duration::from_secs(10),
        "return document.getElementById('config').textContent",
        |v| v.as_str().is_some_and(|t| t.contains("name: web")),
    );
    let shown_path = b.js("return document.getElementById('config-path').textContent");
    assert_eq!(shown_path, json!(cfg_path.display().to_string()));
    b.screenshot("01-loaded.png");

    // real2 fails: the page marks it down within fall x interval (plus a check's timeout, the
    // page's 1 s poll and a margin for this loaded machine).
    tb.server("stop", "real2");
    let stopped = Instant::now();
    let bound = Duration::from_millis(fall * interval + timeout + 1000 + 2500);
    b.wait_for("real2 down", Duration::from_secs(30), ROWS, |v| {
        health_is(v, "198.19.0.12:80", "down")
    });
    let took = stopped.elapsed();
    println!("real2 shown down {took:?} after its server stopped");
    assert!(
        took <= bound,
        "real2 shown down after {took:?} (bound {bound:?})"
    );
    assert!(health_is(&b.js(ROWS), "198.19.0.11:80", "up"));
    b.screenshot("02-real2-down.png");
    tb.server("start", "real2");
    b.wait_for("real2 up again", Duration::from_secs(30), ROWS, |v| {
        health_is(v, "198.19.0.12:80", "up")
    });

    // A weight set in the page changes the split curl sees: 1:1, then 3:1.
    let t = tally(20);
    assert_eq!(
        (t.get("real1"), t.get("real2")),
        (Some(&10), Some(&10)),
        "{t:?}"
    );
    let real1 = "tr.real[data-service='web'][data-real='198.19.0.11:80']";
    let (class, text) = b.result_after(|| {
        b.type_into(&format!("{real1} input.weight"), "3");
        b.click(&format!("{real1} button.set-weight"));
    });
    assert_eq!(
        (class.as_str(), text.as_str()),
        ("ok", "web 198.19.0.11:80: weight 1 -> 3")
    );
    b.wait_for("weight 3 shown", Duration::from_secs(10), ROWS, |v| {
        weight_is(v, "198.19.0.11:80", "3")
    });
    let t = tally(40);
    assert_eq!(
        (t.get("real1"), t.get("real2")),
        (Some(&30), Some(&10)),
        "wrr 3:1 is exact over whole rounds: {t:?}"
    );
    // A weight the control path refuses, with its reason.
    let (class, text) = b.result_after(|| {
        b.type_into(&format!("{real1} input.weight"), "70000");
        b.click(&format!("{real1} button.set-weight"));
    });
    assert_eq!(
        (class.as_str(), text.as_str()),
        ("err", "weight: must be between 0 and 65535")
    );
    // Drain real2: no new connections to it.
    let real2 = "tr.real[data-service='web'][data-real='198.19.0.12:80']";
    let (class, text) = b.result_after(|| b.click(&format!("{real2} button.drain")));
    assert_eq!(
        (class.as_str(), text.as_str()),
        ("ok", "web 198.19.0.12:80: weight 1 -> 0")
    );
    let t = tally(8);
    assert_eq!(t.get("real1"), Some(&8), "drained: {t:?}");
    b.wait_for("weight 0 shown", Duration::from_secs(10), ROWS, |v| {
        weight_is(v, "198.19.0.12:80", "0")
    });
    b.screenshot("03-weights.png");

    // A state-changing request without the page's CSRF token is refused and changes nothing.
    let (code, body) = curl_in_lb(
        "POST",
        "http://127.0.0.1:9718/api/ctl",
        &["Content-Type: application/json"],
        Some(r#"{"cmd":"weight","service":"web","real":"198.19.0.11:80","weight":9}"#),
    );
    assert_eq!(code, 403, "{body}");
    let (code, _) = curl_in_lb(
        "GET",
        "http://127.0.0.1:9718/api/state",
        &["Host: evil.example:9718"],
        None,
    );
    assert_eq!(code, 403, "a foreign Host (DNS rebinding) is refused");
    assert!(weight_is(&b.js(ROWS), "198.19.0.11:80", "3"));

    // A bad config file: Check says why, Reload is refused with the control path's reason,
    // and the running config stays.
    let good = std::fs::read_to_string(&cfg_path).expect("config");
    std::fs::write(
        &cfg_path,
        good.replace("scheduler: wrr", "scheduler: fastest"),
    )
    .expect("write");
    let why = dataplane::config::load_file(&cfg_path).expect_err("the bad config is refused");
    assert_eq!(why.key, "services[0].scheduler", "{why}");
    let (class, text) = b.result_after(|| b.click("#check"));
    assert_eq!(class, "err");
    assert_eq!(text, format!("check failed: {}: {why}", cfg_path.display()));
    let (class, text) = b.result_after(|| b.click("#reload"));
    let by_ctl = ctl(&sock, &["reload"]);
    assert_eq!(by_ctl["ok"], false);
    assert_eq!(
        (class.as_str(), json!(text)),
        ("err", by_ctl["error"].clone())
    );
    assert!(text.contains(&why.to_string()), "{text}");
    b.screenshot("04-bad-config-refused.png");
    let t = tally(8);
    assert_eq!(t.get("real1"), Some(&8), "running config kept: {t:?}");

    // The good file back: Check says a reload applies it; Reload does (weights 1:1 again).
    std::fs::write(&cfg_path, &good).expect("write");
    let (class, text) = b.result_after(|| b.click("#check"));
    assert_eq!(
        (class.as_str(), text),
        (
            "ok",
            format!("{} is valid: a reload applies it", cfg_path.display())
        )
    );
    let (class, _) = b.result_after(|| b.click("#reload"));
    assert_eq!(class, "ok");
    b.wait_for(
        "weights from the file",
        Duration::from_secs(10),
        ROWS,
        |v| weight_is(v, "198.19.0.11:80", "1") && weight_is(v, "198.19.0.12:80", "1"),
    );
    b.screenshot("05-reloaded.png");

    drop(b);
    let (code, _, _) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
}
