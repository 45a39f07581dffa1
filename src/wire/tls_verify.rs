//! Server certificate verification, and why a TLS handshake failed, in words.
//!
//! [`Verifier`] checks server certificates in every run without `-k`. It is rustls's
//! WebPki verifier (chain to the webpki roots plus `--cacert`, validity, name, and all
//! handshake signatures) with one addition, **pinning**: a server certificate that is
//! byte-identical to a certificate given with `--cacert` is trusted as it is, with only
//! its validity period and the server name checked. Why: `openssl req -x509`, the way
//! most people make a self-signed certificate, marks it `CA:TRUE`, and webpki refuses a
//! CA certificate as the server's own (`CaUsedAsEndEntity`) even when it is the very
//! certificate the user said to trust; curl (OpenSSL) accepts it. Any other
//! certificate is verified exactly as before.
//!
//! [`Reasons`] is the side channel behind the summary's explanations. A sample record
//! holds only its error kind (one byte); the names and dates that say *why* are noted
//! here, once per kind per process (the first failure of that kind), by the verifier
//! for certificate problems and by `conn.rs` for the rest. The worker process writes
//! them into its sample file's header when it finishes (docs/sample-format.md), and
//! the summary prints each under its kind. Only failures reach this code, and after a
//! kind's first one a noting costs one atomic load: the hot path is untouched.
//!
//! [`CertFields`] reads the few certificate fields the pinned check and the messages
//! need (issuer and subject common names, validity) with a minimal DER reader, since
//! neither rustls nor webpki exposes the validity period.

use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    AlertDescription, CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore,
    SignatureScheme,
};

use crate::record::ErrorKind;
use crate::time::pretty_utc;

/// The run's certificate verifier: WebPki plus pinning of `--cacert` certificates.
#[derive(Debug)]
pub struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// The certificates of `--cacert`, compared byte for byte with the server's.
    pinned: Vec<CertificateDer<'static>>,
    reasons: Arc<Reasons>,
    /// Where the verified name came from, for messages.
    name_from: &'static str,
}

impl Verifier {
    /// `roots` must already hold `pinned` (so certificates they issue verify too).
    pub fn new(
        roots: RootCertStore,
        pinned: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
        reasons: Arc<Reasons>,
        sni_given: bool,
    ) -> Result<Verifier, rustls::Error> {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        Ok(Verifier {
            webpki,
            pinned,
            reasons,
            name_from: if sni_given { "--sni" } else { "the URL's host" },
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pinned = self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref());
        let result = if pinned {
            verify_pinned(end_entity, server_name, now)
        } else {
            self.webpki
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map_err(|e| untrusted_self_signed(e, end_entity))
        };
        if let Err(e) = &result {
            self.reasons.note(crate::wire::tls::error_kind(e), || {
                certificate_reason(e, end_entity, intermediates.len(), self.name_from, now)
            });
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.webpki.root_hint_subjects()
    }
}

/// A pinned certificate: trusted as given, but it must be valid now and name the
/// server. The order (time, then name) is webpki's, so a pinned and a chained
/// certificate with the same problems fail with the same kind.
fn verify_pinned(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    let fields = CertFields::read(cert).ok_or(CertificateError::BadEncoding)?;
    let t = now.as_secs() as i64;
    if t < fields.not_before {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before: unix_time(fields.not_before),
        }
        .into());
    }
    if t > fields.not_after {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after: unix_time(fields.not_after),
        }
        .into());
    }
    rustls::client::verify_server_name(&ParsedCertificate::try_from(cert)?, server_name)?;
    Ok(ServerCertVerified::assertion())
}

fn unix_time(secs: i64) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs.max(0) as u64))
}

/// webpki checks a certificate's own properties before looking for its issuer, so a
/// self-signed `CA:TRUE` certificate that nobody trusts fails as "CA used as end
/// entity". Its real problem is that it is not trusted, and the fix is the one for an
/// unknown issuer (`--cacert` it, which pins it, or `-k`), so it is reported as one.
fn untrusted_self_signed(e: rustls::Error, cert: &CertificateDer<'_>) -> rustls::Error {
    let self_signed = CertFields::read(cert).is_some_and(|f| f.self_issued);
    if self_signed && is_ca_as_end_entity(&e) {
        CertificateError::UnknownIssuer.into()
    } else {
        e
    }
}

