//! The example servers over TLS (the `tls` feature), once per backend, with clients no one
//! here wrote where they are installed (each test prints why it is skipped otherwise):
//!
//! - `curl --cacert` against `http_server --tls-cert` (HTTPS: a GET, a POST echoed), and a
//!   clear-text request to the HTTPS port closed while curl is served;
//! - Python's `ssl` module against the TLS `echo_server` and the chat room (TLS from the
//!   first byte, and its `starttls` command);
//! - `openssl s_client -starttls smtp` and Python's `smtplib` with `starttls()` against
//!   `smtp_server` (a message delivered byte for byte to the Maildir);
//! - `echo_client --tls-ca` against `echo_server --tls-cert`;
//! - rustls's own blocking client for what must be checked byte by byte: clear text
//!   pipelined after STARTTLS is dropped, never run (CVE-2011-0411), and the replies RFC
//!   3207 asks for.
//!
//! The certificates are the test ones of `examples/tls/`. The binaries are found as in
//! tests/examples.rs (`cargo build --features tls --examples` first when running this file
//! alone).

#![cfg(feature = "tls")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use ioloop::selector::SelectorKind;
use ioloop::tls::rustls;

use common::example::{Server, example_binary, run_within};
use common::kinds::per_kind;
use common::{LIMIT, pattern};

const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls");

fn cert(name: &str) -> String {
    format!("{CERTS}/{name}")
}

/// The options that give a server the test certificate.
fn tls_args() -> [String; 4] {
    [
        "--tls-cert".into(),
        cert("server.pem"),
        "--tls-key".into(),
        cert("server-key.pem"),
    ]
}

fn with_tls<'a>(tls: &'a [String; 4], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args: Vec<&str> = tls.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    args
}

/// Whether `program args…` runs and succeeds here (never on Windows: the tests run under
/// Wine there, without these tools).
fn have(program: &str, args: &[&str]) -> bool {
    !cfg!(windows)
        && Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
}

fn have_curl() -> bool {
    have("curl", &["--version"])
}

fn have_openssl() -> bool {
    have("openssl", &["version"])
}

/// A `python3` with `ssl` and `smtplib`, if there is one.
fn python() -> Option<&'static str> {
    have("python3", &["-c", "import ssl, smtplib"]).then_some("python3")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a Python script (`python3 -c SCRIPT ARGS…`) and returns its stdout; fails with its
/// stderr if it fails.
fn run_python(python: &str, script: &str, args: &[&str]) -> String {
    let output = run_within(
        Command::new(python)
            .args(["-W", "ignore", "-c", script])
            .args(args),
        b"",
        LIMIT * 2,
    );
    assert!(
        output.status.success(),
        "the Python script failed ({}): {}{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// `curl` over HTTPS to `localhost:PORT` (resolved to the server's 127.0.0.1), trusting the
/// test CA; `extra` before the URL's path.
fn curl(server: &Server, path: &str, extra: &[&str], input: &[u8]) -> Output {
    let port = server.addr.port();
    run_within(
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "10"])
            .args(["--cacert", &cert("ca.pem")])
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
            .args(extra)
            .arg(format!("https://localhost:{port}{path}")),
        input,
        LIMIT * 2,
    )
}

// ---------------------------------------------------------------------------------------
// HTTPS

