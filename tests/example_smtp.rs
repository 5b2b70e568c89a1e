//! The `smtp_server` example (a port of CPython 3.11's `smtpd`), once per selector backend:
//!
//! - differential: scripted SMTP dialogues sent both to the port and to CPython's own
//!   `python3.11 -m smtpd -n -c DebuggingServer`, every reply line compared, and the
//!   messages both print; where smtpd has a bug the port does not copy, the step says which
//!   (the example's docs list them) and checks each side's own behaviour;
//! - real clients: Python's `smtplib` and `swaks` deliver to the port's `--maildir`, and
//!   every message arrives byte for byte.
//!
//! Where no `python3.11` with `smtpd` (or no `swaks`) is found, as under Wine, those tests
//! print why and pass; what needs only the port runs everywhere.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;

use common::example::{IO_TIMEOUT, example_binary};
use common::kinds::per_kind;
use common::net::{expect_silence, is_reset, send};

/// The data limit both servers run with in the dialogues (small, to test it cheaply).
const DATA_LIMIT: usize = 1000;
/// How long a server bugged into silence is listened to before it counts as silent.
const SILENCE: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------------------
// The servers

/// The `python3.11` to compare with and to run smtplib, if it has `smtpd` (never on
/// Windows: the tests run there under Wine).
fn python311() -> Option<&'static str> {
    if cfg!(windows) {
        return None;
    }
    let works = Command::new("python3.11")
        .args(["-W", "ignore", "-c", "import smtpd, smtplib"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    works.then_some("python3.11")
}

fn have_swaks() -> bool {
    !cfg!(windows)
        && Command::new("swaks")
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
}

/// smtpd's host name: `socket.getfqdn()`, given to the port as `--hostname` so the
/// greetings compare as they are.
fn python_fqdn(python: &str) -> String {
    let output = Command::new(python)
        .args(["-c", "import socket; print(socket.getfqdn())"])
        .output()
        .expect("python3.11 runs");
    String::from_utf8(output.stdout)
        .expect("a UTF-8 host name")
        .trim()
        .to_string()
}

/// A server process: the port or CPython's smtpd. Killed on drop.
struct Process {
    what: String,
    child: Child,
    addr: SocketAddr,
    /// What it prints on stdout (after the `listening on` line for the port).
    stdout: Option<JoinHandle<Vec<String>>>,
}

impl Process {
    /// The port, with `--selector KIND` and `extra` options.
    fn port(kind: SelectorKind, extra: &[&str]) -> Process {
        let binary = example_binary("smtp_server");
        let mut child = Command::new(&binary)
            .args(["--addr", "127.0.0.1:0", "--selector", kind.name()])
            .args(extra)
            // The sessions closed on purpose log a warning each.
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let (first_tx, first_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("the child's stdout");
        let reader = thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first_tx.send(lines.next());
            lines.map_while(Result::ok).collect::<Vec<String>>()
        });
        let line = match first_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Some(Ok(line))) => line,
            other => panic!("smtp_server: no `listening on` line: {other:?}"),
        };
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("smtp_server printed {line:?}"));
        Process {
            what: "smtp_server".into(),
            child,
            addr,
            stdout: Some(reader),
        }
    }

    /// CPython's smtpd as `DebuggingServer` on a free port.
    fn smtpd(python: &str, extra: &[&str]) -> Process {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut child = Command::new(python)
            .args([
                "-W",
                "ignore",
                "-u",
                "-m",
                "smtpd",
                "-n",
                "-c",
                "DebuggingServer",
            ])
            .args(extra)
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting python3.11 -m smtpd");
        let stdout = child.stdout.take().expect("the child's stdout");
        let reader = thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        // Ready once it accepts a connection (its greeting proves it is smtpd).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(stream) = TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
                stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                let mut greeting = [0u8; 4];
                let _ = (&stream).read_exact(&mut greeting);
                assert_eq!(&greeting, b"220 ", "smtpd's greeting");
                break;
            }
            assert!(Instant::now() < deadline, "smtpd did not start listening");
            thread::sleep(Duration::from_millis(50));
        }
        Process {
            what: "smtpd".into(),
            child,
            addr,
            stdout: Some(reader),
        }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.what));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// Stops the process (the port: SIGTERM, and it must exit with 0) and returns what it
    /// printed.
    fn stop(mut self) -> Vec<String> {
        if self.what == "smtp_server" {
            #[cfg(unix)]
            {
                use rustix::process::{Pid, Signal, kill_process};
                kill_process(Pid::from_child(&self.child), Signal::TERM).expect("SIGTERM");
                let status = common::example::wait_within(
                    &mut self.child,
                    "smtp_server",
                    Duration::from_secs(10),
                );
                assert!(status.success(), "smtp_server exited with {status}");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdout
            .take()
            .map(|reader| reader.join().expect("the stdout reader"))
            .unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Dialogues

/// One step of a dialogue.
enum Step {
    /// Send these bytes in one write, then read this many replies (a multi-line reply
    /// counts once).
    Send(&'static [u8], usize),
    /// Send the bytes one write per byte, then read this many replies.
    Bytewise(&'static [u8], usize),
    /// Send owned bytes (built by the test), then read this many replies.
    SendOwned(Vec<u8>, usize),
    /// Expect the server to close the connection now, with nothing more said.
    Closed,
    /// A step where smtpd has a bug the port fixes (named in the example's docs): the port
    /// answers with this many replies, smtpd says nothing; the dialogue ends there.
    SmtpdBug {
        send: &'static [u8],
        port_replies: usize,
        reason: &'static str,
        /// The port delivers an (empty) message there, which smtpd never prints.
        port_prints: bool,
    },
}

struct Dialogue {
    name: &'static str,
    smtputf8: bool,
    steps: Vec<Step>,
}

fn dialogue(name: &'static str, steps: Vec<Step>) -> Dialogue {
    Dialogue {
        name,
        smtputf8: false,
        steps,
    }
}

fn utf8_dialogue(name: &'static str, steps: Vec<Step>) -> Dialogue {
    Dialogue {
        name,
        smtputf8: true,
        steps,
    }
}

fn long_line(prefix: &str, len: usize) -> Vec<u8> {
    let mut line = prefix.as_bytes().to_vec();
    line.resize(len, b'x');
    line.extend_from_slice(b"\r\n");
    line
}

/// A `MAIL FROM:<…@b>` line of exactly `len` bytes (before its `\r\n`).
fn mail_line(len: usize) -> Vec<u8> {
    let head = "MAIL FROM:<";
    let tail = b"@b>";
    let mut line = head.as_bytes().to_vec();
    line.resize(len - tail.len(), b'm');
    line.extend_from_slice(tail);
    line.extend_from_slice(b"\r\n");
    line
}

/// `len` bytes of message data in lines of 78, ended by `\r\n.\r\n`.
fn data_of(len: usize) -> Vec<u8> {
    let mut data = Vec::new();
    while data.len() < len {
        if data.len() % 80 == 78 && len - data.len() > 2 {
            data.extend_from_slice(b"\r\n");
        } else {
            data.push(b'a' + (data.len() % 26) as u8);
        }
    }
    data.truncate(len);
    data.extend_from_slice(b"\r\n.\r\n");
    data
}

fn dialogues() -> Vec<Dialogue> {
    use Step::*;
    const TRANSACTION: &[u8] = b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n";
    vec![
        dialogue(
            "normal mail",
            vec![
                Send(b"EHLO client.example\r\n", 1),
                Send(b"MAIL FROM:<alice@example.org> SIZE=120 BODY=8BITMIME\r\n", 1),
                Send(b"RCPT TO:<bob@example.org>\r\n", 1),
                Send(b"RCPT TO:carol@example.org\r\n", 1),
                Send(b"DATA\r\n", 1),
                Send(
                    b"From: alice@example.org\r\nSubject: hello\r\n\r\nHi Bob,\r\n\r\nbye\r\n.\r\n",
                    1,
                ),
                Send(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n", 2),
                Send(b"DATA\r\nno headers here\r\n.\r\n", 2),
                Send(b"QUIT\r\n", 1),
                Closed,
            ],
        ),
        dialogue(
            "helo and the small commands",
            vec![
                Send(b"HELO\r\n", 1),
                Send(b"HELO client.example\r\n", 1),
                Send(b"HELO again\r\nEHLO again\r\n", 2),
                Send(b"HELP\r\nHELP mail\r\nHELP RCPT\r\nHELP data\r\nHELP foo\r\n", 5),
                Send(b"HELP EHLO\r\nHELP HELO\r\nHELP RSET\r\nHELP NOOP\r\nHELP QUIT\r\nHELP VRFY\r\n", 6),
                Send(b"VRFY\r\nVRFY someone@example.org\r\nVRFY <x@y>\r\n", 3),
                Send(b"EXPN list\r\nEXPN\r\nNOOP\r\nNOOP x\r\nRSET\r\nRSET x\r\n", 6),
                Send(b"foo bar\r\n\r\n noop\r\nnoop\r\nQuit now\r\n", 5),
                Closed,
            ],
        ),
        dialogue(
            "ehlo and help after it",
            vec![
                Send(b"EHLO\r\n", 1),
                Send(b"EHLO client.example\r\n", 1),
                Send(b"HELP MAIL\r\nHELP RCPT\r\nEHLO again\r\nHELO again\r\n", 4),
            ],
        ),
        dialogue(
            "pipelined",
            vec![
                Send(
                    b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\nSubject: piped\r\n\r\nline\r\n.\r\nNOOP\r\nMAIL FROM:<x@y>\r\nRSET\r\nQUIT\r\n",
                    10,
                ),
                Closed,
            ],
        ),
        dialogue(
            "byte by byte",
            vec![
                Bytewise(b"EHLO c\r\nMAIL FROM:<a@b> SIZE=30\r\nRCPT TO:<c@d>\r\n", 3),
                Bytewise(b"DATA\r\nSubject: slow\r\n\r\n..dot\r\n.\r\n", 2),
                Bytewise(b"QUIT\r\n", 1),
                Closed,
            ],
        ),
        dialogue(
            "over-long commands",
            vec![
                SendOwned(long_line("NOOP ", 512), 1),
                SendOwned(long_line("NOOP ", 513), 1),
                Send(b"HELO c\r\n", 1),
                SendOwned(mail_line(512), 1),
                Send(b"RSET\r\n", 1),
                SendOwned(mail_line(513), 1),
                SendOwned(long_line("FOO ", 100_000), 1),
                Send(b"NOOP\r\n", 1),
            ],
        ),
        dialogue(
            "over-long commands after EHLO",
            vec![
                Send(b"EHLO c\r\n", 1),
                SendOwned(mail_line(538), 1),
                Send(b"RSET\r\n", 1),
                SendOwned(mail_line(539), 1),
                SendOwned(long_line("RCPT TO:<", 520), 1),
                SendOwned(long_line("NOOP ", 512), 1),
                SendOwned(long_line("NOOP ", 513), 1),
                SendOwned([long_line("NOOP ", 5000), b"NOOP\r\n".to_vec()].concat(), 2),
            ],
        ),
        utf8_dialogue(
            "over-long commands after EHLO with SMTPUTF8",
            vec![
                Send(b"EHLO c\r\n", 1),
                SendOwned(mail_line(548), 1),
                Send(b"RSET\r\n", 1),
                SendOwned(mail_line(549), 1),
            ],
        ),
        dialogue(
            "data at the limit",
            vec![
                Send(b"EHLO c\r\n", 1),
                Send(TRANSACTION, 3),
                SendOwned(data_of(DATA_LIMIT), 1),
                Send(b"MAIL FROM:<a@b> SIZE=1000\r\nRSET\r\n", 2),
            ],
        ),
        dialogue(
            "over-size data with SIZE=",
            vec![
                Send(b"EHLO c\r\n", 1),
                Send(b"MAIL FROM:<a@b> SIZE=1001\r\n", 1),
                Send(b"MAIL FROM:<a@b> SIZE=99999999999999999999999999\r\n", 1),
                Send(b"MAIL FROM:<a@b> SIZE=1000\r\nRCPT TO:<c@d>\r\nDATA\r\n", 3),
                SendOwned(data_of(DATA_LIMIT + 1), 1),
                SmtpdBug {
                    send: b"RSET\r\n",
                    port_replies: 1,
                    reason: "after 552 Too much mail data smtpd stays in the data state",
                    port_prints: false,
                },
            ],
        ),
        dialogue(
            "over-size data without SIZE=",
            vec![
                Send(b"HELO c\r\n", 1),
                Send(TRANSACTION, 3),
                SendOwned(data_of(50 * DATA_LIMIT), 1),
                SmtpdBug {
                    send: b"NOOP\r\n",
                    port_replies: 1,
                    reason: "after 552 Too much mail data smtpd stays in the data state",
                    port_prints: false,
                },
            ],
        ),
        dialogue(
            "bad syntax",
            vec![
                Send(b"EHLO c\r\n", 1),
                Send(b"MAIL\r\nMAIL FROM\r\nMAIL FROM:\r\nMAIL TO:<a@b>\r\nMAIL <a@b>\r\n", 5),
                Send(b"MAIL FROM:<a@b> x=\r\nMAIL FROM:<a@b> =1\r\nMAIL FROM:<a@b> X-Y=1\r\n", 3),
                Send(b"MAIL FROM:<a@b> BODY=7BITS\r\nMAIL FROM:<a@b> BODY\r\nMAIL FROM:<a@b> SIZE=1k\r\n", 3),
                Send(b"MAIL FROM:<a@b> SMTPUTF8\r\nMAIL FROM:<a@b> FOO=BAR\r\nMAIL FROM:<a@b> SIZE=1 SIZE=x\r\n", 3),
                Send(b"mail from:<a@b> body=8bitmime size=10\r\n", 1),
                Send(b"RCPT\r\nRCPT TO\r\nRCPT TO:\r\nRCPT FROM:<c@d>\r\nRCPT TO:<c@d> NOTIFY=NEVER\r\nRCPT TO:<c@d> a=\r\n", 6),
                Send(b"MAIL FROM:<> \r\nMAIL FROM:a@b\r\nRCPT TO:<postmaster>\r\nRCPT TO:<a@[127.0.0.1]>\r\n", 4),
                Send(b"RCPT TO:<@route,@other:c@d>\r\nRCPT TO: <c@d> \r\nRCPT TO:<\"quoted user\"@d>\r\nRCPT TO:<c(comment)@d>\r\n", 4),
                Send(b"DATA now\r\n", 1),
            ],
        ),
        dialogue(
            "parameters after HELO",
            vec![
                Send(b"HELO c\r\n", 1),
                Send(b"MAIL FROM:<a@b> SIZE=10\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d> X=1\r\nRCPT TO:<c@d>\r\n", 4),
                Send(b"HELP MAIL\r\n", 1),
            ],
        ),
        dialogue(
            "an address the parser cannot read",
            vec![Send(b"HELO c\r\nNOOP\r\n", 2), Send(b"MAIL FROM:<@b>\r\n", 0), Closed],
        ),
        dialogue(
            "SIZE without a value",
            vec![Send(b"EHLO c\r\n", 1), Send(b"MAIL FROM:<a@b> SIZE\r\n", 0), Closed],
        ),
        dialogue(
            "wrong order",
            vec![
                Send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", 3),
                Send(b"HELO c\r\nRCPT TO:<c@d>\r\nDATA\r\n", 3),
                Send(b"MAIL FROM:<a@b>\r\nDATA\r\nMAIL FROM:<x@y>\r\nMAIL FROM:bad@\r\n", 3),
                Closed,
            ],
        ),
        dialogue(
            "nested MAIL with bad syntax",
            vec![
                Send(b"HELO c\r\nMAIL FROM:<a@b>\r\nMAIL FROM:<x@y>\r\nMAIL FROM:\r\nMAIL FROM:<c@d> SIZE=1\r\n", 5),
            ],
        ),
        dialogue(
            "RSET mid-transaction",
            vec![
                Send(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", 3),
                Send(b"RSET\r\nRCPT TO:<c@d>\r\nDATA\r\n", 3),
                Send(b"MAIL FROM:<a@b>\r\nRSET\r\nDATA\r\n", 3),
                Send(b"MAIL FROM:<e@f>\r\nRCPT TO:<g@h>\r\nDATA\r\nSubject: after RSET\r\n\r\nok\r\n.\r\n", 4),
                Send(b"EHLO again\r\n", 1),
            ],
        ),
        dialogue(
            "dot-stuffed lines",
            vec![
                Send(b"HELO c\r\n", 1),
                Send(TRANSACTION, 3),
                Send(
                    b"Subject: dots\r\n\r\n..\r\n...\r\n..leading\r\n.single\r\n. \r\nend.\r\n.\r\n",
                    1,
                ),
                Send(TRANSACTION, 3),
                Send(b"\r\n.\r\n", 1),
                Send(TRANSACTION, 3),
                Send(b"a\rb\nc\r\n\r\n\r\n.\r\nNOOP\r\n", 2),
            ],
        ),
        dialogue(
            "a bare . line ends the data",
            vec![
                Send(b"HELO c\r\n", 1),
                Send(TRANSACTION, 3),
                Send(b"first\r\n.\r\nNOOP\r\n", 2),
                Send(TRANSACTION, 3),
                SmtpdBug {
                    send: b".\r\n",
                    port_replies: 1,
                    reason: "smtpd never ends an empty message: DATA's \\r\\n is not part of its \\r\\n.\\r\\n",
                    port_prints: true,
                },
            ],
        ),
        dialogue(
            "8-bit addresses without SMTPUTF8",
            vec![
                Send(b"EHLO c\r\n", 1),
                Send("MAIL FROM:<jos\u{e9}@example.org>\r\n".as_bytes(), 1),
                Send("RCPT TO:<\u{fc}ber@example.org>\r\n".as_bytes(), 1),
                Send(b"RSET\r\nMAIL FROM:<a@b> SMTPUTF8\r\nHELP\r\n", 3),
                Send("VRFY jos\u{e9}\r\n".as_bytes(), 0),
                Closed,
            ],
        ),
        dialogue(
            "a command that is not UTF-8",
            vec![Send(b"EHLO c\r\nNOOP\r\n", 2), Send(b"MAIL FROM:<jos\xe9@b>\r\nNOOP\r\n", 0), Closed],
        ),
        dialogue(
            "an unknown non-ASCII command",
            vec![Send("HELO c\r\nNOOP\r\n\u{c9}T\u{c9}\r\n".as_bytes(), 2), Closed],
        ),
        utf8_dialogue(
            "UTF-8 addresses with SMTPUTF8",
            vec![
                Send(b"EHLO c\r\n", 1),
                Send("MAIL FROM:<jos\u{e9}@\u{e9}xample.org> SMTPUTF8 BODY=8BITMIME\r\n".as_bytes(), 1),
                Send("RCPT TO:<\u{fc}ber@example.org>\r\nVRFY jos\u{e9}\r\n\u{c9}T\u{c9}\r\n".as_bytes(), 3),
                Send("DATA\r\nSubject: caf\u{e9}\r\n\r\nna\u{ef}ve\r\n.\r\n".as_bytes(), 2),
                Send(b"MAIL FROM:<a@b> SMTPUTF8=yes\r\nMAIL FROM:<a@b> SMTPUTF8\r\nRSET\r\n", 3),
                Send("VRFY \u{e9}\r\n".as_bytes(), 1),
                Send("\u{c9}T\u{c9}\r\n".as_bytes(), 0),
                Closed,
            ],
        ),
        dialogue(
            "QUIT with data still queued",
            vec![
                Send(b"HELO c\r\nNOOP\r\nQUIT\r\nNOOP\r\nMAIL FROM:<a@b>\r\n", 3),
                Closed,
            ],
        ),
        dialogue(
            "QUIT with an argument in a transaction",
            vec![
                Send(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nQUIT now please\r\n", 4),
                Closed,
            ],
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// Running a dialogue

/// Reads `count` replies (each up to its `NNN ` line) as lines without their `\r\n`; a close
/// or reset on the way is recorded as `<closed>`.
fn read_replies(stream: &TcpStream, count: usize, transcript: &mut Vec<String>) {
    let mut reader = BufReader::new(stream);
    let mut done = 0;
    while done < count {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => {
                transcript.push("<closed>".into());
                return;
            }
            Ok(_) => {}
            Err(e) if is_reset(&e) => {
                transcript.push("<closed>".into());
                return;
            }
            Err(e) => panic!("reading a reply: {e}; so far {transcript:?}"),
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        let text = text.strip_suffix("\r\n").unwrap_or_else(|| {
            panic!("a reply line not ended by \\r\\n: {text:?}");
        });
        if text.as_bytes().get(3) != Some(&b'-') {
            done += 1;
        }
        transcript.push(text.to_string());
    }
    assert!(
        reader.buffer().is_empty(),
        "more replies than expected: {transcript:?} then {:?}",
        String::from_utf8_lossy(reader.buffer())
    );
}

/// Waits for the server to close: `<closed>`, or `<open>` if it is still open after a
/// read timeout, or the extra bytes it sent.
fn read_close(stream: &TcpStream, transcript: &mut Vec<String>) {
    let mut buf = [0u8; 4096];
    let mut reader = stream;
    match reader.read(&mut buf) {
        Ok(0) => transcript.push("<closed>".into()),
        Ok(n) => transcript.push(format!("<more: {:?}>", String::from_utf8_lossy(&buf[..n]))),
        Err(e) if is_reset(&e) => transcript.push("<closed>".into()),
        Err(e) => transcript.push(format!("<open: {e}>")),
    }
}

/// Which server a dialogue runs against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Port,
    Smtpd,
}

/// Runs `dialogue` on a fresh connection; the transcript of what came back.
fn run_dialogue(server: &Process, dialogue: &Dialogue, side: Side) -> Vec<String> {
    let stream = server.connect();
    let mut transcript = Vec::new();
    read_replies(&stream, 1, &mut transcript); // the greeting
    for step in &dialogue.steps {
        match step {
            Step::Send(bytes, replies) => {
                send(&stream, bytes);
                read_replies(&stream, *replies, &mut transcript);
            }
            Step::SendOwned(bytes, replies) => {
                send(&stream, bytes);
                read_replies(&stream, *replies, &mut transcript);
            }
            Step::Bytewise(bytes, replies) => {
                for byte in bytes.iter() {
                    send(&stream, std::slice::from_ref(byte));
                }
                read_replies(&stream, *replies, &mut transcript);
            }
            Step::Closed => read_close(&stream, &mut transcript),
            Step::SmtpdBug {
                send: bytes,
                port_replies,
                reason,
                ..
            } => {
                send(&stream, bytes);
                match side {
                    Side::Port => read_replies(&stream, *port_replies, &mut transcript),
                    Side::Smtpd => {
                        // smtpd's bug: it says nothing.
                        expect_silence(&stream, SILENCE);
                        println!("{}: smtpd's bug, as documented: {reason}", dialogue.name);
                    }
                }
                break;
            }
        }
    }
    transcript
}

/// The messages a server printed: the lines from each `MESSAGE FOLLOWS` to its
/// `END MESSAGE` (smtpd also prints its tracebacks there).
fn printed_messages(stdout: &[String]) -> Vec<String> {
    let mut messages = Vec::new();
    let mut inside = false;
    for line in stdout {
        if line == "---------- MESSAGE FOLLOWS ----------" {
            inside = true;
        }
        if inside {
            messages.push(line.clone());
        }
        if line == "------------ END MESSAGE ------------" {
            inside = false;
        }
    }
    messages
}

/// Every dialogue against the port and against smtpd: the same replies, line for line, and
/// the same messages printed.
fn replies_match_smtpd(kind: SelectorKind) {
    let Some(python) = python311() else {
        println!("note: no python3.11 with smtpd here; the differential test is skipped");
        return;
    };
    let fqdn = python_fqdn(python);
    let limit = DATA_LIMIT.to_string();
    let mut compared = 0;
    let mut lines = 0;
    for smtputf8 in [false, true] {
        let utf8 = if smtputf8 { "on" } else { "off" };
        let port = Process::port(
            kind,
            &[
                "--hostname",
                &fqdn,
                "--data-size-limit",
                &limit,
                "--smtputf8",
                utf8,
            ],
        );
        let mut smtpd_args = vec!["-s", limit.as_str()];
        if smtputf8 {
            smtpd_args.push("-u");
        }
        let smtpd = Process::smtpd(python, &smtpd_args);
        for dialogue in dialogues().iter().filter(|d| d.smtputf8 == smtputf8) {
            let ours = run_dialogue(&port, dialogue, Side::Port);
            let theirs = run_dialogue(&smtpd, dialogue, Side::Smtpd);
            let ours_compared = if dialogue
                .steps
                .iter()
                .any(|step| matches!(step, Step::SmtpdBug { .. }))
            {
                // smtpd's side ends before the bugged step; the port's answers to it are
                // checked below.
                let (shared, extra) = ours.split_at(theirs.len().min(ours.len()));
                assert!(
                    extra.iter().all(|line| line.starts_with("250 ")),
                    "{}: the port's answer where smtpd is bugged: {extra:?}",
                    dialogue.name
                );
                shared.to_vec()
            } else {
                ours.clone()
            };
            assert_eq!(
                ours_compared, theirs,
                "{} (smtputf8 {utf8}): the port's replies (left) differ from smtpd's (right)",
                dialogue.name
            );
            compared += 1;
            lines += theirs.len();
        }
        let mut ours = printed_messages(&port.stop());
        let theirs = printed_messages(&smtpd.stop());
        // The empty messages only the port ended: the last empty ones it printed (the
        // bugged steps end their dialogues, after any other empty message).
        let port_only = dialogues()
            .iter()
            .filter(|d| d.smtputf8 == smtputf8)
            .flat_map(|d| &d.steps)
            .filter(|step| {
                matches!(
                    step,
                    Step::SmtpdBug {
                        port_prints: true,
                        ..
                    }
                )
            })
            .count();
        for _ in 0..port_only {
            let at = ours
                .windows(2)
                .rposition(|pair| {
                    pair[0].contains("MESSAGE FOLLOWS") && pair[1].contains("END MESSAGE")
                })
                .expect("the empty message only the port ended");
            ours.drain(at..at + 2);
        }
        assert!(!theirs.is_empty(), "smtpd printed no message");
        assert_eq!(ours, theirs, "the messages printed (smtputf8 {utf8})");
    }
    println!("{compared} dialogues, {lines} reply lines: the same as smtpd's");
}

/// What needs no Python: the port's own answers to the dialogues where smtpd is bugged,
/// and the greeting (so it runs under Wine too).
fn port_fixes_smtpds_bugs(kind: SelectorKind) {
    let limit = DATA_LIMIT.to_string();
    let port = Process::port(
        kind,
        &["--hostname", "mx.example", "--data-size-limit", &limit],
    );
    let stream = port.connect();
    let mut transcript = Vec::new();
    read_replies(&stream, 1, &mut transcript);
    assert_eq!(transcript, ["220 mx.example Python SMTP proxy version 0.3"]);
    let mut replies = Vec::new();
    send(
        &stream,
        b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n.\r\nNOOP\r\n",
    );
    read_replies(&stream, 6, &mut replies);
    assert_eq!(
        replies,
        [
            "250 mx.example",
            "250 OK",
            "250 OK",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 OK",
            "250 OK"
        ],
        "an empty message"
    );
    replies.clear();
    send(&stream, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
    send(&stream, &data_of(DATA_LIMIT + 1));
    send(&stream, b"RCPT TO:<c@d>\r\nQUIT\r\n");
    read_replies(&stream, 6, &mut replies);
    assert_eq!(
        replies,
        [
            "250 OK",
            "250 OK",
            "354 End data with <CR><LF>.<CR><LF>",
            "552 Error: Too much mail data",
            "503 Error: need MAIL command",
            "221 Bye"
        ],
        "after too much data the transaction is over"
    );
    let printed = port.stop();
    assert_eq!(
        printed,
        [
            "---------- MESSAGE FOLLOWS ----------",
            "------------ END MESSAGE ------------"
        ],
        "the empty message, printed"
    );
}

// ---------------------------------------------------------------------------------------
// Real clients

/// A fresh directory under the target directory.
fn scratch_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .expect("the test binary's directory")
        .join("example_smtp")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// The Maildir's messages, by their file names (delivery order: the names start with the
/// time and end with a counter).
fn maildir_messages(maildir: &Path) -> Vec<Vec<u8>> {
    assert!(
        std::fs::read_dir(maildir.join("tmp"))
            .unwrap()
            .next()
            .is_none(),
        "a message left in tmp/"
    );
    let mut names: Vec<PathBuf> = std::fs::read_dir(maildir.join("new"))
        .expect("the Maildir's new/")
        .map(|entry| entry.unwrap().path())
        .collect();
    names.sort_by_key(|path| {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let counter: u64 = name
            .split_once('Q')
            .and_then(|(_, rest)| rest.split('.').next())
            .and_then(|n| n.parse().ok())
            .expect("a Maildir name with a Q counter");
        counter
    });
    names
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

/// A message file: the envelope lines the port writes, then `body` (which ends in `\n`).
fn maildir_file(from: &str, to: &[&str], body: &[u8]) -> Vec<u8> {
    let mut file = format!(
        "X-Peer: 127.0.0.1\nX-MailFrom: {from}\nX-RcptTo: {}\n",
        to.join(", ")
    )
    .into_bytes();
    file.extend_from_slice(body);
    file
}

/// A large message with `\n` line ends: headers, then lines of every printable byte and of
/// 8-bit bytes, lines starting with dots, and empty lines.
fn large_message(len: usize) -> Vec<u8> {
    let mut message = b"From: a@example.org\nTo: b@example.org\nSubject: large\n\n".to_vec();
    let mut n = 0u32;
    while message.len() < len {
        n += 1;
        match n % 7 {
            0 => message.extend_from_slice(b".starts with a dot\n"),
            1 => message.extend_from_slice(b"..two dots\n"),
            2 => message.push(b'\n'),
            3 => message.extend((0x80u8..=0xff).chain([b'\n'])),
            _ => message.extend((0x20u8..0x7f).chain([b'\n'])),
        }
    }
    message
}

const SMTPLIB_SCRIPT: &str = r#"
import smtplib, sys
from email.message import EmailMessage
port, limit, large_path, small_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
# On the wire, lines end in CRLF (smtplib sends bytes as they are).
large = open(large_path, 'rb').read().replace(b'\n', b'\r\n')
small = open(small_path, 'rb').read().replace(b'\n', b'\r\n')
with smtplib.SMTP('127.0.0.1', port, timeout=30) as s:
    msg = EmailMessage()
    msg['From'] = 'alice@example.org'
    msg['To'] = 'bob@example.org, carol@example.org'
    msg['Cc'] = 'dave@example.org'
    msg['Bcc'] = 'eve@example.org'
    msg['Subject'] = 'several recipients'
    msg.set_content('Hello all,\n.a line with a dot\n\nbye\n')
    print('refused:', s.send_message(msg))
    print('large:', s.sendmail('a@example.org', ['b@example.org'], large))
    try:
        s.sendmail('a@example.org', ['b@example.org'], b'x' * (limit + 1))
        print('no SMTPSenderRefused')
    except smtplib.SMTPSenderRefused as e:
        print('SMTPSenderRefused', e.smtp_code, e.smtp_error.decode())
    del s.esmtp_features['size']  # no SIZE=: the data itself goes over the limit
    try:
        s.sendmail('a@example.org', ['b@example.org'], b'y' * 80 + b'\r\n' + b'z' * limit)
        print('no SMTPDataError')
    except smtplib.SMTPDataError as e:
        print('SMTPDataError', e.smtp_code, e.smtp_error.decode())
    print('small:', s.sendmail('c@example.org', ['d@example.org', 'e@example.org'], small))
"#;

/// smtplib against the port: `send_message` to several recipients, a 10 MB message, a
/// message refused by its `SIZE=` (`SMTPSenderRefused`) and one refused after its data
/// (`SMTPDataError`, after which the session goes on); every delivered message arrives in
/// the Maildir byte for byte.
fn smtplib_delivers_byte_exact(kind: SelectorKind) {
    let Some(python) = python311() else {
        println!("note: no python3.11 here; the smtplib test is skipped");
        return;
    };
    let dir = scratch_dir(&format!("smtplib-{}", kind.name()));
    let maildir = dir.join("Maildir");
    let limit = 16 * 1024 * 1024;
    let port = Process::port(
        kind,
        &[
            "--maildir",
            maildir.to_str().unwrap(),
            "--data-size-limit",
            &limit.to_string(),
        ],
    );
    let large = large_message(10 * 1024 * 1024);
    let small = b"Subject: small\n\nafter the errors\n".to_vec();
    std::fs::write(dir.join("large"), &large).unwrap();
    std::fs::write(dir.join("small"), &small).unwrap();
    let output = Command::new(python)
        .args(["-W", "ignore", "-c", SMTPLIB_SCRIPT])
        .arg(port.addr.port().to_string())
        .arg(limit.to_string())
        .arg(dir.join("large"))
        .arg(dir.join("small"))
        .output()
        .expect("running smtplib");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "smtplib failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "refused: {}",
            "large: {}",
            "SMTPSenderRefused 552 Error: message size exceeds fixed maximum message size",
            "SMTPDataError 552 Error: Too much mail data",
            "small: {}",
        ]
    );
    assert!(port.stop().is_empty(), "with --maildir nothing is printed");

    let messages = maildir_messages(&maildir);
    assert_eq!(messages.len(), 3, "three messages delivered");
    // send_message: every recipient in the envelope (smtplib takes To, Bcc, then Cc), the
    // Bcc header not sent.
    let several = String::from_utf8(messages[0].clone()).unwrap();
    assert!(
        several.starts_with(
            "X-Peer: 127.0.0.1\nX-MailFrom: alice@example.org\nX-RcptTo: bob@example.org, carol@example.org, eve@example.org, dave@example.org\n"
        ),
        "{several}"
    );
    assert!(
        several.contains("\nSubject: several recipients\n"),
        "{several}"
    );
    assert!(!several.contains("Bcc"), "{several}");
    assert!(
        several.ends_with("\n\nHello all,\n.a line with a dot\n\nbye\n"),
        "{several}"
    );
    assert!(
        messages[1] == maildir_file("a@example.org", &["b@example.org"], &large),
        "the 10 MB message is not byte-exact ({} bytes arrived)",
        messages[1].len()
    );
    assert_eq!(
        messages[2],
        maildir_file("c@example.org", &["d@example.org", "e@example.org"], &small)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// swaks against the port: a message with dot lines and several recipients, from a file,
/// arrives byte for byte; and a second one over a pipelining-less session.
fn swaks_delivers_byte_exact(kind: SelectorKind) {
    if !have_swaks() {
        println!("note: no swaks here (Debian package swaks); the swaks test is skipped");
        return;
    }
    let dir = scratch_dir(&format!("swaks-{}", kind.name()));
    let maildir = dir.join("Maildir");
    let port = Process::port(kind, &["--maildir", maildir.to_str().unwrap()]);
    let message = b"From: sender@example.org\nTo: one@example.org\nSubject: from swaks\n\n.a dotted line\n..two dots\nplain\n\nlast line\n".to_vec();
    // swaks adds the line end before the final `.` itself.
    std::fs::write(dir.join("message"), &message[..message.len() - 1]).unwrap();
    let server = port.addr.to_string();
    for (to, ehlo) in [
        ("one@example.org,two@example.org", "--ehlo"),
        ("three@example.org", "--helo"),
    ] {
        let data = format!("@{}", dir.join("message").display());
        let output = Command::new("swaks")
            .args([
                "--server",
                &server,
                "--from",
                "sender@example.org",
                "--to",
                to,
            ])
            .args([ehlo, "client.example", "--data", &data, "--timeout", "30"])
            .output()
            .expect("running swaks");
        assert!(
            output.status.success(),
            "swaks failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    assert!(port.stop().is_empty(), "with --maildir nothing is printed");
    let messages = maildir_messages(&maildir);
    assert_eq!(
        messages,
        [
            maildir_file(
                "sender@example.org",
                &["one@example.org", "two@example.org"],
                &message
            ),
            maildir_file("sender@example.org", &["three@example.org"], &message),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

per_kind! {
    replies_match_smtpd,
    port_fixes_smtpds_bugs,
    smtplib_delivers_byte_exact,
    swaks_delivers_byte_exact,
}
