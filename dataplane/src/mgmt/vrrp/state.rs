//! The RFC 5798 state machine (section 6.4) as plain logic: no sockets, no clock of its own.
//! The caller feeds it the time (milliseconds on any monotonic clock), received adverts and
//! ticks, and carries out the actions it returns (send an advert, change VIP ownership).
//!
//! Beside the RFC: `preempt_delay` (keepalived's): a backup that would preempt a lower-priority
//! master waits this long after start, and after first seeing that master, before it does;
//! and a preempt hold (for connection sync: a node does not take over while its table is
//! incomplete), which only delays preemption, never a takeover from a dead master.

use std::fmt;
use std::net::Ipv4Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Initialize,
    Backup,
    Master,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
        }
    }
}

/// Why the state changed (logged, given to the notify command, shown by `ctl ha`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Start-up: every node starts as backup (none here owns the addresses: priority < 255).
    Startup,
    /// No advert from a master for Master_Down_Interval.
    MasterDown,
    /// The master resigned (an advert with priority 0) and the skew time passed.
    MasterResigned,
    /// This node preempted a lower-priority master (its adverts were ignored until the
    /// master-down timer ran out).
    Preempted,
    /// An advert from a higher-priority master.
    HigherPriority { peer: Ipv4Addr, priority: u8 },
    /// An advert from a master of equal priority and a higher address.
    HigherAddress { peer: Ipv4Addr },
    /// This node is shutting down.
    Shutdown,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => write!(f, "startup"),
            Reason::MasterDown => {
                write!(f, "no advert from the master for the master-down interval")
            }
            Reason::MasterResigned => write!(f, "the master resigned (priority 0)"),
            Reason::Preempted => write!(f, "preempted a lower-priority master"),
            Reason::HigherPriority { peer, priority } => {
                write!(f, "{peer} advertises a higher priority ({priority})")
            }
            Reason::HigherAddress { peer } => {
                write!(
                    f,
                    "{peer} advertises the same priority from a higher address"
                )
            }
            Reason::Shutdown => write!(f, "shutting down"),
        }
    }
}

/// What the caller must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send an advert with this priority (0: resigning).
    Send { priority: u8 },
    /// The state changed; on becoming master, announce the addresses (gratuitous ARP).
    Transition {
        from: State,
        to: State,
        reason: Reason,
    },
    /// Another master advertised a lower priority, or the same from a lower address (a split
    /// brain healing): this node stays
    /// master and announces its addresses again, so that neighbours that followed the other
    /// master come back (keepalived's `garp_lower_prio`).
    Reannounce { peer: Ipv4Addr, priority: u8 },
}

/// A received advert that passed the wire checks (version, VRID, TTL, checksum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard {
    pub src: Ipv4Addr,
    pub priority: u8,
    pub interval_cs: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub priority: u8,
    pub interval_cs: u16,
    pub preempt: bool,
    pub preempt_delay_ms: u64,
    /// This node's primary address on the VRRP interface (ties are broken on it).
    pub addr: Ipv4Addr,
}

pub struct Machine {
    p: Params,
    state: State,
    /// The master's advert interval as last heard (a backup's timers follow it).
    master_interval_cs: u16,
    /// Backup: when the master is declared down. Master: when the next advert is due.
    deadline: u64,
    started: u64,
    /// Since when a lower-priority master has been seen (for preempt_delay).
    lower_since: Option<u64>,
    /// Preemption held off by the caller (connection sync not complete).
    hold: bool,
    /// The master as this node knows it (itself when master).
    pub master: Option<Ipv4Addr>,
    /// The last advert accepted from another node: (time, source, priority).
    pub last_heard: Option<(u64, Ipv4Addr, u8)>,
    pub transitions: u64,
    pub last_reason: Option<Reason>,
}

