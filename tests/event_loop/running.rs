//! Running and stopping the loop, and closures sent to it from other threads.

use std::io::{self, Write};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ioloop::selector::SelectorKind;
use ioloop::{Dispatcher, EventLoop, TimerId};

use crate::common::event_loop::{Log, STEP, run_steps, run_until};
use crate::common::kinds::per_kind;
use crate::common::net::tcp_pair;
use crate::common::{LIMIT, on_thread};
use crate::dispatchers::{Cx, Echo, Reader, check_echo_still_works, new_loop, quiet_socket};

fn stop_from_another_thread_ends_run(kind: SelectorKind) {
    let (handle_tx, handle_rx) = mpsc::channel();
    let (ran_tx, ran_rx) = mpsc::channel();
    let loop_thread = thread::spawn(move || {
        let mut event_loop = new_loop(kind);
        let (peer, local) = tcp_pair();
        event_loop.spawn(local, Reader::default()).unwrap(); // an idle channel
        handle_tx.send(event_loop.handle()).unwrap();
        let outcome = event_loop.run();
        let _ = ran_tx.send((outcome.is_ok(), event_loop.len()));
        drop(peer);
    });
    let handle = handle_rx.recv_timeout(LIMIT).expect("the loop's handle");
    // Give run() time to block in its wait (no assertion depends on it).
    thread::sleep(Duration::from_millis(100));
    handle.stop();
    let (ok, channels) = ran_rx
        .recv_timeout(LIMIT)
        .expect("run() returned after stop()");
    assert!(ok);
    assert_eq!(channels, 1, "stop() closes nothing");
    loop_thread.join().unwrap();
}

/// Reads one byte per call and stops the loop.
struct StopAfterRead;

impl Dispatcher<Log> for StopAfterRead {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut byte = [0u8; 1];
        let n = cx.recv(&mut byte)?;
        cx.state().data.extend_from_slice(&byte[..n]);
        cx.stop();
        Ok(())
    }
}

fn stop_from_a_callback_ends_run_after_that_iteration(kind: SelectorKind) {
    let read = on_thread(move || {
        let mut event_loop = new_loop(kind);
        let (mut peer, local) = tcp_pair();
        peer.write_all(b"0123456789").unwrap();
        event_loop.spawn(local, StopAfterRead).unwrap();
        event_loop.run().unwrap();
        let first = event_loop.state().data.clone();
        // The loop is reusable after a stop.
        event_loop.run().unwrap();
        (first, event_loop.state().data.clone())
    });
    assert_eq!(read.0, b"0");
    assert_eq!(read.1, b"01");
}

fn call_soon_threadsafe_runs_the_closure_on_the_loop_thread(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let handle = event_loop.handle();
    let loop_thread = format!("{:?}", thread::current().id());
    let sender = thread::spawn(move || {
        handle
            .call_soon_threadsafe(|cx| {
                let here = format!("{:?}", thread::current().id());
                cx.state().push(format!("ran on {here}"));
            })
            .unwrap();
        format!("{:?}", thread::current().id())
    });
    let sender_thread = sender.join().unwrap();
    run_until(&mut event_loop, |log| !log.events.is_empty(), LIMIT);
    assert_eq!(event_loop.state().events, [format!("ran on {loop_thread}")]);
    assert_ne!(loop_thread, sender_thread);
}

fn call_soon_threadsafe_wakes_and_stops_an_empty_loop(kind: SelectorKind) {
    let events = on_thread(move || {
        let mut event_loop = new_loop(kind);
        let handle = event_loop.handle();
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            handle
                .call_soon_threadsafe(|cx| {
                    cx.state().push("job");
                    cx.stop();
                })
                .unwrap();
        });
        event_loop.run_until_stopped().unwrap();
        sender.join().unwrap();
        std::mem::take(&mut event_loop.state_mut().events)
    });
    assert_eq!(events, ["job"]);
}

/// Jobs from many threads, and jobs queued by jobs, each run once: none is lost between the
/// queue and the flag that tells the loop to look at it.
fn every_job_runs_once_whoever_queues_it(kind: SelectorKind) {
    const THREADS: usize = 4;
    const JOBS: usize = 300;
    const CHAIN: usize = 100;
    let mut event_loop = new_loop(kind);
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let handle = event_loop.handle();
            thread::spawn(move || {
                for i in 0..JOBS {
                    handle
                        .call_soon_threadsafe(move |cx| cx.state().push(format!("job {t} {i}")))
                        .unwrap();
                }
            })
        })
        .collect();
    fn chain(handle: ioloop::LoopHandle<Log>, left: usize) {
        let next = handle.clone();
        handle
            .call_soon_threadsafe(move |cx| {
                cx.state().push("chain");
                if left > 1 {
                    chain(next, left - 1);
                }
            })
            .unwrap();
    }
    chain(event_loop.handle(), CHAIN);
    let total = THREADS * JOBS + CHAIN;
    run_until(&mut event_loop, |log| log.events.len() >= total, LIMIT);
    for sender in senders {
        sender.join().unwrap();
    }
    run_steps(&mut event_loop, 3);
    let log = event_loop.state();
    assert_eq!(log.events.len(), total);
    assert_eq!(log.count("chain"), CHAIN);
    let mut jobs: Vec<&String> = log.events.iter().filter(|e| e.starts_with("job")).collect();
    jobs.sort();
    jobs.dedup();
    assert_eq!(jobs.len(), THREADS * JOBS, "a job ran twice or not at all");
}

