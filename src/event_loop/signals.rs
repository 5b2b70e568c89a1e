//! Signals into the loop: [`EventLoop::on_signal`](super::EventLoop::on_signal) runs a
//! closure on the loop's thread, as an ordinary loop-level callback, when the process gets
//! SIGINT, SIGTERM, SIGHUP, … (Unix) or a console event (Windows).
//!
//! # Design
//!
//! A signal handler may only do async-signal-safe work: no allocation, no lock, no logging.
//! So the OS-level handler does two things and nothing more: it adds one to the loop's
//! counter for that signal (an atomic) and makes the loop's wait return. The loop, on its
//! own thread, takes the counters and calls the user's closures, once per signal counted.
//!
//! - **Unix.** The registration is `signal-hook`'s (its `signal-hook-registry` core): it
//!   installs one process-wide `sigaction` handler per signal, chains a handler installed
//!   before it, and lets any number of actions come and go without a race against a signal
//!   being delivered. Writing our own would mean redoing exactly that. Each loop's action
//!   bumps its counter and writes one byte to the loop's self-pipe (a Unix socket pair,
//!   non-blocking and close-on-exec): `write` is async-signal-safe, and a full pipe loses
//!   nothing since the counter holds the count. The pipe's read end is registered in the
//!   loop's selector under a key no channel's token can have ([`PIPE_KEY`]): it is not a
//!   channel, so it counts in neither `len()` nor `is_empty()`, never keeps `run()` going,
//!   and no user can reach it. The loop drains it when the selector reports it, then reads
//!   the counters: a signal counted after the drain wrote its byte after it too, so the next
//!   wait returns for it. (The selector's own [`Waker`](crate::selector::Waker) is not used:
//!   on kqueue it goes through `polling`, which may allocate.)
//!
//!   signal-hook never gives a signal back to its default action when its last action is
//!   removed (that cannot be done without a race), so the first time this module takes a
//!   signal it looks at the disposition the process had: if it was the default, it adds
//!   one permanent action that emulates the default (`emulate_default_handler`: reset and
//!   re-raise) whenever no loop has a handler for that signal. A signal that was ignored
//!   (`nohup`) stays ignored after the last handler goes, and a handler installed by other
//!   code is chained by signal-hook before ours and after it alike. The emulation cannot see
//!   actions other code adds through signal-hook later: a program that also takes a signal
//!   that way should keep a loop's handler for it installed, or take it only one way. Code
//!   that calls `sigaction` itself afterwards replaces signal-hook's handler, and with it the
//!   loops' (as it would any other library's).
//! - **Windows.** `SetConsoleCtrlHandler` installs one process-wide routine, the first time a
//!   loop takes a console event. The OS runs it on a thread of its own, where locking and
//!   waking are allowed: it bumps the counters of every loop that has a handler for the
//!   event, wakes each through the loop's [`Waker`](crate::selector::Waker), and returns
//!   `TRUE`; with no such loop it returns `FALSE`, and the next routine (in the end the
//!   default one, which ends the process) runs. Console close, log-off and shutdown end the
//!   process as soon as the routine returns, so for those the routine does not return: the
//!   program has until the OS's own timeout (about 5 s for a close) to finish.

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::context::Context;
use super::core::Core;
use super::os_errors::panic_message;
use crate::diagnostics::report;

/// A signal (Unix) or console event (Windows) a loop can take with
/// [`EventLoop::on_signal`](crate::EventLoop::on_signal).
///
/// | variant | Unix | Windows |
/// |---|---|---|
/// | `Interrupt` | `SIGINT` (Ctrl-C in a terminal) | `CTRL_C_EVENT` (Ctrl-C) |
/// | `Quit` | `SIGQUIT` (Ctrl-\\) | `CTRL_BREAK_EVENT` (Ctrl-Break) |
/// | `Terminate` | `SIGTERM` (`kill`, a service manager) | `CTRL_CLOSE_EVENT` (the console window closed), `CTRL_LOGOFF_EVENT`, `CTRL_SHUTDOWN_EVENT` |
/// | `Hangup` | `SIGHUP` (the terminal went away; by convention, "reload") | — |
/// | `User1`, `User2` | `SIGUSR1`, `SIGUSR2` | — |
///
/// On Windows, the process ends when the OS's timeout after a `Terminate` event passes
/// (about 5 s after a console close, more at log-off and shutdown), whatever the handler
/// does: finish quickly there.
///
/// # Examples
///
/// ```
/// use ioloop::Signal;
///
/// assert!(Signal::Interrupt.is_available()); // on every platform
/// println!("{} on this platform", Signal::Terminate.name()); // "SIGTERM" on Unix
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// `SIGINT`; Windows: Ctrl-C.
    Interrupt,
    /// `SIGQUIT`; Windows: Ctrl-Break.
    Quit,
    /// `SIGTERM`; Windows: the console closed, the user logging off, the system shutting
    /// down.
    Terminate,
    /// `SIGHUP`; not on Windows.
    Hangup,
    /// `SIGUSR1`; not on Windows.
    User1,
    /// `SIGUSR2`; not on Windows.
    User2,
}

