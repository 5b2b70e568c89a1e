//! The room servers the load is run against (the peers), each on 127.0.0.1 on a thread of
//! this process, whose allocations the counting allocator counts.

mod ioloop_room;
mod mio_room;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::AtomicU64;

use ioloop::selector::SelectorKind;

use crate::counting_alloc;
use crate::cpu_clock::CpuClock;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Peer {
    /// Hand-written over mio and memchr.
    Mio,
    /// ioloop's `AsyncChat` room on a backend.
    Ioloop(SelectorKind),
}

/// A server started: where it listens, its thread's CPU clock and allocation count.
pub struct Started {
    pub addr: SocketAddr,
    pub clock: CpuClock,
    pub allocations: &'static AtomicU64,
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

    /// Binds a listener on 127.0.0.1 and serves on a detached thread.
    pub fn start(self) -> io::Result<Started> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let name = format!("room-{}", self.name());
        let allocations: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
        let (clock_tx, clock_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                counting_alloc::count_this_thread(allocations);
                let _ = clock_tx.send(CpuClock::this_thread());
                let served = match self {
                    Peer::Mio => mio_room::serve(listener),
                    Peer::Ioloop(kind) => ioloop_room::serve(kind, listener),
                };
                if let Err(e) = served {
                    eprintln!("{name}: {e}");
                }
            })?;
        let clock = clock_rx.recv().unwrap_or(CpuClock(None));
        Ok(Started {
            addr,
            clock,
            allocations,
        })
    }
}