fn a_panicking_closure_does_not_stop_the_loop(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let handle = event_loop.handle();
    handle
        .call_soon_threadsafe(|_| panic!("a job exploded"))
        .unwrap();
    handle
        .call_soon_threadsafe(|cx| cx.state().push("after"))
        .unwrap();
    run_until(&mut event_loop, |log| log.has("after"), LIMIT);
    let (mut peer, local) = tcp_pair();
    event_loop.spawn(local, Echo::default()).unwrap();
    check_echo_still_works(&mut event_loop, &mut peer);
}

/// Logs its timers.
struct TimerLog;

impl Dispatcher<Log> for TimerLog {
    fn handle_timer(&mut self, cx: &mut Cx<'_>, _: TimerId) -> io::Result<()> {
        cx.state().push("timer");
        Ok(())
    }
}

/// `Context::stop` is for `run`; a program that drives the loop with `run_once` must still
/// get blocking waits afterwards, not a loop that never waits again.
fn run_once_still_waits_for_the_next_timer_after_a_callback_called_stop(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let token = event_loop.spawn(quiet_socket(), TimerLog).unwrap();
    let handle = event_loop.handle();
    handle.call_soon_threadsafe(|cx| cx.stop()).unwrap();
    event_loop.run_once(Some(Duration::ZERO)).unwrap();
    handle
        .call_soon_threadsafe(move |cx| {
            cx.call_later_for(token, Duration::from_millis(50));
        })
        .unwrap();
    event_loop.run_once(Some(Duration::ZERO)).unwrap();
    // Nothing but the timer can end these waits: each one lasts until it is due (a
    // selector may round its timeout down and wake a little early, hence a few calls).
    let mut waits = 0;
    while !event_loop.state().has("timer") {
        waits += 1;
        assert!(
            waits <= 5,
            "run_once(None) returned {waits} times without waiting"
        );
        event_loop.run_once(None).unwrap();
    }
}

/// Always writable; logs each `handle_write` and closes itself after `close_after` of them.
struct Ticker {
    close_after: Option<usize>,
    calls: usize,
}

impl Dispatcher<Log> for Ticker {
    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        self.calls += 1;
        cx.state().push("tick");
        if self.close_after == Some(self.calls) {
            cx.close();
        }
        Ok(())
    }
}

fn run_count_runs_at_most_n_iterations(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (_peer, local) = tcp_pair();
    event_loop
        .spawn(
            local,
            Ticker {
                close_after: None,
                calls: 0,
            },
        )
        .unwrap();
    // The socket is always writable: every iteration has exactly one event.
    event_loop.run_count(5, Some(LIMIT)).unwrap();
    assert_eq!(event_loop.state().count("tick"), 5);
    event_loop.run_count(0, Some(LIMIT)).unwrap();
    assert_eq!(event_loop.state().count("tick"), 5);
}

fn run_count_returns_early_when_the_last_channel_closes(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (_peer, local) = tcp_pair();
    event_loop
        .spawn(
            local,
            Ticker {
                close_after: Some(3),
                calls: 0,
            },
        )
        .unwrap();
    event_loop.run_count(1000, Some(LIMIT)).unwrap();
    assert_eq!(event_loop.state().count("tick"), 3);
    assert!(event_loop.is_empty());
}

fn run_returns_when_no_channel_is_left(kind: SelectorKind) {
    let log = on_thread(move || {
        let mut event_loop = new_loop(kind);
        let (mut peer, local) = tcp_pair();
        event_loop.spawn(local, Reader::default()).unwrap();
        peer.write_all(b"last words").unwrap();
        drop(peer);
        event_loop.run().unwrap();
        std::mem::take(event_loop.state_mut())
    });
    assert_eq!(log.data, b"last words");
    assert_eq!(log.count("close"), 1);
}

/// Reads what is there and stops the loop.
struct StopsOnRead;

impl Dispatcher<Log> for StopsOnRead {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 64];
        let n = cx.recv(&mut buf)?;
        cx.state().data.extend_from_slice(&buf[..n]);
        cx.stop();
        Ok(())
    }
}

