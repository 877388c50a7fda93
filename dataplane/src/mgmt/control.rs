//! The control socket: a unix stream socket (0600, root only) served by its own thread, one
//! JSON request per line, one JSON response per line (protocol in `ctl::proto`, commands in
//! docs/ctl.md). Reading is done here from the shared handles (snapshot, per-worker figures,
//! connection listings); changes (weights, reload) are sent to the management thread, which
//! applies them in `tick` like a SIGHUP, so the thread that owns the config stays the only one
//! that changes it. Nothing here blocks the workers or `tick`: a listing a worker has not
//! finished in time comes back marked partial.

use super::control_client::{Limits, Line, LineReader};
use super::Mgmt;
use crate::config::Config;
use crate::ctl::proto::{
    self, ConnView, ConnsView, HealthRow, HealthView, ListView, Message, PersistView, Rate,
    RealView, Request, Response, ServiceView, Traffic,
};
use crate::lb::published::Published;
use crate::lb::snapshot::Snapshot;
use crate::lb::types::Protocol;
use crate::worker::stats::{ConnDump, ConnRecord, RealFigures, RealStats};
use crate::worker::WorkerCounters;
use anyhow::{bail, Context, Result};
use crossbeam::channel::{self, Receiver, Sender};
use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::tunables::{
    CONN_DUMP_WAIT as DUMP_WAIT, CONTROL_APPLY_WAIT as APPLY_WAIT,
    CONTROL_CLIENT_IDLE as CLIENT_IDLE, CONTROL_MAX_CLIENTS as MAX_CLIENTS, CONTROL_POLL as POLL,
    RATE_INTERVAL,
};

/// The read-only handles the control and metrics threads read from.
pub struct Sources {
    pub snapshot: Arc<Published>,
    /// Per worker.
    pub real_stats: Vec<Arc<RealStats>>,
    pub counters: Arc<Vec<WorkerCounters>>,
    /// The management thread's own counters.
    pub mgmt: Arc<super::PublishedMgmtCounters>,
    /// (DPDK port id, name) of every port.
    pub ports: Vec<(u16, String)>,
    /// Connection sync's published state (none without a `sync` section).
    pub sync: Option<Arc<super::sync::SyncStatus>>,
    /// High availability (VRRP) as the management thread last published it.
    pub ha: Arc<super::vrrp::status::HaStatus>,
    /// VIP announcement and the node's drain (`ctl bgp`, the metrics).
    pub bgp: Arc<super::bgp::status::BgpStatus>,
}

impl Sources {
    /// A real's figures summed over the workers.
    pub fn real_totals(&self, id: crate::lb::types::RealId) -> RealFigures {
        let mut t = RealFigures::default();
        for w in &self.real_stats {
            t.add(&w.get(id));
        }
        t
    }

    /// A real of an IPv6 VIP (`snap.v6.services`' ids): its figures summed over the workers.
    pub fn real_totals6(&self, id: crate::lb::types::RealId) -> RealFigures {
        let mut t = RealFigures::default();
        for w in &self.real_stats {
            t.add(&w.get6(id));
        }
        t
    }
}

/// A change for the management thread; it answers on `reply`.
pub enum Command {
    Weight {
        service: String,
        real: String,
        weight: u32,
        reply: Sender<Result<String, String>>,
    },
    Reload {
        reply: Sender<Result<String, String>>,
    },
    /// `ctl drain` without a service: the node's drain.
    DrainNode {
        reply: Sender<Result<String, String>>,
    },
    /// The running config (the web console shows it and checks candidates against it).
    Config { reply: Sender<Box<Running>> },
}

/// The running config and the file a reload reads.
pub struct Running {
    pub config: Config,
    pub path: Option<PathBuf>,
}