/// curl GETs `/` and POSTs 200 kB of every byte value to `/echo` over HTTPS, verifying the
/// server's certificate; without the CA it refuses the server (curl's exit status 60).
fn curl_gets_and_posts_over_https(kind: SelectorKind) {
    if !have_curl() {
        println!("note: curl is not installed; test skipped");
        return;
    }
    let tls = tls_args();
    let server = Server::start("http_server", kind, &with_tls(&tls, &[]));
    let get = curl(&server, "/", &[], b"");
    assert!(get.status.success(), "curl GET: {}", text(&get.stderr));
    assert_eq!(text(&get.stdout), "Hello, World!\n");

    let body = pattern(200_000, 7);
    let post = curl(
        &server,
        "/echo",
        &[
            "--data-binary",
            "@-",
            "-H",
            "Content-Type: application/octet-stream",
        ],
        &body,
    );
    assert!(post.status.success(), "curl POST: {}", text(&post.stderr));
    assert_eq!(post.stdout.len(), body.len());
    assert!(post.stdout == body, "the echoed body differs");

    let port = server.addr.port();
    let untrusted = run_within(
        Command::new("curl")
            .args(["--silent", "--max-time", "10"])
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
            .arg(format!("https://localhost:{port}/")),
        b"",
        LIMIT * 2,
    );
    assert_eq!(
        untrusted.status.code(),
        Some(60),
        "curl without the test CA must refuse the certificate"
    );
    server.stop();
}

/// A clear-text HTTP request to the HTTPS port: the connection ends (an alert at most, then
/// the end, or a reset), never hangs, and curl is served meanwhile and after.
fn clear_text_http_to_the_https_port_is_closed_while_curl_is_served(kind: SelectorKind) {
    if !have_curl() {
        println!("note: curl is not installed; test skipped");
        return;
    }
    let tls = tls_args();
    let server = Server::start("http_server", kind, &with_tls(&tls, &[]));
    let clear = server.connect();
    (&clear)
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let get = curl(&server, "/", &[], b"");
    assert!(get.status.success(), "curl GET: {}", text(&get.stderr));
    assert_eq!(text(&get.stdout), "Hello, World!\n");
    let mut rest = Vec::new();
    match (&clear).read_to_end(&mut rest) {
        Ok(_) => {
            assert!(rest.len() < 64, "an alert at most: {rest:?}");
            assert!(
                !rest.starts_with(b"HTTP/"),
                "no clear-text answer: {rest:?}"
            );
        }
        Err(e) => assert!(common::net::is_reset(&e), "{e}"),
    }
    let again = curl(&server, "/", &[], b"");
    assert_eq!(text(&again.stdout), "Hello, World!\n");
    server.stop();
}

// ---------------------------------------------------------------------------------------
// Python's ssl against the echo and the chat room

const PYTHON_ECHO: &str = r#"
import socket, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
with socket.create_connection(('127.0.0.1', port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname='localhost') as s:
        payload = bytes(range(256)) * 1024
        s.sendall(payload)
        echoed = b''
        while len(echoed) < len(payload):
            chunk = s.recv(65536)
            if not chunk:
                break
            echoed += chunk
        print('echoed', len(echoed), echoed == payload, s.version())
"#;

/// Python's `ssl` module sends 256 KiB through the TLS echo and gets every byte back.
fn python_ssl_against_the_tls_echo(kind: SelectorKind) {
    let Some(python) = python() else {
        println!("note: no python3 with ssl here; test skipped");
        return;
    };
    let tls = tls_args();
    let server = Server::start("echo_server", kind, &with_tls(&tls, &[]));
    let port = server.addr.port().to_string();
    let out = run_python(python, PYTHON_ECHO, &[&port, &cert("ca.pem")]);
    assert!(out.starts_with("echoed 262144 True TLSv1."), "{out}");
    server.stop();
}

const PYTHON_CHAT_STARTTLS: &str = r#"
import socket, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
raw = socket.create_connection(('127.0.0.1', port), timeout=10)
def line(f):
    return f.readline().decode().rstrip('\n')
clear = raw.makefile('rb', buffering=0)
print(line(clear))
# The command and an injected one in the same segment: only the first may run.
raw.sendall(b'starttls\nlogin mallory\n')
# Byte by byte: nothing of the TLS session may be read ahead into a clear-text buffer.
reply = b''
while not reply.endswith(b'\n'):
    reply += raw.recv(1)
print(reply.decode().rstrip('\n'))
s = ctx.wrap_socket(raw, server_hostname='localhost')
f = s.makefile('rb')
s.sendall(b'look\n')
print(line(f))
s.sendall(b'login bob\n')
print(line(f))
print(line(f))
s.sendall(b'starttls\n')
print(line(f))
s.sendall(b'look\n')
print(line(f))
print(line(f))
s.sendall(b'logout\n')
print('end', repr(f.read()))
"#;

/// Python's `ssl` module and the chat's `starttls`: the greeting and `Ready to start TLS` in
/// clear text, then the session over TLS; the `login` pipelined after `starttls` never ran.
fn python_ssl_and_the_chat_starttls(kind: SelectorKind) {
    let Some(python) = python() else {
        println!("note: no python3 with ssl here; test skipped");
        return;
    };
    let tls = tls_args();
    let server = Server::start(
        "chat_server",
        kind,
        &with_tls(&tls, &["--tls-mode", "starttls"]),
    );
    let port = server.addr.port().to_string();
    let out = run_python(python, PYTHON_CHAT_STARTTLS, &[&port, &cert("ca.pem")]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "Connect Success",
            "Ready to start TLS",
            "Unknown command: look", // mallory's login was dropped: not logged in
            "login success",
            "bob has entered the room.",
            "TLS already active",
            "Online Users:",
            "bob",
            "end b''",
        ]
    );
    server.stop();
}

