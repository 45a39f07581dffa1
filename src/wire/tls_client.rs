//! The client side of a run's TLS, built once before the fork from the command line's
//! options: roots (webpki's, plus `--cacert`), the verifier (or `-k`'s, which still
//! checks handshake signatures), a client certificate, versions, suites, groups, and
//! resumption. Each worker thread gets its own copy with its own session cache.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Resumption, Tls12ClientSessionValue,
    Tls12Resumption, Tls13ClientSessionValue,
};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, NamedGroup, RootCertStore, SignatureScheme};

use crate::wire::tls::{TlsError, cipher_names, group_names, provider, read_certs, read_key};
use crate::wire::tls_reasons::Reasons;
use crate::wire::tls_verify::Verifier;

/// TLS options of a run, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    pub sni: Option<String>,
    pub cacert: Option<PathBuf>,
    pub insecure: bool,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `None`: TLS 1.2 and 1.3.
    pub version: Option<String>,
    pub ciphers: Vec<String>,
    pub kx_groups: Vec<String>,
    pub resume: bool,
}

/// The items of `all` named in `wanted`, in that order, matched case-insensitively on
/// rustls's names (`TLS13_AES_128_GCM_SHA256`, `X25519`); `Err` holds the first name
/// that matches none.
fn choose<T: Copy, N: std::fmt::Debug>(
    all: &[T],
    wanted: &[String],
    name: impl Fn(&T) -> N,
) -> Result<Vec<T>, String> {
    wanted
        .iter()
        .map(|w| {
            all.iter()
                .find(|x| format!("{:?}", name(x)).eq_ignore_ascii_case(w))
                .copied()
                .ok_or_else(|| w.clone())
        })
        .collect()
}

/// The client side of a run's TLS, built once before the fork.
#[derive(Debug, Clone)]
pub struct ClientTls {
    base: ClientConfig,
    pub server_name: ServerName<'static>,
    pub insecure: bool,
    resume: bool,
    /// Why handshakes failed, noted by this process's connections and verifier.
    pub reasons: Arc<Reasons>,
}

impl ClientTls {
    pub fn build(opts: &TlsOptions, host: &str) -> Result<ClientTls, TlsError> {
        let mut provider = provider();
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = match opts.version.as_deref()
        {
            None => vec![&rustls::version::TLS13, &rustls::version::TLS12],
            Some("1.3") => vec![&rustls::version::TLS13],
            Some("1.2") => vec![&rustls::version::TLS12],
            Some(v) => return Err(TlsError::Version(v.to_string())),
        };
        if !opts.ciphers.is_empty() {
            let chosen =
                choose(&provider.cipher_suites, &opts.ciphers, |s| s.suite()).map_err(|name| {
                    TlsError::Cipher {
                        name,
                        choices: cipher_names().join(", "),
                    }
                })?;
            if let Some(s) = chosen
                .iter()
                .find(|s| !versions.iter().any(|v| v.version == s.version().version))
            {
                return Err(TlsError::CipherVersion {
                    cipher: format!("{:?}", s.suite()),
                    version: opts.version.clone().unwrap_or_default(),
                });
            }
            provider.cipher_suites = chosen;
        } else {
            // Offer AES-128-GCM first, as browsers do. rustls's own order puts the
            // SHA-384 suite first, whose hash has no hardware help on many CPUs (about
            // 20 us more per handshake on each side here: docs/tls.md).
            provider.cipher_suites.sort_by_key(|s| {
                let name = format!("{:?}", s.suite());
                (
                    s.version().version != rustls::ProtocolVersion::TLSv1_3,
                    !name.contains("AES_128_GCM"),
                )
            });
        }
        if !opts.kx_groups.is_empty() {
            provider.kx_groups = choose(&provider.kx_groups, &opts.kx_groups, |g| g.name())
                .map_err(|name| TlsError::Group {
                    name,
                    choices: group_names().join(", "),
                })?;
        }
        let provider = Arc::new(provider);
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut pinned = Vec::new();
        if let Some(path) = &opts.cacert {
            for cert in read_certs(path, "CA certificate")? {
                roots.add(cert.clone()).map_err(|e| TlsError::BadPem {
                    what: "CA certificate",
                    path: path.clone(),
                    why: e.to_string(),
                })?;
                pinned.push(cert);
            }
        }
        let reasons = Arc::new(Reasons::default());
        let verifier = Verifier::new(
            roots,
            pinned,
            Arc::clone(&provider),
            Arc::clone(&reasons),
            opts.sni.is_some(),
        )?;
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&versions)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let mut config = match (&opts.cert, &opts.key) {
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert, "certificate")?;
                let key_der = read_key(key)?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| match e {
                        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
                            cert: cert.clone(),
                            key: key.clone(),
                        },
                        other => TlsError::BadPem {
                            what: "private key",
                            path: key.clone(),
                            why: other.to_string(),
                        },
                    })?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err(TlsError::CertWithoutKey),
        };
        if opts.insecure {
            let algs = provider.signature_verification_algorithms;
            config
                .dangerous()
                .set_certificate_verifier(Arc::new(NoChainVerify { algs }));
        }
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = match &opts.sni {
            Some(n) => ServerName::try_from(n.clone()).map_err(|_| TlsError::Sni(n.clone()))?,
            // An IP literal gets no SNI (rustls sends none for IP server names); its
            // certificate must then name the IP.
            None => ServerName::try_from(host.to_string())
                .map_err(|_| TlsError::Sni(host.to_string()))?,
        };
        Ok(ClientTls {
            base: config,
            server_name,
            insecure: opts.insecure,
            resume: opts.resume,
            reasons,
        })
    }

    /// A configuration for one worker thread: its own session cache, so resumption
    /// takes no lock shared with other threads.
    pub fn thread_config(&self) -> Arc<ClientConfig> {
        let mut c = self.base.clone();
        c.resumption = if self.resume {
            Resumption::in_memory_sessions(256)
        } else {
            Resumption::store(Arc::new(KxHintsOnly(ClientSessionMemoryCache::new(256))))
                .tls12_resumption(Tls12Resumption::Disabled)
        };
        Arc::new(c)
    }
}

