//! The 32-bit tag a packet carries when it moves between threads (mbuf dynamic field): what the
//! receiver must do with it, and the port it concerns.

use crate::lb::route::PortIdx;

/// What a packet handed to another thread is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Freshly received; no tag.
    Fresh,
    /// Handed to its owner worker to be processed; arrived on `port`.
    Process,
    /// Ready: to be sent as it is out of `port` (by a worker that has a TX queue there).
    Transmit,
    /// For the kernel, through the exception interface of `port`.
    Kernel,
    /// From the kernel behind `port`, sent by a local real: the connection's owner rewrites it
    /// as a NAT reply, or sends it as it is when it belongs to no connection.
    LocalReply,
}

#[inline(always)]
pub fn encode(kind: Kind, port: PortIdx) -> u32 {
    let k = match kind {
        Kind::Fresh => 0,
        Kind::Process => 1,
        Kind::Transmit => 2,
        Kind::Kernel => 3,
        Kind::LocalReply => 4,
    };
    (k << 16) | u32::from(port)
}

#[inline(always)]
pub fn decode(meta: u32) -> (Kind, PortIdx) {
    let kind = match meta >> 16 {
        1 => Kind::Process,
        2 => Kind::Transmit,
        3 => Kind::Kernel,
        4 => Kind::LocalReply,
        _ => Kind::Fresh,
    };
    (kind, (meta & 0xffff) as PortIdx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for k in [
            Kind::Process,
            Kind::Transmit,
            Kind::Kernel,
            Kind::LocalReply,
        ] {
            assert_eq!(decode(encode(k, 7)), (k, 7));
        }
        assert_eq!(decode(0).0, Kind::Fresh);
    }
}
