//! `.dockerignore`: which build-context paths stay out of the context sent to the build.
//!
//! Semantics follow Docker's: the last matching pattern decides, `!` re-includes, a pattern
//! matching a parent directory matches everything below it, and globs follow Go's
//! `filepath.Match` per segment with `**` spanning segments.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`
    One,
    /// `*`
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**` inside a pattern: nothing, or anything ending at a `/`.
    Dirs,
    /// `**` ending a pattern: anything at all.
    Rest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    exclusion: bool,
    toks: Vec<Tok>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    pub fn parse(text: &str) -> Result<DockerIgnore, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for line in text.lines() {
            // Docker only treats `#` in the very first column as a comment.
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (exclusion, body) = match line.strip_prefix('!') {
                Some(b) => (true, b.trim()),
                None => (false, line),
            };
            if body.is_empty() {
                return Err(format!(
                    ".dockerignore pattern {line:?} re-includes nothing; put a path after the ! or remove the line"
                ));
            }
            let cleaned = clean(body);
            let cleaned = if cleaned.len() > 1 {
                cleaned.strip_prefix('/').unwrap_or(&cleaned)
            } else {
                &cleaned
            };
            let toks = compile(cleaned)
                .map_err(|e| format!(".dockerignore pattern {line:?} is invalid: {e}; fix or escape it with \\"))?;
            patterns.push(Pattern { exclusion, toks });
        }
        Ok(DockerIgnore { patterns })
    }

    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let path: Vec<char> = clean(rel_path).chars().collect();
        self.patterns
            .iter()
            .rev()
            .find(|p| p.matches_or_parent(&path))
            .is_some_and(|p| !p.exclusion)
    }

    /// Whether some `!` pattern exists; a context walker cannot skip an excluded directory
    /// wholesale when it does, since something inside may be re-included.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }
}

impl Pattern {
    fn matches_or_parent(&self, path: &[char]) -> bool {
        matches(&self.toks, path)
            || path
                .iter()
                .enumerate()
                .any(|(i, &c)| c == '/' && matches(&self.toks, &path[..i]))
    }
}

/// Go's `path.Clean`: drop empty and `.` segments, fold `..`, no trailing slash, "" is ".".
fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

fn compile(p: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < c.len() {
        i += 1;
        toks.push(match c[i - 1] {
            '*' if c.get(i) == Some(&'*') => {
                i += 1;
                if c.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= c.len() {
                    Tok::Rest
                } else {
                    Tok::Dirs
                }
            }
            '*' => Tok::Star,
            '?' => Tok::One,
            '\\' => {
                i += 1;
                Tok::Lit(*c.get(i - 1).ok_or("it ends with a lone \\")?)
            }
            '[' => {
                let (tok, next) = class(&c, i)?;
                i = next;
                tok
            }
            x => Tok::Lit(x),
        });
    }
    Ok(toks)
}

