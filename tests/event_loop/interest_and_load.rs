//! Interest bookkeeping (no `modify` call unless `readable()`/`writable()` changed; an
//! answer that changed behind the loop's back counts once `Context::refresh` says so) and
//! five hundred concurrent clients.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::{Mutex, PoisonError, mpsc};
use std::thread;

use ioloop::selector::SelectorKind;
use ioloop::{Dispatcher, EventLoop, Token};
use socket2::{SockAddr, Socket};

use crate::common::event_loop::{Log, run_steps, run_until, run_until_read};
use crate::common::kinds::per_kind;
use crate::common::net::{recv_exact, tcp_pair};
use crate::common::{LIMIT, pattern};
use crate::dispatchers::{Cx, Echo, new_loop};

/// Buffers in `handle_read` and sends only from `handle_write`: its `writable()` answer
/// flips twice per message.
#[derive(Default)]
struct BufferedEcho {
    unsent: Vec<u8>,
}

impl Dispatcher<Log> for BufferedEcho {
    fn writable(&self) -> bool {
        !self.unsent.is_empty()
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        let n = cx.recv(&mut buf)?;
        self.unsent.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let n = cx.send(&self.unsent)?;
        self.unsent.drain(..n);
        Ok(())
    }
}

const MESSAGES: usize = 1000;

/// Echoes `MESSAGES` messages one at a time over one connection; returns how many interest
/// changes the loop made meanwhile (after a first, warming-up message).
fn interest_changes_for_echo<D: Dispatcher<Log>>(kind: SelectorKind, dispatcher: D) -> u64 {
    let mut event_loop = new_loop(kind);
    let (mut peer, local) = tcp_pair();
    event_loop.spawn(local, dispatcher).unwrap();
    let mut exchange = |event_loop: &mut EventLoop<Log>, i: usize| {
        let message = format!("message {i:05}\n");
        peer.write_all(message.as_bytes()).unwrap();
        let echoed = run_until_read(event_loop, &peer, message.len());
        assert_eq!(echoed, message.as_bytes());
    };
    exchange(&mut event_loop, 0);
    let before = event_loop.interest_changes();
    for i in 1..=MESSAGES {
        exchange(&mut event_loop, i);
    }
    event_loop.interest_changes() - before
}

fn steady_state_echo_makes_no_interest_changes(kind: SelectorKind) {
    let changes = interest_changes_for_echo(kind, Echo::default());
    println!("[{kind}] echo sending at once: {changes} interest changes for {MESSAGES} messages");
    assert_eq!(
        changes, 0,
        "modify calls while readable/writable did not change"
    );
}

fn interest_changes_count_each_change_of_writable(kind: SelectorKind) {
    let changes = interest_changes_for_echo(kind, BufferedEcho::default());
    println!(
        "[{kind}] echo sending from handle_write: {changes} interest changes for {MESSAGES} messages"
    );
    assert_eq!(changes, 2 * MESSAGES as u64, "one on, one off per message");
}

/// A listener that counts its connections and spawns an `Echo` for each.
struct CountingServer;

impl Dispatcher<Log> for CountingServer {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, socket: Socket, _: SockAddr) -> io::Result<()> {
        cx.spawn(socket, Echo::default())?;
        cx.state().push("accepted");
        Ok(())
    }
}

const CLIENTS: usize = 500;

/// The backends' runs of the next test take turns: each holds a thousand descriptors, as
/// the one test that ran every backend in turn did.
static ONE_BACKEND_AT_A_TIME: Mutex<()> = Mutex::new(());

