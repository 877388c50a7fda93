//! Reading a config file: YAML -> schema with the failing key's path and line in the message,
//! then semantic validation.

use super::schema::Config;
use std::fmt;
use std::path::Path;

/// A refused config: `key` is the path of the offending key (e.g. `ports[0].device`), `line` its
/// line in the file when known.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub key: String,
    pub line: Option<usize>,
    pub reason: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            line: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_empty() || self.key == "." {
            "(top level)"
        } else {
            &self.key
        };
        match self.line {
            Some(l) => write!(f, "{key} (line {l}): {}", self.reason),
            None => write!(f, "{key}: {}", self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Loads and validates a config file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("", format!("cannot read {}: {e}", path.display())))?;
    load_str(&text)
}

/// What `dataplane check` does with a config file: load and validate it, then return the
/// normalised YAML it prints. The property tests and the `check` fuzz target drive `check_str`.
pub fn check_file(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("", format!("cannot read {}: {e}", path.display())))?;
    check_str(&text)
}

/// `check_file` on text already read.
pub fn check_str(text: &str) -> Result<String, ConfigError> {
    let cfg = load_str(text)?;
    serde_yaml_ng::to_string(&cfg).map_err(|e| ConfigError::new("", format!("cannot print: {e}")))
}

/// Parses and validates a config from YAML text.
pub fn load_str(text: &str) -> Result<Config, ConfigError> {
    let cfg = match parse_json(text) {
        Some(parsed) => parsed?,
        None => parse_yaml(text)?,
    };
    super::validate::validate(&cfg).map_err(|mut e| {
        e.line = e.line.or_else(|| line_of_key(text, &e.key));
        e
    })?;
    Ok(cfg)
}

/// A config written as JSON (a subset of YAML, and what tools that generate thousands of
/// services usually write) is read by a JSON parser: the same document, the same keys and
/// errors, about ten times faster than the YAML parser (docs/perf.md, the reload bench). `None`
/// when `text` is not JSON (it is then read as YAML: a YAML flow mapping `{eal: ...}` is not).
fn parse_json(text: &str) -> Option<Result<Config, ConfigError>> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed: Result<Config, _> = serde_path_to_error::deserialize(&mut de);
    match parsed {
        // Anything after the document: not JSON.
        Ok(cfg) => de.end().is_ok().then_some(Ok(cfg)),
        Err(e) if matches!(e.inner().classify(), serde_json::error::Category::Data) => {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let line = Some(inner.line());
            let mut reason = inner.to_string();
            if let Some(i) = reason.find(" at line ") {
                reason.truncate(i);
            }
            Some(Err(ConfigError { key, line, reason }))
        }
        // Not JSON after all: YAML's turn.
        Err(_) => None,
    }
}

/// Parses YAML `text`, naming the key and line of the first error.
fn parse_yaml(text: &str) -> Result<Config, ConfigError> {
    // The JSON parser needs no such guard: it is linear, and refuses nesting past 128.
    super::guard::check_text_bounds(text)?;
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let line = inner.location().map(|l| l.line());
        // serde_yaml appends " at line X column Y"; the line is reported separately.
        let mut reason = inner.to_string();
        if let Some(i) = reason.find(" at line ") {
            reason.truncate(i);
        }
        // ... and may prefix the path of the enclosing mapping, which the key already says.
        if let Some((head, rest)) = reason.split_once(": ") {
            if !head.contains(' ') {
                reason = rest.to_string();
            }
        }
        ConfigError { key, line, reason }
    })?;
    Ok(cfg)
}

/// Best-effort line of a key path like `ports[1].device` in the YAML text, for messages about
/// keys that parsed but failed validation. Finds the last path segment's name after the
/// preceding segments' lines.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let mut from = 0usize;
    let mut found = None;
    for seg in key.split('.') {
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        if name.is_empty() {
            continue;
        }
        let needle = format!("{name}:");
        let (line_no, _) = text
            .lines()
            .enumerate()
            .skip(from)
            .find(|(_, l)| l.trim_start().trim_start_matches("- ").starts_with(&needle))?;
        from = line_no;
        found = Some(line_no + 1);
        if let Some(idx) = index {
            // Skip to the idx-th list item after the key.
            let mut count = 0usize;
            for (n, l) in text.lines().enumerate().skip(line_no + 1) {
                if l.trim_start().starts_with("- ") {
                    if count == idx {
                        from = n;
                        found = Some(n + 1);
                        break;
                    }
                    count += 1;
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAT: &str = include_str!("../../../configs/nat.yaml");

    /// The same config as JSON loads to the same thing, by the JSON parser.
    #[test]
    fn json_is_the_same_config() {
        let yaml = load_str(NAT).unwrap();
        let json = serde_json::to_string_pretty(&yaml).unwrap();
        assert!(parse_json(&json).is_some_and(|r| r.is_ok()), "read as JSON");
        assert_eq!(load_str(&json).unwrap(), yaml);
    }

    /// A JSON config's errors name the key and line, as the YAML ones do; validation runs.
    #[test]
    fn json_errors_name_the_key() {
        let mut v = serde_json::to_value(load_str(NAT).unwrap()).unwrap();
        v["services"][0]["schedular"] = "rr".into();
        let text = serde_json::to_string_pretty(&v).unwrap();
        let e = load_str(&text).unwrap_err();
        assert_eq!(e.key, "services[0].schedular", "{e}");
        assert!(e.reason.starts_with("unknown field `schedular`"), "{e}");
        let line = text.lines().position(|l| l.contains("schedular")).unwrap() + 1;
        assert_eq!(e.line, Some(line));
        let mut v = serde_json::to_value(load_str(NAT).unwrap()).unwrap();
        v["services"][0]["reals"][0]["weight"] = 70_000.into();
        let e = load_str(&serde_json::to_string(&v).unwrap()).unwrap_err();
        assert_eq!(e.key, "services[0].reals[0].weight", "{e}");
    }

    /// A YAML flow mapping starts with `{` too, and is still read (by the YAML parser).
    #[test]
    fn a_yaml_flow_mapping_is_not_json() {
        let flow = "{eal: {lcores: \"0-1\"}, workers: {cores: [1]}, mode: l2fwd,\n \
                    ports: [{name: a, device: net_null0}, {name: b, device: net_null1}],\n \
                    l2fwd: {pairs: [[a, b]]}}";
        assert!(parse_json(flow).is_none());
        assert_eq!(load_str(flow).unwrap().ports.len(), 2);
    }
}
