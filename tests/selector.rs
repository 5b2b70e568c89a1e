//! The selector contract (src/selector/mod.rs), checked on every backend this platform has
//! over real sockets on 127.0.0.1: registration, level-triggered readiness, timeouts, the
//! waker, and the kinds themselves. Modelled on CPython's Lib/test/test_selectors.py.

mod common;

use std::io::{ErrorKind, Read};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use ioloop::selector::{
    DefaultSelector, Events, Interest, NativeSelector, SelectSelector, Selector, SelectorKind,
    Source,
};

use common::Lcg;
use common::kinds::{ALL_KINDS, compiled_kinds, per_kind};
use common::net::{recv_exact, send, tcp_pair, tcp_pair_from};
use common::selector::{
    ATTEMPTS, SANITY, WAIT, Watchdog, check_events, event_for, expect_events, expect_no_event_for,
    expect_no_events, modify, readiness, register, selector, timed_select, unregister,
};

// ---------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------

fn register_modify_unregister_track_the_registration(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();

    // SAFETY: `a` and `b` are declared before the selector, so they outlive it.
    unsafe { sel.register(a.raw_source(), 1, Interest::READ).unwrap() };
    assert_eq!(sel.len(), 1);
    assert!(!sel.is_empty());
    register(&mut sel, &b, 2, Interest::WRITE).unwrap();
    assert_eq!(sel.len(), 2);

    // `b` is writable at once; `a` has nothing to read.
    expect_events(&mut sel, &mut events, &[(2, Interest::WRITE)]);
    expect_no_event_for(&mut sel, &mut events, 1);

    // Modify `a` to WRITE: now it is reported, under its new key.
    modify(&mut sel, &a, 10, Interest::WRITE).unwrap();
    assert_eq!(sel.len(), 2);
    expect_events(
        &mut sel,
        &mut events,
        &[(10, Interest::WRITE), (2, Interest::WRITE)],
    );

    unregister(&mut sel, &a).unwrap();
    assert_eq!(sel.len(), 1);
    unregister(&mut sel, &b).unwrap();
    assert_eq!(sel.len(), 0);
    assert!(sel.is_empty());
    expect_no_events(&mut sel, &mut events);
}

fn unregistered_source_is_no_longer_reported(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    register(&mut sel, &b, 2, Interest::WRITE).unwrap();
    send(&b, b"x");
    expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    unregister(&mut sel, &a).unwrap();
    expect_events(&mut sel, &mut events, &[(2, Interest::WRITE)]);
    expect_no_event_for(&mut sel, &mut events, 1);
}

fn registering_a_source_twice_is_already_exists_and_keeps_the_first(kind: SelectorKind) {
    let (a, _b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::WRITE).unwrap();
    let err = register(&mut sel, &a, 2, Interest::READ).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert_eq!(sel.len(), 1);
    // The first registration is untouched: same key, same interest.
    expect_events(&mut sel, &mut events, &[(1, Interest::WRITE)]);
    expect_no_event_for(&mut sel, &mut events, 2);
    unregister(&mut sel, &a).unwrap();
    assert_eq!(sel.len(), 0);
}

fn modify_or_unregister_of_an_unknown_source_is_not_found(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let err = modify(&mut sel, &a, 1, Interest::READ).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = unregister(&mut sel, &a).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    // Known once, unknown again after unregistering.
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    let err = modify(&mut sel, &b, 1, Interest::READ).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    unregister(&mut sel, &a).unwrap();
    let err = unregister(&mut sel, &a).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = modify(&mut sel, &a, 1, Interest::WRITE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(sel.len(), 0);

    // And it can be registered again.
    register(&mut sel, &a, 3, Interest::WRITE).unwrap();
    let mut events = Events::new();
    expect_events(&mut sel, &mut events, &[(3, Interest::WRITE)]);
    unregister(&mut sel, &a).unwrap();
}

/// Python's selectors allow `unregister` after the file object was closed
/// (test_selectors.py, test_unregister_after_fd_close and friends), and so does this
/// contract ("Unregister is tolerant"). `unregister` borrows an open handle, so the closed
/// case it can meet is a registered file closed and its number taken by another: `dup2`
/// does both at once here (no other thread can take the number in between). The kernel
/// then answers the removal with ENOENT, which `unregister` must swallow. Unix only: on
/// Windows a closed, registered socket is IOCP's to worry about.
#[cfg(unix)]
fn unregister_after_the_source_was_closed_is_tolerated(kind: SelectorKind) {
    let (keep, _peer) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    let (a, a_peer) = tcp_pair();
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    register(&mut sel, &keep, 2, Interest::WRITE).unwrap();
    // Closes the registered socket; its number now names `other`.
    let mut a = std::os::fd::OwnedFd::from(a);
    rustix::io::dup2(&other, &mut a).unwrap();
    drop(a_peer);
    unregister(&mut sel, &a).expect("unregister of a closed source");
    assert_eq!(sel.len(), 1);
    // The selector still works for the others.
    expect_events(&mut sel, &mut events, &[(2, Interest::WRITE)]);
    expect_no_event_for(&mut sel, &mut events, 1);
    unregister(&mut sel, &keep).unwrap();
}

fn a_new_source_reusing_a_closed_number_is_reported_under_its_own_key(kind: SelectorKind) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut sel = selector(kind);
    let mut events = Events::new();
    // Other tests run in parallel and may take the freed number first: retry a few
    // times, holding every socket that missed so that it cannot get the number again.
    for _attempt in 0..10 {
        let (a, a_peer) = tcp_pair_from(&listener);
        let old = a.raw_source();
        register(&mut sel, &a, 1, Interest::READ).unwrap();
        unregister(&mut sel, &a).unwrap();
        drop(a);
        let mut misses = Vec::new();
        let mut reused = None;
        for _ in 0..8 {
            let b = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (b_peer, _) = listener.accept().unwrap();
            if b.raw_source() == old {
                reused = Some((b, b_peer));
                break;
            }
            misses.push((b, b_peer));
        }
        let Some((b, b_peer)) = reused else {
            drop(a_peer);
            continue;
        };
        register(&mut sel, &b, 2, Interest::READ).unwrap();
        assert_eq!(sel.len(), 1);
        send(&b_peer, b"new");
        let found = expect_events(&mut sel, &mut events, &[(2, Interest::READ)]);
        assert_eq!(found[0].key(), 2);
        assert!(readiness(&events, 1).is_none(), "old key: {events:?}");
        assert_eq!(recv_exact(&b, 3), b"new");
        unregister(&mut sel, &b).unwrap();
        drop(a_peer);
        return;
    }
    eprintln!("note: no descriptor number was reused within 10 attempts; nothing checked");
}

