//! What every example server shares: the command line (`--addr`, `--selector`), the one
//! `listening on IP:PORT` line, a clean exit on SIGINT/SIGTERM (Ctrl-C on Windows), and the
//! log on stderr (`RUST_LOG`).
//!
//! Each example includes this file with `#[path = "common/mod.rs"] mod common;`.
//!
//! The TLS options of the servers (`--tls-cert`, `--tls-key`) are read here too
//! ([`tls_server_config`]), with the few calls that differ with and without the `tls`
//! feature ([`spawn_maybe_tls`], [`start_tls`]), so that each example has no `cfg` of its own.

#![allow(dead_code)] // each example uses its own part

use std::io::Write;
use std::net::SocketAddr;
use std::process;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ioloop::ListenerLimits;
use ioloop::selector::{SELECTOR_ENV, SelectorKind, Waker};
use ioloop::{EventLoop, Signal};

/// The options every example server takes.
#[derive(Debug)]
pub struct Args {
    /// Where to listen (`--addr`, default `127.0.0.1:0`: a free port, printed at start).
    pub addr: SocketAddr,
    /// The selector backend (`--selector`, default `auto`: `IOLOOP_SELECTOR` if it is set,
    /// else the platform's best).
    pub selector: SelectorKind,
    /// Options this example reads itself (`--name value` pairs).
    pub extra: Vec<(String, String)>,
}

impl Args {
    /// The value of an example-specific option.
    pub fn extra(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A time limit in seconds (`--name 2.5`); `0` turns it off. Exits with status 2 on a
    /// value that is not a number of seconds.
    pub fn seconds(&self, name: &str, default: Option<Duration>) -> Option<Duration> {
        let Some(value) = self.extra(name) else {
            return default;
        };
        match value
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        {
            Some(limit) if limit.is_zero() => None,
            Some(limit) => Some(limit),
            None => bad_option(name, "takes a number of seconds (0: no limit)"),
        }
    }

    /// A positive count (`--name 100`). Exits with status 2 on anything else.
    pub fn count(&self, name: &str, default: usize) -> usize {
        match self.extra(name).map(str::parse::<usize>) {
            None => default,
            Some(Ok(count)) if count > 0 => count,
            Some(_) => bad_option(name, "takes a positive number"),
        }
    }
}

fn bad_option(name: &str, what: &str) -> ! {
    let program = std::env::args().next().unwrap_or_default();
    eprintln!("{program}: --{name} {what}");
    process::exit(2);
}

/// An option of one example: `--NAME VALUE`, and what `--help` says of it (its default
/// included).
pub struct Opt {
    pub name: &'static str,
    pub value: &'static str,
    pub help: &'static str,
}

/// The connection cap every example server takes (`--max-connections`).
pub const MAX_CONNECTIONS: Opt = opt(
    "max-connections",
    "N",
    "serve at most N connections at once; more wait in the listen backlog (default 1000)",
);

/// The listener's limits the command line asks for ([`MAX_CONNECTIONS`]).
pub fn listener_limits(args: &Args) -> ListenerLimits {
    ListenerLimits {
        max_connections: Some(args.count("max-connections", 1000)),
        ..ListenerLimits::default()
    }
}

/// Shorthand for an [`Opt`].
pub const fn opt(name: &'static str, value: &'static str, help: &'static str) -> Opt {
    Opt { name, value, help }
}

/// Parses the command line; prints the problem and exits with status 2 on bad input.
/// `extra` lists the example's own `--name` options (each takes a value); `--help` lists
/// them with their help.
pub fn parse_args(about: &str, extra: &[Opt]) -> Args {
    let names: Vec<&str> = extra.iter().map(|opt| opt.name).collect();
    match try_parse(std::env::args().skip(1), &names) {
        Ok(args) => args,
        Err(message) => {
            let program = std::env::args().next().unwrap_or_default();
            eprintln!("{program}: {message}");
            eprintln!(
                "usage: {program} [--addr HOST:PORT] [--selector auto|{}]{}",
                kinds(),
                extra_usage(extra)
            );
            eprintln!(
                "--selector auto (the default) takes {SELECTOR_ENV} when it is set, else {}",
                SelectorKind::best()
            );
            for opt in extra {
                eprintln!("--{} {}: {}", opt.name, opt.value, opt.help);
            }
            eprintln!("{about}");
            process::exit(2);
        }
    }
}

fn kinds() -> String {
    let names: Vec<&str> = SelectorKind::available()
        .iter()
        .map(|kind| kind.name())
        .collect();
    names.join("|")
}

fn extra_usage(extra: &[Opt]) -> String {
    let mut usage = String::new();
    for opt in extra {
        usage.push_str(&format!(" [--{} {}]", opt.name, opt.value));
    }
    usage
}

fn try_parse(mut argv: impl Iterator<Item = String>, extra: &[&str]) -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        selector: SelectorKind::best(),
        extra: Vec::new(),
    };
    let mut selector = String::from("auto");
    while let Some(flag) = argv.next() {
        if flag == "-h" || flag == "--help" {
            return Err("help requested".into());
        }
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (flag.clone(), None),
        };
        let Some(name) = name.strip_prefix("--") else {
            return Err(format!("unexpected argument {flag:?}"));
        };
        let value = match inline.or_else(|| argv.next()) {
            Some(value) => value,
            None => return Err(format!("--{name} needs a value")),
        };
        match name {
            "addr" => {
                args.addr = value.parse().map_err(|e| {
                    format!("--addr {value:?}: {e} (expected IP:PORT, e.g. 127.0.0.1:7000)")
                })?
            }
            "selector" => selector = value,
            other if extra.contains(&other) => args.extra.push((other.to_string(), value)),
            other => return Err(format!("unknown option --{other}")),
        }
    }
    args.selector = choose_selector(&selector)?;
    Ok(args)
}

