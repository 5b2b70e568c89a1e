//! `EventLoop::on_signal`: a signal reaches its handlers on the loop's thread, once per
//! signal delivered, wakes a loop that waits with no timeout, and gives the signal back its
//! previous disposition when the last handler goes.
//!
//! Signals reach every thread of a process, so this binary runs without the test harness
//! (`harness = false` in Cargo.toml): `main` runs each check once per backend, on its own
//! thread. What a signal does to a whole process (the default action coming back) is checked
//! in a child process: this binary runs itself again with `IOLOOP_SIGNALS_CHILD=KIND` and
//! `IOLOOP_SIGNALS_SCENARIO=NAME`.

mod common;

#[cfg(unix)]
mod unix {
    use std::cell::RefCell;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    use std::rc::Rc;
    use std::sync::mpsc;
    use std::thread::{self, ThreadId};
    use std::time::{Duration, Instant};

    use ioloop::selector::SelectorKind;
    use ioloop::{EventLoop, Signal, SignalId};

    use crate::common::LIMIT;
    use crate::common::example::wait_within;
    use crate::common::kinds::run_without_harness;

    /// The variable that makes this binary the child, naming the selector kind to use.
    const CHILD: &str = "IOLOOP_SIGNALS_CHILD";
    /// The variable naming what the child does (see [`child`]).
    const SCENARIO: &str = "IOLOOP_SIGNALS_SCENARIO";
    /// What a child prints when the last signal it raised did not end it.
    const SURVIVED: &str = "child: survived";

    /// What the handlers saw: which signal, on which thread.
    type Calls = Rc<RefCell<Vec<(Signal, ThreadId)>>>;

    fn number(signal: Signal) -> libc::c_int {
        match signal {
            Signal::Interrupt => libc::SIGINT,
            Signal::Quit => libc::SIGQUIT,
            Signal::Terminate => libc::SIGTERM,
            Signal::Hangup => libc::SIGHUP,
            Signal::User1 => libc::SIGUSR1,
            Signal::User2 => libc::SIGUSR2,
            other => panic!("no number for {other:?}"),
        }
    }

    /// Sends `signal` to the calling thread; its OS-level handler has run when this returns.
    fn raise(signal: Signal) {
        // SAFETY: a plain system call.
        assert_eq!(
            unsafe { libc::raise(number(signal)) },
            0,
            "raise({signal:?})"
        );
    }

    /// Installs a handler for `signal` that records each call in `calls`.
    fn record(event_loop: &mut EventLoop, signal: Signal, calls: &Calls) -> SignalId {
        let calls = calls.clone();
        event_loop
            .on_signal(signal, move |_| {
                calls.borrow_mut().push((signal, thread::current().id()))
            })
            .expect("on_signal")
    }

    /// Runs short iterations until `calls` holds `count` entries (within [`LIMIT`]), then a
    /// few more, so that a call too many would show.
    fn run_until(event_loop: &mut EventLoop, calls: &Calls, count: usize) {
        let deadline = Instant::now() + LIMIT;
        while calls.borrow().len() < count {
            assert!(
                Instant::now() < deadline,
                "only {:?} after {LIMIT:?}",
                calls.borrow()
            );
            event_loop
                .run_once(Some(Duration::from_millis(50)))
                .expect("run_once");
        }
        for _ in 0..3 {
            event_loop
                .run_once(Some(Duration::from_millis(10)))
                .expect("run_once");
        }
    }

    /// Each signal runs its handler once, on the loop's thread; the loop shows no channel.
    fn each_signal_runs_its_handler_once_on_the_loop_thread(kind: SelectorKind) {
        let all = [
            Signal::Hangup,
            Signal::User1,
            Signal::User2,
            Signal::Terminate,
            Signal::Interrupt,
            Signal::Quit,
        ];
        let mut event_loop = EventLoop::with_kind(kind, ()).unwrap();
        let calls = Calls::default();
        for signal in all {
            record(&mut event_loop, signal, &calls);
        }
        assert!(event_loop.is_empty(), "the signal pipe counts as a channel");
        assert_eq!(event_loop.len(), 0);
        event_loop.run().unwrap(); // no channel: returns at once, signals or not
        let this_thread = thread::current().id();
        for (n, signal) in all.into_iter().enumerate() {
            raise(signal);
            run_until(&mut event_loop, &calls, n + 1);
            assert_eq!(calls.borrow()[n], (signal, this_thread));
            assert_eq!(calls.borrow().len(), n + 1, "{:?}", calls.borrow());
        }
    }