fn five_hundred_concurrent_clients_each_get_their_echo(kind: SelectorKind) {
    let _turn = ONE_BACKEND_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let outcome = (|| -> io::Result<usize> {
            let mut event_loop = new_loop(kind);
            let listener = ioloop::net::listen("127.0.0.1:0".parse().unwrap(), 1024)?;
            let addr = listener.local_addr()?;
            event_loop.spawn(listener, CountingServer)?;
            let _ = ready_tx.send((addr, event_loop.handle()));
            event_loop.run()?;
            Ok(event_loop.state().count("accepted"))
        })();
        let _ = done_tx.send(outcome.map_err(|e| e.to_string()));
    });
    let (addr, handle) = ready_rx.recv_timeout(LIMIT).expect("the server started");
    let mut clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|i| {
            let client = TcpStream::connect_timeout(&addr, LIMIT)
                .unwrap_or_else(|e| panic!("client {i}: connect: {e}"));
            client.set_read_timeout(Some(LIMIT)).unwrap();
            client.set_write_timeout(Some(LIMIT)).unwrap();
            client
        })
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.write_all(&pattern(1024, i as u8)).unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let mut echoed = vec![0; 1024];
        client
            .read_exact(&mut echoed)
            .unwrap_or_else(|e| panic!("client {i}: read: {e}"));
        assert!(echoed == pattern(1024, i as u8), "client {i}: wrong echo");
    }
    handle.stop();
    let accepted = done_rx
        .recv_timeout(LIMIT)
        .expect("run() returned after stop()")
        .expect("the server ran without error");
    assert_eq!(accepted, CLIENTS);
}

/// Writes once when a flag it shares with another channel says so: `writable()` depends on
/// state the loop cannot see.
struct Speaker {
    turn: Rc<Cell<bool>>,
}

impl Dispatcher<Log> for Speaker {
    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        self.turn.get()
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("speaker write");
        let n = cx.send(b"spoken")?;
        assert_eq!(n, 6, "an idle socket has room for six bytes");
        self.turn.set(false);
        Ok(())
    }
}

/// Gives the speaker the floor on each message; on a message `r` it also refreshes the
/// speaker's channel, as the loop asks.
struct Chair {
    turn: Rc<Cell<bool>>,
    speaker: Token,
}

impl Dispatcher<Log> for Chair {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 16];
        let n = cx.recv(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        self.turn.set(true);
        if buf[..n].contains(&b'r') {
            cx.refresh(self.speaker);
            cx.state().push("floor given, refreshed");
        } else {
            cx.state().push("floor given");
        }
        Ok(())
    }
}

fn a_writable_answer_that_changed_behind_the_loop_counts_only_after_refresh(kind: SelectorKind) {
    let (speaker_peer, speaker_side) = tcp_pair();
    let (mut chair_peer, chair_side) = tcp_pair();
    let turn = Rc::new(Cell::new(false));
    let mut event_loop = new_loop(kind);
    let speaker = event_loop
        .spawn(speaker_side, Speaker { turn: turn.clone() })
        .unwrap();
    event_loop
        .spawn(
            chair_side,
            Chair {
                turn: turn.clone(),
                speaker,
            },
        )
        .unwrap();
    // The flag changes in the chair's callback, without a refresh: the loop keeps the
    // speaker's old answer, and the speaker is not called.
    chair_peer.write_all(b"x").unwrap();
    run_until(&mut event_loop, |log| log.has("floor given"), LIMIT);
    run_steps(&mut event_loop, 20);
    assert!(turn.get(), "the flag is set");
    assert!(
        !event_loop.state().has("speaker write"),
        "{:?}",
        event_loop.state().events
    );
    // With the refresh, it is.
    chair_peer.write_all(b"r").unwrap();
    run_until(&mut event_loop, |log| log.has("speaker write"), LIMIT);
    assert_eq!(recv_exact(&speaker_peer, 6), b"spoken");
    run_steps(&mut event_loop, 5);
    let log = event_loop.state();
    assert_eq!(log.count("speaker write"), 1, "{:?}", log.events);
    assert!(
        log.position("floor given, refreshed") < log.position("speaker write"),
        "{:?}",
        log.events
    );
}

per_kind! {
    steady_state_echo_makes_no_interest_changes,
    interest_changes_count_each_change_of_writable,
    five_hundred_concurrent_clients_each_get_their_echo,
    a_writable_answer_that_changed_behind_the_loop_counts_only_after_refresh,
}
