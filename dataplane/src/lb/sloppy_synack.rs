//! Which service a real's SYN-ACK of no connection belongs to, for reply-side sloppy TCP
//! (worker/engine/sloppy_synack.rs): in scale-out NAT the SYN-ACK can come back through an
//! appliance that has not yet heard of the connection. The appliance may open the connection
//! itself only when the real's address and port name one service without doubt, so the map
//! built here holds an entry per (address, port) of a NAT real of a TCP service, and marks as
//! refused every one that is ambiguous (in two services), whose service is not `sloppy_tcp` or
//! has the SYN proxy always on (the client's handshake was with the proxy, the real's SYN-ACK
//! answers the proxy's SYN and needs the proxy's state). A port-0 service's real keeps the
//! client's port, so its SYN-ACK's source port is the virtual port.
//! Built with the snapshot on the management thread; the workers only read it.

use super::service::ServiceTable;
use super::snapshot::SynPolicy;
use super::types::Protocol;
use super::word_hash::WordMap;
use crate::config::{Defence, SynProxyMode};
use crate::lb::family::Family;
use std::net::Ipv4Addr;

/// The service a SYN-ACK from a real opens a connection of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynAckService {
    /// The service's index in the snapshot's service table.
    pub service: u32,
    /// The virtual port; `None`: the SYN-ACK's source port (a port-0 service whose real keeps
    /// the client's port).
    pub vport: Option<u16>,
}

/// NAT TCP reals by (address, port) folded into one word -> their service, `None` where the
/// SYN-ACK must not open a connection (see the module doc).
#[derive(Default)]
pub struct SloppySynAck(WordMap<u64, Option<SynAckService>>);

impl SloppySynAck {
    /// The map for `services`, `sloppy[i]` saying whether service `i` has `sloppy_tcp` and
    /// `syn[i]` what SYN-flood defence it has.
    pub fn build(services: &ServiceTable, sloppy: &[bool], syn: &[SynPolicy]) -> SloppySynAck {
        let mut map: WordMap<u64, Option<SynAckService>> = WordMap::default();
        for (si, svc) in services.services().iter().enumerate() {
            if svc.key.proto != Protocol::Tcp {
                continue;
            }
            let vport = svc.key.port;
            // `auto` (the default) proxies only under a flood, so most SYN-ACKs are the real's
            // answer to the client; `always` proxies every one.
            let proxied = syn
                .get(si)
                .is_some_and(|p| p.mode == SynProxyMode::Always && p.defence != Defence::None);
            let on = sloppy.get(si).copied().unwrap_or(false) && !proxied;
            for r in svc
                .reals
                .iter()
                .filter(|r| r.forward_mode(svc.forward).is_nat())
            {
                let rport = r.dst_port(vport);
                let entry = match (vport, r.port) {
                    (0, 0) => Some(SynAckService {
                        service: si as u32,
                        vport: None,
                    }),
                    // Every virtual port to one real port (the config refuses it): which one
                    // the SYN-ACK answers is unknown.
                    (0, _) => None,
                    _ => Some(SynAckService {
                        service: si as u32,
                        vport: Some(vport),
                    }),
                };
                let k = key(r.addr, rport);
                match map.get(&k) {
                    // The same real twice in one service keeps its entry; in two: ambiguous.
                    Some(Some(e)) if entry.is_some_and(|n| n.service == e.service) => {}
                    Some(_) => {
                        map.insert(k, None);
                    }
                    None => {
                        map.insert(k, entry.filter(|_| on));
                    }
                }
            }
        }
        SloppySynAck(map)
    }

    /// The service and virtual port of a SYN-ACK from `real:rport`, if it may open a
    /// connection: one entry names it (a real of a fixed-port service and a port-0 real at the
    /// same address would be two).
    #[inline]
    pub fn lookup(&self, real: Ipv4Addr, rport: u16) -> Option<(usize, u16)> {
        let exact = self.0.get(&key(real, rport));
        let any = if rport == 0 {
            None
        } else {
            self.0.get(&key(real, 0))
        };
        let e = match (exact, any) {
            (Some(Some(e)), None) | (None, Some(Some(e))) => e,
            _ => return None,
        };
        Some((e.service as usize, e.vport.unwrap_or(rport)))
    }
}

