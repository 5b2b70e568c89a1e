//! Nothing fails silently: in a program that installed no logger, the default
//! `Dispatcher::handle_error` writes its report to stderr, one line; so does the default
//! `handle_read`'s warning about unread data, once per channel; and
//! `ioloop::set_stderr_fallback(false)` silences them.
//!
//! Whether a logger is installed is a property of the whole process, so each check runs in
//! a child process: this binary runs itself again with `IOLOOP_NO_LOGGER_CHILD=KIND` and
//! `IOLOOP_NO_LOGGER_SCENARIO=NAME`, the child runs a small loop until no channel is left
//! (a refused connect, or a peer whose bytes nobody reads), with a dispatcher keeping the
//! defaults, and the parent reads what the child printed. No harness (`harness = false` in
//! Cargo.toml): `main` decides which of the two it is.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use ioloop::selector::SelectorKind;
use ioloop::{Dispatcher, EventLoop};

use common::LIMIT;
use common::example::wait_within;
use common::kinds::run_without_harness;
use common::net::{send, tcp_pair, unused_addr};

/// The variable that makes this binary the child, naming the selector kind to use.
const CHILD: &str = "IOLOOP_NO_LOGGER_CHILD";

/// The variable naming what the child does: [`REFUSED`], [`UNREAD`] or [`SILENCED`].
const SCENARIO: &str = "IOLOOP_NO_LOGGER_SCENARIO";

/// A connect to a port nothing listens on.
const REFUSED: &str = "refused";

/// A peer that sends three messages nobody reads, then closes.
const UNREAD: &str = "unread";

/// [`REFUSED`] after `ioloop::set_stderr_fallback(false)`.
const SILENCED: &str = "silenced";

/// What the child prints on stdout when its loop is done.
const DONE: &str = "child: the loop is empty";

/// What the child prints instead when the OS refused the connect at once (Wine does): the
/// error was the call's, and no handler ran.
const REFUSED_AT_ONCE: &str = "child: refused at once";

fn main() {
    match std::env::var(CHILD) {
        Ok(kind) => child(&kind, &std::env::var(SCENARIO).unwrap_or_default()),
        Err(_) => run_without_harness(
            "no_logger",
            &[
                (
                    "the_default_handle_error_writes_one_line_to_stderr_without_a_logger",
                    the_default_handle_error_writes_one_line_to_stderr_without_a_logger,
                ),
                (
                    "the_default_handle_read_warns_once_per_channel_on_stderr_without_a_logger",
                    the_default_handle_read_warns_once_per_channel_on_stderr_without_a_logger,
                ),
                (
                    "set_stderr_fallback_false_silences_the_reports",
                    set_stderr_fallback_false_silences_the_reports,
                ),
            ],
        ),
    }
}

/// A dispatcher that overrides nothing: the default `handle_error` reports and closes.
struct Defaults;

impl Dispatcher for Defaults {}

/// The child: `scenario` on a loop of `kind`, run until no channel is left.
fn child(kind: &str, scenario: &str) {
    let kind: SelectorKind = kind.parse().expect("a selector kind");
    let mut event_loop = EventLoop::with_kind(kind, ()).expect("the loop");
    if scenario == SILENCED {
        ioloop::set_stderr_fallback(false);
    }
    match scenario {
        REFUSED | SILENCED => match event_loop.connect(unused_addr(), Defaults) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                println!("{REFUSED_AT_ONCE}");
                return;
            }
            Err(e) => panic!("connect: {e}"),
        },
        UNREAD => {
            let (peer, local) = tcp_pair();
            event_loop.spawn(local, Defaults).expect("spawn");
            // Three messages, each read (and dropped) in iterations of its own.
            for message in [&b"one"[..], b"two", b"three"] {
                send(&peer, message);
                event_loop
                    .run_count(3, Some(Duration::from_millis(30)))
                    .expect("run_count");
            }
            drop(peer);
        }
        other => panic!("no scenario {other:?}"),
    }
    // Bounded: the parent kills a child that outlives its limit, and so does this count.
    event_loop
        .run_count(100, Some(Duration::from_millis(100)))
        .expect("run_count");
    assert!(event_loop.is_empty(), "a channel is still open");
    println!("{DONE}");
}

/// What a child of `scenario` on `kind` printed: its stdout and its stderr, once it exited
/// with success (within [`LIMIT`], or it is killed and the test fails).
fn run_child(kind: SelectorKind, scenario: &str) -> (String, String) {
    let exe = std::env::current_exe().expect("this binary's path");
    let mut child = Command::new(exe)
        .env(CHILD, kind.name())
        .env(SCENARIO, scenario)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the child");
    let stdout = collect(child.stdout.take().expect("the child's stdout"));
    let stderr = collect(child.stderr.take().expect("the child's stderr"));
    let status = wait_within(&mut child, "the child", LIMIT);
    let stdout = stdout.join().expect("the stdout reader");
    let stderr = stderr.join().expect("the stderr reader");
    assert!(
        status.success(),
        "the child failed ({status}); stdout {stdout:?}, stderr {stderr:?}"
    );
    (stdout, stderr)
}

/// Reads all of a child's pipe on a thread of its own, so a full pipe cannot block it.
fn collect(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

fn the_default_handle_error_writes_one_line_to_stderr_without_a_logger(kind: SelectorKind) {
    let (stdout, stderr) = run_child(kind, REFUSED);
    if stdout.trim_end() == REFUSED_AT_ONCE {
        println!("note: the {kind} child's connect was refused at once; nothing to report");
        assert!(stderr.is_empty(), "stderr {stderr:?}");
        return;
    }
    assert_eq!(
        stdout.trim_end(),
        DONE,
        "stdout {stdout:?}, stderr {stderr:?}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got {stderr:?}"
    );
    let line = lines[0];
    assert!(
        line.starts_with("ioloop::dispatcher: error: "),
        "not the dispatcher's error report: {line:?}"
    );
    assert!(
        line.to_ascii_lowercase().contains("refused"),
        "the report does not name the error: {line:?}"
    );
    assert!(
        line.contains("Defaults"),
        "the report does not name the dispatcher's type: {line:?}"
    );
    assert!(
        line.contains("closing the channel"),
        "the report does not say what was done: {line:?}"
    );
}

fn set_stderr_fallback_false_silences_the_reports(kind: SelectorKind) {
    let (stdout, stderr) = run_child(kind, SILENCED);
    if stdout.trim_end() != REFUSED_AT_ONCE {
        assert_eq!(
            stdout.trim_end(),
            DONE,
            "stdout {stdout:?}, stderr {stderr:?}"
        );
    }
    assert!(stderr.is_empty(), "stderr {stderr:?}");
}

fn the_default_handle_read_warns_once_per_channel_on_stderr_without_a_logger(kind: SelectorKind) {
    let (stdout, stderr) = run_child(kind, UNREAD);
    assert_eq!(
        stdout.trim_end(),
        DONE,
        "stdout {stdout:?}, stderr {stderr:?}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one warning for three unread messages, got {stderr:?}"
    );
    let line = lines[0];
    assert!(
        line.starts_with("ioloop::dispatcher: warn: "),
        "not the dispatcher's warning: {line:?}"
    );
    assert!(
        line.contains("unhandled read event"),
        "the warning does not say what happened: {line:?}"
    );
}
