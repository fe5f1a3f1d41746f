//! Mutual TLS for QUIC from the PEM files `floectl certs` writes: every server requires a
//! client certificate signed by the cluster CA, every client verifies the server against the
//! same CA, both offer only [`ALPN`] and TLS 1.3, with the `ring` provider passed explicitly
//! (no reliance on a process-wide default).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::{ALPN, WireError};

/// Name of the cluster CA certificate in a certificate directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// Name of the cluster CA private key in a certificate directory.
pub const CA_KEY_FILE: &str = "ca-key.pem";

/// A connection with no traffic (keep-alives included) for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Keep-alive interval, so reused connections between requests stay open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Most requests (bidirectional streams) in flight per connection; the next `open_bi` waits.
pub const MAX_CONCURRENT_REQUESTS: u32 = 256;

/// The three PEM files of one participant: the cluster CA certificate, its own certificate
/// and its own private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Cluster CA certificate (`ca.pem`).
    pub ca: PathBuf,
    /// Own certificate, signed by the cluster CA.
    pub cert: PathBuf,
    /// Own private key (PKCS#8 PEM, mode 0600).
    pub key: PathBuf,
}

impl TlsFiles {
    /// A node's files in `dir`: `ca.pem`, `node-ID.pem`, `node-ID-key.pem`.
    pub fn node(dir: &Path, id: &str) -> Self {
        Self::named(dir, &format!("node-{id}"))
    }

    /// A client's files in `dir`: `ca.pem`, `client-NAME.pem`, `client-NAME-key.pem`.
    pub fn client(dir: &Path, name: &str) -> Self {
        Self::named(dir, &format!("client-{name}"))
    }

    fn named(dir: &Path, stem: &str) -> Self {
        Self {
            ca: dir.join(CA_CERT_FILE),
            cert: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}-key.pem")),
        }
    }
}

/// The transport settings both sides use: idle timeout, keep-alive, stream limit.
pub fn transport_config() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(IDLE_TIMEOUT).expect("30 s is a valid QUIC timeout");
    t.max_idle_timeout(Some(idle));
    t.keep_alive_interval(Some(KEEP_ALIVE));
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(MAX_CONCURRENT_REQUESTS));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    t
}

/// rustls server configuration: requires a client certificate signed by the cluster CA.
pub fn rustls_server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, WireError> {
    let provider = provider();
    let roots = Arc::new(load_roots(&files.ca)?);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(tls_config)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_config)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(&files.cert)?, load_key(&files.key)?)
        .map_err(|e| key_mismatch(files, e))?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// rustls client configuration: verifies the server against the cluster CA and presents
/// its own certificate.
pub fn rustls_client_config(files: &TlsFiles) -> Result<rustls::ClientConfig, WireError> {
    let roots = load_roots(&files.ca)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_config)?
        .with_root_certificates(roots)
        .with_client_auth_cert(load_certs(&files.cert)?, load_key(&files.key)?)
        .map_err(|e| key_mismatch(files, e))?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// quinn server configuration (mutual TLS, [`transport_config`]).
pub fn server_config(files: &TlsFiles) -> Result<quinn::ServerConfig, WireError> {
    let crypto = QuicServerConfig::try_from(rustls_server_config(files)?).map_err(tls_config)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport_config()));
    Ok(config)
}

/// quinn client configuration (mutual TLS, [`transport_config`]).
pub fn client_config(files: &TlsFiles) -> Result<quinn::ClientConfig, WireError> {
    quic_client_config(rustls_client_config(files)?)
}

/// Wraps a rustls client configuration for quinn with [`transport_config`]. Tests use it to
/// build deliberately wrong clients (no certificate, another CA).
pub fn quic_client_config(config: rustls::ClientConfig) -> Result<quinn::ClientConfig, WireError> {
    let crypto = QuicClientConfig::try_from(config).map_err(tls_config)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport_config()));
    Ok(config)
}

/// Checks a participant's files before use (a node at start, `floectl` after issuing): the
/// key matches the certificate, and the certificate chains to the CA in `files.ca`, is valid
/// now, and may authenticate a client; with `server_name`, it must also serve that name.
pub fn check_files(files: &TlsFiles, server_name: Option<&str>) -> Result<(), WireError> {
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{ServerName, UnixTime};

    rustls_client_config(files)?; // rustls checks that the key matches the certificate
    let certs = load_certs(&files.cert)?;
    let (leaf, chain) = certs
        .split_first()
        .expect("load_certs returns at least one");
    let roots = Arc::new(load_roots(&files.ca)?);
    let now = UnixTime::now();
    let not_signed = |e: rustls::Error| WireError::TlsConfig {
        reason: format!(
            "certificate {} against CA {}: {e}",
            files.cert.display(),
            files.ca.display()
        ),
    };
    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .build()
        .map_err(tls_config)?
        .verify_client_cert(leaf, chain, now)
        .map_err(not_signed)?;
    if let Some(name) = server_name {
        let name = ServerName::try_from(name.to_owned()).map_err(tls_config)?;
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(tls_config)?
            .verify_server_cert(leaf, chain, &name, &[], now)
            .map_err(not_signed)?;
    }
    Ok(())
}

/// The `ring` provider, passed explicitly to every builder.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the CA certificates of `path` into a root store (at least one).
pub fn load_roots(path: &Path) -> Result<RootCertStore, WireError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path, "CA certificate")? {
        roots
            .add(cert)
            .map_err(|e| pem(path, "CA certificate", e))?;
    }
    Ok(roots)
}

/// Reads the certificate chain of `path` (at least one certificate).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, WireError> {
    read_certs(path, "certificate")
}

fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, WireError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem(path, what, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(path, what, e))?;
    if certs.is_empty() {
        return Err(pem(path, what, "no CERTIFICATE block in the file"));
    }
    Ok(certs)
}

/// Reads the private key of `path`.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, WireError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            pem(path, "private key", "no PRIVATE KEY block in the file")
        }
        e => pem(path, "private key", e),
    })
}

fn pem(path: &Path, what: &'static str, e: impl std::fmt::Display) -> WireError {
    WireError::Pem {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn tls_config(e: impl std::fmt::Display) -> WireError {
    WireError::TlsConfig {
        reason: e.to_string(),
    }
}

fn key_mismatch(files: &TlsFiles, e: rustls::Error) -> WireError {
    WireError::TlsConfig {
        reason: format!(
            "certificate {} with key {}: {e}",
            files.cert.display(),
            files.key.display()
        ),
    }
}
