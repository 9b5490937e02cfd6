//! `.env` files as Docker Compose reads them: `KEY=VALUE` lines, `export`,
//! comments, single quotes (literal), double quotes (escapes, several
//! lines), `KEY: VALUE`, bare `KEY` (taken from the environment), and
//! interpolation of earlier keys and the environment in unquoted and
//! double-quoted values.

use indexmap::IndexMap;

use super::diag::{Diag, FileId, Span};
use super::interpolate::interpolate_str;

pub fn parse(
    text: &str,
    file: FileId,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, Vec<Diag>> {
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        file,
        out: IndexMap::new(),
        diags: Vec::new(),
    };
    p.run(lookup);
    if p.diags.is_empty() {
        Ok(p.out)
    } else {
        Err(p.diags)
    }
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    file: FileId,
    out: IndexMap<String, String>,
    diags: Vec<Diag>,
}

impl Parser<'_> {
    fn span(&self, start: usize, end: usize) -> Span {
        let before = &self.text[..start.min(self.text.len())];
        let line = before.matches('\n').count() as u32 + 1;
        let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) as u32 + 1;
        Span {
            file: self.file,
            start: start as u32,
            end: end.max(start) as u32,
            line,
            col,
        }
    }

    fn line_end(&self, from: usize) -> usize {
        self.bytes[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| from + i)
            .unwrap_or(self.bytes.len())
    }

    fn skip_spaces(&mut self) {
        while self.pos < self.bytes.len() && matches!(self.bytes[self.pos], b' ' | b'\t' | b'\r') {
            self.pos += 1;
        }
    }

    fn run(&mut self, lookup: &dyn Fn(&str) -> Option<String>) {
        while self.pos < self.bytes.len() {
            self.skip_spaces();
            if self.pos >= self.bytes.len() {
                break;
            }
            match self.bytes[self.pos] {
                b'\n' => {
                    self.pos += 1;
                    continue;
                }
                b'#' => {
                    self.pos = self.line_end(self.pos);
                    continue;
                }
                _ => {}
            }
            if self.text[self.pos..].starts_with("export ") || self.text[self.pos..].starts_with("export\t") {
                self.pos += 7;
                self.skip_spaces();
            }
            if let Err(d) = self.entry(lookup) {
                self.diags.push(d);
                // Resume on the next line so every bad line is reported.
                self.pos = (self.line_end(self.pos) + 1).min(self.bytes.len());
            }
        }
    }

    fn entry(&mut self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), Diag> {
        let key_start = self.pos;
        while self.pos < self.bytes.len()
            && !matches!(self.bytes[self.pos], b'=' | b':' | b'\n' | b' ' | b'\t' | b'\r' | b'#')
        {
            self.pos += 1;
        }
        let key = &self.text[key_start..self.pos];
        let key_span = self.span(key_start, self.pos);
        let valid = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && !key.as_bytes()[0].is_ascii_digit();
        self.skip_spaces();
        let at = self.bytes.get(self.pos).copied();
        if !valid || !matches!(at, None | Some(b'=' | b':' | b'\n' | b'#')) {
            let end = self.line_end(key_start);
            return Err(Diag::error(
                self.span(key_start, end),
                format!("invalid line in env file: `{}`", self.text[key_start..end].trim_end()),
            )
            .with_label("not KEY=VALUE")
            .with_help("variable names contain only letters, digits and `_` (no spaces); write KEY=VALUE"));
        }
        let key = key.to_string();
        if !matches!(at, Some(b'=' | b':')) {
            // A bare KEY takes its value from the environment, if any.
            if let Some(v) = lookup(&key) {
                self.out.insert(key, v);
            }
            self.pos = self.line_end(self.pos);
            return Ok(());
        }
        self.pos += 1;
        self.skip_spaces();
        let value = match self.bytes.get(self.pos).copied() {
            Some(b'\'') => self.quoted(b'\'', &key_span)?,
            Some(b'"') => {
                let raw = self.quoted(b'"', &key_span)?;
                self.expand(&raw, key_start, lookup)?
            }
            _ => {
                let end = self.line_end(self.pos);
                let line = &self.text[self.pos..end];
                // ` #` starts a comment; a `#` inside a word does not.
                let cut = line.find(" #").or_else(|| line.find("\t#")).unwrap_or(line.len());
                let raw = line[..cut].trim().to_string();
                self.pos = end;
                self.expand(&raw, key_start, lookup)?
            }
        };
        self.out.insert(key, value);
        Ok(())
    }

    fn expand(&self, raw: &str, at: usize, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Diag> {
        // The environment wins over the file's own earlier keys, as in compose-go.
        let local = |k: &str| lookup(k).or_else(|| self.out.get(k).cloned());
        interpolate_str(raw, &local).map(|(s, _)| s).map_err(|e| {
            Diag::error(self.span(at, self.line_end(at)), format!("in env file: {e}"))
                .with_help("write `${NAME}`, `${NAME:-default}`, or `$$` for a literal `$`")
        })
    }

    /// A quoted value; may span lines. After it, only a comment may follow.
    fn quoted(&mut self, q: u8, key_span: &Span) -> Result<String, Diag> {
        let open = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(
                    Diag::error(self.span(open, open + 1), "unterminated quoted value in env file")
                        .with_label("quote opened here")
                        .with_related(*key_span, "for this variable")
                        .with_help(format!("close the value with {}", q as char)),
                );
            };
            self.pos += 1;
            if b == q {
                break;
            }
            if q == b'"' && b == b'\\' {
                let Some(&n) = self.bytes.get(self.pos) else {
                    continue;
                };
                self.pos += 1;
                match n {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'"' => out.push(b'"'),
                    b'\\' => out.push(b'\\'),
                    // Keep `\$` as `$$` so interpolation leaves a literal `$`.
                    b'$' => out.extend_from_slice(b"$$"),
                    other => {
                        out.push(b'\\');
                        out.push(other);
                    }
                }
                continue;
            }
            out.push(b);
        }
        self.skip_spaces();
        match self.bytes.get(self.pos) {
            None | Some(b'\n') => {}
            Some(b'#') => self.pos = self.line_end(self.pos),
            Some(_) => {
                let end = self.line_end(self.pos);
                return Err(Diag::error(
                    self.span(self.pos, end),
                    "unexpected text after a quoted value in env file",
                )
                .with_help("put the whole value inside the quotes"));
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> IndexMap<String, String> {
        parse(text, FileId(0), &|k| (k == "HOST_VAR").then(|| "from-host".to_string())).expect("parses")
    }

    #[test]
    fn the_forms_docker_compose_reads() {
        let m = parse_ok(concat!(
            "# comment\n\n",
            "A=1\n",
            "export B=two\n",
            "C = spaced # comment\n",
            "D=has#hash\n",
            "E='literal ${A} \\n'\n",
            "F=\"double ${A}\\nnext\"\n",
            "G: yaml-style\n",
            "H=\n",
            "HOST_VAR\n",
            "NOT_IN_ENV\n",
            "I=${A}-${B:-x}-${MISSING:-d}\n",
            "J=\"multi\nline\"\n",
            "K=\"price \\$5\"\n",
            "L=http://x:1/a?b=c\n",
        ));
        let want = [
            ("A", "1"),
            ("B", "two"),
            ("C", "spaced"),
            ("D", "has#hash"),
            ("E", "literal ${A} \\n"),
            ("F", "double 1\nnext"),
            ("G", "yaml-style"),
            ("H", ""),
            ("HOST_VAR", "from-host"),
            ("I", "1-two-d"),
            ("J", "multi\nline"),
            ("K", "price $5"),
            ("L", "http://x:1/a?b=c"),
        ];
        for (k, v) in want {
            assert_eq!(m.get(k).map(String::as_str), Some(v), "{k}");
        }
        assert!(!m.contains_key("NOT_IN_ENV"));
    }

    #[test]
    fn every_bad_line_is_reported_with_its_position() {
        let errs = parse("OK=1\nBAD KEY=2\n1X=3\nQ=\"open\n", FileId(0), &|_| None).unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert_eq!(errs[0].span.line, 2);
        assert!(errs[0].message.contains("invalid line in env file: `BAD KEY=2`"));
        assert_eq!(errs[1].span.line, 3);
        assert_eq!((errs[2].span.line, errs[2].span.col), (4, 3));
        assert!(errs[2].message.contains("unterminated quoted value"));
    }

    #[test]
    fn text_after_quotes_and_bad_interpolation() {
        let errs = parse("A=\"x\" y\nB=${\n", FileId(0), &|_| None).unwrap_err();
        assert!(errs[0].message.contains("unexpected text after a quoted value"));
        assert!(errs[1].message.contains("missing closing brace"));
    }
}
