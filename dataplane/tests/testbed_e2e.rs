//! End to end on the namespace testbed (scripts/testbed): a real kernel client (curl, ping,
//! python sockets) talks to the VIP, real kernel servers answer, and the appliance in between
//! runs on net_af_packet ports, in NAT, DR and TUN mode, with one and two workers.
//! These tests share the dpt-* namespaces, so nextest runs them one at a time (test group).
mod common;
mod testbed_ctl;
mod testbed_synflood;
use common::testbed::*;
use common::*;
use std::process::Command;
use std::time::Duration;

const REAL1_W3: (&str, &str) = (
    "- {ip: 198.19.0.11, weight: 1}",
    "- {ip: 198.19.0.11, weight: 3}",
);

fn established_on(real: &str, port: u16) -> usize {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("dpt-{real}"),
            "ss",
            "-Htn",
            "state",
            "established",
        ])
        .arg(format!("( sport = :{port} )"))
        .output()
        .expect("ss");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// wrr 3:1 over 40 requests while a long-lived connection carries data both ways; UDP; ping.
fn weighted(mode: &str, two_workers: bool) {
    weighted_with(mode, two_workers, &[]);
}

fn weighted_with(mode: &str, two_workers: bool, more: &[(&str, &str)]) {
    let _tb = Testbed::up(mode);
    let d = TestDir::new();
    let mut edits = vec![REAL1_W3];
    edits.extend_from_slice(more);
    if two_workers {
        edits.extend(TWO_WORKERS);
    }
    let (mut app, _) = start_appliance(&d, &config_from(&format!("{mode}.yaml"), &edits));
    let echo = start_echo_session(4);
    let t = tally(40);
    finish_echo_session(echo);
    let (r1, r2) = (
        t.get("real1").copied().unwrap_or(0),
        t.get("real2").copied().unwrap_or(0),
    );
    assert_eq!(
        r1 + r2,
        40,
        "every request answered by real1 or real2: {t:?}"
    );
    if two_workers {
        // Each worker keeps its own wrr position: the split is 3:1 per worker, about 3:1 overall.
        assert!((26..=34).contains(&r1), "wrr 3:1 with two workers: {t:?}");
    } else {
        assert_eq!(
            (r1, r2),
            (30, 10),
            "wrr 3:1 is exact over whole rounds: {t:?}"
        );
    }
    let reply = udp_query("hello").expect("UDP service answers");
    assert!(
        reply.starts_with("real") && reply.ends_with("hello"),
        "{reply}"
    );
    assert!(ping_vip(), "ping to the VIP");
    let (code, _, summary) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
    println!(
        "{mode}, {} worker(s):\n{summary}",
        if two_workers { 2 } else { 1 }
    );
}

#[test]
fn nat_one_worker() {
    weighted("nat", false);
}

#[test]
fn nat_one_worker_af_xdp() {
    // The same on AF_XDP sockets (generic XDP on the veths) instead of AF_PACKET.
    weighted_with(
        "nat",
        false,
        &[
            ("net_af_packet0,iface=lb-ext", "net_af_xdp0,iface=lb-ext"),
            ("net_af_packet1,iface=lb-int", "net_af_xdp1,iface=lb-int"),
        ],
    );
}

#[test]
fn nat_two_workers() {
    weighted("nat", true);
}

#[test]
fn nat_two_workers_two_queues() {
    // af_packet with two queue pairs spreads flows over both workers by hash (PACKET_FANOUT);
    // what lands on the wrong worker is handed over.
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let mut edits = vec![
        REAL1_W3,
        ("iface=lb-ext\"", "iface=lb-ext,qpairs=2\""),
        ("iface=lb-int\"", "iface=lb-int,qpairs=2\""),
    ];
    edits.extend(TWO_WORKERS);
    let (mut app, _) = start_appliance(&d, &config_from("nat.yaml", &edits));
    let echo = start_echo_session(3);
    let t = tally(40);
    finish_echo_session(echo);
    assert_eq!(t.get("none"), None, "every request answered: {t:?}");
    let (code, _, summary) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
    assert!(
        app.stderr().contains("queues=2"),
        "two queues per port:\n{}",
        app.stderr()
    );
    let w1 = summary
        .lines()
        .find(|l| l.starts_with("worker 1 "))
        .unwrap_or_default();
    assert!(
        w1.contains(": rx ") && !w1.contains(": rx 0,"),
        "worker 1 receives from its own queues: {w1}"
    );
    println!("{summary}");
}

#[test]
fn dr_one_worker() {
    weighted("dr", false);
}

#[test]
fn dr_two_workers() {
    weighted("dr", true);
}

