//! VRRP's wire I/O on the exception interface: an ordinary raw IPv4 socket for protocol 112,
//! bound to the port's kernel interface, joined to 224.0.0.18, sending with TTL 255 (the kernel
//! builds the IP header), and the receive checks of RFC 5798 7.1 as a plain function.

use crate::wire::vrrp::{self, VrrpPacket, VrrpRepr};
use crate::wire::{Ipv4Packet, WireError};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};

use super::state::Heard;

/// Why a received datagram was dropped (each counted under its own name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Too short, or not an IPv4 packet of protocol 112.
    Malformed,
    /// TTL other than 255: it crossed a router.
    Ttl,
    /// The checksum (over the pseudo-header) does not verify.
    Checksum,
    /// Not version 3 or not an advertisement.
    Version,
    /// Another virtual router's advert.
    Vrid,
}

/// RFC 5798 7.1 on one received IPv4 datagram (header included, as a raw socket gives it).
pub fn judge(datagram: &[u8], vrid: u8) -> Result<Heard, Refused> {
    let ip = Ipv4Packet::new_checked(datagram).map_err(|_| Refused::Malformed)?;
    if ip.protocol() != vrrp::PROTOCOL || ip.is_fragment() {
        return Err(Refused::Malformed);
    }
    if ip.ttl() != vrrp::TTL {
        return Err(Refused::Ttl);
    }
    let p = VrrpPacket::new_checked(ip.payload()).map_err(|_| Refused::Malformed)?;
    if !p.verify_checksum(ip.src_addr(), ip.dst_addr()) {
        return Err(Refused::Checksum);
    }
    let r = VrrpRepr::parse(&p).map_err(|e| match e {
        WireError::BadVersion | WireError::Unsupported => Refused::Version,
        _ => Refused::Malformed,
    })?;
    if r.vrid != vrid {
        return Err(Refused::Vrid);
    }
    Ok(Heard {
        src: ip.src_addr(),
        priority: r.priority,
        interval_cs: r.max_advert_interval_cs,
    })
}

/// The raw socket of one virtual router.
pub struct Link {
    sock: Socket,
    /// The interface's address: the adverts' source, in their checksum.
    pub addr: Ipv4Addr,
    buf: Vec<u8>,
}

impl Link {
    /// Opens the socket on kernel interface `iface` whose address is `addr`.
    pub fn open(iface: &str, addr: Ipv4Addr) -> io::Result<Link> {
        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112)))?;
        sock.bind_device(Some(iface.as_bytes()))?;
        sock.set_multicast_if_v4(&addr)?;
        sock.set_multicast_ttl_v4(u32::from(vrrp::TTL))?;
        sock.set_multicast_loop_v4(false)?;
        sock.set_ttl(u32::from(vrrp::TTL))?;
        sock.join_multicast_v4(&vrrp::GROUP_V4, &addr)?;
        sock.set_nonblocking(true)?;
        Ok(Link {
            sock,
            addr,
            buf: vec![0; 2048],
        })
    }

    /// Sends one advert to the group.
    pub fn send(&self, r: &VrrpRepr) -> io::Result<()> {
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b, self.addr, vrrp::GROUP_V4)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let to = SockAddr::from(SocketAddrV4::new(vrrp::GROUP_V4, 0));
        self.sock.send_to(&b, &to)?;
        Ok(())
    }

    /// The next datagram waiting (IP header included), if any.
    pub fn recv(&mut self) -> Option<&[u8]> {
        match (&self.sock).read(&mut self.buf) {
            Ok(n) => Some(&self.buf[..n]),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 header (no options) around `payload`, protocol 112, from 198.18.0.2 to the group.
    fn datagram(ttl: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![
            0x45, 0xc0, 0, 0, 0, 0, 0, 0, ttl, 112, 0, 0, 198, 18, 0, 2, 224, 0, 0, 18,
        ];
        b.extend_from_slice(payload);
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        let c = crate::wire::checksum::checksum(&b[..20]);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        b
    }

    fn advert(vrid: u8) -> Vec<u8> {
        let r = VrrpRepr {
            vrid,
            priority: 100,
            max_advert_interval_cs: 100,
            addresses: vec![Ipv4Addr::new(198, 18, 0, 100)],
        };
        let mut b = vec![0; r.buffer_len()];
        r.emit(&mut b, Ipv4Addr::new(198, 18, 0, 2), vrrp::GROUP_V4)
            .unwrap();
        b
    }

    /// keepalived 2.2.7's advert as captured (IP header included; see wire::vrrp's tests).
    const KEEPALIVED_DATAGRAM: [u8; 32] = [
        0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x18, 0x90, 0xc0, 0x00, 0x02,
        0x0a, 0xe0, 0x00, 0x00, 0x12, 0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x05, 0x69, 0xc0, 0x00,
        0x02, 0x64,
    ];

    #[test]
    fn keepalived_advert_is_heard() {
        assert_eq!(
            judge(&KEEPALIVED_DATAGRAM, 51),
            Ok(Heard {
                src: Ipv4Addr::new(192, 0, 2, 10),
                priority: 100,
                interval_cs: 100
            })
        );
        assert_eq!(judge(&KEEPALIVED_DATAGRAM, 52), Err(Refused::Vrid));
    }

    #[test]
    fn a_good_advert_is_heard() {
        assert_eq!(
            judge(&datagram(255, &advert(51)), 51),
            Ok(Heard {
                src: Ipv4Addr::new(198, 18, 0, 2),
                priority: 100,
                interval_cs: 100
            })
        );
    }

    #[test]
    fn each_refusal_has_its_reason() {
        assert_eq!(judge(&datagram(64, &advert(51)), 51), Err(Refused::Ttl));
        assert_eq!(judge(&datagram(255, &advert(52)), 51), Err(Refused::Vrid));
        let mut bad = advert(51);
        bad[2] ^= 1;
        assert_eq!(judge(&datagram(255, &bad), 51), Err(Refused::Checksum));
        let mut v2 = advert(51);
        v2[0] = 0x21;
        // Fix the checksum so that only the version is wrong.
        v2[6] = 0;
        v2[7] = 0;
        let c = crate::wire::checksum::l4_checksum_v4(
            Ipv4Addr::new(198, 18, 0, 2),
            vrrp::GROUP_V4,
            112,
            &v2,
        );
        v2[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(judge(&datagram(255, &v2), 51), Err(Refused::Version));
        assert_eq!(judge(&datagram(255, &[0x31]), 51), Err(Refused::Malformed));
        assert_eq!(judge(&[0x45, 0], 51), Err(Refused::Malformed));
    }
}
