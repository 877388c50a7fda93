//! IPv6 end to end on the namespace testbed (issue 11; `scripts/testbed up MODE --ipv6`): kernel
//! clients in dpt-client (curl -6, ping -6, python sockets) talk to the IPv6 VIP 2001:db8::100,
//! the reals' kernel servers answer, and the appliance forwards in NAT66, DR and TUN
//! (IPv6-in-IPv6, decapsulated by scripts/ip6ip6-decap.py: this kernel has no ip6tnl), alone and
//! beside IPv4 services on two workers. Counters are read by name from the metrics endpoint, as
//! exact deltas around what a test did.
//! These tests share the dpt-* namespaces, so nextest runs them one at a time (test group).
mod common;
use common::testbed::*;
use common::testbed6::*;
use common::*;
use std::time::Duration;

/// The IPv6 echo (TCP 7) and UDP (53) services beside configs/nat6.yaml's web6, over the IPv6
/// reals, forwarded by `forward` (what configs/dr6.yaml and tun6.yaml ship for DR and TUN).
fn echo6_dns6(forward: &str) -> String {
    let mut s = String::new();
    for (name, port, proto) in [("echo6", 7, "tcp"), ("dns6", 53, "udp")] {
        s.push_str(&format!(
            "  - name: {name}\n    vip: 2001:db8::100\n    port: {port}\n    protocol: {proto}\n    \
             scheduler: rr\n    forward: {forward}\n    reals:\n      - {{ip: 2001:db8:1::11}}\n      \
             - {{ip: 2001:db8:1::12}}\n"
        ));
    }
    s
}

/// Real1's and real2's shares of a tally; asserts nothing else answered.
fn shares(t: &std::collections::BTreeMap<String, usize>, n: usize) -> (usize, usize) {
    let (r1, r2) = (
        t.get("real1").copied().unwrap_or(0),
        t.get("real2").copied().unwrap_or(0),
    );
    assert_eq!(
        r1 + r2,
        n,
        "every request answered by real1 or real2: {t:?}"
    );
    (r1, r2)
}

/// One worker, one IPv6 service set in `mode`: curl -6 alternates by weight (exact over whole
/// wrr rounds) while a long-lived IPv6 connection carries data the whole time, a UDP query is
/// answered from the VIP, ping -6 to the VIP is answered by the appliance; the workers'
/// counters say exactly that many connections and echo replies.
fn weighted6(mode: &str, yaml: &str) -> (Counters, Counters) {
    let d = TestDir::new();
    let (mut app, _) = start_appliance6(&d, yaml);
    let before = Counters::settled();
    // TUN's reals decapsulate in Python (scripts/ip6ip6-decap.py): on a loaded machine a round
    // trip through it may take longer than through a kernel.
    let worst = if mode == "tun" { 1.5 } else { 0.5 };
    let echo = start_echo6_session(5, worst);
    let t = tally6(40, 80);
    finish_echo_session(echo);
    assert_eq!(
        shares(&t, 40),
        (30, 10),
        "{mode}: wrr 3:1 is exact over whole rounds: {t:?}"
    );
    let reply = udp6_query("hello6").expect("the IPv6 UDP service answers");
    assert!(
        reply == "real1 hello6" || reply == "real2 hello6",
        "{reply}"
    );
    assert!(ping6_vip(3), "{mode}: ping -6 to the VIP");
    let after = Counters::settled();
    // 40 GETs, the echo session and the UDP query: one connection each.
    assert_eq!(
        after.event("conn_new") - before.event("conn_new"),
        42,
        "{mode}: {before:?}\n{after:?}"
    );
    assert_eq!(
        after.event("echo_replies") - before.event("echo_replies"),
        3,
        "{mode}: ping -6 -c 3 answered by the appliance"
    );
    let (code, _, summary) = app.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", app.stderr());
    println!("{mode} over IPv6:\n{summary}");
    (before, after)
}

#[test]
fn nat66_curl_by_weight_long_session_udp_and_ping() {
    let _tb = Testbed::up_ipv6("nat");
    let yaml = format!(
        "{}{}",
        config_from(
            "nat6.yaml",
            &[(
                "- {ip: 2001:db8:1::11, weight: 1}\n      - {ip: 2001:db8:1::12, weight: 2}",
                "- {ip: 2001:db8:1::11, weight: 3}\n      - {ip: 2001:db8:1::12, weight: 1}"
            )]
        ),
        echo6_dns6("nat")
    );
    let (before, after) = weighted6("nat", &yaml);
    // Both directions crossed the appliance: every client packet rewritten in, every answer out.
    assert!(after.event("nat_in") - before.event("nat_in") >= 42 * 2);
    assert!(after.event("nat_out") - before.event("nat_out") >= 42 * 2);
}

