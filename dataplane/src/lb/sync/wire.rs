//! The sync datagram (version 1), a typed view over bytes plus plain values, in the smoltcp
//! manner: [`parse_datagram`] checks everything before anything is believed, and never panics.
//!
//! ```text
//! header (20)  magic "DPSY" | version | kind | record count (u16) | sender id (u32) | sequence (u64)
//! records      count x (16 fixed bytes + 3 addresses of the record's family: 28 or 64 bytes)
//! trailer (32) HMAC-SHA256(key, every byte before the trailer)
//! ```
//! All integers are big-endian. docs/sync.md has the byte-by-byte table.

use crate::config::ForwardMode;
use crate::lb::conn::TcpState;
use crate::lb::types::Protocol;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// "DPSY".
pub const MAGIC: [u8; 4] = *b"DPSY";
/// The only version this build speaks.
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 20;
/// Bytes of the HMAC-SHA256 trailer.
pub const MAC_LEN: usize = 32;
/// Largest datagram a sender builds: fits a 1500-byte MTU with IPv4 and UDP headers.
pub const MAX_DATAGRAM: usize = 1400;
/// Fixed bytes of a record before its addresses.
const RECORD_FIXED: usize = 16;

/// Record flag: the record is a persistence template, not a connection.
const FLAG_TEMPLATE: u8 = 1;

/// What a datagram carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatagramKind {
    /// Connection (and template) records.
    Records = 1,
    /// "Send me your whole table" (a starting or rejoining node); no records.
    ResyncRequest = 2,
    /// The end of a full-table stream; no records.
    ResyncDone = 3,
}

impl DatagramKind {
    fn from_u8(v: u8) -> Option<DatagramKind> {
        match v {
            1 => Some(DatagramKind::Records),
            2 => Some(DatagramKind::ResyncRequest),
            3 => Some(DatagramKind::ResyncDone),
            _ => None,
        }
    }
}

/// Why a datagram was refused: each reason is its own counter (`sync_drop_<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("shorter than its header, records and trailer")]
    Truncated,
    #[error("not a sync datagram (bad magic)")]
    BadMagic,
    #[error("unsupported version")]
    WrongVersion,
    #[error("HMAC does not match (forged, or a different key)")]
    BadMac,
    #[error("authenticated but malformed (kind, trailing bytes or a record field)")]
    Malformed,
    #[error("sequence number seen already")]
    Replayed,
    #[error("sequence number older than the replay window")]
    Stale,
    #[error("our own sender id")]
    OwnSender,
}

impl SyncError {
    pub const ALL: [SyncError; 8] = [
        SyncError::Truncated,
        SyncError::BadMagic,
        SyncError::WrongVersion,
        SyncError::BadMac,
        SyncError::Malformed,
        SyncError::Replayed,
        SyncError::Stale,
        SyncError::OwnSender,
    ];

    /// The reason's name in counters and `ctl` output.
    pub fn name(self) -> &'static str {
        match self {
            SyncError::Truncated => "truncated",
            SyncError::BadMagic => "bad_magic",
            SyncError::WrongVersion => "wrong_version",
            SyncError::BadMac => "bad_mac",
            SyncError::Malformed => "malformed",
            SyncError::Replayed => "replayed",
            SyncError::Stale => "stale",
            SyncError::OwnSender => "own_sender",
        }
    }
}

/// The shared secret (the contents of `sync.key_file`).
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl Key {
    /// At least 16 bytes (validation refuses shorter key files).
    pub fn new(bytes: &[u8]) -> Key {
        Key(bytes.to_vec())
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length; this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC accepts any key length")
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({} bytes)", self.0.len())
    }
}

/// The header's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: DatagramKind,
    pub sender: u32,
    pub seq: u64,
}

/// One synced connection (or persistence template), naming its service and real by address and
/// port (ids are process-local). All three addresses are of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub proto: Protocol,
    pub state: TcpState,
    pub mode: ForwardMode,
    /// A persistence template: `client` is the masked client address, `cport` 0, and `timeout`
    /// the template's remaining life.
    pub template: bool,
    pub vip: IpAddr,
    pub vport: u16,
    pub client: IpAddr,
    pub cport: u16,
    pub real: IpAddr,
    pub rport: u16,
    /// Seconds the connection has left on the sender.
    pub timeout: u32,
}

/// Bytes of a record of family byte `family` (4 or 6), if the family is known.
pub fn record_len(family: u8) -> Option<usize> {
    match family {
        4 => Some(RECORD_FIXED + 3 * 4),
        6 => Some(RECORD_FIXED + 3 * 16),
        _ => None,
    }
}