const PYTHON_CHAT_IMPLICIT: &str = r#"
import socket, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
with ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=10), server_hostname='localhost') as s:
    f = s.makefile('rb')
    def line():
        return f.readline().decode().rstrip('\n')
    print(line())
    s.sendall(b'login ann\nsay hi over TLS\nstarttls\n')
    for _ in range(4):
        print(line())
"#;

/// The chat room with TLS from the first byte, to Python's `ssl`: the greeting after the
/// handshake, the room as in clear text, and `starttls` refused.
fn python_ssl_and_the_chat_over_tls(kind: SelectorKind) {
    let Some(python) = python() else {
        println!("note: no python3 with ssl here; test skipped");
        return;
    };
    let tls = tls_args();
    let server = Server::start("chat_server", kind, &with_tls(&tls, &[]));
    let port = server.addr.port().to_string();
    let out = run_python(python, PYTHON_CHAT_IMPLICIT, &[&port, &cert("ca.pem")]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "Connect Success",
            "login success",
            "ann has entered the room.",
            "ann:hi over TLS",
            "TLS already active",
        ]
    );
    server.stop();
}

/// The chat's `starttls` where it cannot be: without a certificate, and after login.
fn chat_starttls_refusals(kind: SelectorKind) {
    fn lines(stream: &TcpStream, send: &[u8], n: usize) -> Vec<String> {
        let mut stream_ref = stream;
        stream_ref.write_all(send).unwrap();
        let mut reader = BufReader::new(stream);
        (0..n)
            .map(|_| {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                line.trim_end().to_string()
            })
            .collect()
    }
    let clear = Server::start("chat_server", kind, &[]);
    let user = clear.connect();
    assert_eq!(
        lines(&user, b"starttls\n", 2),
        ["Connect Success", "TLS not available"]
    );
    clear.stop();

    let tls = tls_args();
    let server = Server::start(
        "chat_server",
        kind,
        &with_tls(&tls, &["--tls-mode", "starttls"]),
    );
    let user = server.connect();
    assert_eq!(
        lines(&user, b"login zed\nstarttls\n", 4),
        [
            "Connect Success",
            "login success",
            "zed has entered the room.",
            "STARTTLS only before login"
        ]
    );
    server.stop();
}

// ---------------------------------------------------------------------------------------
// SMTP STARTTLS

