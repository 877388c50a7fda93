//! `dataplane import`: migration from keepalived (`keepalived.conf`'s `virtual_server` blocks)
//! and from `ipvsadm-save -n` output to this appliance's YAML (docs/operations.md). Both readers
//! fill the same small model (`Imported`), which is written out as the `services:` of a config;
//! everything else of the config (eal, workers, ports, routes, ...) comes from a template.
//! Whatever cannot be translated is listed with its file and line, never dropped silently.

pub mod ipvsadm;
pub mod keepalived;
mod keepalived_vrrp;
pub mod tokenizer;

use anyhow::{bail, Context, Result};
use clap::Args;
use std::fmt::Write as _;
use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// `dataplane import`'s arguments.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// keepalived.conf; with --ipvsadm, the output of `ipvsadm-save -n` (`-`: standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Read `ipvsadm-save -n` output instead of a keepalived.conf.
    #[arg(long)]
    pub ipvsadm: bool,
    /// A config whose keys (eal, workers, ports, routes, ...) the result keeps; its `services`
    /// are replaced. Without it only `mode` and `services` are written.
    #[arg(short, long, value_name = "CONFIG")]
    pub template: Option<PathBuf>,
    /// Write the result here instead of to standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `dataplane import ...`: writes the config, lists what was not translated on stderr, and
