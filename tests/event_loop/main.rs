//! The event-loop layer (asyncore) over real loopback sockets, once per selector backend:
//! Python's test_asyncore behaviours, plus the loop's own guarantees (tokens, timers,
//! cross-thread handles, interest bookkeeping). A module per subject; every test runs once
//! per backend, named `SUBJECT::KIND::test` (`connect::epoll::…`).

#[path = "../common/mod.rs"]
mod common;

mod dispatchers;

mod accept;
mod admission;
mod close;
mod connect;
mod deadlines;
mod errors_and_panics;
mod interest_and_load;
mod opened;
#[cfg(unix)]
mod pipes_and_unix_sockets;
mod read_write;
mod running;
mod send_buffer;
mod shutdown;
mod timers;
mod tokens;
mod udp;
mod write_ahead;