/// The session store of `--tls-resume off`: it keeps nothing that resumes a session
/// (no TLS 1.2 session, no TLS 1.3 ticket), only which key-exchange group each
/// server chose, in rustls's own bounded cache. rustls then sends just that group's
/// key share in later ClientHellos instead of one per offered group: against a server
/// without ML-KEM, no X25519MLKEM768 key pair is generated per handshake only to be
/// ignored (measured: about 8% of the client's CPU per full handshake). The server's
/// work is the same either way, since it uses only the share of the group it picks.
#[derive(Debug)]
struct KxHintsOnly(ClientSessionMemoryCache);

impl ClientSessionStore for KxHintsOnly {
    fn set_kx_hint(&self, server: ServerName<'static>, group: NamedGroup) {
        self.0.set_kx_hint(server, group);
    }

    fn kx_hint(&self, server: &ServerName<'_>) -> Option<NamedGroup> {
        self.0.kx_hint(server)
    }

    fn set_tls12_session(&self, _: ServerName<'static>, _: Tls12ClientSessionValue) {}

    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        None
    }

    fn remove_tls12_session(&self, _: &ServerName<'static>) {}

    fn insert_tls13_ticket(&self, _: ServerName<'static>, _: Tls13ClientSessionValue) {}

    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        None
    }
}

/// `--insecure`: accepts any certificate chain and name, but still checks the
/// handshake signatures, as OpenSSL's SSL_VERIFY_NONE does (the handshake stays a
/// real one, so its CPU cost is honest).
#[derive(Debug)]
struct NoChainVerify {
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoChainVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_128_gcm_is_offered_first() {
        let t = ClientTls::build(
            &TlsOptions {
                resume: true,
                ..Default::default()
            },
            "localhost",
        )
        .unwrap();
        let first = t.base.crypto_provider().cipher_suites[0].suite();
        assert_eq!(format!("{first:?}"), "TLS13_AES_128_GCM_SHA256");
    }

    #[test]
    fn bad_options_are_refused() {
        let base = TlsOptions {
            resume: true,
            ..Default::default()
        };
        let e = |o: TlsOptions| ClientTls::build(&o, "localhost").unwrap_err().to_string();
        assert!(
            e(TlsOptions {
                version: Some("1.1".into()),
                ..base.clone()
            })
            .contains("use 1.2 or 1.3")
        );
        assert!(
            e(TlsOptions {
                ciphers: vec!["RC4".into()],
                ..base.clone()
            })
            .contains("unknown --cipher")
        );
        assert!(
            e(TlsOptions {
                kx_groups: vec!["ffdhe1".into()],
                ..base.clone()
            })
            .contains("unknown --kx-group")
        );
        assert!(
            e(TlsOptions {
                cert: Some("/x".into()),
                ..base.clone()
            })
            .contains("--cert needs --key")
        );
        assert!(
            e(TlsOptions {
                cacert: Some("/nonexistent.pem".into()),
                ..base.clone()
            })
            .contains("cannot read")
        );
        let v = TlsOptions {
            version: Some("1.2".into()),
            ciphers: vec!["TLS13_AES_128_GCM_SHA256".into()],
            ..base.clone()
        };
        assert!(e(v).contains("not usable with --tls-version 1.2"));
        let ok = ClientTls::build(
            &TlsOptions {
                kx_groups: vec!["x25519".into()],
                ..base
            },
            "127.0.0.1",
        )
        .unwrap();
        assert!(matches!(ok.server_name, ServerName::IpAddress(_)));
    }
}
