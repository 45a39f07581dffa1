//! TLS with rustls: the client configuration a run uses (roots, verification,
//! client certificate, versions, suites, groups, resumption), the error kinds a failed
//! handshake becomes, and the server configuration of `barrage serve --tls` (a CA and
//! a leaf certificate generated with rcgen, or a given pair). The certificate
//! verifier itself (with `--cacert` pinning) and the reasons of failures are in
//! `tls_verify.rs`.
//!
//! The crypto provider is aws-lc-rs: on x86-64 it gives the fastest handshakes and
//! bulk encryption of the providers rustls supports (figures in docs/tls.md).
//! Nothing here does I/O on a socket: `conn.rs` drives `ClientConnection`s from the
//! mio loops, so TLS costs no thread and no blocking call.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Resumption, Tls12ClientSessionValue,
    Tls12Resumption, Tls13ClientSessionValue,
};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, NamedGroup, RootCertStore, ServerConfig,
    SignatureScheme,
};

use crate::record::ErrorKind;
use crate::wire::tls_verify::{Reasons, Verifier};

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

/// Why the TLS settings cannot be used. Raised before any load starts.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no {what} in PEM form: give a PEM file (-----BEGIN ...)")]
    NoPem { what: &'static str, path: PathBuf },
    #[error("{path} is not a usable {what}: {why}")]
    BadPem {
        what: &'static str,
        path: PathBuf,
        why: String,
    },
    #[error(
        "--key {key} does not belong to the certificate in --cert {cert}: give the matching pair"
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("--cert needs --key (and --key needs --cert): give both files")]
    CertWithoutKey,
    #[error("unknown --tls-version {0:?}: use 1.2 or 1.3")]
    Version(String),
    #[error("unknown --cipher {name:?}: choose from {choices}")]
    Cipher { name: String, choices: String },
    #[error("unknown --kx-group {name:?}: choose from {choices}")]
    Group { name: String, choices: String },
    #[error("--cipher {cipher} is not usable with --tls-version {version}")]
    CipherVersion { cipher: String, version: String },
    #[error("invalid --sni {0:?}: give a DNS name")]
    Sni(String),
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
}

fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// Seeds the crypto library's random generator now, in the launcher, so the worker
/// processes inherit it: aws-lc seeds from CPU jitter entropy once per process, which
/// otherwise costs every worker tens of milliseconds of CPU inside the measured run.
pub fn warm_up() {
    let mut b = [0u8; 16];
    let _ = provider().secure_random.fill(&mut b);
}

/// Names of the cipher suites the provider offers, as `--cipher` accepts them.
pub fn cipher_names() -> Vec<String> {
    provider()
        .cipher_suites
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect()
}

/// Names of the key-exchange groups the provider offers, as `--kx-group` accepts them.
pub fn group_names() -> Vec<String> {
    provider()
        .kx_groups
        .iter()
        .map(|g| format!("{:?}", g.name()))
        .collect()
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

fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadPem {
            what,
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoPem {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let what = "private key";
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPem {
            what,
            path: path.to_path_buf(),
        },
        e => TlsError::BadPem {
            what,
            path: path.to_path_buf(),
            why: e.to_string(),
        },
    })
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

/// The sample error kind of a TLS failure.
pub fn error_kind(e: &rustls::Error) -> ErrorKind {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => ErrorKind::TlsUnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                ErrorKind::TlsNameMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => ErrorKind::TlsExpired,
            _ => ErrorKind::TlsBadCertificate,
        },
        E::AlertReceived(_) => ErrorKind::TlsAlert,
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::PeerSentOversizedRecord => {
            ErrorKind::TlsNotTls
        }
        _ => ErrorKind::TlsHandshake,
    }
}

/// Names for the negotiated parameters stored as numbers in sample headers.
pub fn version_name(v: u16) -> String {
    match v {
        0x0304 => "TLSv1.3".into(),
        0x0303 => "TLSv1.2".into(),
        0 => "-".into(),
        v => format!("0x{v:04x}"),
    }
}

pub fn suite_name(v: u16) -> String {
    format!("{:?}", rustls::CipherSuite::from(v))
}

pub fn group_name(v: u16) -> String {
    format!("{:?}", rustls::NamedGroup::from(v))
}

/// A server configuration for `barrage serve --tls`.
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
}

impl ServerTls {
    /// From a given certificate chain and key (PEM files).
    pub fn from_files(cert: &Path, key: &Path) -> Result<ServerTls, TlsError> {
        let chain = read_certs(cert, "certificate")?;
        let key_der = read_key(key)?;
        Self::from_der(chain, key_der).map_err(|e| match e {
            TlsError::Rustls(rustls::Error::InconsistentKeys(_)) => TlsError::KeyMismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            },
            other => other,
        })
    }

    /// Generates a CA and a leaf certificate for localhost, 127.0.0.1 and ::1 (plus
    /// `extra_names`), and writes the CA certificate (PEM) to `ca_out` so clients can
    /// verify without `--insecure`.
    pub fn self_signed(ca_out: &Path, extra_names: &[String]) -> Result<ServerTls, TlsError> {
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "barrage serve test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;
        let mut names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        names.extend(extra_names.iter().cloned());
        let leaf_key = rcgen::KeyPair::generate()?;
        let mut leaf_params = rcgen::CertificateParams::new(names)?;
        leaf_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "barrage serve");
        let leaf = leaf_params.signed_by(&leaf_key, &ca)?;
        std::fs::write(ca_out, ca.pem()).map_err(|source| TlsError::Read {
            what: "CA output file",
            path: ca_out.to_path_buf(),
            source,
        })?;
        let chain = vec![leaf.der().clone()];
        let key =
            PrivateKeyDer::try_from(leaf_key.serialize_der()).map_err(|e| TlsError::BadPem {
                what: "generated key",
                path: ca_out.to_path_buf(),
                why: e.to_string(),
            })?;
        Self::from_der(chain, key)
    }

    fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<ServerTls, TlsError> {
        let provider = Arc::new(provider());
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Resumption both ways: a session cache (IDs, TLS 1.2 and 1.3) and tickets.
        config.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
        config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
        Ok(ServerTls {
            config: Arc::new(config),
        })
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
    fn names_are_listed() {
        assert!(
            cipher_names()
                .iter()
                .any(|n| n == "TLS13_AES_128_GCM_SHA256")
        );
        assert!(group_names().iter().any(|n| n == "X25519"));
        assert_eq!(version_name(0x0304), "TLSv1.3");
        assert_eq!(suite_name(0x1301), "TLS13_AES_128_GCM_SHA256");
        assert_eq!(group_name(0x001d), "X25519");
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