#[test]
fn tun_one_worker() {
    weighted("tun", false);
}

#[test]
fn tun_two_workers() {
    weighted("tun", true);
}

#[test]
fn persistence_keeps_a_client_on_one_real_across_workers() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let mut edits = vec![(
        "  - name: web\n",
        "  - name: web\n    persistence: {timeout: 360s}\n",
    )];
    edits.extend(TWO_WORKERS);
    let (mut app, _) = start_appliance(&d, &config_from("nat.yaml", &edits));
    for client in ["198.18.0.2", "198.18.0.3"] {
        let answers: Vec<String> = (0..12)
            .map(|_| curl_from(client).unwrap_or_default())
            .collect();
        assert!(answers[0].starts_with("real"), "{answers:?}");
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "{client} moved between reals: {answers:?}"
        );
    }
    let (code, _, _) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0));
}

#[test]
fn weight_zero_by_reload_quiesces_a_real_and_a_broken_reload_changes_nothing() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let (mut app, cfg) = start_appliance(&d, &config_from("nat.yaml", &[]));
    // The echo service's first connection goes to real1 (rr starts at the first real).
    let echo = start_echo_session(5);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        established_on("real1", 7),
        1,
        "the long-lived connection is on real1"
    );
    // Quiesce real1 in every service.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "{ip: 198.19.0.11, weight: 1}",
            "{ip: 198.19.0.11, weight: 0}",
        )
        .replace("- {ip: 198.19.0.11}", "- {ip: 198.19.0.11, weight: 0}"),
    )
    .unwrap();
    let hup = |pid: u32| {
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
    };
    hup(app.pid());
    app.wait_for_log("reload applied", Duration::from_secs(5));
    let t = tally(10);
    assert_eq!(
        t.get("real2"),
        Some(&10),
        "no new connection reaches a weight-0 real: {t:?}"
    );
    assert_eq!(
        established_on("real1", 7),
        1,
        "its existing connection lives on"
    );
    finish_echo_session(echo);
    // A broken file is refused and the running config stays.
    std::fs::write(&cfg, "eal: {lcores: \"0-1\"\nservices: [oops").unwrap();
    hup(app.pid());
    app.wait_for_log("reload refused", Duration::from_secs(5));
    assert_eq!(curl().as_deref(), Some("real2"));
    let (code, _, _) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0));
}

/// An http health check takes real2 out when its servers stop (no request reaches it, none
/// fails) and brings it back after `rise` good checks when they start again.
#[test]
fn http_health_check_takes_a_stopped_real_out_and_back() {
    let tb = Testbed::up("nat");
    let d = TestDir::new();
    // configs/nat.yaml checks every 2 s; this test wants it quicker.
    let check =
        "    health_check: {type: http, interval: 500ms, timeout: 300ms, rise: 2, fall: 2}\n";
    let shipped = "    health_check: {type: http, path: /, expect: 200, interval: 2s, timeout: 1s, rise: 2, fall: 3}\n";
    let yaml = config_from("nat.yaml", &[(shipped, check)]);
    let (mut app, _) = start_appliance(&d, &yaml);
    let t = tally(4);
    assert_eq!(
        (t.get("real1"), t.get("real2")),
        (Some(&2), Some(&2)),
        "both reals serve at first: {t:?}"
    );
    let down = "real 198.19.0.12:80 of web down:";
    let up = "real 198.19.0.12:80 of web up:";
    assert!(!app.stderr().contains(down), "{}", app.stderr());

    tb.server("stop", "real2");
    let stopped = std::time::Instant::now();
    // fall x interval, plus one timeout and a margin for the exception path.
    app.wait_for_log(down, Duration::from_millis(2 * 500 + 300 + 1200));
    println!("marked down {:?} after the stop", stopped.elapsed());
    let t = tally(10);
    assert_eq!(
        t.get("real1"),
        Some(&10),
        "a down real gets no new connections: {t:?}"
    );

    tb.server("start", "real2");
    let started = std::time::Instant::now();
    app.wait_for_log(up, Duration::from_millis(2 * 500 + 300 + 1500));
    println!("back up {:?} after the start", started.elapsed());
    let t = tally(10);
    assert_eq!(
        (t.get("real1"), t.get("real2")),
        (Some(&5), Some(&5)),
        "real2 takes requests again: {t:?}"
    );
    let log = app.stderr();
    for line in log.lines().filter(|l| l.contains("198.19.0.12:80 of web")) {
        println!("{line}");
    }
    assert_eq!(log.matches(down).count(), 1, "{log}");
    assert_eq!(log.matches(up).count(), 1, "{log}");
    assert!(
        !log.contains("198.19.0.11:80 of web down"),
        "real1 stays up: {log}"
    );
    let (code, _, _) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", app.stderr());
}

