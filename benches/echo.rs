//! Echo load generator: a closed-loop client (C connections × P messages of S bytes in
//! flight, every echoed byte verified) against several echo servers run in this process —
//! raw `mio`, `tokio` current-thread, and ioloop's echo server (the dispatcher of
//! `examples/echo_server.rs`) on every selector backend this platform has — and Python's
//! asyncore (`benches/asyncore_echo.py`, a child process), when a `python3` with asyncore
//! (3.11 or older) is on the PATH.
//!
//! `cargo bench --bench echo` runs every peer in alternation for several rounds and prints
//! the medians with ratios to raw mio. Options (after `--`):
//!
//! - `--rounds N` (default 3), `--secs F` measured seconds per run (default 1.0),
//!   `--peers mio,tokio,ioloop-epoll,python-asyncore,…`,
//!   `--scenarios latency,throughput,bandwidth,connect`;
//! - `--serve PEER [--secs F]`: only serve (prints `listening on ADDR`), for `strace -f -c`;
//!   exits after F seconds (default 10);
//! - `--client ADDR --scenarios NAME`: only load a server started elsewhere.
//!
//! All traffic is on 127.0.0.1; every loop is bounded in time and count.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;
use ioloop::{Context, Dispatcher, EventLoop};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use socket2::{SockAddr, SockRef, Socket};

// ---------------------------------------------------------------------------------------
// The peers.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    Mio,
    Tokio,
    Ioloop(SelectorKind),
    PythonAsyncore,
}

impl Peer {
    fn name(self) -> String {
        match self {
            Peer::Mio => "mio".to_string(),
            Peer::Tokio => "tokio-ct".to_string(),
            Peer::Ioloop(kind) => format!("ioloop-{}", kind.name()),
            Peer::PythonAsyncore => "python-asyncore".to_string(),
        }
    }

    fn all() -> Vec<Peer> {
        let mut peers = vec![Peer::Mio, Peer::Tokio];
        peers.extend(SelectorKind::available().into_iter().map(Peer::Ioloop));
        if python_asyncore_available() {
            peers.push(Peer::PythonAsyncore);
        }
        peers
    }

    fn parse(name: &str) -> Option<Peer> {
        Peer::all()
            .into_iter()
            .find(|peer| peer.name() == name || (name == "tokio" && *peer == Peer::Tokio))
    }

    /// Binds a listener on 127.0.0.1 and serves on a detached thread (a child process for
    /// Python); returns the address and the server's CPU clock.
    fn start(self) -> io::Result<(SocketAddr, CpuClock)> {
        if self == Peer::PythonAsyncore {
            return start_python_asyncore();
        }
        let listener = StdListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let name = format!("echo-{}", self.name());
        let (clock_tx, clock_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let _ = clock_tx.send(CpuClock::this_thread());
                let served = match self {
                    Peer::Mio => mio_server(listener),
                    Peer::Tokio => tokio_server(listener),
                    Peer::Ioloop(kind) => ioloop_server(kind, listener),
                    Peer::PythonAsyncore => unreachable!("a child process, started above"),
                };
                if let Err(e) = served {
                    eprintln!("{name}: {e}");
                }
            })?;
        let clock = clock_rx.recv().unwrap_or(CpuClock(None));
        Ok((addr, clock))
    }
}

/// A server's time on the CPU, from Linux's `/proc/…/schedstat` (nanoseconds): what the
/// server spent per message, whoever was the bottleneck (with client and server on two
/// cores, the one-threaded client limits the batched scenarios for every server).
#[derive(Clone, Debug)]
struct CpuClock(Option<std::path::PathBuf>);

impl CpuClock {
    /// The calling thread's clock (`/proc/thread-self` names it; Linux only).
    fn this_thread() -> CpuClock {
        let path = std::fs::read_link("/proc/thread-self")
            .ok()
            .map(|task| std::path::Path::new("/proc").join(task).join("schedstat"));
        CpuClock(path.filter(|path| path.is_file()))
    }