fn mode_byte(m: ForwardMode) -> u8 {
    match m {
        ForwardMode::Nat => 0,
        ForwardMode::Dr => 1,
        ForwardMode::Tun => 2,
        ForwardMode::Local => 3,
    }
}

fn mode_from(v: u8) -> Option<ForwardMode> {
    match v {
        0 => Some(ForwardMode::Nat),
        1 => Some(ForwardMode::Dr),
        2 => Some(ForwardMode::Tun),
        3 => Some(ForwardMode::Local),
        _ => None,
    }
}

impl Record {
    /// Bytes this record takes on the wire (None if its addresses mix families).
    pub fn wire_len(&self) -> Option<usize> {
        match (self.vip, self.client, self.real) {
            (IpAddr::V4(_), IpAddr::V4(_), IpAddr::V4(_)) => record_len(4),
            (IpAddr::V6(_), IpAddr::V6(_), IpAddr::V6(_)) => record_len(6),
            _ => None,
        }
    }

    /// Writes the record into `buf` (exactly `wire_len` bytes); None if it does not fit or mixes
    /// families.
    fn emit(&self, buf: &mut [u8]) -> Option<usize> {
        let len = self.wire_len()?;
        let b = buf.get_mut(..len)?;
        b[0] = if self.vip.is_ipv4() { 4 } else { 6 };
        b[1] = self.proto as u8;
        b[2] = self.state as u8;
        b[3] = if self.template { FLAG_TEMPLATE } else { 0 };
        b[4] = mode_byte(self.mode);
        b[5] = 0;
        b[6..8].copy_from_slice(&self.vport.to_be_bytes());
        b[8..10].copy_from_slice(&self.cport.to_be_bytes());
        b[10..12].copy_from_slice(&self.rport.to_be_bytes());
        b[12..16].copy_from_slice(&self.timeout.to_be_bytes());
        let mut at = RECORD_FIXED;
        for a in [self.vip, self.client, self.real] {
            match a {
                IpAddr::V4(a) => {
                    b[at..at + 4].copy_from_slice(&a.octets());
                    at += 4;
                }
                IpAddr::V6(a) => {
                    b[at..at + 16].copy_from_slice(&a.octets());
                    at += 16;
                }
            }
        }
        Some(len)
    }

    /// Reads one record from the front of `b` (its length already checked by the caller).
    fn parse(b: &[u8]) -> Result<Record, SyncError> {
        let family = *b.first().ok_or(SyncError::Truncated)?;
        let len = record_len(family).ok_or(SyncError::Malformed)?;
        let b = b.get(..len).ok_or(SyncError::Truncated)?;
        let proto = Protocol::from_ip_proto(b[1]).ok_or(SyncError::Malformed)?;
        let state = TcpState::from_u8(b[2]).ok_or(SyncError::Malformed)?;
        if b[3] & !FLAG_TEMPLATE != 0 || b[5] != 0 {
            return Err(SyncError::Malformed);
        }
        let mode = mode_from(b[4]).ok_or(SyncError::Malformed)?;
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let addr = |i: usize| -> IpAddr {
            if family == 4 {
                IpAddr::V4(Ipv4Addr::new(
                    b[RECORD_FIXED + 4 * i],
                    b[RECORD_FIXED + 4 * i + 1],
                    b[RECORD_FIXED + 4 * i + 2],
                    b[RECORD_FIXED + 4 * i + 3],
                ))
            } else {
                let mut o = [0u8; 16];
                o.copy_from_slice(&b[RECORD_FIXED + 16 * i..RECORD_FIXED + 16 * (i + 1)]);
                IpAddr::V6(Ipv6Addr::from(o))
            }
        };
        Ok(Record {
            proto,
            state,
            mode,
            template: b[3] & FLAG_TEMPLATE != 0,
            vport: u16_at(6),
            cport: u16_at(8),
            rport: u16_at(10),
            timeout: u32::from_be_bytes([b[12], b[13], b[14], b[15]]),
            vip: addr(0),
            client: addr(1),
            real: addr(2),
        })
    }
}

/// A datagram that passed [`parse_datagram`]: authenticated, every record well formed.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    pub header: Header,
    count: u16,
    body: &'a [u8],
}

impl<'a> Datagram<'a> {
    /// The records, in order (all checked by `parse_datagram`).
    pub fn records(&self) -> impl Iterator<Item = Record> + 'a {
        let body = self.body;
        let mut at = 0usize;
        (0..self.count).filter_map(move |_| {
            let r = Record::parse(body.get(at..)?).ok()?;
            at += r.wire_len()?;
            Some(r)
        })
    }

    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Checks a received datagram, cheapest test first, and returns its header and records.
