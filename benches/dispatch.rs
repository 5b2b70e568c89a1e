//! Dispatch cost in the spirit of libevent's `test/bench.c`: N socket pairs, the read end of
//! each registered; A of them active at once. Each callback reads one byte and writes one
//! byte to the next pair in the chain, until W writes; a round ends when every byte has been
//! read (A + W callbacks). The time per round should depend on A, not on N, for a loop whose
//! cost is O(ready): epoll/kqueue/IOCP, and ioloop's loop on top of them. poll and select
//! scan every registered descriptor in the kernel, so there it grows with N.
//!
//! `cargo bench --bench dispatch` (options after `--`: `--sizes 100,1000`, `--active A`,
//! `--writes W`, `--secs F` per size and backend).
//!
//! Unix: `UnixStream::pair`, with RLIMIT_NOFILE raised to its hard limit; a size the hard
//! limit cannot hold is skipped (and the largest size that fits is measured instead).
//! Windows: TCP pairs over 127.0.0.1, at most a few thousand.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;
use ioloop::{Context, Dispatcher, EventLoop};

#[cfg(unix)]
type Stream = std::os::unix::net::UnixStream;
#[cfg(windows)]
type Stream = std::net::TcpStream;

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

/// The most pairs this process may open, after raising the soft descriptor limit.
#[cfg(unix)]
fn max_pairs() -> (usize, String) {
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
    (usable.saturating_sub(100) / 2, note)
}

#[cfg(windows)]
fn max_pairs() -> (usize, String) {
    (
        3_000,
        "Windows: TCP pairs, at most 3 000 (ephemeral ports)".to_string(),
    )
}

struct Chain {
    readers: Vec<Stream>,
    writers: Vec<Stream>,
}

impl Chain {
    fn new(n: usize) -> io::Result<Chain> {
        let mut listener = None;
        let mut readers = Vec::with_capacity(n);
        let mut writers = Vec::with_capacity(n);
        for _ in 0..n {
            let (reader, writer) = pair(&mut listener)?;
            reader.set_nonblocking(true)?;
            readers.push(reader);
            writers.push(writer);
        }
        Ok(Chain { readers, writers })
    }
}

/// Seeds a round: one byte into each of `active` pairs spread over the chain.
fn seed(writers: &[Stream], active: usize) -> io::Result<()> {
    let space = writers.len() / active;
    for i in 0..active {
        (&writers[i * space]).write_all(b"e")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ioloop

struct State {
    writers: Vec<Stream>,
    writes_left: usize,
    fired: usize,
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
        let state = cx.state();
        state.fired += 1;
        if state.writes_left > 0 {
            state.writes_left -= 1;
            let next = (self.index + 1) % state.writers.len();
            (&state.writers[next]).write_all(b"e")?;
        }
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
                writes_left: 0,
                fired: 0,
            },
        )?;
        for (index, reader) in chain.readers.into_iter().enumerate() {
            event_loop.spawn(reader, Reader { index })?;
        }
        Ok(IoloopBench { event_loop })
    }

    fn round(&mut self, active: usize, writes: usize) -> io::Result<Duration> {
        let start = Instant::now();
        {
            let state = self.event_loop.state_mut();
            state.writes_left = writes;
            state.fired = 0;
            seed(&state.writers, active)?;
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
        Ok(start.elapsed())
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
        for (index, reader) in chain.readers.iter().enumerate() {
            // SAFETY: every reader is deleted from the poller (Drop below) before it closes.
            unsafe {
                poller.add_with_mode(
                    reader,
                    polling::Event::readable(index),
                    polling::PollMode::Level,
                )?;
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
        seed(&self.chain.writers, active)?;
        let goal = active + writes;
        let (mut fired, mut writes_left) = (0, writes);
        let mut iterations = 0;
        let n = self.chain.readers.len();
        while fired < goal {
            iterations += 1;
            if iterations > 10 * goal + 1000 {
                return Err(io::Error::other("the round does not finish"));
            }
            self.events.clear();
            self.poller
                .wait(&mut self.events, Some(Duration::from_secs(5)))?;
            for event in self.events.iter() {
                let mut byte = [0u8; 1];
                match (&self.chain.readers[event.key]).read(&mut byte) {
                    Ok(1) => {}
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
                fired += 1;
                if writes_left > 0 {
                    writes_left -= 1;
                    (&self.chain.writers[(event.key + 1) % n]).write_all(b"e")?;
                }
            }
        }
        Ok(start.elapsed())
    }
}

impl Drop for PollingBench {
    fn drop(&mut self) {
        for reader in &self.chain.readers {
            let _ = self.poller.delete(reader);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The driver.

struct Options {
    sizes: Vec<usize>,
    active: usize,
    writes: usize,
    secs: f64,
}

fn parse_options() -> Options {
    let mut options = Options {
        sizes: vec![100, 1_000, 10_000, 50_000],
        active: 100,
        writes: 10_000,
        secs: 1.0,
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
            _ => {} // cargo bench's own arguments
        }
    }
    options.active = options.active.max(1);
    options.writes = options.writes.min(10_000_000);
    options.secs = options.secs.clamp(0.05, 30.0);
    options
}

/// Median time per round over at least 5 and at most 50 rounds, about `secs` in all.
fn measure(mut round: impl FnMut() -> io::Result<Duration>, secs: f64) -> io::Result<Duration> {
    round()?; // warm-up
    let budget = Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut times = Vec::new();
    while times.len() < 5 || (times.len() < 50 && started.elapsed() < budget) {
        times.push(round()?);
    }
    times.sort_unstable();
    Ok(times[times.len() / 2])
}

fn main() -> io::Result<()> {
    let options = parse_options();
    let (max_pairs, note) = max_pairs();
    println!(
        "dispatch: A = {} active, W = {} writes per round; {note}",
        options.active, options.writes
    );
    let mut sizes = Vec::new();
    for &n in &options.sizes {
        if n < options.active {
            println!("N = {n}: skipped (fewer pairs than active ones)");
        } else if n > max_pairs {
            println!(
                "N = {n}: skipped ({} descriptors needed, the limit holds {max_pairs} pairs)",
                2 * n
            );
        } else {
            sizes.push(n);
        }
    }
    if sizes.len() < options.sizes.len() {
        // The largest size the limit holds, in steps of 500.
        let fit = max_pairs / 500 * 500;
        if fit >= options.active && sizes.last().is_none_or(|&n| n < fit) {
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
    let mut table: Vec<Vec<Duration>> = vec![Vec::new(); backends.len()];
    for &n in &sizes {
        for (b, (name, kind)) in backends.iter().enumerate() {
            let chain = Chain::new(n)?;
            let per_round = match kind {
                None => {
                    let mut bench = PollingBench::new(chain)?;
                    measure(|| bench.round(options.active, options.writes), options.secs)?
                }
                Some(kind) => {
                    let mut bench = IoloopBench::new(*kind, chain)?;
                    measure(|| bench.round(options.active, options.writes), options.secs)?
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
        "median µs per round (× the same backend at N = {})",
        sizes.first().copied().unwrap_or(0)
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
        for time in &table[b] {
            let ratio = base.map_or(1.0, |base| time.as_secs_f64() / base.as_secs_f64());
            row.push_str(&format!(" {:.0} (×{ratio:.2}) |", time.as_secs_f64() * 1e6));
        }
        println!("{row}");
    }
    Ok(())
}
