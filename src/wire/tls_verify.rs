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
//! Why a certificate was refused is noted in words (`tls_reasons.rs`); the fields the
//! pinned check reads come from `cert.rs`.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};

use crate::wire::cert::CertFields;
use crate::wire::tls_reasons::{Reasons, certificate_reason};

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

pub(crate) fn unix_time(secs: i64) -> UnixTime {
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

pub(crate) fn is_ca_as_end_entity(e: &rustls::Error) -> bool {
    matches!(e, rustls::Error::InvalidCertificate(CertificateError::Other(o))
        if matches!(o.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ErrorKind;
    use crate::time::days_from_civil;
    use crate::wire::cert::tests::cert;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

    fn at(y: i64, m: i64, d: i64) -> UnixTime {
        unix_time(days_from_civil(y, m, d) * 86_400)
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
}