    /// A process's main thread (Python's asyncore runs on one).
    fn process(pid: u32) -> CpuClock {
        let path = std::path::PathBuf::from(format!("/proc/{pid}/schedstat"));
        CpuClock(Some(path).filter(|path| path.is_file()))
    }

    fn nanos(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.0.as_ref()?).ok()?;
        text.split_whitespace().next()?.parse().ok()
    }
}

// Python's asyncore: benches/asyncore_echo.py in a child process, killed when the bench
// ends (`ChildGuard` in main).

static CHILDREN: std::sync::Mutex<Vec<std::process::Child>> = std::sync::Mutex::new(Vec::new());

fn asyncore_script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/asyncore_echo.py")
}

/// Whether `python3` runs and still has asyncore (removed in Python 3.12).
fn python_asyncore_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let found = std::process::Command::new("python3")
            .args(["-W", "ignore", "-c", "import asyncore"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !found {
            eprintln!("python-asyncore: skipped (no python3 with asyncore, which 3.12 removed)");
        }
        found
    })
}

fn start_python_asyncore() -> io::Result<(SocketAddr, CpuClock)> {
    use std::io::BufRead;
    let mut child = std::process::Command::new("python3")
        .arg(asyncore_script())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped above");
    let clock = CpuClock::process(child.id());
    CHILDREN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|addr| addr.parse().ok())
        .ok_or_else(|| io::Error::other(format!("asyncore_echo.py printed {line:?}")))?;
    Ok((addr, clock))
}

/// Kills the child servers when `main` returns or unwinds.
struct ChildGuard;

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let mut children = CHILDREN
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ioloop: the dispatcher of examples/echo_server.rs (TCP_NODELAY added, as for every peer).

const HIGH_WATER: usize = 64 * 1024;
const READ_SIZE: usize = 16 * 1024;

struct IoloopServer;

impl Dispatcher for IoloopServer {
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, ()>,
        socket: Socket,
        _addr: SockAddr,
    ) -> io::Result<()> {
        socket.set_tcp_nodelay(true)?;
        cx.spawn(socket, IoloopEcho::default())?;
        Ok(())
    }
}

#[derive(Default)]
struct IoloopEcho {
    unsent: Vec<u8>,
    eof: bool,
}

impl IoloopEcho {
    fn flush(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
        while !self.unsent.is_empty() {
            let sent = cx.send(&self.unsent)?;
            if sent == 0 {
                break;
            }
            self.unsent.drain(..sent);
        }
        if self.eof && self.unsent.is_empty() {
            cx.close();
        }
        Ok(())
    }
}

impl Dispatcher for IoloopEcho {
    fn readable(&self) -> bool {
        !self.eof && self.unsent.len() < HIGH_WATER
    }

    fn writable(&self) -> bool {
        !self.unsent.is_empty()
    }

    fn handle_read(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
        // Read a whole burst per wake-up (up to the high-water mark), not one chunk: each
        // return to the selector costs a system call. `recv_append` reads straight into
        // `unsent`: no zeroed buffer, no copy.
        while self.unsent.len() < HIGH_WATER {
            let n = match cx.recv_append(&mut self.unsent, READ_SIZE) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            };
            if n < READ_SIZE {
                break; // drained, or end of file (handle_close follows)
            }
        }
        self.flush(cx)
    }

    fn handle_write(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
        self.flush(cx)
    }

    fn handle_close(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
        self.eof = true;
        self.flush(cx)
    }
}

fn ioloop_server(kind: SelectorKind, listener: StdListener) -> io::Result<()> {
    let mut event_loop = EventLoop::with_kind(kind, ())?;
    event_loop.spawn(listener, IoloopServer)?;
    event_loop.run()
}

// Raw mio: edge-triggered, registered once for both directions (no epoll_ctl after the
// accept), reads until WouldBlock or a short read.

