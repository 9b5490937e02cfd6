//! Go duration syntax (`1m30s`, `1.5s`, `500ms`), the form Compose uses for
//! every time value, parsed and printed the way Go's `time.Duration` does.

use std::time::Duration;

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration \"{s}\": use a number with a unit, like 10s, 1m30s or 500ms");
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() || t.starts_with('-') {
        return Err(bad());
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    let mut total: f64 = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphabetic() || *b == 0xC2 || *b == 0xB5)
            .count();
        let nanos = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += n * nanos;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Go's `Duration.String()`: `1m30s`, `1.5s`, `500ms`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_frac(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_frac(ns, 1_000_000));
    }
    let h = ns / 3_600_000_000_000;
    let m = (ns / 60_000_000_000) % 60;
    let s = ns % 60_000_000_000;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", trim_frac(s, 1_000_000_000)));
    out
}

/// `value / unit` with the fraction's trailing zeros dropped (1500/1000 → "1.5").
fn trim_frac(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_like_go() {
        for (input, canonical) in [
            ("90s", "1m30s"),
            ("1m30s", "1m30s"),
            ("1.5s", "1.5s"),
            ("1000ms", "1s"),
            ("500ms", "500ms"),
            ("2h", "2h0m0s"),
            ("1h1s", "1h0m1s"),
            ("10us", "10µs"),
            ("0", "0s"),
            ("0s", "0s"),
            ("1.5h", "1h30m0s"),
            ("100ns", "100ns"),
        ] {
            assert_eq!(format_duration(parse_duration(input).unwrap()), canonical, "{input}");
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in ["", "10", "10 seconds", "1x", "-1s", "s", "1.2.3s", "soon"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_duration("soon").unwrap_err().contains("like 10s, 1m30s or 500ms"));
    }
}
