//! Why a TLS handshake failed, in words. [`Reasons`] is the side channel behind the
//! summary's explanations. A sample record holds only its error kind (one byte); the
//! names and dates that say *why* are noted here, once per kind per process (the
//! first failure of that kind), by the verifier for certificate problems and by
//! `engine/conn.rs` for the rest. The worker process writes them into its sample
//! file's header when it finishes (docs/sample-format.md), and the summary prints
//! each under its kind. Only failures reach this code, and after a kind's first one a
//! noting costs one atomic load: the hot path is untouched.

use std::sync::OnceLock;

use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::{AlertDescription, CertificateError};

use crate::record::ErrorKind;
use crate::time::pretty_utc;
use crate::wire::cert::CertFields;
use crate::wire::tls_verify::is_ca_as_end_entity;

/// First failure of each error kind in this process, in words. Shared by the
/// process's threads (and its verifier); a process is one copy after the fork.
#[derive(Debug)]
pub struct Reasons {
    slots: [OnceLock<String>; KINDS],
}

/// Error kinds are bytes below this (`ErrorKind`'s largest is 35).
const KINDS: usize = 64;

impl Default for Reasons {
    fn default() -> Reasons {
        Reasons {
            slots: std::array::from_fn(|_| OnceLock::new()),
        }
    }
}

impl Reasons {
    /// Notes why a request failed with `kind`, unless a reason for that kind is noted
    /// already (then `why` is not called: no formatting after the first).
    pub fn note(&self, kind: ErrorKind, why: impl FnOnce() -> String) {
        if let Some(slot) = self.slots.get(kind as usize)
            && slot.get().is_none()
        {
            let _ = slot.set(why());
        }
    }

    /// The noted reasons, by kind.
    pub fn all(&self) -> Vec<(u8, String)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(k, s)| Some((k as u8, s.get()?.clone())))
            .collect()
    }
}

/// The first few names of a list, then how many more: certificates of large sites
/// name hundreds of hosts.
fn list(names: &[String]) -> String {
    const SHOWN: usize = 6;
    let mut s = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s += &format!(" and {} more", names.len() - SHOWN);
    }
    s
}

/// webpki's names of a certificate's subjectAltName entries (`DnsName("x")`,
/// `IpAddress(1.2.3.4)`) as people write them.
fn plain_name(presented: &str) -> String {
    let inner = |p: &str| {
        presented
            .strip_prefix(p)
            .and_then(|r| r.strip_suffix(')'))
            .map(|r| r.trim_matches('"').to_string())
    };
    // webpki writes IPv6 addresses its own way (`0::1`); std's form is the usual one.
    let ip = |a: String| a.parse::<std::net::IpAddr>().map_or(a, |ip| ip.to_string());
    inner("DnsName(")
        .or_else(|| inner("IpAddress(").map(ip))
        .unwrap_or_else(|| presented.to_string())
}

const SKIP: &str = "or -k to skip verification";

