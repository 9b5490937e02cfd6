//! Dockerfile syntax as Docker's classic parser and BuildKit's frontend read it.
//!
//! Parsing stops at the syntax: nothing is expanded here, since variables only get their
//! values while a stage is built. Two kinds of "raw" result exist:
//! - word arguments (`FROM` base, COPY/ADD paths, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL)
//!   are kept as written, quotes included; pass them through [`expand`], which removes quotes
//!   the way Docker does while it substitutes;
//! - ENV and LABEL keys/values and ARG defaults have their quotes and Dockerfile escapes
//!   resolved already, but a character that must stay literal (`\ $ ' "`) is kept
//!   backslash-escaped, so [`expand`] on the value still gives exactly Docker's result
//!   (`ENV A='$B'` becomes `\$B`). A value without those characters is plain text.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub global_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub base: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub line: usize,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    pub text: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Shell(String),
    Exec(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Run {
        command: Command,
    },
    Copy {
        sources: Vec<String>,
        dest: String,
        from: Option<String>,
        chown: Option<String>,
        chmod: Option<String>,
    },
    Add {
        sources: Vec<String>,
        dest: String,
        chown: Option<String>,
        chmod: Option<String>,
    },
    Env(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    Workdir(String),
    User(String),
    Cmd(Command),
    Entrypoint(Command),
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
    Volume(Vec<String>),
    Healthcheck(Healthcheck),
    Shell(Vec<String>),
    StopSignal(String),
    Onbuild(String),
    Maintainer(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    None,
    Check {
        test: Command,
        interval: Option<String>,
        timeout: Option<String>,
        start_period: Option<String>,
        start_interval: Option<String>,
        retries: Option<u32>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dockerfile line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Inner parsers report a bare message; `parse` adds the line number once.
macro_rules! bail {
    ($($t:tt)*) => { return Err(format!($($t)*)) };
}

type Res<T> = Result<T, String>;

mod words;
pub use words::expand;
use words::{canonical, split_words};

/// Every keyword this parser knows, for the "unknown instruction" hint.
const KEYWORDS: &str = "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE FROM HEALTHCHECK LABEL MAINTAINER ONBUILD RUN SHELL \
                        STOPSIGNAL USER VOLUME WORKDIR";

/// An instruction after continuation lines were folded into one.
struct Logical {
    line: usize,
    /// Docker's view: pieces concatenated with nothing in between, so `a\`+`b` is `ab`.
    raw: String,
    /// The display/cache-key view: trimmed pieces joined by one space.
    text: String,
}

/// Parses a whole Dockerfile; errors carry the 1-based line of the offending instruction.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let escape = read_directives(&lines).map_err(|(line, message)| ParseError { line, message })?;
    let (mut global_args, mut stages) = (Vec::new(), Vec::<Stage>::new());
    for Logical { line, raw, text } in logical_lines(&lines, escape) {
        let at = |message| ParseError { line, message };
        let (keyword, rest) = split_keyword(&raw);
        if keyword.eq_ignore_ascii_case("from") {
            let stage = parse_from(rest, line).map_err(at)?;
            if let Some(name) = stage
                .name
                .as_ref()
                .filter(|_| stages.iter().any(|s| s.name == stage.name))
            {
                return Err(at(format!(
                    "duplicate stage name {name:?}; give each stage its own AS name"
                )));
            }
            stages.push(stage);
            continue;
        }
        let kind = parse_kind(keyword, rest, escape).map_err(at)?;
        match (stages.last_mut(), kind) {
            (Some(stage), kind) => stage.instructions.push(Instruction { line, text, kind }),
            (None, Kind::Arg(args)) => global_args.extend(args),
            (None, _) => {
                let k = keyword.to_ascii_uppercase();
                return Err(at(format!(
                    "{k} comes before any FROM; only ARG may precede the first FROM, so move it below one"
                )));
            }
        }
    }
    if stages.is_empty() {
        let message = "no FROM instruction; a Dockerfile must start with FROM (after optional ARGs)".to_string();
        return Err(ParseError { line: 1, message });
    }
    Ok(Dockerfile { global_args, stages })
}

/// Reads `# key=value` directives; only the top comment block can hold them, and the first
/// line that is not a known directive ends that block.
fn read_directives(lines: &[&str]) -> Result<char, (usize, String)> {
    let mut escape = '\\';
    let mut seen: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((key, value)) = directive(line) else { break };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            break;
        }
        if seen.contains(&key) {
            return Err((
                i + 1,
                format!("the parser directive {key} is given twice; keep only one"),
            ));
        }
        if key == "escape" {
            escape = match value {
                "\\" | "`" => value.chars().next().unwrap_or('\\'),
                _ => {
                    return Err((
                        i + 1,
                        format!("invalid escape {value:?}; use # escape=\\ or # escape=`"),
                    ))
                }
            };
        }
        seen.push(key);
    }
    Ok(escape)
}

fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let key_len = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
    let key = &rest[..key_len];
    let value = rest[key_len..].trim_start().strip_prefix('=')?.trim();
    (key.starts_with(|c: char| c.is_ascii_alphabetic()) && !value.is_empty()).then_some((key, value))
}