    /// Two signals before the loop runs: two calls; two signals in a row: one call each;
    /// two handlers of one signal: both run.
    fn signals_in_a_row_each_run_the_handlers(kind: SelectorKind) {
        let mut event_loop = EventLoop::with_kind(kind, ()).unwrap();
        let calls = Calls::default();
        record(&mut event_loop, Signal::User1, &calls);
        raise(Signal::User1);
        raise(Signal::User1);
        run_until(&mut event_loop, &calls, 2);
        assert_eq!(calls.borrow().len(), 2, "{:?}", calls.borrow());
        raise(Signal::User1);
        run_until(&mut event_loop, &calls, 3);
        raise(Signal::User1);
        run_until(&mut event_loop, &calls, 4);
        assert_eq!(calls.borrow().len(), 4, "{:?}", calls.borrow());

        calls.borrow_mut().clear();
        record(&mut event_loop, Signal::User1, &calls); // a second handler of SIGUSR1
        record(&mut event_loop, Signal::User2, &calls);
        raise(Signal::User2);
        raise(Signal::User1);
        run_until(&mut event_loop, &calls, 3);
        let mut seen: Vec<Signal> = calls.borrow().iter().map(|(s, _)| *s).collect();
        seen.sort_by_key(|s| number(*s));
        let mut expected = vec![Signal::User1, Signal::User1, Signal::User2];
        expected.sort_by_key(|s| number(*s));
        assert_eq!(seen, expected);
    }

    /// A removed handler runs no more; another loop's handler of the same signal still does.
    fn a_removed_handler_runs_no_more_and_other_loops_still_get_the_signal(kind: SelectorKind) {
        let mut first = EventLoop::with_kind(kind, ()).unwrap();
        let mut second = EventLoop::with_kind(kind, ()).unwrap();
        let (calls_first, calls_second) = (Calls::default(), Calls::default());
        record(&mut second, Signal::Hangup, &calls_second);
        let removed = record(&mut first, Signal::Hangup, &calls_first);
        raise(Signal::Hangup);
        run_until(&mut first, &calls_first, 1);
        run_until(&mut second, &calls_second, 1);
        assert!(first.remove_signal(removed));
        assert!(!first.remove_signal(removed));
        raise(Signal::Hangup);
        run_until(&mut second, &calls_second, 2);
        for _ in 0..3 {
            first.run_once(Some(Duration::from_millis(10))).unwrap();
        }
        assert_eq!(calls_first.borrow().len(), 1, "{:?}", calls_first.borrow());
        assert_eq!(calls_second.borrow().len(), 2);
    }

    /// A handler that panics is logged and stays installed.
    fn a_panicking_handler_stays_installed(kind: SelectorKind) {
        let mut event_loop = EventLoop::with_kind(kind, 0u32).unwrap();
        event_loop
            .on_signal(Signal::User2, |cx| {
                *cx.state() += 1;
                if *cx.state() == 1 {
                    panic!("a handler's bug");
                }
            })
            .unwrap();
        for expected in 1..=2 {
            raise(Signal::User2);
            let deadline = Instant::now() + LIMIT;
            while *event_loop.state() < expected {
                assert!(Instant::now() < deadline, "call {expected} never came");
                event_loop
                    .run_once(Some(Duration::from_millis(50)))
                    .unwrap();
            }
        }
        assert_eq!(*event_loop.state(), 2);
    }