fn any_usize_key_is_reported_verbatim(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, usize::MAX, Interest::WRITE).unwrap();
    register(&mut sel, &b, 0, Interest::WRITE).unwrap();
    expect_events(
        &mut sel,
        &mut events,
        &[(usize::MAX, Interest::WRITE), (0, Interest::WRITE)],
    );
    modify(&mut sel, &a, usize::MAX - 1, Interest::WRITE).unwrap();
    expect_events(&mut sel, &mut events, &[(usize::MAX - 1, Interest::WRITE)]);
    unregister(&mut sel, &a).unwrap();
    unregister(&mut sel, &b).unwrap();
}

fn modify_with_a_new_key_and_the_same_interest_reports_the_new_key(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    send(&b, b"data");
    expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    modify(&mut sel, &a, 7, Interest::READ).unwrap();
    let found = expect_events(&mut sel, &mut events, &[(7, Interest::READ)]);
    assert!(found[0].is_readable());
    assert!(readiness(&events, 1).is_none(), "old key: {events:?}");
    unregister(&mut sel, &a).unwrap();
}

fn modify_switches_between_read_and_write_interest(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    send(&b, b"ready");
    register(&mut sel, &a, 1, Interest::WRITE).unwrap();
    expect_events(&mut sel, &mut events, &[(1, Interest::WRITE)]);
    modify(&mut sel, &a, 1, Interest::READ).unwrap();
    expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    modify(&mut sel, &a, 1, Interest::BOTH).unwrap();
    expect_events(&mut sel, &mut events, &[(1, Interest::BOTH)]);
    modify(&mut sel, &a, 1, Interest::WRITE).unwrap();
    expect_events(&mut sel, &mut events, &[(1, Interest::WRITE)]);
    unregister(&mut sel, &a).unwrap();
}

// ---------------------------------------------------------------------------------------
// Readiness
// ---------------------------------------------------------------------------------------

/// Python's test_select_read_write: one event per source, carrying both flags.
fn readable_and_writable_source_is_one_event_with_both_flags(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 5, Interest::BOTH).unwrap();
    // Writable only, at first.
    expect_events(&mut sel, &mut events, &[(5, Interest::WRITE)]);
    send(&b, b"hello");
    let found = expect_events(&mut sel, &mut events, &[(5, Interest::BOTH)]);
    assert!(found[0].is_readable() && found[0].is_writable());
    assert_eq!(events.len(), 1, "{events:?}");
    unregister(&mut sel, &a).unwrap();
}

