//! [`LoopHandle`]: stop the loop, shut it down gracefully, or run code on it from another
//! thread.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Context;
use crate::diagnostics::report;
use crate::selector::Waker;

/// A closure sent to the loop's thread.
pub(crate) type Job<S> = Box<dyn for<'a, 'b> FnOnce(&'a mut Context<'b, S>) + Send>;

/// What a handle shares with its loop.
pub(crate) struct Shared<S> {
    pub(crate) waker: Waker,
    pub(crate) stop: AtomicBool,
    pub(crate) jobs: Mutex<Vec<Job<S>>>,
    /// Set after a job is queued, so the loop looks at `jobs` (a lock) only when there may
    /// be one: an iteration then costs no lock.
    pub(crate) has_jobs: AtomicBool,
}

/// A `Send + Sync + Clone` handle to an [`EventLoop`](crate::EventLoop): stops it or runs
/// closures on its thread, waking it from a blocking wait. This is what asyncore lacked: a
/// server in a thread can be stopped without killing the thread.
///
/// # Examples
///
/// ```
/// use ioloop::EventLoop;
///
/// let mut event_loop = EventLoop::new()?;
/// let handle = event_loop.handle();
/// std::thread::spawn(move || handle.call_soon_threadsafe(|cx| cx.stop()).unwrap());
/// event_loop.run_until_stopped()?; // returns once the other thread's closure ran
/// # std::io::Result::Ok(())
/// ```
pub struct LoopHandle<S = ()> {
    pub(crate) shared: Arc<Shared<S>>,
}

impl<S> LoopHandle<S> {
    /// Makes [`run`](crate::EventLoop::run) return after the current iteration, waking the
    /// loop if it waits. From a signal-handling thread, a supervisor, a test.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use ioloop::{Dispatcher, EventLoop};
    ///
    /// struct Server;
    /// impl Dispatcher for Server {}
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server)?;
    /// let handle = event_loop.handle();
    /// let supervisor = std::thread::spawn(move || {
    ///     // … until it is time to stop: a signal, a command, a test's end …
    ///     handle.stop(); // before or during the run: either way `run` returns
    /// });
    /// event_loop.run()?;
    /// supervisor.join().unwrap();
    /// assert_eq!(event_loop.len(), 1); // stopped with its listener open
    /// # std::io::Result::Ok(())
    /// ```
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Err(e) = self.shared.waker.wake() {
            report!(Error, target: "ioloop::event_loop", "could not wake the loop to stop it: {e}");
        }
    }

    /// Runs `job` on the loop's thread, in the next iteration, with a loop-level
    /// [`Context`] (no channel of its own: it can spawn, connect, reach channels with
    /// `get_mut`, close them, set timers for them, and stop the loop).
    ///
    /// # Examples
    ///
    /// Connections accepted by a blocking thread and handed to the loop:
    ///
    /// ```
    /// use std::io;
    /// use std::net::{TcpListener, TcpStream};
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Session;
    ///
    /// impl Dispatcher for Session {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.stop(); // one session is all this example waits for
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let mut event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// let acceptor = std::thread::spawn(move || -> io::Result<()> {
    ///     let (stream, _) = listener.accept()?; // blocking, off the loop's thread
    ///     handle.call_soon_threadsafe(move |cx| {
    ///         if let Err(e) = cx.spawn(stream, Session) {
    ///             eprintln!("cannot serve the connection: {e}");
    ///         }
    ///     })
    /// });
    /// let _client = TcpStream::connect(addr)?;
    /// event_loop.run_until_stopped()?;
    /// acceptor.join().unwrap()?;
    /// assert_eq!(event_loop.len(), 1);
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// Only if the loop cannot be woken (the OS refused the notification).
    pub fn call_soon_threadsafe(
        &self,
        job: impl for<'a, 'b> FnOnce(&'a mut Context<'b, S>) + Send + 'static,
    ) -> io::Result<()> {
        self.shared
            .jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Box::new(job));
        // After the push: a loop that sees the flag finds the job (or, if it took the job
        // before the flag was set, finds an empty queue next time, which is harmless).
        self.shared.has_jobs.store(true, Ordering::Release);
        self.shared.waker.wake()
    }

    /// Shuts the loop down gracefully with at most `grace` for its channels to finish (see
    /// [`Context::shutdown_loop`]): from a signal-handling thread, a supervisor, a test. The
    /// loop is woken and starts the shutdown in its next iteration.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use std::time::Duration;
    /// use ioloop::{Dispatcher, EventLoop};
    ///
    /// struct Server;
    /// impl Dispatcher for Server {}
    ///
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(TcpListener::bind("127.0.0.1:0")?, Server)?;
    /// let handle = event_loop.handle();
    /// let supervisor = std::thread::spawn(move || handle.shutdown(Duration::from_secs(10)));
    /// event_loop.run()?; // the listener closes, then `run` returns
    /// supervisor.join().unwrap()?;
    /// assert!(event_loop.is_empty()); // shut down, not merely stopped
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// Only if the loop cannot be woken (as [`call_soon_threadsafe`](Self::call_soon_threadsafe)).
    pub fn shutdown(&self, grace: Duration) -> io::Result<()>
    where
        S: 'static,
    {
        self.call_soon_threadsafe(move |cx| cx.shutdown_loop(grace))
    }
}

impl<S> Clone for LoopHandle<S> {
    fn clone(&self) -> Self {
        LoopHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<S> fmt::Debug for LoopHandle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("stop", &self.shared.stop.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
