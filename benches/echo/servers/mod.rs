//! The echo servers the load is run against (the peers), each on 127.0.0.1 in this process
//! but Python's, which is a child process.

mod ioloop_example;
mod python_asyncore;
mod python_child;
mod raw_mio;
mod tokio_ct;

use std::io;
use std::net::SocketAddr;

use ioloop::selector::SelectorKind;

use crate::cpu_clock::{CpuClock, serve_on_thread};

pub use python_child::ChildGuard;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Peer {
    Mio,
    Tokio,
    Ioloop(SelectorKind),
    PythonAsyncore,
}

impl Peer {
    pub fn name(self) -> String {
        match self {
            Peer::Mio => "mio".to_string(),
            Peer::Tokio => "tokio-ct".to_string(),
            Peer::Ioloop(kind) => format!("ioloop-{}", kind.name()),
            Peer::PythonAsyncore => "python-asyncore".to_string(),
        }
    }

    pub fn all() -> Vec<Peer> {
        let mut peers = vec![Peer::Mio, Peer::Tokio];
        peers.extend(SelectorKind::available().into_iter().map(Peer::Ioloop));
        if python_asyncore::available() {
            peers.push(Peer::PythonAsyncore);
        }
        peers
    }

    pub fn parse(name: &str) -> Option<Peer> {
        Peer::all()
            .into_iter()
            .find(|peer| peer.name() == name || (name == "tokio" && *peer == Peer::Tokio))
    }

    /// Binds a listener on 127.0.0.1 and serves on a detached thread (a child process for
    /// Python); returns the address and the server's CPU clock.
    pub fn start(self) -> io::Result<(SocketAddr, CpuClock)> {
        if self == Peer::PythonAsyncore {
            return python_asyncore::start();
        }
        serve_on_thread(
            format!("echo-{}", self.name()),
            move |listener| match self {
                Peer::Mio => raw_mio::serve(listener),
                Peer::Tokio => tokio_ct::serve(listener),
                Peer::Ioloop(kind) => ioloop_example::serve(kind, listener),
                Peer::PythonAsyncore => unreachable!("a child process, started above"),
            },
        )
    }
}