    /// A signal sent from another thread while the loop waits with no timeout wakes it; the
    /// handler runs on the loop's thread.
    fn a_signal_wakes_a_loop_waiting_with_no_timeout(kind: SelectorKind) {
        let mut event_loop = EventLoop::with_kind(kind, None::<ThreadId>).unwrap();
        event_loop
            .on_signal(Signal::User1, |cx| {
                *cx.state() = Some(thread::current().id());
                cx.stop();
            })
            .unwrap();
        let handle = event_loop.handle();
        let (done, watchdog_done) = mpsc::channel::<()>();
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100)); // the loop is waiting by then, most likely
            // SAFETY: plain system calls.
            assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) }, 0);
            // The bound on the test: a loop the signal did not wake is stopped after LIMIT.
            if watchdog_done.recv_timeout(LIMIT).is_err() {
                handle.stop();
            }
        });
        let mut iterations = 0;
        while !event_loop.run_once(None).unwrap() {
            iterations += 1;
            assert!(iterations < 1000, "the loop spins");
        }
        let _ = done.send(());
        sender.join().unwrap();
        assert_eq!(
            *event_loop.state(),
            Some(thread::current().id()),
            "the signal did not wake the loop (stopped by the watchdog)"
        );
    }

    /// The child's scenarios, each on a loop of `kind`:
    /// - `remove`: SIGTERM reaches a handler (the process lives), the handler is removed, and
    ///   the next SIGTERM ends the process (default action).
    /// - `drop`: the same, the loop dropped instead of the handler removed.
    /// - `ignored`: SIGHUP ignored at the start stays ignored after the handler is removed.
    fn child(kind: &str, scenario: &str) {
        let kind: SelectorKind = kind.parse().expect("a selector kind");
        let signal = if scenario == "ignored" {
            // SAFETY: plain system call.
            unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
            Signal::Hangup
        } else {
            Signal::Terminate
        };
        let mut event_loop = EventLoop::with_kind(kind, ()).unwrap();
        let calls = Calls::default();
        let recorder = record(&mut event_loop, signal, &calls);
        let second = event_loop
            .on_signal(signal, |_| {})
            .expect("a second handler");
        raise(signal); // taken by the handlers: the process goes on
        run_until(&mut event_loop, &calls, 1);
        assert!(event_loop.remove_signal(second));
        raise(signal); // one handler is left: the process goes on
        run_until(&mut event_loop, &calls, 2);
        assert_eq!(calls.borrow().len(), 2);
        if scenario == "drop" {
            drop(event_loop);
            raise(signal); // the previous disposition
        } else {
            assert!(event_loop.remove_signal(recorder));
            raise(signal); // the previous disposition, the loop still alive
            drop(event_loop);
        }
        println!("{SURVIVED}");
    }

    /// Runs the child with `scenario` on `kind`; returns its status and stdout.
    fn run_child(kind: SelectorKind, scenario: &str) -> (std::process::ExitStatus, String) {
        let exe = std::env::current_exe().expect("this binary's path");
        let mut child = Command::new(exe)
            .env(CHILD, kind.name())
            .env(SCENARIO, scenario)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the child");
        let mut stdout = child.stdout.take().expect("the child's stdout");
        let reader = thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
            text
        });
        let status = wait_within(&mut child, "the child", LIMIT);
        (status, reader.join().unwrap())
    }

    fn dropping_the_loop_restores_the_default_action(kind: SelectorKind) {
        let (status, stdout) = run_child(kind, "drop");
        assert_eq!(
            status.signal(),
            Some(libc::SIGTERM),
            "{status}; stdout {stdout:?}"
        );
        assert!(!stdout.contains(SURVIVED));
    }

    fn an_ignored_signal_stays_ignored_after_its_handlers_go(kind: SelectorKind) {
        let (status, stdout) = run_child(kind, "ignored");
        assert!(status.success(), "{status}; stdout {stdout:?}");
        assert!(stdout.contains(SURVIVED), "{stdout:?}");
    }

    /// The last handler removed with `remove_signal` (not by a drop) gives SIGTERM back.
    fn removing_the_last_handler_restores_the_default_action(kind: SelectorKind) {
        let (status, stdout) = run_child(kind, "remove");
        assert_eq!(
            status.signal(),
            Some(libc::SIGTERM),
            "{status}; stdout {stdout:?}"
        );
    }

    /// Every signal of the enum exists on Unix.
    fn every_signal_is_available_on_unix(kind: SelectorKind) {
        let mut event_loop = EventLoop::with_kind(kind, ()).unwrap();
        for signal in [Signal::Hangup, Signal::User1, Signal::User2, Signal::Quit] {
            assert!(signal.is_available());
            let id = event_loop.on_signal(signal, |_| {}).unwrap();
            assert!(event_loop.remove_signal(id));
        }
    }

    pub fn main() {
        if let Ok(kind) = std::env::var(CHILD) {
            child(&kind, &std::env::var(SCENARIO).unwrap_or_default());
            return;
        }
        run_without_harness(
            "event_loop_signals",
            &[
                (
                    "each_signal_runs_its_handler_once_on_the_loop_thread",
                    each_signal_runs_its_handler_once_on_the_loop_thread,
                ),
                (
                    "signals_in_a_row_each_run_the_handlers",
                    signals_in_a_row_each_run_the_handlers,
                ),
                (
                    "a_removed_handler_runs_no_more_and_other_loops_still_get_the_signal",
                    a_removed_handler_runs_no_more_and_other_loops_still_get_the_signal,
                ),
                (
                    "a_panicking_handler_stays_installed",
                    a_panicking_handler_stays_installed,
                ),
                (
                    "a_signal_wakes_a_loop_waiting_with_no_timeout",
                    a_signal_wakes_a_loop_waiting_with_no_timeout,
                ),
                (
                    "removing_the_last_handler_restores_the_default_action",
                    removing_the_last_handler_restores_the_default_action,
                ),
                (
                    "dropping_the_loop_restores_the_default_action",
                    dropping_the_loop_restores_the_default_action,
                ),
                (
                    "an_ignored_signal_stays_ignored_after_its_handlers_go",
                    an_ignored_signal_stays_ignored_after_its_handlers_go,
                ),
                (
                    "every_signal_is_available_on_unix",
                    every_signal_is_available_on_unix,
                ),
            ],
        );
    }
}

