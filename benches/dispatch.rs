//! Dispatch cost in the spirit of libevent's `test/bench.c`: N channels registered, A of
//! them active at once. Each callback reads one byte and writes one byte to the next pair in
//! its chain, until W writes; a round ends when every byte has been read (A + W callbacks).
//!
//! Two chains (`--chain all,active`, both by default):
//! - `all`, libevent's: N socket pairs, and the byte goes to the next of all N, so the A
//!   bytes travel over every pair. At large N each write lands on a socket that is cold in
//!   the CPU caches, so even raw epoll slows down with N: this mode measures the kernel.
//! - `active`: the byte goes to the next of the A active pairs; the other N − A channels
//!   are registered and never ready (one descriptor each: an unbound Unix datagram socket,
//!   a UDP socket on Windows), like the idle connections of a server. For a loop whose
//!   cost is O(ready) (epoll/kqueue/IOCP, and ioloop's loop on top of them) the time per
//!   round must not depend on N here. poll and select scan every registered descriptor in
//!   the kernel, so there it grows with N in both modes.
//!
//! Every backend runs next to raw `polling` in level mode, on the same chain.
//!
//! `cargo bench --bench dispatch` (options after `--`: `--sizes 100,1000`, `--active A`,
//! `--writes W`, `--chain all,active`, `--backends polling,epoll,poll,select`, `--secs F`
//! per size and backend, or `--rounds R` measured rounds after one warm-up).
//!
//! `DISPATCH_TIMEOUTS=1` gives every channel loop-owned deadlines (idle 60 s, message 10 s,
//! drain 30 s; none expires), and each read reports the message state as the chat layer
//! does: the cost of deadlines per event, against a run without.
//!
//! Unix: `UnixStream::pair`, with RLIMIT_NOFILE raised to its hard limit; a size the hard
//! limit cannot hold is skipped (and the largest size that fits is measured instead).
//! Windows: TCP pairs over 127.0.0.1, at most a few thousand.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;
use ioloop::{Context, Dispatcher, EventLoop, Timeouts};

#[cfg(unix)]
type Stream = std::os::unix::net::UnixStream;
#[cfg(windows)]
type Stream = std::net::TcpStream;

/// A registered source that is never ready to read.
#[cfg(unix)]
type Idle = std::os::unix::net::UnixDatagram;
#[cfg(windows)]
type Idle = std::net::UdpSocket;

#[cfg(unix)]
fn idle_source() -> io::Result<Idle> {
    Idle::unbound()
}

#[cfg(windows)]
fn idle_source() -> io::Result<Idle> {
    Idle::bind("127.0.0.1:0")
}

#[cfg(unix)]
fn pair(_listener: &mut Option<std::net::TcpListener>) -> io::Result<(Stream, Stream)> {
    Stream::pair()
}

#[cfg(windows)]
fn pair(listener: &mut Option<std::net::TcpListener>) -> io::Result<(Stream, Stream)> {
    if listener.is_none() {
        *listener = Some(std::net::TcpListener::bind("127.0.0.1:0")?);
    }
    let listener = listener.as_ref().expect("bound above");
    let writer = Stream::connect(listener.local_addr()?)?;
    let (reader, _) = listener.accept()?;
    writer.set_nodelay(true)?;
    Ok((reader, writer))
}

/// The descriptors this process may open for the chain, after raising the soft limit.
#[cfg(unix)]
fn max_descriptors() -> (usize, String) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum;
    let raised = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: hard,
            maximum: hard,
        },
    );
    let soft = getrlimit(Resource::Nofile).current;
    let usable = soft.map_or(usize::MAX, |s| s as usize);
    let note = format!(
        "RLIMIT_NOFILE: soft {} (raise to hard: {}), hard {}",
        soft.map_or("unlimited".to_string(), |s| s.to_string()),
        if raised.is_ok() { "ok" } else { "refused" },
        hard.map_or("unlimited".to_string(), |h| h.to_string())
    );
    (usable.saturating_sub(100), note)
}

#[cfg(windows)]
fn max_descriptors() -> (usize, String) {
    (
        6_000,
        "Windows: TCP pairs, at most 3 000 (ephemeral ports)".to_string(),
    )
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    All,
    Active,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::All => "all",
            Mode::Active => "active",
        }
    }

    /// Descriptors a chain of `n` channels with `active` bytes needs.
    fn descriptors(self, n: usize, active: usize) -> usize {
        match self {
            Mode::All => 2 * n,
            Mode::Active => n + active,
        }
    }
}

/// A channel to register: the read end of pair `k`, or an idle source.
enum Member {
    Reader(usize, Stream),
    Idle(Idle),
}

