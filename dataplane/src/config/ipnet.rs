//! IPv6 and family-agnostic prefixes as the config writes them: `2001:db8::1/64` (a port's
//! `ip6`), and a route prefix of either family (`0.0.0.0/0`, `2001:db8:2::/48`). A bare address
//! is a host prefix (/32 or /128).

use super::units::Ipv4Net;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// The mask of an IPv6 prefix length (lengths above 128 count as 128).
pub fn prefix_mask6(len: u8) -> u128 {
    match len.min(128) {
        0 => 0,
        l => u128::MAX << (128 - u32::from(l)),
    }
}

/// An IPv6 address with a prefix length: `2001:db8::1/64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Net {
    pub addr: Ipv6Addr,
    pub len: u8,
}

impl Ipv6Net {
    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) & prefix_mask6(self.len))
    }
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        (u128::from(ip) & prefix_mask6(self.len)) == u128::from(self.network())
    }
}

impl FromStr for Ipv6Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Ipv6Net, String> {
        let (a, l) = s.split_once('/').unwrap_or((s, "128"));
        let addr: Ipv6Addr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv6 address"))?;
        let len: u8 = l
            .trim()
            .parse()
            .ok()
            .filter(|&n| n <= 128)
            .ok_or_else(|| format!("`{l}` is not a prefix length (0-128)"))?;
        Ok(Ipv6Net { addr, len })
    }
}

impl fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A prefix of either family (a route's destination).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpNet {
    V4(Ipv4Net),
    V6(Ipv6Net),
}

impl IpNet {
    pub fn addr(&self) -> IpAddr {
        match self {
            IpNet::V4(n) => IpAddr::V4(n.addr),
            IpNet::V6(n) => IpAddr::V6(n.addr),
        }
    }
    pub fn prefix_len(&self) -> u8 {
        match self {
            IpNet::V4(n) => n.len,
            IpNet::V6(n) => n.len,
        }
    }
    /// Does the prefix cover `ip` (always false across families)?
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (IpNet::V4(n), IpAddr::V4(a)) => n.contains(a),
            (IpNet::V6(n), IpAddr::V6(a)) => n.contains(a),
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<IpNet, String> {
        if s.contains(':') {
            s.parse().map(IpNet::V6)
        } else {
            s.parse().map(IpNet::V4)
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpNet::V4(n) => n.fmt(f),
            IpNet::V6(n) => n.fmt(f),
        }
    }
}

macro_rules! text_serde {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}
text_serde!(Ipv6Net);
text_serde!(IpNet);

/// `IP` or `IP:PORT`, IPv6 in brackets when a port follows (`[2001:db8::1]:80`); a bare IPv6
/// address needs no brackets (`2001:db8::1`).
pub fn parse_addr_port(s: &str) -> Result<(IpAddr, Option<u16>), String> {
    let bad = || format!("`{s}` is not IP, IPv4:PORT or [IPv6]:PORT");
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, tail) = rest.split_once(']').ok_or_else(bad)?;
        let ip: std::net::Ipv6Addr = ip.parse().map_err(|_| bad())?;
        return match tail {
            "" => Ok((IpAddr::V6(ip), None)),
            _ => {
                let port = tail.strip_prefix(':').ok_or_else(bad)?;
                Ok((IpAddr::V6(ip), Some(port.parse().map_err(|_| bad())?)))
            }
        };
    }
    let (ip, port) = s.split_once(':').ok_or_else(bad)?;
    let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| bad())?;
    Ok((IpAddr::V4(ip), Some(port.parse().map_err(|_| bad())?)))
}

/// `198.18.0.1:80`, `[2001:db8::1]:80`: an address and a port as the config and `ctl` write them.
pub fn addr_port(ip: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6_prefixes() {
        let n: Ipv6Net = "2001:db8::1/64".parse().unwrap();
        assert_eq!(n.network(), "2001:db8::".parse::<Ipv6Addr>().unwrap());
        assert!(n.contains("2001:db8::ffff".parse().unwrap()));
        assert!(!n.contains("2001:db8:1::1".parse().unwrap()));
        assert_eq!("2001:db8::9".parse::<Ipv6Net>().unwrap().len, 128);
        assert_eq!(
            "2001:db8::/129".parse::<Ipv6Net>(),
            Err("`129` is not a prefix length (0-128)".to_string())
        );
        assert!("198.18.0.1/24".parse::<Ipv6Net>().is_err());
        assert_eq!(n.to_string(), "2001:db8::1/64");
    }

    #[test]
    fn either_family() {
        let a: IpNet = "0.0.0.0/0".parse().unwrap();
        let b: IpNet = "2001:db8:2::/48".parse().unwrap();
        assert!(a.contains("203.0.113.9".parse().unwrap()));
        assert!(!a.contains("2001:db8::1".parse().unwrap()));
        assert!(b.contains("2001:db8:2:ff::1".parse().unwrap()));
        assert!(!b.contains("198.18.0.1".parse().unwrap()));
        assert_eq!((a.prefix_len(), b.prefix_len()), (0, 48));
        assert_eq!(b.to_string(), "2001:db8:2::/48");
        assert!("2001:db8::/x".parse::<IpNet>().is_err());
    }

    #[test]
    fn addresses_with_ports() {
        let v6: IpAddr = "2001:db8:1::11".parse().unwrap();
        let v4: IpAddr = "198.19.0.11".parse().unwrap();
        assert_eq!(parse_addr_port("2001:db8:1::11"), Ok((v6, None)));
        assert_eq!(parse_addr_port("[2001:db8:1::11]"), Ok((v6, None)));
        assert_eq!(parse_addr_port("[2001:db8:1::11]:80"), Ok((v6, Some(80))));
        assert_eq!(parse_addr_port("198.19.0.11"), Ok((v4, None)));
        assert_eq!(parse_addr_port("198.19.0.11:8080"), Ok((v4, Some(8080))));
        for bad in [
            "",
            "web",
            "198.19.0.11:x",
            "[2001:db8::1]80",
            "[2001:db8::1]:99999",
            "[198.19.0.11]:80",
            "2001:db8::1:80:",
        ] {
            assert!(parse_addr_port(bad).is_err(), "{bad}");
        }
        assert_eq!(addr_port(v6, 80), "[2001:db8:1::11]:80");
        assert_eq!(addr_port(v4, 80), "198.19.0.11:80");
    }
}
