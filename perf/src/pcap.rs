//! A classic libpcap file writer (the format pktgen-dpdk's `-s P:file.pcap` reads): a 24-byte
//! global header, then per frame a 16-byte record header and the frame without its FCS.
//! Little-endian, microsecond timestamps, link type Ethernet.

use std::io::{self, Write};

/// The magic of a microsecond-resolution pcap file (written little-endian).
pub const MAGIC: u32 = 0xa1b2_c3d4;
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Bytes of the global header.
pub const GLOBAL_HEADER: usize = 24;
/// Bytes of each record's header.
pub const RECORD_HEADER: usize = 16;
/// The largest frame kept whole (snaplen).
pub const SNAPLEN: u32 = 65535;

/// Writes frames to a pcap stream.
pub struct PcapWriter<W: Write> {
    out: W,
    frames: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut h = [0u8; GLOBAL_HEADER];
        h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes()); // version 2.4
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, frames: 0 })
    }

    /// Appends one frame (without FCS) stamped `usecs` microseconds after the epoch.
    pub fn write(&mut self, usecs: u64, frame: &[u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len())
            .ok()
            .filter(|&l| l <= SNAPLEN)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "frame longer than the snaplen")
            })?;
        let mut h = [0u8; RECORD_HEADER];
        h[0..4].copy_from_slice(&((usecs / 1_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((usecs % 1_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(frame)?;
        self.frames += 1;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Flushes and returns the stream.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads back the frames of a little-endian microsecond pcap held in memory (for tests and for
/// checking a written file): `(usecs, frame)` pairs, or None when the bytes are not such a file.
pub fn read_frames(bytes: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    if u32_at(bytes, 0)? != MAGIC || u32_at(bytes, 20)? != LINKTYPE_ETHERNET {
        return None;
    }
    let mut at = GLOBAL_HEADER;
    let mut frames = Vec::new();
    while at < bytes.len() {
        let secs = u64::from(u32_at(bytes, at)?);
        let usecs = u64::from(u32_at(bytes, at + 4)?);
        let incl = u32_at(bytes, at + 8)? as usize;
        let data = bytes.get(at + RECORD_HEADER..at + RECORD_HEADER + incl)?;
        frames.push((secs * 1_000_000 + usecs, data));
        at += RECORD_HEADER + incl;
    }
    Some(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_header_is_libpcap_2_4_ethernet() {
        let bytes = PcapWriter::new(Vec::new()).unwrap().finish().unwrap();
        assert_eq!(
            bytes,
            [
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0,
                0, 0
            ]
        );
        assert_eq!(read_frames(&bytes), Some(vec![]));
    }

    #[test]
    fn records_round_trip() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write(1_500_000, &[1, 2, 3]).unwrap();
        w.write(7, &[9; 60]).unwrap();
        assert_eq!(w.frames(), 2);
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len(), GLOBAL_HEADER + 2 * RECORD_HEADER + 3 + 60);
        // First record: 1 s, 500000 us, 3 bytes captured of 3.
        assert_eq!(
            &bytes[24..40],
            &[1, 0, 0, 0, 0x20, 0xa1, 7, 0, 3, 0, 0, 0, 3, 0, 0, 0]
        );
        let frames = read_frames(&bytes).unwrap();
        assert_eq!(
            frames,
            vec![(1_500_000, &[1u8, 2, 3][..]), (7, &[9u8; 60][..])]
        );
    }

    #[test]
    fn refuses_a_frame_past_the_snaplen_and_a_truncated_file() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let err = w.write(0, &vec![0; SNAPLEN as usize + 1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(w.frames(), 0);
        w.write(0, &[1; 10]).unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(read_frames(&bytes[..bytes.len() - 1]), None);
        assert_eq!(read_frames(&bytes[1..]), None);
    }
}
