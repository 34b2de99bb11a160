//! Writes the throwaway PKI the TLS tests use (`tests/fixtures/tls`): a private CA and a
//! server certificate it issued for `ferry.test` and 127.0.0.1, as a LAN install would have.
//! Test-only: the keys are public, checked into the repository.
//!
//! ```text
//! cargo run -p ferry-cli --example make_test_pki -- tests/fixtures/tls
//! ```
use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: make_test_pki DIR")?);
    std::fs::create_dir_all(&dir)?;
    // A century, so the checked-in files outlive the project.
    let (from, until) = (date_time_ymd(2026, 1, 1), date_time_ymd(2126, 1, 1));

    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Ferry test LAN CA (do not trust)");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (ca.not_before, ca.not_after) = (from, until);
    let ca_key = KeyPair::generate()?;
    let ca_pem = ca.self_signed(&ca_key)?.pem();
    let issuer = Issuer::new(ca, ca_key);

    let names = vec!["ferry.test".to_owned(), "127.0.0.1".to_owned()];
    let mut server = CertificateParams::new(names)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "ferry.test");
    server.use_authority_key_identifier_extension = true;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    (server.not_before, server.not_after) = (from, until);
    let server_key = KeyPair::generate()?;
    let server_pem = server.signed_by(&server_key, &issuer)?.pem();

    std::fs::write(dir.join("ca.pem"), ca_pem)?;
    std::fs::write(dir.join("server.pem"), server_pem)?;
    std::fs::write(dir.join("server.key"), server_key.serialize_pem())?;
    eprintln!(
        "wrote ca.pem, server.pem and server.key to {}",
        dir.display()
    );
    Ok(())
}