/// `auto` is the library's own default, `SelectorKind::from_env`: the kind `IOLOOP_SELECTOR`
/// names (an unknown or unavailable one is an error, not silently replaced), else the best.
/// Any other name is that kind, whatever the variable says.
fn choose_selector(name: &str) -> Result<SelectorKind, String> {
    let name = name.trim();
    if name.is_empty() || name.eq_ignore_ascii_case("auto") {
        SelectorKind::from_env().map_err(|e| format!("--selector auto: {e}"))
    } else {
        SelectorKind::choose(name).map_err(|e| format!("--selector: {e}"))
    }
}

/// Prints the one line scripts and tests wait for, and flushes it.
pub fn announce(addr: SocketAddr) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on {addr}");
    let _ = stdout.flush();
}

/// The grace period every example server takes (`--shutdown-grace`).
pub const SHUTDOWN_GRACE: Opt = opt(
    "shutdown-grace",
    "SECS",
    "on SIGINT/SIGTERM, finish what was received for at most this long, then exit (default 10)",
);

/// Shuts the loop down gracefully on SIGINT or SIGTERM (Ctrl-C or the console closing on
/// Windows): the listener closes, every connection answers what it has received and sends
/// what is queued, then closes, within `--shutdown-grace` ([`SHUTDOWN_GRACE`]); `run` then
/// returns and the example exits 0. A second signal cuts the grace period short.
pub fn shut_down_on_signal<S: 'static>(event_loop: &mut EventLoop<S>, args: &Args) {
    let grace = args
        .seconds("shutdown-grace", Some(Duration::from_secs(10)))
        .unwrap_or(Duration::ZERO);
    let signalled = std::rc::Rc::new(std::cell::Cell::new(false));
    for signal in [Signal::Interrupt, Signal::Terminate] {
        let signalled = signalled.clone();
        let installed = event_loop.on_signal(signal, move |cx| {
            let grace = if signalled.replace(true) {
                Duration::ZERO // the second signal: no more waiting
            } else {
                grace
            };
            cx.shutdown_loop(grace);
        });
        if let Err(e) = installed {
            eprintln!("cannot install the {signal} handler: {e}");
            process::exit(1);
        }
    }
}

/// Stops the loop (its `run` returns, and the example exits 0) on SIGINT or SIGTERM: Ctrl-C
/// or the console closing on Windows. The handlers run on the loop's thread.
pub fn stop_on_signal<S: 'static>(event_loop: &mut EventLoop<S>) {
    for signal in [Signal::Interrupt, Signal::Terminate] {
        if let Err(e) = event_loop.on_signal(signal, |cx| cx.stop()) {
            eprintln!("cannot install the {signal} handler: {e}");
            process::exit(1);
        }
    }
}

