//! The per-virtual-user cookie jar (`cookies = true`, the default): `Set-Cookie` from a
//! response is stored and sent back in the `Cookie` header of that user's next
//! requests, as a browser would for one site (RFC 6265, section 5).
//!
//! Honoured: `Max-Age` (0 or less deletes the cookie; it wins over `Expires`),
//! `Expires` (a date in the past deletes it; parsed as the RFC's lenient cookie-date),
//! and `Path` (a cookie goes only with requests under its path; without one, under the
//! request's directory). A cookie replaces the one of the same name and path.
//! Ignored: `Domain` (a scenario talks to one origin), `Secure`, `HttpOnly`,
//! `SameSite` (no scripts, no other sites). Cookies are sent in the order they were
//! first set.
//!
//! The jar is emptied at the start of every iteration (each iteration is a new
//! session, like a new data row); its entries are reused, so once warm neither storing
//! nor sending a cookie allocates.

use crate::time::days_from_civil;

/// One stored cookie.
#[derive(Debug, Clone, Default)]
struct Cookie {
    /// False for a deleted entry, kept to be reused.
    live: bool,
    name: Vec<u8>,
    value: Vec<u8>,
    path: Vec<u8>,
    /// Unix milliseconds after which it is gone; `None` for a session cookie.
    expires_ms: Option<u64>,
}

/// A virtual user's cookies.
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
}

impl CookieJar {
    /// Forgets every cookie (a new iteration).
    pub fn clear(&mut self) {
        for c in &mut self.cookies {
            c.live = false;
        }
    }

    /// Stores every `Set-Cookie` of a response head; `request_path` is the path the
    /// request was sent to (its query is ignored).
    pub fn absorb(&mut self, head: &[u8], request_path: &[u8], now_ms: u64) {
        for v in crate::scenario::capture::header_values(head, "set-cookie") {
            self.set(v, request_path, now_ms);
        }
    }

    /// Stores one `Set-Cookie` value.
    pub fn set(&mut self, header: &[u8], request_path: &[u8], now_ms: u64) {
        let mut parts = header.split(|&c| c == b';');
        let pair = parts.next().unwrap_or_default();
        let Some(eq) = pair.iter().position(|&c| c == b'=') else {
            return; // no name=value: ignored, as RFC 6265 says
        };
        let (name, value) = (pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii());
        let bad = |b: &[u8]| b.iter().any(|&c| c < b' ' || c == 0x7f);
        if name.is_empty() || bad(name) || bad(value) {
            return;
        }
        let (mut max_age, mut expires, mut path) = (None, None, None);
        for attr in parts {
            let (key, val) = match attr.iter().position(|&c| c == b'=') {
                Some(i) => (attr[..i].trim_ascii(), attr[i + 1..].trim_ascii()),
                None => (attr.trim_ascii(), &b""[..]),
            };
            if key.eq_ignore_ascii_case(b"max-age") {
                max_age = parse_max_age(val).or(max_age);
            } else if key.eq_ignore_ascii_case(b"expires") {
                expires = parse_cookie_date(val).or(expires);
            } else if key.eq_ignore_ascii_case(b"path") {
                path = Some(val).filter(|p| p.first() == Some(&b'/'));
            }
        }
        let expires_ms = match (max_age, expires) {
            (Some(secs), _) if secs <= 0 => Some(0),
            (Some(secs), _) => Some(now_ms.saturating_add((secs as u64).saturating_mul(1000))),
            (None, Some(ms)) => Some(ms),
            (None, None) => None,
        };
        let path = path.unwrap_or_else(|| default_path(request_path));
        let existing = self
            .cookies
            .iter()
            .position(|c| c.live && c.name == name && c.path == path);
        if expires_ms.is_some_and(|e| e <= now_ms) {
            if let Some(i) = existing {
                self.cookies[i].live = false;
            }
            return;
        }
        let i = match existing.or_else(|| self.cookies.iter().position(|c| !c.live)) {
            Some(i) => i,
            None => {
                self.cookies.push(Cookie::default());
                self.cookies.len() - 1
            }
        };
        let c = &mut self.cookies[i];
        if !c.live {
            c.live = true;
            c.name.clear();
            c.name.extend_from_slice(name);
            c.path.clear();
            c.path.extend_from_slice(path);
        }
        c.value.clear();
        c.value.extend_from_slice(value);
        c.expires_ms = expires_ms;
    }

    /// Appends `name=value` pairs (joined by `; `) of the cookies a request to
    /// `request_path` carries; false when there are none (nothing written).
    pub fn write_pairs(&self, request_path: &[u8], now_ms: u64, out: &mut Vec<u8>) -> bool {
        let path = request_path
            .split(|&c| c == b'?')
            .next()
            .unwrap_or_default();
        let mut any = false;
        for c in &self.cookies {
            if !c.live || c.expires_ms.is_some_and(|e| e <= now_ms) || !path_matches(&c.path, path)
            {
                continue;
            }
            if any {
                out.extend_from_slice(b"; ");
            }
            out.extend_from_slice(&c.name);
            out.push(b'=');
            out.extend_from_slice(&c.value);
            any = true;
        }
        any
    }
}

