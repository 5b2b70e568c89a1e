//! Optimistic writes: an idle channel whose `writable()` turned true behind its back (reached
//! with `get_mut` from another channel's callback, or between iterations) gets its
//! `handle_write` at the next interest refresh, before the wait, instead of gaining write
//! interest and waiting for a writable event. A broadcast to sockets with room then changes
//! no interest at all; a member that does not read gets write interest and its data later;
//! connects, listeners and the running channel keep their own paths.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ioloop::selector::SelectorKind;
use ioloop::{Dispatcher, Token};

use crate::common::event_loop::{Log, run_steps, run_until, run_until_read};
use crate::common::kinds::per_kind;
use crate::common::net::{listener, tcp_pair};
use crate::common::{LIMIT, pattern};
use crate::dispatchers::{Cx, new_loop};

/// A room member: what it reads goes to every member (itself through its own queue, the
/// others through `get_mut`), and it sends what is queued for it as the socket takes it.
#[derive(Default)]
struct Member {
    out: Vec<u8>,
    members: Vec<Token>,
    /// What `handle_write` does after sending (the cases below).
    then: Then,
}

#[derive(Clone, Copy, Default, PartialEq)]
enum Then {
    #[default]
    Nothing,
    Close,
    Fail,
    Panic,
    Stop,
}

impl Dispatcher<Log> for Member {
    fn writable(&self) -> bool {
        !self.out.is_empty()
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        let n = cx.recv(&mut buf)?;
        for &token in &self.members {
            if let Some(member) = cx.get_mut::<Member>(token) {
                member.out.extend_from_slice(&buf[..n]);
            }
        }
        // Not found among the others: the running channel is lent out.
        self.out.extend_from_slice(&buf[..n]);
        self.handle_write(cx)
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let token = cx.token();
        cx.state().push(format!("write {token:?}"));
        while !self.out.is_empty() {
            let n = cx.send(&self.out)?;
            if n == 0 {
                break; // the socket is full: the rest waits for a writable event
            }
            self.out.drain(..n);
        }
        match self.then {
            Then::Nothing => {}
            Then::Close => cx.close(),
            Then::Fail => return Err(io::Error::other("refused after writing")),
            Then::Panic => panic!("handle_write panicked on purpose"),
            Then::Stop => cx.stop(),
        }
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        let token = cx.token();
        cx.state().push(format!("error {token:?}: {error}"));
        cx.close();
    }
}

/// `count` members on loopback pairs, each knowing all the others; their peers.
fn room(event_loop: &mut ioloop::EventLoop<Log>, count: usize) -> (Vec<Token>, Vec<TcpStream>) {
    let mut tokens = Vec::new();
    let mut peers = Vec::new();
    for _ in 0..count {
        let (peer, local) = tcp_pair();
        tokens.push(event_loop.spawn(local, Member::default()).unwrap());
        peers.push(peer);
    }
    for &token in &tokens {
        let member = event_loop.get_mut::<Member>(token).unwrap();
        member.members = tokens.iter().copied().filter(|&t| t != token).collect();
    }
    run_steps(event_loop, 2); // handle_opened, and the refresh of every member
    (tokens, peers)
}

const MEMBERS: usize = 40;
const LINES: usize = 50;

fn line(i: usize) -> Vec<u8> {
    let mut line = format!("line {i:04} ").into_bytes();
    line.extend(pattern(50, i as u8).iter().map(|b| b'a' + b % 26));
    line.push(b'\n');
    line
}

fn a_broadcast_to_channels_with_room_changes_no_interest_and_keeps_the_order(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (_, mut peers) = room(&mut event_loop, MEMBERS);
    let before = event_loop.interest_changes();
    let mut said = Vec::new();
    for i in 0..LINES {
        let line = line(i);
        peers[0].write_all(&line).unwrap();
        said.extend_from_slice(&line);
        // Every member has it once the sayer's peer has its own copy and one more turn ran.
        let echoed = run_until_read(&mut event_loop, &peers[0], line.len());
        assert_eq!(echoed, line);
    }
    run_steps(&mut event_loop, 1);
    let changes = event_loop.interest_changes() - before;
    println!("[{kind}] {LINES} lines to {MEMBERS} members: {changes} interest changes");
    assert_eq!(
        changes, 0,
        "a socket with room is written without watching it"
    );
    for (i, peer) in peers.iter_mut().enumerate().skip(1) {
        let mut got = vec![0; said.len()];
        peer.read_exact(&mut got)
            .unwrap_or_else(|e| panic!("member {i}: {e}"));
        assert!(got == said, "member {i}: the lines out of order or altered");
    }
    let writes = event_loop.state().count_prefix("write ");
    assert!(
        writes >= LINES * MEMBERS,
        "{writes} writes: every push was written (the sayer's by its own dispatch)"
    );
}