struct MioConn {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl MioConn {
    /// Returns true once the connection is finished.
    fn ready(&mut self, readable: bool, buf: &mut [u8]) -> bool {
        let had_pending = !self.pending.is_empty();
        while !self.pending.is_empty() {
            match self.stream.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
        if !readable && !had_pending {
            return false;
        }
        loop {
            let n = match self.stream.read(buf) {
                Ok(0) => return true,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            };
            let mut off = 0;
            while off < n {
                match self.stream.write(&buf[off..n]) {
                    Ok(k) => off += k,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        // Stop reading until the writable edge: bounded memory.
                        self.pending.extend_from_slice(&buf[off..n]);
                        return false;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return true,
                }
            }
            if n < buf.len() {
                return false; // drained: the next arrival raises a new edge
            }
        }
    }
}

fn mio_server(listener: StdListener) -> io::Result<()> {
    const LISTENER: Token = Token(usize::MAX);
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Slab<MioConn> = Slab::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            stream.set_nodelay(true)?;
                            let entry = conns.vacant_entry();
                            poll.registry().register(
                                &mut stream,
                                Token(entry.key()),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            entry.insert(MioConn {
                                stream,
                                pending: Vec::new(),
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            eprintln!("mio accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let key = event.token().0;
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            let done = match conns.get_mut(key) {
                Some(conn) => conn.ready(readable, &mut buf),
                None => continue,
            };
            if done {
                let mut conn = conns.remove(key);
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}

// tokio current-thread: one task per connection, read then write_all.

fn tokio_server(listener: StdListener) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let mut buf = vec![0u8; READ_SIZE];
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    })
}

// ---------------------------------------------------------------------------------------
// The load generator.

#[derive(Clone, Copy, Debug)]
struct Scenario {
    name: &'static str,
    conns: usize,
    inflight: usize,
    size: usize,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "latency",
        conns: 1,
        inflight: 1,
        size: 64,
    },
    Scenario {
        name: "throughput",
        conns: 50,
        inflight: 16,
        size: 64,
    },
    Scenario {
        name: "bandwidth",
        conns: 2,
        inflight: 1,
        size: 64 * 1024,
    },
    // One connection at a time: connect, one 64-byte round trip, close (reset, so no
    // TIME_WAIT piles up).
    Scenario {
        name: "connect",
        conns: 1,
        inflight: 1,
        size: 64,
    },
];

#[derive(Clone, Copy, Debug)]
struct Outcome {
    msgs: u64,
    /// Messages echoed in all, warm-up and drain included (for syscall counts).
    total: u64,
    secs: f64,
    size: usize,
    p50: Duration,
    p99: Duration,
    /// The server's CPU time per message echoed (warm-up included), where it can be read.
    cpu_ns: Option<f64>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.msgs as f64 / self.secs
    }
    fn mbps(&self) -> f64 {
        self.rate() * self.size as f64 / 1e6
    }
}

/// The byte stream a connection sends: a 251-cycle shifted per connection, compared with
/// memcmp against one table.
const CYCLE: usize = 251;
const MAX_CHUNK: usize = 64 * 1024;

fn table() -> Vec<u8> {
    (0..MAX_CHUNK + CYCLE).map(|i| (i % CYCLE) as u8).collect()
}

fn expected(table: &[u8], id: usize, offset: u64, len: usize) -> &[u8] {
    let start = ((offset + id as u64 * 17) % CYCLE as u64) as usize;
    &table[start..start + len]
}

struct ClientConn {
    id: usize,
    stream: TcpStream,
    /// Bytes issued (the stream offset of the next message).
    issued: u64,
    out: Vec<u8>,
    out_off: usize,
    /// Bytes received and verified.
    received: u64,
    /// Messages completed.
    completed: u64,
    started: VecDeque<Instant>,
}

impl ClientConn {
    fn issue(&mut self, table: &[u8], size: usize) {
        let mut left = size;
        while left > 0 {
            let n = left.min(MAX_CHUNK);
            self.out
                .extend_from_slice(expected(table, self.id, self.issued, n));
            self.issued += n as u64;
            left -= n;
        }
        self.started.push_back(Instant::now());
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.out_off < self.out.len() {
            match self.stream.write(&self.out[self.out_off..]) {
                Ok(n) => self.out_off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.out_off == self.out.len() {
            self.out.clear();
            self.out_off = 0;
        } else if self.out_off > 1 << 20 {
            self.out.drain(..self.out_off);
            self.out_off = 0;
        }
        Ok(())
    }
}

struct Window {
    measure_from: Instant,
    issue_until: Instant,
}

fn run_load(
    addr: SocketAddr,
    sc: Scenario,
    warmup: Duration,
    measure: Duration,
) -> io::Result<Outcome> {
    if sc.name == "connect" {
        return connect_storm(addr, sc, warmup, measure);
    }
    let table = table();
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(sc.conns);
    for id in 0..sc.conns {
        let stream = StdStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(stream);
        poll.registry().register(
            &mut stream,
            Token(id),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        conns.push(ClientConn {
            id,
            stream,
            issued: 0,
            out: Vec::new(),
            out_off: 0,
            received: 0,
            completed: 0,
            started: VecDeque::new(),
        });
    }
    let start = Instant::now();
    let window = Window {
        measure_from: start + warmup,
        issue_until: start + warmup + measure,
    };
    let drain_until = window.issue_until + Duration::from_secs(10);
    for conn in &mut conns {
        for _ in 0..sc.inflight {
            conn.issue(&table, sc.size);
        }
        conn.flush()?;
    }
    let mut latencies: Vec<u64> = Vec::new();
    let mut msgs = 0u64;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; MAX_CHUNK];
    let size = sc.size as u64;
    loop {
        let now = Instant::now();
        let outstanding = conns.iter().any(|c| c.received < c.issued);
        if !outstanding {
            break;
        }
        if now > drain_until {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{}: echoes missing 10 s after the end", sc.name),
            ));
        }
        let wait = if now < window.issue_until {
            window.issue_until - now
        } else {
            drain_until - now
        };
        match poll.poll(&mut events, Some(wait.min(Duration::from_millis(100)))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            let conn = &mut conns[event.token().0];
            loop {
                let n = match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed the connection",
                        ));
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if conn.received + n as u64 > conn.issued
                    || buf[..n] != *expected(&table, conn.id, conn.received, n)
                {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "connection {}: wrong echo at byte {}",
                            conn.id, conn.received
                        ),
                    ));
                }
                conn.received += n as u64;
                let done_now = Instant::now();
                while conn.received >= (conn.completed + 1) * size {
                    conn.completed += 1;
                    let sent_at = conn.started.pop_front().expect("a message in flight");
                    if done_now >= window.measure_from && done_now < window.issue_until {
                        msgs += 1;
                        latencies.push((done_now - sent_at).as_nanos() as u64);
                    }
                    if done_now < window.issue_until {
                        conn.issue(&table, sc.size);
                    }
                }
                if n < buf.len() {
                    break;
                }
            }
            conn.flush()?;
        }
    }
    let total = conns.iter().map(|c| c.completed).sum();
    Ok(summarize(msgs, total, measure, sc.size, latencies))
}

