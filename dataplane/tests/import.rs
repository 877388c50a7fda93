//! `dataplane import` through the real binary: keepalived.conf files shaped like real ones
//! (tests/data/keepalived: comments, includes, NAT, DR, TUN, MISC_CHECK, HTTP_GET with several
//! urls) and ipvsadm-save dumps become configs that `dataplane check` accepts; what cannot be
//! translated is listed on stderr with its file and line.
mod common;
use common::*;
use serde_yaml_ng::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// stderr's note lines with the data directory left out of the paths, without the summary.
fn notes(stderr: &str) -> Vec<String> {
    let dir = format!("{}/tests/data/", env!("CARGO_MANIFEST_DIR"));
    stderr
        .lines()
        .filter(|l| !l.starts_with("imported "))
        .map(|l| l.replace(&dir, ""))
        .collect()
}

/// Imports with the template into a file, then runs `dataplane check` on it: (notes, the
/// checked config, the import's stderr summary line).
fn import_and_check(args: &[&str]) -> (Vec<String>, Value, String) {
    let d = TestDir::new();
    let out = d.path("lb.yaml");
    let template = data("keepalived/template.yaml");
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "--template",
        template.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let imp = run(&all, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&imp.stderr).into_owned();
    assert!(imp.status.success(), "import {args:?} failed: {stderr}");
    assert!(imp.stdout.is_empty(), "-o writes the file, not stdout");
    let chk = run(
        &["check", "--config", out.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert!(
        chk.status.success(),
        "check refused the import: {}\n{}",
        String::from_utf8_lossy(&chk.stderr),
        std::fs::read_to_string(&out).unwrap()
    );
    let cfg: Value = serde_yaml_ng::from_slice(&chk.stdout).expect("check prints YAML");
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("imported "))
        .unwrap_or("")
        .to_string();
    (notes(&stderr), cfg, summary)
}

/// Each service as `name scheduler forward [persist] [check]` and its reals as `ip:port/weight`.
fn services(cfg: &Value) -> Vec<String> {
    cfg["services"]
        .as_sequence()
        .expect("services")
        .iter()
        .map(|s| {
            let mut line = format!(
                "{} {} {}",
                s["name"].as_str().unwrap(),
                s["scheduler"].as_str().unwrap(),
                s["forward"].as_str().unwrap()
            );
            if let Some(p) = s["persistence"].as_mapping() {
                line += &format!(
                    " persist={}/{}",
                    p["timeout"].as_str().unwrap(),
                    p["netmask"].as_str().unwrap()
                );
            }
            if let Some(c) = s["health_check"].as_mapping() {
                line += &format!(" check={}", check(c));
            }
            for r in s["reals"].as_sequence().unwrap() {
                line += &format!(
                    " {}:{}/{}",
                    r["ip"].as_str().unwrap(),
                    r["port"]
                        .as_u64()
                        .map(|p| p.to_string())
                        .unwrap_or("-".into()),
                    r["weight"].as_u64().unwrap()
                );
                if let Some(f) = r["forward"].as_str() {
                    line += &format!("/{f}");
                }
                if let Some(c) = r["health_check"].as_mapping() {
                    line += &format!("[{}]", check(c));
                }
            }
            line
        })
        .collect()
}

fn check(c: &serde_yaml_ng::Mapping) -> String {
    let s = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or("-").to_string();
    let n = |k: &str| {
        c.get(k)
            .and_then(|v| v.as_u64())
            .map(|v| v.to_string())
            .unwrap_or("-".into())
    };
    let what = match s("type").as_str() {
        "http" => format!("http:{}:{}", s("path"), n("expect")),
        "command" => format!("command:{}", s("command")),
        t => t.to_string(),
    };
    format!(
        "{what}:port={}:{}/{}:rise={}:fall={}",
        n("port"),
        s("interval"),
        s("timeout"),
        n("rise"),
        n("fall")
    )
}

#[test]
fn keepalived_nat_with_comments_and_includes() {
    let (notes, cfg, summary) = import_and_check(&[data("keepalived/nat.conf").to_str().unwrap()]);
    assert_eq!(
        notes,
        [
            "keepalived/nat.conf:4: not translated: global_defs",
            "keepalived/nat.conf:26: approximated: delay_before_retry 3 (a failed check is retried at the next interval; fall = retry + 1)",
            "keepalived/nat.conf:34: approximated: delay_before_retry 3 (a failed check is retried at the next interval; fall = retry + 1)",
        ]
    );
    assert_eq!(
        summary,
        "imported 3 service(s), 6 real(s); 3 item(s) not translated or approximated (listed above)"
    );
    assert_eq!(
        services(&cfg),
        [
            "tcp-192.0.2.100-80 wrr nat persist=360s/255.255.255.0 check=tcp:port=-:6s/3s:rise=1:fall=3 198.51.100.11:-/3 198.51.100.12:-/1",
            "udp-192.0.2.100-53 rr nat 198.51.100.11:-/1[command:/usr/lib/nagios/plugins/check_dns -H example.org -s 198.51.100.11:port=-:10s/4s:rise=1:fall=2] 198.51.100.12:5353/2[command:/usr/lib/nagios/plugins/check_dns -H example.org -s 198.51.100.12 -p 5353:port=-:10s/4s:rise=1:fall=2]",
            "tcp-192.0.2.101-25 lc nat 198.51.100.13:-/1 198.51.100.14:-/1",
        ]
    );
    // The template's keys are kept.
    assert_eq!(cfg["ports"][1]["ip"].as_str(), Some("198.51.100.1/24"));
    assert_eq!(cfg["mode"].as_str(), Some("lb"));
}

#[test]
fn keepalived_dr_with_vrrp_http_urls_and_groups() {
    let (notes, cfg, _) = import_and_check(&[data("keepalived/dr.conf").to_str().unwrap()]);
    assert_eq!(
        notes,
        [
            "keepalived/dr.conf:3: not translated: state MASTER (every node starts as backup; the priority decides)",
            "keepalived/dr.conf:4: not translated: interface eth0 (set vrrp.port to the port on that segment; default: the first port with an address)",
            "keepalived/dr.conf:8: not translated: authentication (VRRPv3 has none)",
            "keepalived/dr.conf:22: not translated: sorry_server 198.51.100.99 80 (no sorry server; a service without an available real drops new connections)",
            "keepalived/dr.conf:31: not translated: a further url block (an http check has one path; the first is used)",
            "keepalived/dr.conf:37: approximated: delay_before_retry 1 (a failed check is retried at the next interval; fall = retry + 1)",
            "keepalived/dr.conf:59: not translated: SSL_GET (tcp, http and command checks exist; a MISC_CHECK script can replace it)",
            "keepalived/dr.conf:64: approximated: a 5s timeout within a 5s interval cannot finish in time; timeout 2500ms used",
            "keepalived/dr.conf:68: not translated: virtual_server_group WEB_GROUP (virtual server groups are not supported)",
            "keepalived/dr.conf:72: not translated: virtual_server group WEB_GROUP (virtual server groups are not supported)",
        ]
    );
    assert_eq!(
        services(&cfg),
        [
            "tcp-192.0.2.200-80 wlc dr check=http:/healthz:200:port=-:5s/2s:rise=1:fall=4 198.51.100.21:-/10 198.51.100.22:-/10",
            "tcp-192.0.2.200-443 sh dr persist=600s/255.255.255.255 198.51.100.21:-/1 198.51.100.22:-/1[tcp:port=-:5s/2500ms:rise=1:fall=2]",
        ]
    );
    // The vrrp_instance is the vrrp section (its one address is the services' VIP).
    let v = &cfg["vrrp"];
    assert_eq!(v["vrid"].as_u64(), Some(51), "{v:?}");
    assert_eq!(v["priority"].as_u64(), Some(150));
    assert_eq!(v["advert_interval"].as_str(), Some("1s"));
    assert_eq!(v["preempt"].as_bool(), Some(true));
    assert_eq!(v["floating"].as_sequence().map(|s| s.len()), Some(0));
}

#[test]
fn keepalived_tun_misc_check_and_a_port_zero_service() {
    let (notes, cfg, _) = import_and_check(&[data("keepalived/tun.conf").to_str().unwrap()]);
    assert_eq!(
        notes,
        [
            "keepalived/tun.conf:4: scheduler `lblcr` is not supported (one of rr, wrr, lc, wlc, sed, nq, sh, dh, mh); wlc used",
            "keepalived/tun.conf:12: not translated: misc_dynamic in MISC_CHECK",
            "keepalived/tun.conf:37: not translated: TCP_CHECK on a port-0 service needs connect_port (no check)",
        ]
    );
    assert_eq!(
        services(&cfg),
        [
            "tcp-192.0.2.150-8080 wlc tun 203.0.113.31:-/5[command:/etc/keepalived/check_app.sh 203.0.113.31 8080:port=-:3s/2s:rise=1:fall=2] 203.0.113.32:-/5[command:/etc/keepalived/check_app.sh 203.0.113.32 8080:port=-:3s/2s:rise=1:fall=2]",
            "tcp-192.0.2.151-0 wlc tun persist=900s/255.255.255.255 203.0.113.33:-/1[tcp:port=22:60s/2s:rise=1:fall=2] 203.0.113.34:-/1",
        ]
    );
}

#[test]
fn ipvsadm_save_from_a_file_and_from_stdin() {
    let file = data("ipvsadm/rules.save");
    let (notes, cfg, _) = import_and_check(&["--ipvsadm", file.to_str().unwrap()]);
    assert_eq!(
        notes,
        [
            "ipvsadm/rules.save:10: scheduler `lblc` is not supported (one of rr, wrr, lc, wlc, sed, nq, sh, dh, mh); wlc used",
            "ipvsadm/rules.save:12: not translated: -f 7 (TCP and UDP services are supported)",
            "ipvsadm/rules.save:13: not translated: -f 7 (TCP and UDP services are supported)",
        ]
    );
    let want = [
        "tcp-192.0.2.100-80 wrr nat persist=360s/255.255.255.0 198.51.100.11:-/3 198.51.100.12:8080/1",
        "udp-192.0.2.100-53 rr nat 198.51.100.11:-/1 198.51.100.12:-/1",
        "tcp-192.0.2.200-80 wlc dr 198.51.100.21:-/10 198.51.100.22:-/10",
        "tcp-192.0.2.150-8080 wlc tun 203.0.113.31:-/5",
    ];
    assert_eq!(services(&cfg), want);
    // Line 9's -x/-y are that real's thresholds, and the result passed `dataplane check`.
    let dr = cfg["services"]
        .as_sequence()
        .and_then(|s| {
            s.iter()
                .find(|s| s["name"].as_str() == Some("tcp-192.0.2.200-80"))
        })
        .expect("the DR service");
    let real = &dr["reals"][1];
    assert_eq!(real["ip"].as_str(), Some("198.51.100.22"));
    assert_eq!(
        (
            real["upper_threshold"].as_u64(),
            real["lower_threshold"].as_u64()
        ),
        (Some(1000), Some(100))
    );

    // `-` reads standard input; without a template only mode and services are written.
    let mut child = Command::new(bin())
        .args(["import", "--ipvsadm", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dataplane import");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&file).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .next()
            .unwrap()
            .starts_with("stdin:10: scheduler `lblc` is not supported"),
        "{stderr}"
    );
    let v: Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = v
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(keys, ["mode", "services"]);
    assert_eq!(services(&v), want);
}

#[test]
fn an_import_that_does_not_pass_check_is_an_error_naming_the_key() {
    let d = TestDir::new();
    // Ports that do not reach the reals.
    let t = d.write(
        "t.yaml",
        "eal: {lcores: \"0-1\"}\nworkers: {cores: [1]}\nports:\n  - {name: ext, device: net_null0, ip: 198.18.0.1/24}\n",
    );
    let out = run(
        &[
            "import",
            data("keepalived/nat.conf").to_str().unwrap(),
            "--template",
            t.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap();
    assert_eq!(
        last,
        "error: the imported config does not pass `dataplane check`: services[0].reals[0].ip: 198.51.100.11 is not reachable: no port subnet or route covers it"
    );
    let out = run(
        &["import", "/nonexistent/keepalived.conf"],
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("error: cannot read /nonexistent/keepalived.conf"));
}