/// How many variants [`Signal`] has: the size of the per-signal tables.
const COUNT: usize = 6;

impl Signal {
    /// Every signal, in the enum's order.
    const ALL: [Signal; COUNT] = [
        Signal::Interrupt,
        Signal::Quit,
        Signal::Terminate,
        Signal::Hangup,
        Signal::User1,
        Signal::User2,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// Whether this platform has the signal: every one on Unix; `Interrupt`, `Quit` and
    /// `Terminate` on Windows. [`EventLoop::on_signal`](crate::EventLoop::on_signal) refuses
    /// the others with `Unsupported`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::Signal;
    ///
    /// assert_eq!(Signal::Hangup.is_available(), cfg!(unix));
    /// ```
    pub fn is_available(self) -> bool {
        os::raw(self).is_some()
    }

    /// The platform's name for it: `"SIGINT"`, …; on Windows the console event's
    /// (`"CTRL_C_EVENT"`, …), or the Unix name where Windows has no such event.
    ///
    /// # Examples
    ///
    /// ```
    /// use ioloop::Signal;
    ///
    /// let name = Signal::Interrupt.name();
    /// assert!(name == "SIGINT" || name == "CTRL_C_EVENT");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(windows)]
            Signal::Interrupt => "CTRL_C_EVENT",
            #[cfg(windows)]
            Signal::Quit => "CTRL_BREAK_EVENT",
            #[cfg(windows)]
            Signal::Terminate => "CTRL_CLOSE_EVENT",
            #[cfg(not(windows))]
            Signal::Interrupt => "SIGINT",
            #[cfg(not(windows))]
            Signal::Quit => "SIGQUIT",
            #[cfg(not(windows))]
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
            Signal::User1 => "SIGUSR1",
            Signal::User2 => "SIGUSR2",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Names one handler installed with [`EventLoop::on_signal`](crate::EventLoop::on_signal),
/// to remove it with [`EventLoop::remove_signal`](crate::EventLoop::remove_signal).
///
/// # Examples
///
/// ```
/// use ioloop::{EventLoop, Signal};
///
/// let mut event_loop = EventLoop::new()?;
/// let id = event_loop.on_signal(Signal::Interrupt, |cx| cx.stop())?;
/// assert!(event_loop.remove_signal(id));
/// assert!(!event_loop.remove_signal(id)); // removed already
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalId(u64);

/// A handler's closure.
type SignalFn<S> = Box<dyn for<'a, 'b> FnMut(&'a mut Context<'b, S>)>;

struct Handler<S> {
    id: SignalId,
    signal: Signal,
    call: SignalFn<S>,
}

/// What the OS-level handler of one loop reaches: the loop's counters, and its way to wake.
///
/// The handler adds to `counts`, then sets `any`, then wakes the loop; the loop (after
/// draining its wake-ups) clears `any`, then takes `counts`. A signal the loop misses that
/// way set `any` and woke it after, so the next iteration takes it.
struct Pending {
    counts: [AtomicUsize; COUNT],
    any: AtomicBool,
    wake: os::Wake,
}

/// One loop's signal handlers and the plumbing behind them (none until the first handler).
pub(crate) struct Signals<S> {
    handlers: Vec<Handler<S>>,
    next_id: u64,
    plumbing: Option<os::Plumbing>,
}

impl<S: 'static> Signals<S> {
    pub(crate) fn new() -> Signals<S> {
        Signals {
            handlers: Vec::new(),
            next_id: 0,
            plumbing: None,
        }
    }

    /// Adds a handler; the first for `signal` in this loop takes the signal from the OS.
    pub(crate) fn install(
        &mut self,
        core: &mut Core<S>,
        signal: Signal,
        call: SignalFn<S>,
    ) -> io::Result<SignalId> {
        if !signal.is_available() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{signal:?} does not exist on this platform"),
            ));
        }
        let plumbing = match &mut self.plumbing {
            Some(plumbing) => plumbing,
            none => none.insert(os::Plumbing::new(core)?),
        };
        if !self.handlers.iter().any(|h| h.signal == signal) {
            plumbing.take(signal)?;
        }
        let id = SignalId(self.next_id);
        self.next_id += 1;
        self.handlers.push(Handler { id, signal, call });
        Ok(id)
    }

    /// Removes a handler; the last for its signal in this loop gives the signal back.
    pub(crate) fn remove(&mut self, id: SignalId) -> bool {
        let Some(at) = self.handlers.iter().position(|h| h.id == id) else {
            return false;
        };
        let signal = self.handlers.remove(at).signal;
        if !self.handlers.iter().any(|h| h.signal == signal) {
            if let Some(plumbing) = &mut self.plumbing {
                plumbing.give_back(signal);
                // What arrived for it and was not dispatched yet has no handler any more.
                plumbing.pending.counts[signal.index()].store(0, Ordering::SeqCst);
            }
        }
        true
    }

    /// Whether `key` is the one the signal pipe is registered under; if so, drains it.
    #[inline]
    pub(crate) fn is_wake_event(&mut self, key: usize) -> bool {
        if key != PIPE_KEY {
            return false;
        }
        if let Some(plumbing) = &mut self.plumbing {
            plumbing.drain();
        }
        true
    }

    /// Calls the handlers of the signals counted since the last call, once per signal
    /// counted, in the order they were installed. A handler that panics is logged and stays
    /// installed.
    #[inline]
    pub(crate) fn dispatch(&mut self, core: &mut Core<S>) {
        let Some(plumbing) = &self.plumbing else {
            return;
        };
        let pending = &plumbing.pending;
        if !pending.any.swap(false, Ordering::SeqCst) {
            return; // the one atomic an iteration costs when no signal came
        }
        for signal in Signal::ALL {
            let count = pending.counts[signal.index()].swap(0, Ordering::SeqCst);
            for _ in 0..count {
                for handler in self.handlers.iter_mut().filter(|h| h.signal == signal) {
                    let outcome = {
                        let mut cx = Context::new(core, None);
                        let call = &mut handler.call;
                        panic::catch_unwind(AssertUnwindSafe(|| call(&mut cx)))
                    };
                    if let Err(panic) = outcome {
                        report!(Error, target: "ioloop::event_loop", "{:?}: the {signal:?} handler panicked ({}); it stays installed", handler.id, panic_message(&*panic));
                    }
                }
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.handlers.len()
    }
}

impl<S> Drop for Signals<S> {
    fn drop(&mut self) {
        if let Some(plumbing) = &mut self.plumbing {
            for signal in Signal::ALL {
                if self.handlers.iter().any(|h| h.signal == signal) {
                    plumbing.give_back(signal);
                }
            }
        }
    }
}

/// The selector key of the signal pipe: the key of slot `Token::MAX_SLOT` at generation
/// `Token::MAX_SLOT`, which no channel is given (the loop's own timers use that name for "no
/// channel" too).
pub(crate) const PIPE_KEY: usize = usize::MAX;

#[cfg(unix)]
mod os {
    //! Unix: signal-hook actions, a self-pipe, and the default action emulated once no loop
    //! has a handler.

    use std::io::{self, Read};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use signal_hook::SigId;
    use signal_hook::low_level;

    use super::{COUNT, PIPE_KEY, Pending, Signal};
    use crate::event_loop::core::Core;
    use crate::selector::{Interest, Selector, Source};

    /// The OS's number for `signal`.
    pub(super) fn raw(signal: Signal) -> Option<libc::c_int> {
        Some(match signal {
            Signal::Interrupt => libc::SIGINT,
            Signal::Quit => libc::SIGQUIT,
            Signal::Terminate => libc::SIGTERM,
            Signal::Hangup => libc::SIGHUP,
            Signal::User1 => libc::SIGUSR1,
            Signal::User2 => libc::SIGUSR2,
        })
    }

    /// The pipe's write end, which the signal-hook actions write to.
    pub(super) struct Wake {
        writer: UnixStream,
    }

    pub(super) struct Plumbing {
        pub(super) pending: Arc<Pending>,
        reader: UnixStream,
        actions: [Option<SigId>; COUNT],
    }

    impl Plumbing {
        /// A pipe registered in the loop's selector under [`PIPE_KEY`].
        pub(super) fn new<S: 'static>(core: &mut Core<S>) -> io::Result<Plumbing> {
            // std makes both ends close-on-exec.
            let (reader, writer) = UnixStream::pair()?;
            reader.set_nonblocking(true)?;
            writer.set_nonblocking(true)?;
            // SAFETY: the plumbing owns `reader` and lives as long as the loop, and the loop
            // drops its core (with the selector) before its signals: the source is never
            // closed while registered.
            unsafe {
                core.selector_mut()
                    .register(reader.raw_source(), PIPE_KEY, Interest::READ)?;
            }
            Ok(Plumbing {
                pending: Arc::new(Pending {
                    counts: Default::default(),
                    any: AtomicBool::new(false),
                    wake: Wake { writer },
                }),
                reader,
                actions: [None; COUNT],
            })
        }

        /// Starts counting `signal` for this loop.
        pub(super) fn take(&mut self, signal: Signal) -> io::Result<()> {
            let Some(number) = raw(signal) else {
                return Err(io::ErrorKind::Unsupported.into());
            };
            defaults::acquire(signal, number)?;
            let pending = self.pending.clone();
            let index = signal.index();
            let action = move || {
                // Async-signal-safe only: an atomic add and a write(2). A full pipe
                // (EAGAIN) is fine: a byte is already waiting, and the counter holds the
                // count.
                pending.counts[index].fetch_add(1, Ordering::SeqCst);
                pending.any.store(true, Ordering::SeqCst);
                let _ = rustix::io::write(pending.wake.writer.as_fd(), &[1]);
            };
            // SAFETY: the action is async-signal-safe (see above); it allocates nothing, takes
            // no lock and leaves errno as it found it (signal-hook saves and restores it).
            match unsafe { low_level::register(number, action) } {
                Ok(id) => {
                    self.actions[index] = Some(id);
                    Ok(())
                }
                Err(e) => {
                    defaults::release(signal);
                    Err(e)
                }
            }
        }

        /// Stops counting `signal` for this loop.
        pub(super) fn give_back(&mut self, signal: Signal) {
            if let Some(id) = self.actions[signal.index()].take() {
                low_level::unregister(id);
                defaults::release(signal);
            }
        }

        /// Reads what the actions wrote, until the pipe is empty.
        pub(super) fn drain(&mut self) {
            let mut sink = [0u8; 64];
            loop {
                match self.reader.read(&mut sink) {
                    Ok(0) => break,
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // WouldBlock: drained. Anything else cannot be fixed by reading again.
                    Err(_) => break,
                }
            }
        }
    }

    /// The default action while no loop takes a signal.
    mod defaults {
        use super::*;

        /// How many loops take each signal (read by the fallback actions).
        static TAKEN: [AtomicUsize; COUNT] = [const { AtomicUsize::new(0) }; COUNT];
        /// Whether this module has looked at each signal's first disposition (and added the
        /// fallback action if it was the default one).
        static SEEN: Mutex<[bool; COUNT]> = Mutex::new([false; COUNT]);

        /// One more loop takes `signal`.
        pub(super) fn acquire(signal: Signal, number: libc::c_int) -> io::Result<()> {
            let index = signal.index();
            let mut seen = SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if !seen[index] {
                if is_default(number)? {
                    let fallback = move || {
                        if TAKEN[index].load(Ordering::SeqCst) == 0 {
                            // Resets the signal to SIG_DFL and raises it again: async-signal-safe.
                            let _ = low_level::emulate_default_handler(number);
                        }
                    };
                    // SAFETY: an atomic load and signal-hook's async-signal-safe emulation.
                    unsafe { low_level::register(number, fallback)? };
                }
                seen[index] = true;
            }
            TAKEN[index].fetch_add(1, Ordering::SeqCst);
            Ok(())
        }

        /// One loop less takes `signal`.
        pub(super) fn release(signal: Signal) {
            TAKEN[signal.index()].fetch_sub(1, Ordering::SeqCst);
        }

        /// Whether `number`'s disposition is the default action (`SIG_DFL`).
        fn is_default(number: libc::c_int) -> io::Result<bool> {
            // SAFETY: a zeroed `sigaction` is a valid value to be filled; a null `act` only
            // reads the current disposition.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(number, std::ptr::null(), &mut old) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(old.sa_sigaction == libc::SIG_DFL)
            }
        }
    }
}

