//! The TCP options a SYN proxy reads and writes: what a SYN offers (MSS, window scale,
//! SACK-permitted, timestamps), the options of the SYN/SYN-ACK the proxy builds, and the
//! sequence shift of SACK blocks in place (with an incremental checksum update).
//!
//! All on plain option-area bytes (the bytes between the fixed 20-byte TCP header and the
//! data offset); parsing never panics and refuses a malformed area as a whole.

use super::bytes::{be32, set_be32};
use super::checksum::{add, update_u16, update_u32};
use super::error::WireError;
use super::tcp::{option_kind, TcpOption, TcpOptions};

/// What a SYN's options offer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
}

impl SynOptions {
    /// Reads an options area; a malformed one (a bad length, a known option of the wrong
    /// size) is refused as a whole.
    pub fn parse(area: &[u8]) -> Result<SynOptions, WireError> {
        let mut o = SynOptions::default();
        for opt in TcpOptions::new(area) {
            match opt? {
                TcpOption::Mss(m) => o.mss = Some(m),
                TcpOption::WindowScale(w) => o.window_scale = Some(w),
                TcpOption::SackPermitted => o.sack_permitted = true,
                TcpOption::Timestamps { value, echo } => o.timestamps = Some((value, echo)),
                TcpOption::Nop | TcpOption::Sack(_) | TcpOption::Unknown { .. } => {}
            }
        }
        Ok(o)
    }
}

/// Bytes [`write_syn_options`] writes at most.
pub const SYN_OPTIONS_MAX: usize = 8;

/// Bytes [`write_syn_options`] writes for these choices (a multiple of 4).
pub const fn syn_options_len(sack_permitted: bool) -> usize {
    if sack_permitted {
        8
    } else {
        4
    }
}

/// Writes the options of a SYN or SYN-ACK the proxy sends: MSS, then (when `sack_permitted`)
/// NOP, NOP, SACK-permitted, as Linux lays them out. Returns the bytes written, or `None` when
/// `out` is shorter than [`syn_options_len`].
pub fn write_syn_options(out: &mut [u8], mss: u16, sack_permitted: bool) -> Option<usize> {
    let len = syn_options_len(sack_permitted);
    let out = out.get_mut(..len)?;
    out[0] = option_kind::MSS;
    out[1] = 4;
    out[2..4].copy_from_slice(&mss.to_be_bytes());
    if sack_permitted {
        out[4..8].copy_from_slice(&[
            option_kind::NOP,
            option_kind::NOP,
            option_kind::SACK_PERMITTED,
            2,
        ]);
    }
    Some(len)
}

/// RFC 1624 update for a 32-bit value at byte `offset` from the start of the checksummed data,
/// which may be odd (options need not be aligned): an odd offset sees the byte-swapped sum.
fn update_u32_at(csum: u16, offset: usize, old: u32, new: u32) -> u16 {
    if offset.is_multiple_of(2) {
        return update_u32(csum, old, new);
    }
    let folded = |v: u32| add((v >> 16) as u16, v as u16).swap_bytes();
    update_u16(csum, folded(old), folded(new))
}

