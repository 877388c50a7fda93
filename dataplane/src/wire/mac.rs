//! Ethernet MAC addresses.

use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet address, in transmission order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Reads an address from the first 6 bytes of `b`; `None` when shorter.
    pub fn from_bytes(b: &[u8]) -> Option<MacAddr> {
        let b: [u8; 6] = b.get(..6)?.try_into().ok()?;
        Some(MacAddr(b))
    }

    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Group bit set (includes broadcast).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }

    /// Locally administered bit set (e.g. the 02:.. addresses of virtual ports).
    pub fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Why a string is not a MAC address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six hex octets like 02:00:00:00:00:11")]
pub struct ParseMacError(pub String);

impl FromStr for MacAddr {
    type Err = ParseMacError;

    /// Accepts six two-digit hex octets separated by `:` (or `-`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseMacError(s.to_string());
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for o in out.iter_mut() {
            let p = parts.next().ok_or_else(err)?;
            if p.len() != 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(err());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let m: MacAddr = "02:00:00:00:00:11".parse().unwrap();
        assert_eq!(m, MacAddr([2, 0, 0, 0, 0, 0x11]));
        assert_eq!(m.to_string(), "02:00:00:00:00:11");
        let u: MacAddr = "AA-bb-0C-dd-EE-0f".parse().unwrap();
        assert_eq!(u.to_string(), "aa:bb:0c:dd:ee:0f");
    }

    #[test]
    fn parse_rejects_garbage() {
        for s in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:11:22",
            "02:00:00:00:00:1",
            "02:00:00:00:00:zz",
            "0200:00:00:00:11",
            "+2:00:00:00:00:11",
        ] {
            assert!(s.parse::<MacAddr>().is_err(), "{s:?}");
        }
    }

    #[test]
    fn classes() {
        assert!(MacAddr::BROADCAST.is_broadcast());
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]).is_multicast());
        let m = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
        assert!(m.is_unicast() && m.is_local() && !m.is_zero());
        assert!(MacAddr::ZERO.is_zero());
        assert_eq!(MacAddr::from_bytes(&[1, 2, 3, 4, 5]), None);
        assert_eq!(
            MacAddr::from_bytes(&[1, 2, 3, 4, 5, 6, 7]),
            Some(MacAddr([1, 2, 3, 4, 5, 6]))
        );
    }
}