/// RFC 6265 5.1.4: the directory of the request's path.
fn default_path(request_path: &[u8]) -> &[u8] {
    let path = request_path
        .split(|&c| c == b'?')
        .next()
        .unwrap_or_default();
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) if i > 0 && path[0] == b'/' => &path[..i],
        _ => b"/",
    }
}

/// RFC 6265 5.1.4: a cookie path matches the request path it is a prefix of, ending at
/// a `/`.
fn path_matches(cookie: &[u8], request: &[u8]) -> bool {
    request.starts_with(cookie)
        && (request.len() == cookie.len()
            || cookie.last() == Some(&b'/')
            || request[cookie.len()] == b'/')
}

/// `Max-Age`: an optional `-` and digits, in seconds (saturating).
fn parse_max_age(v: &[u8]) -> Option<i64> {
    let (neg, digits) = match v.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, v),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().fold(0i64, |n, &d| {
        n.saturating_mul(10).saturating_add((d - b'0') as i64)
    });
    Some(if neg { -n } else { n })
}

/// RFC 6265 5.1.1's lenient cookie-date (IMF-fixdate, RFC 850 and asctime dates all
/// parse), as Unix milliseconds (0 for a date before 1970).
fn parse_cookie_date(v: &[u8]) -> Option<u64> {
    let delimiter = |c: u8| {
        c == 0x09
            || (0x20..=0x2f).contains(&c)
            || (0x3b..=0x40).contains(&c)
            || (0x5b..=0x60).contains(&c)
            || (0x7b..=0x7e).contains(&c)
    };
    // Leading digits of a token: (value, how many), and whether a non-digit follows
    // (allowed) or the token is only digits.
    let digits = |t: &[u8]| {
        let n = t.iter().take_while(|c| c.is_ascii_digit()).count();
        let v = t[..n].iter().fold(0u32, |v, &d| {
            v.saturating_mul(10).saturating_add((d - b'0') as u32)
        });
        (v, n)
    };
    let (mut time, mut day, mut month, mut year) = (None, None, None, None);
    for token in v.split(|&c| delimiter(c)).filter(|t| !t.is_empty()) {
        if time.is_none()
            && let Some(t) = parse_time(token)
        {
            time = Some(t);
            continue;
        }
        let (n, len) = digits(token);
        if day.is_none() && (1..=2).contains(&len) {
            day = Some(n);
            continue;
        }
        if month.is_none() && token.len() >= 3 {
            const MONTHS: [&[u8; 3]; 12] = [
                b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct",
                b"nov", b"dec",
            ];
            if let Some(m) = MONTHS
                .iter()
                .position(|m| token[..3].eq_ignore_ascii_case(*m))
            {
                month = Some(m as u32 + 1);
                continue;
            }
        }
        if year.is_none() && (2..=4).contains(&len) {
            year = Some(n);
        }
    }
    let (h, mi, s) = time?;
    let (day, month, mut year) = (day?, month?, year?);
    if (70..=99).contains(&year) {
        year += 1900;
    } else if year <= 69 {
        year += 2000;
    }
    if !(1..=31).contains(&day) || year < 1601 || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day > month_days[month as usize - 1] {
        return None;
    }
    let days = days_from_civil(year as i64, month as i64, day as i64);
    let secs = days * 86_400 + (h * 3600 + mi * 60 + s) as i64;
    Some((secs.max(0) as u64) * 1000)
}