/// What is addressed to the appliance itself and not handled by the workers reaches the kernel
/// through the exception interface (dp-ext carries 198.18.0.1), and the kernel's answers leave
/// by the port: a TCP server in the appliance's namespace is reachable from the client.
#[test]
fn exception_path_carries_the_kernels_own_traffic() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let (mut app, _) = start_appliance(&d, &config_from("nat.yaml", &[]));
    std::fs::write(d.path("index.html"), "served by the appliance's kernel\n").unwrap();
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            "dpt-lb",
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            "198.18.0.1",
            "--directory",
        ])
        .arg(d.path(""))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("http.server");
    let mut body = String::new();
    for _ in 0..50 {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                "dpt-client",
                "curl",
                "-s",
                "--max-time",
                "2",
                "http://198.18.0.1:8080/index.html",
            ])
            .output()
            .unwrap();
        body = String::from_utf8_lossy(&out.stdout).to_string();
        if !body.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(body.trim(), "served by the appliance's kernel");
    let (code, _, summary) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0));
    // The request went worker -> management thread -> kernel, the reply back the same way.
    for (line, name) in [
        ("worker ", "to_kernel"),
        ("worker ", "from_kernel"),
        ("management:", "to_kernel"),
        ("management:", "from_kernel"),
    ] {
        assert!(
            summary_counter(&summary, line, name) > 0,
            "{line} {name}:\n{summary}"
        );
    }
}

/// A connection to one service carries data without a gap (no echo slower than 500 ms) while
/// another service is added, changed and removed 50 times by SIGHUP reloads.
#[test]
fn reloads_of_another_service_leave_a_connection_alone() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let base = config_from("nat.yaml", &[]);
    let (mut app, cfg) = start_appliance(&d, &base);
    let echo = start_echo_session(8);
    let extra = |sched: &str, weight: u32| {
        format!(
            "{base}  - name: b\n    vip: 198.18.0.101\n    port: 8080\n    scheduler: {sched}\n    reals:\n      - {{ip: 198.19.0.13, port: 80, weight: {weight}}}\n"
        )
    };
    let hup = |pid: u32| {
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
    };
    for i in 0..50 {
        let text = match i % 3 {
            0 => extra("rr", 1),
            1 => extra("wlc", 5),
            _ => base.clone(),
        };
        // Written aside and renamed: a reload still reading the file (the last one may be
        // late on a loaded machine) never sees it half written.
        let tmp = cfg.with_extension("new");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &cfg).unwrap();
        hup(app.pid());
        std::thread::sleep(Duration::from_millis(120));
    }
    finish_echo_session(echo);
    let applied = app.stderr().matches("reload applied").count();
    assert!(
        applied >= 45,
        "reloads applied: {applied}\n{}",
        app.stderr()
    );
    assert!(!app.stderr().contains("reload refused"), "{}", app.stderr());
    let (code, _, _) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0));
}

/// A config of 10 000 more services, written as JSON (read by the JSON parser), is applied by
/// SIGHUP while a connection to the untouched service carries data without a gap, and the
/// small YAML config is applied again after it.
#[test]
fn a_json_config_of_10000_services_reloads_under_a_live_session() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let base = config_from("nat.yaml", &[]);
    let (mut app, cfg) = start_appliance(&d, &base);
    let echo = start_echo_session(8);
    let mut big = base.clone();
    for i in 0..10_000u32 {
        // VIPs 198.18.16.0 .. 198.18.55.255, 250 ports on each.
        let vip =
            std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(198, 18, 16, 0)) + i / 250);
        big.push_str(&format!(
            "  - {{name: s{i}, vip: {vip}, port: {}, scheduler: wrr, reals: [{{ip: 198.19.0.11, port: 80}}]}}\n",
            1000 + i % 250
        ));
    }
    let parsed = dataplane::config::load_str(&big).expect("the big config");
    let services = parsed.services.len();
    std::fs::write(&cfg, serde_json::to_string(&parsed).unwrap()).unwrap();
    let hup = |pid: u32| {
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
    };
    hup(app.pid());
    app.wait_for_log(
        &format!("reload applied services={services} generation"),
        Duration::from_secs(20),
    );
    // Reported, not asserted: how long the appliance took (its log line says).
    if let Some(l) = app
        .stderr()
        .lines()
        .find(|l| l.contains("reload applied services=1"))
    {
        eprintln!("{l}");
    }
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&cfg, &base).unwrap();
    hup(app.pid());
    let small = dataplane::config::load_str(&base).unwrap().services.len();
    app.wait_for_log(
        &format!("reload applied services={small} generation"),
        Duration::from_secs(20),
    );
    finish_echo_session(echo);
    assert!(!app.stderr().contains("reload refused"), "{}", app.stderr());
    let (code, _, _) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0));
}

