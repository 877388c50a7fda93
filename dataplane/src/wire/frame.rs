//! The packet buffer the engine works on: its bytes, room to grow or shrink it at either end
//! (encapsulation, generated ICMP errors), and the 32-bit tag a packet carries between threads.
//!
//! The DPDK `Mbuf` implements it (dataplane/src/dpdk/mbuf.rs); [`VecFrame`] is a plain buffer
//! with the same headroom, for tests, fixtures and fuzzing. The engine is generic over it and
//! monomorphised, so the DPDK build pays nothing for the abstraction.

/// One owned packet.
pub trait Frame {
    /// The packet's bytes, from the Ethernet header on.
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
    /// Grows the packet by `len` bytes at the front (the new bytes are unspecified); false,
    /// and nothing changed, without that much headroom.
    fn prepend(&mut self, len: u16) -> bool;
    /// Removes `len` bytes from the front; false, and nothing changed, if the packet is shorter.
    fn adj(&mut self, len: u16) -> bool;
    /// Removes `len` bytes from the end; false, and nothing changed, if the packet is shorter.
    fn trim(&mut self, len: u16) -> bool;
    /// The packet's tag (what a receiving thread must do with it; see `worker::meta`).
    fn meta(&self) -> u32;
    fn set_meta(&mut self, v: u32);
}

/// Room a [`VecFrame`] keeps in front of its packet, as DPDK's mbufs do
/// (RTE_PKTMBUF_HEADROOM).
pub const HEADROOM: usize = 128;

/// A packet in a plain heap buffer with [`HEADROOM`] bytes in front of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecFrame {
    buf: Vec<u8>,
    start: usize,
    meta: u32,
}

impl VecFrame {
    /// A frame holding a copy of `bytes` (tag 0).
    pub fn new(bytes: &[u8]) -> VecFrame {
        VecFrame::with_headroom(bytes, HEADROOM)
    }

    /// A frame holding a copy of `bytes` with `headroom` bytes in front (a PMD that leaves
    /// less than DPDK's default).
    pub fn with_headroom(bytes: &[u8], headroom: usize) -> VecFrame {
        let mut buf = vec![0u8; headroom + bytes.len()];
        buf[headroom..].copy_from_slice(bytes);
        VecFrame {
            buf,
            start: headroom,
            meta: 0,
        }
    }

    /// Room left in front of the packet.
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// The packet's bytes as an owned vector.
    pub fn to_vec(&self) -> Vec<u8> {
        self.data().to_vec()
    }
}

impl Frame for VecFrame {
    #[inline]
    fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }

    fn prepend(&mut self, len: u16) -> bool {
        let len = usize::from(len);
        if len > self.start {
            return false;
        }
        self.start -= len;
        true
    }

    fn adj(&mut self, len: u16) -> bool {
        let len = usize::from(len);
        if len > self.buf.len() - self.start {
            return false;
        }
        self.start += len;
        true
    }

    fn trim(&mut self, len: u16) -> bool {
        let len = usize::from(len);
        if len > self.buf.len() - self.start {
            return false;
        }
        self.buf.truncate(self.buf.len() - len);
        true
    }

    #[inline]
    fn meta(&self) -> u32 {
        self.meta
    }

    #[inline]
    fn set_meta(&mut self, v: u32) {
        self.meta = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_adj_trim_move_the_edges() {
        let mut f = VecFrame::new(&[1, 2, 3, 4]);
        assert_eq!(f.headroom(), HEADROOM);
        assert!(f.prepend(2));
        assert_eq!(f.data().len(), 6);
        assert_eq!(&f.data()[2..], &[1, 2, 3, 4]);
        f.data_mut()[..2].copy_from_slice(&[9, 8]);
        assert!(f.adj(3));
        assert_eq!(f.data(), &[2, 3, 4]);
        assert!(f.trim(1));
        assert_eq!(f.data(), &[2, 3]);
        assert!(!f.trim(3), "longer than the packet");
        assert!(!f.adj(3));
        assert_eq!(f.data(), &[2, 3]);
        assert!(!f.prepend((HEADROOM + 2) as u16), "more than the headroom");
        assert!(f.prepend((HEADROOM + 1) as u16));
        assert_eq!(f.headroom(), 0);
        f.set_meta(0x1_0002);
        assert_eq!(f.meta(), 0x1_0002);
    }
}
