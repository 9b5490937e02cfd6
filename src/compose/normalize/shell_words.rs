//! POSIX shell word splitting for `command` / `entrypoint` strings
//! (quotes and backslashes; no expansion), as compose-go's shellwords does.

pub fn split_shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated single quote in `{s}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some('\n') => {}
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(format!("unterminated double quote in `{s}`")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated double quote in `{s}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(x) => cur.push(x),
                    None => cur.push('\\'),
                }
            }
            other => {
                in_word = true;
                cur.push(other);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split_shell_words(r#"sh -c 'echo "hi there" && x'"#).unwrap(),
            vec!["sh", "-c", r#"echo "hi there" && x"#]
        );
        assert_eq!(
            split_shell_words(r#"a "b c" d\ e "" 'f'"#).unwrap(),
            vec!["a", "b c", "d e", "", "f"]
        );
        assert_eq!(
            split_shell_words(r#"echo "a\"b" "\$x""#).unwrap(),
            vec!["echo", "a\"b", "$x"]
        );
        assert!(split_shell_words("").unwrap().is_empty());
        assert!(split_shell_words("echo 'open").is_err());
        assert!(split_shell_words("echo \"open").is_err());
    }
}
