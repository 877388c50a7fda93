//! The address-family rules of a config (issue 11): a port's IPv6 address, routes whose prefix
//! and gateway are of one family, and which families of VIP and real go together:
//!
//! | VIP  | reals | modes                                                         |
//! |------|-------|---------------------------------------------------------------|
//! | IPv4 | IPv4  | nat, dr, tun (as before)                                      |
//! | IPv6 | IPv6  | nat (NAT66), dr, tun (IPv6-in-IPv6)                           |
//! | IPv6 | IPv4  | nat only: NAT64 (RFC 6146 style, one translation per conn)    |
//! | IPv4 | IPv6  | tun only: IPv4-in-IPv6 (the real decapsulates)                |
//!
//! DR cannot cross families (it rewrites only MACs, so the real receives the client's packet
//! unchanged and must own the VIP's family); NAT across families is NAT64 only in the direction
//! RFC 6146 defines (IPv6 clients to IPv4 servers); a tunnel carries either family in either.

use super::kinds::ForwardMode;
use super::load::ConfigError;
use super::schema::{Port, Route, Service};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn err(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(key, reason)
}

/// Is `a` an address a VIP, a real or a port may have: not unspecified, loopback, multicast
/// or link-local (fe80::/10 is per link, the appliance's own; it is never a service's)?
pub(super) fn is_unicast6(a: Ipv6Addr) -> bool {
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || (a.segments()[0] & 0xffc0) == 0xfe80
        || a.to_ipv4_mapped().is_some())
}

fn family(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}

/// `ports[i].ip6`: a unicast address with a prefix length, not another port's.
pub(super) fn port_ip6(p: &Port, i: usize, own: &mut HashSet<IpAddr>) -> Result<(), ConfigError> {
    let Some(net) = p.ip6 else {
        return Ok(());
    };
    let key = format!("ports[{i}].ip6");
    if net.len == 0 || net.len == 128 {
        return Err(err(key, "needs a prefix length of 1-127, e.g. /64"));
    }
    if !is_unicast6(net.addr) {
        return Err(err(
            key,
            format!(
                "{} is not a global unicast address (not ::, ::1, multicast, fe80::/10 or IPv4-mapped)",
                net.addr
            ),
        ));
    }
    if !own.insert(IpAddr::V6(net.addr)) {
        return Err(err(key, format!("{} is used by another port", net.addr)));
    }
    Ok(())
}

/// `routes[i]`: the gateway is of the prefix's family.
pub(super) fn route_families(r: &Route, i: usize) -> Result<(), ConfigError> {
    let prefix = r.prefix.addr();
    if prefix.is_ipv4() != r.via.is_ipv4() {
        return Err(err(
            format!("routes[{i}].via"),
            format!(
                "{} is {} but the prefix {} is {}",
                r.via,
                family(r.via),
                r.prefix,
                family(prefix)
            ),
        ));
    }
    Ok(())
}

/// A service's own family rules: an IPv6 VIP is unicast, and IPv4-only keys stay off it.
pub(super) fn service(s: &Service, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
    let IpAddr::V6(vip) = s.vip else {
        return Ok(());
    };
    if !is_unicast6(vip) {
        return Err(err(
            key("vip"),
            format!("{vip} is not a global unicast IPv6 address"),
        ));
    }
    if let Some(p) = &s.persistence {
        if p.netmask != Ipv4Addr::BROADCAST {
            return Err(err(
                key("persistence.netmask"),
                "an IPv4 netmask does not apply to an IPv6 VIP: IPv6 persistence is per client address (remove it)",
            ));
        }
    }
    if s.acl.is_some() {
        return Err(err(
            key("acl"),
            "the acl's prefixes are IPv4; an IPv6 VIP takes no acl yet (remove it)",
        ));
    }
    Ok(())
}

