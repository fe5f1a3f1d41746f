//! Who is at the other end of a connection: a node or a client, by the organizational unit
//! (`OU=node` or `OU=client`) that `floectl certs` writes into every certificate it issues,
//! and the common name (the node id or client name). The TLS layer has already checked that
//! the certificate is signed by the cluster CA; this says what the holder may ask.

use rustls::pki_types::CertificateDer;

use crate::WireError;

/// The holder of a verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A storage node (`OU=node`), with its id.
    Node(String),
    /// A client (`OU=client`), with its name.
    Client(String),
}

/// The role written in `cert` (DER).
pub fn role_of(cert: &CertificateDer<'_>) -> Result<Role, WireError> {
    let bad = |reason: String| WireError::Refused {
        op: "read peer certificate",
        reason,
    };
    let (_, x) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| bad(format!("certificate does not parse: {e}")))?;
    let subject = x.subject();
    let first = |mut it: Box<dyn Iterator<Item = _> + '_>| -> Option<String> {
        it.next()
            .and_then(|a: &x509_parser::x509::AttributeTypeAndValue<'_>| a.as_str().ok())
            .map(str::to_string)
    };
    let unit = first(Box::new(subject.iter_organizational_unit()));
    let name = first(Box::new(subject.iter_common_name())).unwrap_or_default();
    match unit.as_deref() {
        Some("node") => Ok(Role::Node(name)),
        Some("client") => Ok(Role::Client(name)),
        other => Err(bad(format!(
            "certificate of {name:?} has organizational unit {other:?}, neither node nor client"
        ))),
    }
}

/// The role of the peer of `conn` (its first certificate).
pub fn peer_role(conn: &quinn::Connection) -> Result<Role, WireError> {
    let bad = |reason: &str| WireError::Refused {
        op: "read peer certificate",
        reason: reason.to_string(),
    };
    let identity = conn
        .peer_identity()
        .ok_or_else(|| bad("the peer presented no certificate"))?;
    let certs = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| bad("the peer identity is not a certificate chain"))?;
    let leaf = certs
        .first()
        .ok_or_else(|| bad("the peer presented an empty chain"))?;
    role_of(leaf)
}
