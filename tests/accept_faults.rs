//! A transient `accept` failure never closes a listener: for each errno a real server may
//! see (`ENOBUFS`, `ENOMEM`, `EPROTO`, `EPERM`, `ECONNABORTED`, `EINTR`) and each selector
//! backend, a child process whose first `accept` fails with it keeps accepting: the client
//! waiting then, and one that connects after the failure, are both served, and the child
//! exits cleanly.
//!
//! The failure is injected by a shim preloaded into the child (`LD_PRELOAD`): a few lines of
//! C, built here with `cc`, wrapping `accept` and `accept4` (socket2 calls libc's `accept4`)
//! through `dlsym(RTLD_NEXT)`; the first call fails with the errno named in
//! `IOLOOP_ACCEPT_FAULT_ERRNO`, the others pass through. The shim counts its failures in a
//! symbol the child reads, so the child knows when the failure happened.
//!
//! No harness (`harness = false` in Cargo.toml): `main` decides whether it is the parent or
//! a child. Linux only (elsewhere it reports 0 tests); skipped, saying so, without `cc`.

#[cfg(target_os = "linux")]
mod common;

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("accept_faults: 0 passed, 0 failed (the LD_PRELOAD shim is Linux only)");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::CStr;
    use std::io::{self, Read};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::sync::OnceLock;
    use std::thread;
    use std::time::{Duration, Instant};

    use ioloop::selector::SelectorKind;
    use ioloop::{Context, Dispatcher, EventLoop};
    use socket2::{SockAddr, Socket};

    use crate::common::LIMIT;
    use crate::common::example::wait_within;
    use crate::common::kinds::{Check, run_without_harness};

    /// Makes this binary a child, naming the selector kind to use.
    const CHILD: &str = "IOLOOP_ACCEPT_FAULT_CHILD";
    /// The errno (a number) the shim's first `accept` fails with.
    const ERRNO: &str = "IOLOOP_ACCEPT_FAULT_ERRNO";
    /// What a child prints when both clients were served.
    const DONE: &str = "child: both clients served";

    const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>

/* Not <sys/socket.h>: glibc declares accept's address as a transparent union. */
typedef unsigned int socklen_t_;

/* Read by the child (dlsym) to learn that the failure happened. */
int ioloop_accept_faults = 0;

static int fail_now(void) {
    const char *code = getenv("IOLOOP_ACCEPT_FAULT_ERRNO");
    if (code == NULL || ioloop_accept_faults > 0) {
        return 0;
    }
    ioloop_accept_faults += 1;
    errno = atoi(code);
    return 1;
}

int accept(int fd, void *addr, socklen_t_ *len) {
    static int (*real)(int, void *, socklen_t_ *);
    if (fail_now()) {
        return -1;
    }
    if (real == NULL) {
        real = (int (*)(int, void *, socklen_t_ *))dlsym(RTLD_NEXT, "accept");
    }
    return real(fd, addr, len);
}

