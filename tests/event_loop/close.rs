//! Closing: a channel closing itself or another from a callback, dropping the loop, and
//! `close_all`.

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ioloop::selector::SelectorKind;
use ioloop::{Dispatcher, Token};

use crate::common::LIMIT;
use crate::common::event_loop::{Log, run_steps, run_until_loop, slot_of};
use crate::common::kinds::per_kind;
use crate::common::net::{assert_closed, listener, read_to_eof, tcp_pair};
use crate::dispatchers::{Cx, Echo, Reader, check_echo_still_works, new_loop};

/// Closes itself in `handle_read`; logs any later callback.
struct SelfCloser;

impl Dispatcher<Log> for SelfCloser {
    fn writable(&self) -> bool {
        true
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("read");
        cx.close();
        cx.close(); // idempotent
        let open = cx.is_open();
        cx.state().push(format!("open after close={open}"));
        Ok(())
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("write");
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        Ok(())
    }
}

fn closing_itself_in_handle_read_skips_the_rest_of_the_event(kind: SelectorKind) {
    let (mut peer, local) = tcp_pair();
    // Data waits before the channel exists, so its first event is readable and
    // writable at once.
    peer.write_all(b"x").unwrap();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(local, SelfCloser).unwrap();
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    assert_eq!(
        event_loop.state().events,
        ["read", "open after close=false"]
    );
    assert_closed(&peer);
}

/// Whichever of two runs first closes the other, spawns a fresh channel (which takes the
/// other's slot) and closes itself.
struct MutualCloser {
    name: &'static str,
    other: Option<Token>,
    spare: Option<TcpStream>,
    drops: Arc<AtomicUsize>,
}

impl Drop for MutualCloser {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

impl Dispatcher<Log> for MutualCloser {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push(format!("read {}", self.name));
        if let Some(other) = self.other {
            let closed = cx.close_channel(other);
            let again = cx.close_channel(other);
            cx.state().push(format!(
                "closed {} = {closed}, again = {again}",
                slot_of(other)
            ));
            if let Some(spare) = self.spare.take() {
                let fresh = MutualCloser {
                    name: "fresh",
                    other: None,
                    spare: None,
                    drops: self.drops.clone(),
                };
                let token = cx.spawn(spare, fresh)?;
                cx.state().push(format!("spawned {}", slot_of(token)));
            }
        }
        cx.close();
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push(format!("close {}", self.name));
        cx.close();
        Ok(())
    }
}

fn closing_a_peer_channel_drops_its_later_events_in_the_same_batch(kind: SelectorKind) {
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut a_peer, a) = tcp_pair();
    let (mut b_peer, b) = tcp_pair();
    let (_spare_a_peer, spare_a) = tcp_pair();
    let (_spare_b_peer, spare_b) = tcp_pair();
    // Both have data before the first wait: their events come in one batch.
    a_peer.write_all(b"a").unwrap();
    b_peer.write_all(b"b").unwrap();
    let mut event_loop = new_loop(kind);
    let closer = |name, spare| MutualCloser {
        name,
        other: None,
        spare: Some(spare),
        drops: drops.clone(),
    };
    let a_token = event_loop.spawn(a, closer("a", spare_a)).unwrap();
    let b_token = event_loop.spawn(b, closer("b", spare_b)).unwrap();
    event_loop
        .get_mut::<MutualCloser>(a_token)
        .expect("a is open")
        .other = Some(b_token);
    event_loop
        .get_mut::<MutualCloser>(b_token)
        .expect("b is open")
        .other = Some(a_token);
    run_until_loop(&mut event_loop, |event_loop| event_loop.len() == 1, LIMIT);
    run_steps(&mut event_loop, 5);
    let log = event_loop.state();
    assert_eq!(log.events.len(), 3, "{:?}", log.events);
    let (closed_slot, first) = if log.events[0] == "read a" {
        (slot_of(b_token), "a")
    } else {
        (slot_of(a_token), "b")
    };
    assert_eq!(log.events[0], format!("read {first}"));
    assert_eq!(
        log.events[1],
        format!("closed {closed_slot} = true, again = false")
    );
    // The fresh channel reuses the closed one's slot, yet the closed one's pending event
    // did not reach it: it has no data, and never read.
    assert_eq!(log.events[2], format!("spawned {closed_slot}"));
    assert!(!log.has("read fresh"), "{:?}", log.events);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        2,
        "both first channels dropped"
    );
    assert_closed(&a_peer);
    assert_closed(&b_peer);
}

fn dropping_the_loop_closes_every_socket_and_drops_every_dispatcher(kind: SelectorKind) {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut event_loop = new_loop(kind);
    let mut peers = Vec::new();
    for _ in 0..3 {
        let (peer, local) = tcp_pair();
        event_loop.spawn(local, Reader::counted(&drops)).unwrap();
        peers.push(peer);
    }
    let listener = listener();
    let listening_at = listener.local_addr().unwrap();
    event_loop.spawn(listener, Reader::counted(&drops)).unwrap();
    run_steps(&mut event_loop, 2);
    drop(event_loop);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
    for peer in &mut peers {
        assert_eq!(read_to_eof(peer), b"", "end of file");
    }
    assert!(
        TcpStream::connect_timeout(&listening_at, LIMIT).is_err(),
        "the listener is closed"
    );
}

fn close_all_closes_every_channel_without_handle_close_and_the_loop_stays_usable(
    kind: SelectorKind,
) {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut event_loop = new_loop(kind);
    let mut peers = Vec::new();
    for _ in 0..3 {
        let (peer, local) = tcp_pair();
        event_loop.spawn(local, Reader::counted(&drops)).unwrap();
        peers.push(peer);
    }
    run_steps(&mut event_loop, 2);
    event_loop.close_all();
    assert!(event_loop.is_empty());
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    for peer in &mut peers {
        assert_eq!(read_to_eof(peer), b"", "end of file");
    }
    run_steps(&mut event_loop, 2);
    assert!(
        event_loop.state().events.is_empty(),
        "{:?}",
        event_loop.state().events
    );
    let (mut peer, local) = tcp_pair();
    event_loop.spawn(local, Echo::default()).unwrap();
    check_echo_still_works(&mut event_loop, &mut peer);
}

per_kind! {
    closing_itself_in_handle_read_skips_the_rest_of_the_event,
    closing_a_peer_channel_drops_its_later_events_in_the_same_batch,
    dropping_the_loop_closes_every_socket_and_drops_every_dispatcher,
    close_all_closes_every_channel_without_handle_close_and_the_loop_stays_usable,
}
