//! The pcaps pktgen-dpdk replays for many flows (`-s P:file.pcap`, perf/pktgen/run): its `range`
//! mode advances every field in lockstep and keeps at most one distinct packet per mbuf of its
//! pool, so it cannot walk 1 M flows. One SYN per flow opens them; one ACK|PSH per flow then
//! walks them round-robin. Flow numbering and frames are the perf generator's (flows.rs,
//! frame.rs), so `scripts/perf` and pktgen-dpdk drive the same connections.

use crate::frame::{self, Target};
use crate::pcap::PcapWriter;
use crate::sizes;
use anyhow::{bail, Context, Result};
use std::io::Write;

/// Which phase a pcap carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// SYN only (no ACK bit): opens each flow.
    Syn,
    /// ACK|PSH: an established packet of each flow.
    Ack,
}

impl Phase {
    /// The TCP flags of the phase's packets.
    pub fn flags(self) -> u8 {
        match self {
            Phase::Syn => frame::SYN,
            Phase::Ack => frame::ACK_PSH,
        }
    }
}

/// Writes one frame per flow `0..flows`, `wire_size` bytes on the wire (with FCS, as pktgen
/// counts sizes), to `out`. Returns the frames written.
pub fn write(
    out: impl Write,
    target: &Target,
    flows: u32,
    phase: Phase,
    wire_size: usize,
) -> Result<u64> {
    if !(sizes::MIN..=sizes::MAX).contains(&wire_size) {
        bail!(
            "size {wire_size}: a wire size from {} to {} bytes",
            sizes::MIN,
            sizes::MAX
        );
    }
    let mut w = PcapWriter::new(out)?;
    let mut buf = vec![0u8; wire_size - sizes::FCS];
    for flow in 0..flows {
        if !frame::write_tcp(&mut buf, target, flow, phase.flags(), 0) {
            bail!("size {wire_size}: no TCP frame of that length");
        }
        w.write(u64::from(flow), &buf).context("writing the pcap")?;
    }
    let n = w.frames();
    w.finish()?;
    Ok(n)
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        bail!("MAC `{s}`: six hex bytes separated by ':'");
    }
    let mut m = [0u8; 6];
    for (o, p) in m.iter_mut().zip(parts) {
        *o = u8::from_str_radix(p, 16).with_context(|| format!("MAC `{s}`"))?;
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::read_frames;
    use std::net::Ipv4Addr;

    fn target() -> Target {
        Target {
            src_mac: [2, 0, 0, 0, 1, 1],
            dst_mac: [2, 0, 0, 0, 0, 1],
            vip: Ipv4Addr::new(198, 18, 0, 100).into(),
            vport: 80,
        }
    }

    #[test]
    fn syn_pcap_opens_each_flow_once_with_syn_alone() {
        let mut bytes = Vec::new();
        assert_eq!(
            write(&mut bytes, &target(), 4097, Phase::Syn, 64).unwrap(),
            4097
        );
        let frames = read_frames(&bytes).unwrap();
        assert_eq!(frames.len(), 4097);
        let mut seen = std::collections::HashSet::new();
        for (i, (_, f)) in frames.iter().enumerate() {
            assert_eq!(f.len(), 60, "frame {i}");
            assert_eq!(&f[0..6], &[2, 0, 0, 0, 0, 1]);
            assert_eq!(&f[6..12], &[2, 0, 0, 0, 1, 1]);
            assert_eq!(f[frame::TCP + 13], 0x02, "frame {i}: SYN without ACK");
            assert_eq!(&f[frame::IP + 16..frame::IP + 20], &[198, 18, 0, 100]);
            assert_eq!(&f[frame::TCP + 2..frame::TCP + 4], &80u16.to_be_bytes());
            let src = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
            let sport = u16::from_be_bytes([f[frame::TCP], f[frame::TCP + 1]]);
            assert_eq!(crate::flows::flow_of(src, sport), Some(i as u32));
            assert!(seen.insert((src, sport)));
        }
        // Flow 4096 wraps the 4096 client addresses onto the next port.
        let (_, last) = frames[4096];
        assert_eq!(&last[26..30], &[198, 18, 16, 0]);
        assert_eq!(&last[frame::TCP..frame::TCP + 2], &1025u16.to_be_bytes());
    }

    #[test]
    fn ack_pcap_carries_ack_psh_and_the_asked_size() {
        let mut bytes = Vec::new();
        assert_eq!(write(&mut bytes, &target(), 3, Phase::Ack, 570).unwrap(), 3);
        let frames = read_frames(&bytes).unwrap();
        assert_eq!(
            frames.iter().map(|(_, f)| f.len()).collect::<Vec<_>>(),
            [566, 566, 566]
        );
        assert!(frames.iter().all(|(_, f)| f[frame::TCP + 13] == 0x18));
        // Valid IPv4 header checksum (the one's complement sum of the header is 0xffff).
        let ip = &frames[0].1[frame::IP..frame::TCP];
        let sum: u32 = ip
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        assert_eq!((sum & 0xffff) + (sum >> 16), 0xffff);
    }

    #[test]
    fn refuses_sizes_off_the_wire_range_and_bad_macs() {
        let e = write(Vec::new(), &target(), 1, Phase::Syn, 63).unwrap_err();
        assert_eq!(e.to_string(), "size 63: a wire size from 64 to 1518 bytes");
        assert_eq!(parse_mac("02:00:00:00:00:0a").unwrap(), [2, 0, 0, 0, 0, 10]);
        assert_eq!(
            parse_mac("02:00:00").unwrap_err().to_string(),
            "MAC `02:00:00`: six hex bytes separated by ':'"
        );
        assert!(parse_mac("02:00:00:00:00:zz").is_err());
    }
}