int accept4(int fd, void *addr, socklen_t_ *len, int flags) {
    static int (*real)(int, void *, socklen_t_ *, int);
    if (fail_now()) {
        return -1;
    }
    if (real == NULL) {
        real = (int (*)(int, void *, socklen_t_ *, int))dlsym(RTLD_NEXT, "accept4");
    }
    return real(fd, addr, len, flags);
}
"#;

    pub fn main() {
        if let Ok(kind) = std::env::var(CHILD) {
            let kind: SelectorKind = kind.parse().expect("a selector kind");
            return child(kind);
        }
        if shim().is_none() {
            println!("accept_faults: skipped: no C compiler (`cc`) to build the LD_PRELOAD shim");
            return;
        }
        let checks: [Check; 6] = [
            ("enobufs_leaves_the_listener_accepting", |kind| {
                check(kind, libc::ENOBUFS)
            }),
            ("enomem_leaves_the_listener_accepting", |kind| {
                check(kind, libc::ENOMEM)
            }),
            ("eproto_leaves_the_listener_accepting", |kind| {
                check(kind, libc::EPROTO)
            }),
            ("eperm_leaves_the_listener_accepting", |kind| {
                check(kind, libc::EPERM)
            }),
            ("econnaborted_leaves_the_listener_accepting", |kind| {
                check(kind, libc::ECONNABORTED)
            }),
            ("eintr_leaves_the_listener_accepting", |kind| {
                check(kind, libc::EINTR)
            }),
        ];
        run_without_harness("accept_faults", &checks);
    }

    /// The shim, built once per run into the target's scratch directory; `None` without `cc`.
    fn shim() -> Option<&'static Path> {
        static SHIM_PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
        SHIM_PATH
            .get_or_init(|| {
                // Cargo's scratch directory for integration tests: kept out of /tmp.
                let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("accept_faults");
                std::fs::create_dir_all(&dir).expect("a directory for the shim");
                let source = dir.join("shim.c");
                let library = dir.join("shim.so");
                std::fs::write(&source, SHIM).expect("writing the shim's source");
                let built = Command::new("cc")
                    .args(["-shared", "-fPIC", "-O1", "-o"])
                    .arg(&library)
                    .arg(&source)
                    .arg("-ldl")
                    .stdin(Stdio::null())
                    .output();
                match built {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                    Err(e) => panic!("running cc: {e}"),
                    Ok(output) if !output.status.success() => panic!(
                        "cc failed to build the shim: {}",
                        String::from_utf8_lossy(&output.stderr)
                    ),
                    Ok(_) => Some(library),
                }
            })
            .as_deref()
    }

    /// Runs a child on `kind` whose first accept fails with `errno`; it must serve both
    /// clients and exit cleanly.
    fn check(kind: SelectorKind, errno: i32) {
        let shim = shim().expect("the shim was built");
        let exe = std::env::current_exe().expect("this binary's path");
        let mut child = Command::new(exe)
            .env(CHILD, kind.name())
            .env(ERRNO, errno.to_string())
            .env("LD_PRELOAD", shim)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the child");
        let stdout = collect(child.stdout.take().expect("the child's stdout"));
        let stderr = collect(child.stderr.take().expect("the child's stderr"));
        let status = wait_within(&mut child, "the child", LIMIT + LIMIT);
        let stdout = stdout.join().expect("the stdout reader");
        let stderr = stderr.join().expect("the stderr reader");
        assert!(
            status.success() && stdout.contains(DONE),
            "errno {errno}: the child failed ({status}); stdout {stdout:?}, stderr {stderr:?}"
        );
    }

    fn collect(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    }

    /// How many accepts the shim failed so far (it is preloaded into this child).
    fn faults() -> i32 {
        let name = c"ioloop_accept_faults";
        // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name; the symbol, if found,
        // is the shim's `int`, alive for the life of the process.
        unsafe {
            let symbol = libc::dlsym(libc::RTLD_DEFAULT, CStr::as_ptr(name));
            assert!(!symbol.is_null(), "the shim is not preloaded");
            std::ptr::read_volatile(symbol as *const i32)
        }
    }

    /// Spawns a [`Greeter`] for each connection.
    struct Server;

    impl Dispatcher<usize> for Server {
        fn handle_accepted(
            &mut self,
            cx: &mut Context<'_, usize>,
            socket: Socket,
            _: SockAddr,
        ) -> io::Result<()> {
            cx.spawn(socket, Greeter)?;
            Ok(())
        }
    }

    struct Greeter;

    impl Dispatcher<usize> for Greeter {
        fn handle_opened(&mut self, cx: &mut Context<'_, usize>) -> io::Result<()> {
            cx.send(b"served\n")?;
            *cx.state() += 1;
            Ok(())
        }
    }

    /// The child: a listener on `kind`; a client connects, the first accept fails (the
    /// shim), then another client connects; both must be served.
    fn child(kind: SelectorKind) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("the address");
        let mut event_loop = EventLoop::with_kind(kind, 0usize).expect("the loop");
        event_loop.spawn(listener, Server).expect("spawn");
        assert_eq!(faults(), 0);
        let mut first = connect(addr);
        run_while(&mut event_loop, "the injected failure", |_| faults() == 0);
        let mut second = connect(addr);
        run_while(&mut event_loop, "both clients served", |event_loop| {
            *event_loop.state() < 2
        });
        assert_eq!(faults(), 1);
        for client in [&mut first, &mut second] {
            let mut reply = [0; 7];
            client.read_exact(&mut reply).expect("the greeting");
            assert_eq!(&reply, b"served\n");
        }
        assert_eq!(event_loop.len(), 3, "the listener and two greeters");
        println!("{DONE}");
    }

    fn connect(addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(LIMIT))
            .expect("a read timeout");
        stream
    }

    fn run_while(
        event_loop: &mut EventLoop<usize>,
        what: &str,
        mut pending: impl FnMut(&EventLoop<usize>) -> bool,
    ) {
        let deadline = Instant::now() + LIMIT;
        while pending(event_loop) {
            assert!(Instant::now() < deadline, "{what}: not within {LIMIT:?}");
            event_loop
                .run_once(Some(Duration::from_millis(20)))
                .expect("run_once");
        }
    }
}
