//! rustls and quinn must be built with the `ring` crypto provider only. With both `ring` and
//! `aws-lc-rs` enabled anywhere in the dependency graph, rustls has no process default and
//! panics at the first handshake; these tests fail first.

#[test]
fn rustls_finds_exactly_one_default_provider() {
    // `builder()` installs the provider chosen by crate features, and panics when the
    // features enable none or more than one.
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let provider = rustls::crypto::CryptoProvider::get_default().expect("a default provider");
    assert!(!provider.cipher_suites.is_empty());
    // quinn accepts it as a QUIC client configuration (TLS 1.3 suites present).
    quinn::crypto::rustls::QuicClientConfig::try_from(config).expect("QUIC-capable TLS config");
}

#[test]
fn the_lock_file_has_no_second_provider() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
        .expect("read Cargo.lock");
    for forbidden in [
        "name = \"aws-lc-rs\"",
        "name = \"aws-lc-sys\"",
        "name = \"openssl\"",
    ] {
        assert!(
            !lock.contains(forbidden),
            "Cargo.lock pulls in {forbidden}: use the ring provider only"
        );
    }
    assert!(
        lock.contains("name = \"ring\""),
        "the ring provider is missing"
    );
}