/// Reload adding a real: new connections reach it. Reload removing one: it drains — its open
/// connection completes — and no new connection reaches it.
#[test]
fn reload_adds_a_real_and_drains_a_removed_one() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let (mut app, cfg) = start_appliance(&d, &config_from("nat.yaml", &[]));
    let hup = |pid: u32| {
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
    };
    let base = std::fs::read_to_string(&cfg).unwrap();
    let with_real3 = base.replacen(
        "      - {ip: 198.19.0.12, weight: 1}\n",
        "      - {ip: 198.19.0.12, weight: 1}\n      - {ip: 198.19.0.13, weight: 1}\n",
        1,
    );
    assert_ne!(with_real3, base);
    std::fs::write(&cfg, &with_real3).unwrap();
    hup(app.pid());
    app.wait_for_log("reload applied", Duration::from_secs(5));
    let t = tally(9);
    assert_eq!(
        t.get("real3"),
        Some(&3),
        "the added real takes its share: {t:?}"
    );
    // The echo service's first connection goes to real1; then real1 leaves every service.
    let echo = start_echo_session(4);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        established_on("real1", 7),
        1,
        "the long-lived connection is on real1"
    );
    let without_real1 = with_real3
        .replace("      - {ip: 198.19.0.11, weight: 1}\n", "")
        .replace("      - {ip: 198.19.0.11}\n", "");
    std::fs::write(&cfg, &without_real1).unwrap();
    hup(app.pid());
    std::thread::sleep(Duration::from_millis(300));
    let t = tally(8);
    assert_eq!(
        t.get("real1"),
        None,
        "no new connection reaches a removed real: {t:?}"
    );
    assert_eq!(
        established_on("real1", 7),
        1,
        "its open connection lives on"
    );
    finish_echo_session(echo);
    let (code, _, _) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0));
}

/// With `control.watch_config`, editing the file is enough: no SIGHUP.
#[test]
fn watched_config_file_reloads_on_change() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let yaml = format!(
        "{}control: {{socket: {}, watch_config: true}}\n",
        config_from("nat.yaml", &[]),
        d.path("ctl.sock").display()
    );
    let (mut app, cfg) = start_appliance(&d, &yaml);
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "{ip: 198.19.0.11, weight: 1}",
            "{ip: 198.19.0.11, weight: 0}",
        ),
    )
    .unwrap();
    app.wait_for_log("reload applied", Duration::from_secs(5));
    let t = tally(6);
    assert_eq!(t.get("real2"), Some(&6), "{t:?}");
    let (code, _, _) = app.stop("TERM", Duration::from_secs(5));
    assert_eq!(code, Some(0));
}

/// IP fragments reach a service: a 3000-byte UDP query leaves the client's kernel as three
/// fragments; the appliance forwards them (no reassembly), the real's kernel reassembles, and
/// its equally fragmented reply comes back through the appliance (NAT both ways). On AF_XDP:
/// DPDK's af_packet PMD joins a fanout group with PACKET_FANOUT_FLAG_DEFRAG, so the kernel
/// reassembles fragments before the appliance sees them (and 2 KiB frames truncate the result).
#[test]
fn fragmented_udp_datagrams_cross_in_both_directions() {
    let _tb = Testbed::up("nat");
    let d = TestDir::new();
    let xdp = [
        ("net_af_packet0,iface=lb-ext", "net_af_xdp0,iface=lb-ext"),
        ("net_af_packet1,iface=lb-int", "net_af_xdp1,iface=lb-int"),
    ];
    let (mut app, _) = start_appliance(&d, &config_from("nat.yaml", &xdp));
    let script = format!(
        "import socket,sys\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.settimeout(2)\n\
         q=b'x'*3000\n\
         s.sendto(q,('{VIP}',53))\n\
         r=s.recvfrom(65535)[0]\n\
         print(len(r), r[:6].decode())\n\
         sys.exit(0 if r.endswith(q) and r.startswith(b'real') else 1)\n"
    );
    let out = Command::new("ip")
        .args(["netns", "exec", "dpt-client", "python3", "-c", &script])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let (code, _, summary) = app.stop("TERM", Duration::from_secs(5));
    assert!(
        out.status.success(),
        "no whole reply: {printed}{}\n{summary}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.starts_with("3006 real"), "{printed}");
    assert_eq!(code, Some(0));
    assert!(
        summary_counter(&summary, "worker ", "fragments_forwarded") > 0,
        "{summary}"
    );
}
