//! What the SYN-flood defence needs of the table: the count of half-open TCP connections (the
//! pressure that turns `mode: auto` services to cookies or stateless SYNs) and, per SYN-proxied
//! connection, its sequence state in the entry's `seq` word: the initial sequence number the
//! proxy gave the client while the real side opens, then the shift between the two halves.

use super::entry::{F_PROXY_OPENING, F_PROXY_SHIFT};
use super::state::TcpState;
use super::table::{ConnHandle, ConnTable};
use crate::lb::family::Family;
use crate::lb::types::Protocol;

/// Whether a connection in `state` is half-open: TCP that has not reached ESTABLISHED yet
/// (just created, SYN seen or sent, SYN-ACK seen).
#[inline]
pub(super) fn is_half_open(proto: u8, state: u8) -> bool {
    proto == Protocol::Tcp as u8 && half_open_state(state)
}

#[inline]
fn half_open_state(state: u8) -> bool {
    state == TcpState::None as u8
        || state == TcpState::SynRecv as u8
        || state == TcpState::SynSent as u8
        || state == TcpState::SynAck as u8
}

/// The half-open count after a TCP connection went from `old` to `new`.
#[inline]
pub(super) fn half_open_after(count: u32, old: u8, new: u8) -> u32 {
    count - u32::from(half_open_state(old)) + u32::from(half_open_state(new))
}

/// A SYN-proxied connection's sequence state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxySeq {
    /// Waiting for the real's SYN-ACK; the client was given this initial sequence number.
    Opening { client_side_isn: u32 },
    /// Both halves open: the client's view of the server's sequence numbers is the real's
    /// plus `delta` (client -> real acknowledgements and SACK edges lose it, real -> client
    /// sequence numbers gain it).
    Shift { delta: u32 },
}

impl<A: Family> ConnTable<A> {
    /// TCP connections not yet established (all of this worker's services).
    #[inline]
    pub fn half_open(&self) -> u32 {
        self.half_open
    }

    /// Marks a new connection as SYN-proxied and opening: the client was given
    /// `client_side_isn`. False if the handle is not live.
    pub fn proxy_opening(&mut self, h: ConnHandle, client_side_isn: u32) -> bool {
        let Some(e) = self.entries.get_mut(h.0 as usize).filter(|e| e.used()) else {
            return false;
        };
        e.flags = (e.flags & !F_PROXY_SHIFT) | F_PROXY_OPENING;
        e.seq = client_side_isn;
        true
    }

    /// The real answered with initial sequence number `real_isn`: the connection shifts from
    /// now on. Returns the shift; `None` if the connection is not opening.
    pub fn proxy_open(&mut self, h: ConnHandle, real_isn: u32) -> Option<u32> {
        let e = self.entries.get_mut(h.0 as usize).filter(|e| e.used())?;
        if e.flags & F_PROXY_OPENING == 0 {
            return None;
        }
        let delta = e.seq.wrapping_sub(real_isn);
        e.flags = (e.flags & !F_PROXY_OPENING) | F_PROXY_SHIFT;
        e.seq = delta;
        Some(delta)
    }

    /// The connection's SYN-proxy state; `None` if it is not proxied (or not live).
    #[inline]
    pub fn proxy_seq(&self, h: ConnHandle) -> Option<ProxySeq> {
        let e = self.entries.get(h.0 as usize).filter(|e| e.used())?;
        if e.flags & F_PROXY_SHIFT != 0 {
            Some(ProxySeq::Shift { delta: e.seq })
        } else if e.flags & F_PROXY_OPENING != 0 {
            Some(ProxySeq::Opening {
                client_side_isn: e.seq,
            })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::conn::{ConnConfig, Direction, NewConn};
    use crate::lb::types::ForwardMode;
    use std::net::Ipv4Addr;

    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;

    fn nc(cport: u16) -> NewConn {
        NewConn {
            proto: Protocol::Tcp,
            client: Ipv4Addr::new(198, 51, 100, 1),
            cport,
            vip: Ipv4Addr::new(198, 18, 0, 100),
            vport: 80,
            real: 65_535,
            real_addr: Ipv4Addr::new(198, 19, 0, 11),
            rport: 80,
            mode: ForwardMode::Nat,
            template: None,
        }
    }

    #[test]
    fn half_open_counts_follow_the_states() {
        let mut t = ConnTable::new(&ConnConfig::new(16, 1 << 16)).unwrap();
        let a = t.insert(&nc(1), 0).unwrap();
        let b = t.insert(&nc(2), 0).unwrap();
        assert_eq!(t.half_open(), 2);
        t.on_packet(a, Direction::In, SYN, 0);
        assert_eq!(t.half_open(), 2);
        t.on_packet(a, Direction::Out, SYN | ACK, 0);
        t.on_packet(a, Direction::In, ACK, 0);
        assert_eq!(t.get(a).unwrap().state, TcpState::Established);
        assert_eq!(t.half_open(), 1);
        assert!(t.remove(b));
        assert_eq!(t.half_open(), 0);
        assert!(t.remove(a));
        assert_eq!(t.half_open(), 0);
        // UDP never counts.
        let mut u = nc(3);
        u.proto = Protocol::Udp;
        t.insert(&u, 0).unwrap();
        assert_eq!(t.half_open(), 0);
    }

    #[test]
    fn the_proxy_state_is_kept_in_the_entry() {
        let mut t = ConnTable::new(&ConnConfig::new(16, 1 << 16)).unwrap();
        let h = t.insert(&nc(1), 0).unwrap();
        assert_eq!(t.proxy_seq(h), None);
        assert_eq!(t.proxy_open(h, 5), None);
        assert!(t.proxy_opening(h, 0x0000_0100));
        assert_eq!(
            t.proxy_seq(h),
            Some(ProxySeq::Opening {
                client_side_isn: 0x100
            })
        );
        // Shift = client-side ISN - real ISN, mod 2^32.
        assert_eq!(t.proxy_open(h, 0x0000_0200), Some(0xffff_ff00));
        assert_eq!(t.proxy_seq(h), Some(ProxySeq::Shift { delta: 0xffff_ff00 }));
        assert_eq!(t.proxy_open(h, 7), None);
        // The packed fields around it are intact: real id 65535, mode, protocol.
        let c = t.get(h).unwrap();
        assert_eq!(
            (c.real, c.mode, c.proto),
            (65_535, ForwardMode::Nat, Protocol::Tcp)
        );
        assert!(ConnTable::new(&ConnConfig::new(16, (1 << 16) + 1)).is_err());
    }
}
