//! The command line the comparing benches share (after `cargo bench --bench NAME --`):
//! `--rounds N`, `--secs F`, `--peers a,b`, `--serve PEER`, `--client ADDR`, and each bench's
//! own flags, which it names in a table ([`Flag`]). Included by path from each bench's
//! `main.rs`, as the benches share their other files.
//!
//! A bad or missing value prints `NAME bench: USAGE` and exits with status 2; an argument
//! that is no flag known here is ignored (cargo bench passes `--bench`, and the scripts pass
//! `--scenarios` and `--framing` to every bench they drive).

use std::net::SocketAddr;
use std::str::FromStr;

/// The flags of [`Options`]' own fields, each taking a value.
const SHARED: [&str; 5] = ["--rounds", "--secs", "--peers", "--serve", "--client"];

/// What the command line asked for: the flags every comparing bench takes, and `own`, the
/// bench's own.
pub struct Options<P, X> {
    /// `--rounds N` (1 to 20, default 3): how many times each peer runs.
    pub rounds: usize,
    /// `--secs F` (0.1 to 60): seconds measured per run; with `--serve`, how long to serve
    /// (default 10).
    pub secs: f64,
    /// `--peers a,b` (default: every peer), run in alternation.
    pub peers: Vec<P>,
    /// `--serve PEER`: only serve (the bench prints `listening on ADDR`).
    pub serve: Option<P>,
    /// `--client ADDR`: only load a server started elsewhere.
    pub client: Option<SocketAddr>,
    pub own: X,
}

/// One of a bench's own flags, all of which take a value: its name, and what stores the
/// value in the bench's options (`Err` holds the usage printed before exiting).
pub type Flag<X> = (&'static str, fn(&mut X, &str) -> Result<(), String>);

/// What a bench tells the parser: its name, its defaults, its peers and its own flags.
pub struct CommandLine<'a, P, X> {
    /// The prefix of the errors: `NAME bench: …`.
    pub bench: &'static str,
    /// The default of `--secs` when not serving.
    pub secs: f64,
    /// The default of `--peers`.
    pub peers: Vec<P>,
    /// A peer by its name (`--peers`, `--serve`).
    pub peer: fn(&str) -> Option<P>,
    /// The defaults of the bench's own options.
    pub own: X,
    pub flags: &'a [Flag<X>],
}

impl<P, X> CommandLine<'_, P, X> {
    /// Parses this process's arguments; exits with status 2 on a bad one.
    pub fn parse(self) -> Options<P, X> {
        let bench = self.bench;
        self.parse_from(std::env::args().skip(1))
            .unwrap_or_else(|usage| {
                eprintln!("{bench} bench: {usage}");
                std::process::exit(2)
            })
    }

    /// Parses `args` (without the program's name); `Err` holds the usage to print.
    pub fn parse_from(
        self,
        args: impl IntoIterator<Item = String>,
    ) -> Result<Options<P, X>, String> {
        let mut options = Options {
            rounds: 3,
            secs: self.secs,
            peers: self.peers,
            serve: None,
            client: None,
            own: self.own,
        };
        let mut secs_given = false;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let own = self.flags.iter().find(|(name, _)| *name == arg);
            if own.is_none() && !SHARED.contains(&arg.as_str()) {
                continue; // what cargo bench passes, and other benches' flags
            }
            let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
            if let Some((_, store)) = own {
                store(&mut options.own, &value)?;
                continue;
            }
            match arg.as_str() {
                "--rounds" => set(&mut options.rounds, &value, "--rounds N")?,
                "--secs" => {
                    set(&mut options.secs, &value, "--secs F")?;
                    secs_given = true;
                }
                "--peers" => options.peers = list(&value, self.peer, "peer")?,
                "--serve" => {
                    let peer =
                        (self.peer)(&value).ok_or_else(|| format!("unknown peer {value}"))?;
                    options.serve = Some(peer);
                }
                "--client" => {
                    let addr = value.parse().map_err(|_| "--client IP:PORT".to_string())?;
                    options.client = Some(addr);
                }
                _ => {} // not reached: only the names in SHARED get here
            }
        }
        if options.serve.is_some() && !secs_given {
            options.secs = 10.0;
        }
        options.rounds = options.rounds.clamp(1, 20);
        options.secs = options.secs.clamp(0.1, 60.0);
        Ok(options)
    }
}

/// Stores `value` parsed in `field`; `Err(usage)` when it does not parse.
pub fn set<T: FromStr>(field: &mut T, value: &str, usage: &str) -> Result<(), String> {
    *field = value.parse().map_err(|_| usage.to_string())?;
    Ok(())
}

/// A comma-separated list of names, each found by `find`; `Err("unknown WHAT NAME")`.
pub fn list<T>(
    value: &str,
    find: impl Fn(&str) -> Option<T>,
    what: &str,
) -> Result<Vec<T>, String> {
    value
        .split(',')
        .map(|name| find(name).ok_or_else(|| format!("unknown {what} {name}")))
        .collect()
}
