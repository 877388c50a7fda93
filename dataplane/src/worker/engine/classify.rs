//! What a parsed IPv4 packet is to the appliance, which worker owns its connection, and the
//! burst warm-up that prefetches the connection-table slots a burst is about to look up.

use super::Engine;
use crate::dpdk::mem::prefetch;
use crate::lb::flow;
use crate::lb::snapshot::Snapshot;
use crate::lb::types::Protocol;
use crate::wire::{ip_proto, parse_frame, vrrp, Frame, Ipv4Facts, Net, Parsed};
use std::net::Ipv4Addr;

pub use crate::tunables::WARM_MAX;

/// Where an IPv4 packet goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// An echo request to a port address or a VIP: answered in place.
    Echo,
    /// Anything else to a port address: the kernel's (health-check replies, ssh, ...).
    Kernel,
    /// Client -> VIP (TCP/UDP, or another protocol the service lookup refuses).
    ToService,
    /// An ICMP error to a VIP: about a reply we sent to a client.
    IcmpToVip,
    /// A fragment of an ICMP message to a VIP: not handled.
    IcmpFragmentToVip,
    /// TCP/UDP not addressed to us: a NAT reply from a real server.
    Reply,
    /// ICMP not addressed to us: an error from the real side about a packet we forwarded.
    IcmpFromReal,
    /// Transit we do not route.
    NotForUs,
    /// To a VIP while this node is the VRRP backup: forwarded by the master, not here.
    HaBackup,
}

/// Classifies an IPv4 packet by its destination and protocol.
#[inline]
pub(super) fn classify(snap: &Snapshot, ip: &Ipv4Facts) -> Class {
    if snap.own_port(ip.dst).is_some() {
        return if ip.is_echo_request() {
            Class::Echo
        } else {
            Class::Kernel
        };
    }
    if snap.services.is_vip(ip.dst) {
        if !snap.ha.active {
            return Class::HaBackup;
        }
        return match ip.proto {
            ip_proto::ICMP if ip.fragment => Class::IcmpFragmentToVip,
            ip_proto::ICMP if ip.is_echo_request() => Class::Echo,
            ip_proto::ICMP => Class::IcmpToVip,
            _ => Class::ToService,
        };
    }
    if snap.ha.vrrp && ip.proto == vrrp::PROTOCOL && ip.dst == vrrp::GROUP_V4 {
        // VRRP adverts: the management thread's raw socket behind the exception path.
        return Class::Kernel;
    }
    if snap.ha.sync_group == Some(ip.dst) {
        // Connection sync's multicast: the management thread's socket behind the exception path.
        return Class::Kernel;
    }
    match ip.proto {
        // Other multicast is never a reply, and nothing here listens to it.
        _ if ip.dst.is_multicast() => Class::NotForUs,
        ip_proto::TCP | ip_proto::UDP => Class::Reply,
        ip_proto::ICMP => Class::IcmpFromReal,
        _ => Class::NotForUs,
    }
}

