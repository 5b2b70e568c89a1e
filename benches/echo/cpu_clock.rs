//! A server's time on the CPU, read from Linux's `/proc/…/schedstat`.

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
