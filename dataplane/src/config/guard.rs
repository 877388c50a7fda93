//! Bounds checked on a config's text before the YAML parser sees it. The parser (libyaml, under
//! serde_yaml_ng) takes time quadratic in the nesting depth of flow collections (`[[[[...`) and
//! of sequences opened on one line (`- - - - x`), and only then does serde's own recursion limit
//! (128) refuse them: a 200 KB file held `dataplane check` for a minute. No config nests beyond
//! a handful of levels, so the depth is estimated by a linear scan and refused past the same 128.

use super::load::ConfigError;

/// The largest config file accepted (a config with tens of thousands of reals is a few MB).
pub const MAX_CONFIG_BYTES: usize = 16 * 1024 * 1024;

/// Deepest nesting accepted: serde_yaml_ng's own recursion limit, so nothing it would accept is
/// refused here.
pub const MAX_NESTING: usize = 128;

/// Refuses a text too large or too deeply nested for the parser to be quick on.
pub fn check_text_bounds(text: &str) -> Result<(), ConfigError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::new(
            "",
            format!(
                "the file is {} bytes, more than the {MAX_CONFIG_BYTES} a config may have",
                text.len()
            ),
        ));
    }
    let mut flow = FlowDepth::default();
    for (n, line) in text.lines().enumerate() {
        let too_deep = |what: &str| {
            let mut e = ConfigError::new(
                "",
                format!("{what} nested deeper than {MAX_NESTING} levels"),
            );
            e.line = Some(n + 1);
            e
        };
        if leading_sequence_entries(line) > MAX_NESTING {
            return Err(too_deep("sequences"));
        }
        if flow.scan_line(line) > MAX_NESTING {
            return Err(too_deep("flow collections ([...] or {...})"));
        }
    }
    Ok(())
}

/// How many block sequences a line opens before its content: `- - - x` opens three.
fn leading_sequence_entries(line: &str) -> usize {
    let mut rest = line.trim_start_matches(' ');
    let mut n = 0;
    while let Some(r) = rest.strip_prefix('-') {
        if !(r.is_empty() || r.starts_with(' ')) {
            break;
        }
        n += 1;
        rest = r.trim_start_matches(' ');
    }
    n
}

/// Open `[`/`{` outside quoted scalars and comments, carried across lines. It over-counts
/// brackets inside plain scalars (`path: /a[0`), which only matters past 128 of them.
#[derive(Default)]
struct FlowDepth {
    depth: usize,
    max: usize,
    /// Inside a quoted scalar that continues on the next line: its quote character.
    quote: Option<char>,
}

impl FlowDepth {
    /// Scans one line; returns the deepest nesting seen so far.
    fn scan_line(&mut self, line: &str) -> usize {
        let mut chars = line.chars().peekable();
        // What came before the current character: a quote or comment starts only at a token's
        // start (`it's` is a plain scalar, `a#b` is not a comment).
        let mut at_token_start = true;
        while let Some(c) = chars.next() {
            if let Some(q) = self.quote {
                match (q, c) {
                    ('"', '\\') => {
                        chars.next();
                    }
                    ('\'', '\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                    }
                    _ if c == q => self.quote = None,
                    _ => {}
                }
                at_token_start = false;
                continue;
            }
            match c {
                '#' if at_token_start => break,
                '"' | '\'' if at_token_start => self.quote = Some(c),
                '[' | '{' => {
                    self.depth += 1;
                    self.max = self.max.max(self.depth);
                }
                ']' | '}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            at_token_start = matches!(c, ' ' | '\t' | '[' | '{' | ',' | ':' | '-' | '?');
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_configs_are_within_bounds() {
        for text in [
            include_str!("../../../configs/lb.yaml"),
            include_str!("../../../configs/nat.yaml"),
            include_str!("../../../configs/dr.yaml"),
            include_str!("../../../configs/tun.yaml"),
        ] {
            check_text_bounds(text).unwrap();
        }
    }

    #[test]
    fn depth_is_counted_outside_quotes_and_comments() {
        let depth = |t: &str| {
            let mut f = FlowDepth::default();
            t.lines().map(|l| f.scan_line(l)).last().unwrap_or(0)
        };
        assert_eq!(depth("a: [1, [2, {b: 3}]]"), 3);
        assert_eq!(depth("a: \"[[[\" # [[[["), 0);
        assert_eq!(depth("a: '[[''[' "), 0);
        assert_eq!(depth("a: \"x\\\"[[\""), 0);
        assert_eq!(depth("a: it's [1]"), 1);
        assert_eq!(depth("a: [\n  [\n    1]]"), 2);
        assert_eq!(depth("a: \"multi\n[[[ line\""), 0);
        assert_eq!(leading_sequence_entries("  - - - x"), 3);
        assert_eq!(leading_sequence_entries("- -x"), 1);
        assert_eq!(leading_sequence_entries("-1"), 0);
    }

    #[test]
    fn refusals_name_the_line_and_the_limit() {
        let ok = format!("a: {}1{}\n", "[".repeat(128), "]".repeat(128));
        check_text_bounds(&ok).unwrap();
        let deep = format!("a: 1\nb: {}1{}\n", "[".repeat(129), "]".repeat(129));
        let e = check_text_bounds(&deep).unwrap_err();
        assert_eq!(
            e.to_string(),
            "(top level) (line 2): flow collections ([...] or {...}) nested deeper than 128 levels"
        );
        let dashes = format!("a:\n{}x\n", "- ".repeat(129));
        let e = check_text_bounds(&dashes).unwrap_err();
        assert_eq!(
            e.to_string(),
            "(top level) (line 2): sequences nested deeper than 128 levels"
        );
        let big = " ".repeat(MAX_CONFIG_BYTES + 1);
        let e = check_text_bounds(&big).unwrap_err();
        assert_eq!(
            e.reason,
            format!(
                "the file is {} bytes, more than the {MAX_CONFIG_BYTES} a config may have",
                MAX_CONFIG_BYTES + 1
            )
        );
    }
}