fn is_ca_as_end_entity(e: &rustls::Error) -> bool {
    matches!(e, rustls::Error::InvalidCertificate(CertificateError::Other(o))
        if matches!(o.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity)))
}

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
fn certificate_reason(
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

/// The fields of a certificate that barrage reads itself. Reading allocates nothing
/// (the pinned check runs at every full handshake); names are decoded on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFields<'a> {
    /// The issuer and subject Names, DER contents.
    issuer: &'a [u8],
    subject: &'a [u8],
    /// Issuer and subject names are equal (a self-signed certificate).
    pub self_issued: bool,
    /// Validity, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl<'a> CertFields<'a> {
    /// Reads a DER certificate (RFC 5280 section 4.1); `None` if it is not one.
    pub fn read(der: &'a [u8]) -> Option<CertFields<'a>> {
        let (0x30, cert) = Der(der).next()? else {
            return None;
        };
        let (0x30, tbs) = Der(cert).next()? else {
            return None;
        };
        let mut r = Der(tbs);
        let mut field = r.next()?;
        if field.0 == 0xa0 {
            // [0] EXPLICIT version
            field = r.next()?;
        }
        if field.0 != 0x02 {
            return None; // serialNumber
        }
        let _signature = r.expect(0x30)?;
        let issuer = r.expect(0x30)?;
        let mut validity = Der(r.expect(0x30)?);
        let subject = r.expect(0x30)?;
        Some(CertFields {
            issuer,
            subject,
            self_issued: issuer == subject,
            not_before: time(validity.next()?)?,
            not_after: time(validity.next()?)?,
        })
    }

    pub fn subject_cn(&self) -> Option<String> {
        common_name(self.subject)
    }

    pub fn issuer_cn(&self) -> Option<String> {
        common_name(self.issuer)
    }
}

/// A DER reader over a run of elements: each `next` yields one (tag, contents).
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let [tag, first, rest @ ..] = self.0 else {
            return None;
        };
        let (len, rest) = match *first {
            n if n < 0x80 => (n as usize, rest),
            // Long form, up to 4 length bytes (certificates are far smaller).
            n @ 0x81..=0x84 => {
                let k = (n & 0x7f) as usize;
                let bytes = rest.get(..k)?;
                let len = bytes.iter().fold(0usize, |a, b| a << 8 | *b as usize);
                (len, &rest[k..])
            }
            _ => return None,
        };
        let contents = rest.get(..len)?;
        self.0 = &rest[len..];
        Some((*tag, contents))
    }

    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        self.next().filter(|(t, _)| *t == tag).map(|(_, c)| c)
    }
}

/// The first commonName (2.5.4.3) of a Name, as text.
fn common_name(name: &[u8]) -> Option<String> {
    let mut rdns = Der(name);
    while let Some((0x31, set)) = rdns.next() {
        let mut atvs = Der(set);
        while let Some((0x30, atv)) = atvs.next() {
            let mut a = Der(atv);
            if a.expect(0x06)? == [0x55, 0x04, 0x03] {
                let (_, value) = a.next()?;
                return Some(String::from_utf8_lossy(value).into_owned());
            }
        }
    }
    None
}

/// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), as Unix
/// seconds. DER allows only these forms (RFC 5280 section 4.1.2.5).
fn time((tag, s): (u8, &[u8])) -> Option<i64> {
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = s.get(r)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0i64, |a, c| a * 10 + i64::from(c - b'0')))
    };
    let (year, rest) = match (tag, s.len()) {
        (0x17, 13) => {
            let yy = digits(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (0x18, 15) => (digits(0..4)?, 4),
        _ => return None,
    };
    if s.last() != Some(&b'Z') {
        return None;
    }
    let at = |i: usize| digits(rest + i..rest + i + 2);
    let (month, day, h, m, sec) = (at(0)?, at(2)?, at(4)?, at(6)?, at(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm,
/// the inverse of `time::civil_utc`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, date_time_ymd};

    fn cert(ca: bool, names: &[&str], from: (i32, u8, u8), to: (i32, u8, u8)) -> Vec<u8> {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(DnType::CommonName, "localhost");
        if ca {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        p.not_before = date_time_ymd(from.0, from.1, from.2);
        p.not_after = date_time_ymd(to.0, to.1, to.2);
        p.self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .der()
            .to_vec()
    }

    fn at(y: i64, m: i64, d: i64) -> UnixTime {
        unix_time(days_from_civil(y, m, d) * 86_400)
    }

    #[test]
    fn dates_convert_both_ways() {
        for secs in [0u64, 951_782_400, 1_795_855_830, 4_102_444_800] {
            let days = (secs / 86_400) as i64;
            let s = pretty_utc(secs);
            let (y, m, d) = (
                s[0..4].parse().unwrap(),
                s[5..7].parse().unwrap(),
                s[8..10].parse().unwrap(),
            );
            assert_eq!(days_from_civil(y, m, d), days, "{s}");
        }
    }

    #[test]
    fn der_times() {
        assert_eq!(time((0x17, b"700101000000Z")), Some(0));
        assert_eq!(time((0x17, b"491231235959Z")), Some(2_524_607_999));
        assert_eq!(time((0x17, b"500101000000Z")), Some(-631_152_000));
        assert_eq!(time((0x18, b"20261128085030Z")), Some(1_795_855_830));
        assert_eq!(time((0x18, b"99991231235959Z")), Some(253_402_300_799));
        for bad in [
            (0x17, &b"7001010000Z"[..]),
            (0x17, b"700101000000+"),
            (0x18, b"2026112808503Z0"),
            (0x17, b"701301000000Z"),
            (0x17, b"7001a1000000Z"),
            (0x04, b"700101000000Z"),
        ] {
            assert_eq!(time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_fields_of_a_certificate() {
        let der = cert(true, &["localhost"], (2020, 1, 1), (2020, 2, 1));
        let f = CertFields::read(&der).unwrap();
        assert_eq!(f.subject_cn().as_deref(), Some("localhost"));
        assert_eq!(f.issuer_cn().as_deref(), Some("localhost"));
        assert!(f.self_issued);
        assert_eq!(pretty_utc(f.not_before as u64), "2020-01-01 00:00:00 UTC");
        assert_eq!(pretty_utc(f.not_after as u64), "2020-02-01 00:00:00 UTC");
        // Every truncation is refused, never a panic.
        for n in 0..der.len() {
            assert_eq!(CertFields::read(&der[..n]), None, "{n} bytes");
        }
        assert_eq!(CertFields::read(b"\x30\x85\x00\x00\x00\x00\x01"), None);
    }

    #[test]
    fn pinned_checks_time_and_name() {
        let der = CertificateDer::from(cert(
            true,
            &["localhost", "127.0.0.1"],
            (2020, 1, 1),
            (2030, 1, 1),
        ));
        let name = |n: &str| ServerName::try_from(n.to_string()).unwrap();
        let now = at(2026, 6, 1);
        assert!(verify_pinned(&der, &name("localhost"), now).is_ok());
        assert!(verify_pinned(&der, &name("127.0.0.1"), now).is_ok());
        let kind = |r: Result<ServerCertVerified, rustls::Error>| {
            crate::wire::tls::error_kind(&r.unwrap_err())
        };
        assert_eq!(
            kind(verify_pinned(&der, &name("other.example"), now)),
            ErrorKind::TlsNameMismatch
        );
        assert_eq!(
            kind(verify_pinned(&der, &name("localhost"), at(2031, 1, 1))),
            ErrorKind::TlsExpired
        );
        assert_eq!(
            kind(verify_pinned(&der, &name("localhost"), at(2019, 1, 1))),
            ErrorKind::TlsExpired
        );
    }

    fn verifier(pinned: &[&[u8]]) -> (Verifier, Arc<Reasons>) {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let pinned: Vec<CertificateDer<'static>> = pinned
            .iter()
            .map(|c| CertificateDer::from(c.to_vec()))
            .collect();
        for c in &pinned {
            roots.add(c.clone()).unwrap();
        }
        let reasons = Arc::new(Reasons::default());
        let v = Verifier::new(roots, pinned, provider, Arc::clone(&reasons), false).unwrap();
        (v, reasons)
    }

    #[test]
    fn a_ca_certificate_is_accepted_only_when_pinned() {
        let mine = cert(true, &["localhost"], (2020, 1, 1), (2030, 1, 1));
        let other = cert(true, &["localhost"], (2020, 1, 1), (2030, 1, 1));
        let (v, reasons) = verifier(&[&mine]);
        let name = ServerName::try_from("localhost").unwrap();
        let now = at(2026, 6, 1);
        let check = |c: &[u8]| v.verify_server_cert(&CertificateDer::from(c), &[], &name, &[], now);
        assert!(check(&mine).is_ok());
        // Without pinning webpki refuses it as a CA used as an end entity; an
        // untrusted self-signed one is an unknown issuer.
        let e = check(&other).unwrap_err();
        assert_eq!(
            crate::wire::tls::error_kind(&e),
            ErrorKind::TlsUnknownIssuer
        );
        let why = reasons.all();
        assert_eq!(why.len(), 1);
        assert_eq!(why[0].0, ErrorKind::TlsUnknownIssuer as u8);
        assert!(
            why[0]
                .1
                .contains("(CN=localhost) is self-signed and not trusted")
        );
        assert!(why[0].1.contains("--cacert FILE"), "{}", why[0].1);
    }

    #[test]
    fn a_ca_certificate_issued_by_a_trusted_ca_is_a_bad_certificate_unless_pinned() {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "root");
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let mut leaf_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "leaf");
        let leaf = leaf_params
            .signed_by(&KeyPair::generate().unwrap(), &ca)
            .unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let now = UnixTime::now();
        let (v, reasons) = verifier(&[ca.der()]);
        let e = v
            .verify_server_cert(leaf.der(), &[], &name, &[], now)
            .unwrap_err();
        assert_eq!(
            crate::wire::tls::error_kind(&e),
            ErrorKind::TlsBadCertificate
        );
        assert!(
            reasons.all()[0]
                .1
                .starts_with("the server's certificate (CN=leaf) is a CA certificate (CA:TRUE)"),
            "{:?}",
            reasons.all()
        );
        let (v, _) = verifier(&[ca.der(), leaf.der()]);
        assert!(
            v.verify_server_cert(leaf.der(), &[], &name, &[], now)
                .is_ok()
        );
    }

    #[test]
    fn webpki_still_says_ca_used_as_end_entity() {
        // The detection of `untrusted_self_signed` depends on webpki's error type
        // (the same crate version as rustls's): this fails if that ever changes.
        let (v, _) = verifier(&[]);
        let der = cert(true, &["localhost"], (2020, 1, 1), (2030, 1, 1));
        let e = v
            .webpki
            .verify_server_cert(
                &CertificateDer::from(der),
                &[],
                &ServerName::try_from("localhost").unwrap(),
                &[],
                at(2026, 6, 1),
            )
            .unwrap_err();
        assert!(is_ca_as_end_entity(&e), "{e:?}");
    }

    #[test]
    fn reasons_name_the_names_and_the_dates() {
        let der = cert(
            true,
            &["localhost", "127.0.0.1"],
            (2020, 1, 1),
            (2020, 2, 1),
        );
        let (v, reasons) = verifier(&[&der]);
        let c = CertificateDer::from(der);
        let now = at(2026, 6, 1);
        for n in ["other.example", "localhost"] {
            let name = ServerName::try_from(n).unwrap();
            assert!(v.verify_server_cert(&c, &[], &name, &[], now).is_err());
        }
        // The second failure is expired; only the first of each kind is kept.
        let name = ServerName::try_from("third.example").unwrap();
        assert!(v.verify_server_cert(&c, &[], &name, &[], now).is_err());
        let why = reasons.all();
        assert_eq!(why.len(), 1, "{why:?}");
        assert_eq!(why[0].0, ErrorKind::TlsExpired as u8);
        assert_eq!(
            why[0].1,
            "the certificate (CN=localhost) expired: valid from 2020-01-01 00:00:00 UTC to 2020-02-01 00:00:00 UTC; now 2026-06-01 00:00:00 UTC: renew it, or -k to skip verification"
        );
        let ok = cert(
            true,
            &["localhost", "127.0.0.1"],
            (2020, 1, 1),
            (2030, 1, 1),
        );
        let (v, reasons) = verifier(&[&ok]);
        let name = ServerName::try_from("other.example").unwrap();
        assert!(
            v.verify_server_cert(&CertificateDer::from(ok), &[], &name, &[], now)
                .is_err()
        );
        assert_eq!(
            reasons.all()[0].1,
            "the certificate (CN=localhost) is for localhost, 127.0.0.1, not other.example (the URL's host): use a host it names in the URL or with --sni NAME, or -k to skip verification"
        );
    }

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