/// For the example on the selector layer alone, which has no loop to take signals: sets the
/// returned flag and wakes the selector when SIGINT or SIGTERM arrives. The handler runs on a
/// thread of its own (the `ctrlc` crate's), so waking the selector there is safe.
pub fn stop_selector_on_signal(waker: Waker) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let installed = ctrlc::set_handler(move || {
        flag.store(true, Ordering::SeqCst);
        let _ = waker.wake();
    });
    if let Err(e) = installed {
        eprintln!("cannot install the SIGINT/SIGTERM handler: {e}");
        process::exit(1);
    }
    stop
}

/// Sends log records to stderr, one line each (`LEVEL target: message`), through
/// `env_logger`: `RUST_LOG` chooses what is shown, as in any Rust program (`RUST_LOG=debug`,
/// `RUST_LOG=ioloop=trace`), and `default` applies when it is unset. The library only logs;
/// printing is the program's choice.
pub fn log_to_stderr(default: log::LevelFilter) {
    let env = env_logger::Env::default().default_filter_or(default.as_str());
    let _ = env_logger::Builder::from_env(env)
        .target(env_logger::Target::Stderr)
        .format(|out, record| {
            writeln!(
                out,
                "{} {}: {}",
                record.level(),
                record.target(),
                record.args()
            )
        })
        .try_init();
}

/// The certificate option of the TLS example servers.
pub const TLS_CERT: Opt = opt(
    "tls-cert",
    "FILE",
    "the PEM certificate chain for TLS (with --tls-key; needs the tls feature)",
);

/// The key option of the TLS example servers.
pub const TLS_KEY: Opt = opt("tls-key", "FILE", "the PEM private key of --tls-cert");

/// A server's TLS configuration.
#[cfg(feature = "tls")]
pub type TlsConfig = Arc<ioloop::tls::rustls::ServerConfig>;
/// Without the `tls` feature there is no TLS configuration: [`tls_server_config`] exits
/// rather than make one, so `Option<TlsConfig>` is always `None`.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub struct TlsConfig(());

/// What a TLS call says in a build without the `tls` feature (never reached:
/// [`tls_server_config`] exits first).
#[cfg(not(feature = "tls"))]
fn no_tls() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::Unsupported, "TLS needs the tls feature")
}

/// The TLS configuration of `--tls-cert FILE --tls-key FILE` ([`TLS_CERT`], [`TLS_KEY`]),
/// `None` without them. Exits with status 2 when one comes without the other, or when the
/// example was built without the `tls` feature (saying how to build it); with status 1
/// when the files cannot be read or do not match.
pub fn tls_server_config(args: &Args) -> Option<TlsConfig> {
    let program = std::env::args().next().unwrap_or_default();
    let (cert, key) = match (args.extra("tls-cert"), args.extra("tls-key")) {
        (None, None) => return None,
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            eprintln!("{program}: --tls-cert and --tls-key go together");
            process::exit(2);
        }
    };
    #[cfg(feature = "tls")]
    {
        match ioloop::tls::server_config_from_pem(cert, key) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("{program}: TLS certificate or key: {e}");
                process::exit(1);
            }
        }
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (cert, key);
        let name = std::path::Path::new(&program)
            .file_stem()
            .map_or_else(String::new, |stem| stem.to_string_lossy().into_owned());
        eprintln!(
            "{program}: TLS needs the tls feature: cargo run --features tls --example {name} -- …"
        );
        process::exit(2);
    }
}

/// Spawns `dispatcher` for an accepted `socket`: over TLS with `tls`, in clear text without.
pub fn spawn_maybe_tls<S: 'static, D: ioloop::Dispatcher<S>>(
    cx: &mut ioloop::Context<'_, S>,
    socket: ioloop::socket2::Socket,
    tls: Option<&TlsConfig>,
    dispatcher: D,
) -> std::io::Result<ioloop::Token> {
    match tls {
        #[cfg(feature = "tls")]
        Some(config) => cx.spawn_tls(socket, config.clone(), dispatcher),
        #[cfg(not(feature = "tls"))]
        Some(_) => Err(no_tls()),
        None => cx.spawn(socket, dispatcher),
    }
}

/// STARTTLS on a chat channel, server side, once what it has queued (the go-ahead reply) is
/// sent: see `ChatChannel::start_tls_server`.
pub fn start_tls(chat: &mut ioloop::chat::ChatChannel, config: &TlsConfig) -> std::io::Result<()> {
    #[cfg(feature = "tls")]
    {
        chat.start_tls_server(config.clone())
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (chat, config);
        Err(no_tls())
    }
}