#[inline]
fn key(addr: Ipv4Addr, port: u16) -> u64 {
    Ipv4Addr::service_word(Protocol::Tcp as u8, addr, port)
}

#[cfg(test)]
mod tests {
    use crate::worker::engine::sim::snapshot_from_yaml;
    use std::net::Ipv4Addr;

    const HEAD: &str = r#"eal: {lcores: "0-1", memory_mb: 256, hugepages: off}
workers: {cores: [1]}
mode: lb
ports:
  - {name: ext, device: net_null0, ip: 198.18.0.1/24, mac: "02:d0:00:00:00:01"}
  - {name: int, device: net_null1, ip: 198.19.0.1/24, mac: "02:d0:00:00:00:02"}
services:
"#;

    /// The map's answer for each real address (last octet) and port.
    fn answers(services: &str, asks: &[(u8, u16)]) -> Vec<Option<(usize, u16)>> {
        let snap = snapshot_from_yaml(&format!("{HEAD}{services}"), 1).unwrap();
        asks.iter()
            .map(|&(r, p)| snap.sloppy_synack.lookup(Ipv4Addr::new(198, 19, 0, r), p))
            .collect()
    }

    #[test]
    fn one_sloppy_nat_service_per_real_address_and_port() {
        let got = answers(
            "  - {name: a, vip: 198.18.0.100, port: 80, forward: nat, sloppy_tcp: true,
     reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12, port: 8080}]}
  - {name: b, vip: 198.18.0.101, port: 443, forward: nat, sloppy_tcp: true,
     reals: [{ip: 198.19.0.11}, {ip: 198.19.0.13}]}
  - {name: c, vip: 198.18.0.102, port: 0, forward: nat, sloppy_tcp: true,
     reals: [{ip: 198.19.0.14}]}
  - {name: d, vip: 198.18.0.103, port: 80, forward: nat, reals: [{ip: 198.19.0.16}]}
  - {name: e, vip: 198.18.0.104, port: 80, forward: dr, sloppy_tcp: true,
     reals: [{ip: 198.19.0.17}]}
  - {name: f, vip: 198.18.0.105, port: 80, forward: nat, sloppy_tcp: true,
     syn_proxy: {mode: always}, reals: [{ip: 198.19.0.18}]}
  - {name: g, vip: 198.18.0.106, port: 80, forward: nat, sloppy_tcp: true,
     syn_proxy: {mode: off}, reals: [{ip: 198.19.0.19}]}
",
            &[
                (11, 80),
                (11, 443),
                (12, 8080),
                (12, 80),
                (13, 443),
                (14, 5000),
                (16, 80),
                (17, 80),
                (18, 80),
                (19, 80),
            ],
        );
        assert_eq!(
            got,
            [
                Some((0, 80)),
                Some((1, 443)),
                Some((0, 80)),
                None,
                Some((1, 443)),
                // A port-0 real of a port-0 service: the virtual port is the real's port.
                Some((2, 5000)),
                // Not sloppy; DR; the SYN proxy always on.
                None,
                None,
                None,
                Some((6, 80)),
            ]
        );
    }

    #[test]
    fn a_real_address_and_port_in_two_services_is_refused() {
        let got = answers(
            "  - {name: a, vip: 198.18.0.100, port: 80, forward: nat, sloppy_tcp: true,
     reals: [{ip: 198.19.0.11}, {ip: 198.19.0.12}]}
  - {name: b, vip: 198.18.0.101, port: 80, forward: nat, reals: [{ip: 198.19.0.12}]}
  - {name: c, vip: 198.18.0.102, port: 0, forward: nat, sloppy_tcp: true,
     reals: [{ip: 198.19.0.11}]}
  - {name: d, vip: 198.18.0.103, port: 443, forward: nat, sloppy_tcp: true,
     reals: [{ip: 198.19.0.13}]}
",
            &[(11, 80), (11, 443), (12, 80), (13, 443)],
        );
        // .11:80 is a's and (any port) c's; .11:443 only c's; .12:80 is a's and b's (b not
        // sloppy: still ambiguous).
        assert_eq!(got, [None, Some((2, 443)), None, Some((3, 443))]);
    }
}
