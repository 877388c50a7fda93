//! Who owns the VIPs, as the workers see it: with VRRP configured only the master answers ARP
//! for the VIPs and the floating addresses and forwards traffic to the VIPs; a backup (or a node
//! still initialising) stays silent for them. Without VRRP the node always owns them.

use super::route::PortIdx;
use crate::config::Config;
use std::net::Ipv4Addr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaView {
    /// VRRP is configured: ownership follows `active`.
    pub vrrp: bool,
    /// This node owns the VIPs and floating addresses (master, or no VRRP at all).
    pub active: bool,
    /// Addresses answered for only while active, each on its port.
    pub floating: Vec<(Ipv4Addr, PortIdx)>,
    /// The multicast group connection sync listens on (none: sync off or unicast peers): its
    /// datagrams go to the kernel, as VRRP's adverts do; other multicast is not for us.
    pub sync_group: Option<Ipv4Addr>,
}

impl HaView {
    /// The view of `cfg` for a node that is (`active`) or is not the master.
    pub fn from_config(cfg: &Config, active: bool) -> HaView {
        let sync_group = cfg
            .sync
            .as_ref()
            .filter(|s| s.peers.is_empty())
            .map(|s| s.group);
        let Some(v) = &cfg.vrrp else {
            return HaView {
                vrrp: false,
                active: true,
                floating: Vec::new(),
                sync_group,
            };
        };
        let floating = v
            .floating
            .iter()
            .filter_map(|f| {
                let i = cfg.ports.iter().position(|p| p.name == f.port)?;
                Some((f.ip, i as PortIdx))
            })
            .collect();
        HaView {
            vrrp: true,
            active,
            floating,
            sync_group,
        }
    }

    /// Is `ip` a floating address (whatever the state)?
    #[inline]
    pub fn is_floating(&self, ip: Ipv4Addr) -> bool {
        self.floating.iter().any(|(a, _)| *a == ip)
    }
}
