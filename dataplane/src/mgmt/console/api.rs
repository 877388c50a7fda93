//! The console's routes. Pages: `/` (the CSRF token written in), `/console.js`, `/console.css`.
//! Reads (GET): `/api/state` (the `ctl list --stats --rate` view and per-worker load and drops),
//! `/api/config` (the running config). Changes (POST with the CSRF token): `/api/ctl` takes a
//! control-protocol request (`{"cmd":"weight",...}`, docs/ctl.md) and answers as the control
//! socket does; `/api/check` checks the config file (or YAML text sent as `{"text": ...}`)
//! against the running config without applying it.

use super::guard::Guard;
use super::http::{Request, Response};
use crate::ctl::proto::{self, Message};
use crate::mgmt::control;
use crate::worker::{Counter, WorkerTotals};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PAGE: &str = include_str!("assets/console.html");
const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");

/// Worker loads are measured over samples this far apart.
const LOAD_INTERVAL: Duration = Duration::from_secs(1);

pub struct Api {
    control: Arc<control::Server>,
    guard: Guard,
    workers: Mutex<LoadWindow>,
}

/// One worker as the page shows it.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct WorkerView {
    pub worker: usize,
    /// Busy polls / all polls over the last interval, 0..1 (0 before two samples).
    pub load: f64,
    pub rx_pps: f64,
    pub tx_pps: f64,
    pub rx: u64,
    pub tx: u64,
    /// Packets dropped since start, by reason (the metrics' `reason` label).
    pub drops: BTreeMap<String, u64>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct StateView {
    /// What `ctl list --stats --rate --json` returns as its result.
    pub list: serde_json::Value,
    pub workers: Vec<WorkerView>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct ConfigView {
    /// The file a reload reads.
    pub path: Option<String>,
    /// The running config, normalised (as `dataplane check` prints it).
    pub yaml: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CheckRequest {
    /// YAML to check instead of the config file.
    #[serde(default)]
    text: Option<String>,
}

/// Two samples of every worker's counters, `LOAD_INTERVAL` apart.
#[derive(Default)]
struct LoadWindow {
    prev: Option<(Instant, Vec<WorkerTotals>)>,
    cur: Option<(Instant, Vec<WorkerTotals>)>,
}

impl LoadWindow {
    fn sample(&mut self, counters: &[crate::worker::WorkerCounters]) {
        if self
            .cur
            .as_ref()
            .is_some_and(|(t, _)| t.elapsed() < LOAD_INTERVAL)
        {
            return;
        }
        let now = counters.iter().map(|c| c.snapshot()).collect();
        self.prev = self.cur.take();
        self.cur = Some((Instant::now(), now));
    }

    fn views(&self, counters: &[crate::worker::WorkerCounters]) -> Vec<WorkerView> {
        let window = match (&self.prev, &self.cur) {
            (Some((t0, a)), Some((t1, b))) => Some((t1.duration_since(*t0), a, b)),
            _ => None,
        };
        counters
            .iter()
            .enumerate()
            .map(|(w, c)| {
                let t = c.snapshot();
                let (mut load, mut rx_pps, mut tx_pps) = (0.0, 0.0, 0.0);
                if let Some((dt, a, b)) = window {
                    if let (Some(a), Some(b)) = (a.get(w), b.get(w)) {
                        let d = |c: Counter| b.get(c).saturating_sub(a.get(c)) as f64;
                        let polls = d(Counter::BusyPolls) + d(Counter::IdlePolls);
                        load = if polls > 0.0 {
                            d(Counter::BusyPolls) / polls
                        } else {
                            0.0
                        };
                        let secs = dt.as_secs_f64().max(1e-3);
                        rx_pps = d(Counter::Rx) / secs;
                        tx_pps = d(Counter::Tx) / secs;
                    }
                }
                WorkerView {
                    worker: w,
                    load,
                    rx_pps,
                    tx_pps,
                    rx: t.get(Counter::Rx),
                    tx: t.get(Counter::Tx),
                    drops: drops(&t),
                }
            })
            .collect()
    }
}

/// Drops by reason, named as the metrics name them.
fn drops(t: &WorkerTotals) -> BTreeMap<String, u64> {
    Counter::ALL
        .iter()
        .filter_map(|c| Some((c.name().strip_prefix("drop_")?.to_string(), t.get(*c))))
        .chain(std::iter::once((
            "tx_full".to_string(),
            t.get(Counter::TxDropped),
        )))
        .collect()
}

fn ctl_reply(r: &proto::Response) -> Response {
    Response::json(r)
}

impl Api {
    pub fn new(control: Arc<control::Server>, guard: Guard) -> Api {
        Api {
            control,
            guard,
            workers: Mutex::new(LoadWindow::default()),
        }
    }

    /// Keeps the rate and load samples fresh (cheap when the last is under a second old).
    pub fn sample(&self) {
        self.control.sample_rates();
        if let Ok(mut w) = self.workers.lock() {
            w.sample(&self.control.sources().counters);
        }
    }

    pub fn route(&self, req: &Request) -> Response {
        if let Err(r) = self.guard.admit(req) {
            return r;
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/") => Response::new(
                200,
                "text/html; charset=utf-8",
                PAGE.replace("{{CSRF}}", self.guard.csrf()),
            ),
            ("GET", "/console.js") => Response::new(200, "text/javascript; charset=utf-8", SCRIPT),
            ("GET", "/console.css") => Response::new(200, "text/css; charset=utf-8", STYLE),
            ("GET", "/api/state") => self.state(),
            ("GET", "/api/config") => self.config(),
            (_, "/api/ctl") | (_, "/api/check") => match self.guard.allow_change(req) {
                Err(r) => r,
                Ok(()) if req.path == "/api/ctl" => self.ctl(&req.body),
                Ok(()) => self.check(&req.body),
            },
            ("GET", _) => Response::text(404, "not found"),
            _ => Response::text(405, "method not allowed"),
        }
    }

    fn state(&self) -> Response {
        self.sample();
        let list = self.control.handle(proto::Request::List {
            stats: true,
            rate: true,
        });
        if !list.ok {
            return ctl_reply(&list);
        }
        let workers = match self.workers.lock() {
            Ok(w) => w.views(&self.control.sources().counters),
            Err(p) => p.into_inner().views(&self.control.sources().counters),
        };
        Response::json(&StateView {
            list: list.result,
            workers,
        })
    }

    fn config(&self) -> Response {
        match self.control.running_config() {
            Ok(r) => match serde_yaml_ng::to_string(&r.config) {
                Ok(yaml) => Response::json(&ConfigView {
                    path: r.path.map(|p| p.display().to_string()),
                    yaml,
                }),
                Err(e) => Response::text(500, format!("cannot print the config: {e}")),
            },
            Err(e) => ctl_reply(&proto::Response::err(e)),
        }
    }

    /// A control-protocol request, handled as the control socket handles it.
    fn ctl(&self, body: &[u8]) -> Response {
        match serde_json::from_slice::<proto::Request>(body) {
            Ok(req) => ctl_reply(&self.control.handle(req)),
            Err(e) => ctl_reply(&proto::Response::err(format!("bad request: {e}"))),
        }
    }

    fn check(&self, body: &[u8]) -> Response {
        let req: CheckRequest = if body.iter().all(u8::is_ascii_whitespace) {
            CheckRequest::default()
        } else {
            match serde_json::from_slice(body) {
                Ok(r) => r,
                Err(e) => return ctl_reply(&proto::Response::err(format!("bad request: {e}"))),
            }
        };
        ctl_reply(&match self.control.running_config() {
            Ok(running) => check(&running, req.text.as_deref()),
            Err(e) => proto::Response::err(e),
        })
    }
}

/// Checks the config file (or `text`) as a reload would, without applying it.
fn check(running: &control::Running, text: Option<&str>) -> proto::Response {
    let (what, candidate) = match (text, &running.path) {
        (Some(t), _) => ("the text".to_string(), crate::config::load_str(t)),
        (None, Some(p)) => (p.display().to_string(), crate::config::load_file(p)),
        (None, None) => return proto::Response::err("no config file to check"),
    };
    match candidate {
        Err(e) => proto::Response::err(format!("check failed: {what}: {e}")),
        Ok(new) => match crate::config::restart_needed(&running.config, &new) {
            Some(refusal) => proto::Response::err(format!(
                "check failed: {what}: {refusal} (a reload refuses it)"
            )),
            None => proto::Response::ok(Message {
                message: format!("{what} is valid: a reload applies it"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mgmt::control::{tests::server, Command, Running};
    use crossbeam::channel::Receiver;

    /// A fake management thread: answers weight changes (refusing weight 7), reloads (refused),
    /// and config requests with nat.yaml and `path`. Returns every command's summary.
    fn mgmt(
        rx: Receiver<Command>,
        path: std::path::PathBuf,
    ) -> std::thread::JoinHandle<Vec<String>> {
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while let Ok(cmd) = rx.recv() {
                match cmd {
                    Command::Weight {
                        service,
                        real,
                        weight,
                        reply,
                    } => {
                        seen.push(format!("weight {service} {real} {weight}"));
                        let r = if weight == 7 {
                            Err("weight: seven is refused".to_string())
                        } else {
                            Ok(format!("{service} {real}: weight 1 -> {weight}"))
                        };
                        reply.send(r).unwrap();
                    }
                    Command::DrainNode { reply } => {
                        seen.push("drain node".into());
                        reply.send(Ok("draining".into())).unwrap();
                    }
                    Command::Reload { reply } => {
                        seen.push("reload".into());
                        reply
                            .send(Err("reload refused, running config kept: x".into()))
                            .unwrap();
                    }
                    Command::Config { reply } => {
                        seen.push("config".into());
                        let config =
                            crate::config::load_str(include_str!("../../../../configs/nat.yaml"))
                                .unwrap();
                        reply
                            .send(Box::new(Running {
                                config,
                                path: Some(path.clone()),
                            }))
                            .unwrap();
                    }
                }
            }
            seen
        })
    }

    fn req(method: &str, path: &str, csrf: Option<&str>, body: &str) -> Request {
        let mut headers = vec![("host".to_string(), "127.0.0.1:9718".to_string())];
        if let Some(t) = csrf {
            headers.push(("x-csrf-token".into(), t.into()));
        }
        Request {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn json(r: &Response) -> serde_json::Value {
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        serde_json::from_slice(&r.body).unwrap()
    }

    fn api() -> (Api, Receiver<Command>) {
        let (srv, rx) = server(Vec::new());
        let guard = Guard::new("127.0.0.1:9718".parse().unwrap(), None).unwrap();
        (Api::new(srv, guard), rx)
    }

    #[test]
    fn page_carries_the_token_and_assets_are_served() {
        let (api, _rx) = api();
        let page = api.route(&req("GET", "/", None, ""));
        assert_eq!(page.status, 200);
        let html = String::from_utf8(page.body).unwrap();
        let meta = format!(
            "<meta name=\"csrf-token\" content=\"{}\">",
            api.guard.csrf()
        );
        assert!(html.contains(&meta), "{html}");
        assert!(!html.contains("{{CSRF}}"));
        for (path, ctype) in [
            ("/console.js", "text/javascript; charset=utf-8"),
            ("/console.css", "text/css; charset=utf-8"),
        ] {
            let r = api.route(&req("GET", path, None, ""));
            assert_eq!((r.status, r.content_type), (200, ctype), "{path}");
        }
        assert_eq!(api.route(&req("GET", "/nope", None, "")).status, 404);
        assert_eq!(api.route(&req("DELETE", "/", None, "")).status, 405);
    }

    #[test]
    fn state_is_the_list_view_and_worker_figures() {
        let (api, _rx) = api();
        let v = json(&api.route(&req("GET", "/api/state", None, "")));
        let list: proto::ListView = serde_json::from_value(v["list"].clone()).unwrap();
        let names: Vec<&str> = list.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["web", "echo", "dns"]);
        let web = &list.services[0];
        assert_eq!(web.reals[0].addr, std::net::Ipv4Addr::new(198, 19, 0, 11));
        assert_eq!((web.reals[0].active, web.reals[0].inactive), (1, 2));
        assert!(web.reals[0].available && !web.reals[1].available);
        assert_eq!(web.reals[0].stats.unwrap().pkts_in, 100);
        assert!(web.reals[0].rate.is_some(), "rates are asked for");
        let workers: Vec<WorkerView> = serde_json::from_value(v["workers"].clone()).unwrap();
        assert_eq!(workers.len(), 1);
        assert_eq!(workers[0].worker, 0);
        assert_eq!(workers[0].load, 0.0);
        assert_eq!(workers[0].drops.get("no_service"), Some(&0));
        assert_eq!(workers[0].drops.get("tx_full"), Some(&0));
        let reasons = Counter::ALL
            .iter()
            .filter(|c| c.name().starts_with("drop_"))
            .count();
        assert_eq!(workers[0].drops.len(), reasons + 1);
    }

    #[test]
    fn worker_load_and_rates_come_from_two_samples() {
        let counters = vec![crate::worker::WorkerCounters::default()];
        let mut t = WorkerTotals::default();
        let mut w = LoadWindow::default();
        w.sample(&counters);
        t.add(Counter::BusyPolls, 30);
        t.add(Counter::IdlePolls, 90);
        t.add(Counter::Rx, 500);
        t.add(Counter::DropNoService, 4);
        counters[0].publish(&t);
        // Backdate the first sample so the second is taken now, 2 s after it.
        if let Some((at, _)) = w.cur.as_mut() {
            *at -= Duration::from_secs(2);
        }
        w.sample(&counters);
        let v = &w.views(&counters)[0];
        assert_eq!(v.load, 0.25);
        assert!((v.rx_pps - 250.0).abs() < 5.0, "{}", v.rx_pps);
        assert_eq!(v.rx, 500);
        assert_eq!(v.drops.get("no_service"), Some(&4));
    }

    #[test]
    fn changes_go_through_the_control_path_with_the_csrf_token() {
        let (api, rx) = api();
        let d = tempfile::tempdir().unwrap();
        let m = mgmt(rx, d.path().join("lb.yaml"));
        let t = api.guard.csrf().to_string();
        let weight = r#"{"cmd":"weight","service":"web","real":"198.19.0.11","weight":3}"#;
        // Without the token, or by GET: refused, and the management thread hears nothing.
        assert_eq!(
            api.route(&req("POST", "/api/ctl", None, weight)).status,
            403
        );
        assert_eq!(
            api.route(&req("GET", "/api/ctl", Some(&t), weight)).status,
            405
        );
        let v = json(&api.route(&req("POST", "/api/ctl", Some(&t), weight)));
        assert_eq!(v["ok"], true);
        assert_eq!(v["result"]["message"], "web 198.19.0.11: weight 1 -> 3");
        let seven = r#"{"cmd":"weight","service":"web","real":"198.19.0.11","weight":7}"#;
        let v = json(&api.route(&req("POST", "/api/ctl", Some(&t), seven)));
        assert_eq!(
            (v["ok"].clone(), v["error"].clone()),
            (false.into(), "weight: seven is refused".into())
        );
        let drain = r#"{"cmd":"drain","service":"web","real":"198.19.0.12"}"#;
        assert_eq!(
            json(&api.route(&req("POST", "/api/ctl", Some(&t), drain)))["ok"],
            true
        );
        let v = json(&api.route(&req("POST", "/api/ctl", Some(&t), r#"{"cmd":"reload"}"#)));
        assert_eq!(v["error"], "reload refused, running config kept: x");
        let v = json(&api.route(&req("POST", "/api/ctl", Some(&t), "{nope")));
        assert_eq!(v["ok"], false);
        assert!(
            v["error"].as_str().unwrap().starts_with("bad request: "),
            "{v}"
        );
        drop(api);
        assert_eq!(
            m.join().unwrap(),
            [
                "weight web 198.19.0.11 3",
                "weight web 198.19.0.11 7",
                "weight web 198.19.0.12 0",
                "reload"
            ]
        );
    }

    #[test]
    fn config_is_shown_and_checked_against_the_running_one() {
        let (api, rx) = api();
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("lb.yaml");
        let _m = mgmt(rx, file.clone());
        let t = api.guard.csrf().to_string();
        let v = json(&api.route(&req("GET", "/api/config", None, "")));
        assert_eq!(v["path"], file.display().to_string());
        let shown = crate::config::load_str(v["yaml"].as_str().unwrap()).unwrap();
        assert_eq!(shown.services.len(), 3);

        let nat = include_str!("../../../../configs/nat.yaml");
        let check = |body: &str| json(&api.route(&req("POST", "/api/check", Some(&t), body)));
        std::fs::write(&file, nat).unwrap();
        let v = check("");
        assert_eq!(
            v["result"]["message"],
            format!("{} is valid: a reload applies it", file.display())
        );
        std::fs::write(&file, nat.replace("scheduler: wrr", "scheduler: fastest")).unwrap();
        let v = check("{}");
        assert_eq!(v["ok"], false);
        let want = crate::config::load_file(&file).unwrap_err();
        assert_eq!(
            v["error"],
            format!("check failed: {}: {want}", file.display())
        );
        assert!(
            want.to_string().starts_with("services[0].scheduler"),
            "{want}"
        );
        let restart = nat.replace("max_per_core: 65536", "max_per_core: 1024");
        let v = check(&serde_json::json!({ "text": restart }).to_string());
        assert_eq!(
            v["error"],
            "check failed: the text: conn.max_per_core: changing it needs a restart (a reload refuses it)"
        );
        assert_eq!(api.route(&req("POST", "/api/check", None, "")).status, 403);
        let v = check(r#"{"file":"/etc/passwd"}"#);
        assert_eq!(v["ok"], false, "unknown keys are refused: {v}");
    }
}
