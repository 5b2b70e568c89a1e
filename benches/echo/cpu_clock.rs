//! A server's time on the CPU, read from Linux's `/proc/…/schedstat`, and the thread a
//! bench's server runs on, whose time that is.

use std::io;
use std::net::{SocketAddr, TcpListener};

/// A server's time on the CPU, from Linux's `/proc/…/schedstat` (nanoseconds): what the
/// server spent per message, whoever was the bottleneck (with client and server on two
/// cores, the one-threaded client limits the batched scenarios for every server).
#[derive(Clone, Debug)]
pub struct CpuClock(pub Option<std::path::PathBuf>);

impl CpuClock {
    /// The calling thread's clock (`/proc/thread-self` names it; Linux only).
    pub fn this_thread() -> CpuClock {
        let path = std::fs::read_link("/proc/thread-self")
            .ok()
            .map(|task| std::path::Path::new("/proc").join(task).join("schedstat"));
        CpuClock(path.filter(|path| path.is_file()))
    }

    /// A process's main thread (Python's asyncore runs on one).
    pub fn process(pid: u32) -> CpuClock {
        let path = std::path::PathBuf::from(format!("/proc/{pid}/schedstat"));
        CpuClock(Some(path).filter(|path| path.is_file()))
    }

    pub fn nanos(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.0.as_ref()?).ok()?;
        text.split_whitespace().next()?.parse().ok()
    }
}

/// Binds a listener on 127.0.0.1 and runs `serve` with it on a detached thread named `name`;
/// returns the address and that thread's clock (the server's own CPU time, not the
/// client's). An error that ends `serve` goes to stderr under `name`.
pub fn serve_on_thread(
    name: String,
    serve: impl FnOnce(TcpListener) -> io::Result<()> + Send + 'static,
) -> io::Result<(SocketAddr, CpuClock)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (clock_tx, clock_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let _ = clock_tx.send(CpuClock::this_thread());
            if let Err(e) = serve(listener) {
                eprintln!("{name}: {e}");
            }
        })?;
    let clock = clock_rx.recv().unwrap_or(CpuClock(None));
    Ok((addr, clock))
}
