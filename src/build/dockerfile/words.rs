//! Word-level lexing shared by the instruction parsers: Docker's quoting, escapes and
//! variable substitution.

use super::Res;

/// Splits on blanks outside quotes; quotes and escapes stay in the words for [`canonical`].
pub(super) fn split_words(s: &str, escape: char) -> Vec<String> {
    let (mut words, mut word, mut quote) = (Vec::new(), String::new(), None);
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if quote.is_none() && c.is_whitespace() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        word.push(c);
        if c == escape && quote != Some('\'') {
            word.extend(chars.next());
        } else if quote.is_none() && (c == '"' || c == '\'') {
            quote = Some(c);
        } else if quote == Some(c) {
            quote = None;
        }
    }
    words.extend((!word.is_empty()).then_some(word));
    words
}

/// Resolves quotes and Dockerfile escapes but leaves `$` expansions for [`expand`], writing
/// every literal `\ $ ' "` escaped so that a later expansion cannot misread it.
pub(super) fn canonical(raw: &str, escape: char) -> Res<String> {
    fn lit(out: &mut String, c: char) {
        if matches!(c, '\\' | '$' | '\'' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    let c: Vec<char> = raw.chars().collect();
    let (mut out, mut i, mut quoted) = (String::new(), 0, false);
    while i < c.len() {
        let next = c.get(i + 1).copied();
        i += match c[i] {
            '"' => {
                quoted = !quoted;
                1
            }
            e if e == escape && (!quoted || matches!(next, Some(n) if n == '"' || n == '$' || n == escape)) => {
                next.into_iter().for_each(|n| lit(&mut out, n));
                2
            }
            '\'' if !quoted => {
                let Some(len) = c[i + 1..].iter().position(|&x| x == '\'') else {
                    bail!("unclosed single quote in {raw}; add the closing '")
                };
                c[i + 1..i + 1 + len].iter().for_each(|&x| lit(&mut out, x));
                len + 2
            }
            '$' => copy_dollar(&c, i, &mut out) - i,
            x => {
                lit(&mut out, x);
                1
            }
        };
    }
    if quoted {
        bail!("unclosed double quote in {raw}; add the closing \"");
    }
    Ok(out)
}

/// Copies the expansion starting at `c[i] == '$'` verbatim and returns the index after it.
fn copy_dollar(c: &[char], i: usize, out: &mut String) -> usize {
    let run = |f: fn(&char) -> bool| c[i + 1..].iter().take_while(|x| f(x)).count();
    let len = match c.get(i + 1) {
        Some('{') => {
            let mut depth = 0;
            let close = c[i + 1..].iter().position(|&x| {
                depth += (x == '{') as i32 - (x == '}') as i32;
                depth == 0
            });
            close.map_or(c.len() - i - 1, |p| p + 1)
        }
        Some(d) if d.is_ascii_digit() => run(char::is_ascii_digit),
        Some(&s) if is_special_param(s) => 1,
        Some(n) if n.is_alphabetic() || *n == '_' => run(|x| x.is_alphanumeric() || *x == '_'),
        _ => {
            out.push_str("\\$");
            return i + 1;
        }
    };
    out.extend(&c[i..i + 1 + len]);
    i + 1 + len
}

fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!')
}

/// Docker's substitution in one word: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?msg}`, `${VAR?msg}`; quotes are removed (single quotes
/// suppress expansion), `\` escapes, and a variable `lookup` does not know becomes "".
pub fn expand(word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let chars: Vec<char> = word.chars().collect();
    Lexer {
        c: &chars,
        i: 0,
        lookup,
        word,
    }
    .until(None)
}

struct Lexer<'a> {
    c: &'a [char],
    i: usize,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    word: &'a str,
}

