//! Number and text formats every human-facing output shares (the terminal summary,
//! the banner, the progress line, report.html and the charts): durations (`fmt_ns`,
//! `fmt_secs`, `fmt_round_secs`, `fmt_duration`), byte counts, counts with thousands
//! separators, plurals; and the text helpers the report's files use: trailing-zero
//! trimming, HTML/SVG escaping, base64.

/// `512ns`, `12.3us`, `1.23ms`, `2.50s`.
pub fn fmt_ns(ns: u64) -> String {
    let v = ns as f64;
    if v < 1e3 {
        format!("{ns}ns")
    } else if v < 1e6 {
        format!("{:.1}us", v / 1e3)
    } else if v < 1e9 {
        format!("{:.2}ms", v / 1e6)
    } else {
        format!("{:.2}s", v / 1e9)
    }
}

/// A round duration in seconds without trailing zeros: `2ms`, `1.5ms`, `250us`.
pub fn fmt_round_secs(s: f64) -> String {
    let (v, unit) = if s >= 1.0 {
        (s, "s")
    } else if s >= 1e-3 {
        (s * 1e3, "ms")
    } else {
        (s * 1e6, "us")
    };
    trim(format!("{v:.3}")) + unit
}

/// [`fmt_ns`] for a value in seconds.
pub fn fmt_secs(s: f64) -> String {
    fmt_ns((s * 1e9).round().max(0.0) as u64)
}

/// `512 B`, `2.0 KiB`, `1.5 MiB`, `1.25 GiB`.
pub fn fmt_bytes(b: f64) -> String {
    if b < 1024.0 {
        format!("{b:.0} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GiB", b / 1024.0 / 1024.0 / 1024.0)
    }
}

/// `10s`, `2.5s`, `0.25s`: a length as `-d` would take it, in seconds.
pub fn fmt_duration(d: std::time::Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64());
    format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
}

/// `1234567` as `1,234,567`.
pub fn count(n: u64) -> String {
    let d = n.to_string();
    let mut o = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            o.push(',');
        }
        o.push(c);
    }
    o
}

/// `1 request`, `2 requests`, `0 requests`, `2 processes`.
pub fn plural(n: u64, what: &str) -> String {
    match (n, what.ends_with('s')) {
        (1, _) => format!("{n} {what}"),
        (_, true) => format!("{n} {what}es"),
        (_, false) => format!("{n} {what}s"),
    }
}

/// Drops trailing zeros of a decimal (`1.500` -> `1.5`, `2.000` -> `2`).
pub fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Escapes text for SVG and HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= c.len() {
                o.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_ns(512), "512ns");
        assert_eq!(fmt_ns(12_345), "12.3us");
        assert_eq!(fmt_ns(1_234_567), "1.23ms");
        assert_eq!(fmt_secs(2.5), "2.50s");
        assert_eq!(fmt_bytes(2048.0), "2.0 KiB");
        assert_eq!(fmt_round_secs(0.002), "2ms");
        assert_eq!(fmt_round_secs(0.0015), "1.5ms");
        assert_eq!(fmt_round_secs(0.00025), "250us");
        assert_eq!(fmt_duration(std::time::Duration::from_millis(2500)), "2.5s");
        assert_eq!(fmt_duration(std::time::Duration::from_secs(10)), "10s");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(999), "999");
    }

    #[test]
    fn singular_and_plural() {
        assert_eq!(plural(1, "request"), "1 request");
        assert_eq!(plural(0, "request"), "0 requests");
        assert_eq!(plural(2, "connection"), "2 connections");
        assert_eq!(plural(2, "process"), "2 processes");
    }

    #[test]
    fn text_helpers() {
        assert_eq!(trim("1.500".to_string()), "1.5");
        assert_eq!(trim("2.000".to_string()), "2");
        assert_eq!(trim("100".to_string()), "100");
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