impl Machine {
    pub fn new(p: Params) -> Machine {
        Machine {
            master_interval_cs: p.interval_cs,
            p,
            state: State::Initialize,
            deadline: 0,
            started: 0,
            lower_since: None,
            hold: false,
            master: None,
            last_heard: None,
            transitions: 0,
            last_reason: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn params(&self) -> &Params {
        &self.p
    }

    /// Skew_Time (RFC 5798 6.1) in ms: ((256 - priority) * Master_Adver_Interval) / 256.
    pub fn skew_ms(&self) -> u64 {
        (256 - u64::from(self.p.priority)) * u64::from(self.master_interval_cs) * 10 / 256
    }

    /// Master_Down_Interval in ms: 3 * Master_Adver_Interval + Skew_Time.
    pub fn master_down_ms(&self) -> u64 {
        3 * u64::from(self.master_interval_cs) * 10 + self.skew_ms()
    }

    fn interval_ms(&self) -> u64 {
        u64::from(self.p.interval_cs) * 10
    }

    /// When `tick` next has something to do.
    pub fn deadline(&self) -> u64 {
        self.deadline
    }

    /// Holds preemption off (true) or lets it happen again (false).
    pub fn set_preempt_hold(&mut self, hold: bool) {
        self.hold = hold;
    }

    /// Initialize -> Backup (RFC 5798 6.4.1; a priority-255 owner would go to Master, which a
    /// director never is).
    pub fn start(&mut self, now: u64) -> Vec<Action> {
        self.started = now;
        self.master_interval_cs = self.p.interval_cs;
        self.become_backup(now, Reason::Startup)
    }

    fn transition(&mut self, to: State, reason: Reason) -> Action {
        let from = self.state;
        self.state = to;
        self.transitions += 1;
        self.last_reason = Some(reason);
        self.lower_since = None;
        Action::Transition { from, to, reason }
    }

    fn become_backup(&mut self, now: u64, reason: Reason) -> Vec<Action> {
        self.deadline = now + self.master_down_ms();
        if self.master == Some(self.p.addr) {
            self.master = None;
        }
        vec![self.transition(State::Backup, reason)]
    }

    fn become_master(&mut self, now: u64, reason: Reason) -> Vec<Action> {
        self.deadline = now + self.interval_ms();
        self.master = Some(self.p.addr);
        let t = self.transition(State::Master, reason);
        vec![
            Action::Send {
                priority: self.p.priority,
            },
            t,
        ]
    }

    /// The timers: a backup whose master-down timer ran out becomes master; a master whose
    /// advert timer ran out advertises.
    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        if now < self.deadline {
            return Vec::new();
        }
        match self.state {
            State::Initialize => Vec::new(),
            State::Backup => {
                let reason = match (self.master, self.lower_since) {
                    (None, _) if self.last_heard.is_some_and(|(_, _, p)| p == 0) => {
                        Reason::MasterResigned
                    }
                    (Some(_), Some(_)) => Reason::Preempted,
                    _ => Reason::MasterDown,
                };
                self.become_master(now, reason)
            }
            State::Master => {
                self.deadline = now + self.interval_ms();
                vec![Action::Send {
                    priority: self.p.priority,
                }]
            }
        }
    }

    /// May a backup ignore this lower-priority master's advert (and so preempt it)?
    fn may_preempt(&mut self, now: u64) -> bool {
        if !self.p.preempt || self.hold {
            return false;
        }
        let since = *self.lower_since.get_or_insert(now);
        let delay = self.p.preempt_delay_ms;
        now >= self.started + delay && now >= since + delay
    }

    /// An advert from another node (RFC 5798 6.4.2 and 6.4.3).
    pub fn receive(&mut self, now: u64, h: Heard) -> Vec<Action> {
        if h.src == self.p.addr {
            return Vec::new();
        }
        self.last_heard = Some((now, h.src, h.priority));
        match self.state {
            State::Initialize => Vec::new(),
            State::Backup => {
                if h.priority == 0 {
                    self.master = None;
                    self.deadline = now + self.skew_ms();
                } else if h.priority >= self.p.priority || !self.may_preempt(now) {
                    if h.priority >= self.p.priority {
                        self.lower_since = None;
                    }
                    self.master_interval_cs = h.interval_cs.max(1);
                    self.master = Some(h.src);
                    self.deadline = now + self.master_down_ms();
                } else {
                    // Discarded: the master-down timer runs out and this node takes over.
                    self.master = Some(h.src);
                }
                Vec::new()
            }
            State::Master => {
                if h.priority == 0 {
                    self.deadline = now + self.interval_ms();
                    return vec![Action::Send {
                        priority: self.p.priority,
                    }];
                }
                let reason = if h.priority > self.p.priority {
                    Reason::HigherPriority {
                        peer: h.src,
                        priority: h.priority,
                    }
                } else if h.priority == self.p.priority && u32::from(h.src) > u32::from(self.p.addr)
                {
                    Reason::HigherAddress { peer: h.src }
                } else {
                    // Another master that yields to this one (lower priority, or the same from a
                    // lower address): advertise at once (so that it steps down) and announce
                    // again.
                    self.deadline = now + self.interval_ms();
                    return vec![
                        Action::Send {
                            priority: self.p.priority,
                        },
                        Action::Reannounce {
                            peer: h.src,
                            priority: h.priority,
                        },
                    ];
                };
                self.master_interval_cs = h.interval_cs.max(1);
                self.master = Some(h.src);
                // A last advert before stepping down: the winner may not have heard this node
                // while the adverts were lost; hearing it now, it announces its addresses
                // again (neighbours may have followed this node's gratuitous ARPs).
                let mut out = vec![Action::Send {
                    priority: self.p.priority,
                }];
                out.extend(self.become_backup(now, reason));
                out
            }
        }
    }

    /// Shutdown: a master resigns (an advert with priority 0) so that a backup takes over
    /// after its skew time instead of the whole master-down interval.
    pub fn shutdown(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state == State::Master {
            out.push(Action::Send { priority: 0 });
        }
        if self.state != State::Initialize {
            out.push(self.transition(State::Initialize, Reason::Shutdown));
        }
        self.master = None;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, 0, last)
    }

