//! keepalived.conf's syntax, small enough to read by hand: words separated by blanks, `"..."`
//! quoted words, `{` and `}` as words of their own, comments from a word starting with `#` or `!`
//! to the end of the line, and `include PATTERN` (a glob, relative to the including file) spliced
//! in where it stands. Statements end at the end of a line or at a brace; a statement followed
//! by `{` (on the same line or the next) owns the block up to the matching `}`.

use super::Notes;
use std::path::{Path, PathBuf};

/// Includes deeper than this are refused (a file including itself would never end).
const MAX_INCLUDE_DEPTH: usize = 8;

/// One word and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Word {
    pub text: String,
    /// `file:line`, for messages.
    pub at: String,
}

/// A statement: its words and, when it opens one, its block.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub words: Vec<Word>,
    pub block: Option<Vec<Stmt>>,
}

impl Stmt {
    /// The keyword (first word), lower-case; empty for an anonymous block.
    pub fn keyword(&self) -> String {
        self.words
            .first()
            .map(|w| w.text.to_ascii_lowercase())
            .unwrap_or_default()
    }
    pub fn at(&self) -> &str {
        self.words.first().map(|w| w.at.as_str()).unwrap_or("?")
    }
    /// The words after the keyword, joined (for messages).
    pub fn args(&self) -> String {
        self.words
            .iter()
            .skip(1)
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
    /// The statement as written (keyword and arguments).
    pub fn text(&self) -> String {
        self.words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

enum Tok {
    Word(Word),
    Open(String),
    Close(String),
    EndOfLine,
}

/// Reads a keepalived.conf (and what it includes) into statements; problems go to `notes`.
pub fn parse_file(path: &Path, notes: &mut Notes) -> std::io::Result<Vec<Stmt>> {
    let text = std::fs::read_to_string(path)?;
    let mut toks = Vec::new();
    lex(&text, path, 0, &mut toks, notes);
    Ok(build(toks, notes))
}

/// Statements of a text (no file behind it: includes resolve against the current directory).
pub fn parse_str(text: &str, name: &Path, notes: &mut Notes) -> Vec<Stmt> {
    let mut toks = Vec::new();
    lex(text, name, 0, &mut toks, notes);
    build(toks, notes)
}

fn lex(text: &str, path: &Path, depth: usize, out: &mut Vec<Tok>, notes: &mut Notes) {
    let name = path.display().to_string();
    for (n, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", n + 1);
        let words = split_line(line, &at, notes);
        if words.first().is_some_and(|w| w.0 == "include" && !w.1) {
            include(&words, path, &at, depth, out, notes);
            continue;
        }
        for (w, quoted) in words {
            out.push(match w.as_str() {
                "{" if !quoted => Tok::Open(at.clone()),
                "}" if !quoted => Tok::Close(at.clone()),
                _ => Tok::Word(Word {
                    text: w,
                    at: at.clone(),
                }),
            });
        }
        out.push(Tok::EndOfLine);
    }
}

/// The words of one line: (text, was quoted).
fn split_line(line: &str, at: &str, notes: &mut Notes) -> Vec<(String, bool)> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '#' || c == '!' {
            break;
        } else if c == '{' || c == '}' {
            chars.next();
            words.push((c.to_string(), false));
        } else if c == '"' {
            chars.next();
            let mut w = String::new();
            let mut closed = false;
            for c in chars.by_ref() {
                if c == '"' {
                    closed = true;
                    break;
                }
                w.push(c);
            }
            if !closed {
                notes.add(
                    at,
                    "unterminated quoted string (taken to the end of the line)",
                );
            }
            words.push((w, true));
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '{' || c == '}' || c == '"' {
                    break;
                }
                w.push(c);
                chars.next();
            }
            words.push((w, false));
        }
    }
    words
}

fn include(
    words: &[(String, bool)],
    from: &Path,
    at: &str,
    depth: usize,
    out: &mut Vec<Tok>,
    notes: &mut Notes,
) {
    let Some((pattern, _)) = words.get(1) else {
        notes.add(at, "include without a file");
        return;
    };
    if depth >= MAX_INCLUDE_DEPTH {
        notes.add(
            at,
            format!(
                "include {pattern}: more than {MAX_INCLUDE_DEPTH} levels deep (a loop?); skipped"
            ),
        );
        return;
    }
    let base = from.parent().unwrap_or(Path::new("."));
    let full: PathBuf = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    let mut files: Vec<PathBuf> = match glob::glob(&full.to_string_lossy()) {
        Ok(paths) => paths
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect(),
        Err(e) => {
            notes.add(at, format!("include {pattern}: bad pattern ({e})"));
            return;
        }
    };
    files.sort();
    if files.is_empty() {
        notes.add(at, format!("include {pattern}: no file matches"));
    }
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(text) => lex(&text, &f, depth + 1, out, notes),
            Err(e) => notes.add(at, format!("include {}: {e}", f.display())),
        }
    }
}

fn build(toks: Vec<Tok>, notes: &mut Notes) -> Vec<Stmt> {
    let mut it = toks.into_iter();
    block(&mut it, None, notes)
}

