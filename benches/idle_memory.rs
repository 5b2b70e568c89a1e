//! Memory per idle chat connection: starts `examples/chat_server` (built with
//! `cargo build --release --example chat_server`, found beside this bench binary in the
//! same target directory), opens C idle connections to it (default 10 000), and reads the
//! server's resident memory from `/proc/PID/status` before and after. Two phases:
//!
//! 1. connected: each connection has received `Connect Success` and sent nothing;
//! 2. after one empty line from each (no answer; the server has read from every socket).
//!
//! `cargo bench --bench idle_memory` (options after `--`: `--connections C`,
//! `--selector NAME`, `--no-deadlines`: the server without its default idle, line and drain
//! timeouts, to show what their per-connection clocks cost). Linux only (it reads `/proc`);
//! elsewhere it says so and exits.

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{self, BufRead, BufReader, Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

    /// The server's memory, in KiB: (VmRSS, RssAnon).
    fn memory(pid: u32) -> io::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Ok((field("VmRSS:"), field("RssAnon:")))
    }

    /// Waits until the server's RSS stops changing (two equal readings 200 ms apart), at
    /// most 5 s.
    fn settled(pid: u32) -> io::Result<(u64, u64)> {
        let until = Instant::now() + Duration::from_secs(5);
        let mut last = memory(pid)?;
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = memory(pid)?;
            if now == last || Instant::now() > until {
                return Ok(now);
            }
            last = now;
        }
    }

    fn server_path() -> io::Result<PathBuf> {
        // target/release/deps/idle_memory-HASH → target/release/examples/chat_server
        let exe = std::env::current_exe()?;
        let release = exe
            .parent()
            .and_then(|deps| deps.parent())
            .ok_or_else(|| io::Error::other("no target directory"))?;
        Ok(release.join("examples").join("chat_server"))
    }

    struct Server(Child);

    impl Drop for Server {
        fn drop(&mut self) {
            // Only the child this bench started, by its handle.
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    pub fn main() -> io::Result<()> {
        let mut connections = 10_000usize;
        let mut selector = "auto".to_string();
        let mut deadlines = true;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--connections" => {
                    connections = args
                        .next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(connections)
                        .clamp(1, 100_000);
                }
                "--selector" => selector = args.next().unwrap_or(selector),
                "--no-deadlines" => deadlines = false,
                _ => {}
            }
        }
        let path = server_path()?;
        if !path.exists() {
            println!(
                "idle_memory: skipped: {} is missing; build it first with \
                 `cargo build --release --example chat_server` (same CARGO_TARGET_DIR)",
                path.display()
            );
            return Ok(());
        }
        // Raise the soft descriptor limit to the hard one; the server inherits it.
        let hard = getrlimit(Resource::Nofile).maximum;
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: hard,
                maximum: hard,
            },
        );
        let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        let fits = (soft as usize).saturating_sub(100);
        if connections > fits {
            println!(
                "idle_memory: {connections} connections do not fit the descriptor limit {soft}; using {fits}"
            );
            connections = fits;
        }
        // The example caps its connections (1 000 by default): lift the cap to the count
        // measured, or the listener pauses there and the rest wait in the backlog.
        let cap = connections.to_string();
        let mut child = Command::new(&path)
            .args(["--addr", "127.0.0.1:0", "--selector", &selector])
            .args(["--max-connections", &cap])
            .args(if deadlines {
                &[][..]
            } else {
                &[
                    "--idle-timeout",
                    "0",
                    "--line-timeout",
                    "0",
                    "--drain-timeout",
                    "0",
                ][..]
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let server = Server(child);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let pid = server.0.id();
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected first line: {line:?}")))?;
        let before = settled(pid)?;
        let greeting = b"Connect Success\n";
        let mut streams = Vec::with_capacity(connections);
        let started = Instant::now();
        for i in 0..connections {
            if started.elapsed() > Duration::from_secs(60) {
                println!("idle_memory: stopped at {i} connections after 60 s");
                break;
            }
            let mut stream = TcpStream::connect(addr)?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut got = [0u8; 16];
            stream.read_exact(&mut got)?;
            if &got != greeting {
                return Err(io::Error::other("unexpected greeting"));
            }
            streams.push(stream);
        }
        let n = streams.len().max(1) as f64;
        let connected = settled(pid)?;
        for stream in &mut streams {
            stream.write_all(b"\n")?;
        }
        let after_line = settled(pid)?;
        let per = |now: (u64, u64)| {
            (
                (now.0 as f64 - before.0 as f64) * 1024.0 / n,
                (now.1 as f64 - before.1 as f64) * 1024.0 / n,
            )
        };
        let (rss_connected, anon_connected) = per(connected);
        let (rss_line, anon_line) = per(after_line);
        println!(
            "chat_server (--selector {selector}), {} idle connections; server memory in KiB (VmRSS / RssAnon):",
            streams.len()
        );
        println!(
            "  before:                  {:>9} / {:>9}",
            before.0, before.1
        );
        println!(
            "  connected:               {:>9} / {:>9}",
            connected.0, connected.1
        );
        println!(
            "  after one line each:     {:>9} / {:>9}",
            after_line.0, after_line.1
        );
        println!();
        println!("| phase | bytes per connection (VmRSS) | (RssAnon) |");
        println!("|---|---:|---:|");
        println!("| connected, nothing sent | {rss_connected:.0} | {anon_connected:.0} |");
        println!("| after one empty line each | {rss_line:.0} | {anon_line:.0} |");
        drop(streams);
        drop(server);
        Ok(())
    }
}

fn main() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        linux::main()
    }
    #[cfg(not(target_os = "linux"))]
    {
        println!("idle_memory: skipped: it reads /proc (Linux only)");
        Ok(())
    }
}