/// `openssl s_client -starttls smtp`: it reads the greeting, sends `EHLO`, finds STARTTLS,
/// switches, and the session starts over over TLS (STARTTLS is not offered again).
fn openssl_s_client_starttls_smtp(kind: SelectorKind) {
    if !have_openssl() {
        println!("note: openssl is not installed; test skipped");
        return;
    }
    let tls = tls_args();
    let server = Server::start(
        "smtp_server",
        kind,
        &with_tls(&tls, &["--hostname", "mx.test"]),
    );
    let output = run_within(
        Command::new("openssl")
            .args(["s_client", "-starttls", "smtp"])
            .args(["-connect", &server.addr.to_string()])
            .args(["-servername", "localhost", "-verify_hostname", "localhost"])
            .args(["-CAfile", &cert("ca.pem"), "-verify_return_error"])
            .args(["-quiet"]),
        b"EHLO client.test\r\nNOOP\r\nQUIT\r\n",
        LIMIT * 2,
    );
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "s_client: {}; {stdout}{}",
        output.status,
        text(&output.stderr)
    );
    // What s_client prints once TLS is up: the replies to our commands.
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "250-mx.test",
            "250-SIZE 33554432",
            "250-8BITMIME",
            "250 HELP",
            "250 OK",
            "221 Bye",
        ],
        "{}",
        text(&output.stderr)
    );
    server.stop();
}

const SMTPLIB_STARTTLS: &str = r#"
import smtplib, ssl, sys
port, cafile, body_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
body = open(body_path, 'rb').read().replace(b'\n', b'\r\n')
ctx = ssl.create_default_context(cafile=cafile)
with smtplib.SMTP('127.0.0.1', port, timeout=10) as s:
    s.ehlo('client.test')
    print('offered:', s.has_extn('starttls'))
    code, reply = s.starttls(context=ctx)
    print(code, reply.decode())
    s.ehlo('client.test')
    print('offered over TLS:', s.has_extn('starttls'), s.sock.version().startswith('TLSv1.'))
    print('refused:', s.sendmail('a@example.org', ['b@example.org', 'c@example.org'], body))
"#;

/// Python's `smtplib` with `starttls()`: STARTTLS offered in clear text, not over TLS, and a
/// message with dot lines and 8-bit bytes arrives in the Maildir byte for byte.
fn smtplib_starttls_delivers_byte_exact(kind: SelectorKind) {
    let Some(python) = python() else {
        println!("note: no python3 with ssl here; test skipped");
        return;
    };
    let dir = scratch_dir(&format!("smtplib-{}", kind.name()));
    let maildir = dir.join("Maildir");
    let tls = tls_args();
    let server = Server::start(
        "smtp_server",
        kind,
        &with_tls(
            &tls,
            &[
                "--hostname",
                "mx.test",
                "--maildir",
                maildir.to_str().unwrap(),
            ],
        ),
    );
    let mut body = b"From: a@example.org\nSubject: over TLS\n\n".to_vec();
    for i in 0..2000u32 {
        match i % 4 {
            0 => body.extend_from_slice(b".a line with a dot\n"),
            1 => body.extend((0x80u8..=0xff).chain([b'\n'])),
            2 => body.push(b'\n'),
            _ => body.extend((0x20u8..0x7f).chain([b'\n'])),
        }
    }
    let body_path = dir.join("body");
    std::fs::write(&body_path, &body).unwrap();
    let port = server.addr.port().to_string();
    let out = run_python(
        python,
        SMTPLIB_STARTTLS,
        &[&port, &cert("ca.pem"), body_path.to_str().unwrap()],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "offered: True",
            "220 Ready to start TLS",
            "offered over TLS: False True",
            "refused: {}",
        ]
    );
    server.stop();
    let mut expected =
        b"X-Peer: 127.0.0.1\nX-MailFrom: a@example.org\nX-RcptTo: b@example.org, c@example.org\n"
            .to_vec();
    expected.extend_from_slice(&body);
    let files: Vec<PathBuf> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one message delivered");
    let delivered = std::fs::read(&files[0]).unwrap();
    assert!(
        delivered == expected,
        "the message is not byte-exact: {} bytes arrived, {} expected",
        delivered.len(),
        expected.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn scratch_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .expect("the test binary's directory")
        .join("example_tls")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Reads one SMTP reply (its lines up to the one with a space after the code).
fn smtp_reply(reader: &mut impl BufRead) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("a reply line");
        assert!(n > 0, "the server closed; replies so far: {lines:?}");
        let line = line.trim_end_matches("\r\n").to_string();
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line);
        if last {
            return lines;
        }
    }
}

