//! The echo servers the load is run against (the peers), each on 127.0.0.1 on a thread of
//! this process, but Python's, which is a child process. Every peer serves the framing it
//! is started with; tokio and Python serve lines only.

mod ioloop_chat;
mod mio_framed;
#[path = "../../echo/servers/python_child.rs"]
mod python_child;
mod tokio_lines;

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::OnceLock;

use ioloop::selector::SelectorKind;

use crate::cpu_clock::{CpuClock, serve_on_thread};
use crate::pattern::Framing;

pub use python_child::ChildGuard;

/// The Python that still has asynchat (removed in 3.12).
const PYTHON: &str = "python3.11";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Peer {
    /// Written by hand over mio (and memchr for lines).
    Mio,
    /// tokio current-thread, `Framed<_, LinesCodec>`.
    Tokio,
    /// ioloop's `AsyncChat` on a backend.
    Ioloop(SelectorKind),
    /// Python 3.11's asynchat (`asynchat_line_echo.py`), a child process.
    PythonAsynchat,
}

impl Peer {
    pub fn name(self) -> String {
        match self {
            Peer::Mio => "mio".to_string(),
            Peer::Tokio => "tokio-lines".to_string(),
            Peer::Ioloop(kind) => format!("ioloop-{}", kind.name()),
            Peer::PythonAsynchat => "python-asynchat".to_string(),
        }
    }

    /// Every peer this platform has, for the lines (the default peers).
    pub fn all() -> Vec<Peer> {
        let mut peers = vec![Peer::Mio, Peer::Tokio];
        peers.extend(SelectorKind::available().into_iter().map(Peer::Ioloop));
        if python_available() {
            peers.push(Peer::PythonAsynchat);
        }
        peers
    }

    pub fn parse(name: &str) -> Option<Peer> {
        Peer::all().into_iter().find(|peer| peer.name() == name)
    }

    /// Whether this peer serves `framing`.
    pub fn serves(self, framing: Framing) -> bool {
        match self {
            Peer::Mio | Peer::Ioloop(_) => true,
            Peer::Tokio | Peer::PythonAsynchat => framing == Framing::Line,
        }
    }

    /// Binds a listener on 127.0.0.1 and serves `framing` on a detached thread (a child
    /// process for Python); returns the address and the server's CPU clock.
    pub fn start(self, framing: Framing) -> io::Result<(SocketAddr, CpuClock)> {
        if !self.serves(framing) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{} serves lines only", self.name()),
            ));
        }
        if self == Peer::PythonAsynchat {
            let script = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("line_echo/servers/asynchat_line_echo.py");
            return python_child::start(PYTHON, &script);
        }
        serve_on_thread(
            format!("{}-echo-{}", framing.name(), self.name()),
            move |listener| match self {
                Peer::Mio => mio_framed::serve(framing, listener),
                Peer::Tokio => tokio_lines::serve(listener),
                Peer::Ioloop(kind) => ioloop_chat::serve(kind, framing, listener),
                Peer::PythonAsynchat => unreachable!("a child process, started above"),
            },
        )
    }
}

/// Whether `python3.11` runs and has asynchat; says so once when it does not.
fn python_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let found = python_child::has_module(PYTHON, "asynchat");
        if !found {
            eprintln!("python-asynchat: skipped (no {PYTHON} with asynchat)");
        }
        found
    })
}
