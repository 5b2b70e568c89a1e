//! Python's asyncore: `asyncore_echo.py` (next to this file) in a child process.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::OnceLock;

use super::python_child;
use crate::cpu_clock::CpuClock;

/// Whether `python3` runs and still has asyncore (removed in Python 3.12).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let found = python_child::has_module("python3", "asyncore");
        if !found {
            eprintln!("python-asyncore: skipped (no python3 with asyncore, which 3.12 removed)");
        }
        found
    })
}

pub fn start() -> io::Result<(SocketAddr, CpuClock)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("echo/servers/asyncore_echo.py");
    python_child::start("python3", &script)
}
