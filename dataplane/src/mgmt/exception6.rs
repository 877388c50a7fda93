//! The exception interface's IPv6 side (issue 11). A port without `ip6` keeps IPv6 off on its
//! tap, as before (no router solicitations or MLD reports leave the appliance). A port with `ip6`
//! turns it on with the quiet settings of a static server: no router advertisements accepted,
//! no autoconfiguration, no router solicitations, no duplicate address detection (the address
//! is the operator's, and DAD would hold it tentative for a second while health checks start),
//! then the address itself and the IPv6 static routes through its prefix.

use super::exception::ip;
use crate::config::{Config, Ipv6Net};
use anyhow::{Context, Result};

fn sysctl(iface: &str, key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/net/ipv6/conf/{iface}/{key}");
    std::fs::write(&path, value).with_context(|| format!("cannot set {path} to {value}"))
}

/// IPv6 off on `iface` (no `ip6`), or on with the quiet settings and the address.
pub fn kernel_ipv6(iface: &str, ip6: Option<Ipv6Net>) -> Result<()> {
    let Some(net) = ip6 else {
        // Best effort, as before: a kernel without IPv6 has nothing to turn off.
        let _ = sysctl(iface, "disable_ipv6", "1");
        return Ok(());
    };
    for (key, value) in [
        ("accept_ra", "0"),
        ("autoconf", "0"),
        ("router_solicitations", "0"),
        ("accept_dad", "0"),
        ("dad_transmits", "0"),
        ("disable_ipv6", "0"),
    ] {
        sysctl(iface, key, value)?;
    }
    ip(&[
        "-6",
        "addr",
        "replace",
        &net.to_string(),
        "dev",
        iface,
        "nodad",
    ])
}

/// The IPv6 static routes whose gateway is on `ip6`'s prefix, through `iface`.
pub fn routes6(cfg: &Config, iface: &str, ip6: Option<Ipv6Net>) -> Result<()> {
    let Some(net) = ip6 else {
        return Ok(());
    };
    for (prefix, via) in cfg.routes_v6() {
        if net.contains(via) {
            let (prefix, via) = (prefix.to_string(), via.to_string());
            ip(&["-6", "route", "replace", &prefix, "via", &via, "dev", iface])?;
        }
    }
    Ok(())
}
