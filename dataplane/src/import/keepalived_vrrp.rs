//! keepalived.conf's `vrrp_instance` in our terms: the `vrrp` section (docs/ha.md). One virtual
//! router per appliance covers every VIP, so the first instance is translated and the others
//! noted; what has no equivalent (interface names, unicast peers, authentication, tracking,
//! keepalived's notify arguments) is listed in the notes with its line.

use super::tokenizer::Stmt;
use super::{secs_ms, Notes};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// The `vrrp:` YAML of one vrrp_instance, given the virtual servers' VIPs (which need not be
/// listed as floating addresses); None when it has no virtual_router_id.
pub fn vrrp_instance(vi: &Stmt, vips: &[Ipv4Addr], notes: &mut Notes) -> Option<String> {
    let mut vrid: Option<u8> = None;
    let mut lines = Vec::new();
    for s in vi.block.as_deref().unwrap_or_default() {
        let arg = s.words.get(1).map(|w| w.text.as_str()).unwrap_or("");
        match s.keyword().as_str() {
            "virtual_router_id" => match arg.parse::<u8>() {
                Ok(v) if v > 0 => vrid = Some(v),
                _ => notes.add(s.at(), format!("`{}`: not a VRID (1..255)", s.text())),
            },
            "priority" => match arg.parse::<u16>() {
                Ok(p @ 1..=254) => lines.push(format!("priority: {p}")),
                Ok(255) => {
                    notes.add(
                        s.at(),
                        "approximated: priority 255 (the address owner's) as 254: a director \
                         never owns its VIPs",
                    );
                    lines.push("priority: 254".into());
                }
                _ => notes.add(s.at(), format!("`{}`: not a priority (1..254)", s.text())),
            },
            "advert_int" => match secs_ms(arg) {
                Some(ms) if (10..=40_950).contains(&ms) => {
                    lines.push(format!("advert_interval: {}ms", ms / 10 * 10))
                }
                _ => notes.add(
                    s.at(),
                    format!("`{}`: not an interval (0.01..40.95 s)", s.text()),
                ),
            },
            "nopreempt" => lines.push("preempt: false".into()),
            "preempt_delay" => match secs_ms(arg) {
                Some(ms) if ms <= 3_600_000 => lines.push(format!("preempt_delay: {ms}ms")),
                _ => notes.add(s.at(), format!("`{}`: not a delay (0..3600 s)", s.text())),
            },
            "notify" => {
                lines.push(format!("notify: {}", super::quoted(&s.args())));
                notes.add(
                    s.at(),
                    "approximated: notify (it gets the new state as its argument and in \
                     DATAPLANE_VRRP_STATE, not keepalived's type, name, state and priority)",
                );
            }
            "state" => notes.add(
                s.at(),
                format!(
                    "not translated: {} (every node starts as backup; the priority decides)",
                    s.text()
                ),
            ),
            "interface" => notes.add(
                s.at(),
                format!(
                    "not translated: {} (set vrrp.port to the port on that segment; default: \
                     the first port with an address)",
                    s.text()
                ),
            ),
            "virtual_ipaddress" => virtual_addresses(s, vips, notes),
            "authentication" => {
                notes.add(s.at(), "not translated: authentication (VRRPv3 has none)")
            }
            _ => notes.add(s.at(), format!("not translated: {}", s.text())),
        }
    }
    let Some(vrid) = vrid else {
        notes.add(
            vi.at(),
            format!("not translated: {} (no virtual_router_id)", vi.text()),
        );
        return None;
    };
    let mut o = format!("# from {} {}\nvrrp:\n  vrid: {vrid}\n", vi.at(), vi.text());
    for l in lines {
        let _ = writeln!(o, "  {l}");
    }
    Some(o)
}

/// The instance's addresses: the services' VIPs float already; any other must become a
/// `vrrp.floating` entry with its port, which keepalived's config does not say.
fn virtual_addresses(s: &Stmt, vips: &[Ipv4Addr], notes: &mut Notes) {
    for a in s.block.as_deref().unwrap_or_default() {
        let first = a.words.first().map(|w| w.text.as_str()).unwrap_or("");
        let addr = first.split('/').next().unwrap_or("");
        match addr.parse::<Ipv4Addr>() {
            Ok(ip) if vips.contains(&ip) => {}
            Ok(ip) => notes.add(
                a.at(),
                format!(
                    "not translated: {ip} (not a service's VIP: add it to vrrp.floating with \
                     its port)"
                ),
            ),
            Err(_) => notes.add(a.at(), format!("not translated: {}", a.text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::keepalived::translate;
    use super::super::tokenizer::parse_str;
    use super::super::{render, Notes};
    use std::path::Path;

    const CONF: &str = "vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n priority 150\n advert_int 0.5\n nopreempt\n preempt_delay 5\n authentication {\n  auth_type PASS\n }\n notify /etc/keepalived/n.sh\n virtual_ipaddress {\n  192.0.2.10/32 dev eth0\n  198.51.100.1/24 dev eth1\n }\n}\nvrrp_instance VI_2 {\n virtual_router_id 52\n}\nvirtual_server 192.0.2.10 80 {\n real_server 198.51.100.21 80 {\n }\n}\n";

    #[test]
    fn the_first_instance_becomes_the_vrrp_section() {
        let mut notes = Notes::default();
        let stmts = parse_str(CONF, Path::new("k.conf"), &mut notes);
        let i = translate(&stmts, notes);
        assert_eq!(
            i.vrrp.as_deref(),
            Some(
                "# from k.conf:1 vrrp_instance VI_1\nvrrp:\n  vrid: 51\n  priority: 150\n  \
                 advert_interval: 500ms\n  preempt: false\n  preempt_delay: 5000ms\n  \
                 notify: \"/etc/keepalived/n.sh\"\n"
            )
        );
        assert_eq!(
            i.notes.lines(),
            [
                "k.conf:2: not translated: state MASTER (every node starts as backup; the priority decides)",
                "k.conf:3: not translated: interface eth0 (set vrrp.port to the port on that segment; default: the first port with an address)",
                "k.conf:9: not translated: authentication (VRRPv3 has none)",
                "k.conf:12: approximated: notify (it gets the new state as its argument and in DATAPLANE_VRRP_STATE, not keepalived's type, name, state and priority)",
                "k.conf:15: not translated: 198.51.100.1 (not a service's VIP: add it to vrrp.floating with its port)",
                "k.conf:18: not translated: vrrp_instance VI_2 (one virtual router per appliance covers every VIP; the first instance is used)",
            ]
        );
        // With a template, the result is a config that loads (vrrp included).
        let template = include_str!("../../../configs/nat.yaml");
        let text = render(&i, "k.conf", Some(template)).unwrap();
        let cfg = crate::config::load_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let v = cfg.vrrp.expect("vrrp");
        assert_eq!((v.vrid, v.priority, v.interval_cs()), (51, 150, 50));
        assert!(!v.preempt);
    }
}
