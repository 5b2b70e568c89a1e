//! Socket set-up helpers over `socket2`: asyncore's `create_socket`, `set_reuse_addr`,
//! `bind`, `listen` and `connect`, returning sockets ready for an
//! [`EventLoop`](crate::EventLoop).
//!
//! Every socket made here is non-blocking and not inherited by child processes
//! (`socket2` creates sockets close-on-exec / non-inheritable).

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// The backlog [`listen`] uses (asyncore's examples used 5; a server wants more).
pub const DEFAULT_BACKLOG: i32 = 128;

/// A non-blocking TCP socket for `addr`'s family (asyncore's `create_socket()`).
///
/// # Errors
///
/// The OS's error (out of descriptors, family unsupported).
pub fn create_tcp(addr: &SocketAddr) -> io::Result<Socket> {
    create(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )
}

/// A non-blocking socket of any domain and type.
///
/// # Errors
///
/// The OS's error.
pub fn create(domain: Domain, kind: Type, protocol: Option<Protocol>) -> io::Result<Socket> {
    let socket = Socket::new(domain, kind, protocol)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Sets `SO_REUSEADDR` (asyncore's `set_reuse_addr`), so a restarted server can bind its
/// port while old connections linger in `TIME_WAIT`.
///
/// # Errors
///
/// The OS's error.
pub fn set_reuse_addr(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_address(true)
}

/// A non-blocking TCP listener on `addr` with `SO_REUSEADDR` (except on Windows, where it
/// would let another process steal the port) and the given backlog. Port 0 picks a free
/// port: read it back with `local_addr`.
///
/// Accepted connections have Nagle's algorithm on, as the OS makes them: a request/response
/// protocol should turn it off on each (`socket.set_tcp_nodelay(true)` in
/// [`handle_accepted`](crate::Dispatcher::handle_accepted), as the examples do), or a small
/// reply written while an earlier one is unacknowledged waits for the peer's delayed ACK
/// (~40 ms on Linux).
///
/// # Errors
///
/// `AddrInUse` if the address is taken; other OS errors.
pub fn listen(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = create_tcp(&addr)?;
    if cfg!(not(windows)) {
        set_reuse_addr(&socket)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}