    fn node(priority: u8, last: u8) -> Machine {
        Machine::new(Params {
            priority,
            interval_cs: 100,
            preempt: true,
            preempt_delay_ms: 0,
            addr: ip(last),
        })
    }

    fn advert(m: &Machine) -> Heard {
        Heard {
            src: m.params().addr,
            priority: m.params().priority,
            interval_cs: m.params().interval_cs,
        }
    }

    fn heard(last: u8, priority: u8) -> Heard {
        Heard {
            src: ip(last),
            priority,
            interval_cs: 100,
        }
    }

    #[test]
    fn timers_follow_the_rfc() {
        let m = node(100, 1);
        // Skew = (256-100)*100/256 cs = 60.9375 cs -> 609 ms; down = 3000 + 609.
        assert_eq!(m.skew_ms(), 609);
        assert_eq!(m.master_down_ms(), 3609);
        let n = node(254, 1);
        assert_eq!(n.skew_ms(), 7);
    }

    #[test]
    fn a_lone_node_becomes_master_after_the_master_down_interval() {
        let mut m = node(100, 1);
        let a = m.start(1000);
        assert_eq!(
            a,
            vec![Action::Transition {
                from: State::Initialize,
                to: State::Backup,
                reason: Reason::Startup
            }]
        );
        assert!(m.tick(4608).is_empty());
        let a = m.tick(4609);
        assert_eq!(a[0], Action::Send { priority: 100 });
        assert_eq!(
            a[1],
            Action::Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::MasterDown
            }
        );
        assert_eq!(m.master, Some(ip(1)));
        // Adverts every interval afterwards.
        assert!(m.tick(5608).is_empty());
        assert_eq!(m.tick(5609), vec![Action::Send { priority: 100 }]);
    }

    #[test]
    fn adverts_from_a_higher_master_keep_a_backup_backup() {
        let mut m = node(100, 1);
        m.start(0);
        for t in (0..20_000).step_by(1000) {
            assert!(m.receive(t, heard(2, 150)).is_empty());
            assert!(m.tick(t + 999).is_empty(), "at {t}");
        }
        assert_eq!(m.state(), State::Backup);
        assert_eq!(m.master, Some(ip(2)));
        assert_eq!(m.last_heard, Some((19_000, ip(2), 150)));
        // The master dies: takeover one master-down interval after its last advert.
        assert!(m.tick(19_000 + 3608).is_empty());
        assert_eq!(m.tick(19_000 + 3609).len(), 2);
        assert_eq!(m.state(), State::Master);
    }

    #[test]
    fn a_resigning_master_is_replaced_after_the_skew_time() {
        let mut m = node(100, 1);
        m.start(0);
        m.receive(500, heard(2, 150));
        m.receive(900, heard(2, 0));
        assert!(m.tick(900 + 608).is_empty());
        let a = m.tick(900 + 609);
        assert_eq!(
            a[1],
            Action::Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::MasterResigned
            }
        );
    }

    #[test]
    fn a_master_yields_to_higher_priority_and_ignores_lower() {
        let mut m = node(100, 1);
        m.start(0);
        m.tick(3609);
        assert_eq!(m.state(), State::Master);
        // A lower-priority master (split brain healing): advertise at once and announce again.
        assert_eq!(
            m.receive(4000, heard(2, 50)),
            vec![
                Action::Send { priority: 100 },
                Action::Reannounce {
                    peer: ip(2),
                    priority: 50
                }
            ]
        );
        assert_eq!(m.state(), State::Master);
        // A priority-0 advert makes the master advertise at once.
        assert_eq!(
            m.receive(4100, heard(2, 0)),
            vec![Action::Send { priority: 100 }]
        );
        // Yielding: a last advert, then backup.
        let a = m.receive(4200, heard(2, 200));
        assert_eq!(
            a,
            vec![
                Action::Send { priority: 100 },
                Action::Transition {
                    from: State::Master,
                    to: State::Backup,
                    reason: Reason::HigherPriority {
                        peer: ip(2),
                        priority: 200
                    }
                }
            ]
        );
        assert_eq!(m.master, Some(ip(2)));
    }

    #[test]
    fn a_backup_preempts_a_lower_master_unless_told_not_to() {
        let mut m = node(150, 1);
        m.start(0);
        // Adverts of a lower master are discarded: the master-down timer runs out.
        for t in (0..4000).step_by(1000) {
            m.receive(t, heard(2, 100));
        }
        let down = m.master_down_ms();
        let a = m.tick(down);
        assert_eq!(
            a[1],
            Action::Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::Preempted
            }
        );
        let mut n = node(150, 1);
        n.p.preempt = false;
        n.start(0);
        for t in (0..20_000).step_by(1000) {
            n.receive(t, heard(2, 100));
            assert!(n.tick(t + 999).is_empty());
        }
        assert_eq!(n.state(), State::Backup);
        // The hold (connection sync) behaves like no-preempt while set.
        let mut h = node(150, 1);
        h.set_preempt_hold(true);
        h.start(0);
        for t in (0..10_000).step_by(1000) {
            h.receive(t, heard(2, 100));
            assert!(h.tick(t + 999).is_empty());
        }
        h.set_preempt_hold(false);
        // Discarded from now on: one master-down interval after the last accepted one (9 s).
        h.receive(10_000, heard(2, 100));
        assert_eq!(h.tick(9000 + h.master_down_ms() - 1), vec![]);
        assert_eq!(h.tick(9000 + h.master_down_ms()).len(), 2);
    }

    #[test]
    fn preempt_delay_waits_after_start() {
        let mut m = node(150, 1);
        m.p.preempt_delay_ms = 10_000;
        m.start(0);
        for t in (0..10_000).step_by(1000) {
            m.receive(t, heard(2, 100));
            assert!(m.tick(t + 999).is_empty(), "at {t}");
        }
        assert_eq!(m.state(), State::Backup);
        // From 10 s on its adverts are discarded; one master-down interval after the last
        // accepted one (at 9 s), this node takes over.
        m.receive(10_000, heard(2, 100));
        let at = 9000 + m.master_down_ms();
        assert!(m.tick(at - 1).is_empty());
        assert_eq!(m.tick(at).len(), 2);
    }

    /// Split brain: two masters (adverts were lost both ways); when adverts flow again the RFC
    /// picks one: the higher priority, then the higher address.
    #[test]
    fn split_brain_is_resolved_by_priority_then_address() {
        for (pa, pb, winner) in [(150, 100, 'a'), (100, 150, 'b'), (100, 100, 'b')] {
            let mut a = node(pa, 1);
            let mut b = node(pb, 2);
            a.start(0);
            b.start(0);
            a.tick(10_000);
            b.tick(10_000);
            assert_eq!((a.state(), b.state()), (State::Master, State::Master));
            // Adverts cross again.
            let ha = advert(&a);
            let hb = advert(&b);
            a.receive(10_500, hb);
            b.receive(10_500, ha);
            let want = if winner == 'a' {
                (State::Master, State::Backup)
            } else {
                (State::Backup, State::Master)
            };
            assert_eq!((a.state(), b.state()), want, "{pa} vs {pb}");
            // And it stays that way while the winner advertises.
            for t in (11_000..30_000).step_by(1000) {
                let (w, l) = if winner == 'a' {
                    (&mut a, &mut b)
                } else {
                    (&mut b, &mut a)
                };
                w.tick(t);
                let h = advert(w);
                l.receive(t, h);
                assert!(l.tick(t).is_empty());
            }
            assert_eq!((a.state(), b.state()), want, "{pa} vs {pb} later");
        }
    }

    /// Split brain healing, whichever advert crosses first: the winner ends master and has
    /// announced its addresses again (neighbours may have followed the loser's gratuitous
    /// ARPs), the loser backup; the exchange ends (no advert ping-pong).
    #[test]
    fn split_brain_healing_reannounces_whichever_advert_comes_first() {
        for first in ['a', 'b'] {
            let mut a = node(150, 1);
            let mut b = node(100, 2);
            a.start(0);
            b.start(0);
            a.tick(10_000);
            b.tick(10_000);
            // Adverts in flight: (to a?, advert); each Send answers with an advert to the other.
            let mut wire = vec![if first == 'a' {
                (false, advert(&a))
            } else {
                (true, advert(&b))
            }];
            let mut reannounced = 0;
            let mut rounds = 0;
            while let Some((to_a, h)) = wire.pop() {
                rounds += 1;
                assert!(rounds < 10, "advert ping-pong ({first} first)");
                let (m, other_is_a) = if to_a {
                    (&mut a, false)
                } else {
                    (&mut b, true)
                };
                for act in m.receive(10_500, h) {
                    match act {
                        Action::Send { priority } => wire.push((
                            other_is_a,
                            Heard {
                                src: m.params().addr,
                                priority,
                                interval_cs: 100,
                            },
                        )),
                        Action::Reannounce { peer, priority } => {
                            assert_eq!((peer, priority), (ip(2), 100));
                            assert!(to_a, "only the winner re-announces");
                            reannounced += 1;
                        }
                        Action::Transition { .. } => {}
                    }
                }
            }
            assert_eq!((a.state(), b.state()), (State::Master, State::Backup));
            // Heard first, the loser's advert and then its last one each make the winner
            // announce (a repeat is harmless); otherwise only the loser's last one does.
            let want = if first == 'a' { 1 } else { 2 };
            assert_eq!(reannounced, want, "{first} first");
        }
    }

    #[test]
    fn shutdown_resigns_and_own_adverts_are_ignored() {
        let mut m = node(100, 1);
        m.start(0);
        m.tick(3609);
        assert!(m.receive(3700, heard(1, 200)).is_empty(), "own address");
        assert_eq!(m.state(), State::Master);
        let a = m.shutdown();
        assert_eq!(
            a,
            vec![
                Action::Send { priority: 0 },
                Action::Transition {
                    from: State::Master,
                    to: State::Initialize,
                    reason: Reason::Shutdown
                }
            ]
        );
        assert_eq!(m.transitions, 3);
    }
}