type Secure = BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

/// Sends `command` over TLS and reads its reply.
fn say(secure: &mut Secure, command: &[u8]) -> Vec<String> {
    secure.get_mut().write_all(command).unwrap();
    smtp_reply(secure)
}

fn rustls_client(stream: TcpStream) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let config = ioloop::tls::client_config_from_pem(cert("ca.pem")).unwrap();
    let conn = rustls::ClientConnection::new(Arc::clone(&config), "localhost".try_into().unwrap())
        .unwrap();
    rustls::StreamOwned::new(conn, stream)
}

/// STARTTLS as RFC 3207 has it, against a client that checks every reply: offered in the
/// clear EHLO only; `501` with a parameter; the commands pipelined after STARTTLS in clear
/// text dropped (CVE-2011-0411: the injected `MAIL FROM` never runs); the session reset
/// (`MAIL` before the new EHLO is `503`); `503` for a second STARTTLS; and without a
/// certificate STARTTLS is neither offered nor possible (`454`).
fn smtp_starttls_follows_rfc_3207(kind: SelectorKind) {
    let tls = tls_args();
    let server = Server::start(
        "smtp_server",
        kind,
        &with_tls(&tls, &["--hostname", "mx.test"]),
    );
    let stream = server.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(
        smtp_reply(&mut reader),
        ["220 mx.test Python SMTP proxy version 0.3"]
    );
    (&stream)
        .write_all(
            b"EHLO c.test\r\nSTARTTLS now\r\nSTARTTLS\r\nMAIL FROM:<injected@evil>\r\nRSET\r\n",
        )
        .unwrap();
    assert_eq!(
        smtp_reply(&mut reader),
        [
            "250-mx.test",
            "250-SIZE 33554432",
            "250-8BITMIME",
            "250-STARTTLS",
            "250 HELP"
        ]
    );
    assert_eq!(
        smtp_reply(&mut reader),
        ["501 Syntax error (no parameters allowed)"]
    );
    assert_eq!(smtp_reply(&mut reader), ["220 Ready to start TLS"]);
    assert!(
        reader.buffer().is_empty(),
        "nothing in clear text after the 220: {:?}",
        reader.buffer()
    );
    drop(reader);
    let mut secure = BufReader::new(rustls_client(stream));
    // The first reply over TLS answers the first command sent over TLS: neither the
    // injected MAIL nor the RSET ran (they would have answered first).
    assert_eq!(
        say(&mut secure, b"MAIL FROM:<a@example.org>\r\n"),
        ["503 Error: send HELO first"],
        "the session starts over after STARTTLS"
    );
    assert_eq!(
        say(&mut secure, b"EHLO c.test\r\n"),
        [
            "250-mx.test",
            "250-SIZE 33554432",
            "250-8BITMIME",
            "250 HELP"
        ],
        "STARTTLS is not offered over TLS"
    );
    assert_eq!(
        say(&mut secure, b"STARTTLS\r\n"),
        ["503 Error: TLS already active"]
    );
    assert_eq!(
        say(&mut secure, b"MAIL FROM:<a@example.org>\r\n"),
        ["250 OK"]
    );
    assert_eq!(say(&mut secure, b"QUIT\r\n"), ["221 Bye"]);
    server.stop();

    let clear = Server::start("smtp_server", kind, &["--hostname", "mx.test"]);
    let stream = clear.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    smtp_reply(&mut reader);
    (&stream)
        .write_all(b"EHLO c.test\r\nSTARTTLS\r\nNOOP\r\n")
        .unwrap();
    assert_eq!(
        smtp_reply(&mut reader),
        [
            "250-mx.test",
            "250-SIZE 33554432",
            "250-8BITMIME",
            "250 HELP"
        ]
    );
    assert_eq!(
        smtp_reply(&mut reader),
        ["454 TLS not available due to temporary reason"]
    );
    assert_eq!(smtp_reply(&mut reader), ["250 OK"], "the session goes on");
    clear.stop();
}

