//! Python's asyncore: `asyncore_echo.py` (next to this file) in a child process, killed when
//! the bench ends (`ChildGuard` in main).

use std::io::{self, BufRead};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::cpu_clock::CpuClock;

static CHILDREN: Mutex<Vec<Child>> = Mutex::new(Vec::new());

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("echo/servers/asyncore_echo.py")
}

/// Whether `python3` runs and still has asyncore (removed in Python 3.12).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let found = Command::new("python3")
            .args(["-W", "ignore", "-c", "import asyncore"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !found {
            eprintln!("python-asyncore: skipped (no python3 with asyncore, which 3.12 removed)");
        }
        found
    })
}

pub fn start() -> io::Result<(SocketAddr, CpuClock)> {
    let mut child = Command::new("python3")
        .arg(script())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped above");
    let clock = CpuClock::process(child.id());
    CHILDREN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(child);
    let mut line = String::new();
    io::BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|addr| addr.parse().ok())
        .ok_or_else(|| io::Error::other(format!("asyncore_echo.py printed {line:?}")))?;
    Ok((addr, clock))
}

/// Kills the child servers when `main` returns or unwinds.
pub struct ChildGuard;

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let mut children = CHILDREN
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
