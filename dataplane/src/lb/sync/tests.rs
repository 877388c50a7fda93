//! The sync format on literal bytes, and the replay window.

use super::*;
use crate::config::ForwardMode;
use crate::lb::conn::TcpState;
use crate::lb::types::Protocol;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn key() -> Key {
    Key::new(b"0123456789abcdef0123456789abcdef")
}

fn record() -> Record {
    Record {
        proto: Protocol::Tcp,
        state: TcpState::Established,
        mode: ForwardMode::Nat,
        template: false,
        vip: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 100)),
        vport: 80,
        client: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
        cport: 40000,
        real: IpAddr::V4(Ipv4Addr::new(198, 19, 0, 11)),
        rport: 8080,
        timeout: 900,
    }
}

/// The datagram `record()` makes, written out by hand (docs/sync.md's example).
fn literal() -> Vec<u8> {
    let mut b = vec![
        b'D', b'P', b'S', b'Y', // magic
        1,    // version
        1,    // kind: records
        0, 1, // one record
        0, 0, 0, 7, // sender id 7
        0, 0, 0, 0, 0, 0, 1, 0x2c, // sequence 300
        // record: IPv4, TCP, ESTABLISHED, no flags, NAT, reserved
        4, 6, 1, 0, 0, 0, //
        0, 80, // vport
        0x9c, 0x40, // cport 40000
        0x1f, 0x90, // rport 8080
        0, 0, 3, 0x84, // timeout 900
        198, 18, 0, 100, // vip
        198, 18, 0, 2, // client
        198, 19, 0, 11, // real
    ];
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"0123456789abcdef0123456789abcdef").unwrap();
    m.update(&b);
    b.extend_from_slice(&m.finalize().into_bytes());
    b
}

fn header() -> Header {
    Header {
        kind: DatagramKind::Records,
        sender: 7,
        seq: 300,
    }
}

#[test]
fn emits_the_documented_bytes() {
    let mut buf = [0u8; MAX_DATAGRAM];
    let (n, taken) = emit_datagram(&mut buf, &header(), &[record()], &key());
    assert_eq!((n, taken), (HEADER_LEN + 28 + MAC_LEN, 1));
    assert_eq!(&buf[..n], &literal()[..]);
}

#[test]
fn parses_the_documented_bytes() {
    let b = literal();
    let d = parse_datagram(&b, &key()).unwrap();
    assert_eq!(d.header, header());
    assert_eq!(d.records().collect::<Vec<_>>(), vec![record()]);
}

#[test]
fn ipv6_and_template_records_round_trip() {
    let v6 = |s: &str| IpAddr::V6(s.parse::<Ipv6Addr>().unwrap());
    let recs = [
        Record {
            template: true,
            cport: 0,
            proto: Protocol::Udp,
            state: TcpState::None,
            mode: ForwardMode::Dr,
            ..record()
        },
        Record {
            vip: v6("2001:db8::100"),
            client: v6("2001:db8::2"),
            real: v6("2001:db8:1::11"),
            mode: ForwardMode::Tun,
            ..record()
        },
    ];
    let mut buf = [0u8; MAX_DATAGRAM];
    let (n, taken) = emit_datagram(&mut buf, &header(), &recs, &key());
    assert_eq!((n, taken), (HEADER_LEN + 28 + 64 + MAC_LEN, 2));
    assert_eq!(buf[HEADER_LEN + 3], 1, "template flag");
    assert_eq!(buf[HEADER_LEN + 28], 6, "second record's family");
    let d = parse_datagram(&buf[..n], &key()).unwrap();
    assert_eq!(d.records().collect::<Vec<_>>(), recs.to_vec());
}

#[test]
fn a_full_datagram_takes_what_fits() {
    let recs = vec![record(); 100];
    let mut buf = [0u8; 2048];
    let (n, taken) = emit_datagram(&mut buf, &header(), &recs, &key());
    assert_eq!(taken, (MAX_DATAGRAM - HEADER_LEN - MAC_LEN) / 28);
    assert_eq!(n, HEADER_LEN + taken * 28 + MAC_LEN);
    assert!(n <= MAX_DATAGRAM);
    assert_eq!(parse_datagram(&buf[..n], &key()).unwrap().len(), taken);
}

