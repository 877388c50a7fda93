//! TCP connection states and the director's state transition tables, as in Linux IPVS
//! (`ip_vs_proto_tcp.c`, the normal — not `secure_tcp` — tables).
//!
//! The director sees only part of a TCP conversation, so the states are a coarse guess used for
//! two things: the idle timeout of the connection and whether it counts as *active* (ESTABLISHED)
//! or *inactive* for the lc/wlc schedulers. There are three tables:
//! - **Input**: client -> server packets of a NAT connection (replies are seen too),
//! - **Output**: server -> client replies of a NAT connection,
//! - **Input-only**: client -> server packets of a DR/TUN connection, whose replies bypass the
//!   director (IPVS's `IP_VS_CONN_F_NOOUTPUT`; if a reply is ever seen, the connection switches
//!   to the Input/Output pair for good).
//!
//! The row is chosen by the packet's flags with the priority RST > SYN > FIN > ACK; a packet with
//! none of them moves the connection to CLOSE (as IPVS does).

/// TCP header flag bits (byte 13 of the TCP header), as `wire` defines them.
pub mod tcp_flags {
    use crate::wire::TcpFlags;
    pub const FIN: u8 = TcpFlags::FIN.0;
    pub const SYN: u8 = TcpFlags::SYN.0;
    pub const RST: u8 = TcpFlags::RST.0;
    pub const PSH: u8 = TcpFlags::PSH.0;
    pub const ACK: u8 = TcpFlags::ACK.0;
}

/// IPVS's TCP connection states (same order and meaning as `IP_VS_TCP_S_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// Just created, no packet accounted yet (and the only state of UDP/ICMP connections).
    #[default]
    None = 0,
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait = 4,
    TimeWait = 5,
    Close = 6,
    CloseWait = 7,
    LastAck = 8,
    Listen = 9,
    SynAck = 10,
}

impl TcpState {
    /// Every state, in discriminant order.
    pub const ALL: [TcpState; 11] = [
        TcpState::None,
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::SynAck,
    ];

    /// The state with discriminant `v`, if any.
    #[inline]
    pub fn from_u8(v: u8) -> Option<TcpState> {
        Self::ALL.get(usize::from(v)).copied()
    }

    /// The name `ipvsadm -Lnc` prints.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::SynAck => "SYNACK",
        }
    }
}

/// Which of the three transition tables applies to a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateTable {
    /// Client -> server, replies are also seen (NAT).
    Input,
    /// Server -> client (NAT replies).
    Output,
    /// Client -> server, replies are never seen (DR, TUN).
    InputOnly,
}

// Short names for the tables (no transition of the normal tables leads to NONE or SYNACK).
use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI,
    SynRecv as SR, SynSent as SS, TimeWait as TW,
};

/// `TABLES[table][row][current]`, rows in the order SYN, FIN, ACK, RST; columns in the order of
/// the `TcpState` discriminants: NONE ES SS SR FW TW CL CW LA LI SA.
#[rustfmt::skip]
const TABLES: [[[TcpState; 11]; 4]; 3] = [
    // Input
    [
        /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
        /* ack */ [CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
    ],
    // Output
    [
        /* syn */ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
        /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // Input-only
    [
        /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /* ack */ [CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// The state after a packet with `flags` (see [`tcp_flags`]) seen in `table`.
#[inline]
pub fn next_state(current: TcpState, table: StateTable, flags: u8) -> TcpState {
    let row = if flags & tcp_flags::RST != 0 {
        3
    } else if flags & tcp_flags::SYN != 0 {
        0
    } else if flags & tcp_flags::FIN != 0 {
        1
    } else if flags & tcp_flags::ACK != 0 {
        2
    } else {
        return TcpState::Close;
    };
    let t = match table {
        StateTable::Input => 0,
        StateTable::Output => 1,
        StateTable::InputOnly => 2,
    };
    TABLES[t][row][current as usize]
}

#[cfg(test)]
mod tests {
    use super::tcp_flags::*;
    use super::*;

    fn run(table_of: impl Fn(bool) -> StateTable, steps: &[(bool, u8, TcpState)]) {
        let mut s = TcpState::None;
        for (i, &(inbound, flags, want)) in steps.iter().enumerate() {
            s = next_state(s, table_of(inbound), flags);
            assert_eq!(s, want, "step {i}");
        }
    }

    fn nat(inbound: bool) -> StateTable {
        if inbound {
            StateTable::Input
        } else {
            StateTable::Output
        }
    }

    #[test]
    fn nat_open_and_client_close() {
        run(
            nat,
            &[
                (true, SYN, SR),
                (false, SYN | ACK, SR),
                (true, ACK, ES),
                (true, ACK | PSH, ES),
                (false, ACK, ES),
                (true, FIN | ACK, CW),
                (false, ACK, CW),
                (false, FIN | ACK, TW),
                (true, ACK, TW),
            ],
        );
    }

    #[test]
    fn nat_server_closes_first() {
        run(
            nat,
            &[
                (true, SYN, SR),
                (false, SYN | ACK, SR),
                (true, ACK, ES),
                (false, FIN | ACK, FW),
                (true, ACK, FW),
                (true, FIN | ACK, TW),
                (false, ACK, TW),
            ],
        );
    }

    #[test]
    fn dr_open_and_close_input_only() {
        run(
            |_| StateTable::InputOnly,
            &[
                (true, SYN, SR),
                (true, ACK, ES),
                (true, FIN | ACK, FW),
                (true, ACK, FW),
            ],
        );
    }

    #[test]
    fn rst_closes_from_established_either_way() {
        for t in [StateTable::Input, StateTable::Output, StateTable::InputOnly] {
            assert_eq!(next_state(ES, t, RST), CL);
            assert_eq!(next_state(ES, t, RST | ACK), CL, "RST wins over ACK");
        }
        // A RST during the handshake from the client keeps SYN_RECV (IPVS quirk)...
        assert_eq!(next_state(SR, StateTable::Input, RST), SR);
        // ...while the server refusing the connection closes it.
        assert_eq!(next_state(SR, StateTable::Output, RST | ACK), CL);
    }

    #[test]
    fn flagless_packet_closes() {
        assert_eq!(next_state(ES, StateTable::Input, 0), CL);
        assert_eq!(next_state(ES, StateTable::Input, PSH), CL);
    }

    #[test]
    fn names_and_discriminants_round_trip() {
        for (i, s) in TcpState::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
            assert_eq!(TcpState::from_u8(i as u8), Some(*s));
            assert!(!s.name().is_empty());
        }
        assert_eq!(TcpState::from_u8(11), None);
    }
}
