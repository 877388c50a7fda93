//! The GoBGP CLI as the announcer uses it: `gobgp -u HOST -p PORT global rib add|del -a ipv4
//! VIP/32 nexthop NH` and `gobgp ... global rib -a ipv4 -j` (the daemon's RIB as JSON, read to
//! re-assert routes a restarted daemon has forgotten). Each call is a process run with a
//! deadline; it runs on the announcer's thread, never on the management tick.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A CLI call that has not finished by then is killed and counted as an error (the CLI's own
/// gRPC deadline for an absent daemon is shorter).
const CLI_DEADLINE: Duration = Duration::from_secs(10);
/// How often a running CLI is polled for its exit.
const CLI_POLL: Duration = Duration::from_millis(5);
/// Most bytes of a CLI's output kept (a RIB of many VIPs is a few hundred bytes each).
const MAX_OUTPUT: u64 = 16 << 20;

/// How to reach the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cli {
    pub program: PathBuf,
    pub api: SocketAddr,
}

impl Cli {
    /// Adds (or replaces) the route of `vip`/32 via `next_hop` in the daemon's global RIB.
    pub fn add(&self, vip: Ipv4Addr, next_hop: Ipv4Addr) -> Result<(), String> {
        self.run(&rib_args("add", vip, next_hop)).map(drop)
    }

    /// Withdraws the route of `vip`/32 (deleting an absent route is not an error to GoBGP).
    pub fn del(&self, vip: Ipv4Addr, next_hop: Ipv4Addr) -> Result<(), String> {
        self.run(&rib_args("del", vip, next_hop)).map(drop)
    }

    /// The IPv4 /32 routes in the daemon's global RIB: prefix -> next hop.
    pub fn rib(&self) -> Result<BTreeMap<Ipv4Addr, Ipv4Addr>, String> {
        let out = self.run(&["global", "rib", "-a", "ipv4", "-j"].map(String::from))?;
        parse_rib(&out)
    }

    fn run(&self, args: &[String]) -> Result<String, String> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("-u")
            .arg(self.api.ip().to_string())
            .arg("-p")
            .arg(self.api.port().to_string())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = format!("{} {}", self.program.display(), args.join(" "));
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{shown}: cannot run: {e}"))?;
        // Read both pipes on their own threads so a large output cannot stall the child.
        let reader = |p: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                if let Some(p) = p {
                    let _ = p.take(MAX_OUTPUT).read_to_string(&mut s);
                }
                s
            })
        };
        let out = reader(child.stdout.take().map(|p| Box::new(p) as _));
        let err = reader(child.stderr.take().map(|p| Box::new(p) as _));
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Ok(s),
                Ok(None) if start.elapsed() > CLI_DEADLINE => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!(
                        "{shown}: no answer within {CLI_DEADLINE:?}; killed"
                    ));
                }
                Ok(None) => std::thread::sleep(CLI_POLL),
                Err(e) => break Err(format!("{shown}: {e}")),
            }
        };
        let out = out.join().unwrap_or_default();
        let err = err.join().unwrap_or_default();
        let status = status?;
        if status.success() {
            return Ok(out);
        }
        let said = format!("{} {}", out.trim(), err.trim());
        match said.trim() {
            "" => Err(format!("{shown}: {status}")),
            said => Err(format!("{shown}: {status}: {said}")),
        }
    }
}

fn rib_args(verb: &str, vip: Ipv4Addr, next_hop: Ipv4Addr) -> [String; 8] {
    [
        "global".into(),
        "rib".into(),
        verb.into(),
        "-a".into(),
        "ipv4".into(),
        format!("{vip}/32"),
        "nexthop".into(),
        next_hop.to_string(),
    ]
}

/// `gobgp global rib -a ipv4 -j`: `{"PREFIX": [{"nlri": {...}, "attrs": [{"type": 3,
/// "nexthop": "NH"}, ...], "best": true, ...}, ...], ...}` (an empty RIB prints `{}` or
/// nothing). Keeps the /32s, each with the next hop of its best path (or its first).
pub fn parse_rib(text: &str) -> Result<BTreeMap<Ipv4Addr, Ipv4Addr>, String> {
    let text = text.trim();
    if text.is_empty() || text == "null" {
        return Ok(BTreeMap::new());
    }
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("gobgp's RIB is not JSON: {e}"))?;
    let map = v
        .as_object()
        .ok_or("gobgp's RIB is not a JSON object of prefixes")?;
    let mut out = BTreeMap::new();
    for (prefix, paths) in map {
        let Some(addr) = prefix.strip_suffix("/32") else {
            continue;
        };
        let Ok(vip) = addr.parse::<Ipv4Addr>() else {
            continue;
        };
        let paths = paths.as_array().map(Vec::as_slice).unwrap_or_default();
        let best = paths
            .iter()
            .find(|p| p.get("best").and_then(|b| b.as_bool()) == Some(true))
            .or_else(|| paths.first());
        let nh = best
            .and_then(|p| p.get("attrs"))
            .and_then(|a| a.as_array())
            .and_then(|attrs| {
                attrs
                    .iter()
                    .find_map(|a| a.get("nexthop").and_then(|n| n.as_str()))
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        out.insert(vip, nh);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As printed by gobgp 3.10 (two routes added by `global rib add`, and another prefix).
    const RIB: &str = r#"{"198.18.1.10/32":[{"nlri":{"prefix":"198.18.1.10/32"},"age":1796019725,"best":true,"attrs":[{"type":1,"value":2},{"type":3,"nexthop":"198.18.0.1"}],"stale":false}],"198.18.1.11/32":[{"nlri":{"prefix":"198.18.1.11/32"},"age":1796019725,"best":true,"attrs":[{"type":1,"value":2},{"type":3,"nexthop":"198.18.0.2"}],"stale":false}],"203.0.113.0/24":[{"nlri":{"prefix":"203.0.113.0/24"},"best":true,"attrs":[{"type":3,"nexthop":"198.18.0.1"}]}]}"#;

    #[test]
    fn parses_the_ribs_host_routes_with_next_hops() {
        let r = parse_rib(RIB).unwrap();
        let got: Vec<(String, String)> = r
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("198.18.1.10".into(), "198.18.0.1".into()),
                ("198.18.1.11".into(), "198.18.0.2".into()),
            ]
        );
        assert!(parse_rib("{}").unwrap().is_empty());
        assert!(parse_rib("\n").unwrap().is_empty());
        assert!(parse_rib("[1]").unwrap_err().contains("not a JSON object"));
        assert!(parse_rib("{oops").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn a_missing_cli_is_an_error_naming_it() {
        let c = Cli {
            program: "/nonexistent/gobgp".into(),
            api: "127.0.0.1:50051".parse().unwrap(),
        };
        let e = c.rib().unwrap_err();
        assert!(
            e.starts_with("/nonexistent/gobgp global rib -a ipv4 -j: cannot run"),
            "{e}"
        );
    }

    #[test]
    fn a_failing_cli_reports_its_status_and_output() {
        // `false` stands in for a CLI that exits non-zero.
        let c = Cli {
            program: "false".into(),
            api: "127.0.0.1:50051".parse().unwrap(),
        };
        let e = c
            .add(
                "198.18.0.100".parse().unwrap(),
                "198.18.0.1".parse().unwrap(),
            )
            .unwrap_err();
        assert_eq!(
            e,
            "false global rib add -a ipv4 198.18.0.100/32 nexthop 198.18.0.1: exit status: 1"
        );
    }
}