impl<F: Frame> Engine<F> {
    /// Warms the cache for a burst about to be processed: prefetches the connection-table bucket
    /// of every packet, then (once those are on their way) the entry each bucket points to. At a
    /// million connections each lookup in `process` would otherwise be a serial miss to DRAM.
    /// What it parses is kept for [`Engine::process_received`], so no packet is parsed twice.
    /// IPv6 packets warm the IPv6 table the same way (`v6/warm.rs`).
    #[inline]
    pub fn warm<'a>(&mut self, frames: impl Iterator<Item = &'a [u8]>) {
        // (reply index?, bucket) per packet; usize::MAX: nothing to look up.
        let mut slots = [(false, usize::MAX); WARM_MAX];
        let mut n = 0;
        let mut v4 = 0u64;
        for (i, (slot, frame)) in slots.iter_mut().zip(frames).enumerate() {
            n += 1;
            let ip = match parse_frame(frame) {
                Ok(Parsed {
                    l3,
                    net: Net::Ipv4(ip),
                }) => {
                    self.warmed[i] = (l3, ip);
                    v4 |= 1 << i;
                    ip
                }
                Ok(Parsed {
                    net: Net::Ipv6(ip), ..
                }) => {
                    if let Some(v6) = self.v6.as_deref_mut() {
                        v6.warm_bucket(&self.snap.v6, &ip);
                    }
                    continue;
                }
                _ => continue,
            };
            let Some(proto) = Protocol::from_ip_proto(ip.proto) else {
                continue;
            };
            let reply = !self.snap.services.is_vip(ip.dst);
            let bucket = if reply {
                self.conns
                    .bucket_index_out(proto, ip.src, ip.sport, ip.dst, ip.dport)
            } else {
                self.conns
                    .bucket_index_in(proto, ip.src, ip.sport, ip.dst, ip.dport)
            };
            *slot = (reply, bucket);
            prefetch(self.conns.bucket_addr(reply, bucket));
        }
        self.warmed_v4 = v4;
        for &(reply, bucket) in &slots[..n] {
            if bucket != usize::MAX {
                prefetch(self.conns.entry_addr(self.conns.bucket_head(reply, bucket)));
            }
        }
        if let Some(v6) = self.v6.as_deref_mut() {
            v6.warm_entries();
        }
    }

    /// The worker that owns the connections of `client:cport`; for a persistent service (`mask`)
    /// the masked client address alone decides, so a client's connections share a worker.
    #[inline]
    fn owner(&self, client: Ipv4Addr, cport: u16, mask: Option<u32>) -> usize {
        match mask {
            Some(mask) => flow::owner_worker_persistent(client, mask, self.n_workers),
            None => flow::owner_worker(client, cport, self.n_workers),
        }
    }

    /// The other worker a packet of `client:cport` belongs to, if not this one. A packet that was
    /// handed over is processed here whatever the rule says (no ping-pong across a reload).
    #[inline]
    pub(super) fn elsewhere(
        &self,
        handed: bool,
        client: Ipv4Addr,
        cport: u16,
        mask: Option<u32>,
    ) -> Option<usize> {
        if handed {
            return None;
        }
        let owner = self.owner(client, cport, mask);
        (owner != self.id).then_some(owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parsed::parse_ipv4;

    fn facts(dst: [u8; 4], proto: u8, l4: &[u8], frag: u16) -> Ipv4Facts {
        let mut b = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0, 198, 18, 0, 2];
        b.extend_from_slice(&dst);
        b.extend_from_slice(l4);
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        b[6..8].copy_from_slice(&frag.to_be_bytes());
        parse_ipv4(&b, 14).unwrap()
    }

    #[test]
    fn classes_by_destination_and_protocol() {
        let snap =
            super::super::sim::snapshot_from_yaml(super::super::sim::EXAMPLE_CONFIG, 1).unwrap();
        let port_addr = [198, 18, 0, 1];
        let vip = [198, 18, 0, 100];
        let other = [198, 18, 0, 2];
        let echo = [8, 0, 0, 0, 0, 1, 0, 1];
        let unreach = [3, 3, 0, 0, 0, 0, 0, 0];
        let tcp = [0u8; 20];
        let cases = [
            (port_addr, ip_proto::ICMP, &echo[..], 0, Class::Echo),
            (port_addr, ip_proto::ICMP, &unreach[..], 0, Class::Kernel),
            (port_addr, ip_proto::TCP, &tcp[..], 0, Class::Kernel),
            (vip, ip_proto::ICMP, &echo[..], 0, Class::Echo),
            (vip, ip_proto::ICMP, &unreach[..], 0, Class::IcmpToVip),
            (
                vip,
                ip_proto::ICMP,
                &echo[..],
                0x2000,
                Class::IcmpFragmentToVip,
            ),
            (vip, ip_proto::TCP, &tcp[..], 0, Class::ToService),
            (vip, ip_proto::IPIP, &tcp[..], 0, Class::ToService),
            (other, ip_proto::TCP, &tcp[..], 0, Class::Reply),
            (other, ip_proto::ICMP, &unreach[..], 0, Class::IcmpFromReal),
            (other, ip_proto::IPIP, &tcp[..], 0, Class::NotForUs),
        ];
        for (dst, proto, l4, frag, want) in cases {
            let ip = facts(dst, proto, l4, frag);
            assert_eq!(classify(&snap, &ip), want, "{dst:?} {proto} {frag:#x}");
        }
    }
}