#[test]
fn every_bad_datagram_has_its_own_reason() {
    let good = literal();
    let err = |b: &[u8]| parse_datagram(b, &key()).unwrap_err();
    // Truncated: cut anywhere (before or inside the trailer, or inside the header).
    assert_eq!(err(&good[..good.len() - 1]), SyncError::Truncated);
    assert_eq!(err(&good[..HEADER_LEN + 10]), SyncError::Truncated);
    assert_eq!(err(&good[..3]), SyncError::Truncated);
    // Wrong version.
    let mut v2 = good.clone();
    v2[4] = 2;
    assert_eq!(err(&v2), SyncError::WrongVersion);
    // Garbage.
    assert_eq!(err(&[0x55; 80]), SyncError::BadMagic);
    assert_eq!(err(b"hello"), SyncError::BadMagic);
    // Forged: one record byte changed, or signed with another key.
    let mut forged = good.clone();
    forged[HEADER_LEN + 30] ^= 1;
    assert_eq!(err(&forged), SyncError::BadMac);
    let other = Key::new(b"another key of sixteen+ bytes");
    assert_eq!(
        parse_datagram(&good, &other).unwrap_err(),
        SyncError::BadMac
    );
    // Authenticated but malformed: an unknown state, signed with the right key.
    let mut bad_state = good[..good.len() - MAC_LEN].to_vec();
    bad_state[HEADER_LEN + 2] = 99;
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"0123456789abcdef0123456789abcdef").unwrap();
    m.update(&bad_state);
    bad_state.extend_from_slice(&m.finalize().into_bytes());
    assert_eq!(err(&bad_state), SyncError::Malformed);
    // Extra bytes between the records and the trailer: the HMAC covers them, the length not.
    let mut long = good[..good.len() - MAC_LEN].to_vec();
    long.push(0);
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"0123456789abcdef0123456789abcdef").unwrap();
    m.update(&long);
    long.extend_from_slice(&m.finalize().into_bytes());
    assert_eq!(err(&long), SyncError::Malformed);
    // Reasons have distinct names.
    let mut names: Vec<_> = SyncError::ALL.iter().map(|e| e.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), SyncError::ALL.len());
}

#[test]
fn resync_request_has_no_records() {
    let mut buf = [0u8; 64];
    let h = Header {
        kind: DatagramKind::ResyncRequest,
        ..header()
    };
    let (n, taken) = emit_datagram(&mut buf, &h, &[record()], &key());
    assert_eq!((n, taken), (HEADER_LEN + MAC_LEN, 0));
    let d = parse_datagram(&buf[..n], &key()).unwrap();
    assert_eq!(d.header.kind, DatagramKind::ResyncRequest);
    assert!(d.is_empty());
}

#[test]
fn replay_window_accepts_each_number_once() {
    let mut w = ReplayWindow::default();
    for s in [100, 102, 101] {
        assert_eq!(w.check(s), Ok(()));
        w.accept(s);
    }
    assert_eq!(w.top(), 102);
    assert_eq!(w.check(101), Err(WindowError::Replayed));
    assert_eq!(w.check(102), Err(WindowError::Replayed));
    // 99 is inside the window and unseen: late but genuine.
    assert_eq!(w.check(99), Ok(()));
    assert_eq!(w.check(102 - 63), Ok(()));
    assert_eq!(w.check(102 - 64), Err(WindowError::TooOld));
    // A jump past the width forgets the old bitmap.
    w.accept(1000);
    assert_eq!(w.check(999), Ok(()));
    assert_eq!(w.check(1000), Err(WindowError::Replayed));
    assert_eq!(w.check(102), Err(WindowError::TooOld));
    // A check alone records nothing.
    assert_eq!(w.check(1001), Ok(()));
    assert_eq!(w.check(1001), Ok(()));
}