/// Why the verifier refused `cert`, with the fix.
pub fn certificate_reason(
    e: &rustls::Error,
    cert: &CertificateDer<'_>,
    intermediates: usize,
    name_from: &str,
    now: UnixTime,
) -> String {
    let fields = CertFields::read(cert);
    let f = fields.as_ref();
    let subject = f
        .and_then(CertFields::subject_cn)
        .map_or_else(String::new, |cn| format!(" (CN={cn})"));
    let rustls::Error::InvalidCertificate(c) = e else {
        return format!("the server's certificate{subject} was refused: {e}");
    };
    let dates = |f: &CertFields| {
        format!(
            "valid from {} to {}; now {}",
            pretty_utc(f.not_before.max(0) as u64),
            pretty_utc(f.not_after.max(0) as u64),
            pretty_utc(now.as_secs())
        )
    };
    match c {
        CertificateError::UnknownIssuer => match f {
            Some(f) if f.self_issued => format!(
                "the server's certificate{subject} is self-signed and not trusted: give this certificate with --cacert FILE (it is then pinned), {SKIP}"
            ),
            _ => format!(
                "the server's certificate{subject} is issued by {} and does not chain to a trusted root (the server sent {intermediates} intermediate certificate{}): give the issuing CA with --cacert FILE, {SKIP}",
                f.and_then(CertFields::issuer_cn)
                    .map_or_else(|| "a CA".to_string(), |cn| format!("CN={cn}")),
                if intermediates == 1 { "" } else { "s" },
            ),
        },
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let asked = expected.to_str();
            if presented.is_empty() {
                format!(
                    "the certificate{subject} names no host (no subjectAltName; its CN is not used), so not {asked} ({name_from}): reissue it with subjectAltName=DNS:{asked}, {SKIP}"
                )
            } else {
                let names: Vec<String> = presented.iter().map(|p| plain_name(p)).collect();
                format!(
                    "the certificate{subject} is for {}, not {asked} ({name_from}): use a host it names in the URL or with --sni NAME, {SKIP}",
                    list(&names)
                )
            }
        }
        CertificateError::NotValidForName => format!(
            "the certificate{subject} does not name the host asked for ({name_from}): use a host it names, {SKIP}"
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => match f {
            Some(f) => format!(
                "the certificate{subject} expired: {}: renew it, {SKIP}",
                dates(f)
            ),
            None => format!("the certificate{subject} expired: {c}: renew it, {SKIP}"),
        },
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => match f {
            Some(f) => format!(
                "the certificate{subject} is not valid yet: {}: check this machine's clock, {SKIP}",
                dates(f)
            ),
            None => format!("the certificate{subject} is not valid yet: {c}: {SKIP}"),
        },
        _ if is_ca_as_end_entity(e) => format!(
            "the server's certificate{subject} is a CA certificate (CA:TRUE), which is not valid as a server's own: give this very certificate with --cacert FILE to pin it, reissue it without CA:TRUE, {SKIP}"
        ),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!(
                "the certificate{subject} is not for TLS servers (its extendedKeyUsage lacks serverAuth): reissue it, {SKIP}"
            )
        }
        _ => format!("the server's certificate{subject} was refused: {c}: {SKIP}"),
    }
}

/// Why a handshake failed for a reason other than the certificate: the error rustls
/// raised on `data`, the bytes that raised it.
pub fn handshake_reason(e: &rustls::Error, data: &[u8]) -> String {
    use rustls::Error as E;
    match e {
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::PeerSentOversizedRecord => {
            let head = &data[..data.len().min(24)];
            format!(
                "the server's answer is not TLS (it began \"{}\"): is the port plain HTTP? then use http://",
                head.escape_ascii()
            )
        }
        E::AlertReceived(a) => alert_reason(*a),
        e => format!("the handshake failed: {e}"),
    }
}

/// Why a handshake failed when the server closed the connection without an alert.
pub const CLOSED_MID_HANDSHAKE: &str = "the server closed the connection during the handshake, without a TLS alert: is the port a TLS port, and does the server accept TLS 1.2 or 1.3?";

fn alert_reason(a: AlertDescription) -> String {
    use AlertDescription as A;
    let why = match a {
        A::HandshakeFailure
        | A::ProtocolVersion
        | A::InsufficientSecurity
        | A::IllegalParameter => {
            "no TLS version, cipher suite or key-exchange group in common (see --tls-version, --cipher, --kx-group), or the server wants a client certificate (--cert, --key)"
        }
        A::CertificateRequired => {
            "the server wants a client certificate: give --cert FILE --key FILE"
        }
        A::BadCertificate
        | A::UnsupportedCertificate
        | A::CertificateRevoked
        | A::CertificateExpired
        | A::CertificateUnknown
        | A::UnknownCA
        | A::AccessDenied => {
            "the server refused the client certificate: check --cert and --key, and that the server trusts their CA"
        }
        A::UnrecognisedName => {
            "the server does not know the name asked for (the URL's host or --sni)"
        }
        A::NoApplicationProtocol => "the server does not offer HTTP/1.1 over TLS (ALPN)",
        _ => "see the server's log",
    };
    format!("the server ended the handshake with alert {a:?}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_reasons() {
        let not_tls = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert_eq!(
            handshake_reason(&not_tls, b"HTTP/1.1 400 Bad Request\r\nServer: nginx"),
            "the server's answer is not TLS (it began \"HTTP/1.1 400 Bad Request\"): is the port plain HTTP? then use http://"
        );
        let alert = rustls::Error::AlertReceived(AlertDescription::HandshakeFailure);
        assert!(handshake_reason(&alert, b"").contains("alert HandshakeFailure: no TLS version"));
        assert_eq!(plain_name("DnsName(\"a.example\")"), "a.example");
        assert_eq!(plain_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(plain_name("IpAddress(0::1)"), "::1");
        let many: Vec<String> = (0..9).map(|i| format!("h{i}")).collect();
        assert_eq!(list(&many), "h0, h1, h2, h3, h4, h5 and 3 more");
    }
}