fn level_triggered_read_is_reported_again_until_drained(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    expect_no_events(&mut sel, &mut events);
    send(&b, b"0123456789");
    expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    // Make sure all ten bytes have arrived before the partial read.
    let mut peeked = [0u8; 10];
    let mut tries = 0;
    while a.peek(&mut peeked).unwrap() < 10 {
        tries += 1;
        assert!(tries < 1000, "the ten bytes never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(recv_exact(&a, 3), b"012");
    // Still readable: reported again, and again.
    expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    assert_eq!(recv_exact(&a, 7), b"3456789");
    expect_no_events(&mut sel, &mut events);
    unregister(&mut sel, &a).unwrap();
}

fn level_triggered_write_is_reported_on_every_select(kind: SelectorKind) {
    let (a, _b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::WRITE).unwrap();
    for _ in 0..5 {
        expect_events(&mut sel, &mut events, &[(1, Interest::WRITE)]);
    }
    unregister(&mut sel, &a).unwrap();
}

fn peer_close_is_reported_readable_and_reads_end_of_file(kind: SelectorKind) {
    let (mut a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    expect_no_events(&mut sel, &mut events);
    drop(b);
    let found = expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    assert!(found[0].is_readable());
    let mut buf = [0u8; 16];
    assert_eq!(a.read(&mut buf).unwrap(), 0, "end of file expected");
    // End of file stays readable (level-triggered).
    expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    unregister(&mut sel, &a).unwrap();
}

/// A write-only channel learns of the peer's close by being woken and writing.
fn write_only_registration_of_a_peer_closed_socket_is_reported_writable(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::WRITE).unwrap();
    drop(b);
    let found = expect_events(&mut sel, &mut events, &[(1, Interest::WRITE)]);
    assert!(!found[0].is_readable(), "masked to WRITE: {:?}", found[0]);
    unregister(&mut sel, &a).unwrap();
}

/// As above over a Unix socket pair, where the peer's close is a full hang-up (`POLLHUP`):
/// every backend must still report it, masked to WRITE.
#[cfg(unix)]
fn write_only_registration_of_a_hung_up_unix_socket_is_reported_writable(kind: SelectorKind) {
    use std::os::unix::net::UnixStream;
    let (a, b) = UnixStream::pair().unwrap();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::WRITE).unwrap();
    drop(b);
    let found = expect_events(&mut sel, &mut events, &[(1, Interest::WRITE)]);
    assert!(!found[0].is_readable(), "masked to WRITE: {:?}", found[0]);
    unregister(&mut sel, &a).unwrap();
}

/// The hang-up flag where the backend can tell (all but select); select shows only
/// readability, and the read returns end of file.
#[cfg(unix)]
fn hang_up_is_flagged_by_every_backend_but_select(kind: SelectorKind) {
    use std::os::unix::net::UnixStream;
    let (mut a, b) = UnixStream::pair().unwrap();
    a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    drop(b);
    let found = expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    if kind == SelectorKind::Select {
        assert!(!found[0].is_hangup(), "{:?}", found[0]);
    } else {
        assert!(found[0].is_hangup(), "{:?}", found[0]);
    }
    assert!(!found[0].is_priority(), "{:?}", found[0]);
    let mut buf = [0u8; 4];
    assert_eq!(a.read(&mut buf).unwrap(), 0);
    unregister(&mut sel, &a).unwrap();
}

/// Out-of-band data is reported as readable with the priority flag by epoll, poll and
/// select on Unix (not by kqueue).
#[cfg(unix)]
fn out_of_band_data_is_readable_with_the_priority_flag(kind: SelectorKind) {
    if kind == SelectorKind::Kqueue {
        return;
    }
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    expect_no_events(&mut sel, &mut events);
    let sender = socket2::SockRef::from(&b);
    assert_eq!(sender.send_out_of_band(b"!").unwrap(), 1);
    let found = expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    assert!(found[0].is_priority(), "{:?}", found[0]);
    unregister(&mut sel, &a).unwrap();
}

fn listener_is_readable_when_a_connection_is_pending(kind: SelectorKind) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &listener, 3, Interest::READ).unwrap();
    expect_no_events(&mut sel, &mut events);
    let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    expect_events(&mut sel, &mut events, &[(3, Interest::READ)]);
    let (_server, _) = listener.accept().unwrap();
    expect_no_events(&mut sel, &mut events);
    unregister(&mut sel, &listener).unwrap();
}

fn udp_socket_is_writable_at_once_and_readable_when_a_datagram_arrives(kind: SelectorKind) {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &receiver, 1, Interest::BOTH).unwrap();
    expect_events(&mut sel, &mut events, &[(1, Interest::WRITE)]);
    sender
        .send_to(b"datagram", receiver.local_addr().unwrap())
        .unwrap();
    expect_events(&mut sel, &mut events, &[(1, Interest::BOTH)]);
    let mut buf = [0u8; 32];
    let (len, _) = receiver.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"datagram");
    expect_events(&mut sel, &mut events, &[(1, Interest::WRITE)]);
    unregister(&mut sel, &receiver).unwrap();
}

/// Python's test_selector: twelve socket pairs; each round one writer sends, and exactly its
/// reader becomes ready.
fn exactly_the_reader_written_to_becomes_ready(kind: SelectorKind) {
    const PAIRS: usize = 12;
    const MESSAGE: &[u8] = b" This is a test.";
    let pairs: Vec<(TcpStream, TcpStream)> = (0..PAIRS).map(|_| tcp_pair()).collect();
    let mut sel = selector(kind);
    let mut events = Events::new();
    // Reader i has key 2i, its writer 2i + 1.
    for (i, (reader, writer)) in pairs.iter().enumerate() {
        register(&mut sel, reader, 2 * i, Interest::READ).unwrap();
        register(&mut sel, writer, 2 * i + 1, Interest::WRITE).unwrap();
    }
    let mut rng = Lcg::new(0x5eed);
    let mut live: Vec<usize> = (0..PAIRS).collect();
    let mut received = Vec::new();
    while !live.is_empty() {
        // Every live writer is ready, and no reader.
        let mut ready_writers = Vec::new();
        for _ in 0..ATTEMPTS {
            sel.select(&mut events, Some(WAIT)).unwrap();
            check_events(&events);
            ready_writers = events
                .iter()
                .filter(|e| e.is_writable())
                .map(|e| e.key())
                .collect();
            assert!(
                events.iter().all(|e| e.key() % 2 == 1),
                "a reader was ready before anything was sent: {events:?}"
            );
            if ready_writers.len() == live.len() {
                break;
            }
        }
        ready_writers.sort_unstable();
        let expected: Vec<usize> = live.iter().map(|i| 2 * i + 1).collect();
        assert_eq!(ready_writers, expected);

        let chosen = live[rng.below(live.len())];
        send(&pairs[chosen].1, MESSAGE);

        let mut ready_readers = Vec::new();
        for _ in 0..ATTEMPTS {
            sel.select(&mut events, Some(WAIT)).unwrap();
            check_events(&events);
            ready_readers = events
                .iter()
                .filter(|e| e.is_readable())
                .map(|e| e.key())
                .collect();
            if !ready_readers.is_empty() {
                break;
            }
        }
        assert_eq!(ready_readers, vec![2 * chosen]);
        received.push(recv_exact(&pairs[chosen].0, MESSAGE.len()));
        unregister(&mut sel, &pairs[chosen].0).unwrap();
        unregister(&mut sel, &pairs[chosen].1).unwrap();
        live.retain(|&i| i != chosen);
        assert_eq!(sel.len(), 2 * live.len());
    }
    assert_eq!(received, vec![MESSAGE.to_vec(); PAIRS]);
    assert!(sel.is_empty());
}

