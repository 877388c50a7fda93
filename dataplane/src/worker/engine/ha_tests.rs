//! VIP ownership (VRRP, docs/ha.md) as the engine applies it: only the master answers ARP for
//! the VIPs and floating addresses and forwards traffic to the VIPs; a backup drops both under
//! `drop_ha_backup`; port addresses are answered either way; VRRP adverts reach the kernel.

use super::sim::{Sim, EXAMPLE_CONFIG};
use crate::lb::forward::arp::build_arp_request;
use crate::wire::vrrp::{VrrpRepr, GROUP_V4};
use crate::wire::MacAddr;
use std::net::Ipv4Addr;

const VRRP: &str = "vrrp: {vrid: 51, priority: 100, port: ext, \
                    floating: [{ip: 198.19.0.254, port: int}]}\n";

fn sim() -> Sim {
    Sim::new(&format!("{EXAMPLE_CONFIG}{VRRP}"), 1, true).unwrap()
}

fn arp_for(target: [u8; 4], sender: [u8; 4]) -> Vec<u8> {
    let mut b = vec![0u8; 60];
    let n = build_arp_request(
        &mut b,
        MacAddr([2, 0, 0, 0, 1, 2]),
        Ipv4Addr::from(sender),
        Ipv4Addr::from(target),
    )
    .unwrap();
    b.truncate(n.max(42));
    b
}

fn syn_to_vip() -> Vec<u8> {
    super::fuzz::templates()[1].clone()
}

/// An advert from 198.18.0.2 to 224.0.0.18 in an Ethernet frame.
fn advert_frame() -> Vec<u8> {
    let r = VrrpRepr {
        vrid: 51,
        priority: 150,
        max_advert_interval_cs: 100,
        addresses: vec![Ipv4Addr::new(198, 18, 0, 100)],
    };
    let src = Ipv4Addr::new(198, 18, 0, 2);
    let mut v = vec![0u8; r.buffer_len()];
    r.emit(&mut v, src, GROUP_V4).unwrap();
    let mut f = vec![
        0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 2, 0, 0, 0, 1, 2, 0x08, 0x00,
    ];
    let mut ip = vec![0x45, 0xc0, 0, 0, 0, 0, 0, 0, 255, 112, 0, 0];
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&GROUP_V4.octets());
    ip.extend_from_slice(&v);
    let len = ip.len() as u16;
    ip[2..4].copy_from_slice(&len.to_be_bytes());
    let c = crate::wire::checksum::checksum(&ip[..20]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f
}

#[test]
fn a_backup_answers_no_arp_for_vips_or_floating_and_forwards_nothing() {
    let mut s = sim();
    s.set_ha_active(false).unwrap();
    let (ext, int) = (s.port("ext"), s.port("int"));
    s.rx(0, ext, &arp_for([198, 18, 0, 100], [198, 18, 0, 2]));
    s.rx(0, int, &arp_for([198, 19, 0, 254], [198, 19, 0, 11]));
    s.rx(0, ext, &syn_to_vip());
    // The port's own address is answered whatever the VRRP state.
    s.rx(0, ext, &arp_for([198, 18, 0, 1], [198, 18, 0, 2]));
    assert_eq!(s.counter("drop_ha_backup"), 3);
    assert_eq!(s.counter("arp_replies"), 1);
    assert_eq!(s.counter("nat_in"), 0);
    assert_eq!(s.take_sent(ext).len(), 1);
    assert_eq!(s.take_sent(int).len(), 0);
}

#[test]
fn a_master_answers_for_vips_and_floating_and_forwards() {
    let mut s = sim();
    s.set_ha_active(true).unwrap();
    let (ext, int) = (s.port("ext"), s.port("int"));
    s.rx(0, ext, &arp_for([198, 18, 0, 100], [198, 18, 0, 2]));
    s.rx(0, int, &arp_for([198, 19, 0, 254], [198, 19, 0, 11]));
    s.rx(0, ext, &syn_to_vip());
    assert_eq!(s.counter("drop_ha_backup"), 0);
    assert_eq!(s.counter("arp_replies"), 2);
    assert_eq!(s.counter("nat_in"), 1);
    let replies = s.take_sent(int);
    // The floating address's ARP reply (from the int port's MAC) and the NAT-forwarded SYN.
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0][6..12], [0x02, 0xd0, 0, 0, 0, 0x02]);
}

#[test]
fn adverts_go_to_the_kernel_in_either_state() {
    for active in [false, true] {
        let mut s = sim();
        s.set_ha_active(active).unwrap();
        let ext = s.port("ext");
        s.rx(0, ext, &advert_frame());
        let k = s.take_kernel();
        assert_eq!(k.len(), 1, "active {active}");
        assert_eq!(k[0].0, ext);
        assert_eq!(s.counter("drop_not_for_us"), 0);
    }
    // Without VRRP configured, adverts are not for us.
    let mut s = Sim::new(EXAMPLE_CONFIG, 1, true).unwrap();
    let ext = s.port("ext");
    s.rx(0, ext, &advert_frame());
    assert_eq!(s.counter("drop_not_for_us"), 1);
    assert_eq!(s.take_kernel().len(), 0);
}
