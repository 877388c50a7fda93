//! Property tests: whatever YAML `dataplane check` is given, loading, validating and printing it
//! back never panics, and a refusal names a key and a reason. Inputs are arbitrary text and bytes,
//! and the shipped configs (configs/*.yaml) with structure-aware mutations: a node replaced by a
//! hostile scalar (huge or negative numbers, overflowing durations, odd prefixes and lcore
//! strings), a node of the wrong kind, keys removed, unknown keys added, list items duplicated,
//! and text-level truncations and line splices (which reach the YAML parser's error paths).

use proptest::prelude::*;
use serde_yaml_ng::{Mapping, Value};

/// Every config the project ships: the mutations start from these.
const SEEDS: [&str; 6] = [
    include_str!("../../../configs/lb.yaml"),
    include_str!("../../../configs/nat.yaml"),
    include_str!("../../../configs/dr.yaml"),
    include_str!("../../../configs/tun.yaml"),
    include_str!("../../../configs/l2fwd-null.yaml"),
    include_str!("../../../configs/l2fwd-veth.yaml"),
];

/// Exactly what `dataplane check` does with the file's text: load and validate, then print the
/// normalised config. A refusal must say which key (or the top level) and why.
pub fn check_text(text: &str) {
    match super::check_str(text) {
        Ok(printed) => {
            // What check prints must load again as the same config (operators pipe it back).
            let cfg = super::load_str(text).expect("check accepted it");
            let again = super::load_str(&printed).expect("check's own output loads");
            assert_eq!(again, cfg, "check's output is not the config it printed");
        }
        Err(e) => {
            assert!(
                !e.reason.trim().is_empty(),
                "refusal without a reason: {e:?}"
            );
            let _ = e.to_string();
        }
    }
}

/// Scalars chosen to hit the edges of every key's parser.
fn hostile_scalar() -> impl Strategy<Value = Value> {
    let words = prop::sample::select(vec![
        "",
        " ",
        "0",
        "-1",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999",
        "1e309",
        "-0",
        "nan",
        ".inf",
        "0s",
        "0ms",
        "18446744073709551615s",
        "18446744073709551615h",
        "5124095576030431h",
        "307445734561825861m",
        "18446744073709551s",
        "1 s",
        "s",
        "9x",
        "0.0.0.0/0",
        "0.0.0.0/33",
        "255.255.255.255/32",
        "198.18.0.1/",
        "/24",
        "198.18.0.1",
        "::1",
        "2001:db8::1/64",
        "02:00:00:00:00:01",
        "ff:ff:ff:ff:ff:ff",
        "00:00:00:00:00:00",
        "02:00:00:00:00",
        "swap",
        "0-1",
        "1-0",
        "0-1023",
        "0-4294967295",
        "(0-2)@(0,1)",
        "((",
        ")",
        "@",
        ",",
        "0,,1",
        "net_null0",
        "net_af_packet0,iface=",
        "/",
        "/run/x.sock",
        "a/../b",
        "nat",
        "dr",
        "tun",
        "rr",
        "wlc",
        "mh",
        "tcp",
        "udp",
        "http",
        "auto",
        "off",
        "l2fwd",
        "lb",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "[::1]:9717",
        "é",
        "\u{0}",
        "\u{202e}",
    ])
    .prop_map(|s| Value::String(s.to_string()));
    prop_oneof![
        4 => words,
        2 => any::<i64>().prop_map(|n| Value::Number(n.into())),
        2 => any::<u64>().prop_map(|n| Value::Number(n.into())),
        1 => any::<f64>().prop_map(|f| Value::Number(f.into())),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        1 => ".{0,24}".prop_map(Value::String),
        1 => Just(Value::Sequence(vec![])),
        1 => Just(Value::Mapping(Mapping::new())),
    ]
}

/// One structural edit, applied to the node numbered `at` (pre-order, modulo the node count).
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, Value),
    Remove(usize),
    AddKey(usize, String, Value),
    Duplicate(usize),
    Wrap(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    let key = prop::sample::select(vec![
        "name",
        "ip",
        "port",
        "vip",
        "reals",
        "weight",
        "device",
        "cores",
        "lcores",
        "via",
        "prefix",
        "mac",
        "timeouts",
        "socket",
        "listen",
        "typo",
        "forward",
        "scheduler",
    ])
    .prop_map(String::from);
    prop_oneof![
        6 => (at, hostile_scalar()).prop_map(|(a, v)| Edit::Replace(a, v)),
        2 => at.prop_map(Edit::Remove),
        2 => (at, key, hostile_scalar()).prop_map(|(a, k, v)| Edit::AddKey(a, k, v)),
        1 => at.prop_map(Edit::Duplicate),
        1 => at.prop_map(Edit::Wrap),
    ]
}

