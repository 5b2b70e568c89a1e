//! The example-server tests' own helpers: find an example's binary, start it with
//! `--selector KIND`, read its `listening on IP:PORT` line, connect with timeouts, and stop
//! it with SIGTERM (Unix) checking that it exits with status 0 and printed nothing more.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;

/// Read and write timeout of every test connection: a broken server fails a test instead of
/// hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a server may take to print its `listening on` line (a cold start on a loaded
/// machine included).
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a server may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The path of example `name`'s binary, next to this test binary:
/// `target/<profile>/deps/<test>` → `target/<profile>/examples/<name>`. Plain `cargo test`
/// builds the examples before it runs the tests; `cargo test --test NAME` does not, so build
/// them first with `cargo build --examples` when running one test file.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the test binary's directory");
    let profile_dir = deps.parent().expect("the profile directory");
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is missing: build it with `cargo build --examples` (plain `cargo test` builds the examples)",
        binary.display()
    );
    binary
}

/// Runs `command` to its end with `input` on its stdin (then end of file) and its output
/// collected; past `limit` it is killed and the test fails.
pub fn run_within(command: &mut Command, input: &[u8], limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input); // dropped at the end: end of file
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut data = Vec::new();
        let _ = stdout.read_to_end(&mut data);
        data
    });
    let err = thread::spawn(move || {
        let mut data = Vec::new();
        let _ = stderr.read_to_end(&mut data);
        data
    });
    let status = wait_within(&mut child, &format!("{command:?}"), limit);
    writer.join().unwrap();
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Waits for `child` (named `what` in failures) to exit, at most `limit`; past that, kills
/// it and fails.
pub fn wait_within(child: &mut Child, what: &str, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not exit within {limit:?}");
            }
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
}

/// A running example server, killed on drop if a test failed before stopping it.
pub struct Server {
    name: String,
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Collects whatever the server prints after its `listening on` line.
    stdout_rest: Option<JoinHandle<Vec<String>>>,
}

impl Server {
    /// Starts example `name` with `--selector KIND` and `extra` arguments, and waits for its
    /// `listening on IP:PORT` line.
    pub fn start(name: &str, kind: SelectorKind, extra: &[&str]) -> Server {
        let binary = example_binary(name);
        let spawn = || {
            Command::new(&binary)
                .args(["--addr", "127.0.0.1:0", "--selector", kind.name()])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
        };
        // Wine, loaded by many tests at once, sometimes fails a process creation with
        // ERROR_INTERNAL_ERROR (1359): try again, a few times, before failing the test.
        let mut attempts = 0;
        let mut child = loop {
            match spawn() {
                Ok(child) => break child,
                Err(e) if e.raw_os_error() == Some(1359) && cfg!(windows) && attempts < 3 => {
                    attempts += 1;
                    thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("starting {}: {e}", binary.display()),
            }
        };
        let stdout = child.stdout.take().expect("the child's stdout");
        let (first_tx, first_rx) = mpsc::channel();
        let reader = thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first_tx.send(lines.next());
            // The contract is one line; keep what else comes, to check at the end. The
            // loop ends when the server exits (its end of the pipe closes).
            lines.map_while(Result::ok).collect::<Vec<String>>()
        });
        let mut server = Server {
            name: name.to_string(),
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stdout_rest: Some(reader),
        };
        let line = match first_rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(other) => panic!("{name}: no `listening on` line, got {other:?}"),
            Err(e) => panic!("{name}: no `listening on` line within {START_TIMEOUT:?}: {e}"),
        };
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{name}: first line {line:?} is not `listening on IP:PORT`"));
        server.addr = addr
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {addr:?} is not IP:PORT: {e}"));
        assert!(server.addr.ip().is_loopback(), "{name} listens on {addr}");
        assert_ne!(server.addr.port(), 0, "{name} printed port 0");
        server
    }

    /// The server's process id (to read its descriptors and memory under /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A connection to the server with [`IO_TIMEOUT`] read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connecting to {} at {}: {e}", self.name, self.addr));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// Stops the server (SIGTERM on Unix) and checks it exits with status 0 having printed
    /// nothing after its `listening on` line.
    pub fn stop(mut self) {
        let status = self.terminate();
        if cfg!(unix) {
            assert!(
                status.success(),
                "{} exited with {status} after SIGTERM",
                self.name
            );
        }
        self.expect_nothing_more_printed();
    }

    /// Sends `signal` to the server and returns at once (Unix).
    #[cfg(unix)]
    pub fn send_signal(&self, signal: rustix::process::Signal) {
        use rustix::process::{Pid, kill_process};
        kill_process(Pid::from_child(&self.child), signal)
            .unwrap_or_else(|e| panic!("{signal:?} to {}: {e}", self.name));
    }

    /// Waits for the server to exit by itself (after a signal it was sent) and checks that
    /// it exits with status 0 having printed nothing after its `listening on` line.
    pub fn expect_exit_success(mut self) {
        let status = wait_within(&mut self.child, &self.name, STOP_TIMEOUT);
        assert!(status.success(), "{} exited with {status}", self.name);
        self.expect_nothing_more_printed();
    }

    /// Checks that the server, now exited, printed nothing after its `listening on` line.
    fn expect_nothing_more_printed(&mut self) {
        if let Some(reader) = self.stdout_rest.take() {
            let rest = reader.join().expect("the stdout reader");
            assert!(
                rest.is_empty(),
                "{} printed more than its one line: {rest:?}",
                self.name
            );
        }
    }

    #[cfg(unix)]
    fn terminate(&mut self) -> ExitStatus {
        use rustix::process::{Pid, Signal, kill_process};
        kill_process(Pid::from_child(&self.child), Signal::TERM)
            .unwrap_or_else(|e| panic!("SIGTERM to {}: {e}", self.name));
        wait_within(&mut self.child, &self.name, STOP_TIMEOUT)
    }

    #[cfg(not(unix))]
    fn terminate(&mut self) -> ExitStatus {
        self.child
            .kill()
            .unwrap_or_else(|e| panic!("killing {}: {e}", self.name));
        wait_within(&mut self.child, &self.name, STOP_TIMEOUT)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
