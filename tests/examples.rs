//! The example programs, driven over real loopback sockets: the echo servers (asyncore's and
//! the selectors-only one) on every backend, the echo client against them, and the command
//! line's errors.
//!
//! The binaries are found next to this test's (`target/<profile>/examples/`): `cargo test`
//! builds the examples before it runs integration tests. When only this test is built
//! (`cargo test --test examples`), build them first with `cargo build --examples`.

mod loop_util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;

use loop_util::{LIMIT, for_each_kind, pattern};

/// The echo test's payload, split over [`CONNECTIONS`].
const TOTAL: usize = 1024 * 1024;
const CONNECTIONS: usize = 5;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let deps = exe.parent().expect("target/<profile>/deps");
    let profile = deps.parent().expect("target/<profile>");
    let path = profile
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --examples` (plain `cargo test` builds it)",
        path.display()
    );
    path
}

/// A running example server and the address it announced.
struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl Server {
    fn start(name: &str, kind: SelectorKind) -> Server {
        let mut child = Command::new(example(name))
            .args(["--addr", "127.0.0.1:0", "--selector", kind.name()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        // Read the announcement on a thread, so a silent server fails the test in time.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let read = stdout.read_line(&mut line);
            let _ = tx.send((read.map(|_| line), stdout));
        });
        let (line, stdout) = match rx.recv_timeout(LIMIT) {
            Ok((Ok(line), stdout)) => (line, stdout),
            Ok((Err(e), _)) => {
                let _ = child.kill();
                panic!("{name}: reading its stdout: {e}");
            }
            Err(_) => {
                let _ = child.kill();
                panic!("{name} announced nothing within {LIMIT:?}");
            }
        };
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.trim_end().parse().ok())
            .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"));
        Server {
            child,
            stdout,
            addr,
        }
    }

    /// Asks the server to stop (SIGTERM on Unix; on Windows, where a console event cannot
    /// be sent to one child, it is killed) and checks that it printed nothing more.
    fn stop(mut self) {
        #[cfg(unix)]
        {
            let pid = rustix::process::Pid::from_child(&self.child);
            rustix::process::kill_process(pid, rustix::process::Signal::TERM)
                .expect("send SIGTERM");
            let status = wait_within(&mut self.child, LIMIT);
            assert!(status.success(), "exit status after SIGTERM: {status}");
        }
        #[cfg(not(unix))]
        {
            self.child.kill().expect("kill the server");
            wait_within(&mut self.child, LIMIT);
        }
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "", "more than the one `listening on` line");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed test must not leave a server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_within(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the child did not exit within {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs a program to completion (bounded), with its output collected.
fn run_within(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the program");
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
    let status = wait_within(&mut child, limit);
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Echoes about 1 MiB over [`CONNECTIONS`] connections at once, each writing all its part
/// then shutting down its sending side, and checks every byte came back in order.
fn check_echo(addr: SocketAddr) {
    let part = TOTAL / CONNECTIONS;
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|i| {
            thread::spawn(move || {
                let payload = pattern(part + i, i as u8);
                let mut stream = TcpStream::connect_timeout(&addr, LIMIT).expect("connect");
                stream.set_read_timeout(Some(LIMIT)).unwrap();
                stream.set_write_timeout(Some(LIMIT)).unwrap();
                let mut writing = stream.try_clone().unwrap();
                let sent = payload.clone();
                let writer = thread::spawn(move || {
                    writing.write_all(&sent).expect("write the payload");
                    writing
                        .shutdown(Shutdown::Write)
                        .expect("shut down writing");
                });
                let mut echoed = Vec::with_capacity(payload.len());
                stream
                    .read_to_end(&mut echoed)
                    .expect("read the echo to end of file");
                writer.join().unwrap();
                assert_eq!(echoed.len(), payload.len(), "connection {i}: length");
                assert!(echoed == payload, "connection {i}: the bytes differ");
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("an echo connection");
    }
}

fn check_echo_client(addr: SocketAddr, kind: SelectorKind) {
    let output = run_within(
        Command::new(example("echo_client")).args([
            "--addr",
            &addr.to_string(),
            "--selector",
            kind.name(),
            "--message",
            "hi",
            "--count",
            "3",
        ]),
        LIMIT,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "echo_client: {}; stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, ["hi", "hi", "hi"]);
}

#[test]
fn echo_server_echoes_a_mebibyte_over_five_connections_and_serves_echo_client() {
    for_each_kind(|kind| {
        let server = Server::start("echo_server", kind);
        check_echo(server.addr);
        check_echo_client(server.addr, kind);
        server.stop();
    });
}

#[test]
fn selector_callbacks_echoes_a_mebibyte_over_five_connections_and_serves_echo_client() {
    for_each_kind(|kind| {
        let server = Server::start("selector_callbacks", kind);
        check_echo(server.addr);
        check_echo_client(server.addr, kind);
        server.stop();
    });
}

/// A selector this platform lacks.
fn unavailable_kind() -> SelectorKind {
    ["epoll", "kqueue", "iocp", "event-ports", "poll", "select"]
        .iter()
        .map(|name| name.parse::<SelectorKind>().expect("a kind's name"))
        .find(|kind| !kind.is_available())
        .expect("no platform has every selector")
}

#[test]
fn an_unavailable_selector_exits_2_naming_the_available_ones() {
    let missing = unavailable_kind();
    for name in ["echo_server", "selector_callbacks", "echo_client"] {
        let output = run_within(
            Command::new(example(name)).args([
                "--addr",
                "127.0.0.1:0",
                "--selector",
                missing.name(),
            ]),
            LIMIT,
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(missing.name()), "{name}: {stderr}");
        for kind in SelectorKind::available() {
            assert!(
                stderr.contains(kind.name()),
                "{name} does not name {kind}: {stderr}"
            );
        }
        assert!(output.stdout.is_empty(), "{name} printed to stdout");
    }
}

#[test]
fn a_malformed_address_exits_2() {
    for name in ["echo_server", "selector_callbacks", "echo_client"] {
        let output = run_within(
            Command::new(example(name)).args(["--addr", "nonsense"]),
            LIMIT,
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("nonsense"), "{name}: {stderr}");
        assert!(output.stdout.is_empty(), "{name} printed to stdout");
    }
}
