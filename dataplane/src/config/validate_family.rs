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