struct Chain {
    /// In registration order; the active ones spread evenly among the idle ones.
    members: Vec<Member>,
    /// The write end of each pair.
    writers: Vec<Stream>,
    /// `next[k]`: the pair that pair `k`'s callback writes to.
    next: Vec<usize>,
    /// The pairs seeded with a byte at the start of each round.
    seeds: Vec<usize>,
}

impl Chain {
    fn new(mode: Mode, n: usize, active: usize) -> io::Result<Chain> {
        let space = n / active;
        let pairs = match mode {
            Mode::All => n,
            Mode::Active => active,
        };
        let mut listener = None;
        let mut members = Vec::with_capacity(n);
        let mut writers = Vec::with_capacity(pairs);
        for i in 0..n {
            let is_pair = match mode {
                Mode::All => true,
                Mode::Active => i % space == 0 && writers.len() < active,
            };
            if is_pair {
                let (reader, writer) = pair(&mut listener)?;
                reader.set_nonblocking(true)?;
                members.push(Member::Reader(writers.len(), reader));
                writers.push(writer);
            } else {
                members.push(Member::Idle(idle_source()?));
            }
        }
        let next = (0..pairs).map(|k| (k + 1) % pairs).collect();
        let seeds = match mode {
            Mode::All => (0..active).map(|i| i * space).collect(),
            Mode::Active => (0..active).collect(),
        };
        Ok(Chain {
            members,
            writers,
            next,
            seeds,
        })
    }

