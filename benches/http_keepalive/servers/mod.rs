//! The HTTP responders the load is run against (the peers), each on 127.0.0.1 on a thread
//! of this process.

mod ioloop_http;
mod mio_http;

use std::io;
use std::net::SocketAddr;

use ioloop::selector::SelectorKind;

use crate::cpu_clock::{CpuClock, serve_on_thread};

/// The body of every response (`examples/http_server.rs`'s `GET /`).
pub const BODY: &[u8] = b"Hello, World!\n";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Peer {
    /// Hand-written over mio and memchr.
    Mio,
    /// ioloop's `AsyncChat` on a backend.
    Ioloop(SelectorKind),
}

impl Peer {
    pub fn name(self) -> String {
        match self {
            Peer::Mio => "mio".to_string(),
            Peer::Ioloop(kind) => format!("ioloop-{}", kind.name()),
        }
    }

    pub fn all() -> Vec<Peer> {
        let mut peers = vec![Peer::Mio];
        peers.extend(SelectorKind::available().into_iter().map(Peer::Ioloop));
        peers
    }

    pub fn parse(name: &str) -> Option<Peer> {
        Peer::all().into_iter().find(|peer| peer.name() == name)
    }

    /// Binds a listener on 127.0.0.1 and serves on a detached thread; returns the address
    /// and the server thread's CPU clock.
    pub fn start(self) -> io::Result<(SocketAddr, CpuClock)> {
        serve_on_thread(
            format!("http-{}", self.name()),
            move |listener| match self {
                Peer::Mio => mio_http::serve(listener),
                Peer::Ioloop(kind) => ioloop_http::serve(kind, listener),
            },
        )
    }
}
