//! An echo client on the asyncore layer — the seeds' `asyncore` client:
//!
//! ```python
//! class EchoClient(asyncore.dispatcher):
//!     def __init__(self, host, port, message):
//!         asyncore.dispatcher.__init__(self)
//!         self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
//!         self.connect((host, port))
//!         self.buffer = message
//!     def handle_connect(self): pass
//!     def handle_close(self): self.close()
//!     def handle_read(self): print(self.recv(8192))
//!     def writable(self): return len(self.buffer) > 0
//!     def handle_write(self):
//!         sent = self.send(self.buffer)
//!         self.buffer = self.buffer[sent:]
//! EchoClient('localhost', 8080, b'hello')
//! asyncore.loop()
//! ```
//!
//! It connects to `--addr`, sends `--message` (default `hello`) followed by a newline
//! `--count` times (default 1), prints each line it gets back, and once everything has come
//! back it closes; the loop then has no channel left and `run` returns.
//!
//! # TLS (the `tls` feature)
//!
//! | option | default | what it does |
//! |---|---|---|
//! | `--tls-ca FILE` | (clear text) | connect over TLS, trusting the certificate authorities of this PEM file and no other |
//! | `--tls-name NAME` | the IP address of `--addr` | the name the server's certificate must be valid for |
//!
//! The CA is required for TLS: the client trusts no certificate by default (the crate loads
//! no system roots), and never the test CA of `examples/tls/` unless told to with
//! `--tls-ca examples/tls/ca.pem` (its private key is public). A certificate that is
//! expired, for another name or from another CA ends the client with the reason and exit
//! status 1. Without the feature `--tls-ca` is an error (exit status 2).
//!
//! Run: `cargo run --example echo_client -- --addr 127.0.0.1:7000 --message hi --count 3`
//! (over TLS: `cargo run --features tls --example echo_client -- --addr 127.0.0.1:7000
//! --tls-ca examples/tls/ca.pem`). Exit status 0 when every byte came back, 1 otherwise, 2
//! for bad options.

#[path = "common/mod.rs"]
mod common;

use std::io::{self, Write};

use ioloop::{Context, Dispatcher, EventLoop};

struct Client {
    unsent: Vec<u8>,
    expected: usize,
    received: Vec<u8>,
    printed: usize,
}

/// The program's result, in the loop's shared state.
#[derive(Default)]
struct Outcome {
    echoed: usize,
    expected: usize,
    /// Why the connection failed (a refused certificate, a reset), if it did.
    error: Option<String>,
}

impl Client {
    fn print_lines(&mut self) {
        let mut stdout = io::stdout().lock();
        while let Some(end) = self.received[self.printed..]
            .iter()
            .position(|&b| b == b'\n')
        {
            let line = &self.received[self.printed..self.printed + end];
            let _ = writeln!(stdout, "{}", String::from_utf8_lossy(line));
            self.printed += end + 1;
        }
        let _ = stdout.flush();
    }
}

impl Dispatcher<Outcome> for Client {
    fn writable(&self) -> bool {
        !self.unsent.is_empty()
    }

    fn handle_connect(&mut self, cx: &mut Context<'_, Outcome>) -> io::Result<()> {
        log::info!("connected to {}", cx.peer_addr()?);
        Ok(())
    }

    fn handle_write(&mut self, cx: &mut Context<'_, Outcome>) -> io::Result<()> {
        let sent = cx.send(&self.unsent)?;
        self.unsent.drain(..sent);
        Ok(())
    }

    fn handle_read(&mut self, cx: &mut Context<'_, Outcome>) -> io::Result<()> {
        let mut buf = [0u8; 8192];
        let n = cx.recv(&mut buf)?;
        self.received.extend_from_slice(&buf[..n]);
        self.print_lines();
        cx.state().echoed = self.received.len();
        if self.received.len() >= self.expected {
            cx.close();
        }
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Context<'_, Outcome>) -> io::Result<()> {
        cx.close();
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Context<'_, Outcome>, error: io::Error) {
        cx.state().error = Some(error.to_string());
        cx.close();
    }
}

