//! The command line (after `cargo bench --bench echo --`); see main.rs for the options.

use std::net::SocketAddr;

use crate::scenarios::{SCENARIOS, Scenario};
use crate::servers::Peer;

pub struct Options {
    pub rounds: usize,
    pub secs: f64,
    pub peers: Vec<Peer>,
    pub scenarios: Vec<Scenario>,
    pub serve: Option<Peer>,
    pub client: Option<SocketAddr>,
}

pub fn parse_options() -> Options {
    let mut options = Options {
        rounds: 3,
        secs: 1.0,
        peers: Peer::all(),
        scenarios: SCENARIOS.to_vec(),
        serve: None,
        client: None,
    };
    let mut secs_given = false;
    let mut args = std::env::args().skip(1);
    let die = |what: &str| -> ! {
        eprintln!("echo bench: {what}");
        std::process::exit(2)
    };
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| die(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--rounds" => options.rounds = value().parse().unwrap_or_else(|_| die("--rounds N")),
            "--secs" => {
                options.secs = value().parse().unwrap_or_else(|_| die("--secs F"));
                secs_given = true;
            }
            "--peers" => {
                options.peers = value()
                    .split(',')
                    .map(|name| {
                        Peer::parse(name).unwrap_or_else(|| die(&format!("unknown peer {name}")))
                    })
                    .collect();
            }
            "--scenarios" => {
                options.scenarios = value()
                    .split(',')
                    .map(|name| {
                        SCENARIOS
                            .iter()
                            .copied()
                            .find(|sc| sc.name == name)
                            .unwrap_or_else(|| die(&format!("unknown scenario {name}")))
                    })
                    .collect();
            }
            "--serve" => {
                let name = value();
                options.serve = Some(
                    Peer::parse(&name).unwrap_or_else(|| die(&format!("unknown peer {name}"))),
                );
            }
            "--client" => {
                options.client = Some(value().parse().unwrap_or_else(|_| die("--client IP:PORT")))
            }
            // What cargo bench passes, and filters: ignored.
            _ => {}
        }
    }
    if options.serve.is_some() && !secs_given {
        options.secs = 10.0;
    }
    options.secs = options.secs.clamp(0.1, 60.0);
    options.rounds = options.rounds.clamp(1, 20);
    options
}