fn summarize(
    msgs: u64,
    total: u64,
    measure: Duration,
    size: usize,
    mut latencies: Vec<u64>,
) -> Outcome {
    latencies.sort_unstable();
    let pick = |q: f64| {
        if latencies.is_empty() {
            Duration::ZERO
        } else {
            let i = ((latencies.len() as f64 * q) as usize).min(latencies.len() - 1);
            Duration::from_nanos(latencies[i])
        }
    };
    Outcome {
        msgs,
        total,
        secs: measure.as_secs_f64(),
        size,
        p50: pick(0.50),
        p99: pick(0.99),
        cpu_ns: None,
    }
}

/// `run_load`, with the server's CPU time per message echoed.
fn run_measured(
    addr: SocketAddr,
    clock: &CpuClock,
    sc: Scenario,
    warmup: Duration,
    measure: Duration,
) -> io::Result<Outcome> {
    let before = clock.nanos();
    let mut outcome = run_load(addr, sc, warmup, measure)?;
    if let (Some(before), Some(after)) = (before, clock.nanos()) {
        outcome.cpu_ns = Some(after.saturating_sub(before) as f64 / outcome.total.max(1) as f64);
    }
    Ok(outcome)
}

fn connect_storm(
    addr: SocketAddr,
    sc: Scenario,
    warmup: Duration,
    measure: Duration,
) -> io::Result<Outcome> {
    const MAX_CONNECTIONS: u64 = 200_000;
    let table = table();
    let message = expected(&table, 0, 0, sc.size).to_vec();
    let mut back = vec![0u8; sc.size];
    let start = Instant::now();
    let (measure_from, until) = (start + warmup, start + warmup + measure);
    let mut latencies = Vec::new();
    let mut msgs = 0;
    let mut total = 0;
    for _ in 0..MAX_CONNECTIONS {
        let began = Instant::now();
        if began >= until {
            break;
        }
        let mut stream = StdStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(&message)?;
        stream.read_exact(&mut back)?;
        if back != message {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "wrong echo"));
        }
        // Reset rather than FIN: no TIME_WAIT left on the client's ports.
        SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
        drop(stream);
        total += 1;
        let done = Instant::now();
        if began >= measure_from {
            msgs += 1;
            latencies.push((done - began).as_nanos() as u64);
        }
    }
    Ok(summarize(msgs, total, measure, sc.size, latencies))
}

