//! Parses the lcore ids out of an EAL `--lcores` string, so that validation can check workers
//! against it before EAL is started (EAL itself would only fail later and less clearly).

/// Returns the sorted, de-duplicated lcore ids of an EAL `--lcores` / `-l` string.
/// Accepts "0-3", "0,2,4", "1@2", "(0-2)@(0,1)", "0,(1,2)@1".
pub fn parse_lcores(s: &str) -> Result<Vec<u32>, String> {
    let mut ids = Vec::new();
    let s = s.trim();
    if s.is_empty() {
        return Err("empty lcore list".into());
    }
    for item in split_top_level(s) {
        // The lcore part is what precedes '@' (the CPU set after it is EAL's business).
        let lpart = item.split('@').next().unwrap_or("").trim();
        let inner = lpart.strip_prefix('(').and_then(|x| x.strip_suffix(')'));
        let group = inner.unwrap_or(lpart);
        for piece in group.split(',') {
            parse_range(piece.trim(), &mut ids)
                .map_err(|e| format!("bad lcore item `{item}`: {e}"))?;
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_range(p: &str, ids: &mut Vec<u32>) -> Result<(), String> {
    let num = |x: &str| {
        x.trim()
            .parse::<u32>()
            .map_err(|_| format!("`{x}` is not an lcore number"))
    };
    match p.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if a > b || b >= 1024 {
                return Err(format!("bad range {a}-{b}"));
            }
            ids.extend(a..=b);
        }
        None => {
            let n = num(p)?;
            if n >= 1024 {
                return Err(format!("lcore {n} is out of range"));
            }
            ids.push(n)
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse_lcores("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_lcores("0,2").unwrap(), vec![0, 2]);
        assert_eq!(parse_lcores("(0-2)@(0,1)").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_lcores("0,1@1,2@0").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_lcores("0,(1,3)@1").unwrap(), vec![0, 1, 3]);
    }

    #[test]
    fn errors() {
        assert!(parse_lcores("").is_err());
        assert!(parse_lcores("a").is_err());
        assert!(parse_lcores("3-1").is_err());
        assert!(parse_lcores("0-5000").is_err());
    }
}