fn a_member_that_does_not_read_gets_write_interest_and_its_data_later(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (tokens, peers) = room(&mut event_loop, 2);
    // More than the socket's buffers and its peer's hold together.
    let data = pattern(32 * 1024 * 1024, 7);
    let before = event_loop.interest_changes();
    event_loop
        .get_mut::<Member>(tokens[1])
        .unwrap()
        .out
        .extend_from_slice(&data);
    run_steps(&mut event_loop, 1);
    let left = event_loop.get_mut::<Member>(tokens[1]).unwrap().out.len();
    assert!(left > 0, "the socket took all 32 MiB without a read");
    assert!(left < data.len(), "the write ahead sent nothing");
    assert_eq!(
        event_loop.interest_changes() - before,
        1,
        "a full socket is watched for writing"
    );
    // The rest goes as the peer reads, from writable events.
    let got = run_until_read(&mut event_loop, &peers[1], data.len());
    assert!(got == data, "the bytes came out of order or altered");
    run_steps(&mut event_loop, 1);
    assert_eq!(
        event_loop.interest_changes() - before,
        2,
        "and no longer once drained"
    );
}

fn a_channel_reached_between_iterations_writes_in_the_next_one(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (tokens, mut peers) = room(&mut event_loop, 2);
    let before = event_loop.interest_changes();
    let writes = event_loop.state().count_prefix("write ");
    event_loop
        .get_mut::<Member>(tokens[1])
        .unwrap()
        .out
        .extend_from_slice(b"hello\n");
    // One iteration, not waiting at all: the bytes leave in its refresh, before the wait.
    event_loop.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(event_loop.state().count_prefix("write "), writes + 1);
    let mut got = [0; 6];
    peers[1].read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello\n");
    assert_eq!(event_loop.interest_changes(), before);
}

/// Pushes `b"bye\n"` to member 1, made to do `then` after writing; returns its peer's bytes
/// until end of file (or a reset), and the loop's log.
fn write_ahead_then(kind: SelectorKind, then: Then) -> (Vec<u8>, Log, usize) {
    let mut event_loop = new_loop(kind);
    let (tokens, peers) = room(&mut event_loop, 3);
    let member = event_loop.get_mut::<Member>(tokens[1]).unwrap();
    member.then = then;
    member.out.extend_from_slice(b"bye\n");
    run_until(&mut event_loop, |log| log.count_prefix("write ") > 0, LIMIT);
    run_steps(&mut event_loop, 2);
    let mut got = Vec::new();
    let mut peer = &peers[1];
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    let _ = peer.read_to_end(&mut got);
    let open = event_loop.len();
    // The others are untouched: member 2 still writes.
    event_loop
        .get_mut::<Member>(tokens[2])
        .unwrap()
        .out
        .extend_from_slice(b"still here\n");
    let echoed = run_until_read(&mut event_loop, &peers[2], 11);
    assert_eq!(echoed, b"still here\n");
    let log = std::mem::take(event_loop.state_mut());
    (got, log, open)
}

fn a_write_ahead_that_closes_its_channel_closes_it_after_sending(kind: SelectorKind) {
    let (got, log, open) = write_ahead_then(kind, Then::Close);
    assert_eq!(got, b"bye\n");
    assert_eq!(open, 2, "{:?}", log.events);
    // Member 1 once (no handler after its close), member 2 once.
    assert_eq!(log.count_prefix("write "), 2, "{:?}", log.events);
}

