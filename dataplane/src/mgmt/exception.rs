//! The exception path's kernel side: one net_tap interface per addressed port, carrying the
//! port's MAC and address (and the static routes), so the kernel — ssh, health checks, sync,
//! VRRP — lives on the same wire as the workers. The management thread moves packets between
//! the taps and the workers (mod.rs).

use crate::config::{Config, Port as PortCfg};
use crate::dpdk::port::PortSetup;
use crate::dpdk::{Mempool, Port};
use crate::wire::MacAddr;
use anyhow::{bail, Context, Result};
use std::process::Command;
use std::sync::Arc;

/// The kernel interface name of a port's exception path, if it has one.
pub fn iface_name(p: &PortCfg) -> Option<String> {
    match (&p.exception, p.ip) {
        (Some(n), _) if n == "none" => None,
        (Some(n), Some(_)) => Some(n.clone()),
        (None, Some(_)) => Some(format!("dp-{}", p.name).chars().take(15).collect()),
        _ => None,
    }
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Creates the tap of port `i` and gives its kernel side the port's MAC, address and routes.
pub fn open_tap(
    i: usize,
    cfg: &Config,
    p: &PortCfg,
    mac: [u8; 6],
    pool: Arc<Mempool>,
) -> Result<Option<Port>> {
    let Some(name) = iface_name(p) else {
        return Ok(None);
    };
    let Some(addr) = p.ip else {
        return Ok(None);
    };
    let tap = Port::open(PortSetup {
        name: &name,
        device: &format!("net_tap{i},iface={name}"),
        queues: 1,
        rx_desc: 512,
        tx_desc: 512,
        promiscuous: false,
        rx_timestamp: false,
        mac: None,
        pool,
    })
    .with_context(|| format!("ports[{i}].exception: cannot create the kernel interface {name}"))?;
    let mac = MacAddr(mac).to_string();
    let cidr = addr.to_string();
    ip(&["link", "set", "dev", &name, "address", &mac])?;
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
    ip(&["addr", "replace", &cidr, "dev", &name])?;
    ip(&["link", "set", "dev", &name, "up"])?;
    for r in &cfg.routes {
        if addr.contains(r.via) {
            let prefix = r.prefix.to_string();
            let via = r.via.to_string();
            ip(&["route", "replace", &prefix, "via", &via, "dev", &name])?;
        }
    }
    tracing::info!(port = %p.name, iface = %name, address = %cidr, "exception interface up");
    Ok(Some(tap))
}