/// Calls `run_once` (waits of at most `STEP`) until it reports a stop; fails after `limit`
/// calls.
fn run_once_until_stop_reported(event_loop: &mut EventLoop<Log>, limit: usize) {
    for _ in 0..limit {
        if event_loop.run_once(Some(STEP)).expect("run_once") {
            return;
        }
    }
    panic!("run_once reported no stop in {limit} calls ({event_loop:?})");
}

/// One `run_once` of at most 10 ms; whether it reported a stop.
fn short_run_once(event_loop: &mut EventLoop<Log>) -> bool {
    event_loop
        .run_once(Some(Duration::from_millis(10)))
        .expect("run_once")
}

fn run_once_reports_a_stop_asked_for_by_a_callback_and_consumes_it(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (mut peer, local) = tcp_pair();
    event_loop.spawn(local, StopsOnRead).unwrap();
    run_steps(&mut event_loop, 2);
    // Nothing asked for a stop yet: every call says so.
    for _ in 0..3 {
        assert!(!short_run_once(&mut event_loop));
    }
    peer.write_all(b"stop").unwrap();
    run_once_until_stop_reported(&mut event_loop, 200);
    assert_eq!(event_loop.state().data, b"stop");
    // The request was consumed: the next call reports no stop.
    assert!(!short_run_once(&mut event_loop));
    assert_eq!(event_loop.len(), 1, "a stop closes nothing");
}

fn run_once_reports_a_stop_from_a_loop_handle_and_consumes_it(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (_peer, local) = tcp_pair();
    event_loop.spawn(local, Reader::default()).unwrap();
    run_steps(&mut event_loop, 2);
    event_loop.handle().stop();
    // The stop wakes the wait: the first call reports it (a bounded wait, should it not).
    assert!(event_loop.run_once(Some(LIMIT)).unwrap());
    assert!(!short_run_once(&mut event_loop));
    // A stop asked for from a closure sent to the loop, too.
    event_loop
        .handle()
        .call_soon_threadsafe(|cx| cx.stop())
        .unwrap();
    assert!(event_loop.run_once(Some(LIMIT)).unwrap());
    assert!(!short_run_once(&mut event_loop));
}

fn a_loop_handle_stop_before_run_makes_run_return_at_once(kind: SelectorKind) {
    let (channels, after) = on_thread(move || {
        let mut event_loop = new_loop(kind);
        let (peer, local) = tcp_pair();
        event_loop.spawn(local, Reader::default()).unwrap(); // an idle channel
        event_loop.handle().stop();
        // Without the early stop, run() would wait for the idle channel for ever (and
        // on_thread fails the test after its limit).
        event_loop.run().unwrap();
        let channels = event_loop.len();
        // The request was consumed by run(): nothing is left over.
        let after = short_run_once(&mut event_loop);
        drop(peer);
        (channels, after)
    });
    assert_eq!(channels, 1, "stop() closes nothing");
    assert!(!after, "the stop was reported twice");
}

fn a_loop_driven_by_run_once_sees_a_stop_from_another_thread(kind: SelectorKind) {
    let (handle_tx, handle_rx) = mpsc::channel();
    let loop_thread = thread::spawn(move || {
        let mut event_loop = new_loop(kind);
        let (peer, local) = tcp_pair();
        event_loop.spawn(local, Reader::default()).unwrap(); // an idle channel
        handle_tx.send(event_loop.handle()).unwrap();
        // Bounded: LIMIT / STEP calls, then the test fails.
        run_once_until_stop_reported(&mut event_loop, 200);
        drop(peer);
        event_loop.len()
    });
    let handle = handle_rx.recv_timeout(LIMIT).expect("the loop's handle");
    thread::sleep(Duration::from_millis(100));
    handle.stop();
    let channels = loop_thread.join().expect("the loop thread");
    assert_eq!(channels, 1, "stop() closes nothing");
}

per_kind! {
    stop_from_another_thread_ends_run,
    stop_from_a_callback_ends_run_after_that_iteration,
    call_soon_threadsafe_runs_the_closure_on_the_loop_thread,
    call_soon_threadsafe_wakes_and_stops_an_empty_loop,
    every_job_runs_once_whoever_queues_it,
    a_panicking_closure_does_not_stop_the_loop,
    run_once_still_waits_for_the_next_timer_after_a_callback_called_stop,
    run_count_runs_at_most_n_iterations,
    run_count_returns_early_when_the_last_channel_closes,
    run_returns_when_no_channel_is_left,
    run_once_reports_a_stop_asked_for_by_a_callback_and_consumes_it,
    run_once_reports_a_stop_from_a_loop_handle_and_consumes_it,
    a_loop_handle_stop_before_run_makes_run_return_at_once,
    a_loop_driven_by_run_once_sees_a_stop_from_another_thread,
}