// ---------------------------------------------------------------------------------------
// The driver.

struct Options {
    rounds: usize,
    secs: f64,
    peers: Vec<Peer>,
    scenarios: Vec<Scenario>,
    serve: Option<Peer>,
    client: Option<SocketAddr>,
}

fn parse_options() -> Options {
    let mut options = Options {
        rounds: 3,
        secs: 1.0,
        peers: Peer::all(),
        scenarios: SCENARIOS.to_vec(),
        serve: None,
        client: None,
    };
    let mut secs_given = false;
    let mut args = std::env::args().skip(1);
    let die = |what: &str| -> ! {
        eprintln!("echo bench: {what}");
        std::process::exit(2)
    };
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| die(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--rounds" => options.rounds = value().parse().unwrap_or_else(|_| die("--rounds N")),
            "--secs" => {
                options.secs = value().parse().unwrap_or_else(|_| die("--secs F"));
                secs_given = true;
            }
            "--peers" => {
                options.peers = value()
                    .split(',')
                    .map(|name| {
                        Peer::parse(name).unwrap_or_else(|| die(&format!("unknown peer {name}")))
                    })
                    .collect();
            }
            "--scenarios" => {
                options.scenarios = value()
                    .split(',')
                    .map(|name| {
                        SCENARIOS
                            .iter()
                            .copied()
                            .find(|sc| sc.name == name)
                            .unwrap_or_else(|| die(&format!("unknown scenario {name}")))
                    })
                    .collect();
            }
            "--serve" => {
                let name = value();
                options.serve = Some(
                    Peer::parse(&name).unwrap_or_else(|| die(&format!("unknown peer {name}"))),
                );
            }
            "--client" => {
                options.client = Some(value().parse().unwrap_or_else(|_| die("--client IP:PORT")))
            }
            // What cargo bench passes, and filters: ignored.
            _ => {}
        }
    }
    if options.serve.is_some() && !secs_given {
        options.secs = 10.0;
    }
    options.secs = options.secs.clamp(0.1, 60.0);
    options.rounds = options.rounds.clamp(1, 20);
    options
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let _children = ChildGuard;
    let options = parse_options();
    let warmup = Duration::from_millis(200);
    let measure = Duration::from_secs_f64(options.secs);
    if let Some(peer) = options.serve {
        let (addr, _) = peer.start().expect("start the server");
        println!("listening on {addr}");
        std::thread::sleep(measure);
        return;
    }
    if let Some(addr) = options.client {
        for &sc in &options.scenarios {
            match run_load(addr, sc, warmup, measure) {
                Ok(o) => println!(
                    "{}: {} msgs in {:.2} s: {:.0} msgs/s, {:.1} MB/s, p50 {:?}, p99 {:?}; {} echoed in all",
                    sc.name,
                    o.msgs,
                    o.secs,
                    o.rate(),
                    o.mbps(),
                    o.p50,
                    o.p99,
                    o.total
                ),
                Err(e) => {
                    eprintln!("{}: {e}", sc.name);
                    std::process::exit(1);
                }
            }
        }
        return;
    }
    let peers: Vec<(Peer, SocketAddr, CpuClock)> = options
        .peers
        .iter()
        .map(|&peer| {
            let (addr, clock) = peer.start().expect("start a server");
            (peer, addr, clock)
        })
        .collect();
    println!(
        "echo: {} round(s), {:.1} s measured (+{} ms warm-up) per run, peers in alternation",
        options.rounds,
        options.secs,
        warmup.as_millis()
    );
    // results[scenario][peer] = outcomes over rounds
    let mut results: Vec<Vec<Vec<Outcome>>> =
        vec![vec![Vec::new(); peers.len()]; options.scenarios.len()];
    for round in 0..options.rounds {
        for (s, &sc) in options.scenarios.iter().enumerate() {
            for (p, (peer, addr, clock)) in peers.iter().enumerate() {
                let outcome = run_measured(*addr, clock, sc, warmup, measure)
                    .unwrap_or_else(|e| panic!("{} against {}: {e}", sc.name, peer.name()));
                println!(
                    "round {} {:<10} {:<16} {:>10.0} msgs/s {:>8.1} MB/s p50 {:>8.1} µs p99 {:>8.1} µs CPU {:>7.0} ns/msg",
                    round + 1,
                    sc.name,
                    peer.name(),
                    outcome.rate(),
                    outcome.mbps(),
                    outcome.p50.as_secs_f64() * 1e6,
                    outcome.p99.as_secs_f64() * 1e6,
                    outcome.cpu_ns.unwrap_or(f64::NAN)
                );
                results[s][p].push(outcome);
            }
        }
    }
    println!();
    println!(
        "medians over {} round(s); ratio = msgs/s ÷ raw mio's",
        options.rounds
    );
    println!(
        "server CPU = the server's own CPU time per message echoed (Linux schedstat), × mio's"
    );
    println!(
        "| scenario | peer | msgs/s | MB/s | p50 µs | p99 µs | × mio | server CPU ns/msg | CPU × mio |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (s, sc) in options.scenarios.iter().enumerate() {
        let medians: Vec<[f64; 5]> = results[s]
            .iter()
            .map(|outcomes| {
                let mut cpu: Vec<f64> = outcomes
                    .iter()
                    .map(|o| o.cpu_ns.unwrap_or(f64::NAN))
                    .collect();
                let mut rate: Vec<f64> = outcomes.iter().map(Outcome::rate).collect();
                let mut mbps: Vec<f64> = outcomes.iter().map(Outcome::mbps).collect();
                let mut p50: Vec<f64> =
                    outcomes.iter().map(|o| o.p50.as_secs_f64() * 1e6).collect();
                let mut p99: Vec<f64> =
                    outcomes.iter().map(|o| o.p99.as_secs_f64() * 1e6).collect();
                [
                    median(&mut rate),
                    median(&mut mbps),
                    median(&mut p50),
                    median(&mut p99),
                    median(&mut cpu),
                ]
            })
            .collect();
        let mio = peers
            .iter()
            .position(|(peer, _, _)| *peer == Peer::Mio)
            .map(|p| medians[p]);
        let label = format!("{} ({}×{}×{} B)", sc.name, sc.conns, sc.inflight, sc.size);
        for (p, (peer, _, _)) in peers.iter().enumerate() {
            let [rate, mbps, p50, p99, cpu] = medians[p];
            let ratio = mio.map_or("-".to_string(), |m| format!("{:.2}", rate / m[0]));
            let cpu_ratio = mio
                .filter(|m| m[4].is_finite() && cpu.is_finite())
                .map_or("-".to_string(), |m| format!("{:.2}", cpu / m[4]));
            let cpu = if cpu.is_finite() {
                format!("{cpu:.0}")
            } else {
                "-".to_string()
            };
            println!(
                "| {label} | {} | {rate:.0} | {mbps:.1} | {p50:.1} | {p99:.1} | {ratio} | {cpu} | {cpu_ratio} |",
                peer.name()
            );
        }
    }
}
