//! The example programs, driven over real loopback sockets: the echo servers (asyncore's and
//! the selectors-only one) on every backend, the echo client against them, and the command
//! line's errors.
//!
//! The binaries are found next to this test's (`target/<profile>/examples/`): `cargo test`
//! builds the examples before it runs integration tests. When only this test is built
//! (`cargo test --test examples`), build them first with `cargo build --examples`.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::thread;

use ioloop::selector::SelectorKind;

use common::example::{Server, example_binary, run_within};
use common::kinds::{per_kind, unavailable_kind};
use common::{LIMIT, pattern};

/// The echo test's payload, split over [`CONNECTIONS`].
const TOTAL: usize = 1024 * 1024;
const CONNECTIONS: usize = 5;

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
        Command::new(example_binary("echo_client")).args([
            "--addr",
            &addr.to_string(),
            "--selector",
            kind.name(),
            "--message",
            "hi",
            "--count",
            "3",
        ]),
        &[],
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

fn echo_server_echoes_a_mebibyte_over_five_connections_and_serves_echo_client(kind: SelectorKind) {
    let server = Server::start("echo_server", kind, &[]);
    check_echo(server.addr);
    check_echo_client(server.addr, kind);
    server.stop();
}

fn selector_callbacks_echoes_a_mebibyte_over_five_connections_and_serves_echo_client(
    kind: SelectorKind,
) {
    let server = Server::start("selector_callbacks", kind, &[]);
    check_echo(server.addr);
    check_echo_client(server.addr, kind);
    server.stop();
}

#[test]
fn an_unavailable_selector_exits_2_naming_the_available_ones() {
    let missing = unavailable_kind();
    for name in ["echo_server", "selector_callbacks", "echo_client"] {
        let output = run_within(
            Command::new(example_binary(name)).args([
                "--addr",
                "127.0.0.1:0",
                "--selector",
                missing.name(),
            ]),
            &[],
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

/// `--selector auto` (the default) takes the backend `IOLOOP_SELECTOR` names, as the
/// library's default constructors do: an unavailable one there ends the example with
/// status 2, naming the variable and the available kinds, and a server that honours the
/// variable with an available kind starts and echoes.
#[test]
fn the_default_selector_honours_ioloop_selector() {
    let missing = unavailable_kind();
    for name in ["echo_server", "selector_callbacks"] {
        let output = run_within(
            Command::new(example_binary(name))
                .args(["--addr", "127.0.0.1:0"])
                .env(ioloop::selector::SELECTOR_ENV, missing.name()),
            &[],
            LIMIT,
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("IOLOOP_SELECTOR"), "{name}: {stderr}");
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
            Command::new(example_binary(name)).args(["--addr", "nonsense"]),
            &[],
            LIMIT,
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("nonsense"), "{name}: {stderr}");
        assert!(output.stdout.is_empty(), "{name} printed to stdout");
    }
}

per_kind! {
    echo_server_echoes_a_mebibyte_over_five_connections_and_serves_echo_client,
    selector_callbacks_echoes_a_mebibyte_over_five_connections_and_serves_echo_client,
}
