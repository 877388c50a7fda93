//! Connections learnt from a sync peer: inserted (or updated) with the state and remaining
//! timeout the peer reported, instead of starting in NONE like a connection opened here.

use super::entry::{F_SYNCED, NIL};
use super::{ConnHandle, ConnTable, InsertError, NewConn, TcpState};
use crate::lb::family::Family;

impl<A: Family> ConnTable<A> {
    /// Installs a synced connection in `state` with `timeout_secs` left, or, if the table has it
    /// already (inbound tuple), moves that one to `state` and `timeout_secs` (its real stays:
    /// a connection is never moved between reals). The real's active/inactive counts follow the
    /// state. The template field is left empty: synced connections hold no local template.
    pub fn install(
        &mut self,
        c: &NewConn<A>,
        state: TcpState,
        timeout_secs: u32,
        now_ms: u64,
    ) -> Result<ConnHandle, InsertError> {
        let nc = NewConn {
            template: None,
            ..*c
        };
        let h = match self.insert(&nc, now_ms) {
            Ok(h) | Err(InsertError::Exists(h)) => h,
            Err(e) => return Err(e),
        };
        let Some(e) = self.entries.get_mut(h.0 as usize).filter(|e| e.used()) else {
            return Err(InsertError::Full);
        };
        e.flags |= F_SYNCED;
        let changed = e.state != state as u8;
        if changed {
            self.set_state(h.0, state as u8);
        }
        debug_assert!(h.0 != NIL);
        self.refresh(h.0, timeout_secs.max(1), now_ms, changed);
        Ok(h)
    }
}

impl<A: Family> ConnTable<A> {
    /// Whether the connection in `slot` came from a sync peer and no packet has touched it
    /// here since (a node does not send its peers' connections back to them).
    #[inline]
    pub fn synced(&self, slot: u32) -> bool {
        self.entries
            .get(slot as usize)
            .is_some_and(|e| e.used() && e.flags & F_SYNCED != 0)
    }

    /// A packet of connection `h` was handled here: it is this node's now (sent in refreshes).
    #[inline]
    pub fn mark_local(&mut self, h: ConnHandle) {
        if let Some(e) = self.entries.get_mut(h.0 as usize) {
            e.flags &= !F_SYNCED;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::conn::ConnConfig;
    use crate::lb::types::{ForwardMode, Protocol};
    use std::net::Ipv4Addr;

    fn nc(real: u32) -> NewConn {
        NewConn {
            proto: Protocol::Tcp,
            client: Ipv4Addr::new(198, 18, 0, 2),
            cport: 40000,
            vip: Ipv4Addr::new(198, 18, 0, 100),
            vport: 80,
            real,
            real_addr: Ipv4Addr::new(198, 19, 0, 11),
            rport: 80,
            mode: ForwardMode::Nat,
            template: Some(3),
        }
    }

    #[test]
    fn installs_with_the_peers_state_and_timeout_and_updates_in_place() {
        let mut t = ConnTable::new(&ConnConfig::new(64, 8)).unwrap();
        let h = t
            .install(&nc(2), TcpState::Established, 500, 10_000)
            .unwrap();
        let c = t.get(h).unwrap();
        assert_eq!(c.state, TcpState::Established);
        assert_eq!(c.expires_ms, 510_000);
        assert_eq!(c.template, None);
        assert_eq!((t.loads()[2].active, t.loads()[2].inactive), (1, 0));
        // Found from the reply side too (NAT).
        assert_eq!(
            t.lookup_out(
                Protocol::Tcp,
                Ipv4Addr::new(198, 19, 0, 11),
                80,
                Ipv4Addr::new(198, 18, 0, 2),
                40000
            ),
            Some(h)
        );
        // An update: same slot, new state and timeout, loads moved, real kept.
        let h2 = t.install(&nc(5), TcpState::FinWait, 60, 20_000).unwrap();
        assert_eq!(h2, h);
        let c = t.get(h).unwrap();
        assert_eq!(
            (c.state, c.expires_ms, c.real),
            (TcpState::FinWait, 80_000, 2)
        );
        assert_eq!((t.loads()[2].active, t.loads()[2].inactive), (0, 1));
        assert_eq!(t.len(), 1);
        assert!(t.synced(h.index()));
        t.mark_local(h);
        assert!(!t.synced(h.index()));
        // It expires on its own timer.
        assert_eq!(t.expire(79_000, 100), 0);
        assert_eq!(t.expire(81_000, 100), 1);
        assert!(t.is_empty());
    }
}
