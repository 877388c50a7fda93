//! Frame sizes. Sizes are named as pktgen and RFC 2544 name them, on the wire with the 4-byte
//! FCS (64 B .. 1518 B); the frame we build is 4 bytes shorter (the device adds the FCS).

use anyhow::{bail, Result};

/// Bytes of FCS that a size includes and the frame we build does not.
pub const FCS: usize = 4;
/// The smallest size: room for Ethernet + IPv4 + TCP + a 6-byte stamp.
pub const MIN: usize = 64;
pub const MAX: usize = 1518;

/// The simple IMIX: 7 x 64, 4 x 570, 1 x 1518, interleaved (average 353.83 B).
pub const IMIX: [u16; 12] = [64, 570, 64, 64, 570, 64, 1518, 64, 570, 64, 64, 570];

/// A size pattern the generator cycles through, packet by packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeMix {
    pattern: Vec<u16>,
    pub name: String,
}

impl SizeMix {
    /// `64`..`1518` or `imix`.
    pub fn parse(s: &str) -> Result<SizeMix> {
        if s.eq_ignore_ascii_case("imix") {
            return Ok(SizeMix {
                pattern: IMIX.to_vec(),
                name: "imix".into(),
            });
        }
        let n: usize = s
            .trim_end_matches(['B', 'b'])
            .parse()
            .map_err(|_| anyhow::anyhow!("size `{s}`: a number of bytes (64..1518) or `imix`"))?;
        if !(MIN..=MAX).contains(&n) {
            bail!("size {n}: must be {MIN}..={MAX} (on the wire, with FCS)");
        }
        Ok(SizeMix {
            pattern: vec![n as u16],
            name: format!("{n}"),
        })
    }

    /// The wire size (with FCS) of packet number `i`.
    #[inline]
    pub fn wire(&self, i: u64) -> usize {
        usize::from(self.pattern[(i % self.pattern.len() as u64) as usize])
    }

    /// The frame length we build for packet `i` (without FCS).
    #[inline]
    pub fn frame(&self, i: u64) -> usize {
        self.wire(i) - FCS
    }

    /// Average wire size over the pattern.
    pub fn average(&self) -> f64 {
        self.pattern.iter().map(|&s| f64::from(s)).sum::<f64>() / self.pattern.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sizes() {
        assert_eq!(SizeMix::parse("64").unwrap().frame(0), 60);
        assert_eq!(SizeMix::parse("1518B").unwrap().frame(7), 1514);
        assert!(SizeMix::parse("63").is_err());
        assert!(SizeMix::parse("1519").is_err());
        assert!(SizeMix::parse("big").is_err());
        let imix = SizeMix::parse("IMIX").unwrap();
        assert!((imix.average() - 353.83).abs() < 0.01);
        let counts = (0..12).fold([0; 3], |mut c, i| {
            c[match imix.wire(i) {
                64 => 0,
                570 => 1,
                _ => 2,
            }] += 1;
            c
        });
        assert_eq!(counts, [7, 4, 1]);
    }
}