const WEB6_3_1: (&str, &str) = (
    "- {ip: 2001:db8:1::11, weight: 1}\n      - {ip: 2001:db8:1::12, weight: 1}",
    "- {ip: 2001:db8:1::11, weight: 3}\n      - {ip: 2001:db8:1::12, weight: 1}",
);

#[test]
fn dr6_curl_by_weight_long_session_udp_and_ping() {
    let _tb = Testbed::up_ipv6("dr");
    let (before, after) = weighted6("dr", &config_from("dr6.yaml", &[WEB6_3_1]));
    // Client packets only (the reals answer via the router): at least a SYN and an ACK each.
    assert!(after.event("dr_in") - before.event("dr_in") >= 42 * 2);
    assert_eq!(after.event("nat_out"), before.event("nat_out"));
}

#[test]
fn tun6_curl_by_weight_long_session_udp_and_ping_and_packet_too_big() {
    let _tb = Testbed::up_ipv6("tun");
    let d_yaml = config_from("tun6.yaml", &[WEB6_3_1]);
    let (before, after) = weighted6("tun", &d_yaml);
    assert!(after.event("tun_in") - before.event("tun_in") >= 42 * 2);
    assert_eq!(after.event("nat_out"), before.event("nat_out"));
    let decapsulated: usize = ["real1", "real2"]
        .iter()
        .map(|r| {
            std::fs::read_to_string(format!("/run/dpt/{r}.decap6.log"))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("decapsulated 1 "))
                .count()
        })
        .sum();
    assert_eq!(decapsulated, 2, "both reals decapsulated IPv6-in-IPv6");
}

/// TUN over IPv6 with full-size packets: the client's 1500-byte segments do not fit once
/// encapsulated (1540 > 1500), so the appliance answers ICMPv6 Packet Too Big with 1460, the
/// client's kernel lowers its path MTU to the VIP and the bulk data gets through.
#[test]
fn tun6_packet_too_big_lowers_the_clients_path_mtu() {
    let _tb = Testbed::up_ipv6("tun");
    let d = TestDir::new();
    let (mut app, _) = start_appliance6(&d, &config_from("tun6.yaml", &[]));
    let before = Counters::settled();
    let script = format!(
        "import socket,sys\n\
         s=socket.create_connection(('{VIP6}',7),timeout=10)\n\
         data=bytes(range(256))*80\n\
         s.sendall(data)\n\
         back=b''\n\
         while len(back)<len(data):\n\
         \x20   c=s.recv(65536)\n\
         \x20   if not c: break\n\
         \x20   back+=c\n\
         print(len(back))\n\
         sys.exit(0 if back==data else 1)\n"
    );
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", "dpt-client", "python3", "-c", &script])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "20480 bytes echoed through the IPv6 tunnel: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let after = Counters::settled();
    assert!(
        after.event("packet_too_big_sent") > before.event("packet_too_big_sent"),
        "{after:?}"
    );
    // The client's kernel took the MTU the appliance announced.
    let route = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            "dpt-client",
            "ip",
            "-6",
            "route",
            "get",
            VIP6,
        ])
        .output()
        .expect("ip route get");
    let route = String::from_utf8_lossy(&route.stdout).to_string();
    let words: Vec<&str> = route.split_whitespace().collect();
    let mtu = words
        .windows(2)
        .find(|w| w[0] == "mtu")
        .map(|w| w[1])
        .unwrap_or_else(|| panic!("no mtu in: {route}"));
    assert_eq!(mtu, "1460", "{route}");
    let (code, _, _) = app.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", app.stderr());
}

