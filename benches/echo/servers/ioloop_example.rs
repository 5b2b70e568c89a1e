//! ioloop: the dispatchers of `examples/echo_server/` (`crate::echo`), with TCP_NODELAY set
//! on each accepted connection, as every peer does. `IOLOOP_BENCH_TIMEOUTS=1` gives each
//! connection loop-owned deadlines (idle 300 s, message 10 s, drain 60 s; none expires): the
//! cost of deadlines per message, against a run without.

use std::io;
use std::net::TcpListener;

use std::time::Duration;

use ioloop::selector::SelectorKind;
use ioloop::{EventLoop, Timeouts};

use crate::echo::Server;

pub fn serve(kind: SelectorKind, listener: TcpListener) -> io::Result<()> {
    let mut event_loop = EventLoop::with_kind(kind, ())?;
    event_loop.spawn(
        listener,
        Server {
            nodelay: true,
            timeouts: bench_timeouts(),
        },
    )?;
    event_loop.run()
}

/// The deadlines `IOLOOP_BENCH_TIMEOUTS=1` asks for; none otherwise.
fn bench_timeouts() -> Timeouts {
    if std::env::var("IOLOOP_BENCH_TIMEOUTS").as_deref() != Ok("1") {
        return Timeouts::NONE;
    }
    Timeouts {
        idle: Some(Duration::from_secs(300)),
        message: Some(Duration::from_secs(10)),
        drain: Some(Duration::from_secs(60)),
        ..Timeouts::NONE
    }
}
