//! The command line (after `cargo bench --bench echo --`); see main.rs for the options. The
//! flags the benches share are `../common/options.rs`'s; `--scenarios` is this bench's.

use crate::options::{self, CommandLine};
use crate::scenarios::{SCENARIOS, Scenario};
use crate::servers::Peer;

/// This bench's own option: `--scenarios a,b` (default all).
pub struct Own {
    pub scenarios: Vec<Scenario>,
}

pub type Options = options::Options<Peer, Own>;

pub fn parse_options() -> Options {
    CommandLine {
        bench: "echo",
        secs: 1.0,
        peers: Peer::all(),
        peer: Peer::parse,
        own: Own {
            scenarios: SCENARIOS.to_vec(),
        },
        flags: &[("--scenarios", |own, value| {
            own.scenarios = options::list(value, scenario, "scenario")?;
            Ok(())
        })],
    }
    .parse()
}

fn scenario(name: &str) -> Option<Scenario> {
    SCENARIOS.iter().copied().find(|sc| sc.name == name)
}
