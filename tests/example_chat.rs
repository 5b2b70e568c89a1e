//! `examples/chat_server.rs` driven over real sockets on every backend: the seeds' chat room
//! protocol, input byte by byte and coalesced, disconnects, and over-long lines.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use ioloop::selector::SelectorKind;

use common::example::Server;
use common::kinds::per_kind;
use common::net::expect_eof;

/// One chat user: the connection and a line reader over it.
struct User {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl User {
    /// Connects and reads the greeting.
    fn join(server: &Server) -> User {
        let stream = server.connect();
        let reader = BufReader::new(stream.try_clone().unwrap());
        let mut user = User { stream, reader };
        assert_eq!(user.line(), "Connect Success");
        user
    }

    fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).unwrap();
    }

    /// The next line, without its `\n` (every server line ends in one).
    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .expect("a line within the timeout");
        assert!(n > 0, "the server closed the connection");
        assert!(line.ends_with('\n'), "a line without its newline: {line:?}");
        line.pop();
        line
    }

    fn lines(&mut self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.line()).collect()
    }

    /// Logs in and checks the answer and the announcement.
    fn login(server: &Server, name: &str) -> User {
        let mut user = User::join(server);
        user.send(&format!("login {name}\n"));
        assert_eq!(
            user.lines(2),
            [
                "login success".to_string(),
                format!("{name} has entered the room.")
            ]
        );
        user
    }

    fn expect_eof(mut self) {
        let mut rest = String::new();
        let n = self
            .reader
            .read_line(&mut rest)
            .expect("end of file within the timeout");
        assert_eq!(n, 0, "expected end of file, got {rest:?}");
        expect_eof(&self.stream);
    }
}

fn login_say_look_and_unknown_commands_follow_the_protocol(kind: SelectorKind) {
    let server = Server::start("chat_server", kind, &[]);
    let mut alice = User::join(&server);
    alice.send("login \r\n");
    assert_eq!(alice.line(), "Username empty");
    alice.send("say too early\n");
    assert_eq!(alice.line(), "Unknown command: say");
    alice.send("login alice\r\n");
    assert_eq!(
        alice.lines(2),
        ["login success", "alice has entered the room."]
    );

    let mut bob = User::join(&server);
    bob.send("login alice\n");
    assert_eq!(bob.line(), "Username exists");
    bob.send("login bob\n");
    assert_eq!(bob.lines(2), ["login success", "bob has entered the room."]);
    assert_eq!(alice.line(), "bob has entered the room.");

    bob.send("say hello, room\n");
    assert_eq!(bob.line(), "bob:hello, room");
    assert_eq!(alice.line(), "bob:hello, room");

    alice.send("look\n");
    assert_eq!(alice.lines(3), ["Online Users:", "alice", "bob"]);

    bob.send("\ndance wildly\n");
    assert_eq!(
        bob.line(),
        "Unknown command: dance",
        "an empty line gets no answer"
    );
    server.stop();
}

fn input_byte_by_byte_and_coalesced_gives_the_same_answers(kind: SelectorKind) {
    let server = Server::start("chat_server", kind, &[]);
    let mut carol = User::join(&server);
    for byte in "login carol\r\n".bytes() {
        carol.stream.write_all(&[byte]).unwrap();
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(
        carol.lines(2),
        ["login success", "carol has entered the room."]
    );

    let mut dave = User::join(&server);
    dave.send("login dave\nsay hi\nlook\nlogin again\n");
    assert_eq!(
        dave.lines(7),
        [
            "login success",
            "dave has entered the room.",
            "dave:hi",
            "Online Users:",
            "carol",
            "dave",
            "Unknown command: login",
        ]
    );
    assert_eq!(carol.lines(2), ["dave has entered the room.", "dave:hi"]);
    server.stop();
}

fn logout_and_abrupt_disconnect_announce_the_leave_and_free_the_name(kind: SelectorKind) {
    let server = Server::start("chat_server", kind, &[]);
    let mut alice = User::login(&server, "alice");
    let bob = User::login(&server, "bob");
    assert_eq!(alice.line(), "bob has entered the room.");

    drop(bob); // no logout: the connection just goes away
    assert_eq!(alice.line(), "bob has left the room.");
    let mut bob_again = User::login(&server, "bob");
    assert_eq!(alice.line(), "bob has entered the room.");

    bob_again.send("logout\n");
    bob_again.expect_eof();
    assert_eq!(alice.line(), "bob has left the room.");
    alice.send("look\n");
    assert_eq!(alice.lines(2), ["Online Users:", "alice"]);
    server.stop();
}

fn an_over_long_line_closes_that_session_only(kind: SelectorKind) {
    let server = Server::start("chat_server", kind, &["--max-line", "1024"]);
    let mut alice = User::login(&server, "alice");
    let mut mallory = User::login(&server, "mallory");
    assert_eq!(alice.line(), "mallory has entered the room.");

    // 64 KiB with no newline: far over the 1 KiB maximum.
    let flood = vec![b'x'; 64 * 1024];
    let _ = mallory.stream.write_all(&flood); // the server may close before it is all sent
    assert_eq!(alice.line(), "mallory has left the room.");
    let mut rest = String::new();
    match mallory.reader.read_line(&mut rest) {
        Ok(0) | Err(_) => {} // end of file, or a reset because unread input was discarded
        Ok(_) => panic!("the flooding session got a line: {rest:?}"),
    }

    alice.send("say still here\n");
    assert_eq!(alice.line(), "alice:still here");
    server.stop();
}

per_kind! {
    login_say_look_and_unknown_commands_follow_the_protocol,
    input_byte_by_byte_and_coalesced_gives_the_same_answers,
    logout_and_abrupt_disconnect_announce_the_leave_and_free_the_name,
    an_over_long_line_closes_that_session_only,
}