/// The management thread's end: the command channel, the config path (for reload), and the
/// control and metrics threads, stopped and joined when this is dropped.
pub struct Inbox {
    pub commands: Receiver<Command>,
    pub config: Option<PathBuf>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    socket: Option<PathBuf>,
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(p) = &self.socket {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Starts the control socket's thread and the metrics thread (as configured). A socket or
/// listener that cannot be set up is logged and left out: forwarding does not depend on it.
pub fn start(cfg: &Config, sources: Arc<Sources>, dumps: Vec<Arc<ConnDump>>) -> Inbox {
    let (tx, rx) = channel::bounded(16);
    let stop = Arc::new(AtomicBool::new(false));
    let mut inbox = Inbox {
        commands: rx,
        config: None,
        stop: stop.clone(),
        threads: Vec::new(),
        socket: None,
    };
    let server = Arc::new(Server {
        sources: sources.clone(),
        dumps: Mutex::new(dumps),
        commands: tx,
        rates: Mutex::new(RateWindow::default()),
        clients: AtomicUsize::new(0),
    });
    match bind(&cfg.control.socket) {
        Ok(listener) => {
            let path = cfg.control.socket.clone();
            tracing::info!(socket = %path.display(), "control socket listening");
            let (server, stop) = (server.clone(), stop.clone());
            match std::thread::Builder::new()
                .name("dp-control".into())
                .spawn(move || server.run(listener, stop))
            {
                Ok(t) => {
                    inbox.threads.push(t);
                    inbox.socket = Some(path);
                }
                Err(e) => tracing::error!("cannot start the control thread: {e}"),
            }
        }
        Err(e) => tracing::error!("control socket disabled: {e:#}"),
    }
    if let Some(addr) = cfg.metrics.listen {
        match super::metrics::spawn(addr, sources, stop.clone()) {
            Ok(t) => inbox.threads.push(t),
            Err(e) => tracing::error!("metrics endpoint disabled: {e:#}"),
        }
    }
    if cfg.console.listen.is_some() {
        match super::console::spawn(&cfg.console, server, stop) {
            Ok(t) => inbox.threads.push(t),
            Err(e) => tracing::error!("web console disabled: {e:#}"),
        }
    }
    inbox
}

/// Tells a client over `MAX_CLIENTS` why it is not served, without waiting on it.
fn refuse(conn: UnixStream) {
    let msg = Response::err(format!(
        "too many control clients (at most {MAX_CLIENTS} at once); try again"
    ));
    let mut text = serde_json::to_string(&msg).unwrap_or_default();
    text.push('\n');
    let mut c = conn;
    if c.set_nonblocking(true).is_ok() {
        let _ = c.write_all(text.as_bytes());
    }
}

/// Binds the socket with mode 0600. A stale socket file is replaced; a live one (another
/// appliance answers on it) is left alone.
fn bind(path: &Path) -> Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            bail!(
                "{}: another process is serving this socket (set control.socket)",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
    }
    let l = UnixListener::bind(path).with_context(|| format!("cannot bind {}", path.display()))?;
    // The file is created under the process umask (at most 0755: nobody else may connect,
    // which needs write permission); narrow it to 0600 at once.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot chmod {}", path.display()))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// A real in the rate samples: its id in the IPv4 services, or in the IPv6 VIPs' (a space of
/// its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum RateKey {
    V4(u32),
    V6(u32),
}

/// Two samples of every real's totals, `RATE_INTERVAL` apart.
#[derive(Default)]
pub(super) struct RateWindow {
    prev: Option<(Instant, HashMap<RateKey, RealFigures>)>,
    cur: Option<(Instant, HashMap<RateKey, RealFigures>)>,
}

impl RateWindow {
    fn sample(&mut self, src: &Sources) {
        if self
            .cur
            .as_ref()
            .is_some_and(|(t, _)| t.elapsed() < RATE_INTERVAL)
        {
            return;
        }
        let snap = src.snapshot.load();
        let v4 = snap.services.services().iter().flat_map(|s| {
            s.reals
                .iter()
                .map(|r| (RateKey::V4(r.id), src.real_totals(r.id)))
        });
        let v6 = snap.v6.services.services().iter().flat_map(|s| {
            s.reals
                .iter()
                .map(|r| (RateKey::V6(r.id), src.real_totals6(r.id)))
        });
        let now: HashMap<RateKey, RealFigures> = v4.chain(v6).collect();
        self.prev = self.cur.take();
        self.cur = Some((Instant::now(), now));
    }