/// Order: length of the header and trailer, magic, version, the length the records declare
/// (shorter: `Truncated`), the HMAC (`BadMac`), then the kind, exact length and every record
/// (`Malformed`). The replay window is the caller's (it is per sender; see `ReplayWindow`).
pub fn parse_datagram<'a>(buf: &'a [u8], key: &Key) -> Result<Datagram<'a>, SyncError> {
    if buf.len() < HEADER_LEN + MAC_LEN {
        return Err(if buf.len() >= 4 && buf[..4] != MAGIC {
            SyncError::BadMagic
        } else {
            SyncError::Truncated
        });
    }
    if buf[..4] != MAGIC {
        return Err(SyncError::BadMagic);
    }
    if buf[4] != VERSION {
        return Err(SyncError::WrongVersion);
    }
    let count = u16::from_be_bytes([buf[6], buf[7]]);
    // Walk the declared records by their family bytes to find where the trailer must start.
    let mut end = HEADER_LEN;
    for _ in 0..count {
        let Some(&family) = buf.get(end) else {
            return Err(SyncError::Truncated);
        };
        // An unknown family cannot be walked: a peer with the key would not send it.
        let Some(len) = record_len(family) else {
            return Err(verify(buf, key).map_or(SyncError::BadMac, |_| SyncError::Malformed));
        };
        end += len;
    }
    if buf.len() < end + MAC_LEN {
        return Err(SyncError::Truncated);
    }
    verify(buf, key)?;
    if buf.len() != end + MAC_LEN {
        return Err(SyncError::Malformed);
    }
    let kind = DatagramKind::from_u8(buf[5]).ok_or(SyncError::Malformed)?;
    if kind != DatagramKind::Records && count != 0 {
        return Err(SyncError::Malformed);
    }
    let body = &buf[HEADER_LEN..end];
    let mut at = 0;
    for _ in 0..count {
        let r = Record::parse(&body[at..])?;
        at += r.wire_len().ok_or(SyncError::Malformed)?;
    }
    Ok(Datagram {
        header: Header {
            kind,
            sender: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            seq: u64::from_be_bytes([
                buf[12], buf[13], buf[14], buf[15], buf[16], buf[17], buf[18], buf[19],
            ]),
        },
        count,
        body,
    })
}

/// Checks the trailer: HMAC-SHA256 over everything before it, compared in constant time.
fn verify(buf: &[u8], key: &Key) -> Result<(), SyncError> {
    let split = buf.len().checked_sub(MAC_LEN).ok_or(SyncError::Truncated)?;
    let (data, tag) = buf.split_at(split);
    let mut m = key.mac();
    m.update(data);
    m.verify_slice(tag).map_err(|_| SyncError::BadMac)
}

/// Builds a datagram into `buf`: header, as many of `records` as fit in `buf` (and in
/// [`MAX_DATAGRAM`]), trailer. Returns (bytes written, records taken); (0, 0) if not even the
/// header and trailer fit.
pub fn emit_datagram(
    buf: &mut [u8],
    header: &Header,
    records: &[Record],
    key: &Key,
) -> (usize, usize) {
    let room = buf.len().min(MAX_DATAGRAM);
    if room < HEADER_LEN + MAC_LEN {
        return (0, 0);
    }
    let mut at = HEADER_LEN;
    let mut taken = 0usize;
    if header.kind == DatagramKind::Records {
        for r in records.iter().take(usize::from(u16::MAX)) {
            let Some(len) = r.wire_len() else {
                // A record mixing families cannot be sent; skip it (never built by this crate).
                taken += 1;
                continue;
            };
            if at + len + MAC_LEN > room {
                break;
            }
            if r.emit(&mut buf[at..at + len]).is_none() {
                break;
            }
            at += len;
            taken += 1;
        }
    }
    let count = records[..taken]
        .iter()
        .filter(|r| r.wire_len().is_some())
        .count() as u16;
    buf[..4].copy_from_slice(&MAGIC);
    buf[4] = VERSION;
    buf[5] = header.kind as u8;
    buf[6..8].copy_from_slice(&count.to_be_bytes());
    buf[8..12].copy_from_slice(&header.sender.to_be_bytes());
    buf[12..20].copy_from_slice(&header.seq.to_be_bytes());
    let mut m = key.mac();
    m.update(&buf[..at]);
    buf[at..at + MAC_LEN].copy_from_slice(&m.finalize().into_bytes());
    (at + MAC_LEN, taken)
}
