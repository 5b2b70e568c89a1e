//! How long a burst of connections takes to be accepted, per selector backend: a client
//! thread opens C connections (default 10 000) one after another and keeps them open; the
//! server's loop accepts each with the default `handle_accept` and spawns an idle channel
//! for it, so the later accepts happen beside thousands of open channels (what `poll` and
//! `select` scan on every pass). The time runs from the first connect to the last accept;
//! each backend's is reported with its ratio to epoll's in the same run.
//!
//! The client keeps at most [`WINDOW`] connections waiting in the listener's backlog
//! ([`BACKLOG`] deep): past a full backlog Linux drops the handshake's last ACK and the
//! connection completes only when the server's SYN-ACK is retransmitted (1 s, 2 s, 4 s…),
//! so an unthrottled client measures the kernel's retransmission timers, not the loop.
//!
//! `cargo bench -p ioloop-benches --bench accept_burst` (options after `--`:
//! `--connections C`). The soft descriptor limit is raised to the hard one, and C lowered to
//! fit it (two descriptors a connection).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;
use ioloop::socket2::{Domain, SockAddr, SockRef, Socket, Type};
use ioloop::{Context, Dispatcher, EventLoop};

/// The listen backlog (the kernel caps it at `net.core.somaxconn`, 4096 by default).
const BACKLOG: i32 = 4096;
/// Connections the client lets wait in the backlog at once.
const WINDOW: usize = 1000;

/// The server's listener: spawns an idle session for each connection and counts them.
struct Server {
    accepted: Arc<AtomicUsize>,
}

impl Dispatcher<usize> for Server {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, usize>,
        socket: Socket,
        _: SockAddr,
    ) -> io::Result<()> {
        cx.spawn(socket, Idle)?;
        *cx.state() += 1;
        self.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

struct Idle;
impl Dispatcher<usize> for Idle {}

/// How long `kind` takes to accept `connections` connected in a burst.
fn burst(kind: SelectorKind, connections: usize) -> io::Result<Duration> {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    listener.set_reuse_address(true)?;
    listener.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    listener.listen(BACKLOG)?;
    let listener = TcpListener::from(listener);
    let addr = listener.local_addr()?;
    let accepted = Arc::new(AtomicUsize::new(0));
    let mut event_loop = EventLoop::with_kind(kind, 0usize)?;
    event_loop.spawn(
        listener,
        Server {
            accepted: Arc::clone(&accepted),
        },
    )?;
    event_loop.run_once(Some(Duration::ZERO))?; // the listener's handle_opened
    let started = Instant::now();
    let clients = thread::spawn(move || connect_all(addr, connections, &accepted));
    let deadline = started + Duration::from_secs(300);
    while *event_loop.state() < connections {
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "{kind}: {} of {connections} accepted after 300 s",
                event_loop.state()
            )));
        }
        event_loop.run_once(Some(Duration::from_millis(100)))?;
    }
    let elapsed = started.elapsed();
    let clients = clients
        .join()
        .map_err(|_| io::Error::other("the client thread panicked"))??;
    drop(event_loop);
    for client in &clients {
        // A reset rather than a close: no TIME_WAIT left to hold the next run's ports.
        let _ = SockRef::from(client).set_linger(Some(Duration::ZERO));
    }
    drop(clients);
    Ok(elapsed)
}

/// Connects `connections` times, keeping at most [`WINDOW`] not yet `accepted`.
fn connect_all(
    addr: SocketAddr,
    connections: usize,
    accepted: &AtomicUsize,
) -> io::Result<Vec<TcpStream>> {
    let mut clients = Vec::with_capacity(connections);
    let deadline = Instant::now() + Duration::from_secs(300);
    while clients.len() < connections {
        if clients.len() >= accepted.load(Ordering::Relaxed) + WINDOW {
            if Instant::now() > deadline {
                return Err(io::Error::other("the server stopped accepting"));
            }
            thread::yield_now();
            continue;
        }
        clients.push(TcpStream::connect(addr)?);
    }
    Ok(clients)
}

/// Raises the soft descriptor limit to the hard one; returns the limit.
#[cfg(unix)]
fn descriptor_limit() -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let hard = getrlimit(Resource::Nofile).maximum;
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: hard,
            maximum: hard,
        },
    );
    getrlimit(Resource::Nofile)
        .current
        .map_or(usize::MAX, |limit| limit as usize)
}

#[cfg(not(unix))]
fn descriptor_limit() -> usize {
    usize::MAX
}

fn main() -> io::Result<()> {
    let mut connections = 10_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--connections" {
            connections = args
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(connections)
                .clamp(1, 100_000);
        }
    }
    let limit = descriptor_limit();
    let fits = limit.saturating_sub(100) / 2;
    if connections > fits {
        println!(
            "accept_burst: {connections} connections do not fit the descriptor limit {limit}; using {fits}"
        );
        connections = fits;
    }
    println!("accept_burst: {connections} connections in a burst, each kept open");
    let mut baseline = None;
    for kind in SelectorKind::available() {
        let elapsed = burst(kind, connections)?;
        let base = *baseline.get_or_insert(elapsed); // the first kind: epoll on Linux
        println!(
            "  {:<8} {:>8.3} s  {:>9.0} accepts/s  {:>5.2}x the first ({})",
            kind.name(),
            elapsed.as_secs_f64(),
            connections as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() / base.as_secs_f64(),
            SelectorKind::available()[0].name(),
        );
    }
    Ok(())
}
