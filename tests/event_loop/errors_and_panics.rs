//! Errors and panics in handlers: `handle_error` with the error's kind and message, and a
//! panic closing only its own channel.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use ioloop::Dispatcher;
use ioloop::selector::SelectorKind;

use crate::common::event_loop::{Log, run_until_eof, run_until_loop};
use crate::common::kinds::per_kind;
use crate::common::net::{assert_closed, tcp_pair};
use crate::common::{LIMIT, on_thread};
use crate::dispatchers::{Cx, Echo, check_echo_still_works, new_loop};

/// Fails in `handle_read` in the way `mode` says; logs `handle_error`.
struct Failing {
    mode: Failure,
}

#[derive(Clone, Copy)]
enum Failure {
    /// Return an `InvalidData` error.
    Error,
    /// Panic.
    Panic,
    /// Return an error, then panic in `handle_error`.
    PanicInHandleError,
    /// Panic in `readable()` once a read was seen.
    PanicInReadable { armed: bool },
}

impl Dispatcher<Log> for Failing {
    fn readable(&self) -> bool {
        if let Failure::PanicInReadable { armed: true } = self.mode {
            panic!("readable exploded");
        }
        true
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 64];
        let _ = cx.recv(&mut buf)?;
        match self.mode {
            Failure::Error | Failure::PanicInHandleError => {
                Err(io::Error::new(io::ErrorKind::InvalidData, "bad frame 42"))
            }
            Failure::Panic => panic!("boom {}", 7),
            Failure::PanicInReadable { .. } => {
                self.mode = Failure::PanicInReadable { armed: true };
                Ok(())
            }
        }
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state()
            .push(format!("error {:?}: {error}", error.kind()));
        if let Failure::PanicInHandleError = self.mode {
            panic!("handle_error exploded");
        }
        cx.close();
    }
}

fn a_handler_error_reaches_handle_error_with_its_kind_and_message(kind: SelectorKind) {
    let (mut peer, local) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop
        .spawn(
            local,
            Failing {
                mode: Failure::Error,
            },
        )
        .unwrap();
    peer.write_all(b"x").unwrap();
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    assert_eq!(
        event_loop.state().events,
        ["error InvalidData: bad frame 42"]
    );
}

fn a_panic_in_a_handler_reaches_handle_error_and_other_channels_keep_working(kind: SelectorKind) {
    let (mut failing_peer, failing) = tcp_pair();
    let (mut echo_peer, echo) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop
        .spawn(
            failing,
            Failing {
                mode: Failure::Panic,
            },
        )
        .unwrap();
    event_loop.spawn(echo, Echo::default()).unwrap();
    failing_peer.write_all(b"x").unwrap();
    run_until_loop(&mut event_loop, |event_loop| event_loop.len() == 1, LIMIT);
    let log = event_loop.state();
    assert_eq!(log.events.len(), 1, "{:?}", log.events);
    let report = &log.events[0];
    assert!(report.starts_with("error Other:"), "{report}");
    assert!(report.contains("boom 7"), "{report}");
    assert!(report.contains("handle_read"), "{report}");
    assert_eq!(run_until_eof(&mut event_loop, &failing_peer), b"");
    check_echo_still_works(&mut event_loop, &mut echo_peer);
}

fn a_panic_in_handle_error_closes_only_that_channel(kind: SelectorKind) {
    let (mut failing_peer, failing) = tcp_pair();
    let (mut echo_peer, echo) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop
        .spawn(
            failing,
            Failing {
                mode: Failure::PanicInHandleError,
            },
        )
        .unwrap();
    event_loop.spawn(echo, Echo::default()).unwrap();
    failing_peer.write_all(b"x").unwrap();
    run_until_loop(&mut event_loop, |event_loop| event_loop.len() == 1, LIMIT);
    assert_eq!(
        event_loop.state().events,
        ["error InvalidData: bad frame 42"]
    );
    assert_eq!(run_until_eof(&mut event_loop, &failing_peer), b"");
    check_echo_still_works(&mut event_loop, &mut echo_peer);
}

fn a_panic_in_readable_closes_only_that_channel(kind: SelectorKind) {
    let (mut failing_peer, failing) = tcp_pair();
    let (mut echo_peer, echo) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop
        .spawn(
            failing,
            Failing {
                mode: Failure::PanicInReadable { armed: false },
            },
        )
        .unwrap();
    event_loop.spawn(echo, Echo::default()).unwrap();
    failing_peer.write_all(b"x").unwrap();
    run_until_loop(&mut event_loop, |event_loop| event_loop.len() == 1, LIMIT);
    assert_eq!(run_until_eof(&mut event_loop, &failing_peer), b"");
    check_echo_still_works(&mut event_loop, &mut echo_peer);
}

/// Panics when first asked `readable()`; counts its drops.
struct PanicsWhenSpawned {
    drops: Arc<AtomicUsize>,
}

impl Drop for PanicsWhenSpawned {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

impl Dispatcher<Log> for PanicsWhenSpawned {
    fn readable(&self) -> bool {
        panic!("readable exploded at spawn");
    }

    fn handle_opened(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("opened");
        Ok(())
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("read");
        Ok(())
    }
}

fn a_readable_that_panics_at_spawn_closes_the_channel_at_once(kind: SelectorKind) {
    let drops = Arc::new(AtomicUsize::new(0));
    let (peer, local) = tcp_pair();
    let (loop_tx, loop_rx) = mpsc::channel();
    let log = on_thread(move || {
        let mut event_loop = new_loop(kind);
        let before = event_loop.len();
        let token = event_loop
            .spawn(
                local,
                PanicsWhenSpawned {
                    drops: drops.clone(),
                },
            )
            .expect("spawn returns a token even so");
        let _ = loop_tx.send((
            before,
            event_loop.len(),
            drops.load(Ordering::SeqCst),
            event_loop.close(token),
        ));
        // No channel is left: run() returns (on_thread fails the test if it does not).
        event_loop.run().unwrap();
        std::mem::take(event_loop.state_mut())
    });
    let (before, after, dropped, closed_again) = loop_rx.recv_timeout(LIMIT).unwrap();
    assert_eq!(after, before, "the channel stayed in the loop");
    assert_eq!(dropped, 1, "the dispatcher was not dropped");
    assert!(!closed_again, "the token names an open channel");
    assert!(log.events.is_empty(), "a callback ran: {:?}", log.events);
    // The socket was closed: its peer sees end of file (or a reset).
    assert_closed(&peer);
}

per_kind! {
    a_handler_error_reaches_handle_error_with_its_kind_and_message,
    a_panic_in_a_handler_reaches_handle_error_and_other_channels_keep_working,
    a_panic_in_handle_error_closes_only_that_channel,
    a_panic_in_readable_closes_only_that_channel,
    a_readable_that_panics_at_spawn_closes_the_channel_at_once,
}
