//! `floectl certs`: the cluster CA, and node and client certificates signed by it.
//!
//! Every file is written to a temporary name in the same directory, with its final mode from
//! the moment it is created (0600 for keys, 0644 for certificates), fsynced, then renamed into
//! place; existing files are refused unless `force`. Issued files are read back and checked
//! against the CA with the same verifier the transport uses (`floe_wire::tls::check_files`).
//! ECDSA P-256 keys, PKCS#8 PEM.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use floe_wire::tls::{CA_CERT_FILE, CA_KEY_FILE, TlsFiles, check_files};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// Mode of private key files, set when the file is created.
pub const KEY_MODE: u32 = 0o600;
/// Mode of certificate files.
pub const CERT_MODE: u32 = 0o644;
/// Mode of a certificate directory `floectl` creates.
pub const DIR_MODE: u32 = 0o700;
/// Default validity of the CA, days.
pub const CA_DAYS: u32 = 3650;
/// Default validity of node and client certificates, days.
pub const LEAF_DAYS: u32 = 825;
/// Longest node id or client name.
pub const MAX_NAME_BYTES: usize = 63;
/// Certificates start to be valid this long before they are made (clock skew between hosts).
const BACKDATE: Duration = Duration::hours(1);
/// Subject common name of the cluster CA.
pub const CA_COMMON_NAME: &str = "Floe cluster CA";

/// What a certificate is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A storage node: serves and connects to peers. SANs: DNS `ID`, `localhost`, IP 127.0.0.1.
    Node(String),
    /// A client (application, `floectl`): only connects.
    Client(String),
}

impl Subject {
    /// The participant's files in `dir`.
    pub fn files(&self, dir: &Path) -> TlsFiles {
        match self {
            Self::Node(id) => TlsFiles::node(dir, id),
            Self::Client(name) => TlsFiles::client(dir, name),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Node(_) => "node",
            Self::Client(_) => "client",
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::Node(n) | Self::Client(n) => n,
        }
    }
}

/// Options of `init` and `issue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Replace existing files instead of refusing.
    pub force: bool,
    /// Validity in days from now.
    pub days: u32,
}

/// The files one command wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The certificate (mode 0644).
    pub cert: PathBuf,
    /// The private key (mode 0600).
    pub key: PathBuf,
}