/// Statements up to the `}` that closes the block opened at `opened` (or to the end).
fn block(it: &mut impl Iterator<Item = Tok>, opened: Option<&str>, notes: &mut Notes) -> Vec<Stmt> {
    let mut out: Vec<Stmt> = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    loop {
        match it.next() {
            None => {
                flush(&mut out, &mut words);
                if let Some(at) = opened {
                    notes.add(at, "block is never closed (missing `}`)");
                }
                return out;
            }
            Some(Tok::EndOfLine) => flush(&mut out, &mut words),
            Some(Tok::Word(w)) => words.push(w),
            Some(Tok::Open(at)) => {
                let children = block(it, Some(&at), notes);
                if words.is_empty() {
                    // `{` on the line after its keyword belongs to the statement before it.
                    if let Some(prev) = out.last_mut().filter(|s| s.block.is_none()) {
                        prev.block = Some(children);
                        continue;
                    }
                    notes.add(&at, "a block without a keyword; skipped");
                    continue;
                }
                out.push(Stmt {
                    words: std::mem::take(&mut words),
                    block: Some(children),
                });
            }
            Some(Tok::Close(at)) => {
                flush(&mut out, &mut words);
                if opened.is_some() {
                    return out;
                }
                notes.add(&at, "`}` without a block to close; ignored");
            }
        }
    }
}

fn flush(out: &mut Vec<Stmt>, words: &mut Vec<Word>) {
    if !words.is_empty() {
        out.push(Stmt {
            words: std::mem::take(words),
            block: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<Stmt>, Notes) {
        let mut notes = Notes::default();
        let s = parse_str(text, Path::new("t.conf"), &mut notes);
        (s, notes)
    }

    fn shape(s: &[Stmt]) -> Vec<String> {
        s.iter()
            .map(|s| match &s.block {
                None => s.text(),
                Some(b) => format!("{} {{{}}}", s.text(), shape(b).join("; ")),
            })
            .collect()
    }

    #[test]
    fn words_quotes_comments_and_blocks() {
        let (s, notes) = parse(
            "! Configuration File for keepalived\n\
             virtual_server 192.0.2.1 80 {   # the web VIP\n\
             \x20 delay_loop 6\n\
             \x20 real_server 198.51.100.1 80 { weight 2\n\
             \x20   MISC_CHECK { misc_path \"/bin/check.sh -a {x} # y\" }\n\
             \x20 }\n\
             }\n",
        );
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(
            shape(&s),
            ["virtual_server 192.0.2.1 80 {delay_loop 6; real_server 198.51.100.1 80 {weight 2; MISC_CHECK {misc_path /bin/check.sh -a {x} # y}}}"]
        );
        let real = &s[0].block.as_ref().unwrap()[1];
        assert_eq!(real.at(), "t.conf:4");
        assert_eq!(real.keyword(), "real_server");
        let misc = &real.block.as_ref().unwrap()[1].block.as_ref().unwrap()[0];
        assert_eq!(misc.words[1].text, "/bin/check.sh -a {x} # y");
    }

    #[test]
    fn brace_on_the_next_line_and_unbalanced_braces() {
        let (s, notes) = parse("virtual_server 192.0.2.1 80\n{\n lb_algo rr\n}\n}\n");
        assert_eq!(shape(&s), ["virtual_server 192.0.2.1 80 {lb_algo rr}"]);
        assert_eq!(
            notes.lines(),
            ["t.conf:5: `}` without a block to close; ignored"]
        );
        let (s, notes) = parse("global_defs {\n router_id x\n");
        assert_eq!(shape(&s), ["global_defs {router_id x}"]);
        assert_eq!(
            notes.lines(),
            ["t.conf:1: block is never closed (missing `}`)"]
        );
        let (_, notes) = parse("misc_path \"abc\n");
        assert_eq!(
            notes.lines(),
            ["t.conf:1: unterminated quoted string (taken to the end of the line)"]
        );
    }

    #[test]
    fn includes_are_relative_globbed_and_bounded() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("conf.d")).unwrap();
        std::fs::write(d.path().join("conf.d/b.conf"), "b_stmt 2\n").unwrap();
        std::fs::write(
            d.path().join("conf.d/a.conf"),
            "a_stmt 1\ninclude ../leaf.inc\n",
        )
        .unwrap();
        std::fs::write(d.path().join("leaf.inc"), "leaf 3\n").unwrap();
        std::fs::write(d.path().join("loop.conf"), "include loop.conf\n").unwrap();
        std::fs::write(
            d.path().join("main.conf"),
            "top {\n include conf.d/*.conf\n}\ninclude none/*.conf\ninclude loop.conf\n",
        )
        .unwrap();
        let mut notes = Notes::default();
        let s = parse_file(&d.path().join("main.conf"), &mut notes).unwrap();
        assert_eq!(shape(&s), ["top {a_stmt 1; leaf 3; b_stmt 2}"]);
        let leaf = &s[0].block.as_ref().unwrap()[1];
        assert!(leaf.at().ends_with("conf.d/../leaf.inc:1"), "{}", leaf.at());
        let lines = notes.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].ends_with("main.conf:4: include none/*.conf: no file matches"));
        assert!(lines[1].contains("loop.conf:1: include loop.conf: more than 8 levels deep"));
    }
}
