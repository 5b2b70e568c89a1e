//! A Python server in a child process: started with its script, which prints
//! `listening on IP:PORT`, and killed when the bench ends (`ChildGuard` in main). Shared by
//! the echo bench (asyncore) and the line-echo bench (asynchat).

use std::io::{self, BufRead};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use crate::cpu_clock::CpuClock;

static CHILDREN: Mutex<Vec<Child>> = Mutex::new(Vec::new());

/// Whether `python` runs and can import `module` (asyncore and asynchat: 3.11 or older).
pub fn has_module(python: &str, module: &str) -> bool {
    Command::new(python)
        .args(["-W", "ignore", "-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `script` with `python`; returns the address it listens on and its CPU clock.
pub fn start(python: &str, script: &Path) -> io::Result<(SocketAddr, CpuClock)> {
    let mut child = Command::new(python)
        .arg(script)
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
        .ok_or_else(|| io::Error::other(format!("{} printed {line:?}", script.display())))?;
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
