//! The benches' shared command line (`benches/common/options.rs`): defaults, the shared
//! flags, a bench's own flags, what is ignored, and the usage a bad value gives.

#[allow(dead_code)] // `CommandLine::parse`, which reads this process's arguments, is the benches'
#[path = "../common/options.rs"]
mod options;

use options::{CommandLine, Options};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    A,
    B,
}

fn peer(name: &str) -> Option<Peer> {
    match name {
        "a" => Some(Peer::A),
        "b" => Some(Peer::B),
        _ => None,
    }
}

#[derive(Debug, PartialEq)]
struct Own {
    members: usize,
    words: Vec<String>,
}

fn parse(args: &[&str]) -> Result<Options<Peer, Own>, String> {
    CommandLine {
        bench: "test",
        secs: 2.0,
        peers: vec![Peer::A, Peer::B],
        peer,
        own: Own {
            members: 100,
            words: Vec::new(),
        },
        flags: &[
            ("--members", |own, value| {
                options::set(&mut own.members, value, "--members M")
            }),
            ("--words", |own, value| {
                own.words = options::list(value, |w| Some(w.to_string()), "word")?;
                Ok(())
            }),
        ],
    }
    .parse_from(args.iter().map(|arg| arg.to_string()))
}

#[test]
fn defaults_when_nothing_is_given() {
    let o = parse(&[]).unwrap();
    assert_eq!((o.rounds, o.secs), (3, 2.0));
    assert_eq!(o.peers, [Peer::A, Peer::B]);
    assert_eq!((o.serve, o.client), (None, None));
    assert_eq!(o.own.members, 100);
}

#[test]
fn shared_and_own_flags_are_read() {
    let o = parse(&[
        "--rounds",
        "5",
        "--secs",
        "0.5",
        "--peers",
        "b",
        "--members",
        "7",
        "--words",
        "x,y",
        "--client",
        "127.0.0.1:9",
    ])
    .unwrap();
    assert_eq!((o.rounds, o.secs), (5, 0.5));
    assert_eq!(o.peers, [Peer::B]);
    assert_eq!(o.client, Some("127.0.0.1:9".parse().unwrap()));
    assert_eq!(
        o.own,
        Own {
            members: 7,
            words: vec!["x".into(), "y".into()]
        }
    );
}

#[test]
fn serving_lasts_ten_seconds_unless_secs_is_given() {
    let o = parse(&["--serve", "a"]).unwrap();
    assert_eq!((o.serve, o.secs), (Some(Peer::A), 10.0));
    let o = parse(&["--secs", "3", "--serve", "b"]).unwrap();
    assert_eq!((o.serve, o.secs), (Some(Peer::B), 3.0));
}

#[test]
fn rounds_and_secs_are_clamped() {
    let o = parse(&["--rounds", "0", "--secs", "1000"]).unwrap();
    assert_eq!((o.rounds, o.secs), (1, 60.0));
    let o = parse(&["--rounds", "99", "--secs", "0"]).unwrap();
    assert_eq!((o.rounds, o.secs), (20, 0.1));
}

#[test]
fn unknown_flags_are_skipped_without_their_values() {
    // cargo bench passes `--bench`; the scripts pass `--scenarios any` to every bench. An
    // unknown flag takes no value, so a known flag after it is still read.
    let o = parse(&[
        "--bench",
        "--rounds",
        "4",
        "--scenarios",
        "any",
        "--framing",
        "line",
    ])
    .unwrap();
    assert_eq!(o.rounds, 4);
}

#[test]
fn bad_values_give_the_usage() {
    let usage = |args: &[&str]| parse(args).err();
    assert_eq!(usage(&["--rounds", "x"]).as_deref(), Some("--rounds N"));
    assert_eq!(usage(&["--secs", "x"]).as_deref(), Some("--secs F"));
    assert_eq!(
        usage(&["--peers", "a,c"]).as_deref(),
        Some("unknown peer c")
    );
    assert_eq!(usage(&["--serve", "c"]).as_deref(), Some("unknown peer c"));
    assert_eq!(
        usage(&["--client", "nowhere"]).as_deref(),
        Some("--client IP:PORT")
    );
    assert_eq!(usage(&["--members", "-1"]).as_deref(), Some("--members M"));
    assert_eq!(
        usage(&["--rounds"]).as_deref(),
        Some("--rounds needs a value")
    );
    assert_eq!(
        usage(&["--members"]).as_deref(),
        Some("--members needs a value")
    );
}
