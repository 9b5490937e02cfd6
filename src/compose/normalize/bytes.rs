//! Byte sizes (`512m`, `1.5g`, `100k`, `2048`), base 1024 as Docker reads them.

pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid size \"{s}\": use a number with an optional unit b, k, m, g, t (like 512m or 1g)");
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1); // unlimited swap
    }
    let num_len = t.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
    if num_len == 0 {
        return Err(bad());
    }
    let n: f64 = t[..num_len].parse().map_err(|_| bad())?;
    let unit = t[num_len..].trim();
    let mult: f64 = match unit.strip_suffix('b').filter(|u| !u.is_empty()).unwrap_or(unit) {
        "" | "b" => 1.0,
        "k" | "ki" => 1024.0,
        "m" | "mi" => 1024.0 * 1024.0,
        "g" | "gi" => 1024.0 * 1024.0 * 1024.0,
        "t" | "ti" => 1024f64.powi(4),
        "p" | "pi" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    let v = n * mult;
    if !v.is_finite() || v > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        for (s, v) in [
            ("2048", 2048),
            ("100k", 102400),
            ("512m", 536870912),
            ("1g", 1073741824),
            ("1GB", 1073741824),
            ("1.5g", 1610612736),
            ("64M", 67108864),
            ("10b", 10),
            ("-1", -1),
        ] {
            assert_eq!(parse_bytes(s).unwrap(), v, "{s}");
        }
        for bad in ["", "12 parsecs", "g", "1x", "1.2.3m", "-5m"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