// ---------------------------------------------------------------------------------------
// Interest::NONE
// ---------------------------------------------------------------------------------------

fn interest_none_parks_a_readable_source_until_modified(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    send(&b, b"waiting");
    register(&mut sel, &a, 1, Interest::NONE).unwrap();
    assert_eq!(sel.len(), 1);
    expect_no_events(&mut sel, &mut events);
    modify(&mut sel, &a, 1, Interest::READ).unwrap();
    expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    modify(&mut sel, &a, 1, Interest::NONE).unwrap();
    expect_no_events(&mut sel, &mut events);
    modify(&mut sel, &a, 2, Interest::BOTH).unwrap();
    expect_events(&mut sel, &mut events, &[(2, Interest::BOTH)]);
    unregister(&mut sel, &a).unwrap();
    assert!(sel.is_empty());
}

/// A parked source that hangs up must not end a `select` early (epoll and poll report
/// hang-ups whatever the interest): the wait lasts its full timeout, empty.
fn interest_none_hung_up_source_does_not_end_select_early(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::NONE).unwrap();
    // The peer closes, and `a` shuts down its own side: both directions are closed,
    // which is a hang-up (POLLHUP) on Linux.
    drop(b);
    a.shutdown(Shutdown::Write).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..3 {
        let timeout = Duration::from_millis(100);
        let elapsed = timed_select(&mut sel, &mut events, Some(timeout));
        assert!(events.is_empty(), "{events:?}");
        assert!(elapsed >= timeout, "returned after {elapsed:?}");
        assert!(elapsed < SANITY, "returned after {elapsed:?}");
    }
    modify(&mut sel, &a, 1, Interest::READ).unwrap();
    expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    unregister(&mut sel, &a).unwrap();
}

#[cfg(unix)]
fn interest_none_hung_up_unix_socket_does_not_end_select_early(kind: SelectorKind) {
    use std::os::unix::net::UnixStream;
    let (a, b) = UnixStream::pair().unwrap();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::NONE).unwrap();
    drop(b);
    for _ in 0..3 {
        let timeout = Duration::from_millis(100);
        let elapsed = timed_select(&mut sel, &mut events, Some(timeout));
        assert!(events.is_empty(), "{events:?}");
        assert!(elapsed >= timeout, "returned after {elapsed:?}");
        assert!(elapsed < SANITY, "returned after {elapsed:?}");
    }
    modify(&mut sel, &a, 1, Interest::WRITE).unwrap();
    expect_events(&mut sel, &mut events, &[(1, Interest::WRITE)]);
    modify(&mut sel, &a, 1, Interest::NONE).unwrap();
    let elapsed = timed_select(&mut sel, &mut events, Some(Duration::from_millis(100)));
    assert!(events.is_empty(), "{events:?}");
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    unregister(&mut sel, &a).unwrap();
}

// ---------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------

fn zero_timeout_returns_at_once_without_registrations(kind: SelectorKind) {
    let mut sel = selector(kind);
    let mut events = Events::new();
    // If a zero timeout blocked, the watchdog would end the wait after `SANITY`.
    let _watchdog = Watchdog::new(sel.waker(), SANITY);
    for _ in 0..10 {
        let elapsed = timed_select(&mut sel, &mut events, Some(Duration::ZERO));
        assert!(events.is_empty(), "{events:?}");
        assert!(elapsed < SANITY, "took {elapsed:?}");
    }
}

fn zero_timeout_returns_at_once_with_nothing_ready(kind: SelectorKind) {
    let (a, _b) = tcp_pair();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    register(&mut sel, &listener, 2, Interest::READ).unwrap();
    let _watchdog = Watchdog::new(sel.waker(), SANITY);
    for _ in 0..10 {
        let elapsed = timed_select(&mut sel, &mut events, Some(Duration::ZERO));
        assert!(events.is_empty(), "{events:?}");
        assert!(elapsed < SANITY, "took {elapsed:?}");
    }
    unregister(&mut sel, &a).unwrap();
    unregister(&mut sel, &listener).unwrap();
}