/// Everything `floectl certs` can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file to write exists and `force` is off.
    #[error("refusing to overwrite {path} (pass --force to replace it)")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// A node id or client name cannot name a certificate.
    #[error("{kind} name {name:?} is invalid: {reason}")]
    InvalidName {
        /// `node` or `client`.
        kind: &'static str,
        /// The name as given.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// `days` is 0 or too large.
    #[error("validity of {days} days is invalid: must be 1 to 36500")]
    InvalidDays {
        /// The value given.
        days: u32,
    },
    /// A file or directory operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done, e.g. `create`.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The CA certificate or key cannot be used to issue (missing, malformed, not PEM).
    #[error("cluster CA {path}: {reason} (run `floectl certs init` first?)")]
    Ca {
        /// The CA file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rcgen failed to generate a key or sign a certificate.
    #[error("generate {what}: {source}")]
    Generate {
        /// What was being generated.
        what: &'static str,
        /// rcgen's error.
        source: rcgen::Error,
    },
    /// The files written do not verify against the CA (read back after writing).
    #[error("check the written files: {source}")]
    Verify {
        /// The transport's verification error.
        source: floe_wire::WireError,
    },
}

/// Creates the cluster CA in `dir` (created with mode 0700 if missing): `ca.pem` and
/// `ca-key.pem`.
pub fn init(dir: &Path, opts: Options) -> Result<Written, CertError> {
    let days = check_days(opts.days)?;
    let out = Written {
        cert: dir.join(CA_CERT_FILE),
        key: dir.join(CA_KEY_FILE),
    };
    refuse_existing(&out, opts.force)?;
    let key = KeyPair::generate().map_err(generate("CA key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(CA_COMMON_NAME, None);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, days);
    let cert = params
        .self_signed(&key)
        .map_err(generate("CA certificate"))?;
    create_dir(dir)?;
    write_file(&out.key, &key.serialize_pem(), KEY_MODE)?;
    write_file(&out.cert, &cert.pem(), CERT_MODE)?;
    Ok(out)
}

/// Issues a node or client certificate signed by the CA in `dir`, written beside it.
pub fn issue(dir: &Path, subject: &Subject, opts: Options) -> Result<Written, CertError> {
    let days = check_days(opts.days)?;
    check_name(subject)?;
    let files = subject.files(dir);
    let out = Written {
        cert: files.cert.clone(),
        key: files.key.clone(),
    };
    refuse_existing(&out, opts.force)?;
    let issuer = load_issuer(dir)?;
    let key = KeyPair::generate().map_err(generate("key"))?;
    let params = leaf_params(subject, days)?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(generate("certificate"))?;
    write_file(&out.key, &key.serialize_pem(), KEY_MODE)?;
    write_file(&out.cert, &cert.pem(), CERT_MODE)?;
    let server_name = matches!(subject, Subject::Node(_)).then(|| subject.name());
    check_files(&files, server_name).map_err(|source| CertError::Verify { source })?;
    Ok(out)
}

fn leaf_params(subject: &Subject, days: u32) -> Result<CertificateParams, CertError> {
    let (sans, ekus) = match subject {
        Subject::Node(id) => (
            vec![id.clone(), "localhost".to_owned(), "127.0.0.1".to_owned()],
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        ),
        Subject::Client(name) => (
            vec![name.clone()],
            vec![ExtendedKeyUsagePurpose::ClientAuth],
        ),
    };
    let mut params = CertificateParams::new(sans).map_err(|source| CertError::Generate {
        what: "subject alternative names",
        source,
    })?;
    params.distinguished_name = dn(subject.name(), Some(subject.kind()));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = ekus;
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, days);
    Ok(params)
}

/// Subject: `O=Floe`, `OU=node|client` for leaves, `CN=name`.
fn dn(common_name: &str, unit: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Floe");
    if let Some(unit) = unit {
        dn.push(DnType::OrganizationalUnitName, unit);
    }
    dn.push(DnType::CommonName, common_name);
    dn
}

fn validity(params: &mut CertificateParams, days: u32) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(i64::from(days));
}

fn check_days(days: u32) -> Result<u32, CertError> {
    if (1..=36_500).contains(&days) {
        Ok(days)
    } else {
        Err(CertError::InvalidDays { days })
    }
}

/// Node ids and client names become file names and DNS names: 1 to 63 ASCII letters, digits,
/// `-` and `.`, starting and ending with a letter or digit.
fn check_name(subject: &Subject) -> Result<(), CertError> {
    let name = subject.name();
    let bad = |reason| CertError::InvalidName {
        kind: subject.kind(),
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(bad("must be 1 to 63 bytes"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(bad("may hold only ASCII letters, digits, '-' and '.'"));
    }
    let edge_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !edge_ok(name.bytes().next()) || !edge_ok(name.bytes().last()) {
        return Err(bad("must start and end with a letter or digit"));
    }
    if name.contains("..") {
        return Err(bad("must not contain '..'"));
    }
    if name.parse::<std::net::IpAddr>().is_ok() || name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("must not be a number or an IP address"));
    }
    Ok(())
}

fn load_issuer(dir: &Path) -> Result<Issuer<'static, KeyPair>, CertError> {
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path)
            .map_err(|e| CertError::Ca {
                reason: format!("read: {e}"),
                path: path.clone(),
            })
            .map(|text| (path, text))
    };
    let (key_path, key_pem) = read(dir.join(CA_KEY_FILE))?;
    let (cert_path, cert_pem) = read(dir.join(CA_CERT_FILE))?;
    let key = KeyPair::from_pem(&key_pem).map_err(|e| CertError::Ca {
        path: key_path,
        reason: format!("not a PEM private key: {e}"),
    })?;
    Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| CertError::Ca {
        path: cert_path,
        reason: format!("not a PEM CA certificate: {e}"),
    })
}

fn generate(what: &'static str) -> impl Fn(rcgen::Error) -> CertError {
    move |source| CertError::Generate { what, source }
}

fn refuse_existing(out: &Written, force: bool) -> Result<(), CertError> {
    if force {
        return Ok(());
    }
    for path in [&out.cert, &out.key] {
        if path.symlink_metadata().is_ok() {
            return Err(CertError::Exists { path: path.clone() });
        }
    }
    Ok(())
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CertError {
    let path = path.to_path_buf();
    move |source| CertError::Io { op, path, source }
}

fn create_dir(dir: &Path) -> Result<(), CertError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(io("create directory", dir))
}

/// Writes `contents` to `path` through a temporary file that has `mode` from its creation
/// (never a moment with wider permissions), fsyncs it, renames it into place and fsyncs the
/// directory.
fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), CertError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .expect("certificate paths end in a file name");
    let tmp = dir.join(format!(".{}.tmp", file_name.to_string_lossy()));
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io("remove", &tmp)(e)),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    // The umask may have narrowed the mode further; set it exactly (0644 must stay readable).
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(io("set permissions of", &tmp))?;
    file.write_all(contents.as_bytes())
        .map_err(io("write", &tmp))?;
    file.sync_all().map_err(io("fsync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("rename into place", path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_cannot_be_file_or_dns_names_are_refused() {
        for bad in [
            "", "a/b", "../x", "a b", "-a", "a.", "a..b", "1", "10.0.0.1", "ä", "a_b",
        ] {
            let err = check_name(&Subject::Node(bad.into())).expect_err(bad);
            assert!(matches!(err, CertError::InvalidName { .. }), "{bad}: {err}");
        }
        for good in ["n1", "node-1", "db1.example.com", "a", "1a"] {
            check_name(&Subject::Client(good.into())).expect(good);
        }
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        assert!(check_name(&Subject::Node(long)).is_err());
    }
}
