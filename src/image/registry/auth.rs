//! `WWW-Authenticate` challenges (RFC 7235) and the token flow of the
//! distribution spec: a 401 names a realm; we fetch a Bearer token for the
//! scope we need there (sending Basic credentials if we have them), or
//! answer a Basic challenge directly.

use std::collections::BTreeMap;

/// One authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lowercased scheme: `bearer`, `basic`.
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

/// Parses a `WWW-Authenticate` header value, which may hold several
/// challenges: `Bearer realm="https://auth",service="reg",scope="x", Basic realm="r"`.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let s = header.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < s.len() && (s[*i] == b' ' || s[*i] == b'\t' || s[*i] == b',') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= s.len() {
            break;
        }
        // a token: scheme or parameter name
        let start = i;
        while i < s.len() && !matches!(s[i], b' ' | b'\t' | b',' | b'=') {
            i += 1;
        }
        let token = String::from_utf8_lossy(&s[start..i]).into_owned();
        let mut j = i;
        while j < s.len() && (s[j] == b' ' || s[j] == b'\t') {
            j += 1;
        }
        if j < s.len() && s[j] == b'=' && !out.is_empty() {
            // name=value parameter of the current challenge
            i = j + 1;
            while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
                i += 1;
            }
            let value = if i < s.len() && s[i] == b'"' {
                i += 1;
                let mut v = Vec::new();
                while i < s.len() && s[i] != b'"' {
                    if s[i] == b'\\' && i + 1 < s.len() {
                        i += 1;
                    }
                    v.push(s[i]);
                    i += 1;
                }
                i += 1; // closing quote
                String::from_utf8_lossy(&v).into_owned()
            } else {
                let vs = i;
                while i < s.len() && s[i] != b',' {
                    i += 1;
                }
                String::from_utf8_lossy(&s[vs..i]).trim().to_string()
            };
            if let Some(c) = out.last_mut() {
                c.params.insert(token.to_lowercase(), value);
            }
        } else if !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            out.push(Challenge {
                scheme: token.to_lowercase(),
                params: BTreeMap::new(),
            });
        } else {
            i += 1;
        }
    }
    out
}

/// The token endpoint's answer (`token`, or OAuth2's `access_token`).
#[derive(Debug, serde::Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
}

impl TokenResponse {
    pub fn into_token(self) -> Option<String> {
        self.token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_challenge() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.docker.io/token");
        assert_eq!(c[0].params["service"], "registry.docker.io");
        assert_eq!(c[0].params["scope"], "repository:library/redis:pull");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,120}|[a-zA-Z =,\"\\\\]{0,60}") {
            for c in parse_challenges(&s) {
                proptest::prop_assert!(!c.scheme.is_empty());
            }
        }
    }

    #[test]
    fn parses_several_and_unquoted() {
        let c = parse_challenges(r#"Basic realm="Registry Realm", Bearer realm=https://x/token,service=reg"#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].params["realm"], "Registry Realm");
        assert_eq!(c[1].params["realm"], "https://x/token");
        assert_eq!(c[1].params["service"], "reg");
        assert!(parse_challenges("").is_empty());
        assert!(parse_challenges("=,,\"").is_empty());
    }
}