/// Parses a class body starting after `[`, with Go's rules: `^` negates, a range needs both
/// ends, and `-` or `]` must be escaped where they would be ambiguous.
fn class(c: &[char], mut i: usize) -> Result<(Tok, usize), String> {
    let negated = c.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let esc = |i: &mut usize| -> Result<char, String> {
        let mut ch = *c.get(*i).ok_or("a [ class is not closed")?;
        if ch == '-' || ch == ']' {
            return Err(format!("a {ch} in a [ class must be escaped as \\{ch}"));
        }
        if ch == '\\' {
            *i += 1;
            ch = *c.get(*i).ok_or("a [ class is not closed")?;
        }
        *i += 1;
        Ok(ch)
    };
    loop {
        if c.get(i) == Some(&']') && !ranges.is_empty() {
            return Ok((Tok::Class { negated, ranges }, i + 1));
        }
        let lo = esc(&mut i)?;
        let hi = if c.get(i) == Some(&'-') {
            i += 1;
            esc(&mut i)?
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
}

fn matches(toks: &[Tok], s: &[char]) -> bool {
    // Memoised on (token, position) so that runs of `*` and `**` stay polynomial.
    let mut memo = vec![None; (toks.len() + 1) * (s.len() + 1)];
    match_at(toks, s, 0, 0, &mut memo)
}

fn match_at(t: &[Tok], s: &[char], ti: usize, si: usize, memo: &mut Vec<Option<bool>>) -> bool {
    let key = ti * (s.len() + 1) + si;
    if let Some(r) = memo[key] {
        return r;
    }
    let segment_char = s.get(si).filter(|&&c| c != '/');
    let r = match t.get(ti) {
        None => si == s.len(),
        Some(Tok::Rest) => true,
        Some(Tok::Lit(c)) => s.get(si) == Some(c) && match_at(t, s, ti + 1, si + 1, memo),
        Some(Tok::One) => segment_char.is_some() && match_at(t, s, ti + 1, si + 1, memo),
        Some(Tok::Class { negated, ranges }) => {
            segment_char.is_some_and(|&c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated)
                && match_at(t, s, ti + 1, si + 1, memo)
        }
        Some(Tok::Star) => {
            match_at(t, s, ti + 1, si, memo) || (segment_char.is_some() && match_at(t, s, ti, si + 1, memo))
        }
        Some(Tok::Dirs) => {
            match_at(t, s, ti + 1, si, memo)
                || (si..s.len()).any(|k| s[k] == '/' && match_at(t, s, ti + 1, k + 1, memo))
        }
    };
    memo[key] = Some(r);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &str, path: &str) -> bool {
        DockerIgnore::parse(patterns).unwrap().is_excluded(path)
    }

    #[test]
    fn match_table() {
        // (patterns, path, excluded)
        let cases: &[(&str, &str, bool)] = &[
            ("node_modules", "node_modules", true),
            ("node_modules", "node_modules/a/b", true),
            ("node_modules", "src/node_modules", false),
            ("*.md", "README.md", true),
            ("*.md", "docs/README.md", false),
            ("*/*.md", "docs/README.md", true),
            ("**/*.md", "docs/a/README.md", true),
            ("**/*.md", "README.md", true),
            ("**", "anything/at/all", true),
            ("docs/**", "docs/a/b", true),
            ("docs/**", "docs", false),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true),
            ("a/**/b", "a/x/y/c", false),
            ("a/**/b", "a/b/c", true),
            ("**/tmp", "x/y/tmp/file", true),
            ("?.txt", "a.txt", true),
            ("?.txt", "ab.txt", false),
            ("?", "/", false),
            ("a*", "a/b", true),
            ("a*b", "a/b", false),
            ("[abc].go", "b.go", true),
            ("[abc].go", "d.go", false),
            ("[^abc].go", "d.go", true),
            ("[a-c]x", "bx", true),
            ("[!a]x", "!x", true),
            ("\\*x", "*x", true),
            ("\\*x", "ax", false),
            ("/abs/path", "abs/path", true),
            ("./rel//path/", "rel/path/x", true),
            ("a/../b", "b", true),
            ("  spaced  ", "spaced", true),
            ("# comment\nfoo", "# comment", false),
            (" # not comment", "# not comment", true),
            ("\n\nfoo\n\n", "foo", true),
            ("*\n!keep", "keep", false),
            ("*\n!keep", "other", true),
            ("*.md\n!README.md", "README.md", false),
            ("*.md\n!README.md\nREADME.md", "README.md", true),
            ("dir\n!dir/keep", "dir/keep/x", false),
            ("dir\n!dir/keep", "dir/other", true),
            ("!x\nx", "x", true),
            ("\u{feff}bom", "bom", true),
            ("a", "./a", true),
            ("*", ".git", true),
        ];
        for (patterns, path, want) in cases {
            assert_eq!(excluded(patterns, path), *want, "patterns {patterns:?} path {path:?}");
        }
    }

    #[test]
    fn bad_patterns_are_named() {
        for bad in ["[abc", "a\\", "[]a]", "[a-]", "[-a]", "!", "!  "] {
            let e = DockerIgnore::parse(&format!("ok\n{bad}\n")).unwrap_err();
            assert!(e.contains(&format!("{:?}", bad.trim())), "{e}");
        }
        assert!(DockerIgnore::parse("[\\]]x").unwrap().is_excluded("]x"));
    }

    #[test]
    fn cleaning() {
        for (input, want) in [
            ("a//b/", "a/b"),
            ("./a", "a"),
            ("..", ".."),
            ("../../a", "../../a"),
            ("/../a", "/a"),
            ("", "."),
            ("a/..", "."),
        ] {
            assert_eq!(clean(input), want, "{input}");
        }
    }

    #[test]
    fn exceptions_and_pathological_stars() {
        assert!(!DockerIgnore::parse("a\nb").unwrap().has_exceptions());
        assert!(DockerIgnore::parse("a\n!b").unwrap().has_exceptions());
        let p = DockerIgnore::parse(&"*a".repeat(20)).unwrap();
        assert!(!p.is_excluded(&format!("{}b", "a".repeat(60))));
    }
}