#[cfg(windows)]
mod windows {
    use std::io::{BufRead, BufReader, ErrorKind};
    use std::os::windows::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use ioloop::selector::SelectorKind;
    use ioloop::{EventLoop, Signal};
    use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, GenerateConsoleCtrlEvent};
    use windows_sys::Win32::System::Threading::CREATE_NEW_PROCESS_GROUP;

    use crate::common::LIMIT;
    use crate::common::example::wait_within;
    use crate::common::kinds::run_without_harness;

    /// The variable that makes this binary the child, naming the selector kind to use.
    const CHILD: &str = "IOLOOP_SIGNALS_CHILD";
    /// What the child prints once its handler is installed.
    const READY: &str = "child: ready";
    /// What the child prints once its handler ran.
    const HANDLED: &str = "child: handled";

    /// Ctrl-C, Ctrl-Break and console close install and remove; the signals Windows lacks
    /// are refused with `Unsupported`.
    fn console_events_install_and_the_others_are_refused(kind: SelectorKind) {
        let mut event_loop = EventLoop::with_kind(kind, ()).unwrap();
        for signal in [Signal::Interrupt, Signal::Quit, Signal::Terminate] {
            assert!(signal.is_available(), "{signal:?}");
            let id = event_loop.on_signal(signal, |cx| cx.stop()).unwrap();
            assert!(event_loop.remove_signal(id));
        }
        for signal in [Signal::Hangup, Signal::User1, Signal::User2] {
            assert!(!signal.is_available(), "{signal:?}");
            let refused = event_loop.on_signal(signal, |_| {}).unwrap_err();
            assert_eq!(refused.kind(), ErrorKind::Unsupported);
        }
        event_loop.on_signal(Signal::Interrupt, |_| {}).unwrap();
        assert!(event_loop.is_empty());
        event_loop.run_once(Some(Duration::ZERO)).unwrap();
    }

    /// Ctrl-Break sent to a child in a process group of its own (so that it reaches nobody
    /// else) runs the child's handler on its loop. Skipped, with a note, where the OS (or
    /// Wine) cannot send console events (no console).
    fn ctrl_break_reaches_the_handler(kind: SelectorKind) {
        let exe = std::env::current_exe().expect("this binary's path");
        let mut child = Command::new(exe)
            .env(CHILD, kind.name())
            .creation_flags(CREATE_NEW_PROCESS_GROUP)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the child");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        assert_eq!(first, READY);
        // SAFETY: a plain system call.
        if unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, child.id()) } == 0 {
            let error = std::io::Error::last_os_error();
            let _ = child.kill();
            let _ = child.wait();
            println!("note: no console event can be sent here ({error}); test skipped");
            return;
        }
        let status = wait_within(&mut child, "the child", LIMIT);
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        assert!(status.success(), "{status}; stdout {rest:?}");
        assert_eq!(rest, [HANDLED]);
    }

    /// The child: stops its loop on Ctrl-Break, within [`LIMIT`].
    fn child(kind: &str) {
        let kind: SelectorKind = kind.parse().expect("a selector kind");
        let mut event_loop = EventLoop::with_kind(kind, false).unwrap();
        event_loop
            .on_signal(Signal::Quit, |cx| {
                *cx.state() = true;
                cx.stop();
            })
            .unwrap();
        event_loop.schedule(LIMIT, |cx| cx.stop());
        println!("{READY}");
        event_loop.run_until_stopped().unwrap();
        if *event_loop.state() {
            println!("{HANDLED}");
        }
    }

    pub fn main() {
        if let Ok(kind) = std::env::var(CHILD) {
            child(&kind);
            return;
        }
        run_without_harness(
            "event_loop_signals",
            &[
                (
                    "console_events_install_and_the_others_are_refused",
                    console_events_install_and_the_others_are_refused,
                ),
                (
                    "ctrl_break_reaches_the_handler",
                    ctrl_break_reaches_the_handler,
                ),
            ],
        );
    }
}

#[cfg(unix)]
fn main() {
    unix::main();
}

#[cfg(windows)]
fn main() {
    windows::main();
}
