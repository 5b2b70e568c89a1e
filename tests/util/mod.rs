//! Helpers shared by the selector tests: one run per backend, real socket pairs on
//! 127.0.0.1, and event checks that tolerate spurious wake-ups.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ioloop::selector::{DefaultSelector, Event, Events, Interest, Selector, SelectorKind, Waker};

#[allow(unused_imports)] // not every test file runs per backend
pub use crate::kinds::for_each_kind;

/// How long a test waits for something that should happen at once, per `select` call.
pub const WAIT: Duration = Duration::from_millis(500);

/// How many `select` calls a test makes before it gives up on an expected event.
pub const ATTEMPTS: usize = 20;

/// How long a test waits before it decides nothing is coming.
pub const QUIET: Duration = Duration::from_millis(100);

/// The loose upper sanity bound for "returned at once" / "returned early" checks.
pub const SANITY: Duration = Duration::from_secs(10);

/// Timeouts for blocking socket calls, so that a broken test fails instead of hanging.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A selector of `kind`, checked to be that kind and empty.
pub fn selector(kind: SelectorKind) -> DefaultSelector {
    let selector = DefaultSelector::with_kind(kind).expect("creating the selector");
    assert_eq!(selector.kind(), kind);
    assert_eq!(selector.len(), 0);
    assert!(selector.is_empty());
    selector
}

/// A connected pair of TCP sockets on 127.0.0.1 (blocking, with I/O timeouts).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    tcp_pair_from(&listener)
}

/// A connected pair made through `listener`: (the connecting side, the accepted side).
pub fn tcp_pair_from(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().expect("local_addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    for stream in [&client, &server] {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
    }
    (client, server)
}

/// Writes all of `data` (blocking, bounded by the write timeout).
pub fn send(mut stream: &TcpStream, data: &[u8]) {
    stream.write_all(data).expect("write_all");
}

/// Reads exactly `len` bytes (blocking, bounded by the read timeout).
pub fn recv_exact(mut stream: &TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    stream.read_exact(&mut buf).expect("read_exact");
    buf
}

/// Registers `source` on `selector`.
///
/// Every caller keeps `source` alive until it unregisters it or drops the selector, which is
/// what [`Selector::register`] asks for.
pub fn register<S: Selector>(
    selector: &mut S,
    source: &impl ioloop::selector::Source,
    key: usize,
    interest: Interest,
) -> io::Result<()> {
    // SAFETY: the test keeps `source` open until it is unregistered or the selector is
    // dropped (every caller declares the source before the selector or unregisters it first).
    unsafe { selector.register(source.raw_source(), key, interest) }
}

/// Checks what every `select` result must satisfy: one event per key, never an empty
/// readiness.
pub fn check_events(events: &Events) {
    let mut keys: Vec<usize> = events.iter().map(Event::key).collect();
    keys.sort_unstable();
    let before = keys.len();
    keys.dedup();
    assert_eq!(
        before,
        keys.len(),
        "a source was reported twice in one select: {events:?}"
    );
    for event in events {
        assert!(
            !event.readiness().is_none(),
            "an event without readiness: {event:?}"
        );
    }
}

/// The readiness reported for `key` in `events`, if any.
pub fn readiness(events: &Events, key: usize) -> Option<Interest> {
    events
        .iter()
        .find(|event| event.key() == key)
        .map(Event::readiness)
}

/// The event reported for `key`, if any.
pub fn event_for(events: &Events, key: usize) -> Option<Event> {
    events.iter().find(|event| event.key() == key).copied()
}

/// Selects until every `(key, readiness)` in `expected` has been reported with exactly that
/// readiness (over at most [`ATTEMPTS`] calls of at most [`WAIT`] each); other events are
/// ignored. Returns the last event seen for each expected key, in `expected`'s order.
pub fn expect_events<S: Selector>(
    selector: &mut S,
    events: &mut Events,
    expected: &[(usize, Interest)],
) -> Vec<Event> {
    let mut found: Vec<Option<Event>> = vec![None; expected.len()];
    let mut seen = Vec::new();
    for _ in 0..ATTEMPTS {
        selector.select(events, Some(WAIT)).expect("select");
        check_events(events);
        for event in events.iter() {
            seen.push(*event);
            for (slot, &(key, ready)) in found.iter_mut().zip(expected) {
                if event.key() == key && event.readiness() == ready {
                    *slot = Some(*event);
                }
            }
        }
        if found.iter().all(Option::is_some) {
            return found.into_iter().map(Option::unwrap).collect();
        }
    }
    panic!("expected events {expected:?} were not all reported; saw {seen:?}");
}

/// Selects for [`QUIET`] and checks that nothing at all is reported.
pub fn expect_no_events<S: Selector>(selector: &mut S, events: &mut Events) {
    selector.select(events, Some(QUIET)).expect("select");
    assert!(events.is_empty(), "expected no events, got {events:?}");
}

/// Selects for [`QUIET`] and checks that `key` is not reported.
pub fn expect_no_event_for<S: Selector>(selector: &mut S, events: &mut Events, key: usize) {
    selector.select(events, Some(QUIET)).expect("select");
    check_events(events);
    assert!(
        readiness(events, key).is_none(),
        "expected no event for key {key}, got {events:?}"
    );
}

/// Runs `select` and returns how long it took; it must succeed.
pub fn timed_select<S: Selector>(
    selector: &mut S,
    events: &mut Events,
    timeout: Option<Duration>,
) -> Duration {
    let start = Instant::now();
    selector.select(events, timeout).expect("select");
    start.elapsed()
}

/// Wakes a selector after `after` unless dropped first: turns a `select` that would block
/// forever into a failing test.
pub struct Watchdog {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    pub fn new(waker: Waker, after: Duration) -> Watchdog {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < after {
                if thread_stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            waker.wake().expect("watchdog wake");
        });
        Watchdog {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A small deterministic pseudo-random sequence (an LCG), so tests need no `rand`.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed)
    }

    /// A number in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % bound as u64) as usize
    }
}
