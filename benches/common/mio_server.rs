//! What the hand-written mio servers of the benches share: the listener on a poll of its own,
//! the wait, and the accept loop. What each does with a connection (the part measured
//! against ioloop) stays in its own file. Included by path from each bench's `main.rs`, as
//! the benches share their other files.

use std::io;
use std::net::TcpListener as StdListener;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;

/// The listener's token: no slab key reaches it.
pub const LISTENER: Token = Token(usize::MAX);

/// A new poll with `listener` on it, non-blocking, registered for reading under
/// [`LISTENER`].
pub fn listen(listener: StdListener) -> io::Result<(Poll, TcpListener)> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    Ok((poll, listener))
}

/// Waits for events with no time limit, again when a signal interrupts the wait.
pub fn wait(poll: &mut Poll, events: &mut Events) -> io::Result<()> {
    loop {
        match poll.poll(events, None) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// Accepts every waiting connection: TCP_NODELAY on (as every peer of the benches), then
/// registered for `interest` under the key of its slab entry, which holds `make(stream)`.
/// A failed accept other than "no more" ends the round with a line on stderr that starts
/// with `name`; the listener stays registered.
pub fn accept_all<C>(
    name: &str,
    listener: &TcpListener,
    registry: &Registry,
    conns: &mut Slab<C>,
    interest: Interest,
    mut make: impl FnMut(TcpStream) -> io::Result<C>,
) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nodelay(true)?;
                let entry = conns.vacant_entry();
                registry.register(&mut stream, Token(entry.key()), interest)?;
                entry.insert(make(stream)?);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("{name} accept: {e}");
                return Ok(());
            }
        }
    }
}