/// A mixed workload on two workers: IPv4 and IPv6 services of one config together, a long-lived
/// connection of each family open the whole time while short ones of both come and go; every
/// request of either family is answered and both sessions keep their data flowing.
#[test]
fn mixed_v4_and_v6_on_two_workers_keep_both_families_connections() {
    let _tb = Testbed::up_ipv6("nat");
    let d = TestDir::new();
    let echo4 = "  - name: echo\n    vip: 198.18.0.100\n    port: 7\n    protocol: tcp\n    \
                 scheduler: rr\n    forward: nat\n    reals:\n      - {ip: 198.19.0.11}\n      \
                 - {ip: 198.19.0.12}\n";
    let yaml = format!(
        "{}{echo4}{}",
        config_from("nat6.yaml", &TWO_WORKERS),
        echo6_dns6("nat")
    );
    let (mut app, _) = start_appliance6(&d, &yaml);
    let before = Counters::settled();
    let session4 = start_echo_session(8);
    let session6 = start_echo6_session(8, 0.5);
    let mut t4 = std::collections::BTreeMap::new();
    let mut t6 = std::collections::BTreeMap::new();
    for _ in 0..20 {
        *t4.entry(curl().unwrap_or_else(|| "none".into()))
            .or_insert(0) += 1;
        *t6.entry(curl6(80).unwrap_or_else(|| "none".into()))
            .or_insert(0) += 1;
    }
    finish_echo_session(session4);
    finish_echo_session(session6);
    shares(&t4, 20);
    shares(&t6, 20);
    let after = Counters::settled();
    assert_eq!(
        after.event("conn_new") - before.event("conn_new"),
        42,
        "20 + 20 GETs and two sessions: {after:?}"
    );
    let (code, _, summary) = app.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", app.stderr());
    // Both workers own connections (flows are spread over the workers by hash; one port queue,
    // so what lands on the wrong worker is handed over).
    for w in ["worker 0 ", "worker 1 "] {
        assert!(
            summary_counter(&summary, w, "conn_new") > 0,
            "{w}:\n{summary}"
        );
    }
    println!("{summary}");
}

/// NAT64 (configs/nat6.yaml's web64: the IPv6 VIP's port 8080 over the IPv4 reals' port 80, rr):
/// curl -6 from the IPv6 client reaches the IPv4 reals, alternating, one connection each, nothing
/// dropped as unsupported; the IPv6 service beside it (web6) keeps serving.
#[test]
fn nat64_curl6_reaches_the_ipv4_reals() {
    let _tb = Testbed::up_ipv6("nat");
    let d = TestDir::new();
    let (mut app, _) = start_appliance6(&d, &config_from("nat6.yaml", &[]));
    let before = Counters::settled();
    let t = tally6(10, 8080);
    assert_eq!(shares(&t, 10), (5, 5), "rr over the IPv4 reals: {t:?}");
    let t = tally6(3, 80);
    shares(&t, 3);
    let after = Counters::settled();
    assert_eq!(after.event("conn_new") - before.event("conn_new"), 13);
    assert_eq!(after.drops("unsupported"), before.drops("unsupported"));
    let (code, _, summary) = app.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", app.stderr());
    println!("{summary}");
}

