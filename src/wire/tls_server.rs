//! The server side, for `barrage serve --tls`: a configuration from a given
//! certificate and key, or from a CA and a leaf certificate generated with rcgen (the
//! CA written out, so clients can verify without `-k`). Resumption both ways.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::wire::tls::{TlsError, provider, read_certs, read_key};

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
