//! A strict reader of the Prometheus text exposition format (0.0.4), for tests and tools: the
//! exposition is written by prometheus-client (exposition.rs); this checks it independently.

/// One sample of an exposition: metric name, labels, value.
pub type Sample = (String, Vec<(String, String)>, f64);

/// The sum of the samples of metric `name` that carry every label in `labels`.
pub fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|x| x.2)
        .sum()
}

/// Prometheus's own checker (`promtool check metrics`, Debian package prometheus) on `text`:
/// an independent second opinion for tests.
pub fn promtool_check(text: &str) -> Result<(), String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("promtool: {e} (run scripts/setup: Debian package prometheus)"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A strict reader of the text exposition format (0.0.4), for tests and tools: HELP/TYPE lines,
/// one TYPE per family before its samples, families not interleaved, valid metric and label
/// names, escaped label values, float values, no duplicate series.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    fn name_ok(n: &str, colon: bool) -> bool {
        let mut cs = n.chars();
        cs.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
            && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
    }
    let mut out: Vec<Sample> = Vec::new();
    let mut typed: std::collections::HashMap<String, String> = Default::default();
    let mut finished: std::collections::HashSet<String> = Default::default();
    let mut current: Option<String> = None;
    let mut series = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let at = |m: &str| format!("line {}: {m}: {line}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut w = rest.splitn(3, ' ');
            match (w.next(), w.next(), w.next()) {
                (Some("TYPE"), Some(n), Some(k)) => {
                    if !["counter", "gauge", "untyped", "histogram", "summary"].contains(&k) {
                        return Err(at("unknown type"));
                    }
                    if typed.insert(n.to_string(), k.to_string()).is_some() {
                        return Err(at("second TYPE for a family"));
                    }
                    if out.iter().any(|s| s.0 == n) {
                        return Err(at("TYPE after the family's samples"));
                    }
                }
                (Some("HELP"), Some(n), _) if name_ok(n, true) => {}
                (Some("HELP"), ..) => return Err(at("bad HELP")),
                _ => {}
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series_part, value) = line.rsplit_once(' ').ok_or_else(|| at("no value"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| at("bad value"))?,
        };
        let (name, labels) = match series_part.split_once('{') {
            None => (series_part, Vec::new()),
            Some((n, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .ok_or_else(|| at("unclosed labels"))?;
                let mut labels = Vec::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
                    if !name_ok(&key, false) {
                        return Err(at("bad label name"));
                    }
                    if chars.next() != Some('"') {
                        return Err(at("label value not quoted"));
                    }
                    let mut val = String::new();
                    loop {
                        match chars.next() {
                            Some('\\') => match chars.next() {
                                Some('n') => val.push('\n'),
                                Some(c @ ('\\' | '"')) => val.push(c),
                                _ => return Err(at("bad escape")),
                            },
                            Some('"') => break,
                            Some(c) => val.push(c),
                            None => return Err(at("unterminated label value")),
                        }
                    }
                    labels.push((key, val));
                    match chars.next() {
                        Some(',') | None => {}
                        _ => return Err(at("expected , between labels")),
                    }
                }
                (n, labels)
            }
        };
        if !name_ok(name, true) {
            return Err(at("bad metric name"));
        }
        if current.as_deref() != Some(name) {
            if finished.contains(name) {
                return Err(at("family's samples are not together"));
            }
            if let Some(c) = current.take() {
                finished.insert(c);
            }
            current = Some(name.to_string());
        }
        if !series.insert(series_part.to_string()) {
            return Err(at("duplicate series"));
        }
        out.push((name.to_string(), labels, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_refuses_malformed_text() {
        assert!(parse("m{a=\"1\"} 2\n").is_ok());
        for bad in [
            "m{a=1} 2\n",
            "m{a=\"1\"\n",
            "m 2 3 x\n",
            "1m 2\n",
            "m 2\nn 1\nm 3\n",
            "m 2\nm 2\n",
            "# TYPE m counter\n# TYPE m gauge\n",
            "# TYPE m flavour\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let s = parse("a{x=\"q\\\"\\\\\\n\",y=\"\"} 1.5\n").unwrap();
        assert_eq!(s[0].1[0].1, "q\"\\\n");
        assert_eq!(s[0].2, 1.5);
    }
}
