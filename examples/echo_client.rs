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
//! Run: `cargo run --example echo_client -- --addr 127.0.0.1:7000 --message hi --count 3`.
//! Exit status 0 when every byte came back, 1 otherwise.

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
}

fn main() {
    common::log_to_stderr(log::LevelFilter::Warn);
    let args = common::parse_args(
        "An echo client on the asyncore layer.",
        &[
            common::opt("message", "TEXT", "what to send (default hello)"),
            common::opt("count", "N", "how many times (default 1)"),
        ],
    );
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
    match run(&args, payload) {
        Ok(outcome) if outcome.echoed >= outcome.expected => {}
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

fn run(args: &common::Args, payload: Vec<u8>) -> io::Result<Outcome> {
    let outcome = Outcome {
        echoed: 0,
        expected: payload.len(),
    };
    let mut event_loop = EventLoop::with_kind(args.selector, outcome)?;
    let client = Client {
        expected: payload.len(),
        unsent: payload,
        received: Vec::new(),
        printed: 0,
    };
    event_loop.connect(args.addr, client)?;
    common::stop_on_signal(&mut event_loop);
    event_loop.run()?;
    Ok(std::mem::take(event_loop.state_mut()))
}