/// The child positions of every node, pre-order: a node is reached from the root by its path.
fn paths(v: &Value, here: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    out.push(here.clone());
    let children: Vec<&Value> = match v {
        Value::Sequence(s) => s.iter().collect(),
        Value::Mapping(m) => m.values().collect(),
        Value::Tagged(t) => vec![&t.value],
        _ => vec![],
    };
    for (i, c) in children.into_iter().enumerate() {
        here.push(i);
        paths(c, here, out);
        here.pop();
    }
}

fn child_mut(v: &mut Value, i: usize) -> Option<&mut Value> {
    match v {
        Value::Sequence(s) => s.get_mut(i),
        Value::Mapping(m) => m.values_mut().nth(i),
        Value::Tagged(t) => Some(&mut t.value),
        _ => None,
    }
}

fn node_mut<'a>(root: &'a mut Value, path: &[usize]) -> Option<&'a mut Value> {
    path.iter().try_fold(root, |v, &i| child_mut(v, i))
}

fn apply(root: &mut Value, e: &Edit) {
    let mut all = Vec::new();
    paths(root, &mut Vec::new(), &mut all);
    let pick = |at: usize| all[at % all.len()].clone();
    match e {
        Edit::Replace(at, new) => {
            if let Some(n) = node_mut(root, &pick(*at)) {
                *n = new.clone();
            }
        }
        Edit::Remove(at) => {
            let path = pick(*at);
            let Some((last, parent)) = path.split_last() else {
                return;
            };
            match node_mut(root, parent) {
                Some(Value::Sequence(s)) if *last < s.len() => {
                    s.remove(*last);
                }
                Some(Value::Mapping(m)) => {
                    if let Some(k) = m.keys().nth(*last).cloned() {
                        m.remove(&k);
                    }
                }
                _ => {}
            }
        }
        Edit::AddKey(at, k, v) => match node_mut(root, &pick(*at)) {
            Some(Value::Mapping(m)) => {
                m.insert(Value::String(k.clone()), v.clone());
            }
            Some(Value::Sequence(s)) => s.push(v.clone()),
            _ => {}
        },
        Edit::Duplicate(at) => {
            if let Some(Value::Sequence(s)) = node_mut(root, &pick(*at)) {
                if let Some(first) = s.first().cloned() {
                    s.push(first);
                }
            }
        }
        Edit::Wrap(at) => {
            if let Some(n) = node_mut(root, &pick(*at)) {
                *n = Value::Sequence(vec![n.clone()]);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        check_text(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_text(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_configs_never_panic(
        seed in 0..SEEDS.len(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let mut v: Value = serde_yaml_ng::from_str(SEEDS[seed]).expect("shipped config is YAML");
        for e in &edits {
            apply(&mut v, e);
        }
        check_text(&serde_yaml_ng::to_string(&v).expect("a value prints"));
    }

    /// Text-level damage: a cut anywhere, a line repeated or moved, a chunk of garbage spliced
    /// in — the YAML parser's own error paths and the key-path mapping of its errors.
    #[test]
    fn damaged_config_text_never_panics(
        seed in 0..SEEDS.len(),
        cut in any::<usize>(),
        from in any::<usize>(),
        to in any::<usize>(),
        junk in "[ -~\t\n]{0,12}",
    ) {
        let text = SEEDS[seed];
        let lines: Vec<&str> = text.lines().collect();
        let (a, b) = (from % lines.len(), to % lines.len());
        let mut moved: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        moved.insert(b, format!("{}{junk}", lines[a]));
        check_text(&moved.join("\n"));
        let mut end = cut % (text.len() + 1);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        check_text(&text[..end]);
    }
}

#[test]
fn shipped_configs_pass_check_and_round_trip() {
    for text in SEEDS {
        super::load_str(text).expect("shipped config loads");
        check_text(text);
    }
}

/// Nesting deep enough to overflow a recursive parser's stack: refused, not a crash (a stack
/// overflow aborts the process, which no panic hook sees).
#[test]
fn deep_nesting_is_refused() {
    let n = 100_000;
    // (text, the line of the 129th level)
    for (text, line) in [
        (format!("eal: {}1{}\n", "[".repeat(n), "]".repeat(n)), 1),
        (format!("eal: {}1{}\n", "{a: ".repeat(n), "}".repeat(n)), 1),
        (format!("eal:\n{}1\n", "- ".repeat(n)), 2),
        (format!("eal:\n{}", "[\n".repeat(n)), 130),
    ] {
        let t = std::time::Instant::now();
        let e = super::check_str(&text).unwrap_err();
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.reason.ends_with("nested deeper than 128 levels"), "{e}");
        // Refused by a linear scan, not after the parser's quadratic pass (minutes at this depth).
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
    }
}

/// The "billion laughs": aliases that expand exponentially are refused, not expanded.
#[test]
fn alias_bombs_are_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let t = std::time::Instant::now();
    let e = super::check_str(&text).unwrap_err();
    assert!(!e.reason.is_empty(), "{e}");
    // Bounded work: a refusal, not 10^12 nodes (a generous bound for a loaded machine).
    assert!(
        t.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        t.elapsed()
    );
}