fn zero_timeout_reports_what_is_ready(kind: SelectorKind) {
    let (a, _b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::WRITE).unwrap();
    // Writability of a fresh connection is immediate; allow a few polls all the same.
    let mut seen = false;
    for _ in 0..100 {
        sel.select(&mut events, Some(Duration::ZERO)).unwrap();
        if readiness(&events, 1) == Some(Interest::WRITE) {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        seen,
        "a writable socket was never reported by a zero-timeout select"
    );
    unregister(&mut sel, &a).unwrap();
}

/// Python's test_empty_select_timeout / test_timeout: the wait is never shorter than asked.
fn timeout_never_returns_early_without_registrations(kind: SelectorKind) {
    let mut sel = selector(kind);
    let mut events = Events::new();
    let timeout = Duration::from_millis(200);
    let elapsed = timed_select(&mut sel, &mut events, Some(timeout));
    assert!(events.is_empty(), "{events:?}");
    assert!(elapsed >= timeout, "returned after {elapsed:?}");
    assert!(elapsed < SANITY, "returned after {elapsed:?}");
}

fn timeout_never_returns_early_with_nothing_ready(kind: SelectorKind) {
    let (a, _b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    let timeout = Duration::from_millis(200);
    let elapsed = timed_select(&mut sel, &mut events, Some(timeout));
    assert!(events.is_empty(), "{events:?}");
    assert!(elapsed >= timeout, "returned after {elapsed:?}");
    assert!(elapsed < SANITY, "returned after {elapsed:?}");
    unregister(&mut sel, &a).unwrap();
}

/// Sub-millisecond and fractional timeouts are rounded up, never down.
fn fractional_timeouts_never_return_early(kind: SelectorKind) {
    let mut sel = selector(kind);
    let mut events = Events::new();
    for timeout in [
        Duration::from_nanos(1),
        Duration::from_micros(1),
        Duration::from_micros(500),
        Duration::from_micros(1_500),
        Duration::from_micros(10_100),
        Duration::from_micros(29_999),
    ] {
        for _ in 0..3 {
            let elapsed = timed_select(&mut sel, &mut events, Some(timeout));
            assert!(events.is_empty(), "{events:?}");
            assert!(elapsed >= timeout, "{timeout:?} returned after {elapsed:?}");
            assert!(elapsed < SANITY, "{timeout:?} returned after {elapsed:?}");
        }
    }
}

/// `None` blocks until something is ready (a peer's write here, so that the test stays
/// bounded even if the waker were broken).
fn select_without_timeout_blocks_until_a_source_is_ready(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    let writer = send_later(&b, Duration::from_millis(100));
    let elapsed = timed_select(&mut sel, &mut events, None);
    writer.join().unwrap();
    assert_eq!(readiness(&events, 1), Some(Interest::READ), "{events:?}");
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    assert!(elapsed < SANITY, "{elapsed:?}");
    unregister(&mut sel, &a).unwrap();
}

/// A timeout too large for the OS (or for `Instant`) is no error: the wait lasts until
/// something is ready.
fn huge_timeouts_are_accepted_and_wait_until_a_source_is_ready(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    for timeout in [Duration::from_secs(100 * 365 * 24 * 3600), Duration::MAX] {
        let writer = send_later(&b, Duration::from_millis(50));
        let elapsed = timed_select(&mut sel, &mut events, Some(timeout));
        writer.join().unwrap();
        assert_eq!(readiness(&events, 1), Some(Interest::READ), "{events:?}");
        assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
        assert!(elapsed < SANITY, "{elapsed:?}");
        assert_eq!(recv_exact(&a, 1), b"!");
    }
    unregister(&mut sel, &a).unwrap();
}

/// Writes one byte `!` to `stream` from another thread after `delay`.
fn send_later(stream: &TcpStream, delay: Duration) -> std::thread::JoinHandle<()> {
    let stream = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        send(&stream, b"!");
    })
}

// ---------------------------------------------------------------------------------------
// Waker
// ---------------------------------------------------------------------------------------

fn waker_from_another_thread_ends_a_blocking_select(kind: SelectorKind) {
    let (a, _b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    let waker = sel.waker();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        waker.wake()
    });
    let elapsed = timed_select(&mut sel, &mut events, Some(Duration::from_secs(30)));
    thread.join().unwrap().unwrap();
    assert!(events.is_empty(), "{events:?}");
    assert!(
        elapsed >= Duration::from_millis(100),
        "returned after {elapsed:?}, before the wake"
    );
    assert!(
        elapsed < SANITY,
        "the wake did not end the select: {elapsed:?}"
    );
    unregister(&mut sel, &a).unwrap();
}

fn wake_before_select_makes_the_next_select_return_at_once(kind: SelectorKind) {
    let mut sel = selector(kind);
    let mut events = Events::new();
    sel.waker().wake().unwrap();
    let elapsed = timed_select(&mut sel, &mut events, Some(Duration::from_secs(30)));
    assert!(events.is_empty(), "{events:?}");
    assert!(elapsed < SANITY, "the pending wake was lost: {elapsed:?}");
    // The wake was consumed: the next select waits its full timeout.
    let timeout = Duration::from_millis(50);
    let elapsed = timed_select(&mut sel, &mut events, Some(timeout));
    assert!(events.is_empty(), "{events:?}");
    assert!(
        elapsed >= timeout,
        "a consumed wake ended a select: {elapsed:?}"
    );
}

fn many_wakes_coalesce_into_one_return(kind: SelectorKind) {
    let mut sel = selector(kind);
    let mut events = Events::new();
    let waker = sel.waker();
    let clone = waker.clone();
    for i in 0..1000 {
        if i % 2 == 0 {
            waker.wake().unwrap();
        } else {
            clone.wake().unwrap();
        }
    }
    let elapsed = timed_select(&mut sel, &mut events, Some(Duration::from_secs(30)));
    assert!(events.is_empty(), "{events:?}");
    assert!(elapsed < SANITY, "the wakes were lost: {elapsed:?}");
    let timeout = Duration::from_millis(50);
    let elapsed = timed_select(&mut sel, &mut events, Some(timeout));
    assert!(events.is_empty(), "{events:?}");
    assert!(
        elapsed >= timeout,
        "the wakes were not coalesced: {elapsed:?}"
    );
    // And the waker still works afterwards.
    waker.wake().unwrap();
    let elapsed = timed_select(&mut sel, &mut events, Some(Duration::from_secs(30)));
    assert!(
        elapsed < SANITY,
        "a wake after coalescing was lost: {elapsed:?}"
    );
}

