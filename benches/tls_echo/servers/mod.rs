//! The TLS echo servers the load is run against (the peers), each on 127.0.0.1 on a
//! thread of this process, all with the same server configuration: the test certificate of
//! `examples/tls/` (ECDSA P-256), rustls's defaults (TLS 1.3 negotiated) with the ring
//! provider, as `ioloop::tls::server_config_from_pem` makes it.

mod ioloop_tls;
mod mio_rustls;

use std::io;
use std::net::SocketAddr;

use ioloop::selector::SelectorKind;

use crate::cpu_clock::{CpuClock, serve_on_thread};

/// The test certificates (`examples/tls/README.md`).
pub const CERT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/tls");

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Peer {
    /// Hand-written over mio and rustls, as rustls's `tlsserver-mio` example: the reference.
    MioRustls,
    /// ioloop's `spawn_tls` on a backend.
    Ioloop(SelectorKind),
}

impl Peer {
    pub fn name(self) -> String {
        match self {
            Peer::MioRustls => "mio-rustls".to_string(),
            Peer::Ioloop(kind) => format!("ioloop-{}", kind.name()),
        }
    }

    pub fn all() -> Vec<Peer> {
        let mut peers = vec![Peer::MioRustls];
        peers.extend(SelectorKind::available().into_iter().map(Peer::Ioloop));
        peers
    }

    pub fn parse(name: &str) -> Option<Peer> {
        Peer::all().into_iter().find(|peer| peer.name() == name)
    }

    /// Binds a listener on 127.0.0.1 and serves on a detached thread; returns the address
    /// and the server thread's CPU clock.
    pub fn start(self) -> io::Result<(SocketAddr, CpuClock)> {
        let config = ioloop::tls::server_config_from_pem(
            format!("{CERT_DIR}/server.pem"),
            format!("{CERT_DIR}/server-key.pem"),
        )?;
        serve_on_thread(format!("tls-{}", self.name()), move |listener| match self {
            Peer::MioRustls => mio_rustls::serve(listener, config),
            Peer::Ioloop(kind) => ioloop_tls::serve(kind, listener, config),
        })
    }
}
