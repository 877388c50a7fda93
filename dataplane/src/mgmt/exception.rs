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
    let addressed = p.ip.is_some() || p.ip6.is_some();
    match &p.exception {
        Some(n) if n == "none" => None,
        Some(n) if addressed => Some(n.clone()),
        None if addressed => Some(format!("dp-{}", p.name).chars().take(15).collect()),
        _ => None,
    }
}

pub(super) fn ip(args: &[&str]) -> Result<()> {
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
    ip(&["link", "set", "dev", &name, "address", &mac])?;
    super::exception6::kernel_ipv6(&name, p.ip6)?;
    if let Some(addr) = p.ip {
        ip(&["addr", "replace", &addr.to_string(), "dev", &name])?;
    }
    ip(&["link", "set", "dev", &name, "up"])?;
    if let Some(addr) = p.ip {
        for (prefix, via) in cfg.routes_v4() {
            if addr.contains(via) {
                let (prefix, via) = (prefix.to_string(), via.to_string());
                ip(&["route", "replace", &prefix, "via", &via, "dev", &name])?;
            }
        }
    }
    super::exception6::routes6(cfg, &name, p.ip6)?;
    let v4 = p.ip.map(|a| a.to_string()).unwrap_or_default();
    let v6 = p.ip6.map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(port = %p.name, iface = %name, address = %v4, address6 = %v6, "exception interface up");
    Ok(Some(tap))
}