impl Lexer<'_> {
    fn next(&mut self) -> Option<char> {
        let c = self.c.get(self.i).copied();
        self.i += c.is_some() as usize;
        c
    }

    fn take_while(&mut self, f: impl Fn(&char) -> bool) -> String {
        let n = self.c[self.i..].iter().take_while(|x| f(x)).count();
        self.i += n;
        self.c[self.i - n..self.i].iter().collect()
    }

    fn err(&self, what: &str) -> String {
        format!(
            "{what} in {:?}; fix the quoting or escape the character with \\",
            self.word
        )
    }

    /// Processes up to `stop` (consumed) or to the end when `stop` is None.
    fn until(&mut self, stop: Option<char>) -> Res<String> {
        let mut out = String::new();
        while let Some(c) = self.next() {
            match c {
                c if Some(c) == stop => return Ok(out),
                // A lone trailing backslash is dropped, as Docker does.
                '\\' => out.extend(self.next()),
                '\'' => {
                    out.push_str(&self.take_while(|&x| x != '\''));
                    self.next().ok_or_else(|| self.err("unclosed single quote"))?;
                }
                '"' => loop {
                    match self.next() {
                        None => return Err(self.err("unclosed double quote")),
                        Some('"') => break,
                        Some('\\') if matches!(self.c.get(self.i), Some('"' | '$' | '\\')) => out.extend(self.next()),
                        Some('$') => out.push_str(&self.dollar()?),
                        Some(x) => out.push(x),
                    }
                },
                '$' => out.push_str(&self.dollar()?),
                c => out.push(c),
            }
        }
        match stop {
            Some(s) => Err(self.err(&format!("missing '{s}'"))),
            None => Ok(out),
        }
    }

    fn dollar(&mut self) -> Res<String> {
        let name = match self.c.get(self.i).copied() {
            Some('{') => {
                self.i += 1;
                return self.braced();
            }
            Some(d) if d.is_ascii_digit() => self.take_while(char::is_ascii_digit),
            Some(s) if is_special_param(s) => self.next().map(String::from).unwrap_or_default(),
            Some(n) if n.is_alphabetic() || n == '_' => self.take_while(|x| x.is_alphanumeric() || *x == '_'),
            _ => return Ok("$".into()),
        };
        Ok((self.lookup)(&name).unwrap_or_default())
    }

    /// `${name}` and `${name<op>word}`, after the `{`.
    fn braced(&mut self) -> Res<String> {
        let name = self.take_while(|x| x.is_alphanumeric() || *x == '_');
        let value = (self.lookup)(&name);
        if name.is_empty() {
            return Err(self.err("bad substitution: ${...} needs a variable name"));
        }
        let (colon, op) = match self.next() {
            Some('}') => return Ok(value.unwrap_or_default()),
            Some(':') => (true, self.next()),
            other => (false, other),
        };
        let op = match op {
            Some(op @ ('-' | '+' | '?')) => op,
            None => return Err(self.err("missing '}'")),
            Some(o) => bail!(
                "unsupported modifier ({o}) in ${{{name}...}} of {:?}; use :- - :+ + :? or ?",
                self.word
            ),
        };
        let alt = self.until(Some('}'))?;
        let set = value.as_ref().is_some_and(|v| !colon || !v.is_empty());
        match (op, set) {
            ('-' | '?', true) => Ok(value.unwrap_or_default()),
            ('-', false) | ('+', true) => Ok(alt),
            ('+', false) => Ok(String::new()),
            _ if alt.is_empty() => bail!("{name}: is not set; pass it with --build-arg or give it a default"),
            _ => bail!("{name}: {alt}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
    }

    #[test]
    fn expansion() {
        let vars = [("A", "x"), ("EMPTY", ""), ("SP", "a b")];
        let lookup = env(&vars);
        let cases: &[(&str, &str)] = &[
            ("$A", "x"),
            ("${A}y", "xy"),
            ("$Ay", ""),
            ("$UNSET-", "-"),
            ("${UNSET:-def}", "def"),
            ("${EMPTY:-def}", "def"),
            ("${EMPTY-def}", ""),
            ("${UNSET-def}", "def"),
            ("${A:-def}", "x"),
            ("${A:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${UNSET+alt}", ""),
            ("${UNSET:-$A/${SP}}", "x/a b"),
            ("${UNSET:-a\\}b}", "a}b"),
            ("\\$A", "$A"),
            ("'$A'", "$A"),
            ("\"$A 'q'\"", "x 'q'"),
            ("\"a\\\"b\\$A\\\\c\\d\"", "a\"b$A\\c\\d"),
            ("a\\ b", "a b"),
            ("trail\\", "trail"),
            ("cost $", "cost $"),
            ("$5 $1", " "),
            ("$$", ""),
            ("${A:?boom}", "x"),
        ];
        for (word, want) in cases {
            assert_eq!(expand(word, &lookup).as_deref(), Ok(*want), "{word}");
        }
        for (word, text) in [
            ("${UNSET:?need it}", "UNSET: need it"),
            ("${EMPTY:?}", "EMPTY: is not set"),
            ("${A", "missing '}'"),
            ("${}", "needs a variable name"),
            ("${A%%x}", "unsupported modifier (%)"),
            ("'open", "unclosed single quote"),
            ("\"open", "unclosed double quote"),
        ] {
            let e = expand(word, &lookup).unwrap_err();
            assert!(e.contains(text), "{word}: {e}");
        }
        assert_eq!(expand("${EMPTY?x}", &lookup).as_deref(), Ok(""));
    }

    #[test]
    fn canonical_values_expand_like_docker() {
        // Raw Dockerfile word -> what Docker's ENV would give, through canonical + expand.
        let lookup = env(&[("H", "/root")]);
        for (raw, want) in [
            ("'a b $H'", "a b $H"),
            ("\"a b $H\"", "a b /root"),
            ("$H/x", "/root/x"),
            ("${H:-d}'$H'", "/root$H"),
            ("\"\\$H\"", "$H"),
            ("a\\\\b", "a\\b"),
            ("\"$\"H", "$H"),
            ("it\\'s", "it's"),
            ("\"x\\ny\"", "x\\ny"),
        ] {
            let c = canonical(raw, '\\').unwrap();
            assert_eq!(expand(&c, &lookup).unwrap(), want, "{raw} -> {c}");
        }
    }

    #[test]
    fn words() {
        assert_eq!(
            split_words("a=\"b c\" d='e f' g=h\\ i", '\\'),
            ["a=\"b c\"", "d='e f'", "g=h\\ i"]
        );
    }
}