fn logical_lines(lines: &[&str], escape: char) -> Vec<Logical> {
    let mut out = Vec::new();
    let mut current: Option<Logical> = None;
    for (i, line) in lines.iter().enumerate() {
        // Comments and blank lines vanish also in the middle of a continued instruction.
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (body, continues) = strip_continuation(line, escape);
        let l = current.get_or_insert_with(|| Logical {
            line: i + 1,
            raw: String::new(),
            text: String::new(),
        });
        l.raw.push_str(body);
        if !body.trim().is_empty() && !l.text.is_empty() {
            l.text.push(' ');
        }
        l.text.push_str(body.trim());
        if !continues {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

/// A doubled escape at the end is an escaped escape, not a continuation (as in Docker).
fn strip_continuation(line: &str, escape: char) -> (&str, bool) {
    match line.trim_end_matches([' ', '\t']).strip_suffix(escape) {
        Some(body) if !body.ends_with(escape) => (body, true),
        _ => (line, false),
    }
}

fn split_keyword(raw: &str) -> (&str, &str) {
    let raw = raw.trim();
    let i = raw.find(char::is_whitespace).unwrap_or(raw.len());
    (&raw[..i], raw[i..].trim())
}

fn unknown_instruction(keyword: &str) -> String {
    let upper = keyword.to_ascii_uppercase();
    let near = KEYWORDS
        .split(' ')
        .map(|k| (strsim::levenshtein(k, &upper), k))
        .filter(|(d, _)| *d <= 2)
        .min();
    let hint = near.map(|(_, k)| format!("did you mean {k}? ")).unwrap_or_default();
    format!(
        "unknown instruction {keyword}; {hint}supported instructions are {}",
        KEYWORDS.replace(' ', ", ")
    )
}

fn parse_from(rest: &str, line: usize) -> Res<Stage> {
    let (flags, rest) = take_flags(rest);
    let mut platform = None;
    for f in flags {
        match f.name.as_str() {
            "platform" if platform.is_none() => platform = Some(f.value("FROM")?),
            "platform" => bail!("FROM --platform is given twice; keep one"),
            _ => bail!("FROM does not accept --{}; the only FROM flag is --platform", f.name),
        }
    }
    let words: Vec<&str> = rest.split_whitespace().collect();
    let (base, name) = match words.as_slice() {
        [base] => (base.to_string(), None),
        [base, r#as, name] if r#as.eq_ignore_ascii_case("as") => (base.to_string(), Some(name.to_ascii_lowercase())),
        [] => bail!("FROM needs an image, as in FROM alpine:3.20 or FROM alpine AS build"),
        _ => bail!("FROM takes an image and an optional AS name, not {rest:?}; write FROM image [AS name]"),
    };
    if let Some(n) = &name {
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
        if !n.starts_with(|c: char| c.is_ascii_lowercase()) || !n.chars().all(valid) {
            bail!("invalid stage name {n:?}; start it with a letter and use only letters, digits, - _ .");
        }
    }
    Ok(Stage {
        base,
        name,
        platform,
        line,
        instructions: Vec::new(),
    })
}

fn parse_kind(keyword: &str, rest: &str, escape: char) -> Res<Kind> {
    let upper = keyword.to_ascii_uppercase();
    if !KEYWORDS.split(' ').any(|k| k == upper) {
        return Err(unknown_instruction(keyword));
    }
    if rest.is_empty() {
        bail!("{upper} has no arguments; add them after the keyword");
    }
    let words = || rest.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    Ok(match upper.as_str() {
        "RUN" => parse_run(rest)?,
        "CMD" => Kind::Cmd(command(rest)),
        "ENTRYPOINT" => Kind::Entrypoint(command(rest)),
        "COPY" | "ADD" => parse_copy(&upper, rest)?,
        "ENV" => Kind::Env(parse_pairs("ENV", rest, escape)?),
        "LABEL" => Kind::Label(parse_pairs("LABEL", rest, escape)?),
        "ARG" => Kind::Arg(parse_args(rest, escape)?),
        "WORKDIR" => Kind::Workdir(rest.to_string()),
        "USER" => Kind::User(rest.to_string()),
        "STOPSIGNAL" => Kind::StopSignal(rest.to_string()),
        "MAINTAINER" => Kind::Maintainer(rest.to_string()),
        "EXPOSE" => Kind::Expose(words()),
        "VOLUME" => match json_array(rest).unwrap_or_else(words) {
            list if list.is_empty() || list.iter().any(|v| v.trim().is_empty()) => {
                bail!("VOLUME has an empty path; list one or more mount points, as in VOLUME /data")
            }
            list => Kind::Volume(list),
        },
        "SHELL" => match json_array(rest) {
            Some(v) if !v.is_empty() => Kind::Shell(v),
            _ => bail!(r#"SHELL needs a JSON array of strings, as in SHELL ["/bin/bash", "-c"]"#),
        },
        "HEALTHCHECK" => Kind::Healthcheck(parse_healthcheck(rest)?),
        "ONBUILD" => {
            let (inner, inner_rest) = split_keyword(rest);
            if matches!(inner.to_ascii_uppercase().as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                bail!("ONBUILD cannot trigger {inner}; use another instruction after ONBUILD");
            }
            parse_kind(inner, inner_rest, escape)?;
            Kind::Onbuild(rest.to_string())
        }
        _ => unreachable!("every keyword but FROM has a branch"),
    })
}

/// `[...]` is exec form only when it is valid JSON holding strings; anything else falls back
/// to shell form silently, as Docker does.
fn json_array(s: &str) -> Option<Vec<String>> {
    s.starts_with('[').then(|| serde_json::from_str(s).ok()).flatten()
}

fn command(rest: &str) -> Command {
    json_array(rest).map_or_else(|| Command::Shell(rest.to_string()), Command::Exec)
}

fn refuse_heredoc(keyword: &str, args: &str) -> Res<()> {
    let is_heredoc = |w: &&str| {
        let rest = w.strip_prefix("<<").unwrap_or("");
        let rest = rest.strip_prefix('-').unwrap_or(rest).trim_start_matches(['"', '\'']);
        rest.starts_with(|c: char| c.is_alphanumeric() || c == '_')
    };
    if let Some(w) = args.split_whitespace().find(is_heredoc) {
        bail!("{keyword} uses a heredoc ({w}), which is not supported; put the content in a file and COPY it");
    }
    Ok(())
}

fn parse_run(rest: &str) -> Res<Kind> {
    let (flags, rest) = take_flags(rest);
    match flags.first().map(|f| f.name.as_str()) {
        Some(f @ ("mount" | "network" | "security")) => {
            bail!("RUN --{f} is not supported by this builder; remove the flag (COPY needed files in instead)")
        }
        Some(f) => bail!("RUN does not accept --{f}; remove the flag"),
        None => {}
    }
    let command = command(rest);
    match &command {
        Command::Shell(s) if s.is_empty() => bail!("RUN has no command; add one after the flags"),
        Command::Shell(s) => refuse_heredoc("RUN", s)?,
        Command::Exec(v) if v.is_empty() => bail!("RUN [] has no command; put the program in the array"),
        Command::Exec(_) => {}
    }
    Ok(Kind::Run { command })
}

fn parse_copy(keyword: &str, rest: &str) -> Res<Kind> {
    let (flags, rest) = take_flags(rest);
    let (mut from, mut chown, mut chmod) = (None, None, None);
    for f in &flags {
        let slot = match (f.name.as_str(), keyword) {
            ("from", "COPY") => &mut from,
            ("chown", _) => &mut chown,
            ("chmod", _) => &mut chmod,
            ("link", _) => continue,
            ("from", _) => bail!("ADD does not accept --from; use COPY --from=<stage> instead"),
            (other, _) => {
                bail!("{keyword} does not accept --{other}; it takes --chown, --chmod, --link (and COPY --from)")
            }
        };
        if slot.replace(f.value(keyword)?).is_some() {
            bail!("{keyword} --{} is given twice; keep one", f.name);
        }
    }
    let mut args = match json_array(rest) {
        Some(v) => v,
        None => {
            refuse_heredoc(keyword, rest)?;
            rest.split_whitespace().map(str::to_string).collect()
        }
    };
    if args.len() < 2 {
        bail!("{keyword} needs at least two arguments: one or more sources, then the destination");
    }
    let dest = args.pop().unwrap_or_default();
    Ok(match keyword {
        "COPY" => Kind::Copy {
            sources: args,
            dest,
            from,
            chown,
            chmod,
        },
        _ => Kind::Add {
            sources: args,
            dest,
            chown,
            chmod,
        },
    })
}

fn parse_healthcheck(rest: &str) -> Res<Healthcheck> {
    let (flags, rest) = take_flags(rest);
    let (word, cmd) = split_keyword(rest);
    if word.eq_ignore_ascii_case("none") {
        if !flags.is_empty() || !cmd.is_empty() {
            bail!("HEALTHCHECK NONE takes no flags or arguments; remove them");
        }
        return Ok(Healthcheck::None);
    }
    if !word.eq_ignore_ascii_case("cmd") {
        bail!("HEALTHCHECK expects CMD or NONE, found {word:?}; write HEALTHCHECK [flags] CMD command");
    }
    if cmd.is_empty() {
        bail!("HEALTHCHECK CMD has no command; add the check after CMD");
    }
    // interval, timeout, start-period, start-interval, retries
    let mut values: [Option<String>; 5] = Default::default();
    for f in &flags {
        let names = ["interval", "timeout", "start-period", "start-interval", "retries"];
        let Some(i) = names.iter().position(|n| *n == f.name) else {
            bail!("HEALTHCHECK does not accept --{}; use --{}", f.name, names.join(", --"));
        };
        let value = f.value("HEALTHCHECK")?;
        if i == 4 && value.parse::<u32>().is_err() {
            bail!("HEALTHCHECK --retries={value} is not a whole number; use e.g. --retries=3");
        }
        if i < 4 && go_duration_nanos(&value).is_err() {
            bail!(
                "HEALTHCHECK --{}={value} is not a duration; write it like 30s, 1m30s or 500ms",
                f.name
            );
        }
        if values[i].replace(value).is_some() {
            bail!("HEALTHCHECK --{} is given twice; keep one", f.name);
        }
    }
    let [interval, timeout, start_period, start_interval, retries] = values;
    let retries = retries.and_then(|r| r.parse().ok());
    Ok(Healthcheck::Check {
        test: command(cmd),
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    })
}

/// A Go duration (`30s`, `1m30s`, `500ms`) without a sign, as HEALTHCHECK
/// flags take them, in nanoseconds.
pub fn go_duration_nanos(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid duration {s:?}: use a number with a unit, such as 30s, 1m30s or 500ms");
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 || &rest[..n] == "." || rest[..n].matches('.').count() > 1 {
            return Err(bad());
        }
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let units = [
            ("ns", 1.0),
            ("us", 1e3),
            ("µs", 1e3),
            ("μs", 1e3),
            ("ms", 1e6),
            ("s", 1e9),
            ("m", 60e9),
            ("h", 3600e9),
        ];
        let Some((unit, scale)) = units.iter().find(|(u, _)| rest.starts_with(*u)) else {
            return Err(bad());
        };
        total += value * scale;
        rest = &rest[unit.len()..];
    }
    Ok(total as u64)
}

struct Flag {
    name: String,
    value: Option<String>,
}

impl Flag {
    fn value(&self, keyword: &str) -> Res<String> {
        match &self.value {
            Some(v) if !v.is_empty() => Ok(v.clone()),
            _ => bail!("{keyword} --{0} needs a value; write --{0}=<value>", self.name),
        }
    }
}

/// Leading `--name[=value]` words; quotes in a value only group, and `--` alone ends the flags.
fn take_flags(mut rest: &str) -> (Vec<Flag>, &str) {
    let mut flags = Vec::new();
    while rest.starts_with("--") {
        let (mut quote, mut token) = (None, String::new());
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match (quote, c) {
                (None, c) if c.is_whitespace() => {
                    end = i;
                    break;
                }
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if q == c => quote = None,
                _ => token.push(c),
            }
        }
        rest = rest[end..].trim_start();
        if token == "--" {
            break;
        }
        let (name, value) = token[2..]
            .split_once('=')
            .map_or((&token[2..], None), |(n, v)| (n, Some(v.into())));
        let name = name.to_ascii_lowercase();
        flags.push(Flag { name, value });
    }
    (flags, rest)
}

fn parse_pairs(keyword: &str, rest: &str, escape: char) -> Res<Vec<(String, String)>> {
    let canon = |s: &str| canonical(s, escape).map_err(|e| format!("{keyword}: {e}"));
    let words = split_words(rest, escape);
    if keyword == "ENV" && !words[0].contains('=') {
        // Legacy `ENV name value with spaces`: the value is the whole rest of the line.
        let (name, value) = split_keyword(rest);
        if value.is_empty() {
            bail!("ENV {name} has no value; write ENV {name}=value");
        }
        return Ok(vec![(canon(name)?, canon(value)?)]);
    }
    let pair = |w: &String| match w.split_once('=') {
        Some(("", _)) => bail!("{keyword} has a pair with an empty name ({w}); put a name before ="),
        Some((k, v)) => Ok((canon(k)?, canon(v)?)),
        None => bail!("{keyword} item {w:?} has no =; write it as name=value"),
    };
    words.iter().map(pair).collect()
}

fn parse_args(rest: &str, escape: char) -> Res<Vec<ArgDecl>> {
    let decl = |w: &String| {
        let (name, default) = w.split_once('=').map_or((w.as_str(), None), |(n, d)| (n, Some(d)));
        if name.is_empty() {
            bail!("ARG {w:?} has no name; write ARG name or ARG name=default");
        }
        let default = default
            .map(|d| canonical(d, escape).map_err(|e| format!("ARG {name}: {e}")))
            .transpose()?;
        Ok(ArgDecl {
            name: name.to_string(),
            default,
        })
    };
    split_words(rest, escape).iter().map(decl).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Kind> {
        let df = parse(&format!("FROM scratch\n{src}")).unwrap_or_else(|e| panic!("{src:?}: {e}"));
        df.stages[0].instructions.iter().map(|i| i.kind.clone()).collect()
    }

    fn one(src: &str) -> Kind {
        let mut k = kinds(src);
        assert_eq!(k.len(), 1, "{src:?}");
        k.remove(0)
    }

    fn error(src: &str) -> ParseError {
        parse(src).expect_err(src)
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn sh(s: &str) -> Command {
        Command::Shell(s.into())
    }

    fn exec(v: &[&str]) -> Command {
        Command::Exec(v.iter().map(|s| s.to_string()).collect())
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
    }

    #[test]
    fn stages_args_and_lines() {
        let df = parse(
            "# syntax=docker/dockerfile:1\nARG BASE=alpine\nARG A B=2\n\nfrom --platform=$BUILDPLATFORM ${BASE}:3 As Build\n\
             run make \\\n  all\nFROM build\nCopy --from=BUILD /out /out\n",
        )
        .unwrap();
        assert_eq!(
            df.global_args,
            vec![
                ArgDecl {
                    name: "BASE".into(),
                    default: Some("alpine".into())
                },
                ArgDecl {
                    name: "A".into(),
                    default: None
                },
                ArgDecl {
                    name: "B".into(),
                    default: Some("2".into())
                },
            ]
        );
        let s = &df.stages[0];
        assert_eq!(
            (s.base.as_str(), s.name.as_deref(), s.platform.as_deref(), s.line),
            ("${BASE}:3", Some("build"), Some("$BUILDPLATFORM"), 5)
        );
        assert_eq!(
            s.instructions[0],
            Instruction {
                line: 6,
                text: "run make all".into(),
                kind: Kind::Run {
                    command: sh("make   all")
                }
            }
        );
        assert_eq!(
            (
                df.stages[1].base.as_str(),
                df.stages[1].name.as_ref(),
                df.stages[1].line
            ),
            ("build", None, 8)
        );
        assert_eq!(df.stages[1].instructions[0].line, 9);
        assert!(matches!(&df.stages[1].instructions[0].kind, Kind::Copy { from: Some(f), .. } if f == "BUILD"));
    }

    #[test]
    fn continuations_comments_and_escape_directive() {
        let k = kinds("RUN echo a \\  \n# inside\n\n   \n  b\\\nc\nRUN echo x\\\\\nRUN [\"a\", \\\n \"b\"]");
        assert_eq!(
            k,
            vec![
                Kind::Run {
                    command: sh("echo a   bc")
                },
                Kind::Run {
                    command: sh("echo x\\\\")
                },
                Kind::Run {
                    command: exec(&["a", "b"])
                }
            ]
        );
        let df =
            parse("# escape=`\n# syntax=x\nFROM windows\nRUN dir C:\\ `\n  /b\nENV P=\"C:\\x `\"q`\"\" Q=a`b").unwrap();
        let i = &df.stages[0].instructions;
        assert_eq!(
            i[0].kind,
            Kind::Run {
                command: sh("dir C:\\   /b")
            }
        );
        assert_eq!((i[0].text.as_str(), i[1].line), ("RUN dir C:\\ /b", 6));
        assert_eq!(i[1].kind, Kind::Env(pairs(&[("P", "C:\\\\x \\\"q\\\""), ("Q", "ab")])));
        let lookup = env(&[]);
        let Kind::Env(p) = &i[1].kind else { unreachable!() };
        assert_eq!(expand(&p[0].1, &lookup).unwrap(), "C:\\x \"q\"");
        // Directives end at the first other line; a later escape= is only a comment.
        let df = parse("# comment\n# escape=`\nFROM a\nRUN x `\nRUN y").unwrap();
        assert_eq!(df.stages[0].instructions.len(), 2);
        assert_eq!(error("# escape=x\nFROM a").line, 1);
        assert!(error("# escape=`\n# Escape=\\\nFROM a").message.contains("twice"));
        // A final continuation without a following line still ends the instruction.
        assert_eq!(kinds("RUN a \\"), vec![Kind::Run { command: sh("a") }]);
        assert_eq!(
            parse("\u{feff}FROM a\r\nRUN b\r\n").unwrap().stages[0].instructions[0].kind,
            Kind::Run { command: sh("b") }
        );
    }

    #[test]
    fn instruction_forms() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let cases: Vec<(&str, Kind)> = vec![
            ("run [\"sh\", \"-c\", \"echo hi\"]", Kind::Run { command: exec(&["sh", "-c", "echo hi"]) }),
            ("RUN [\"a\", 1]", Kind::Run { command: sh("[\"a\", 1]") }),
            ("RUN [not json]", Kind::Run { command: sh("[not json]") }),
            ("RUN echo \"<<EOF\" a<<b", Kind::Run { command: sh("echo \"<<EOF\" a<<b") }),
            ("RUN cat <<< str", Kind::Run { command: sh("cat <<< str") }),
            ("CMD [\"nginx\", \"-g\", \"daemon off;\"]", Kind::Cmd(exec(&["nginx", "-g", "daemon off;"]))),
            ("CMD echo  $HOME ", Kind::Cmd(sh("echo  $HOME"))),
            ("CMD []", Kind::Cmd(exec(&[]))),
            ("ENTRYPOINT [\"/init\"]", Kind::Entrypoint(exec(&["/init"]))),
            ("ENTRYPOINT exec app", Kind::Entrypoint(sh("exec app"))),
            (
                "COPY --link --chown=1:2 --chmod=0755 a b /dst/",
                Kind::Copy { sources: s(&["a", "b"]), dest: "/dst/".into(), from: None, chown: Some("1:2".into()), chmod: Some("0755".into()) },
            ),
            (
                "COPY [\"a b\", \"/c d\"]",
                Kind::Copy { sources: s(&["a b"]), dest: "/c d".into(), from: None, chown: None, chmod: None },
            ),
            (
                "COPY --from=\"build\" --link=false /x /y",
                Kind::Copy { sources: s(&["/x"]), dest: "/y".into(), from: Some("build".into()), chown: None, chmod: None },
            ),
            ("ADD --chown=app https://x/y.tgz /", Kind::Add { sources: s(&["https://x/y.tgz"]), dest: "/".into(), chown: Some("app".into()), chmod: None }),
            ("ENV A=1 B=\"two words\" C='$lit' D=$ref E=a\\ b", Kind::Env(pairs(&[("A", "1"), ("B", "two words"), ("C", "\\$lit"), ("D", "$ref"), ("E", "a b")]))),
            ("ENV PATH=\"/opt/bin:${PATH}\"", Kind::Env(pairs(&[("PATH", "/opt/bin:${PATH}")]))),
            ("ENV X=\"a\\\"b\\$c\\d\" Y=", Kind::Env(pairs(&[("X", "a\\\"b\\$c\\\\d"), ("Y", "")]))),
            ("ENV LEGACY value with  spaces", Kind::Env(pairs(&[("LEGACY", "value with  spaces")]))),
            ("ENV Q \"quoted value\"", Kind::Env(pairs(&[("Q", "quoted value")]))),
            ("LABEL \"com.example.vendor\"=\"ACME Inc\" version=1.0", Kind::Label(pairs(&[("com.example.vendor", "ACME Inc"), ("version", "1.0")]))),
            ("ARG V=\"1 2\" W", Kind::Arg(vec![ArgDecl { name: "V".into(), default: Some("1 2".into()) }, ArgDecl { name: "W".into(), default: None }])),
            ("ARG E=", Kind::Arg(vec![ArgDecl { name: "E".into(), default: Some(String::new()) }])),
            ("WORKDIR /app/$X", Kind::Workdir("/app/$X".into())),
            ("USER app:app", Kind::User("app:app".into())),
            ("EXPOSE 80 443/tcp 53/udp", Kind::Expose(s(&["80", "443/tcp", "53/udp"]))),
            ("VOLUME /a /b", Kind::Volume(s(&["/a", "/b"]))),
            ("VOLUME [\"/data\"]", Kind::Volume(s(&["/data"]))),
            ("SHELL [\"/bin/bash\", \"-euo\", \"pipefail\", \"-c\"]", Kind::Shell(s(&["/bin/bash", "-euo", "pipefail", "-c"]))),
            ("STOPSIGNAL SIGQUIT", Kind::StopSignal("SIGQUIT".into())),
            ("ONBUILD RUN make", Kind::Onbuild("RUN make".into())),
            ("MAINTAINER Jane <j@x>", Kind::Maintainer("Jane <j@x>".into())),
            ("HEALTHCHECK none", Kind::Healthcheck(Healthcheck::None)),
            (
                "HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=2s --retries=3 CMD curl -f http://x/",
                Kind::Healthcheck(Healthcheck::Check {
                    test: sh("curl -f http://x/"),
                    interval: Some("30s".into()),
                    timeout: Some("1m30s".into()),
                    start_period: Some("500ms".into()),
                    start_interval: Some("2s".into()),
                    retries: Some(3),
                }),
            ),
            (
                "HEALTHCHECK cmd [\"/bin/check\", \"-q\"]",
                Kind::Healthcheck(Healthcheck::Check {
                    test: exec(&["/bin/check", "-q"]),
                    interval: None,
                    timeout: None,
                    start_period: None,
                    start_interval: None,
                    retries: None,
                }),
            ),
        ];
        for (src, want) in cases {
            assert_eq!(one(src), want, "{src}");
        }
    }

    #[test]
    fn errors_name_the_problem() {
        // (source, line, text the message must contain)
        let cases: &[(&str, usize, &str)] = &[
            (
                "",
                1,
                "no FROM instruction; a Dockerfile must start with FROM (after optional ARGs)",
            ),
            ("# only a comment\nARG A=1\n", 1, "no FROM instruction"),
            ("ARG A\nRUN x\nFROM a", 2, "RUN comes before any FROM"),
            ("FROM a\nCOPPY a b", 2, "did you mean COPY?"),
            (
                "FROM a\nFROBNICATE x",
                2,
                "unknown instruction FROBNICATE; supported instructions are ADD, ARG",
            ),
            ("FROM a\nRUN", 2, "RUN has no arguments"),
            (
                "FROM a\n\nRUN --mount=type=cache,target=/x make",
                3,
                "RUN --mount is not supported",
            ),
            ("FROM a\nRUN --network=none x", 2, "--network is not supported"),
            ("FROM a\nRUN --security=insecure x", 2, "--security is not supported"),
            ("FROM a\nRUN --foo x", 2, "does not accept --foo"),
            ("FROM a\nRUN []", 2, "RUN [] has no command"),
            (
                "FROM a\nRUN cat <<EOF > /f\nhi\nEOF",
                2,
                "heredoc (<<EOF), which is not supported",
            ),
            ("FROM a\nRUN python3 <<-'PY'", 2, "heredoc"),
            ("FROM a\nCOPY <<EOF /f", 2, "heredoc"),
            ("FROM a\nCOPY onlyone", 2, "at least two arguments"),
            ("FROM a\nCOPY --exclude=*.md a b", 2, "COPY does not accept --exclude"),
            ("FROM a\nCOPY --from a b", 2, "--from needs a value"),
            ("FROM a\nCOPY --chown=1 --chown=2 a b", 2, "twice"),
            ("FROM a\nADD --from=x a b", 2, "ADD does not accept --from"),
            ("FROM a\nADD --checksum=sha256:0 a b", 2, "--checksum"),
            ("FROM a\nENV A=1 B", 2, "item \"B\" has no ="),
            ("FROM a\nENV =1", 2, "empty name"),
            ("FROM a\nENV ALONE", 2, "ENV ALONE has no value"),
            ("FROM a\nENV A=\"open", 2, "unclosed double quote"),
            ("FROM a\nLABEL key value", 2, "write it as name=value"),
            ("FROM a\nARG =x", 2, "has no name"),
            ("FROM a\nSHELL /bin/sh -c", 2, "JSON array"),
            ("FROM a\nVOLUME [\"\"]", 2, "empty path"),
            ("FROM a\nHEALTHCHECK --retries=x CMD true", 2, "not a whole number"),
            ("FROM a\nHEALTHCHECK --interval=5 CMD true", 2, "not a duration"),
            ("FROM a\nHEALTHCHECK --foo=1s CMD true", 2, "--foo"),
            ("FROM a\nHEALTHCHECK NONE x", 2, "NONE takes no"),
            ("FROM a\nHEALTHCHECK CMD", 2, "CMD has no command"),
            ("FROM a\nHEALTHCHECK RUN x", 2, "expects CMD or NONE"),
            ("FROM a\nONBUILD FROM x", 2, "ONBUILD cannot trigger FROM"),
            ("FROM a\nONBUILD BOGUS x", 2, "unknown instruction BOGUS"),
            ("FROM", 1, "FROM needs an image"),
            ("FROM a b", 1, "write FROM image [AS name]"),
            ("FROM a AS 1x", 1, "invalid stage name"),
            ("FROM --foo=1 a", 1, "FROM does not accept --foo"),
            ("FROM a AS x\nFROM b AS X", 2, "duplicate stage name"),
        ];
        for (src, line, text) in cases {
            let e = error(src);
            assert_eq!(e.line, *line, "{src:?}: {e}");
            assert!(e.message.contains(text), "{src:?}: {e}");
        }
        assert_eq!(
            error("FROM a\nRUN").to_string(),
            "Dockerfile line 2: RUN has no arguments; add them after the keyword"
        );
    }

    #[test]
    fn helpers() {
        for ok in ["0", "30s", "1m30s", "1.5h", "500ms", "10us", "3µs", "7ns"] {
            assert!(go_duration_nanos(ok).is_ok(), "{ok}");
        }
        for bad in ["", "5", "s", "1x", "-1s", "1..2s", ".s"] {
            assert!(go_duration_nanos(bad).is_err(), "{bad}");
        }
        let (flags, rest) = take_flags("--a=1 --b=\"x y\" --c -- --d");
        let got: Vec<_> = flags.iter().map(|f| (f.name.as_str(), f.value.as_deref())).collect();
        assert_eq!(
            (got, rest),
            (vec![("a", Some("1")), ("b", Some("x y")), ("c", None)], "--d")
        );
    }

    #[test]
    fn realistic_multi_stage() {
        let src = r#"# syntax=docker/dockerfile:1.7
ARG NODE=20
FROM node:${NODE}-alpine AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci \
    # production only
    --omit=dev

FROM deps AS build
COPY . .
RUN npm run build && \
    npm prune --production

FROM gcr.io/distroless/nodejs20
ENV NODE_ENV=production \
    PORT=8080
COPY --from=build --chown=nonroot /app/dist /app
USER nonroot
EXPOSE 8080
HEALTHCHECK --interval=10s CMD ["/nodejs/bin/node", "/app/health.js"]
CMD ["/app/server.js"]
"#;
        let df = parse(src).unwrap();
        assert_eq!(
            df.global_args,
            vec![ArgDecl {
                name: "NODE".into(),
                default: Some("20".into())
            }]
        );
        let names: Vec<_> = df
            .stages
            .iter()
            .map(|s| (s.name.as_deref(), s.line, s.instructions.len()))
            .collect();
        assert_eq!(names, vec![(Some("deps"), 3, 3), (Some("build"), 10, 2), (None, 15, 6)]);
        let run = &df.stages[0].instructions[2];
        assert_eq!((run.line, run.text.as_str()), (6, "RUN npm ci --omit=dev"));
        assert_eq!(
            run.kind,
            Kind::Run {
                command: sh("npm ci     --omit=dev")
            }
        );
        let last = &df.stages[2].instructions;
        assert_eq!(
            last[0].kind,
            Kind::Env(pairs(&[("NODE_ENV", "production"), ("PORT", "8080")]))
        );
        assert_eq!(last[5].kind, Kind::Cmd(exec(&["/app/server.js"])));
        let base = expand(&df.stages[0].base, &env(&[("NODE", "20")])).unwrap();
        assert_eq!(base, "node:20-alpine");
    }
}