#[cfg(windows)]
mod os {
    //! Windows: one console control routine for the process, which counts the event for
    //! every loop that takes it and wakes each through its waker.

    use std::io;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, Weak};

    use windows_sys::Win32::System::Console::{
        CTRL_BREAK_EVENT, CTRL_C_EVENT, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT,
        SetConsoleCtrlHandler,
    };
    use windows_sys::core::BOOL;

    use super::{COUNT, Pending, Signal};
    use crate::event_loop::core::Core;
    use crate::selector::Waker;

    /// The console event for `signal`, if Windows has one (`Terminate` stands for three).
    pub(super) fn raw(signal: Signal) -> Option<u32> {
        match signal {
            Signal::Interrupt => Some(CTRL_C_EVENT),
            Signal::Quit => Some(CTRL_BREAK_EVENT),
            Signal::Terminate => Some(CTRL_CLOSE_EVENT),
            Signal::Hangup | Signal::User1 | Signal::User2 => None,
        }
    }

    /// How a loop is woken: its selector's waker, and which signals it takes.
    pub(super) struct Wake {
        waker: Waker,
        taken: [AtomicUsize; COUNT],
    }

    pub(super) struct Plumbing {
        pub(super) pending: Arc<Pending>,
    }

    /// Every loop that took a console event (dead ones are swept when a loop is added).
    static LOOPS: Mutex<Vec<Weak<Pending>>> = Mutex::new(Vec::new());
    /// Whether the process's console routine is installed (it stays for the process's life,
    /// returning `FALSE` while no loop takes the event).
    static INSTALLED: Mutex<bool> = Mutex::new(false);

    impl Plumbing {
        pub(super) fn new<S: 'static>(core: &mut Core<S>) -> io::Result<Plumbing> {
            {
                let mut installed = INSTALLED
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if !*installed {
                    // SAFETY: a valid routine that stays valid for the process's life.
                    if unsafe { SetConsoleCtrlHandler(Some(routine), 1) } == 0 {
                        return Err(io::Error::last_os_error());
                    }
                    *installed = true;
                }
            }
            let pending = Arc::new(Pending {
                counts: Default::default(),
                any: AtomicBool::new(false),
                wake: Wake {
                    waker: core.shared().waker.clone(),
                    taken: Default::default(),
                },
            });
            let mut loops = LOOPS
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            loops.retain(|weak| weak.strong_count() > 0);
            loops.push(Arc::downgrade(&pending));
            Ok(Plumbing { pending })
        }

        pub(super) fn take(&mut self, signal: Signal) -> io::Result<()> {
            self.pending.wake.taken[signal.index()].store(1, Ordering::SeqCst);
            Ok(())
        }

        pub(super) fn give_back(&mut self, signal: Signal) {
            self.pending.wake.taken[signal.index()].store(0, Ordering::SeqCst);
        }

        /// No pipe on Windows: the waker's own socket is drained by the selector.
        pub(super) fn drain(&mut self) {}
    }

    /// The console control routine. The OS runs it on a thread of its own.
    unsafe extern "system" fn routine(event: u32) -> BOOL {
        let signal = match event {
            CTRL_C_EVENT => Signal::Interrupt,
            CTRL_BREAK_EVENT => Signal::Quit,
            CTRL_CLOSE_EVENT | CTRL_LOGOFF_EVENT | CTRL_SHUTDOWN_EVENT => Signal::Terminate,
            _ => return 0,
        };
        let index = signal.index();
        let mut delivered = false;
        {
            let loops = LOOPS
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for pending in loops.iter().filter_map(Weak::upgrade) {
                if pending.wake.taken[index].load(Ordering::SeqCst) == 0 {
                    continue;
                }
                pending.counts[index].fetch_add(1, Ordering::SeqCst);
                pending.any.store(true, Ordering::SeqCst);
                let _ = pending.wake.waker.wake();
                delivered = true;
            }
        }
        if !delivered {
            return 0; // the next routine, in the end the default one: the process ends
        }
        if signal == Signal::Terminate {
            // The process ends as soon as this returns: give the loop the OS's grace period
            // instead (the process exits by itself, or the OS ends it at its timeout).
            loop {
                std::thread::park();
            }
        }
        1
    }
}
