//! ioloop: the dispatchers of `examples/echo_server/` (`crate::echo`), with TCP_NODELAY set
//! on each accepted connection, as every peer does. `IOLOOP_BENCH_TIMEOUTS=1` gives each
//! connection loop-owned deadlines (`crate::deadlines`).

use std::io;
use std::net::TcpListener;

use ioloop::EventLoop;
use ioloop::selector::SelectorKind;

use crate::echo::Server;

pub fn serve(kind: SelectorKind, listener: TcpListener) -> io::Result<()> {
    let mut event_loop = EventLoop::with_kind(kind, ())?;
    event_loop.spawn(
        listener,
        Server {
            nodelay: true,
            timeouts: crate::deadlines::from_env(),
        },
    )?;
    event_loop.run()
}
