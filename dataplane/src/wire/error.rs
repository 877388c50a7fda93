//! The one error type of every parser in `wire`: parsers return it instead of panicking, so a
//! malformed packet costs a counter increment, never a crash.

/// Why a buffer could not be viewed as a given protocol header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum WireError {
    /// The buffer ends before the header (or the length the header claims) does.
    #[error("buffer too short for the header or the length it claims")]
    Truncated,
    /// The IP version field is not the one expected.
    #[error("unexpected IP version")]
    BadVersion,
    /// A header-length field (IHL, TCP data offset, extension length) is impossible.
    #[error("impossible header length field")]
    BadHeaderLen,
    /// A total-length field (IPv4 total length, UDP length) is smaller than the header.
    #[error("impossible length field")]
    BadLength,
    /// The checksum does not verify.
    #[error("checksum does not verify")]
    BadChecksum,
    /// Well-formed but not something this data plane handles (QinQ, non-Ethernet ARP, ...).
    #[error("unsupported packet format")]
    Unsupported,
    /// Structurally invalid contents (bad option encoding, a misplaced header, ...).
    #[error("malformed packet")]
    Malformed,
    /// An IPv6 extension-header chain longer than the walk's bound
    /// (`ipv6::MAX_EXT_HEADERS`).
    #[error("too many IPv6 extension headers")]
    TooManyExtHeaders,
    /// An IPv6 extension header that RFC 8200 4.1 allows once (twice for destination options)
    /// appears again: a looping or crafted chain.
    #[error("repeated IPv6 extension header")]
    RepeatedExtHeader,
}
