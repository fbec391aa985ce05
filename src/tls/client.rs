//! TLS for the gateway's own connections out (to an `https://` upstream,
//! to PostgreSQL): rustls with the ring provider, TLS 1.2 and 1.3, trusting
//! a configured CA file or the system's roots.

use std::path::PathBuf;
use std::sync::Arc;

/// A CA file as the config compiler read it: its path (for messages) and
/// its contents, so that a CA replaced in place counts as a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFile {
    pub path: PathBuf,
    pub pem: Arc<[u8]>,
}

/// The TLS client config trusting the certificates in `ca`, or the
/// system's root certificates (ring provider, TLS 1.2+).
pub fn client_config(
    ca: Option<&CaFile>,
    https: bool,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(ca) => {
            let name = ca.path.display();
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca.pem) {
                let cert = cert.map_err(|e| format!("{name} is not valid PEM: {e}"))?;
                roots.add(cert).map_err(|e| format!("{name}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("{name} holds no certificate"));
            }
        }
        // The system's roots, read only when an https:// upstream needs them
        // (missing or unreadable ones make its handshakes fail, loudly).
        None if https => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
        None => {}
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
