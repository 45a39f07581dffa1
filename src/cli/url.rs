//! Addresses: the target URL (`http(s)://host[:port][/path][?query]`) parsed into its
//! parts and its host resolved to the addresses connections go to, and the source
//! addresses they come from (`--bind`). The URL of every target (the command line's or
//! a targets file's) passes through here before any process forks.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::cli::config::{ConfigError, invalid};

/// Where requests go.
#[derive(Debug, Clone)]
pub struct Target {
    pub tls: bool,
    /// Host as written in the URL (brackets stripped for IPv6).
    pub host: String,
    pub port: u16,
    /// The value of the Host header.
    pub authority: String,
    /// Path and query.
    pub path: String,
    /// Addresses the host resolved to; connections use the first.
    pub addrs: Vec<SocketAddr>,
}

/// A parsed URL, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub authority: String,
    pub path: String,
}

/// Parses `http(s)://host[:port][/path][?query]` (userinfo and fragments dropped).
pub fn parse_url(url: &str) -> Result<Url, ConfigError> {
    let bad = |why: &str| ConfigError::Url {
        url: url.to_string(),
        why: why.to_string(),
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("no scheme: write it as http://host[:port]/path"))?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        _ => {
            return Err(ConfigError::Scheme {
                url: url.to_string(),
                scheme: scheme.to_string(),
            });
        }
    };
    let rest = rest.split('#').next().unwrap_or("");
    let (auth, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let auth = auth.rsplit('@').next().unwrap_or(auth);
    if auth.is_empty() {
        return Err(bad("no host"));
    }
    let (host, port_str) = if let Some(v6) = auth.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ in IPv6 host"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| bad("junk after IPv6 host"))?,
            ),
        };
        (h.to_string(), port)
    } else {
        match auth.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (auth.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("whitespace or control characters in host"));
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "whitespace or control characters in path: percent-encode them",
        ));
    }
    let port = match port_str {
        None | Some("") => {
            if tls {
                443
            } else {
                80
            }
        }
        Some(p) => match p.parse::<u16>() {
            Ok(0) => {
                return Err(bad(
                    "port 0 cannot be connected to: give a port from 1 to 65535",
                ));
            }
            Ok(p) => p,
            Err(_) => return Err(bad(&format!("port {p:?} is not a number from 1 to 65535"))),
        },
    };
    let default_port = if tls { 443 } else { 80 };
    let host_for_header = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let authority = if port == default_port {
        host_for_header
    } else {
        format!("{host_for_header}:{port}")
    };
    Ok(Url {
        tls,
        host,
        port,
        authority,
        path,
    })
}

impl Target {
    pub fn resolve(url: &str) -> Result<Target, ConfigError> {
        Target::resolve_url(&parse_url(url)?)
    }

    pub fn resolve_url(u: &Url) -> Result<Target, ConfigError> {
        let u = u.clone();
        let addrs: Vec<SocketAddr> = (u.host.as_str(), u.port)
            .to_socket_addrs()
            .map_err(|e| ConfigError::Resolve {
                host: u.host.clone(),
                why: e.to_string(),
            })?
            .collect();
        if addrs.is_empty() {
            return Err(ConfigError::Resolve {
                host: u.host,
                why: "no addresses".into(),
            });
        }
        Ok(Target {
            tls: u.tls,
            host: u.host,
            port: u.port,
            authority: u.authority,
            path: u.path,
            addrs,
        })
    }
}

/// The URL written back from its parts, as reports name a target.
pub fn url_string(u: &Url) -> String {
    format!(
        "{}://{}{}",
        if u.tls { "https" } else { "http" },
        u.authority,
        u.path
    )
}

/// Parses `--bind`: addresses, comma-separated, or IPv4 ranges `A-B` (last octet).
pub fn parse_bind(s: &str) -> Result<Vec<std::net::IpAddr>, ConfigError> {
    use std::net::{IpAddr, Ipv4Addr};
    let bad = |part: &str| {
        invalid(format!(
            "--bind {part:?} is not an IP address or a range like 127.0.0.2-127.0.0.9"
        ))
    };
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        if let Some((a, b)) = part.split_once('-') {
            let a: Ipv4Addr = a.trim().parse().map_err(|_| bad(part))?;
            let b: Ipv4Addr = b.trim().parse().map_err(|_| bad(part))?;
            let (lo, hi) = (u32::from(a), u32::from(b));
            if lo > hi || hi - lo > 65_535 {
                return Err(bad(part));
            }
            out.extend((lo..=hi).map(|v| IpAddr::V4(Ipv4Addr::from(v))));
        } else {
            out.push(part.parse().map_err(|_| bad(part))?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8080/a/b?q=1#frag").unwrap();
        assert_eq!(
            u,
            Url {
                tls: false,
                host: "127.0.0.1".into(),
                port: 8080,
                authority: "127.0.0.1:8080".into(),
                path: "/a/b?q=1".into()
            }
        );
        let u = parse_url("https://user:pw@[::1]/").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.authority.as_str()),
            (true, "::1", 443, "[::1]")
        );
        let u = parse_url("HTTP://example.com?x=1").unwrap();
        assert_eq!(
            (u.port, u.path.as_str(), u.authority.as_str()),
            (80, "/?x=1", "example.com")
        );
        let u = parse_url("http://[::1]:9000").unwrap();
        assert_eq!(u.authority, "[::1]:9000");
    }

    #[test]
    fn bad_urls_name_the_problem() {
        let cases = [
            ("127.0.0.1:8080", "no scheme"),
            ("ftp://x/", "unsupported scheme"),
            ("http:///path", "no host"),
            ("http://h:0/", "port 0"),
            ("http://h:99999/", "not a number"),
            ("http://h:x/", "not a number"),
            ("http://[::1/", "unclosed"),
            ("http://h/a b", "whitespace"),
        ];
        for (url, want) in cases {
            let e = parse_url(url).unwrap_err().to_string();
            assert!(e.contains(want), "{url}: {e}");
        }
    }
}
