//! A listener that runs out of descriptors (`EMFILE` from `accept`) is paused, not closed and
//! not spinning, and serves again once descriptors are free — once per selector backend.
//!
//! The test lowers the process's descriptor limit, which would starve any test running
//! beside it, so it runs alone, without the harness (`harness = false` in Cargo.toml). It
//! prints `event_loop_emfile: N passed, M failed` and exits non-zero on a failure. Unix
//! only: elsewhere it reports 0 tests.

#[cfg(unix)]
mod common;

#[cfg(unix)]
fn main() {
    unix::main();
}

#[cfg(not(unix))]
fn main() {
    println!("event_loop_emfile: 0 passed, 0 failed (descriptor limits are a Unix matter)");
}

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::io::{self, Read, Write};
    use std::net::SocketAddr;
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, mpsc};
    use std::thread;
    use std::time::{Duration, Instant};

    use ioloop::selector::SelectorKind;
    use ioloop::{Context, Dispatcher, EventLoop, net};
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    use socket2::{Domain, SockAddr, Socket, Type};

    use crate::common::LIMIT;
    use crate::common::event_loop::STEP;
    use crate::common::kinds::run_without_harness;

    /// The soft descriptor limit the test runs under.
    const DESCRIPTOR_LIMIT: u64 = 64;
    /// Clients waiting in the backlog while the process has no descriptor left.
    const CLIENTS: usize = 4;
    /// Loop iterations allowed over [`QUIET`] while the listener is paused: a paused
    /// listener has no interest, so the loop only wakes for its 50 ms steps and the 100 ms
    /// resume timer (about 20); a spinning one would make thousands.
    const MAX_ITERATIONS: u64 = 50;
    const QUIET: Duration = Duration::from_millis(500);

    /// Warnings the library logged about failed accepts.
    static ACCEPT_WARNINGS: AtomicUsize = AtomicUsize::new(0);
    static FIRST_WARNING: Mutex<Option<String>> = Mutex::new(None);

    struct Recorder;

    impl log::Log for Recorder {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Warn
        }

        fn log(&self, record: &log::Record<'_>) {
            let text = record.args().to_string();
            if record.level() == log::Level::Warn && text.contains("accept failed") {
                ACCEPT_WARNINGS.fetch_add(1, Ordering::SeqCst);
                let mut first = FIRST_WARNING.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert(text);
            }
        }

        fn flush(&self) {}
    }

    static RECORDER: Recorder = Recorder;

    pub fn main() {
        log::set_logger(&RECORDER).expect("the only logger");
        log::set_max_level(log::LevelFilter::Warn);
        let limit = getrlimit(Resource::Nofile);
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(DESCRIPTOR_LIMIT),
                maximum: limit.maximum,
            },
        )
        .expect("lower RLIMIT_NOFILE");

        run_without_harness(
            "event_loop_emfile",
            &[(
                "a_listener_out_of_descriptors_pauses_without_spinning_and_serves_again",
                out_of_descriptors,
            )],
        );
    }

    /// The listener: counts accepted connections and echoes on each.
    struct Server {
        accepted: Arc<AtomicUsize>,
    }

    impl Dispatcher for Server {
        fn handle_accepted(
            &mut self,
            cx: &mut Context<'_, ()>,
            socket: Socket,
            _: SockAddr,
        ) -> io::Result<()> {
            cx.spawn(socket, Echo::default())?;
            self.accepted.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[derive(Default)]
    struct Echo {
        unsent: Vec<u8>,
    }

    impl Dispatcher for Echo {
        fn writable(&self) -> bool {
            !self.unsent.is_empty()
        }

        fn handle_read(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
            let mut buf = [0u8; 1024];
            let n = cx.recv(&mut buf)?;
            self.unsent.extend_from_slice(&buf[..n]);
            self.handle_write(cx)
        }

        fn handle_write(&mut self, cx: &mut Context<'_, ()>) -> io::Result<()> {
            let n = cx.send(&self.unsent)?;
            self.unsent.drain(..n);
            Ok(())
        }
    }

    /// The loop thread's counters and stop flag.
    #[derive(Default)]
    struct Shared {
        iterations: AtomicU64,
        accepted: Arc<AtomicUsize>,
        stop: AtomicBool,
    }

    fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + LIMIT;
        while !condition() {
            assert!(Instant::now() < deadline, "{what}: not within {LIMIT:?}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn out_of_descriptors(kind: SelectorKind) {
        let shared = Arc::new(Shared::default());
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<SocketAddr>>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let loop_shared = shared.clone();
        thread::spawn(move || {
            let setup = || -> io::Result<(EventLoop, SocketAddr)> {
                let mut event_loop = EventLoop::with_kind(kind, ())?;
                let listener = net::listen("127.0.0.1:0".parse().unwrap(), net::DEFAULT_BACKLOG)?;
                let addr = listener.local_addr()?;
                let server = Server {
                    accepted: loop_shared.accepted.clone(),
                };
                event_loop.spawn(listener, server)?;
                Ok((event_loop, addr))
            };
            let mut event_loop = match setup() {
                Ok((event_loop, addr)) => {
                    let _ = ready_tx.send(Ok(addr));
                    event_loop
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            while !loop_shared.stop.load(Ordering::SeqCst) {
                event_loop.run_once(Some(STEP)).expect("run_once");
                loop_shared.iterations.fetch_add(1, Ordering::SeqCst);
            }
            drop(event_loop);
            let _ = done_tx.send(());
        });
        let addr = ready_rx
            .recv_timeout(LIMIT)
            .expect("the loop thread started")
            .expect("the loop was set up");

        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            exhaust_then_recover(addr, &shared);
        }));
        shared.stop.store(true, Ordering::SeqCst);
        done_rx
            .recv_timeout(LIMIT)
            .expect("the loop thread stopped");
        if let Err(panic) = outcome {
            panic::resume_unwind(panic);
        }
    }

    fn exhaust_then_recover(addr: SocketAddr, shared: &Shared) {
        let warnings_before = ACCEPT_WARNINGS.load(Ordering::SeqCst);
        // The clients' sockets exist before the descriptors run out; connecting them needs
        // no new descriptor, while accepting them does.
        let mut clients: Vec<Socket> = (0..CLIENTS)
            .map(|_| Socket::new(Domain::IPV4, Type::STREAM, None).expect("a client socket"))
            .collect();
        let mut ballast = Vec::new();
        loop {
            match File::open("/dev/null") {
                Ok(file) => ballast.push(file),
                Err(e) if is_emfile(&e) => break,
                Err(e) => panic!("open /dev/null: {e}"),
            }
            assert!(ballast.len() < 10_000, "the descriptor limit does not bite");
        }
        for client in &clients {
            client
                .connect(&addr.into())
                .expect("connect (into the backlog)");
        }

        wait_for("an accept failing with EMFILE", || {
            ACCEPT_WARNINGS.load(Ordering::SeqCst) > warnings_before
        });
        assert_eq!(shared.accepted.load(Ordering::SeqCst), 0);
        let first = FIRST_WARNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default();
        assert!(first.contains("pausing"), "the warning: {first}");

        let start = shared.iterations.load(Ordering::SeqCst);
        thread::sleep(QUIET);
        let iterations = shared.iterations.load(Ordering::SeqCst) - start;
        assert!(
            iterations < MAX_ITERATIONS,
            "{iterations} loop iterations in {QUIET:?} while out of descriptors: spinning"
        );
        assert_eq!(shared.accepted.load(Ordering::SeqCst), 0);
        println!(
            "  {iterations} iterations in {QUIET:?} while paused; {} descriptors of ballast",
            ballast.len()
        );

        // Free some descriptors: the paused listener resumes and serves every client.
        ballast.truncate(ballast.len().saturating_sub(2 * CLIENTS + 4));
        wait_for("every waiting client accepted", || {
            shared.accepted.load(Ordering::SeqCst) == CLIENTS
        });
        for (i, client) in clients.iter_mut().enumerate() {
            client.set_read_timeout(Some(LIMIT)).unwrap();
            let message = format!("client {i} is served");
            client.write_all(message.as_bytes()).unwrap();
            let mut echoed = vec![0; message.len()];
            client
                .read_exact(&mut echoed)
                .unwrap_or_else(|e| panic!("client {i}: no echo: {e}"));
            assert_eq!(echoed, message.as_bytes());
        }
        drop(ballast);
    }

    fn is_emfile(error: &io::Error) -> bool {
        error.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error())
    }
}