/// Subtracts `delta` (mod 2^32) from every edge of every SACK block in the options area
/// `area`, which starts `area_offset` bytes into the TCP segment (20 for a normal header), and
/// returns the TCP checksum `csum` updated for the change. The area is checked first: a
/// malformed one is refused untouched. Returns the number of blocks shifted too.
pub fn shift_sack_blocks(
    area: &mut [u8],
    area_offset: usize,
    delta: u32,
    csum: u16,
) -> Result<(u16, usize), WireError> {
    // Validate the whole area before touching any byte.
    for opt in TcpOptions::new(area) {
        opt?;
    }
    let mut csum = csum;
    let mut blocks = 0;
    let mut it = TcpOptions::new(area);
    let mut edits: [usize; 4] = [0; 4];
    let mut n_edits = 0;
    while let Some(Ok((at, opt))) = it.next_at() {
        if let TcpOption::Sack(d) = opt {
            // At most one SACK option fits in 40 bytes of options with other options around;
            // a second one is shifted too (each holds at most 4 blocks).
            if n_edits < edits.len() {
                edits[n_edits] = at;
                n_edits += 1;
            }
            blocks += d.len() / 8;
        }
    }
    for &at in &edits[..n_edits] {
        let len = usize::from(area[at + 1]);
        let mut edge = at + 2;
        while edge + 4 <= at + len {
            let old = be32(area, edge);
            let new = old.wrapping_sub(delta);
            set_be32(area, edge, new);
            csum = update_u32_at(csum, area_offset + edge, old, new);
            edge += 4;
        }
    }
    Ok((csum, blocks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::sum;

    #[test]
    fn a_linux_syn_offers_everything() {
        // MSS 1460, SACK-permitted, timestamps (1, 0), NOP, window scale 7: Linux's order.
        let area = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let o = SynOptions::parse(&area).unwrap();
        assert_eq!(
            o,
            SynOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((1, 0)),
            }
        );
    }

    #[test]
    fn no_options_and_bad_options() {
        assert_eq!(SynOptions::parse(&[]).unwrap(), SynOptions::default());
        // End of list stops the parse; what follows is not read.
        assert_eq!(
            SynOptions::parse(&[0, 2, 4, 5, 0xb4]).unwrap(),
            SynOptions::default()
        );
        // MSS with length 3, and an option running past the area.
        assert_eq!(SynOptions::parse(&[2, 3, 5]), Err(WireError::Malformed));
        assert_eq!(SynOptions::parse(&[1, 8, 10, 0]), Err(WireError::Malformed));
    }

    #[test]
    fn syn_options_are_written_as_linux_lays_them_out() {
        let mut b = [0xffu8; 8];
        assert_eq!(write_syn_options(&mut b, 1460, true), Some(8));
        assert_eq!(b, [2, 4, 0x05, 0xb4, 1, 1, 4, 2]);
        let mut b = [0xffu8; 8];
        assert_eq!(write_syn_options(&mut b, 536, false), Some(4));
        assert_eq!(&b[..4], &[2, 4, 0x02, 0x18]);
        assert_eq!(write_syn_options(&mut [0u8; 7], 1460, true), None);
        // What was written parses back.
        let mut b = [0u8; 8];
        write_syn_options(&mut b, 1400, true).unwrap();
        let o = SynOptions::parse(&b).unwrap();
        assert_eq!((o.mss, o.sack_permitted), (Some(1400), true));
    }

    /// A checksum over `seg` computed from scratch (one's complement of the sum).
    fn full(seg: &[u8]) -> u16 {
        !sum(seg)
    }

    #[test]
    fn sack_blocks_are_shifted_with_the_checksum() {
        // NOP NOP SACK(2 blocks): [1000, 2000) and [0xffff_fff0, 0x10).
        let mut seg = vec![0u8; 20];
        seg.extend_from_slice(&[1, 1, 5, 18]);
        for v in [1000u32, 2000, 0xffff_fff0, 0x10] {
            seg.extend_from_slice(&v.to_be_bytes());
        }
        let csum = full(&seg);
        let (head, area) = seg.split_at_mut(20);
        let (new, blocks) = shift_sack_blocks(area, 20, 0x20, csum).unwrap();
        assert_eq!(blocks, 2);
        let edges: Vec<u32> = (0..4).map(|i| be32(area, 4 + 4 * i)).collect();
        assert_eq!(edges, [968, 1968, 0xffff_ffd0, 0xffff_fff0]);
        let _ = head;
        assert_eq!(new, full(&seg));
    }

    #[test]
    fn sack_blocks_at_an_odd_offset_keep_the_checksum_right() {
        // One NOP, then SACK (1 block) at an odd offset, then padding.
        let mut seg = vec![0u8; 20];
        seg.extend_from_slice(&[1, 5, 10]);
        seg.extend_from_slice(&0x0102_0304u32.to_be_bytes());
        seg.extend_from_slice(&0x0a0b_0c0du32.to_be_bytes());
        seg.extend_from_slice(&[0]);
        seg[7] = 0x5a;
        let csum = full(&seg);
        let (_, area) = seg.split_at_mut(20);
        let (new, blocks) = shift_sack_blocks(area, 20, 0x1000_0001, csum).unwrap();
        assert_eq!(blocks, 1);
        assert_eq!(be32(area, 3), 0xf102_0303);
        assert_eq!(be32(area, 7), 0xfa0b_0c0c);
        assert_eq!(new, full(&seg));
    }

    #[test]
    fn a_malformed_area_is_left_untouched() {
        let mut area = [5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 2, 9];
        let before = area;
        assert_eq!(
            shift_sack_blocks(&mut area, 20, 5, 0x1234),
            Err(WireError::Malformed)
        );
        assert_eq!(area, before);
        // No SACK option: nothing changes, the checksum neither.
        let mut area = [2, 4, 5, 0xb4];
        assert_eq!(shift_sack_blocks(&mut area, 20, 5, 0x1234), Ok((0x1234, 0)));
    }
}