fn wakes_from_many_threads_each_end_a_select(kind: SelectorKind) {
    let mut sel = selector(kind);
    let mut events = Events::new();
    for round in 0..5 {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let waker = sel.waker();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    waker.wake()
                })
            })
            .collect();
        let elapsed = timed_select(&mut sel, &mut events, Some(Duration::from_secs(30)));
        assert!(elapsed < SANITY, "round {round}: {elapsed:?}");
        for thread in threads {
            thread.join().unwrap().unwrap();
        }
        // Drain a wake that came after the select returned.
        sel.select(&mut events, Some(Duration::ZERO)).unwrap();
    }
}

fn a_woken_select_still_reports_ready_sources(kind: SelectorKind) {
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    let mut events = Events::new();
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    send(&b, b"x");
    // Let the byte arrive, then wake: the select returns with the byte's readiness
    // (now or on the next call), never an error.
    expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    sel.waker().wake().unwrap();
    sel.select(&mut events, Some(Duration::from_secs(30)))
        .unwrap();
    check_events(&events);
    expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
    unregister(&mut sel, &a).unwrap();
}

// ---------------------------------------------------------------------------------------
// What the OS refuses (Unix)
// ---------------------------------------------------------------------------------------

/// Python's test_register_file: epoll refuses regular files (`PermissionDenied`) and
/// leaves nothing registered; poll and select report them always ready.
#[cfg(unix)]
fn regular_file_is_refused_by_epoll_and_always_ready_for_poll_and_select(kind: SelectorKind) {
    use std::fs::File;
    use std::io::Write;
    // A name of this backend's own: the backends' tests run in parallel.
    let path = std::env::temp_dir().join(format!(
        "ioloop-selector-test-{}-{kind}-regular-file",
        std::process::id()
    ));
    {
        let mut file = File::create(&path).unwrap();
        file.write_all(b"contents").unwrap();
    }
    let file = File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut sel = selector(kind);
    let mut events = Events::new();
    let result = register(&mut sel, &file, 1, Interest::BOTH);
    if kind == SelectorKind::Epoll {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        assert_eq!(sel.len(), 0);
        // Nothing was left behind: neither in the table nor in the kernel.
        let err = unregister(&mut sel, &file).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        expect_no_events(&mut sel, &mut events);
    } else if kind == SelectorKind::Poll || kind == SelectorKind::Select {
        result.unwrap();
        assert_eq!(sel.len(), 1);
        expect_events(&mut sel, &mut events, &[(1, Interest::BOTH)]);
        unregister(&mut sel, &file).unwrap();
    } else {
        // kqueue and event ports: whatever the OS says, no half registration.
        if result.is_err() {
            assert_eq!(sel.len(), 0);
        } else {
            unregister(&mut sel, &file).unwrap();
        }
    }
    assert_eq!(sel.len(), 0);
}

/// Python's test_register_bad_fd: a closed descriptor is refused at `register` by every
/// backend (poll and select check it up front) and nothing is left registered.
#[cfg(unix)]
fn closed_descriptor_is_refused_at_register(kind: SelectorKind) {
    // A number that cannot be open: far above any descriptor limit. A number freed by a
    // `close` here could be reused by another test's socket before `register` runs.
    let bad: ioloop::selector::RawSource = i32::MAX - 1;
    let mut sel = selector(kind);
    let mut events = Events::new();
    // SAFETY: deliberately invalid; every backend validates the number with a system
    // call (fcntl, epoll_ctl, kevent) that answers EBADF.
    let err = unsafe { sel.register(bad, 1, Interest::READ) }.unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
    // Nothing is left registered (`unregister` cannot be asked: no handle can borrow a
    // number that is not open).
    assert_eq!(sel.len(), 0);
    // The selector is unharmed.
    expect_no_events(&mut sel, &mut events);
}

/// As Python's test: a descriptor that really was open and has been closed.
#[cfg(unix)]
fn just_closed_descriptor_is_refused_at_register(kind: SelectorKind) {
    let mut sel = selector(kind);
    for _ in 0..10 {
        let (a, _b) = tcp_pair();
        let raw = a.raw_source();
        drop(a);
        // SAFETY: `raw` was just closed. Every backend validates it (fcntl or
        // epoll_ctl); if a parallel test reused the number meanwhile, the registration
        // succeeds and is undone at once below.
        match unsafe { sel.register(raw, 1, Interest::READ) } {
            Err(err) => {
                assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
                assert_eq!(sel.len(), 0);
                return;
            }
            // The number is another test's socket, which this test cannot borrow: undo the
            // registration by dropping the selector.
            Ok(()) => sel = selector(kind),
        }
    }
    panic!("a closed descriptor was accepted ten times");
}

