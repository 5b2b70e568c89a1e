//! Driving a bare [`Selector`]: registration helpers (the only places the tests hand a
//! source's raw number to `modify` and `unregister`), and event checks that tolerate
//! spurious wake-ups.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ioloop::selector::{
    DefaultSelector, Event, Events, Interest, Selector, SelectorKind, Source, Waker,
};

/// How long a test waits for something that should happen at once, per `select` call.
pub const WAIT: Duration = Duration::from_millis(500);

/// How many `select` calls a test makes before it gives up on an expected event.
pub const ATTEMPTS: usize = 20;

/// How long a test waits before it decides nothing is coming.
pub const QUIET: Duration = Duration::from_millis(100);

/// The loose upper sanity bound for "returned at once" / "returned early" checks.
pub const SANITY: Duration = Duration::from_secs(10);

/// A selector of `kind`, checked to be that kind and empty.
pub fn selector(kind: SelectorKind) -> DefaultSelector {
    let selector = DefaultSelector::with_kind(kind).expect("creating the selector");
    assert_eq!(selector.kind(), kind);
    assert_eq!(selector.len(), 0);
    assert!(selector.is_empty());
    selector
}

/// Registers `source` on `selector`.
///
/// Every caller keeps `source` alive until it unregisters it or drops the selector, which is
/// what [`Selector::register`] asks for.
pub fn register<S: Selector>(
    selector: &mut S,
    source: &impl Source,
    key: usize,
    interest: Interest,
) -> io::Result<()> {
    // SAFETY: the test keeps `source` open until it is unregistered or the selector is
    // dropped (every caller declares the source before the selector or unregisters it first).
    unsafe { selector.register(source.raw_source(), key, interest) }
}

/// [`Selector::modify`] for an open `source`.
pub fn modify<S: Selector>(
    selector: &mut S,
    source: &impl Source,
    key: usize,
    interest: Interest,
) -> io::Result<()> {
    selector.modify(source.as_source(), key, interest)
}

/// [`Selector::unregister`] for an open `source`.
pub fn unregister<S: Selector>(selector: &mut S, source: &impl Source) -> io::Result<()> {
    selector.unregister(source.as_source())
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
