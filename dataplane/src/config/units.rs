//! Value types written as text in the config: durations with units ("900s", "2m", "250ms"),
//! IPv4 prefixes ("198.18.0.1/24") and MAC addresses.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

/// A duration written with a unit: `ms`, `s`, `m`, `h` (e.g. `900s`, `2m`, `250ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn millis(&self) -> u64 {
        self.0.as_millis() as u64
    }
    pub fn secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }
}

/// The longest duration a config may give: u32::MAX seconds (about 136 years).
const MAX_DUR_MS: u64 = u32::MAX as u64 * 1000;

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Dur, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a duration (write e.g. 900s, 2m, 250ms)"))?;
        let per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" => return Err(format!("`{s}` needs a unit: ms, s, m or h")),
            _ => return Err(format!("`{s}`: unknown unit `{unit}` (ms, s, m, h)")),
        };
        // The runtime keeps timeouts in u32 seconds; anything longer is a typo, not a wish.
        match n.checked_mul(per_unit) {
            Some(ms) if ms <= MAX_DUR_MS => Ok(Dur(Duration::from_millis(ms))),
            _ => Err(format!(
                "`{s}` is too long (at most {}s)",
                MAX_DUR_MS / 1000
            )),
        }
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.millis();
        if !ms.is_multiple_of(1000) {
            write!(f, "{ms}ms")
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

/// The netmask of a prefix length (`24` -> `0xffff_ff00`); lengths above 32 count as 32.
/// The one place the project turns a prefix length into a mask.
pub fn prefix_mask(len: u8) -> u32 {
    match len.min(32) {
        0 => 0,
        l => u32::MAX << (32 - u32::from(l)),
    }
}

/// An IPv4 address with a prefix length: `198.18.0.1/24` (a bare address means /32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl Ipv4Net {
    pub fn mask(&self) -> u32 {
        prefix_mask(self.len)
    }
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) & self.mask()) == u32::from(self.network())
    }
}

impl FromStr for Ipv4Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Ipv4Net, String> {
        let (a, l) = s.split_once('/').unwrap_or((s, "32"));
        let addr: Ipv4Addr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 address"))?;
        let len: u8 = l
            .trim()
            .parse()
            .ok()
            .filter(|&n| n <= 32)
            .ok_or_else(|| format!("`{l}` is not a prefix length (0-32)"))?;
        Ok(Ipv4Net { addr, len })
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A MAC address `02:00:00:00:00:11`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Mac, String> {
        s.parse::<crate::wire::MacAddr>()
            .map(|m| Mac(m.0))
            .map_err(|_| format!("`{s}` is not a MAC address (aa:bb:cc:dd:ee:ff)"))
    }
}

/// What the L2 forwarding mode does with the Ethernet addresses of a frame (`l2fwd.mac`);
/// `worker::l2fwd` applies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacRewrite {
    /// Untouched (testpmd io).
    None,
    /// Source and destination swapped (testpmd macswap).
    Swap,
    /// Destination set to the next hop, source to the output port's MAC (DPDK l2fwd).
    NextHop([u8; 6]),
}

impl MacRewrite {
    /// Parses `none`, `swap` or a MAC address `aa:bb:cc:dd:ee:ff`.
    pub fn parse(s: &str) -> Result<MacRewrite, String> {
        match s {
            "none" => Ok(MacRewrite::None),
            "swap" => Ok(MacRewrite::Swap),
            _ => s
                .parse::<Mac>()
                .map(|m| MacRewrite::NextHop(m.0))
                .map_err(|_| format!("`{s}` is neither none, swap nor a MAC address")),
        }
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// serde through FromStr/Display for the text-valued types above.
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
text_serde!(Dur);
text_serde!(Ipv4Net);
text_serde!(Mac);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!("900s".parse::<Dur>().unwrap().millis(), 900_000);
        assert_eq!("2m".parse::<Dur>().unwrap().millis(), 120_000);
        assert_eq!("250ms".parse::<Dur>().unwrap().millis(), 250);
        assert_eq!("1h".parse::<Dur>().unwrap().millis(), 3_600_000);
        assert!("900".parse::<Dur>().is_err());
        assert!("9x".parse::<Dur>().is_err());
        assert!("s".parse::<Dur>().is_err());
        assert_eq!(
            "4294967295s".parse::<Dur>().unwrap().millis(),
            4_294_967_295_000
        );
        for long in ["4294967296s", "18446744073709551615s", "5124095576030431h"] {
            let e = long.parse::<Dur>().unwrap_err();
            assert_eq!(e, format!("`{long}` is too long (at most 4294967295s)"));
        }
        assert_eq!(Dur::secs(5).to_string(), "5s");
    }

    #[test]
    fn prefixes() {
        let n: Ipv4Net = "198.18.0.1/24".parse().unwrap();
        assert_eq!(n.network(), Ipv4Addr::new(198, 18, 0, 0));
        assert!(n.contains(Ipv4Addr::new(198, 18, 0, 200)));
        assert!(!n.contains(Ipv4Addr::new(198, 19, 0, 1)));
        let d: Ipv4Net = "0.0.0.0/0".parse().unwrap();
        assert!(d.contains(Ipv4Addr::new(203, 0, 113, 9)));
        assert!("198.18.0.1/33".parse::<Ipv4Net>().is_err());
        assert_eq!("198.18.0.9".parse::<Ipv4Net>().unwrap().len, 32);
    }

    #[test]
    fn macs() {
        let m: Mac = "02:00:00:00:00:1f".parse().unwrap();
        assert_eq!(m.0, [2, 0, 0, 0, 0, 0x1f]);
        assert_eq!(m.to_string(), "02:00:00:00:00:1f");
        assert!("02:00:00:00:00".parse::<Mac>().is_err());
        assert!("02:00:00:00:00:00:01".parse::<Mac>().is_err());
    }
}
