//! Property test: the table against a `BTreeMap` model over random operation sequences,
//! including the ended-connection reports of templated connections (each exactly once, with
//! the right real and reason, and the ring's hold-back behaviour when it is full).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use super::*;
use crate::lb::types::{ForwardMode, Protocol, RealLoad};

const MAX_REALS: u32 = 4;

#[derive(Clone, Debug)]
enum Op {
    Insert {
        client: u8,
        cport: u8,
        vport: u8,
        proto: u8,
        real: u32,
        rport: u8,
        mode: u8,
        templated: bool,
    },
    Packet {
        pick: usize,
        out: bool,
        flags: u8,
    },
    Touch {
        pick: usize,
    },
    Remove {
        pick: usize,
    },
    Advance {
        ms: u64,
    },
    Expire {
        budget: usize,
    },
    ExpireAll,
    Drain,
}

fn op() -> impl Strategy<Value = Op> {
    let flags = prop::sample::select(vec![
        SYN,
        SYN | ACK,
        ACK,
        ACK | PSH,
        FIN | ACK,
        FIN,
        RST,
        RST | ACK,
        0,
    ]);
    prop_oneof![
        4 => ((0u8..6, 0u8..3, 0u8..2, 0u8..3, 0u32..5, 0u8..2, 0u8..3), any::<bool>()).prop_map(
            |((client, cport, vport, proto, real, rport, mode), templated)| Op::Insert { client, cport, vport, proto, real, rport, mode, templated }
        ),
        6 => (any::<usize>(), any::<bool>(), flags).prop_map(|(pick, out, flags)| Op::Packet { pick, out, flags }),
        1 => any::<usize>().prop_map(|pick| Op::Touch { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Remove { pick }),
        3 => prop_oneof![0u64..3_000, 0u64..200_000, 0u64..1_000_000].prop_map(|ms| Op::Advance { ms }),
        2 => (0usize..40).prop_map(|budget| Op::Expire { budget }),
        1 => Just(Op::ExpireAll),
        3 => Just(Op::Drain),
    ]
}

type InKey = (u8, u32, u16, u32, u16);
type OutKey = (u8, u32, u16, u32, u16);

#[derive(Clone, Debug)]
struct MConn {
    c: NewConn,
    h: ConnHandle,
    state: TcpState,
    expiry: u32,
    no_output: bool,
}

impl MConn {
    fn out_key(&self) -> OutKey {
        (
            self.c.proto as u8,
            u32::from(self.c.real_addr),
            self.c.rport,
            u32::from(self.c.client),
            self.c.cport,
        )
    }
    fn active(&self) -> bool {
        self.c.proto != Protocol::Tcp || self.state == TcpState::Established
    }
}

fn in_key(c: &NewConn) -> InKey {
    (
        c.proto as u8,
        u32::from(c.client),
        c.cport,
        u32::from(c.vip),
        c.vport,
    )
}

fn timeout(t: &Timeouts, proto: Protocol, state: TcpState) -> u32 {
    t.of(proto, state).max(1)
}

fn check(t: &ConnTable, m: &BTreeMap<InKey, MConn>) -> Result<(), TestCaseError> {
    prop_assert_eq!(t.len(), m.len());
    let mut loads = vec![RealLoad::default(); MAX_REALS as usize];
    for mc in m.values() {
        let c = &mc.c;
        prop_assert_eq!(
            t.lookup_in(c.proto, c.client, c.cport, c.vip, c.vport),
            Some(mc.h)
        );
        let info = t.get(mc.h).expect("live");
        prop_assert_eq!(info.state, mc.state);
        prop_assert_eq!(info.expires_ms, u64::from(mc.expiry) * 1000);
        prop_assert_eq!(
            (info.real, info.real_addr, info.rport, info.mode),
            (c.real, c.real_addr, c.rport, c.mode)
        );
        let want_out = m
            .values()
            .find(|o| o.c.mode == ForwardMode::Nat && o.out_key() == mc.out_key())
            .map(|o| o.h);
        prop_assert_eq!(
            t.lookup_out(c.proto, c.real_addr, c.rport, c.client, c.cport),
            want_out
        );
        let l = &mut loads[c.real as usize];
        if mc.active() {
            l.active += 1;
        } else {
            l.inactive += 1;
        }
    }
    prop_assert_eq!(t.loads(), &loads[..]);
    if let Err(e) = t.check_filing() {
        prop_assert!(false, "{}", e);
    }
    let s = t.stats();
    prop_assert_eq!(
        s.inserted,
        s.expired + s.evicted + s.removed + m.len() as u64
    );
    Ok(())
}

/// The model of the ended ring.
#[derive(Default)]
struct Reports {
    /// Templated connections that ended and whose report is not drained yet, by template:
    /// (real, reason).
    pending: BTreeMap<u32, (u32, EndReason)>,
    /// Templated connections that ended (inserted, then expired/evicted/removed).
    ended: u64,
    /// Reports drained from the table.
    drained: u64,
}

impl Reports {
    /// Expects a report for `mc` if it held a template.
    fn ended(&mut self, mc: &MConn, reason: EndReason) {
        if let Some(tpl) = mc.c.template {
            self.pending.insert(tpl, (mc.c.real, reason));
            self.ended += 1;
        }
    }

    /// Drains the table's ring: exactly the pending reports, each once.
    fn drain(&mut self, t: &mut ConnTable) -> Result<(), TestCaseError> {
        let mut got = Vec::new();
        t.drain_ended(|e| got.push(e));
        prop_assert_eq!(got.len(), self.pending.len());
        for e in got {
            let tpl = e.template.expect("only templated connections are reported");
            let want = self.pending.remove(&tpl);
            prop_assert_eq!(want, Some((e.real, e.reason)), "unexpected report {:?}", e);
            self.drained += 1;
        }
        prop_assert_eq!(t.ended_pending(), 0);
        Ok(())
    }
}

/// Drops from the model what the table no longer has; each must satisfy `allowed`.
fn sync_removed(
    t: &ConnTable,
    m: &mut BTreeMap<InKey, MConn>,
    allowed: impl Fn(&MConn) -> bool,
) -> Result<Vec<MConn>, TestCaseError> {
    let gone: Vec<InKey> = m
        .iter()
        .filter(|(_, mc)| {
            t.lookup_in(mc.c.proto, mc.c.client, mc.c.cport, mc.c.vip, mc.c.vport) != Some(mc.h)
        })
        .map(|(k, _)| *k)
        .collect();
    let mut out = Vec::with_capacity(gone.len());
    for k in &gone {
        let mc = m.remove(k).expect("present");
        prop_assert!(
            allowed(&mc),
            "removed a connection that was not eligible: {:?}",
            mc
        );
        out.push(mc);
    }
    Ok(out)
}

fn pick(m: &BTreeMap<InKey, MConn>, p: usize) -> Option<InKey> {
    (!m.is_empty()).then(|| *m.keys().nth(p % m.len()).expect("in range"))
}

/// `ring`: the ended ring's capacity; `drain_always`: drain after every operation (the
/// documented protocol, under which nothing is ever held back) rather than only on `Op::Drain`.
fn run(cap: u32, ring: u32, drain_always: bool, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut cfg = ConnConfig::new(cap, MAX_REALS);
    cfg.ended_capacity = ring;
    let to = cfg.timeouts;
    let mut t = ConnTable::new(&cfg).expect("valid");
    prop_assert_eq!(t.ended_capacity(), ring as usize);
    let mut m: BTreeMap<InKey, MConn> = BTreeMap::new();
    let mut now: u64 = 0;
    let mut r = Reports::default();
    let (mut next_template, mut templated_inserted) = (0u32, 0u64);
    for op in ops {
        let now_secs = (now / 1000) as u32;
        let ring_full = r.pending.len() == ring as usize;
        match op {
            Op::Insert {
                client,
                cport,
                vport,
                proto,
                real,
                rport,
                mode,
                templated,
            } => {
                let template = templated.then_some(next_template);
                next_template += 1;
                let proto = [Protocol::Tcp, Protocol::Udp, Protocol::Icmp][proto as usize];
                let mode = [ForwardMode::Nat, ForwardMode::Dr, ForwardMode::Tun][mode as usize];
                let c = NewConn {
                    proto,
                    client: Ipv4Addr::new(203, 0, 113, client),
                    cport: 40000 + u16::from(cport),
                    vip: Ipv4Addr::new(198, 18, 0, 100 + vport),
                    vport: 80,
                    real,
                    real_addr: Ipv4Addr::new(198, 19, 0, 10 + (real % 3) as u8),
                    rport: 8080 + u16::from(rport),
                    mode,
                    template,
                };
                let res = t.insert(&c, now);
                let dup_in = m.get(&in_key(&c)).map(|o| o.h);
                let probe = MConn {
                    c,
                    h: ConnHandle(0),
                    state: TcpState::None,
                    expiry: 0,
                    no_output: false,
                };
                let dup_out = m
                    .values()
                    .find(|o| {
                        mode == ForwardMode::Nat
                            && o.c.mode == ForwardMode::Nat
                            && o.out_key() == probe.out_key()
                    })
                    .map(|o| o.h);
                if real >= MAX_REALS {
                    prop_assert_eq!(res, Err(InsertError::UnknownReal(real)));
                } else if let Some(h) = dup_in.or(dup_out) {
                    prop_assert_eq!(res, Err(InsertError::Exists(h)));
                } else if m.len() < cap as usize {
                    prop_assert!(res.is_ok(), "insert failed with room: {:?}", res);
                } else {
                    // Full: either one eligible connection made room, or the insert was refused.
                    // With the ended ring full, a templated connection cannot be evicted.
                    // With it not full, an evictable (non-established TCP) connection is always
                    // found, wherever it sits, and the one that goes expires first.
                    let first_evictable = m
                        .values()
                        .filter(|o| o.c.proto == Protocol::Tcp && o.state != TcpState::Established)
                        .map(|o| o.expiry)
                        .min();
                    let gone = sync_removed(&t, &mut m, |o| {
                        (o.expiry <= now_secs
                            || (o.c.proto == Protocol::Tcp && o.state != TcpState::Established))
                            && !(ring_full && o.c.template.is_some())
                    })?;
                    match res {
                        Ok(_) => {
                            prop_assert_eq!(gone.len(), 1);
                            if let (false, Some(first)) = (ring_full, first_evictable) {
                                prop_assert_eq!(gone[0].expiry, first, "not the first to expire");
                            }
                        }
                        Err(e) => {
                            prop_assert!(
                                ring_full || first_evictable.is_none(),
                                "refused with an evictable connection"
                            );
                            prop_assert_eq!(e, InsertError::Full);
                            prop_assert_eq!(gone.len(), 0);
                        }
                    }
                    for o in &gone {
                        let reason = if o.expiry <= now_secs {
                            EndReason::Expired
                        } else {
                            EndReason::Evicted
                        };
                        r.ended(o, reason);
                    }
                }
                if let Ok(h) = res {
                    templated_inserted += u64::from(template.is_some());
                    let expiry = now.div_ceil(1000) as u32 + timeout(&to, proto, TcpState::None);
                    m.insert(
                        in_key(&c),
                        MConn {
                            c,
                            h,
                            state: TcpState::None,
                            expiry,
                            no_output: mode != ForwardMode::Nat,
                        },
                    );
                }
            }
            Op::Packet {
                pick: p,
                out,
                flags,
            } => {
                let Some(k) = pick(&m, p) else { continue };
                let mc = m.get_mut(&k).expect("picked");
                let dir = if out { Direction::Out } else { Direction::In };
                if mc.c.proto == Protocol::Tcp {
                    let table = if out {
                        mc.no_output = false;
                        StateTable::Output
                    } else if mc.no_output {
                        StateTable::InputOnly
                    } else {
                        StateTable::Input
                    };
                    mc.state = next_state(mc.state, table, flags);
                }
                mc.expiry = now.div_ceil(1000) as u32 + timeout(&to, mc.c.proto, mc.state);
                prop_assert_eq!(t.on_packet(mc.h, dir, flags, now), Some(mc.state));
            }
            Op::Touch { pick: p } => {
                let Some(k) = pick(&m, p) else { continue };
                let mc = m.get_mut(&k).expect("picked");
                mc.expiry = now.div_ceil(1000) as u32 + timeout(&to, mc.c.proto, mc.state);
                prop_assert!(t.touch(mc.h, now));
            }
            Op::Remove { pick: p } => {
                let Some(k) = pick(&m, p) else { continue };
                let h = m[&k].h;
                if ring_full && m[&k].c.template.is_some() {
                    // Held back: its report could not be queued.
                    prop_assert!(!t.remove(h));
                    prop_assert!(t.get(h).is_some());
                } else {
                    let mc = m.remove(&k).expect("picked");
                    prop_assert!(t.remove(h));
                    prop_assert_eq!(t.get(h), None);
                    r.ended(&mc, EndReason::Removed);
                }
            }
            Op::Advance { ms } => now += ms,
            Op::Expire { budget } => {
                let n = t.expire(now, budget);
                prop_assert!(n <= budget);
                let gone = sync_removed(&t, &mut m, |o| o.expiry <= now_secs)?;
                prop_assert_eq!(gone.len(), n);
                for o in &gone {
                    r.ended(o, EndReason::Expired);
                }
            }
            Op::ExpireAll => {
                let n = t.expire(now, usize::MAX);
                let gone = sync_removed(&t, &mut m, |o| o.expiry <= now_secs)?;
                prop_assert_eq!(gone.len(), n);
                for o in &gone {
                    r.ended(o, EndReason::Expired);
                }
                // Only a full ring stops an unbounded expiry early.
                prop_assert!(
                    r.pending.len() == ring as usize || m.values().all(|o| o.expiry > now_secs),
                    "a due connection survived a full expiry"
                );
            }
            Op::Drain => r.drain(&mut t)?,
        }
        prop_assert_eq!(t.ended_pending(), r.pending.len());
        prop_assert!(r.pending.len() <= ring as usize);
        if drain_always {
            r.drain(&mut t)?;
        }
        check(&t, &m)?;
    }
    r.drain(&mut t)?;
    prop_assert_eq!(r.drained, r.ended);
    // Whatever is still live reports too once removed (draining after each, as documented).
    let live: Vec<MConn> = m.values().cloned().collect();
    for mc in &live {
        prop_assert!(t.remove(mc.h));
        r.ended(mc, EndReason::Removed);
        r.drain(&mut t)?;
    }
    // Every templated connection inserted has now ended, and each was reported exactly once.
    prop_assert_eq!(templated_inserted, r.drained);
    prop_assert_eq!(r.drained, r.ended);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn table_matches_model(
        cap in prop::sample::select(vec![1u32, 4, 16, 200]),
        ring in prop::sample::select(vec![1u32, 2, 64]),
        drain_always in any::<bool>(),
        ops in prop::collection::vec(op(), 1..250),
    ) {
        run(cap, ring, drain_always, ops)?;
    }
}
