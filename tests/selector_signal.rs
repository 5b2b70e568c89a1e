//! A signal during `select` is not an error: the wait resumes with the time left (`EINTR`
//! is retried). Signals reach every thread of a process, so this test binary runs without
//! the test harness (`harness = false` in Cargo.toml): `main` is the only thread that can
//! take the signal.

#[cfg(unix)]
mod common;

#[cfg(unix)]
mod unix {
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use ioloop::selector::{DefaultSelector, Events, Interest, Selector, SelectorKind};

    use crate::common::kinds::run_without_harness;
    use crate::common::selector::{SANITY, register, unregister};

    static ALARMS: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn on_alarm(_signal: libc::c_int) {
        ALARMS.fetch_add(1, Ordering::SeqCst);
    }

    /// Installs a counting SIGALRM handler without `SA_RESTART`, so that the OS wait is
    /// interrupted (`EINTR`) rather than restarted by the kernel.
    fn install_handler() {
        // SAFETY: a zeroed `sigaction` is a valid "no flags, empty mask" value; the handler
        // only touches an atomic, which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = 0;
            libc::sigemptyset(&mut action.sa_mask);
            assert_eq!(
                libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()),
                0,
                "sigaction"
            );
        }
    }

    /// Sends SIGALRM to this process once, after `after`.
    fn alarm_after(after: Duration) {
        let value = libc::timeval {
            tv_sec: after.as_secs() as _,
            tv_usec: after.subsec_micros() as _,
        };
        let timer = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: value,
        };
        // SAFETY: plain system call with valid pointers.
        let rc = unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
        assert_eq!(rc, 0, "setitimer");
    }

    /// Blocks SIGALRM in the calling thread, so that the signal goes to `main`.
    fn block_alarm_in_this_thread() {
        // SAFETY: plain system calls with valid pointers.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGALRM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
    }

    /// A timed select interrupted by a signal after 100 ms: `Ok`, empty, full length.
    fn timed_select_survives_a_signal(kind: SelectorKind) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut sel = DefaultSelector::with_kind(kind).unwrap();
        register(&mut sel, &client, 1, Interest::READ).unwrap();
        let mut events = Events::new();
        let before = ALARMS.load(Ordering::SeqCst);
        alarm_after(Duration::from_millis(100));
        let timeout = Duration::from_millis(500);
        let start = Instant::now();
        let result = sel.select(&mut events, Some(timeout));
        let elapsed = start.elapsed();
        result.expect("a signal during select must not be an error");
        assert!(
            ALARMS.load(Ordering::SeqCst) > before,
            "the signal never came"
        );
        assert!(events.is_empty(), "{events:?}");
        assert!(elapsed >= timeout, "returned early after {elapsed:?}");
        assert!(elapsed < SANITY, "{elapsed:?}");
        unregister(&mut sel, &client).unwrap();
    }

    /// A select without timeout interrupted by a signal keeps waiting until it is woken.
    fn blocking_select_survives_a_signal(kind: SelectorKind) {
        let mut sel = DefaultSelector::with_kind(kind).unwrap();
        let mut events = Events::new();
        let waker = sel.waker();
        let before = ALARMS.load(Ordering::SeqCst);
        let thread = std::thread::spawn(move || {
            block_alarm_in_this_thread();
            std::thread::sleep(Duration::from_millis(400));
            waker.wake()
        });
        alarm_after(Duration::from_millis(100));
        let start = Instant::now();
        let result = sel.select(&mut events, Some(Duration::from_secs(30)));
        let elapsed = start.elapsed();
        thread.join().unwrap().unwrap();
        result.expect("a signal during select must not be an error");
        assert!(
            ALARMS.load(Ordering::SeqCst) > before,
            "the signal never came"
        );
        assert!(events.is_empty(), "{events:?}");
        assert!(
            elapsed >= Duration::from_millis(400),
            "the signal ended the select after {elapsed:?}"
        );
        assert!(elapsed < SANITY, "{elapsed:?}");
    }

    pub fn main() {
        install_handler();
        run_without_harness(
            "selector_signal",
            &[
                (
                    "timed_select_survives_a_signal",
                    timed_select_survives_a_signal,
                ),
                (
                    "blocking_select_survives_a_signal",
                    blocking_select_survives_a_signal,
                ),
            ],
        );
    }
}

#[cfg(unix)]
fn main() {
    unix::main();
}

#[cfg(not(unix))]
fn main() {
    println!("selector_signal: skipped (no POSIX signals on this platform)");
}