    /// A real's rates and the interval they cover.
    pub(super) fn rate(&self, id: RateKey) -> (Rate, Option<Duration>) {
        let (Some((t0, a)), Some((t1, b))) = (&self.prev, &self.cur) else {
            return (Rate::default(), None);
        };
        let dt = t1.duration_since(*t0);
        let (Some(a), Some(b)) = (a.get(&id), b.get(&id)) else {
            return (Rate::default(), Some(dt));
        };
        let per = |x: u64, y: u64| y.saturating_sub(x) as f64 / dt.as_secs_f64().max(1e-3);
        (
            Rate {
                cps: per(a.conns, b.conns),
                pps_in: per(a.pkts_in, b.pkts_in),
                pps_out: per(a.pkts_out, b.pkts_out),
                bps_in: per(a.bytes_in, b.bytes_in),
                bps_out: per(a.bytes_out, b.bytes_out),
            },
            Some(dt),
        )
    }
}

/// Serves requests of the control protocol: the control socket's clients and the web console
/// (mgmt::console) both go through `handle`, so they read and change the same way.
pub struct Server {
    sources: Arc<Sources>,
    /// One listing at a time: the workers' listing channels have a single reader.
    dumps: Mutex<Vec<Arc<ConnDump>>>,
    commands: Sender<Command>,
    rates: Mutex<RateWindow>,
    clients: AtomicUsize,
}

impl Server {
    /// Accepts clients (each served by its own short-lived thread, so a slow one holds up no
    /// other) and samples the rates every second.
    fn run(self: Arc<Self>, listener: UnixListener, stop: Arc<AtomicBool>) {
        let me = self;
        while !stop.load(Relaxed) {
            me.sample_rates();
            match listener.accept() {
                Ok((conn, _)) => {
                    if me.clients.load(Relaxed) >= MAX_CLIENTS {
                        refuse(conn);
                        continue;
                    }
                    me.clients.fetch_add(1, Relaxed);
                    let (me2, stop2) = (me.clone(), stop.clone());
                    let spawned = std::thread::Builder::new()
                        .name("dp-ctl-client".into())
                        .spawn(move || {
                            if let Err(e) = me2.serve(conn, &stop2) {
                                tracing::debug!("control client: {e}");
                            }
                            me2.clients.fetch_sub(1, Relaxed);
                        });
                    if spawned.is_err() {
                        me.clients.fetch_sub(1, Relaxed);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
                Err(e) => {
                    tracing::warn!("control socket accept: {e}");
                    std::thread::sleep(POLL);
                }
            }
        }
    }

    /// One client, one request line after another until it closes, goes idle, sends a request
    /// too long or too slowly (`control_client` bounds each), or the appliance stops.
    fn serve(&self, conn: UnixStream, stop: &AtomicBool) -> std::io::Result<()> {
        conn.set_write_timeout(Some(CLIENT_IDLE))?;
        let mut out = conn.try_clone()?;
        let limits = Limits::control();
        let mut reader = LineReader::new(conn, limits)?;
        loop {
            let (resp, last) = match reader.next_line(stop)? {
                Line::Request(text) => match serde_json::from_str::<Request>(text.trim()) {
                    Ok(req) => (self.handle(req), false),
                    Err(e) => (Response::err(format!("bad request: {e}")), false),
                },
                Line::NotUtf8 => (Response::err("bad request: not UTF-8"), false),
                Line::Oversized => (
                    Response::err(format!(
                        "request longer than {} bytes (the limit); closing",
                        limits.max_line
                    )),
                    true,
                ),
                Line::Slow => (
                    Response::err(format!(
                        "request incomplete after {} s (one JSON request per line); closing",
                        limits.request_deadline.as_secs()
                    )),
                    true,
                ),
                Line::Idle => (
                    Response::err(format!("idle for {} s; closing", limits.idle.as_secs())),
                    true,
                ),
                Line::End => return Ok(()),
            };
            let mut text = serde_json::to_string(&resp)
                .unwrap_or_else(|_| r#"{"ok":false,"error":"cannot encode"}"#.into());
            text.push('\n');
            out.write_all(text.as_bytes())?;
            if last {
                return Ok(());
            }
        }
    }

    /// Takes a rate sample when the last is a second old (the socket's thread does every 50 ms;
    /// the console also does, for when the socket could not be bound).
    pub fn sample_rates(&self) {
        if let Ok(mut r) = self.rates.lock() {
            r.sample(&self.sources);
        }
    }

    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// The running config, from the management thread.
    pub fn running_config(&self) -> Result<Running, String> {
        let (tx, rx) = channel::bounded(1);
        if self
            .commands
            .send_timeout(Command::Config { reply: tx }, APPLY_WAIT)
            .is_err()
        {
            return Err("the management thread is not taking commands".into());
        }
        rx.recv_timeout(APPLY_WAIT)
            .map(|c| *c)
            .map_err(|_| "the management thread did not answer in time".into())
    }

    pub fn handle(&self, req: Request) -> Response {
        match req {
            Request::List { stats, rate } => Response::ok(self.list(stats, rate)),
            Request::Conns {
                service,
                client,
                real,
            } => match real.as_deref().map(proto::parse_real).transpose() {
                Ok(real) => Response::ok(self.conns(service.as_deref(), client, real)),
                Err(e) => Response::err(e),
            },
            Request::Health {} => Response::ok(health(&self.sources.snapshot.load())),
            Request::Workers {} => Response::ok(workers(&self.sources)),

            Request::Stats {} => Response::ok(stats(&self.sources)),
            Request::Sync {} => Response::ok(super::sync::report(&self.sources)),
            Request::Ha {} => {
                let mut v = self.sources.ha.view();
                let sync = super::sync::report(&self.sources);
                v.sync = sync.enabled.then_some(sync);
                Response::ok(v)
            }
            Request::Weight {
                service,
                real,
                weight,
            } => self.change(|reply| Command::Weight {
                service,
                real,
                weight,
                reply,
            }),
            Request::Drain { service, real } => self.change(|reply| Command::Weight {
                service,
                real,
                weight: 0,
                reply,
            }),
            Request::Reload {} => self.change(|reply| Command::Reload { reply }),
            Request::DrainNode {} => self.change(|reply| Command::DrainNode { reply }),
            Request::Bgp {} | Request::Status {} => Response::ok(self.sources.bgp.view()),
        }
    }

    /// Hands a change to the management thread and waits for its answer.
    fn change(&self, make: impl FnOnce(Sender<Result<String, String>>) -> Command) -> Response {
        let (tx, rx) = channel::bounded(1);
        if self.commands.send_timeout(make(tx), APPLY_WAIT).is_err() {
            return Response::err("the management thread is not taking commands");
        }
        match rx.recv_timeout(APPLY_WAIT) {
            Ok(Ok(message)) => Response::ok(Message { message }),
            Ok(Err(e)) => Response::err(e),
            Err(_) => Response::err("the management thread did not answer in time"),
        }
    }

    fn list(&self, stats: bool, rate: bool) -> ListView {
        let snap = self.sources.snapshot.load();
        let rates = match self.rates.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        let mut interval = None;
        let mut services: Vec<ServiceView> = snap
            .services
            .services()
            .iter()
            .map(|s| {
                let mut svc_stats = Traffic::default();
                let mut svc_rate = Rate::default();
                let reals = s
                    .reals
                    .iter()
                    .map(|r| {
                        let f = self.sources.real_totals(r.id);
                        let t = traffic(&f);
                        add_traffic(&mut svc_stats, &t);
                        let (rt, dt) = rates.rate(RateKey::V4(r.id));
                        interval = interval.or(dt);
                        add_rate(&mut svc_rate, &rt);
                        RealView {
                            addr: r.addr.into(),
                            port: r.port,
                            forward: r.forward_mode(s.forward),
                            weight: r.weight,
                            active: f.active,
                            inactive: f.inactive,
                            available: r.available,
                            overloaded: f.overloaded > 0,
                            stats: stats.then_some(t),
                            rate: rate.then_some(rt),
                        }
                    })
                    .collect();
                ServiceView {
                    name: s.name.clone(),
                    protocol: proto_name(s.key.proto).to_ascii_lowercase(),
                    vip: s.key.vip.into(),
                    port: s.key.port,
                    scheduler: s.sched,
                    forward: s.forward,
                    persistence: s.persistence.map(|p| PersistView {
                        timeout_s: p.timeout_ms / 1000,
                        netmask: Ipv4Addr::from(p.netmask),
                    }),
                    stats: stats.then_some(svc_stats),
                    rate: rate.then_some(svc_rate),
                    reals,
                }
            })
            .collect();
        let v6 = super::control_v6::service_views(&snap, &self.sources, &rates, stats, rate);
        interval = interval.or(v6.interval);
        services.extend(v6.services);
        ListView {
            services,
            rate_interval_ms: if rate {
                Some(interval.map_or(0, |d| d.as_millis() as u64))
            } else {
                None
            },
        }
    }

    /// Asks every worker for its connections at once and collects them (bounded wait).
    fn conns(
        &self,
        service: Option<&str>,
        client: Option<IpAddr>,
        real: Option<(IpAddr, Option<u16>)>,
    ) -> ConnsView {
        let dumps = match self.dumps.lock() {
            Ok(d) => d,
            Err(p) => p.into_inner(),
        };
        let mut wanted = Vec::with_capacity(dumps.len());
        for d in dumps.iter() {
            // Leftovers of an earlier listing that timed out.
            while d.out.pop().is_some() {}
            let w = d.requested.load(Relaxed) + 1;
            d.requested.store(w, Relaxed);
            wanted.push(w);
        }
        let snap = self.sources.snapshot.load();
        let mut records: Vec<Vec<ConnRecord>> = vec![Vec::new(); dumps.len()];
        let mut finished = vec![false; dumps.len()];
        let start = Instant::now();
        loop {
            let mut got = false;
            for (i, d) in dumps.iter().enumerate() {
                // Read `done` before draining, so records pushed before it are all taken.
                let done = d.done.load(Relaxed) == wanted[i];
                while let Some(rec) = d.out.pop() {
                    got = true;
                    records[i].push(rec);
                }
                finished[i] = done;
            }
            if finished.iter().all(|&f| f) {
                break;
            }
            if start.elapsed() > DUMP_WAIT {
                break;
            }
            if !got {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Expiry times are on each worker's clock, which it published with the listing.
        let mut conns: Vec<ConnView> = records
            .iter()
            .zip(dumps.iter())
            .flat_map(|(recs, d)| {
                let now = d.now_ms.load(Relaxed);
                let snap = &snap;
                recs.iter()
                    .filter_map(move |r| conn_view(snap, r, now, service, client, real))
            })
            .collect();
        conns.sort_by(|a, b| (&a.vip, &a.client).cmp(&(&b.vip, &b.client)));
        ConnsView {
            conns,
            complete: finished.iter().all(|&f| f),
        }
    }
}

fn conn_view(
    snap: &Snapshot,
    rec: &ConnRecord,
    now_ms: u64,
    service: Option<&str>,
    client: Option<IpAddr>,
    real: Option<(IpAddr, Option<u16>)>,
) -> Option<ConnView> {
    let c = &rec.info;
    let svc = match c.vip {
        IpAddr::V4(vip) => snap
            .services
            .real(c.real)
            .and_then(|(si, _)| snap.services.get(si))
            .or_else(|| snap.services.lookup(c.proto, vip, c.vport))
            .map(|s| s.name.as_str()),
        IpAddr::V6(vip) => super::control_v6::service_of(snap, c.real, c.proto, vip, c.vport),
    };
    if service.is_some_and(|want| svc != Some(want))
        || client.is_some_and(|want| c.client != want)
        || real.is_some_and(|(ip, port)| c.real_addr != ip || port.is_some_and(|p| p != c.rport))
    {
        return None;
    }
    let at = crate::config::addr_port;
    Some(ConnView {
        proto: proto_name(c.proto).into(),
        state: c.state.name().into(),
        expire_s: c.expires_ms.saturating_sub(now_ms) / 1000,
        client: at(c.client, c.cport),
        vip: at(c.vip, c.vport),
        real: at(c.real_addr, c.rport),
        service: svc.map(str::to_string),
        worker: rec.worker,
    })
}

/// Each worker's counters and table occupancy (`ctl top`).
fn workers(src: &Sources) -> proto::WorkersView {
    use crate::worker::Counter;
    let snap = src.snapshot.load();
    let workers = src
        .counters
        .iter()
        .enumerate()
        .map(|(w, c)| {
            let t = c.snapshot();
            let connections = src.real_stats.get(w).map_or(0, |rs| rs.connections(&snap));
            proto::WorkerView {
                worker: w as u16,
                busy_polls: t.get(Counter::BusyPolls),
                idle_polls: t.get(Counter::IdlePolls),
                rx: t.get(Counter::Rx),
                tx: t.get(Counter::Tx),
                drops: t.drops(),
                handoffs_out: t.get(Counter::HandoffOut),
                handoffs_in: t.get(Counter::HandoffIn),
                connections,
            }
        })
        .collect();
    proto::WorkersView { workers }
}

fn health(snap: &Snapshot) -> HealthView {
    HealthView {
        reals: snap
            .services
            .services()
            .iter()
            .flat_map(|s| {
                s.reals.iter().map(|r| HealthRow {
                    service: s.name.clone(),
                    real: format!("{}:{}", r.addr, r.port),
                    weight: r.weight,
                    available: r.available,
                    state: if r.available { "up" } else { "down" }.into(),
                })
            })
            .chain(super::control_v6::health_rows(snap))
            .collect(),
    }
}

fn stats(src: &Sources) -> crate::ctl::stats::StatsView {
    let workers: Vec<_> = src.counters.iter().map(|c| c.snapshot()).collect();
    let ports: Vec<_> = src
        .ports
        .iter()
        .map(|(id, name)| (name.clone(), crate::dpdk::port::stats_of(*id)))
        .collect();
    crate::ctl::stats::StatsView::new(&workers, &src.mgmt.snapshot(), &ports)
}

pub(super) fn traffic(f: &RealFigures) -> Traffic {
    Traffic {
        conns: f.conns,
        pkts_in: f.pkts_in,
        pkts_out: f.pkts_out,
        bytes_in: f.bytes_in,
        bytes_out: f.bytes_out,
    }
}

pub(super) fn add_traffic(a: &mut Traffic, b: &Traffic) {
    a.conns += b.conns;
    a.pkts_in += b.pkts_in;
    a.pkts_out += b.pkts_out;
    a.bytes_in += b.bytes_in;
    a.bytes_out += b.bytes_out;
}

pub(super) fn add_rate(a: &mut Rate, b: &Rate) {
    a.cps += b.cps;
    a.pps_in += b.pps_in;
    a.pps_out += b.pps_out;
    a.bps_in += b.bps_in;
    a.bps_out += b.bps_out;
}

pub fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Icmp => "ICMP",
    }
}

/// The management thread's side: applies what the control thread asks (called from `tick`).
impl Mgmt {
    pub fn serve_control(&mut self) {
        let Some(inbox) = self.control.as_ref() else {
            return;
        };
        let cmds: Vec<Command> = inbox.commands.try_iter().take(4).collect();
        for cmd in cmds {
            match cmd {
                Command::Weight {
                    service,
                    real,
                    weight,
                    reply,
                } => {
                    let r = self.set_weight(&service, &real, weight);
                    let _ = reply.send(r);
                }
                Command::Reload { reply } => {
                    let r = self.reload_requested();
                    let _ = reply.send(r);
                }
                Command::DrainNode { reply } => {
                    let _ = reply.send(self.start_drain("ctl drain"));
                }
                Command::Config { reply } => {
                    let _ = reply.send(Box::new(Running {
                        config: self.control_state.config().clone(),
                        path: self.control.as_ref().and_then(|c| c.config.clone()),
                    }));
                }
            }
        }
    }

    /// Sets one real's weight in the running config and publishes it (as a reload would).
    /// The config file is not changed: a later reload from it sets the file's weight again.
    fn set_weight(&mut self, service: &str, real: &str, weight: u32) -> Result<String, String> {
        let (ip, port) = proto::parse_real(real)?;
        let old = self.control_state.set_weight(service, ip, port, weight)?;
        self.counters.snapshots += 1;
        tracing::info!(
            service,
            real,
            old,
            weight,
            "weight changed by the control socket"
        );
        Ok(format!("{service} {real}: weight {old} -> {weight}"))
    }

    /// `ctl reload`: the same reload as SIGHUP; the reply carries its result.
    fn reload_requested(&mut self) -> Result<String, String> {
        let path = self
            .control
            .as_ref()
            .and_then(|c| c.config.clone())
            .ok_or("no config file to reload")?;
        self.reload(&path)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::lb::conn::{ConnInfo, TcpState};
    use crate::lb::neigh::NeighTable;
    use crate::lb::snapshot::{service_specs, PortInfo};
    use crate::lb::types::ForwardMode;
    use crate::worker::stats::ConnRecord;
    use std::io::{BufRead, BufReader};

    fn nat() -> Config {
        crate::config::load_str(include_str!("../../../configs/nat.yaml")).expect("nat.yaml")
    }

    /// Sources over nat.yaml's services with one worker's figures.
    pub(crate) fn sources() -> Arc<Sources> {
        let c = nat();
        let ports = vec![
            PortInfo {
                name: "ext".into(),
                dpdk_id: 0,
                mac: [2, 0, 0, 0, 1, 1],
                ip: Some(("198.18.0.1".parse().unwrap(), 24)),
                mtu: 1500,
                exception: false,
            },
            PortInfo {
                name: "int".into(),
                dpdk_id: 1,
                mac: [2, 0, 0, 0, 2, 1],
                ip: Some(("198.19.0.1".parse().unwrap(), 24)),
                mtu: 1500,
                exception: false,
            },
        ];
        let specs = service_specs(&c, &|_, ip, _| ip != Ipv4Addr::new(198, 19, 0, 12));
        let snap = Snapshot::build(1, &c, ports, NeighTable::default(), &specs, None, 1).unwrap();
        let rs = Arc::new(RealStats::new(64));
        rs.publish(64, |id| RealFigures {
            active: 1,
            inactive: 2,
            conns: 10 + id as u64,
            pkts_in: 100,
            pkts_out: 90,
            bytes_in: 1000,
            bytes_out: 9000,
            overloaded: 0,
        });
        Arc::new(Sources {
            snapshot: Arc::new(Published::new(snap)),
            real_stats: vec![rs],
            counters: Arc::new(vec![WorkerCounters::default()]),
            mgmt: Arc::default(),
            ports: Vec::new(),
            sync: None,
            ha: Arc::default(),
            bgp: Arc::default(),
        })
    }

    /// A server over `sources()`, and the far end of its command channel.
    pub(crate) fn server(dumps: Vec<Arc<ConnDump>>) -> (Arc<Server>, Receiver<Command>) {
        let (tx, rx) = channel::bounded(4);
        let server = Arc::new(Server {
            sources: sources(),
            dumps: Mutex::new(dumps),
            commands: tx,
            rates: Mutex::new(RateWindow::default()),
            clients: AtomicUsize::new(0),
        });
        (server, rx)
    }

    /// A server on a socket in `dir`, and the far end of its command channel.
    fn serve(
        dir: &Path,
        dumps: Vec<Arc<ConnDump>>,
    ) -> (PathBuf, Receiver<Command>, Arc<AtomicBool>, JoinHandle<()>) {
        let path = dir.join("ctl.sock");
        let l = bind(&path).unwrap();
        let (server, rx) = server(dumps);
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let t = std::thread::spawn(move || server.run(l, s2));
        (path, rx, stop, t)
    }

    #[test]
    fn config_defaults_and_errors() {
        let c = nat();
        assert_eq!(c.control.socket, PathBuf::from("/run/dataplane.sock"));
        assert_eq!(c.metrics.listen, Some("127.0.0.1:9717".parse().unwrap()));
        let base = include_str!("../../../configs/nat.yaml");
        let off = crate::config::load_str(&format!(
            "{base}\nmetrics: {{listen: none}}\ncontrol: {{socket: /tmp/x.sock}}\n"
        ))
        .unwrap();
        assert_eq!(off.metrics.listen, None);
        assert_eq!(off.control.socket, PathBuf::from("/tmp/x.sock"));
        let e = crate::config::load_str(&format!("{base}\nmetrics: {{listen: loopback}}\n"))
            .unwrap_err();
        assert_eq!(e.key, "metrics.listen", "{e}");
        assert!(e.reason.contains("address:port"), "{e}");
        let e =
            crate::config::load_str(&format!("{base}\ncontrol: {{sock: /tmp/x}}\n")).unwrap_err();
        assert_eq!(e.key, "control.sock", "{e}");
        let e =
            crate::config::load_str(&format!("{base}\ncontrol: {{socket: \"\"}}\n")).unwrap_err();
        assert_eq!(e.key, "control.socket", "{e}");
        // The normalised config round-trips (dataplane check prints it).
        let text = serde_yaml_ng::to_string(&off).unwrap();
        assert_eq!(crate::config::load_str(&text).unwrap(), off);
    }

    #[test]
    fn socket_is_private_and_a_live_one_is_not_taken_over() {
        let d = tempfile::tempdir().unwrap();
        let (path, _rx, stop, t) = serve(d.path(), Vec::new());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(bind(&path).is_err(), "a served socket is not replaced");
        stop.store(true, Relaxed);
        t.join().unwrap();
        // Stale now (nobody accepts): replaced.
        assert!(bind(&path).is_ok());
    }

    #[test]
    fn list_health_and_bad_requests() {
        let d = tempfile::tempdir().unwrap();
        let (path, _rx, stop, t) = serve(d.path(), Vec::new());
        let r = crate::ctl::call(
            &path,
            &Request::List {
                stats: true,
                rate: true,
            },
        )
        .unwrap();
        assert!(r.ok, "{r:?}");
        let v: ListView = serde_json::from_value(r.result).unwrap();
        let names: Vec<&str> = v.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["web", "echo", "dns"]);
        let web = &v.services[0];
        assert_eq!((web.protocol.as_str(), web.port), ("tcp", 80));
        assert_eq!(web.scheduler, crate::config::SchedKind::Wrr);
        assert_eq!(web.reals.len(), 2);
        assert_eq!(web.reals[0].addr, Ipv4Addr::new(198, 19, 0, 11));
        assert_eq!((web.reals[0].active, web.reals[0].inactive), (1, 2));
        assert!(web.reals[0].available && !web.reals[1].available);
        let st = web.stats.unwrap();
        assert_eq!(st.pkts_in, 200, "a service's stats sum its reals'");
        assert!(v.rate_interval_ms.is_some());
        let h = crate::ctl::call(&path, &Request::Health {}).unwrap();
        let h: HealthView = serde_json::from_value(h.result).unwrap();
        assert_eq!(h.reals.len(), 6);
        assert_eq!(h.reals[1].state, "down");
        // Garbage gets an error line, and the connection stays usable.
        let s = UnixStream::connect(&path).unwrap();
        let mut w = s.try_clone().unwrap();
        w.write_all(b"{nope\n{\"cmd\":\"health\"}\n").unwrap();
        let mut lines = BufReader::new(s).lines();
        let first: Response = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert!(!first.ok && first.error.unwrap().contains("bad request"));
        let second: Response = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert!(second.ok);
        stop.store(true, Relaxed);
        t.join().unwrap();
    }

    #[test]
    fn workers_counters_and_occupancy() {
        use crate::worker::{Counter, WorkerTotals};
        let src = sources();
        let mut t = WorkerTotals::default();
        t.add(Counter::BusyPolls, 25);
        t.add(Counter::IdlePolls, 75);
        t.add(Counter::Rx, 1000);
        t.add(Counter::Tx, 900);
        t.add(Counter::DropNoReal, 4);
        t.add(Counter::DropTtl, 1);
        t.add(Counter::TxDropped, 2);
        t.add(Counter::HandoffOut, 7);
        src.counters[0].publish(&t);
        let v = workers(&src);
        assert_eq!(
            v.workers,
            [proto::WorkerView {
                worker: 0,
                busy_polls: 25,
                idle_polls: 75,
                rx: 1000,
                tx: 900,
                // Every counter of the drops family, each once: no_real 4, ttl 1, tx_full 2.
                drops: 7,
                handoffs_out: 7,
                handoffs_in: 0,
                // 6 reals with 1 active and 2 inactive each.
                connections: 18,
            }]
        );
    }

    #[test]
    fn conns_are_collected_from_workers_and_filtered() {
        let d = tempfile::tempdir().unwrap();
        let dump = Arc::new(ConnDump::new(4));
        // A fake worker: answers each request with 6 connections (more than the queue holds).
        let stop_w = Arc::new(AtomicBool::new(false));
        let (dw, sw) = (dump.clone(), stop_w.clone());
        let worker = std::thread::spawn(move || {
            while !sw.load(Relaxed) {
                let want = dw.requested.load(Relaxed);
                if want != dw.done.load(Relaxed) {
                    for i in 0..6u16 {
                        let info = ConnInfo {
                            proto: Protocol::Tcp,
                            client: Ipv4Addr::new(198, 18, 0, 2 + (i % 2) as u8),
                            cport: 40000 + i,
                            vip: Ipv4Addr::new(198, 18, 0, 100),
                            vport: 80,
                            real: 0,
                            real_addr: Ipv4Addr::new(198, 19, 0, 11),
                            rport: 80,
                            mode: ForwardMode::Nat,
                            state: TcpState::Established,
                            template: None,
                            expires_ms: 905_000,
                        };
                        let mut rec = ConnRecord::new(0, info);
                        while let Err(r) = dw.out.push(rec) {
                            rec = r;
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    dw.now_ms.store(5_000, Relaxed);
                    dw.done.store(want, Relaxed);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let (path, _rx, stop, t) = serve(d.path(), vec![dump]);
        let all = |req: Request| -> ConnsView {
            let r = crate::ctl::call(&path, &req).unwrap();
            assert!(r.ok, "{r:?}");
            serde_json::from_value(r.result).unwrap()
        };
        let v = all(Request::Conns {
            service: None,
            client: None,
            real: None,
        });
        assert!(v.complete);
        assert_eq!(v.conns.len(), 6);
        assert_eq!(v.conns[0].expire_s, 900);
        assert_eq!(v.conns[0].state, "ESTABLISHED");
        assert_eq!(v.conns[0].service.as_deref(), Some("web"));
        let v = all(Request::Conns {
            service: None,
            client: Some(Ipv4Addr::new(198, 18, 0, 3).into()),
            real: None,
        });
        assert_eq!(v.conns.len(), 3);
        let v = all(Request::Conns {
            service: Some("echo".into()),
            client: None,
            real: None,
        });
        assert_eq!(v.conns.len(), 0);
        let v = all(Request::Conns {
            service: None,
            client: None,
            real: Some("198.19.0.11:80".into()),
        });
        assert_eq!(v.conns.len(), 6);
        let bad = crate::ctl::call(
            &path,
            &Request::Conns {
                service: None,
                client: None,
                real: Some("x".into()),
            },
        )
        .unwrap();
        assert!(!bad.ok);
        stop.store(true, Relaxed);
        stop_w.store(true, Relaxed);
        t.join().unwrap();
        worker.join().unwrap();
    }

    /// A snapshot of nat6.yaml: IPv4 `web`, IPv6 `web6` (NAT66) and `web64` (NAT64).
    fn nat6_snapshot() -> Snapshot {
        let c = crate::config::load_str(include_str!("../../../configs/nat6.yaml")).unwrap();
        let ports = sources().snapshot.load().ports.clone();
        let specs = service_specs(&c, &|_, _, _| true);
        Snapshot::build(1, &c, ports, NeighTable::default(), &specs, None, 1).unwrap()
    }

    /// IPv6 connections are listed and filtered like IPv4 ones, `[addr]:port` where a port
    /// follows; a NAT64 connection shows its IPv4 real.
    #[test]
    fn ipv6_connections_are_listed_with_bracketed_addresses() {
        let snap = nat6_snapshot();
        let web6 = &snap.v6.services.services()[0];
        let web64 = &snap.v6.services.services()[1];
        let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap();
        let nat66 = ConnRecord::new(
            1,
            ConnInfo {
                proto: Protocol::Tcp,
                client: v6("2001:db8::2"),
                cport: 40000,
                vip: v6("2001:db8::100"),
                vport: 80,
                real: web6.reals[1].id,
                real_addr: v6("2001:db8:1::12"),
                rport: 80,
                mode: ForwardMode::Nat,
                state: TcpState::Established,
                template: None,
                expires_ms: 905_000,
            },
        );
        let nat64 = ConnRecord::new(
            0,
            ConnInfo {
                proto: Protocol::Tcp,
                client: v6("2001:db8::2"),
                cport: 40001,
                vip: v6("2001:db8::100"),
                vport: 8080,
                real: web64.reals[0].id,
                real_addr: Ipv4Addr::new(198, 19, 0, 11).to_ipv6_mapped(),
                rport: 80,
                mode: ForwardMode::Nat,
                state: TcpState::SynRecv,
                template: Some(1024),
                expires_ms: 65_000,
            },
        );
        let v = conn_view(&snap, &nat66, 5_000, None, None, None).unwrap();
        assert_eq!(
            (
                v.proto.as_str(),
                v.state.as_str(),
                v.expire_s,
                v.client.as_str(),
                v.vip.as_str(),
                v.real.as_str(),
                v.service.as_deref(),
                v.worker
            ),
            (
                "TCP",
                "ESTABLISHED",
                900,
                "[2001:db8::2]:40000",
                "[2001:db8::100]:80",
                "[2001:db8:1::12]:80",
                Some("web6"),
                1
            )
        );
        let v = conn_view(&snap, &nat64, 5_000, None, None, None).unwrap();
        assert_eq!(
            (v.real.as_str(), v.service.as_deref(), v.expire_s),
            ("198.19.0.11:80", Some("web64"), 60)
        );
        let real = |s: &str| Some(proto::parse_real(s).unwrap());
        let shown = |rec: &ConnRecord, svc: Option<&str>, client: Option<IpAddr>, r| {
            conn_view(&snap, rec, 5_000, svc, client, r).is_some()
        };
        assert!(shown(&nat66, Some("web6"), None, None));
        assert!(!shown(&nat66, Some("web64"), None, None));
        assert!(shown(
            &nat66,
            None,
            Some("2001:db8::2".parse().unwrap()),
            None
        ));
        assert!(!shown(
            &nat66,
            None,
            Some("198.18.0.2".parse().unwrap()),
            None
        ));
        assert!(shown(&nat66, None, None, real("[2001:db8:1::12]:80")));
        assert!(shown(&nat66, None, None, real("2001:db8:1::12")));
        assert!(!shown(&nat66, None, None, real("[2001:db8:1::12]:81")));
        assert!(!shown(&nat66, None, None, real("[2001:db8:1::11]:80")));
        assert!(shown(&nat64, None, None, real("198.19.0.11:80")));
    }

    /// `ctl list --stats` and the metrics read an IPv6 VIP's reals by their own ids (which
    /// overlap the IPv4 ids), not the IPv4 real with the same number.
    #[test]
    fn ipv6_reals_show_their_own_figures() {
        let rs = Arc::new(RealStats::new(8));
        let figures = |conns: u64| RealFigures {
            active: 1,
            inactive: conns,
            conns,
            pkts_in: 10 * conns,
            pkts_out: 9 * conns,
            bytes_in: 1000 * conns,
            bytes_out: 900 * conns,
            overloaded: 0,
        };
        rs.publish(8, |_| figures(1));
        rs.publish6(8, |id| figures(100 + id as u64));
        let src = Sources {
            snapshot: Arc::new(Published::new(nat6_snapshot())),
            real_stats: vec![rs.clone(), rs],
            counters: Arc::new((0..2).map(|_| WorkerCounters::default()).collect()),
            mgmt: Arc::default(),
            ports: Vec::new(),
            sync: None,
            ha: Arc::default(),
            bgp: Arc::default(),
        };
        let (tx, _rx) = channel::bounded(1);
        let server = Server {
            sources: Arc::new(src),
            dumps: Mutex::new(Vec::new()),
            commands: tx,
            rates: Mutex::new(RateWindow::default()),
            clients: AtomicUsize::new(0),
        };
        let list = server.list(true, false);
        let web6 = list.services.iter().find(|s| s.name == "web6").unwrap();
        let ids: Vec<u64> = server.sources.snapshot.load().v6.services.services()[0]
            .reals
            .iter()
            .map(|r| u64::from(r.id))
            .collect();
        // Two workers publish the same figures: each real's are doubled.
        let got: Vec<(String, u64, u64, u64)> = web6
            .reals
            .iter()
            .map(|r| {
                let t = r.stats.unwrap();
                (
                    crate::config::addr_port(r.addr, r.port),
                    t.conns,
                    t.pkts_in,
                    r.inactive,
                )
            })
            .collect();
        let want: Vec<(String, u64, u64, u64)> = ["[2001:db8:1::11]:80", "[2001:db8:1::12]:80"]
            .iter()
            .zip(&ids)
            .map(|(a, id)| {
                (
                    a.to_string(),
                    2 * (100 + id),
                    20 * (100 + id),
                    2 * (100 + id),
                )
            })
            .collect();
        assert_eq!(got, want);
        let total: u64 = want.iter().map(|w| w.1).sum();
        assert_eq!(web6.stats.unwrap().conns, total);
        let text = crate::mgmt::metrics::render(&server.sources);
        let samples = crate::mgmt::metrics::parse(&text).unwrap();
        let sample = |name: &str, labels: &[(&str, &str)]| -> Vec<f64> {
            samples
                .iter()
                .filter(|(n, l, _)| {
                    n == name
                        && l.len() == labels.len()
                        && labels
                            .iter()
                            .all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
                })
                .map(|s| s.2)
                .collect()
        };
        let real2 = [("service", "web6"), ("real", "[2001:db8:1::12]:80")];
        assert_eq!(
            sample("dataplane_real_connections_total", &real2),
            [(2 * (100 + ids[1])) as f64]
        );
        assert_eq!(
            sample(
                "dataplane_service_connections_total",
                &[("service", "web6")]
            ),
            [total as f64]
        );
    }

    #[test]
    fn changes_go_to_the_management_thread() {
        let d = tempfile::tempdir().unwrap();
        let (path, rx, stop, t) = serve(d.path(), Vec::new());
        let mgmt = std::thread::spawn(move || {
            for _ in 0..2 {
                match rx.recv().unwrap() {
                    Command::Weight {
                        service,
                        real,
                        weight,
                        reply,
                    } => reply
                        .send(Ok(format!("{service} {real} {weight}")))
                        .unwrap(),
                    Command::Reload { reply } => reply.send(Err("refused: x".into())).unwrap(),
                    Command::Config { .. } | Command::DrainNode { .. } => panic!("not asked for"),
                }
            }
        });
        let r = crate::ctl::call(
            &path,
            &Request::Drain {
                service: "web".into(),
                real: "198.19.0.11".into(),
            },
        )
        .unwrap();
        let m: Message = serde_json::from_value(r.result).unwrap();
        assert_eq!(m.message, "web 198.19.0.11 0");
        let r = crate::ctl::call(&path, &Request::Reload {}).unwrap();
        assert!(!r.ok);
        assert_eq!(r.error.as_deref(), Some("refused: x"));
        mgmt.join().unwrap();
        stop.store(true, Relaxed);
        t.join().unwrap();
    }

    #[test]
    fn stats_name_every_declared_counter() {
        let src = sources();
        let mut t = crate::worker::WorkerTotals::default();
        t.add(crate::worker::Counter::NatIn, 9);
        src.counters[0].publish(&t);
        let v = stats(&src);
        assert_eq!(v.workers.len(), 1);
        assert_eq!(v.workers[0].len(), crate::worker::Counter::COUNT);
        assert_eq!(v.workers[0]["nat_in"], 9);
        assert_eq!(v.management.len(), super::super::MgmtCounters::COUNT);
        // And over the socket.
        let d = tempfile::tempdir().unwrap();
        let (path, _rx, stop, t) = serve(d.path(), Vec::new());
        let r = crate::ctl::call(&path, &Request::Stats {}).unwrap();
        assert!(r.ok, "{r:?}");
        let v: crate::ctl::stats::StatsView = serde_json::from_value(r.result).unwrap();
        assert_eq!(v.workers[0]["rx"], 0);
        stop.store(true, Relaxed);
        t.join().unwrap();
    }

    #[test]
    fn missing_socket_says_so() {
        let e = crate::ctl::call(Path::new("/nonexistent/dp.sock"), &Request::Health {})
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is the appliance running? no socket at /nonexistent/dp.sock"),
            "{e}"
        );
    }
}