/// `dataplane ctl --socket SOCK ARGS...`: (success, stdout, stderr).
fn ctl(sock: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["ctl", "--socket", sock.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    let out = run(&all, Duration::from_secs(20));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ctl ... --json`, its `result`.
fn ctl_json(sock: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let (ok, out, err) = ctl(sock, &a);
    assert!(ok, "ctl {args:?} failed: {err}{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("ctl --json prints JSON");
    assert_eq!(v["ok"], true, "{v}");
    v["result"].clone()
}

/// The service `name` of a `ctl list --json` result.
fn service<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no service {name} in {list}"))
}

/// The real at `addr` of a listed service.
fn real<'a>(svc: &'a serde_json::Value, addr: &str) -> &'a serde_json::Value {
    svc["reals"]
        .as_array()
        .expect("reals")
        .iter()
        .find(|r| r["addr"] == addr)
        .unwrap_or_else(|| panic!("no real {addr} in {svc}"))
}

/// The client's end (`[addr]:port`) of its one established TCP connection to [VIP6]:7, as its
/// kernel sees it.
fn echo6_client_end() -> String {
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            "dpt-client",
            "ss",
            "-Htn",
            "state",
            "established",
        ])
        .args(["( dport = :7 )"])
        .output()
        .expect("ss");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let ends: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.starts_with("[2001:db8::") && !w.starts_with("[2001:db8::100]"))
        .collect();
    assert_eq!(ends.len(), 1, "one session to the VIP's port 7: {text}");
    ends[0].to_string()
}

/// The operator's tools speak IPv6 for an IPv6 service on the real appliance: `ctl conns` lists
/// a long-lived NAT66 session (exact client, VIP, real, state, service) and filters it by
/// `--real [addr]:port`, `--client` and `--service`; `ctl list --stats` and the metrics count
/// each IPv6 real's connections under its own `[addr]:port`; `ctl list` and `ctl health` show
/// the IPv6 rows; `ctl weight` and `ctl drain` take `[addr]:port` and steer new connections.
#[test]
fn ctl_and_metrics_speak_ipv6() {
    let _tb = Testbed::up_ipv6("nat");
    let d = TestDir::new();
    let sock = d.path("ctl.sock");
    let yaml = format!(
        "{}{}control: {{socket: {}}}\n",
        config_from("nat6.yaml", &[]),
        echo6_dns6("nat"),
        sock.display()
    );
    let (mut app, _) = start_appliance6(&d, &yaml);

    // A long-lived IPv6 session (8 s), listed while it is up.
    let session = start_echo6_session(8, 0.5);
    std::thread::sleep(Duration::from_millis(1500));
    let client = echo6_client_end();
    let cv = ctl_json(&sock, &["conns", "--service", "echo6"]);
    assert_eq!(cv["complete"], true, "{cv}");
    let rows = cv["conns"].as_array().expect("conns");
    assert_eq!(rows.len(), 1, "the one echo6 session: {cv}");
    let row = &rows[0];
    let real_end = row["real"].as_str().expect("real").to_string();
    assert!(
        real_end == "[2001:db8:1::11]:7" || real_end == "[2001:db8:1::12]:7",
        "{row}"
    );
    assert_eq!(
        (
            row["proto"].as_str(),
            row["state"].as_str(),
            row["client"].as_str(),
            row["vip"].as_str(),
            row["service"].as_str()
        ),
        (
            Some("TCP"),
            Some("ESTABLISHED"),
            Some(client.as_str()),
            Some("[2001:db8::100]:7"),
            Some("echo6")
        ),
        "{row}"
    );
    let expire = row["expire_s"].as_u64().expect("expire_s");
    assert!((890..=900).contains(&expire), "ESTABLISHED: 900 s: {row}");
    // The same row in the ipvsadm-like text, by `--real [addr]:port`.
    let (ok, text, err) = ctl(&sock, &["conns", "--real", &real_end]);
    assert!(ok, "{err}");
    let listed: Vec<Vec<&str>> = text
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(listed.len(), 1, "{text}");
    assert_eq!(
        [
            listed[0][0],
            listed[0][2],
            listed[0][3],
            listed[0][4],
            listed[0][5]
        ],
        [
            "TCP",
            "ESTABLISHED",
            &client,
            "[2001:db8::100]:7",
            &real_end
        ],
        "{text}"
    );
    let other = if real_end.contains("::11]") {
        "[2001:db8:1::12]:7"
    } else {
        "[2001:db8:1::11]:7"
    };
    let none = ctl_json(&sock, &["conns", "--real", other, "--service", "echo6"]);
    assert_eq!(none["conns"].as_array().unwrap().len(), 0, "{none}");
    let client_ip = client
        .trim_start_matches('[')
        .split(']')
        .next()
        .expect("address")
        .to_string();
    let by_client = ctl_json(&sock, &["conns", "--client", &client_ip]);
    let mine: Vec<&serde_json::Value> = by_client["conns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["client"] == client.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{by_client}");
    // The session is its real's one ESTABLISHED connection.
    std::thread::sleep(Duration::from_millis(300));
    let list = ctl_json(&sock, &["list"]);
    let echo6 = service(&list, "echo6");
    let real_addr = real_end.trim_start_matches('[').split(']').next().unwrap();
    assert_eq!(real(echo6, real_addr)["active"], 1, "{echo6}");
    finish_echo_session(session);

    // Per-real counters: 6 GETs of web6 (wrr 1:2, two whole rounds) are 2 and 4 connections.
    fn web6(r: &str) -> [(&'static str, &str); 2] {
        [("service", "web6"), ("real", r)]
    }
    let (r1, r2) = ("[2001:db8:1::11]:80", "[2001:db8:1::12]:80");
    let conns_of = |m: &[dataplane::mgmt::metrics::Sample], r: &str| {
        dataplane::mgmt::metrics::sum(m, "dataplane_real_connections_total", &web6(r)) as u64
    };
    std::thread::sleep(Duration::from_millis(300));
    let m0 = scrape();
    let l0 = ctl_json(&sock, &["list", "--stats"]);
    let t = tally6(6, 80);
    assert_eq!(shares(&t, 6), (2, 4), "wrr 1:2 over two rounds: {t:?}");
    std::thread::sleep(Duration::from_millis(300));
    let m1 = scrape();
    let l1 = ctl_json(&sock, &["list", "--stats"]);
    assert_eq!(
        (
            conns_of(&m1, r1) - conns_of(&m0, r1),
            conns_of(&m1, r2) - conns_of(&m0, r2)
        ),
        (2, 4),
        "dataplane_real_connections_total by [addr]:port"
    );
    let stat = |l: &serde_json::Value, a: &str, k: &str| {
        real(service(l, "web6"), a)["stats"][k]
            .as_u64()
            .expect("stats")
    };
    assert_eq!(
        (
            stat(&l1, "2001:db8:1::11", "conns") - stat(&l0, "2001:db8:1::11", "conns"),
            stat(&l1, "2001:db8:1::12", "conns") - stat(&l0, "2001:db8:1::12", "conns")
        ),
        (2, 4),
        "ctl list --stats: {l1}"
    );
    assert_eq!(
        stat(&l1, "2001:db8:1::11", "conns"),
        conns_of(&m1, r1),
        "ctl and the metrics agree"
    );
    // Every GET is at least 3 packets in (SYN, request, ACKs) and 2 out.
    assert!(stat(&l1, "2001:db8:1::12", "pkts_in") - stat(&l0, "2001:db8:1::12", "pkts_in") >= 12);
    assert!(stat(&l1, "2001:db8:1::12", "pkts_out") - stat(&l0, "2001:db8:1::12", "pkts_out") >= 8);
    assert_eq!(
        service(&l1, "web6")["stats"]["conns"].as_u64(),
        Some(stat(&l1, "2001:db8:1::11", "conns") + stat(&l1, "2001:db8:1::12", "conns"))
    );
    let (ok, text, err) = ctl(&sock, &["list", "--stats"]);
    assert!(ok, "{err}");
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("  -> [2001:db8:1::12]:80 "))
        .unwrap_or_else(|| panic!("{text}"))
        .split_whitespace()
        .collect();
    assert_eq!(
        row[2],
        stat(&l1, "2001:db8:1::12", "conns").to_string(),
        "{text}"
    );
    let rate = ctl_json(&sock, &["list", "--rate"]);
    assert!(
        real(service(&rate, "web6"), "2001:db8:1::11")["rate"]["cps"].is_number(),
        "{rate}"
    );

    // ipvsadm-like listing and health with bracketed addresses.
    let (ok, text, err) = ctl(&sock, &["list"]);
    assert!(ok, "{err}");
    assert!(
        text.lines()
            .any(|l| l == "TCP  [2001:db8::100]:80 wrr  (web6)"),
        "{text}"
    );
    let r2_row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with(&format!("  -> {r2} ")))
        .unwrap_or_else(|| panic!("{text}"))
        .split_whitespace()
        .collect();
    assert_eq!(
        (r2_row[2], r2_row[3], r2_row[6]),
        ("Masq", "2", "up"),
        "{text}"
    );
    let health = ctl_json(&sock, &["health"]);
    let rows: Vec<(String, String)> = health["reals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["service"] == "web6")
        .map(|r| {
            (
                r["real"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (r1.to_string(), "up".to_string()),
            (r2.to_string(), "up".to_string())
        ]
    );

    // Weight and drain by [addr]:port: real2 drained, new connections all go to real1.
    let (ok, text, err) = ctl(&sock, &["weight", "web6", r1, "3"]);
    assert!(ok, "{err}");
    assert_eq!(text.trim(), format!("web6 {r1}: weight 1 -> 3"));
    let (ok, text, err) = ctl(&sock, &["drain", "web6", r2]);
    assert!(ok, "{err}");
    assert_eq!(text.trim(), format!("web6 {r2}: weight 2 -> 0"));
    let list = ctl_json(&sock, &["list"]);
    let w = |a: &str| real(service(&list, "web6"), a)["weight"].as_u64();
    assert_eq!(
        (w("2001:db8:1::11"), w("2001:db8:1::12")),
        (Some(3), Some(0))
    );
    let m = scrape();
    assert_eq!(
        dataplane::mgmt::metrics::sum(&m, "dataplane_real_weight", &web6(r2)),
        0.0
    );
    let t = tally6(4, 80);
    assert_eq!(shares(&t, 4), (4, 0), "drained: {t:?}");
    let (code, _, _) = app.stop("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", app.stderr());
}
