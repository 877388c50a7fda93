//! Idle timeouts per connection state, IPVS's defaults, configurable.

use super::state::TcpState;
use crate::lb::types::Protocol;

/// Idle timeouts in seconds. A connection expires when no packet refreshed it for the timeout of
/// its current state. The defaults are IPVS's (`ipvsadm --set` changes three of them there; here
/// every one is configurable):
///
/// | state / protocol  | default | field             |
/// |-------------------|--------:|-------------------|
/// | TCP NONE          |     2 s | `tcp_none`        |
/// | TCP ESTABLISHED   |   900 s | `tcp_established` |
/// | TCP SYN_SENT      |   120 s | `tcp_syn_sent`    |
/// | TCP SYN_RECV      |    60 s | `tcp_syn_recv`    |
/// | TCP FIN_WAIT      |   120 s | `tcp_fin_wait`    |
/// | TCP TIME_WAIT     |   120 s | `tcp_time_wait`   |
/// | TCP CLOSE         |    10 s | `tcp_close`       |
/// | TCP CLOSE_WAIT    |    60 s | `tcp_close_wait`  |
/// | TCP LAST_ACK      |    30 s | `tcp_last_ack`    |
/// | TCP LISTEN        |   120 s | `tcp_listen`      |
/// | TCP SYNACK        |   120 s | `tcp_synack`      |
/// | UDP               |   300 s | `udp`             |
/// | ICMP              |    60 s | `icmp`            |
///
/// The table works in whole seconds: a connection lives at least its timeout and less than one
/// second more. A timeout of 0 is treated as 1 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp_none: u32,
    pub tcp_established: u32,
    pub tcp_syn_sent: u32,
    pub tcp_syn_recv: u32,
    pub tcp_fin_wait: u32,
    pub tcp_time_wait: u32,
    pub tcp_close: u32,
    pub tcp_close_wait: u32,
    pub tcp_last_ack: u32,
    pub tcp_listen: u32,
    pub tcp_synack: u32,
    pub udp: u32,
    pub icmp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_none: 2,
            tcp_established: 900,
            tcp_syn_sent: 120,
            tcp_syn_recv: 60,
            tcp_fin_wait: 120,
            tcp_time_wait: 120,
            tcp_close: 10,
            tcp_close_wait: 60,
            tcp_last_ack: 30,
            tcp_listen: 120,
            tcp_synack: 120,
            udp: 300,
            icmp: 60,
        }
    }
}

/// Index of the UDP timeout in [`Timeouts::lookup_table`] (after the 11 TCP states).
pub(super) const UDP_SLOT: usize = 11;
/// Index of the ICMP timeout in [`Timeouts::lookup_table`].
pub(super) const ICMP_SLOT: usize = 12;

impl Timeouts {
    /// The timeout of a TCP connection in `state`.
    pub fn tcp(&self, state: TcpState) -> u32 {
        match state {
            TcpState::None => self.tcp_none,
            TcpState::Established => self.tcp_established,
            TcpState::SynSent => self.tcp_syn_sent,
            TcpState::SynRecv => self.tcp_syn_recv,
            TcpState::FinWait => self.tcp_fin_wait,
            TcpState::TimeWait => self.tcp_time_wait,
            TcpState::Close => self.tcp_close,
            TcpState::CloseWait => self.tcp_close_wait,
            TcpState::LastAck => self.tcp_last_ack,
            TcpState::Listen => self.tcp_listen,
            TcpState::SynAck => self.tcp_synack,
        }
    }

    /// The timeout of a connection of `proto` in `state` (the state matters for TCP only).
    pub fn of(&self, proto: Protocol, state: TcpState) -> u32 {
        match proto {
            Protocol::Tcp => self.tcp(state),
            Protocol::Udp => self.udp,
            Protocol::Icmp => self.icmp,
        }
    }

    /// A flat array for the hot path: TCP states by discriminant, then UDP, then ICMP; each
    /// clamped to at least 1 s.
    pub(super) fn lookup_table(&self) -> [u32; 13] {
        let mut t = [0u32; 13];
        for s in TcpState::ALL {
            t[s as usize] = self.tcp(s).max(1);
        }
        t[UDP_SLOT] = self.udp.max(1);
        t[ICMP_SLOT] = self.icmp.max(1);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ipvs_defaults() {
        let t = Timeouts::default();
        assert_eq!(t.of(Protocol::Tcp, TcpState::Established), 900);
        assert_eq!(t.of(Protocol::Tcp, TcpState::SynRecv), 60);
        assert_eq!(t.of(Protocol::Tcp, TcpState::Close), 10);
        assert_eq!(t.of(Protocol::Tcp, TcpState::LastAck), 30);
        assert_eq!(t.of(Protocol::Udp, TcpState::None), 300);
        assert_eq!(t.of(Protocol::Icmp, TcpState::None), 60);
    }

    #[test]
    fn lookup_table_matches_and_clamps_zero() {
        let t = Timeouts {
            tcp_close: 0,
            udp: 0,
            ..Timeouts::default()
        };
        let l = t.lookup_table();
        for s in TcpState::ALL {
            assert_eq!(l[s as usize], t.tcp(s).max(1));
        }
        assert_eq!(l[TcpState::Close as usize], 1);
        assert_eq!(l[UDP_SLOT], 1);
        assert_eq!(l[ICMP_SLOT], 60);
    }
}
