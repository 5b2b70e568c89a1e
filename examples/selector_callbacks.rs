//! An echo server written with the selectors layer alone, callbacks stored as each
//! registration's data — the seeds' Python program:
//!
//! ```python
//! sel = selectors.DefaultSelector()
//! def accept(sock, mask):
//!     conn, addr = sock.accept()
//!     conn.setblocking(False)
//!     sel.register(conn, selectors.EVENT_READ, read)
//! def read(conn, mask):
//!     data = conn.recv(1024)
//!     if data: conn.send(data)
//!     else: sel.unregister(conn); conn.close()
//! sel.register(server, selectors.EVENT_READ, accept)
//! while True:
//!     for key, mask in sel.select():
//!         key.data(key.fileobj, mask)
//! ```
//!
//! Unlike the original it loses nothing on a partial send: unsent bytes are kept, the
//! connection is switched from READ to WRITE interest until they are gone, and it reads no
//! more meanwhile, so a client that sends much and reads late cannot grow the server's
//! memory beyond one read buffer per connection.
//!
//! Run: `cargo run --example selector_callbacks -- --addr 127.0.0.1:7000 --selector poll`
//! (`--selector auto`, the default, takes the backend `IOLOOP_SELECTOR` names, as
//! `SelectorMap::new` does: `IOLOOP_SELECTOR=select cargo run --example selector_callbacks`).
//! Prints `listening on IP:PORT`; exits 0 on SIGINT/SIGTERM.

#[path = "common/mod.rs"]
mod common;

use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;

use ioloop::selector::{Interest, SelectorKey, SelectorMap};
use ioloop::socket2::{Domain, Socket, Type};

/// What runs when a registration is ready (Python's `key.data`).
type Callback = fn(&mut Sockets, SelectorKey, Interest) -> io::Result<()>;

/// Per registration: the callback and the bytes read but not yet echoed.
struct Handler {
    callback: Callback,
    unsent: Vec<u8>,
}

type Sockets = SelectorMap<Socket, Handler>;

const READ_SIZE: usize = 64 * 1024;

fn accept(map: &mut Sockets, key: SelectorKey, _ready: Interest) -> io::Result<()> {
    let Some(listener) = map.source(key) else {
        return Ok(());
    };
    let (conn, _addr) = match listener.accept() {
        Ok(accepted) => accepted,
        // Another event got there first, or the client gave up: nothing to do now.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionAborted
            ) =>
        {
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    conn.set_nonblocking(true)?;
    let handler = Handler {
        callback: echo,
        unsent: Vec::new(),
    };
    map.register(conn, Interest::READ, handler)?;
    Ok(())
}

fn echo(map: &mut Sockets, key: SelectorKey, ready: Interest) -> io::Result<()> {
    let Some((mut conn, handler)) = map.get_mut(key) else {
        return Ok(());
    };
    if ready.is_readable() && handler.unsent.is_empty() {
        let mut buf = vec![0; READ_SIZE];
        match conn.read(&mut buf) {
            Ok(0) => {
                map.unregister(key)?; // dropping the socket closes it
                return Ok(());
            }
            Ok(n) => handler.unsent.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    while !handler.unsent.is_empty() {
        match conn.write(&handler.unsent) {
            Ok(n) => drop(handler.unsent.drain(..n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    let interest = if handler.unsent.is_empty() {
        Interest::READ
    } else {
        Interest::WRITE
    };
    map.modify(key, interest)
}

fn listen(args: &common::Args) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(args.addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&args.addr.into())?;
    socket.listen(128)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn main() {
    common::log_to_stderr(log::LevelFilter::Warn);
    let args = common::parse_args("An echo server on the selectors layer alone.", &[]);
    if let Err(e) = run(&args) {
        eprintln!("selector_callbacks: {e}");
        std::process::exit(1);
    }
}

fn run(args: &common::Args) -> io::Result<()> {
    let mut map: Sockets = SelectorMap::with_kind(args.selector)?;
    let listener = listen(args)?;
    let local = listener
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("listener has no IP address"))?;
    let handler = Handler {
        callback: accept,
        unsent: Vec::new(),
    };
    map.register(listener, Interest::READ, handler)?;
    let stop = common::stop_selector_on_signal(map.waker());
    common::announce(local);

    while !stop.load(Ordering::SeqCst) {
        for (key, ready) in map.select(None)? {
            let Some(handler) = map.data(key) else {
                continue; // unregistered by an earlier callback of this batch
            };
            let callback = handler.callback;
            if let Err(e) = callback(&mut map, key, ready) {
                // Python's loop would die here; we drop that one connection.
                eprintln!("selector_callbacks: closing {key:?}: {e}");
                let _ = map.unregister(key);
            }
        }
    }
    Ok(())
}