/// checks the result when a template made it complete.
pub fn run(args: &ImportArgs) -> Result<()> {
    let source = args.file.display().to_string();
    let imported = if args.ipvsadm {
        let mut text = String::new();
        if source == "-" {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading standard input")?;
        } else {
            text = std::fs::read_to_string(&args.file)
                .with_context(|| format!("cannot read {source}"))?;
        }
        ipvsadm::translate(&text, if source == "-" { "stdin" } else { &source })
    } else {
        let mut notes = Notes::default();
        let stmts = tokenizer::parse_file(&args.file, &mut notes)
            .with_context(|| format!("cannot read {source}"))?;
        keepalived::translate(&stmts, notes)
    };
    let template = match &args.template {
        Some(t) => Some(
            std::fs::read_to_string(t)
                .with_context(|| format!("cannot read the template {}", t.display()))?,
        ),
        None => None,
    };
    let text =
        render(&imported, &source, template.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    match &args.output {
        Some(p) => {
            std::fs::write(p, &text).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => print!("{text}"),
    }
    for line in imported.notes.lines() {
        eprintln!("{line}");
    }
    eprintln!(
        "imported {} service(s), {} real(s); {} item(s) not translated or approximated (listed above)",
        imported.services.len(),
        imported.services.iter().map(|s| s.reals.len()).sum::<usize>(),
        imported.notes.len()
    );
    if template.is_some() {
        if let Err(e) = crate::config::load_str(&text) {
            bail!("the imported config does not pass `dataplane check`: {e}");
        }
    }
    Ok(())
}

/// What could not be translated (or was translated only approximately), with where it was
/// written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Notes(Vec<(String, String)>);

impl Notes {
    pub fn add(&mut self, at: &str, what: impl Into<String>) {
        self.0.push((at.to_string(), what.into()));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// `file:line: what`, one per note, in the order they were found.
    pub fn lines(&self) -> Vec<String> {
        self.0.iter().map(|(at, w)| format!("{at}: {w}")).collect()
    }
}

/// Our forwarding modes (ipvsadm's -m, -g, -i; keepalived's NAT, DR, TUN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forward {
    Nat,
    Dr,
    Tun,
}

impl Forward {
    fn name(self) -> &'static str {
        match self {
            Forward::Nat => "nat",
            Forward::Dr => "dr",
            Forward::Tun => "tun",
        }
    }
}

/// Schedulers both IPVS and this appliance have, under the same names.
pub const SCHEDULERS: &[&str] = &["rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh"];

/// The scheduler for an IPVS scheduler name; others are noted and become wlc (IPVS's default).
pub fn scheduler(name: &str, at: &str, notes: &mut Notes) -> String {
    let n = name.to_ascii_lowercase();
    if SCHEDULERS.contains(&n.as_str()) {
        n
    } else {
        notes.add(
            at,
            format!(
                "scheduler `{name}` is not supported (one of {}); wlc used",
                SCHEDULERS.join(", ")
            ),
        );
        "wlc".into()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum CheckKind {
    Tcp,
    Http { path: String, expect: u16 },
    Command(String),
}

/// A health check in our terms (docs/health.md); durations in milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub kind: CheckKind,
    pub port: Option<u16>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub rise: u32,
    pub fall: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Real {
    /// IPv4 or IPv6 (`[2001:db8:1::11]:80` in ipvsadm-save, a bare address in keepalived).
    pub ip: IpAddr,
    pub port: Option<u16>,
    pub weight: u32,
    /// Set when it differs from the service's.
    pub forward: Option<Forward>,
    pub check: Option<Check>,
    /// Connection thresholds (ipvsadm's -x/-y, keepalived's uthreshold/lthreshold); 0: unset.
    pub upper_threshold: u32,
    pub lower_threshold: u32,
}

impl Real {
    /// Notes and drops a lower threshold the kernel would refuse (above the upper one, or
    /// without one).
    pub fn check_thresholds(&mut self, at: &str, notes: &mut Notes) {
        if self.lower_threshold > self.upper_threshold {
            notes.add(
                at,
                format!(
                    "lower threshold {} above the upper one {} (IPVS refuses it); left out",
                    self.lower_threshold, self.upper_threshold
                ),
            );
            self.lower_threshold = 0;
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// Where it was defined (`file:line`), written as a comment above it.
    pub from: String,
    pub tcp: bool,
    pub vip: IpAddr,
    pub port: u16,
    pub scheduler: String,
    pub forward: Forward,
    /// (timeout in seconds, netmask)
    pub persistence: Option<(u64, Ipv4Addr)>,
    /// Set when every real has the same check.
    pub check: Option<Check>,
    pub reals: Vec<Real>,
}

impl Service {
    /// keepalived and ipvsadm have no service names; ours are made from what identifies one.
    pub fn name(&self) -> String {
        format!(
            "{}-{}-{}",
            if self.tcp { "tcp" } else { "udp" },
            self.vip,
            self.port
        )
    }

    /// Moves a check that all reals share up to the service; drops real ports the service
    /// implies (DR and TUN cannot change the port; a port-0 service has none).
    pub fn tidy(&mut self) {
        let first = self.reals.first().and_then(|r| r.check.clone());
        if first.is_some() && self.reals.iter().all(|r| r.check == first) {
            self.check = first;
            for r in &mut self.reals {
                r.check = None;
            }
        }
        for r in &mut self.reals {
            if r.forward == Some(self.forward) {
                r.forward = None;
            }
            let mode = r.forward.unwrap_or(self.forward);
            if r.port == Some(self.port) || self.port == 0 || mode != Forward::Nat {
                r.port = None;
            }
        }
    }
}

/// The result of reading a keepalived.conf or an ipvsadm-save dump.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Imported {
    pub services: Vec<Service>,
    pub notes: Notes,
    /// The `vrrp:` section (keepalived's first vrrp_instance), as YAML.
    pub vrrp: Option<String>,
}

fn dur(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A YAML scalar for a free-form string: JSON's quoting is valid YAML.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn check_yaml(c: &Check) -> String {
    let mut o = String::from("{");
    match &c.kind {
        CheckKind::Tcp => o.push_str("type: tcp"),
        CheckKind::Http { path, expect } => {
            let _ = write!(o, "type: http, path: {}, expect: {expect}", quoted(path));
        }
        CheckKind::Command(cmd) => {
            let _ = write!(o, "type: command, command: {}", quoted(cmd));
        }
    }
    if let Some(p) = c.port {
        let _ = write!(o, ", port: {p}");
    }
    let _ = write!(
        o,
        ", interval: {}, timeout: {}, rise: {}, fall: {}}}",
        dur(c.interval_ms),
        dur(c.timeout_ms),
        c.rise,
        c.fall
    );
    o
}

/// `mode: lb` and the `services:` list, in our YAML.
pub fn services_yaml(services: &[Service]) -> String {
    let mut o = String::from("mode: lb\nservices:\n");
    if services.is_empty() {
        o = String::from("mode: lb\nservices: []\n");
    }
    for s in services {
        let _ = writeln!(o, "  # from {}", s.from);
        let _ = writeln!(o, "  - name: {}", s.name());
        let _ = writeln!(o, "    vip: {}", s.vip);
        let _ = writeln!(o, "    port: {}", s.port);
        let _ = writeln!(o, "    protocol: {}", if s.tcp { "tcp" } else { "udp" });
        let _ = writeln!(o, "    scheduler: {}", s.scheduler);
        let _ = writeln!(o, "    forward: {}", s.forward.name());
        if let Some((t, mask)) = s.persistence {
            let _ = writeln!(o, "    persistence: {{timeout: {t}s, netmask: {mask}}}");
        }
        if let Some(c) = &s.check {
            let _ = writeln!(o, "    health_check: {}", check_yaml(c));
        }
        if s.reals.is_empty() {
            o.push_str("    reals: []\n");
            continue;
        }
        o.push_str("    reals:\n");
        for r in &s.reals {
            let _ = write!(o, "      - {{ip: {}", r.ip);
            if let Some(p) = r.port {
                let _ = write!(o, ", port: {p}");
            }
            let _ = write!(o, ", weight: {}", r.weight);
            if let Some(f) = r.forward {
                let _ = write!(o, ", forward: {}", f.name());
            }
            if r.upper_threshold > 0 {
                let _ = write!(o, ", upper_threshold: {}", r.upper_threshold);
            }
            if r.lower_threshold > 0 {
                let _ = write!(o, ", lower_threshold: {}", r.lower_threshold);
            }
            if let Some(c) = &r.check {
                let _ = write!(o, ", health_check: {}", check_yaml(c));
            }
            o.push_str("}\n");
        }
    }
    o
}

/// The whole config: the template's keys (all but `mode` and `services`), then ours. Without a
/// template, only `mode` and `services` (a fragment to add to a config).
pub fn render(imported: &Imported, source: &str, template: Option<&str>) -> Result<String, String> {
    let mut o = format!("# Imported by `dataplane import` from {source}.\n");
    if let Some(t) = template {
        let mut v: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(t).map_err(|e| format!("the template is not YAML: {e}"))?;
        let map = v
            .as_mapping_mut()
            .ok_or("the template is not a YAML mapping (a config file)")?;
        map.shift_remove("mode");
        map.shift_remove("services");
        if imported.vrrp.is_some() {
            map.shift_remove("vrrp");
        }
        if !map.is_empty() {
            o.push_str(&serde_yaml_ng::to_string(&v).map_err(|e| format!("the template: {e}"))?);
        }
    } else {
        o.push_str(
            "# Services only: add eal, workers and ports (or import with --template CONFIG).\n",
        );
    }
    o.push_str(&services_yaml(&imported.services));
    if let Some(v) = &imported.vrrp {
        o.push_str(v);
    }
    Ok(o)
}

/// Seconds as keepalived writes them (`6`, `2.5`), in milliseconds.
pub fn secs_ms(s: &str) -> Option<u64> {
    let v: f64 = s.parse().ok()?;
    (0.0..1e9).contains(&v).then(|| (v * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> Service {
        let check = Check {
            kind: CheckKind::Http {
                path: "/health \"x\"".into(),
                expect: 200,
            },
            port: None,
            interval_ms: 6000,
            timeout_ms: 2500,
            rise: 1,
            fall: 3,
        };
        Service {
            from: "k.conf:3".into(),
            tcp: true,
            vip: "192.0.2.10".parse().unwrap(),
            port: 80,
            scheduler: "wlc".into(),
            forward: Forward::Nat,
            persistence: Some((360, "255.255.255.0".parse().unwrap())),
            check: None,
            reals: vec![
                Real {
                    ip: "198.51.100.1".parse().unwrap(),
                    port: Some(80),
                    weight: 2,
                    forward: Some(Forward::Nat),
                    check: Some(check.clone()),
                    upper_threshold: 0,
                    lower_threshold: 0,
                },
                Real {
                    ip: "198.51.100.2".parse().unwrap(),
                    port: Some(8080),
                    weight: 1,
                    forward: None,
                    check: Some(check),
                    upper_threshold: 0,
                    lower_threshold: 0,
                },
            ],
        }
    }

    #[test]
    fn tidy_hoists_the_shared_check_and_the_implied_ports() {
        let mut s = svc();
        s.tidy();
        assert!(s.check.is_some());
        assert!(s
            .reals
            .iter()
            .all(|r| r.check.is_none() && r.forward.is_none()));
        assert_eq!(s.reals[0].port, None);
        assert_eq!(s.reals[1].port, Some(8080));
        let yaml = services_yaml(&[s]);
        assert_eq!(
            yaml,
            "mode: lb\nservices:\n  # from k.conf:3\n  - name: tcp-192.0.2.10-80\n    vip: 192.0.2.10\n    port: 80\n    protocol: tcp\n    scheduler: wlc\n    forward: nat\n    persistence: {timeout: 360s, netmask: 255.255.255.0}\n    health_check: {type: http, path: \"/health \\\"x\\\"\", expect: 200, interval: 6s, timeout: 2500ms, rise: 1, fall: 3}\n    reals:\n      - {ip: 198.51.100.1, weight: 2}\n      - {ip: 198.51.100.2, port: 8080, weight: 1}\n"
        );
        // And it is YAML that says what we meant.
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(
            v["services"][0]["health_check"]["path"].as_str(),
            Some("/health \"x\"")
        );
    }

    #[test]
    fn different_checks_stay_on_the_reals_and_dr_drops_ports() {
        let mut s = svc();
        s.forward = Forward::Dr;
        s.reals[1].check = None;
        s.tidy();
        assert!(s.check.is_none());
        assert!(s.reals[0].check.is_some());
        assert_eq!(s.reals[0].forward, Some(Forward::Nat));
        assert_eq!(s.reals[0].port, None, "same port as the service");
        assert_eq!(s.reals[1].port, None, "DR cannot change the port");
    }

    #[test]
    fn template_keys_are_kept_and_services_replaced() {
        let t = "eal: {lcores: \"0-1\"}\nmode: l2fwd\nservices: [{name: old}]\nports: []\n";
        let out = render(&Imported::default(), "x.conf", Some(t)).unwrap();
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
        assert_eq!(v["mode"].as_str(), Some("lb"));
        assert_eq!(v["eal"]["lcores"].as_str(), Some("0-1"));
        assert_eq!(v["services"].as_sequence().map(|s| s.len()), Some(0));
        assert!(render(&Imported::default(), "x", Some("- a\n")).is_err());
        assert!(render(&Imported::default(), "x", Some("{")).is_err());
    }

    #[test]
    fn keepalived_seconds() {
        assert_eq!(secs_ms("6"), Some(6000));
        assert_eq!(secs_ms("2.5"), Some(2500));
        assert_eq!(secs_ms("x"), None);
        assert_eq!(secs_ms("-1"), None);
    }
}