/// The TLS client configuration and server name of `--tls-ca` and `--tls-name`, if TLS is
/// asked for. Exits with status 2 on `--tls-name` without `--tls-ca`, or without the `tls`
/// feature.
#[cfg(feature = "tls")]
type Tls = (std::sync::Arc<ioloop::tls::rustls::ClientConfig>, String);
#[cfg(not(feature = "tls"))]
type Tls = std::convert::Infallible;

fn tls_options(args: &common::Args) -> Option<Tls> {
    let Some(ca) = args.extra("tls-ca") else {
        if args.extra("tls-name").is_some() {
            eprintln!("echo_client: --tls-name needs --tls-ca");
            std::process::exit(2);
        }
        return None;
    };
    #[cfg(feature = "tls")]
    {
        let name = args
            .extra("tls-name")
            .map_or_else(|| args.addr.ip().to_string(), str::to_string);
        match ioloop::tls::client_config_from_pem(ca) {
            Ok(config) => Some((config, name)),
            Err(e) => {
                eprintln!("echo_client: --tls-ca: {e}");
                std::process::exit(1);
            }
        }
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = ca;
        eprintln!(
            "echo_client: TLS needs the tls feature: cargo run --features tls --example echo_client -- …"
        );
        std::process::exit(2);
    }
}

fn main() {
    common::log_to_stderr(log::LevelFilter::Warn);
    let args = common::parse_args(
        "An echo client on the asyncore layer.",
        &[
            common::opt("message", "TEXT", "what to send (default hello)"),
            common::opt("count", "N", "how many times (default 1)"),
            common::opt(
                "tls-ca",
                "FILE",
                "connect over TLS, trusting the CAs of this PEM file only (the tls feature)",
            ),
            common::opt(
                "tls-name",
                "NAME",
                "the name the server's certificate must have (default: the IP of --addr)",
            ),
        ],
    );
    let tls = tls_options(&args);
    let message = args.extra("message").unwrap_or("hello").to_string();
    let count: usize = match args.extra("count").unwrap_or("1").parse() {
        Ok(count) => count,
        Err(e) => {
            eprintln!("echo_client: --count: {e}");
            std::process::exit(2);
        }
    };
    let mut payload = Vec::new();
    for _ in 0..count {
        payload.extend_from_slice(message.as_bytes());
        payload.push(b'\n');
    }
    match run(&args, payload, tls) {
        Ok(outcome) if outcome.echoed >= outcome.expected => {}
        Ok(Outcome {
            error: Some(error), ..
        }) => {
            eprintln!("echo_client: {error}");
            std::process::exit(1);
        }
        Ok(outcome) => {
            eprintln!(
                "echo_client: the server closed after {} of {} bytes",
                outcome.echoed, outcome.expected
            );
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("echo_client: {e}");
            std::process::exit(1);
        }
    }
}

fn run(args: &common::Args, payload: Vec<u8>, tls: Option<Tls>) -> io::Result<Outcome> {
    let outcome = Outcome {
        echoed: 0,
        expected: payload.len(),
        error: None,
    };
    let mut event_loop = EventLoop::with_kind(args.selector, outcome)?;
    let client = Client {
        expected: payload.len(),
        unsent: payload,
        received: Vec::new(),
        printed: 0,
    };
    match tls {
        // handle_connect (and so the first send) waits for the handshake: the payload goes
        // to a verified server only.
        #[cfg(feature = "tls")]
        Some((config, name)) => event_loop.connect_tls(args.addr, &name, config, client)?,
        #[cfg(not(feature = "tls"))]
        Some(never) => match never {},
        None => event_loop.connect(args.addr, client)?,
    };
    common::stop_on_signal(&mut event_loop);
    event_loop.run()?;
    Ok(std::mem::take(event_loop.state_mut()))
}