/// A real of a service with VIP `vip`, forwarded in `mode`: which family mixes work.
pub(super) fn real(
    vip: IpAddr,
    ip: IpAddr,
    mode: ForwardMode,
    rkey: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    if let IpAddr::V6(a) = ip {
        if !is_unicast6(a) {
            return Err(err(
                rkey("ip"),
                format!("{a} is not a global unicast IPv6 address"),
            ));
        }
    }
    if vip.is_ipv4() == ip.is_ipv4() {
        return Ok(());
    }
    let why = match (vip, mode) {
        (IpAddr::V6(_), ForwardMode::Nat) | (IpAddr::V4(_), ForwardMode::Tun) => return Ok(()),
        (IpAddr::V6(_), _) => {
            "an IPv6 VIP reaches IPv4 reals only by NAT64 (forward: nat): DR and TUN deliver the client's IPv6 packet unchanged"
        }
        (IpAddr::V4(_), _) => {
            "an IPv4 VIP reaches IPv6 reals only through an IPv4-in-IPv6 tunnel (forward: tun): NAT from IPv4 clients to IPv6 servers and DR across families do not exist"
        }
    };
    Err(err(
        rkey("ip"),
        format!(
            "{ip} is {} but the VIP {vip} is {}: {why}",
            family(ip),
            family(vip)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;
    use std::net::IpAddr;

    /// A dual-stack config: IPv6 on both ports, a v6 route and neighbour, and one service of
    /// each family mix.
    const DUAL: &str = r#"
mode: lb
eal: {lcores: "0-1", hugepages: "off"}
workers: {cores: [1]}
ports:
  - {name: ext, device: net_null0, ip: 198.18.0.1/24, ip6: "2001:db8::1/64"}
  - {name: int, device: net_null1, ip: 198.19.0.1/24, ip6: "2001:db8:1::1/64"}
routes:
  - {prefix: 0.0.0.0/0, via: 198.18.0.254}
  - {prefix: "2001:db8:2::/48", via: "2001:db8::fe"}
neighbors:
  - {ip: "2001:db8:1::11", mac: "02:00:00:00:02:11"}
services:
  - name: web6
    vip: "2001:db8::100"
    port: 80
    reals:
      - {ip: "2001:db8:1::11"}
      - {ip: "2001:db8:2::12", weight: 2}
  - name: dr6
    vip: "2001:db8::100"
    port: 53
    protocol: udp
    forward: dr
    reals: [{ip: "2001:db8:1::11"}]
  - name: nat64
    vip: "2001:db8::101"
    port: 80
    reals: [{ip: 198.19.0.11}]
  - name: tun46
    vip: 198.18.0.101
    port: 80
    forward: tun
    reals: [{ip: "2001:db8:1::12"}]
"#;

    /// The (key, reason) of a refused config, without the line number.
    fn refusal(yaml: &str) -> (String, String) {
        let e = load_str(yaml).unwrap_err().to_string();
        let (head, reason) = e.split_once(": ").unwrap_or_else(|| panic!("{e}"));
        let key = head.split_once(" (line ").map_or(head, |(k, _)| k);
        (key.to_string(), reason.to_string())
    }

    fn edit(from: &str, to: &str) -> String {
        assert!(DUAL.contains(from), "{from}");
        DUAL.replacen(from, to, 1)
    }

    #[test]
    fn a_dual_stack_config_loads() {
        let c = load_str(DUAL).unwrap();
        assert_eq!(c.ports[1].ip6.unwrap().to_string(), "2001:db8:1::1/64");
        assert_eq!(
            c.services[0].vip,
            "2001:db8::100".parse::<IpAddr>().unwrap()
        );
        assert_eq!(c.services[2].reals[0].ip.to_string(), "198.19.0.11");
        assert_eq!(c.routes_v4().count(), 1);
        assert_eq!(c.routes_v6().count(), 1);
        assert_eq!(c.neighbors_v4().count(), 0);
        assert_eq!(c.local_port("2001:db8:1::1".parse().unwrap()), Some(1));
        assert_eq!(c.local_port("2001:db8:1::2".parse().unwrap()), None);
        // And back: what serialises loads again, the same.
        let again = load_str(&serde_yaml_ng::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn family_mixes_that_do_not_exist_are_refused() {
        let cases = [
            (
                edit("    forward: dr\n    reals: [{ip: \"2001:db8:1::11\"}]", "    forward: dr\n    reals: [{ip: 198.19.0.11}]"),
                "services[1].reals[0].ip",
                "198.19.0.11 is IPv4 but the VIP 2001:db8::100 is IPv6: an IPv6 VIP reaches IPv4 reals only by NAT64 (forward: nat): DR and TUN deliver the client's IPv6 packet unchanged",
            ),
            (
                edit("    forward: tun\n    reals: [{ip: \"2001:db8:1::12\"}]", "    forward: nat\n    reals: [{ip: \"2001:db8:1::12\"}]"),
                "services[3].reals[0].ip",
                "2001:db8:1::12 is IPv6 but the VIP 198.18.0.101 is IPv4: an IPv4 VIP reaches IPv6 reals only through an IPv4-in-IPv6 tunnel (forward: tun): NAT from IPv4 clients to IPv6 servers and DR across families do not exist",
            ),
            (
                edit("reals: [{ip: 198.19.0.11}]", "reals: [{ip: 198.19.0.11, forward: tun}]"),
                "services[2].reals[0].ip",
                "198.19.0.11 is IPv4 but the VIP 2001:db8::101 is IPv6: an IPv6 VIP reaches IPv4 reals only by NAT64 (forward: nat): DR and TUN deliver the client's IPv6 packet unchanged",
            ),
        ];
        for (yaml, key, reason) in cases {
            assert_eq!(refusal(&yaml), (key.to_string(), reason.to_string()));
        }
    }

    #[test]
    fn malformed_ipv6_is_refused_with_its_key() {
        let cases = [
            (
                edit("ip6: \"2001:db8::1/64\"", "ip6: \"2001:db8::1/129\""),
                "ports[0].ip6",
                "`129` is not a prefix length (0-128)",
            ),
            (
                edit("ip6: \"2001:db8::1/64\"", "ip6: \"2001:db8::1\""),
                "ports[0].ip6",
                "needs a prefix length of 1-127, e.g. /64",
            ),
            (
                edit("ip6: \"2001:db8::1/64\"", "ip6: \"fe80::1/64\""),
                "ports[0].ip6",
                "fe80::1 is not a global unicast address (not ::, ::1, multicast, fe80::/10 or IPv4-mapped)",
            ),
            (
                edit("ip6: \"2001:db8::1/64\"", "ip6: 198.18.0.1/24"),
                "ports[0].ip6",
                "`198.18.0.1` is not an IPv6 address",
            ),
            (
                edit("ip6: \"2001:db8:1::1/64\"", "ip6: \"2001:db8::1/64\""),
                "ports[1].ip6",
                "2001:db8::1 is used by another port",
            ),
            (
                edit("via: \"2001:db8::fe\"", "via: 198.18.0.254"),
                "routes[1].via",
                "198.18.0.254 is IPv4 but the prefix 2001:db8:2::/48 is IPv6",
            ),
            (
                edit("via: \"2001:db8::fe\"", "via: \"2001:db8:5::fe\""),
                "routes[1].via",
                "2001:db8:5::fe is not on any port's subnet",
            ),
            (
                edit("{ip: \"2001:db8:1::11\", mac", "{ip: \"2001:db8:7::11\", mac"),
                "neighbors[0].ip",
                "2001:db8:7::11 is not on any port's subnet",
            ),
            (
                edit("vip: \"2001:db8::101\"", "vip: \"ff02::101\""),
                "services[2].vip",
                "ff02::101 is not a global unicast IPv6 address",
            ),
            (
                edit("vip: \"2001:db8::101\"", "vip: \"2001:db8::1\""),
                "services[2].vip",
                "2001:db8::1 is a port address, not a virtual one",
            ),
            (
                edit("{ip: \"2001:db8:2::12\", weight: 2}", "{ip: \"2001:db8:9::12\"}"),
                "services[0].reals[1].ip",
                "2001:db8:9::12 is not reachable: no port subnet or route covers it",
            ),
            (
                edit("    forward: dr\n    reals: [{ip: \"2001:db8:1::11\"}]", "    forward: dr\n    reals: [{ip: \"2001:db8:2::11\"}]"),
                "services[1].reals[0].ip",
                "2001:db8:2::11 is not on any port's subnet; DR needs the real server on the same L2 segment",
            ),
            (
                edit("vip: \"2001:db8::101\"\n    port: 80\n", "vip: \"2001:db8::101\"\n    port: 80\n    persistence: {netmask: 255.255.255.0}\n"),
                "services[2].persistence.netmask",
                "an IPv4 netmask does not apply to an IPv6 VIP: IPv6 persistence is per client address (remove it)",
            ),
            (
                edit("vip: \"2001:db8::101\"\n    port: 80\n", "vip: \"2001:db8::101\"\n    port: 80\n    acl: {allow: [203.0.113.0/24]}\n"),
                "services[2].acl",
                "the acl's prefixes are IPv4; an IPv6 VIP takes no acl yet (remove it)",
            ),
        ];
        for (yaml, key, reason) in cases {
            assert_eq!(
                refusal(&yaml),
                (key.to_string(), reason.to_string()),
                "{key}"
            );
        }
        // An IPv6 real at the port's own address is a local real, as for IPv4.
        let local = edit(
            "{ip: \"2001:db8:2::12\", weight: 2}",
            "{ip: \"2001:db8:1::1\", port: 8080}",
        );
        let c = load_str(&local).unwrap();
        assert_eq!(c.local_port(c.services[0].reals[1].ip), Some(1));
    }
}