/// `hh:mm:ss` (one or two digits each), perhaps followed by non-digits.
fn parse_time(t: &[u8]) -> Option<(u32, u32, u32)> {
    let mut fields = [0u32; 3];
    let mut i = 0;
    for (k, f) in fields.iter_mut().enumerate() {
        let n = t[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=2).contains(&n) {
            return None;
        }
        *f = t[i..i + n]
            .iter()
            .fold(0, |v, &d| v * 10 + (d - b'0') as u32);
        i += n;
        if k < 2 {
            if t.get(i) != Some(&b':') {
                return None;
            }
            i += 1;
        }
    }
    if t.get(i).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((fields[0], fields[1], fields[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2023-11-14T22:13:20Z.
    const NOW: u64 = 1_700_000_000_000;

    fn sent(jar: &CookieJar, path: &str, now: u64) -> String {
        let mut out = Vec::new();
        let any = jar.write_pairs(path.as_bytes(), now, &mut out);
        assert_eq!(any, !out.is_empty());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn set_cookies_are_sent_back() {
        let mut jar = CookieJar::default();
        let head = b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc; Path=/; HttpOnly\r\nContent-Type: x\r\nset-cookie: theme = dark \r\n\r\n";
        jar.absorb(head, b"/login", NOW);
        assert_eq!(sent(&jar, "/checkout", NOW), "sid=abc; theme=dark");
        // Same name and path: replaced in place; another path: a second cookie.
        jar.set(b"sid=new; Path=/", b"/", NOW);
        jar.set(b"sid=api; Path=/api", b"/", NOW);
        assert_eq!(sent(&jar, "/", NOW), "sid=new; theme=dark");
        assert_eq!(
            sent(&jar, "/api/x?q=1", NOW),
            "sid=new; theme=dark; sid=api"
        );
        jar.clear();
        assert_eq!(sent(&jar, "/", NOW), "");
        // Cleared entries are reused.
        jar.set(b"a=1", b"/", NOW);
        assert_eq!(jar.cookies.len(), 3);
        assert_eq!(sent(&jar, "/", NOW), "a=1");
    }

    #[test]
    fn paths_limit_where_a_cookie_goes() {
        let mut jar = CookieJar::default();
        jar.set(b"p=1; Path=/shop", b"/", NOW);
        jar.set(b"q=2", b"/docs/a/page?x=/y", NOW); // default path /docs/a
        jar.set(b"r=3; Path=relative", b"/r/s", NOW); // not absolute: default /r
        for (path, want) in [
            ("/shop", "p=1"),
            ("/shop/", "p=1"),
            ("/shop/cart", "p=1"),
            ("/shopping", ""),
            ("/docs/a", "q=2"),
            ("/docs/a/b", "q=2"),
            ("/docs", ""),
            ("/r/x", "r=3"),
            ("/", ""),
        ] {
            assert_eq!(sent(&jar, path, NOW), want, "{path}");
        }
        assert_eq!(default_path(b"/"), b"/");
        assert_eq!(default_path(b"/login"), b"/");
        assert_eq!(default_path(b"x"), b"/");
    }

    #[test]
    fn expiry_deletes() {
        let mut jar = CookieJar::default();
        jar.set(b"a=1", b"/", NOW);
        jar.set(b"b=2; Max-Age=10", b"/", NOW);
        jar.set(b"c=3; Expires=Wed, 21 Oct 2099 07:28:00 GMT", b"/", NOW);
        assert_eq!(sent(&jar, "/", NOW), "a=1; b=2; c=3");
        assert_eq!(sent(&jar, "/", NOW + 10_000), "a=1; c=3", "b's 10 s are up");
        jar.set(b"a=gone; Max-Age=0", b"/", NOW);
        jar.set(b"c=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT", b"/", NOW);
        assert_eq!(sent(&jar, "/", NOW), "b=2");
        // Max-Age wins over Expires, whichever comes first.
        jar.set(
            b"d=4; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            b"/",
            NOW,
        );
        jar.set(
            b"b=x; Expires=Wed, 21 Oct 2099 07:28:00 GMT; Max-Age=-1",
            b"/",
            NOW,
        );
        assert_eq!(sent(&jar, "/", NOW), "d=4");
        // Deleting a cookie never stored, or one on another path, changes nothing.
        jar.set(b"d=x; Path=/other; Max-Age=0", b"/", NOW);
        jar.set(b"zz=1; max-age=0", b"/", NOW);
        assert_eq!(sent(&jar, "/", NOW), "d=4");
        // An unreadable Max-Age or Expires is ignored (a session cookie).
        jar.set(b"e=5; Max-Age=soon; Expires=never", b"/", NOW);
        assert_eq!(sent(&jar, "/", NOW), "d=4; e=5");
    }

    #[test]
    fn malformed_set_cookies_are_ignored() {
        let mut jar = CookieJar::default();
        for h in [&b"novalue"[..], b"=x", b"; a=1", b"a=b\x01c", b""] {
            jar.set(h, b"/", NOW);
        }
        assert_eq!(sent(&jar, "/", NOW), "");
        jar.set(b"empty=", b"/", NOW);
        jar.set(b" spaced = v w ; Path=/", b"/", NOW);
        assert_eq!(sent(&jar, "/", NOW), "empty=; spaced=v w");
    }

    #[test]
    fn cookie_dates() {
        let at = |y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64| {
            ((days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s) * 1000) as u64
        };
        for (text, want) in [
            (
                "Wed, 21 Oct 2015 07:28:00 GMT",
                Some(at(2015, 10, 21, 7, 28, 0)),
            ),
            (
                "Sunday, 06-Nov-94 08:49:37 GMT",
                Some(at(1994, 11, 6, 8, 49, 37)),
            ),
            ("Sun Nov  6 08:49:37 1994", Some(at(1994, 11, 6, 8, 49, 37))),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            ("Fri, 31 Dec 1960 00:00:00 GMT", Some(0)),
            ("29 Feb 2024 1:2:3", Some(at(2024, 2, 29, 1, 2, 3))),
            ("06-Nov-30 08:49:37", Some(at(2030, 11, 6, 8, 49, 37))),
            ("29 Feb 2023 00:00:00", None),
            ("32 Jan 2020 00:00:00", None),
            ("01 Jan 2020 24:00:00", None),
            ("01 Foo 2020 00:00:00", None),
            ("01 Jan 2020", None),
            ("never", None),
            ("", None),
        ] {
            assert_eq!(parse_cookie_date(text.as_bytes()), want, "{text}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