/// `-1` (Unix) and `INVALID_SOCKET` (Windows) are refused before any backend borrows them:
/// a borrowed handle holding either would be undefined behaviour.
fn the_invalid_number_is_refused_at_register(kind: SelectorKind) {
    #[cfg(unix)]
    let invalid: ioloop::selector::RawSource = -1;
    #[cfg(windows)]
    let invalid: ioloop::selector::RawSource = !0;
    let mut sel = selector(kind);
    let mut events = Events::new();
    // SAFETY: deliberately invalid; `register` refuses it before using it.
    let err = unsafe { sel.register(invalid, 1, Interest::READ) }.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(sel.len(), 0);
    expect_no_events(&mut sel, &mut events);
}

fn assert_send<T: Send>() {}

/// As mio's `Poll` and polling's `Poller`: a selector may be made on one thread and used
/// on another (a server built before its thread is spawned).
fn selectors_can_move_to_another_thread(kind: SelectorKind) {
    assert_send::<DefaultSelector>();
    assert_send::<NativeSelector>();
    assert_send::<SelectSelector>();
    #[cfg(unix)]
    assert_send::<ioloop::selector::PollSelector>();
    let (a, b) = tcp_pair();
    let mut sel = selector(kind);
    register(&mut sel, &a, 1, Interest::READ).unwrap();
    send(&b, b"x");
    let mut sel = std::thread::spawn(move || {
        let mut events = Events::new();
        expect_events(&mut sel, &mut events, &[(1, Interest::READ)]);
        sel
    })
    .join()
    .unwrap();
    unregister(&mut sel, &a).unwrap();
}

// ---------------------------------------------------------------------------------------
// The concrete types and SelectorKind
// ---------------------------------------------------------------------------------------

#[test]
fn concrete_selectors_report_their_kind() {
    let native = NativeSelector::new().unwrap();
    assert_eq!(Some(native.kind()), SelectorKind::native());
    let select = SelectSelector::new().unwrap();
    assert_eq!(select.kind(), SelectorKind::Select);
    #[cfg(unix)]
    {
        let poll = ioloop::selector::PollSelector::new().unwrap();
        assert_eq!(poll.kind(), SelectorKind::Poll);
    }
    for kind in SelectorKind::available() {
        assert_eq!(DefaultSelector::with_kind(kind).unwrap().kind(), kind);
    }
}

#[test]
fn concrete_selectors_select_like_the_default_one() {
    fn check<S: Selector>(mut sel: S) {
        let (a, b) = tcp_pair();
        let mut events = Events::new();
        register(&mut sel, &a, 4, Interest::READ).unwrap();
        send(&b, b"x");
        let found = expect_events(&mut sel, &mut events, &[(4, Interest::READ)]);
        assert!(event_for(&events, 4).is_some(), "{found:?}");
        unregister(&mut sel, &a).unwrap();
        // `a` is still open here; the selector is dropped with it unregistered.
    }
    check(NativeSelector::new().unwrap());
    check(SelectSelector::new().unwrap());
    #[cfg(unix)]
    check(ioloop::selector::PollSelector::new().unwrap());
}

#[test]
fn available_kinds_are_non_empty_distinct_and_best_first() {
    let kinds = SelectorKind::available();
    assert!(kinds.len() >= 2, "{kinds:?}");
    assert_eq!(kinds[0], SelectorKind::best());
    assert_eq!(
        SelectorKind::native().unwrap_or(SelectorKind::Poll),
        kinds[0]
    );
    for (i, kind) in kinds.iter().enumerate() {
        assert!(kind.is_available());
        assert!(kind.check_available().is_ok());
        assert!(!kinds[i + 1..].contains(kind), "{kinds:?}");
    }
    // Native, then poll, then select.
    let rank = |kind: &SelectorKind| match kind {
        SelectorKind::Poll => 1,
        SelectorKind::Select => 2,
        _ => 0,
    };
    assert!(
        kinds.windows(2).all(|w| rank(&w[0]) < rank(&w[1])),
        "{kinds:?}"
    );
    for kind in ALL_KINDS {
        assert_eq!(kinds.contains(&kind), kind.is_available(), "{kind}");
    }
    #[cfg(target_os = "linux")]
    assert_eq!(
        kinds,
        [
            SelectorKind::Epoll,
            SelectorKind::Poll,
            SelectorKind::Select
        ]
    );
    #[cfg(windows)]
    assert_eq!(kinds, [SelectorKind::Iocp, SelectorKind::Select]);
    #[cfg(target_os = "macos")]
    assert_eq!(
        kinds,
        [
            SelectorKind::Kqueue,
            SelectorKind::Poll,
            SelectorKind::Select
        ]
    );
}

/// The tests run per backend on the kinds `per_kind!` compiles in (tests/common/kinds.rs):
/// exactly the ones this platform has, so none is skipped and none is missed.
#[test]
fn the_tests_run_on_every_available_kind() {
    assert_eq!(compiled_kinds(), SelectorKind::available());
}

#[test]
fn kind_names_round_trip_through_display_and_from_str() {
    let expected = ["epoll", "kqueue", "iocp", "event-ports", "poll", "select"];
    for (kind, name) in ALL_KINDS.into_iter().zip(expected) {
        assert_eq!(kind.name(), name);
        assert_eq!(kind.to_string(), name);
        assert_eq!(name.parse::<SelectorKind>().unwrap(), kind);
        assert_eq!(
            name.to_ascii_uppercase().parse::<SelectorKind>().unwrap(),
            kind
        );
        assert_eq!(format!(" {name}\n").parse::<SelectorKind>().unwrap(), kind);
    }
    for alias in ["event_ports", "eventports", "EVENT_PORTS"] {
        assert_eq!(
            alias.parse::<SelectorKind>().unwrap(),
            SelectorKind::EventPorts
        );
    }
}