fn a_write_ahead_that_fails_goes_to_handle_error(kind: SelectorKind) {
    let (got, log, open) = write_ahead_then(kind, Then::Fail);
    assert_eq!(got, b"bye\n");
    assert_eq!(open, 2);
    assert_eq!(log.count_prefix("error "), 1, "{:?}", log.events);
    assert!(
        log.events
            .iter()
            .any(|e| e.contains("refused after writing")),
        "{:?}",
        log.events
    );
}

fn a_write_ahead_that_panics_closes_only_its_channel(kind: SelectorKind) {
    let (got, log, open) = write_ahead_then(kind, Then::Panic);
    assert_eq!(got, b"bye\n");
    assert_eq!(open, 2);
    assert!(
        log.events
            .iter()
            .any(|e| e.starts_with("error ") && e.contains("handle_write panicked")),
        "{:?}",
        log.events
    );
}

fn a_stop_asked_by_a_write_ahead_ends_run_without_waiting_for_an_event(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (tokens, mut peers) = room(&mut event_loop, 2);
    let member = event_loop.get_mut::<Member>(tokens[1]).unwrap();
    member.then = Then::Stop;
    member.out.extend_from_slice(b"last\n");
    // A safety net: if the loop blocked in its wait after the stop, this would end it.
    event_loop.schedule(LIMIT, |cx| {
        cx.state().push("safety net");
        cx.stop();
    });
    event_loop.run().unwrap();
    assert!(
        !event_loop.state().has("safety net"),
        "{:?}",
        event_loop.state().events
    );
    let mut got = [0; 5];
    peers[1].read_exact(&mut got).unwrap();
    assert_eq!(&got, b"last\n");
}

/// Connects; logs its connect and its writes.
#[derive(Default)]
struct Client {
    out: Vec<u8>,
}

impl Dispatcher<Log> for Client {
    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        !self.out.is_empty()
    }

    fn handle_connect(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("connect");
        Ok(())
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("write");
        let n = cx.send(&self.out)?;
        self.out.drain(..n);
        Ok(())
    }
}

fn a_connecting_channel_is_not_written_before_its_connect_completes(kind: SelectorKind) {
    let server = listener();
    let mut event_loop = new_loop(kind);
    let token = event_loop
        .connect(server.local_addr().unwrap(), Client::default())
        .unwrap();
    event_loop
        .get_mut::<Client>(token)
        .unwrap()
        .out
        .extend_from_slice(b"after connect\n");
    let (mut accepted, _) = crate::common::net::accept_within(&server, LIMIT);
    accepted.set_read_timeout(Some(LIMIT)).unwrap();
    run_until(&mut event_loop, |log| log.has("write"), LIMIT);
    let log = event_loop.state();
    assert!(
        log.position("connect") < log.position("write"),
        "{:?}",
        log.events
    );
    let mut got = [0; 14];
    accepted.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"after connect\n");
}

/// A listener whose `writable()` says yes: a listener is never written to.
struct EagerListener;

impl Dispatcher<Log> for EagerListener {
    fn writable(&self) -> bool {
        true
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("listener write");
        Ok(())
    }
}

fn a_listener_reached_with_get_mut_is_not_written(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let token = event_loop.spawn(listener(), EagerListener).unwrap();
    run_steps(&mut event_loop, 1);
    let before = event_loop.interest_changes();
    assert!(event_loop.get_mut::<EagerListener>(token).is_some());
    run_steps(&mut event_loop, 3);
    assert!(!event_loop.state().has("listener write"));
    assert_eq!(event_loop.interest_changes(), before);
    assert_eq!(event_loop.len(), 1);
}

per_kind! {
    a_broadcast_to_channels_with_room_changes_no_interest_and_keeps_the_order,
    a_member_that_does_not_read_gets_write_interest_and_its_data_later,
    a_channel_reached_between_iterations_writes_in_the_next_one,
    a_write_ahead_that_closes_its_channel_closes_it_after_sending,
    a_write_ahead_that_fails_goes_to_handle_error,
    a_write_ahead_that_panics_closes_only_its_channel,
    a_stop_asked_by_a_write_ahead_ends_run_without_waiting_for_an_event,
    a_connecting_channel_is_not_written_before_its_connect_completes,
    a_listener_reached_with_get_mut_is_not_written,
}
