//! TLS for every channel (the `tls` feature): rustls with its ring provider, under
//! [`Dispatcher`](crate::Dispatcher)s and [`AsyncChat`](crate::chat::AsyncChat) sessions that
//! do not change.
//!
//! | what | how |
//! |---|---|
//! | a TLS server | [`server_config_from_pem`], then [`Context::spawn_tls`](crate::Context::spawn_tls) of each accepted connection |
//! | a TLS client | [`client_config_from_pem`] (the roots to trust), then [`Context::connect_tls`](crate::Context::connect_tls) or [`EventLoop::connect_tls`](crate::EventLoop::connect_tls) |
//! | STARTTLS | [`Context::start_tls_server`](crate::Context::start_tls_server), [`Context::start_tls_client`](crate::Context::start_tls_client); a chat channel's [`ChatChannel::start_tls_server`](crate::chat::ChatChannel::start_tls_server) |
//! | the handshake completed | [`Dispatcher::handle_tls_ready`](crate::Dispatcher::handle_tls_ready) |
//! | a slow handshake | [`Timeouts::handshake`](crate::Timeouts::handshake) |
//! | a clean end or a truncation | [`Context::tls_closed_cleanly`](crate::Context::tls_closed_cleanly) |
//! | the session (peer certificates, ALPN, SNI) | [`Context::tls_connection`](crate::Context::tls_connection) |
//!
//! Python's asyncore programs wrapped the socket with `ssl.wrap_socket` and caught
//! `SSLWantReadError` in every handler; here the loop drives the session, and the
//! handlers see plaintext through the same `recv` and `send`. How (readiness, delivery of
//! decrypted input, errors, close): the design notes in the source of
//! `src/event_loop/tls/mod.rs`.
//!
//! The system's root certificates are not loaded here: a client gives the roots it trusts
//! ([`client_config_from_pem`], or a `rustls::ClientConfig` of its own, e.g. with the
//! `rustls-native-certs` or `webpki-roots` crates).

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The rustls crate this crate's signatures use: name it through this re-export, so that
/// its version is always the one `ioloop` speaks.
///
/// ```
/// use ioloop::tls::rustls;
///
/// let provider = ioloop::tls::provider();
/// assert!(!provider.cipher_suites.is_empty());
/// # let _: Option<rustls::ServerConfig> = None;
/// ```
pub use rustls;

/// The crypto provider the helpers here build their configurations with: rustls's `ring`
/// provider (explicitly, so that a program in which another provider is enabled too does not
/// fail on an ambiguous default).
///
/// # Examples
///
/// A server configuration built by hand, with ALPN:
///
/// ```
/// use ioloop::tls::rustls;
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls");
/// let certs = ioloop::tls::certs_from_pem(format!("{dir}/server.pem"))?;
/// let key = ioloop::tls::key_from_pem(format!("{dir}/server-key.pem"))?;
/// let mut config = rustls::ServerConfig::builder_with_provider(ioloop::tls::provider())
///     .with_safe_default_protocol_versions()
///     .map_err(std::io::Error::other)?
///     .with_no_client_auth()
///     .with_single_cert(certs, key)
///     .map_err(std::io::Error::other)?;
/// config.alpn_protocols = vec![b"http/1.1".to_vec()];
/// # std::io::Result::Ok(())
/// ```
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file (a chain: the server's first, then its issuers).
///
/// # Examples
///
/// ```
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls");
/// let chain = ioloop::tls::certs_from_pem(format!("{dir}/server.pem"))?;
/// assert_eq!(chain.len(), 1);
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
///
/// The file's error (`NotFound`, …); `InvalidData` if it holds no certificate or a
/// malformed one.
pub fn certs_from_pem(path: impl AsRef<Path>) -> io::Result<Vec<CertificateDer<'static>>> {
    let path = path.as_ref();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: no certificate in it", path.display()),
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS #8, SEC1 or PKCS #1).
///
/// # Examples
///
/// ```
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls");
/// let key = ioloop::tls::key_from_pem(format!("{dir}/server-key.pem"))?;
/// # drop(key);
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
///
/// The file's error; `InvalidData` if it holds no key.
pub fn key_from_pem(path: impl AsRef<Path>) -> io::Result<PrivateKeyDer<'static>> {
    let path = path.as_ref();
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error(path, e))
}

/// A server configuration for the certificate chain and key of two PEM files, with rustls's
/// safe defaults (TLS 1.3 and 1.2, no client certificates): what
/// [`Context::spawn_tls`](crate::Context::spawn_tls) and
/// [`Context::start_tls_server`](crate::Context::start_tls_server) take. Build a
/// `rustls::ServerConfig` by hand (see [`provider`]) for ALPN, client certificates or SNI
/// resolution.
///
/// # Examples
///
/// ```
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls");
/// let config = ioloop::tls::server_config_from_pem(
///     format!("{dir}/server.pem"),
///     format!("{dir}/server-key.pem"),
/// )?;
/// # drop(config);
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
///
/// As [`certs_from_pem`] and [`key_from_pem`]; `InvalidData` if the key does not match the
/// certificate or rustls refuses them.
pub fn server_config_from_pem(
    cert_chain: impl AsRef<Path>,
    key: impl AsRef<Path>,
) -> io::Result<Arc<ServerConfig>> {
    let certs = certs_from_pem(cert_chain)?;
    let key = key_from_pem(key)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid_data)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(invalid_data)?;
    Ok(Arc::new(config))
}

/// A client configuration that trusts the certificate authorities of a PEM file (and no
/// other), with rustls's safe defaults: what
/// [`Context::connect_tls`](crate::Context::connect_tls) and
/// [`Context::start_tls_client`](crate::Context::start_tls_client) take.
///
/// # Examples
///
/// ```
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls");
/// let config = ioloop::tls::client_config_from_pem(format!("{dir}/ca.pem"))?;
/// # drop(config);
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
///
/// As [`certs_from_pem`]; `InvalidData` if a certificate is not a usable root.
pub fn client_config_from_pem(roots: impl AsRef<Path>) -> io::Result<Arc<ClientConfig>> {
    let mut store = RootCertStore::empty();
    for cert in certs_from_pem(roots)? {
        store.add(cert).map_err(invalid_data)?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid_data)?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The rustls error inside an `io::Error` the loop reported for a TLS channel (a failed
/// handshake, a refused certificate, a bad record), if there is one.
///
/// # Examples
///
/// ```
/// use std::io;
/// use ioloop::tls::rustls;
///
/// let error = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
/// assert_eq!(ioloop::tls::tls_error(&error), Some(&rustls::Error::DecryptError));
/// assert_eq!(ioloop::tls::tls_error(&io::Error::other("no")), None);
/// ```
pub fn tls_error(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// A rustls error as the `InvalidData` error the loop reports (what [`tls_error`] finds in it).
pub(crate) fn invalid_data(error: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

fn pem_error(path: &Path, error: rustls::pki_types::pem::Error) -> io::Error {
    use rustls::pki_types::pem::Error;
    match error {
        Error::Io(e) => io::Error::new(e.kind(), format!("{}: {e}", path.display())),
        other => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {other:?}", path.display()),
        ),
    }
}
