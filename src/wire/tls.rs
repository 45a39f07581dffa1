//! TLS with rustls, what the client and the server share: the crypto provider, the
//! errors of bad TLS settings, the error kinds a failed handshake becomes, the names of
//! negotiated parameters, and reading PEM files. The client configuration a run uses
//! is `tls_client.rs`, the server configuration of `barrage serve --tls`
//! `tls_server.rs`, certificate verification (with `--cacert` pinning) `tls_verify.rs`,
//! and why a handshake failed, in words, `tls_reasons.rs`.
//!
//! The crypto provider is aws-lc-rs: on x86-64 it gives the fastest handshakes and
//! bulk encryption of the providers rustls supports (figures in docs/tls.md).
//! Nothing here does I/O on a socket: `engine/conn.rs` drives `ClientConnection`s
//! from the mio loops, so TLS costs no thread and no blocking call.

use std::path::{Path, PathBuf};

use rustls::CertificateError;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::record::ErrorKind;

pub use crate::wire::tls_client::{ClientTls, TlsOptions};
pub use crate::wire::tls_server::ServerTls;

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

pub(crate) fn provider() -> CryptoProvider {
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

pub(crate) fn read_certs(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
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

pub(crate) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