// ---------------------------------------------------------------------------------------
// echo_client

/// `echo_client --tls-ca` against the TLS echo: every line back; with a name the
/// certificate is not for, the client refuses the server with the reason and exit status 1.
fn echo_client_over_tls(kind: SelectorKind) {
    let tls = tls_args();
    let server = Server::start("echo_server", kind, &with_tls(&tls, &[]));
    let client = |extra: &[&str]| {
        run_within(
            Command::new(example_binary("echo_client"))
                .args([
                    "--addr",
                    &server.addr.to_string(),
                    "--selector",
                    kind.name(),
                ])
                .args(["--tls-ca", &cert("ca.pem"), "--message", "over TLS"])
                .args(["--count", "3"])
                .args(extra),
            b"",
            LIMIT * 2,
        )
    };
    let good = client(&[]);
    assert!(good.status.success(), "{}", text(&good.stderr));
    assert_eq!(
        text(&good.stdout).lines().collect::<Vec<_>>(),
        ["over TLS", "over TLS", "over TLS"]
    );
    let named = client(&["--tls-name", "localhost"]);
    assert!(named.status.success(), "{}", text(&named.stderr));

    let wrong = client(&["--tls-name", "not-this-host.example"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        wrong.stdout.is_empty(),
        "nothing echoed to an unverified server"
    );
    let stderr = text(&wrong.stderr);
    assert!(stderr.contains("not valid for name"), "{stderr}");
    server.stop();
}

/// The TLS options' errors: exit status 2 with the reason, 1 for files that cannot be read
/// (no backend involved: the examples exit before their loop starts).
#[test]
fn tls_option_errors() {
    for (example, args, expect) in [
        (
            "echo_server",
            &["--tls-cert", "x.pem"][..],
            "--tls-cert and --tls-key go together",
        ),
        (
            "http_server",
            &["--tls-key", "x.pem"][..],
            "--tls-cert and --tls-key go together",
        ),
        (
            "chat_server",
            &["--tls-mode", "starttls"][..],
            "--tls-mode needs --tls-cert",
        ),
        (
            "echo_client",
            &["--tls-name", "localhost"][..],
            "--tls-name needs --tls-ca",
        ),
    ] {
        let output = run_within(
            Command::new(example_binary(example)).args(args),
            b"",
            LIMIT * 2,
        );
        assert_eq!(output.status.code(), Some(2), "{example} {args:?}");
        assert!(
            text(&output.stderr).contains(expect),
            "{example}: {}",
            text(&output.stderr)
        );
    }
    let missing = run_within(
        Command::new(example_binary("smtp_server")).args([
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            "/nonexistent.pem",
        ]),
        b"",
        LIMIT * 2,
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("/nonexistent.pem"));
}

per_kind! {
    curl_gets_and_posts_over_https,
    clear_text_http_to_the_https_port_is_closed_while_curl_is_served,
    python_ssl_against_the_tls_echo,
    python_ssl_and_the_chat_starttls,
    python_ssl_and_the_chat_over_tls,
    chat_starttls_refusals,
    openssl_s_client_starttls_smtp,
    smtplib_starttls_delivers_byte_exact,
    smtp_starttls_follows_rfc_3207,
    echo_client_over_tls,
}