#[test]
fn choose_auto_is_the_best_kind() {
    for name in ["auto", "AUTO", " auto ", ""] {
        assert_eq!(
            SelectorKind::choose(name).unwrap(),
            SelectorKind::best(),
            "{name:?}"
        );
    }
    for kind in SelectorKind::available() {
        assert_eq!(SelectorKind::choose(kind.name()).unwrap(), kind);
    }
}

#[test]
fn choosing_an_unavailable_kind_is_unsupported_and_names_the_available_ones() {
    let unavailable: Vec<SelectorKind> = ALL_KINDS
        .into_iter()
        .filter(|kind| !kind.is_available())
        .collect();
    assert!(!unavailable.is_empty());
    #[cfg(target_os = "linux")]
    assert!(
        unavailable.contains(&SelectorKind::Kqueue) && unavailable.contains(&SelectorKind::Iocp)
    );
    for kind in unavailable {
        for err in [
            SelectorKind::choose(kind.name()).unwrap_err(),
            kind.check_available().unwrap_err(),
            DefaultSelector::with_kind(kind).unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
            let message = err.to_string();
            assert!(message.contains(kind.name()), "{message}");
            for available in SelectorKind::available() {
                assert!(message.contains(available.name()), "{message}");
            }
        }
        let err = ioloop::selector::SelectorMap::<TcpStream, ()>::with_kind(kind).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    }
}

#[test]
fn an_unknown_kind_name_is_invalid_input() {
    for name in ["no-such-thing", "epol", "auto poll", "select2"] {
        let err = name.parse::<SelectorKind>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = SelectorKind::choose(name).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let message = err.to_string();
        assert!(message.contains(name), "{message}");
        for available in SelectorKind::available() {
            assert!(message.contains(available.name()), "{message}");
        }
    }
    // `auto` is accepted by `choose`, but is no kind.
    assert_eq!(
        "auto".parse::<SelectorKind>().unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

/// A `Waker` may outlive its selector (a loop handle kept by another thread after the loop
/// ended): waking then has nobody to wake and must be a harmless no-op, the same on every
/// backend.
fn wake_after_the_selector_is_dropped_is_a_no_op(kind: SelectorKind) {
    let sel = selector(kind);
    let waker = sel.waker();
    drop(sel);
    for _ in 0..3 {
        waker.wake().expect("wake after the selector was dropped");
    }
}

per_kind! {
    register_modify_unregister_track_the_registration,
    the_invalid_number_is_refused_at_register,
    selectors_can_move_to_another_thread,
    unregistered_source_is_no_longer_reported,
    registering_a_source_twice_is_already_exists_and_keeps_the_first,
    modify_or_unregister_of_an_unknown_source_is_not_found,
    #[cfg(unix)]
    unregister_after_the_source_was_closed_is_tolerated,
    a_new_source_reusing_a_closed_number_is_reported_under_its_own_key,
    any_usize_key_is_reported_verbatim,
    modify_with_a_new_key_and_the_same_interest_reports_the_new_key,
    modify_switches_between_read_and_write_interest,
    readable_and_writable_source_is_one_event_with_both_flags,
    level_triggered_read_is_reported_again_until_drained,
    level_triggered_write_is_reported_on_every_select,
    peer_close_is_reported_readable_and_reads_end_of_file,
    write_only_registration_of_a_peer_closed_socket_is_reported_writable,
    #[cfg(unix)]
    write_only_registration_of_a_hung_up_unix_socket_is_reported_writable,
    #[cfg(unix)]
    hang_up_is_flagged_by_every_backend_but_select,
    #[cfg(unix)]
    out_of_band_data_is_readable_with_the_priority_flag,
    listener_is_readable_when_a_connection_is_pending,
    udp_socket_is_writable_at_once_and_readable_when_a_datagram_arrives,
    exactly_the_reader_written_to_becomes_ready,
    interest_none_parks_a_readable_source_until_modified,
    interest_none_hung_up_source_does_not_end_select_early,
    #[cfg(unix)]
    interest_none_hung_up_unix_socket_does_not_end_select_early,
    zero_timeout_returns_at_once_without_registrations,
    zero_timeout_returns_at_once_with_nothing_ready,
    zero_timeout_reports_what_is_ready,
    timeout_never_returns_early_without_registrations,
    timeout_never_returns_early_with_nothing_ready,
    fractional_timeouts_never_return_early,
    select_without_timeout_blocks_until_a_source_is_ready,
    huge_timeouts_are_accepted_and_wait_until_a_source_is_ready,
    waker_from_another_thread_ends_a_blocking_select,
    wake_before_select_makes_the_next_select_return_at_once,
    many_wakes_coalesce_into_one_return,
    wakes_from_many_threads_each_end_a_select,
    a_woken_select_still_reports_ready_sources,
    #[cfg(unix)]
    regular_file_is_refused_by_epoll_and_always_ready_for_poll_and_select,
    #[cfg(unix)]
    closed_descriptor_is_refused_at_register,
    #[cfg(unix)]
    just_closed_descriptor_is_refused_at_register,
    wake_after_the_selector_is_dropped_is_a_no_op,
}
