//! The room servers the load is run against (the peers), each on 127.0.0.1 on a thread of
//! this process, whose allocations the counting allocator counts.

mod ioloop_room;
mod mio_room;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;

use ioloop::selector::SelectorKind;

use crate::counting_alloc;
use crate::cpu_clock::{CpuClock, serve_on_thread};

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
        let allocations: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
        let (addr, clock) = serve_on_thread(format!("room-{}", self.name()), move |listener| {
            counting_alloc::count_this_thread(allocations);
            match self {
                Peer::Mio => mio_room::serve(listener),
                Peer::Ioloop(kind) => ioloop_room::serve(kind, listener),
            }
        })?;
        Ok(Started {
            addr,
            clock,
            allocations,
        })
    }
}