    /// Seeds a round: one byte into each seeded pair.
    fn seed(&self) -> io::Result<()> {
        for &k in &self.seeds {
            (&self.writers[k]).write_all(b"e")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// ioloop

struct State {
    writers: Vec<Stream>,
    next: Vec<usize>,
    seeds: Vec<usize>,
    writes_left: usize,
    fired: usize,
    /// Idle channels that were called: must stay 0.
    unexpected: usize,
}

struct Reader {
    index: usize,
}

impl Dispatcher<State> for Reader {
    fn handle_read(&mut self, cx: &mut Context<'_, State>) -> io::Result<()> {
        let mut byte = [0u8; 1];
        if cx.recv(&mut byte)? == 0 {
            return Ok(());
        }
        cx.set_message_pending(false); // free without deadlines
        let state = cx.state();
        state.fired += 1;
        if state.writes_left > 0 {
            state.writes_left -= 1;
            (&state.writers[state.next[self.index]]).write_all(b"e")?;
        }
        Ok(())
    }
}

/// A registered channel that should never be ready.
struct Quiet;

impl Dispatcher<State> for Quiet {
    fn handle_read(&mut self, cx: &mut Context<'_, State>) -> io::Result<()> {
        cx.state().unexpected += 1;
        Ok(())
    }
}

struct IoloopBench {
    event_loop: EventLoop<State>,
}

impl IoloopBench {
    fn new(kind: SelectorKind, chain: Chain) -> io::Result<IoloopBench> {
        let mut event_loop = EventLoop::with_kind(
            kind,
            State {
                writers: chain.writers,
                next: chain.next,
                seeds: chain.seeds,
                writes_left: 0,
                fired: 0,
                unexpected: 0,
            },
        )?;
        let timeouts = match std::env::var("DISPATCH_TIMEOUTS").as_deref() {
            Ok("1") => Timeouts {
                idle: Some(Duration::from_secs(60)),
                message: Some(Duration::from_secs(10)),
                drain: Some(Duration::from_secs(30)),
                ..Timeouts::NONE
            },
            _ => Timeouts::NONE,
        };
        for member in chain.members {
            let token = match member {
                Member::Reader(index, reader) => event_loop.spawn(reader, Reader { index })?,
                Member::Idle(idle) => event_loop.spawn(idle, Quiet)?,
            };
            event_loop.set_timeouts(token, timeouts);
        }
        // New channels get their handle_opened at the next iteration: part of the set-up,
        // not of the measured rounds.
        event_loop.run_once(Some(Duration::ZERO))?;
        Ok(IoloopBench { event_loop })
    }

    fn round(&mut self, active: usize, writes: usize) -> io::Result<Duration> {
        let start = Instant::now();
        {
            let state = self.event_loop.state_mut();
            state.writes_left = writes;
            state.fired = 0;
            for &k in &state.seeds {
                (&state.writers[k]).write_all(b"e")?;
            }
        }
        let goal = active + writes;
        let mut iterations = 0;
        while self.event_loop.state().fired < goal {
            iterations += 1;
            if iterations > 10 * goal + 1000 {
                return Err(io::Error::other("the round does not finish"));
            }
            self.event_loop.run_once(Some(Duration::from_secs(5)))?;
        }
        let elapsed = start.elapsed();
        if self.event_loop.state().unexpected > 0 {
            return Err(io::Error::other("an idle channel was called"));
        }
        Ok(elapsed)
    }
}

// ---------------------------------------------------------------------------------------
// Raw polling, level-triggered: the floor under the native backend.

struct PollingBench {
    poller: polling::Poller,
    events: polling::Events,
    chain: Chain,
}

impl PollingBench {
    fn new(chain: Chain) -> io::Result<PollingBench> {
        let poller = polling::Poller::new()?;
        for (key, member) in chain.members.iter().enumerate() {
            let event = polling::Event::readable(key);
            // SAFETY: every member is deleted from the poller (Drop below) before it closes.
            unsafe {
                match member {
                    Member::Reader(_, reader) => {
                        poller.add_with_mode(reader, event, polling::PollMode::Level)?
                    }
                    Member::Idle(idle) => {
                        poller.add_with_mode(idle, event, polling::PollMode::Level)?
                    }
                }
            }
        }
        let capacity = std::num::NonZeroUsize::new(1024).expect("non-zero");
        Ok(PollingBench {
            poller,
            events: polling::Events::with_capacity(capacity),
            chain,
        })
    }

    fn round(&mut self, active: usize, writes: usize) -> io::Result<Duration> {
        let start = Instant::now();
        self.chain.seed()?;
        let goal = active + writes;
        let (mut fired, mut writes_left) = (0, writes);
        let mut iterations = 0;
        while fired < goal {
            iterations += 1;
            if iterations > 10 * goal + 1000 {
                return Err(io::Error::other("the round does not finish"));
            }
            self.events.clear();
            self.poller
                .wait(&mut self.events, Some(Duration::from_secs(5)))?;
            for event in self.events.iter() {
                let Member::Reader(k, reader) = &self.chain.members[event.key] else {
                    return Err(io::Error::other("an idle source was ready"));
                };
                let mut reader: &Stream = reader; // `Read` is implemented for `&Stream`
                let mut byte = [0u8; 1];
                match reader.read(&mut byte) {
                    Ok(1) => {}
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
                fired += 1;
                if writes_left > 0 {
                    writes_left -= 1;
                    (&self.chain.writers[self.chain.next[*k]]).write_all(b"e")?;
                }
            }
        }
        Ok(start.elapsed())
    }
}

impl Drop for PollingBench {
    fn drop(&mut self) {
        for member in &self.chain.members {
            let _ = match member {
                Member::Reader(_, reader) => self.poller.delete(reader),
                Member::Idle(idle) => self.poller.delete(idle),
            };
        }
    }
}

// ---------------------------------------------------------------------------------------
// The driver.

struct Options {
    sizes: Vec<usize>,
    active: usize,
    writes: usize,
    modes: Vec<Mode>,
    /// Backend names to run ("polling" for raw polling); empty: all.
    backends: Vec<String>,
    secs: f64,
    /// A fixed number of measured rounds (for instruction counts), instead of `secs`.
    rounds: Option<usize>,
}

fn parse_options() -> Options {
    let mut options = Options {
        sizes: vec![100, 1_000, 10_000, 50_000],
        active: 100,
        writes: 10_000,
        modes: vec![Mode::Active, Mode::All],
        backends: Vec::new(),
        secs: 1.0,
        rounds: None,
    };
    let mut args = std::env::args().skip(1);
    let die = |what: &str| -> ! {
        eprintln!("dispatch bench: {what}");
        std::process::exit(2)
    };
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| die(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--sizes" => {
                options.sizes = value()
                    .split(',')
                    .map(|n| n.parse().unwrap_or_else(|_| die("--sizes N,N,…")))
                    .collect();
            }
            "--active" => options.active = value().parse().unwrap_or_else(|_| die("--active A")),
            "--writes" => options.writes = value().parse().unwrap_or_else(|_| die("--writes W")),
            "--secs" => options.secs = value().parse().unwrap_or_else(|_| die("--secs F")),
            "--rounds" => {
                let rounds = value().parse().unwrap_or_else(|_| die("--rounds N"));
                options.rounds = Some(rounds).filter(|&n: &usize| n > 0);
            }
            "--backends" => {
                options.backends = value().split(',').map(str::to_string).collect();
            }
            "--chain" => {
                options.modes = value()
                    .split(',')
                    .map(|name| match name {
                        "all" => Mode::All,
                        "active" => Mode::Active,
                        _ => die("--chain all,active"),
                    })
                    .collect();
            }
            _ => {} // cargo bench's own arguments
        }
    }
    options.active = options.active.max(1);
    options.writes = options.writes.min(10_000_000);
    options.secs = options.secs.clamp(0.05, 30.0);
    options
}

/// Median time per round: over `rounds` rounds if given, else at least 5 and at most 50,
/// about `secs` in all; after one warm-up round.
fn measure(
    mut round: impl FnMut() -> io::Result<Duration>,
    secs: f64,
    rounds: Option<usize>,
) -> io::Result<Duration> {
    round()?; // warm-up
    let budget = Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut times = Vec::new();
    let more = |done: usize| match rounds {
        Some(rounds) => done < rounds,
        None => done < 5 || (done < 50 && started.elapsed() < budget),
    };
    while more(times.len()) {
        times.push(round()?);
    }
    times.sort_unstable();
    Ok(times[times.len() / 2])
}

fn main() -> io::Result<()> {
    let options = parse_options();
    let (max_descriptors, note) = max_descriptors();
    println!(
        "dispatch: A = {} active, W = {} writes per round; {note}",
        options.active, options.writes
    );
    for &mode in &options.modes {
        run_mode(&options, mode, max_descriptors)?;
    }
    Ok(())
}

fn run_mode(options: &Options, mode: Mode, max_descriptors: usize) -> io::Result<()> {
    let active = options.active;
    println!();
    println!("chain: {}", mode.name());
    let mut sizes = Vec::new();
    for &n in &options.sizes {
        let needed = mode.descriptors(n, active);
        if n < active {
            println!("N = {n}: skipped (fewer channels than active ones)");
        } else if needed > max_descriptors {
            println!("N = {n}: skipped ({needed} descriptors needed, {max_descriptors} available)");
        } else {
            sizes.push(n);
        }
    }
    if sizes.len() < options.sizes.len() {
        // The largest size the limit holds, in steps of 500.
        let fit = (1..)
            .map(|steps| steps * 500)
            .take_while(|&n| mode.descriptors(n, active) <= max_descriptors)
            .last()
            .unwrap_or(0);
        if fit >= active && sizes.last().is_none_or(|&n| n < fit) {
            println!("N = {fit}: added, the largest that fits");
            sizes.push(fit);
        }
    }
    let mut backends: Vec<(String, Option<SelectorKind>)> =
        vec![("polling (raw, level)".to_string(), None)];
    backends.extend(
        SelectorKind::available()
            .into_iter()
            .map(|kind| (format!("ioloop-{}", kind.name()), Some(kind))),
    );
    if !options.backends.is_empty() {
        backends.retain(|(_, kind)| {
            let name = kind.map_or("polling", |kind| kind.name());
            options.backends.iter().any(|wanted| wanted == name)
        });
    }
    let mut table: Vec<Vec<Duration>> = vec![Vec::new(); backends.len()];
    for &n in &sizes {
        for (b, (name, kind)) in backends.iter().enumerate() {
            let chain = Chain::new(mode, n, active)?;
            let per_round = match kind {
                None => {
                    let mut bench = PollingBench::new(chain)?;
                    measure(
                        || bench.round(active, options.writes),
                        options.secs,
                        options.rounds,
                    )?
                }
                Some(kind) => {
                    let mut bench = IoloopBench::new(*kind, chain)?;
                    measure(
                        || bench.round(active, options.writes),
                        options.secs,
                        options.rounds,
                    )?
                }
            };
            println!(
                "N = {n:>6} {name:<22} {:>10.1} µs per round",
                per_round.as_secs_f64() * 1e6
            );
            table[b].push(per_round);
        }
    }
    println!();
    println!(
        "chain {}: median µs per round (× the same backend at N = {}; × {} at the same N)",
        mode.name(),
        sizes.first().copied().unwrap_or(0),
        backends.first().map_or("-", |(name, _)| name.as_str())
    );
    let mut header = "| backend |".to_string();
    let mut rule = "|---|".to_string();
    for n in &sizes {
        header.push_str(&format!(" N = {n} |"));
        rule.push_str("---:|");
    }
    println!("{header}");
    println!("{rule}");
    for (b, (name, _)) in backends.iter().enumerate() {
        let mut row = format!("| {name} |");
        let base = table[b].first().copied();
        for (i, time) in table[b].iter().enumerate() {
            let ratio = base.map_or(1.0, |base| time.as_secs_f64() / base.as_secs_f64());
            let first = time.as_secs_f64() / table[0][i].as_secs_f64();
            row.push_str(&format!(
                " {:.0} (×{ratio:.2}; {first:.2}×) |",
                time.as_secs_f64() * 1e6
            ));
        }
        println!("{row}");
    }
    Ok(())
}
