//! The example servers under hostile clients, once per selector backend: slowloris
//! (requests, lines and PDUs trickled a byte at a time) dropped at the message deadline while
//! a normal client is served; a chat member that never reads dropped at its output cap, with
//! the server's memory bounded; an HTTP upload over the body limit answered with a 413 that
//! the client reads (Python's `http.client`, where Python is found).

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;

use common::example::Server;
use common::kinds::per_kind;
use common::net::{is_reset, recv_exact, send};

/// A slow client's state.
struct Trickler {
    stream: TcpStream,
    sent: usize,
    closed_after: Option<Duration>,
}

/// How many descriptors process `pid` has open (Linux; `None` elsewhere).
fn open_descriptors(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|entries| entries.count())
}

/// Opens `count` connections that each send `payload` one byte per `every` (after `greeting`
/// bytes are read, if any), and checks that the server drops every one of them within
/// `deadline + slack` of its first byte, before the payload is complete, while `serve_one`
/// (a normal client's whole exchange) succeeds throughout. Then the server's descriptors
/// are back to what they were before.
fn slowloris(
    server: &Server,
    count: usize,
    greeting: usize,
    payload: &[u8],
    every: Duration,
    deadline: Duration,
    serve_one: impl Fn(&Server),
) {
    let slack = Duration::from_secs(3);
    let baseline = open_descriptors(server.pid());
    let mut tricklers: Vec<Trickler> = (0..count)
        .map(|_| {
            let stream = server.connect();
            if greeting > 0 {
                recv_exact(&stream, greeting);
            }
            stream.set_nonblocking(true).unwrap();
            Trickler {
                stream,
                sent: 0,
                closed_after: None,
            }
        })
        .collect();
    let start = Instant::now();
    let mut next_byte = start;
    let mut served = 0;
    while tricklers.iter().any(|t| t.closed_after.is_none()) {
        let elapsed = start.elapsed();
        assert!(
            elapsed < deadline + slack,
            "{} of {count} slow clients still connected after {elapsed:?}",
            tricklers
                .iter()
                .filter(|t| t.closed_after.is_none())
                .count()
        );
        if Instant::now() >= next_byte {
            next_byte += every;
            for t in tricklers.iter_mut().filter(|t| t.closed_after.is_none()) {
                assert!(t.sent < payload.len(), "a slow client finished its message");
                if (&t.stream).write(&payload[t.sent..t.sent + 1]).is_ok() {
                    t.sent += 1;
                }
            }
        }
        let mut buf = [0u8; 1024];
        for t in tricklers.iter_mut().filter(|t| t.closed_after.is_none()) {
            loop {
                match (&t.stream).read(&mut buf) {
                    Ok(0) => t.closed_after = Some(start.elapsed()),
                    Ok(_) => continue, // a reply to the greeting, say: not the close yet
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if is_reset(&e) => t.closed_after = Some(start.elapsed()),
                    Err(e) => panic!("a slow client's read: {e}"),
                }
                break;
            }
        }
        serve_one(server);
        served += 1;
        thread::sleep(Duration::from_millis(50));
    }
    assert!(served > 0);
    let last = tricklers.iter().filter_map(|t| t.closed_after).max();
    assert!(last.is_some_and(|last| last < deadline + slack), "{last:?}");
    drop(tricklers);
    serve_one(server);
    if let Some(baseline) = baseline {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let now = open_descriptors(server.pid()).expect("the server's descriptors");
            if now <= baseline {
                break;
            }
            assert!(
                Instant::now() < until,
                "the server holds {now} descriptors, {baseline} before the slow clients"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn http_get(server: &Server) {
    let mut stream = server.connect();
    send(
        &stream,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("a whole response");
    assert!(
        response.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(&response)
    );
}

fn http_slowloris_clients_are_dropped_at_the_request_deadline(kind: SelectorKind) {
    let server = Server::start("http_server", kind, &["--request-timeout", "2"]);
    let head = b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slowloris\r\nX-a: b\r\n\r\n";
    slowloris(
        &server,
        200,
        0,
        head,
        Duration::from_secs(1),
        Duration::from_secs(2),
        http_get,
    );
    server.stop();
}

fn chat_say(server: &Server) {
    let stream = server.connect();
    assert_eq!(recv_exact(&stream, 16), b"Connect Success\n");
    send(&stream, b"look\n");
    assert_eq!(recv_exact(&stream, 22), b"Unknown command: look\n");
}

fn chat_slowloris_clients_are_dropped_at_the_line_deadline(kind: SelectorKind) {
    let server = Server::start("chat_server", kind, &["--line-timeout", "2"]);
    slowloris(
        &server,
        50,
        16, // "Connect Success\n"
        b"login a-very-slow-client-indeed\n",
        Duration::from_secs(1),
        Duration::from_secs(2),
        chat_say,
    );
    server.stop();
}

/// An `enquire_link` PDU (header only).
fn enquire_link(sequence: u32) -> Vec<u8> {
    [16u32, 0x15, 0, sequence]
        .iter()
        .flat_map(|field| field.to_be_bytes())
        .collect()
}

fn smpp_enquire(server: &Server) {
    let stream = server.connect();
    send(&stream, &enquire_link(7));
    let response = recv_exact(&stream, 16);
    assert_eq!(&response[4..8], &0x8000_0015u32.to_be_bytes());
}

fn smpp_slowloris_clients_are_dropped_at_the_pdu_deadline(kind: SelectorKind) {
    let server = Server::start("smpp_server", kind, &["--pdu-timeout", "2"]);
    slowloris(
        &server,
        50,
        0,
        &enquire_link(1),
        Duration::from_secs(1),
        Duration::from_secs(2),
        smpp_enquire,
    );
    server.stop();
}

/// The server's resident memory in KiB (Linux; `None` elsewhere).
fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Logs in as `name`; returns the connection, its welcome read.
fn chat_member(server: &Server, name: &str) -> TcpStream {
    let stream = server.connect();
    assert_eq!(recv_exact(&stream, 16), b"Connect Success\n");
    send(&stream, format!("login {name}\n").as_bytes());
    assert_eq!(recv_exact(&stream, 14), b"login success\n");
    stream
}

/// Reads everything a member is sent until it ends with `until`; returns how many bytes.
fn read_until_line(mut stream: TcpStream, until: &'static [u8]) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut total = 0;
        let mut tail: Vec<u8> = Vec::new();
        let mut buf = vec![0; 256 * 1024];
        loop {
            let n = stream.read(&mut buf).expect("a reading member's read");
            assert!(n > 0, "a reading member was closed");
            total += n;
            // Only the end is looked at: `until` is the last line the member is sent, and a
            // scan of every read would make this reader (a debug build) the slow one.
            tail.extend_from_slice(&buf[n.saturating_sub(until.len())..n]);
            let keep = tail.len().saturating_sub(until.len());
            tail.drain(..keep);
            if tail == until {
                return total;
            }
        }
    })
}

fn a_chat_member_that_never_reads_is_dropped_at_its_output_cap(kind: SelectorKind) {
    let server = Server::start("chat_server", kind, &["--max-output", "1048576"]);
    let speaker = chat_member(&server, "speaker");
    let listener = chat_member(&server, "listener");
    let sleeper = chat_member(&server, "sleeper");
    let mut said = BufReader::new(speaker.try_clone().unwrap());
    let mut notices = Vec::new();
    let next_line = |reader: &mut BufReader<TcpStream>| {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a line for the speaker");
        assert!(line.ends_with('\n'), "the speaker was closed: {line:?}");
        line
    };
    // The speaker hears both later logins.
    for _ in 0..3 {
        notices.push(next_line(&mut said));
    }
    let before = resident_kib(server.pid());
    let listening = read_until_line(listener.try_clone().unwrap(), b"speaker:done\n");
    // 50 MB said in 60 KB lines, each sent once the speaker heard the previous one (a
    // speaker paced by its own echo, as a person or a bot is); the sleeper never reads.
    let text = "x".repeat(60_000);
    let mut peak = before;
    for _ in 0..(50_000_000 / 60_000) {
        send(&speaker, format!("say {text}\n").as_bytes());
        loop {
            let line = next_line(&mut said);
            if line.starts_with("speaker:") {
                assert_eq!(line.len(), "speaker:".len() + text.len() + 1);
                break;
            }
            notices.push(line);
        }
        peak = peak.max(resident_kib(server.pid()));
    }
    send(&speaker, b"say done\n");
    let heard = listening.join().expect("the listener");
    let lines = 50_000_000 / 60_000;
    assert!(
        heard > lines * "speaker:\n".len() + lines * text.len(),
        "the listener heard {heard} bytes"
    );
    if let (Some(before), Some(peak)) = (before, peak) {
        // The cap is 1 MiB; allow the allocator and the buffers of the line in hand as much
        // again many times over. Without the cap the sleeper alone would hold ~50 MB.
        let growth = peak.saturating_sub(before);
        assert!(growth < 24 * 1024, "the server grew by {growth} KiB");
    }
    // The sleeper was dropped at its cap: the others were told it left.
    assert!(
        notices
            .iter()
            .any(|line| line == "sleeper has left the room.\n"),
        "{notices:?}"
    );
    drop(sleeper);
    loop {
        let line = next_line(&mut said);
        if line == "speaker:done\n" {
            break;
        }
    }
    send(&speaker, b"look\n");
    let look: Vec<String> = (0..3).map(|_| next_line(&mut said)).collect();
    assert_eq!(look, ["Online Users:\n", "listener\n", "speaker\n"]);
    server.stop();
}

/// Python's `http.client` posts a body over the server's limit 20 times: it writes the
/// whole body before reading, so only a lingering close lets it read the 413.
const POST_OVER_LIMIT: &str = r#"
import http.client, sys
host, port = sys.argv[1], int(sys.argv[2])
for attempt in range(20):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("POST", "/echo", body=b"x" * 2_000_000)
    response = conn.getresponse()
    response.read()
    if response.status != 413:
        sys.exit(f"attempt {attempt}: status {response.status}")
    conn.close()
print("413 x 20")
"#;

fn python() -> Option<&'static str> {
    ["python3", "python3.11", "python"]
        .into_iter()
        .find(|python| {
            std::process::Command::new(python)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        })
}

fn a_post_over_the_limit_gets_its_413_read_by_http_client(kind: SelectorKind) {
    let Some(python) = python() else {
        eprintln!("skipped: no Python to run http.client");
        return;
    };
    let server = Server::start("http_server", kind, &[]);
    let out = std::process::Command::new(python)
        .args(["-c", POST_OVER_LIMIT])
        .arg(server.addr.ip().to_string())
        .arg(server.addr.port().to_string())
        .output()
        .expect("running Python");
    assert!(
        out.status.success(),
        "http.client: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "413 x 20");
    server.stop();
}

fn keep_alive_get(stream: &TcpStream) -> bool {
    let mut stream = stream;
    if stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = [0u8; 17];
    stream.read_exact(&mut response).is_ok() && &response == b"HTTP/1.1 200 OK\r\n"
}

fn the_connection_cap_is_never_exceeded_and_waiting_clients_are_served_later(kind: SelectorKind) {
    const CAP: usize = 5;
    let server = Server::start("http_server", kind, &["--max-connections", "5"]);
    let baseline = open_descriptors(server.pid());
    // Twice the cap connect at once: the kernel completes every handshake (the backlog),
    // but the server takes only CAP of them.
    let clients: Vec<TcpStream> = (0..2 * CAP).map(|_| server.connect()).collect();
    for client in &clients {
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
    }
    let mut served: Vec<bool> = clients.iter().map(keep_alive_get).collect();
    assert_eq!(
        served.iter().filter(|&&s| s).count(),
        CAP,
        "{served:?}: exactly the cap is served at first"
    );
    if let Some(baseline) = baseline {
        let now = open_descriptors(server.pid()).unwrap();
        assert!(
            now <= baseline + CAP,
            "{now} descriptors, {baseline} + {CAP} at most"
        );
    }
    // The first ones leave; the waiting ones are served (their requests were sent already:
    // read the answers).
    let (first, waiting): (Vec<_>, Vec<_>) = clients
        .into_iter()
        .zip(served.drain(..))
        .partition(|(_, served)| *served);
    drop(first);
    for (client, _) in &waiting {
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut response = [0u8; 17];
        let mut reader: &TcpStream = client;
        reader
            .read_exact(&mut response)
            .expect("a waiting client's answer");
        assert_eq!(&response, b"HTTP/1.1 200 OK\r\n");
    }
    server.stop();
}

#[cfg(unix)]
/// Reads one `POST /echo` response whose body must be `body`; `None` at a clean end of file
/// before it (a truncated response or a reset fails).
fn read_echo_response(reader: &mut BufReader<TcpStream>, body: &[u8]) -> Option<()> {
    let mut status = String::new();
    match reader.read_line(&mut status) {
        Ok(0) => return None,
        Ok(_) => {}
        Err(e) => panic!("a reset or error instead of a response: {e}"),
    }
    assert_eq!(status, "HTTP/1.1 200 OK\r\n");
    let mut length = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a header line");
        if line == "\r\n" {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length: ") {
            length = value.trim().parse::<usize>().ok();
        }
    }
    assert_eq!(length, Some(body.len()));
    let mut got = vec![0; body.len()];
    reader.read_exact(&mut got).expect("a whole body");
    assert!(got == body, "an altered body");
    Some(())
}

#[cfg(unix)]
fn sigterm_answers_every_request_received_then_exits_0(kind: SelectorKind) {
    const REQUESTS: usize = 50;
    let server = Server::start("http_server", kind, &[]);
    let stream = server.connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let body = vec![b'z'; 512 * 1024]; // 50 answers: more than the socket buffers hold
    let request = [
        format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
        &body,
    ]
    .concat();
    // 50 pipelined uploads, written by a thread while nothing is read: the server answers
    // until its output passes its high-water mark, then waits for the client to read.
    let mut writer = stream.try_clone().unwrap();
    let sending = thread::spawn(move || {
        for _ in 0..REQUESTS {
            if writer.write_all(&request).is_err() {
                break; // the server stopped reading and closed: the rest was never received
            }
        }
    });
    thread::sleep(Duration::from_millis(500));
    server.send_signal(rustix::process::Signal::TERM);
    // Every response the server began is delivered whole, in order, then a clean end of file.
    let mut reader = BufReader::new(stream);
    let mut answered = 0;
    while read_echo_response(&mut reader, &body).is_some() {
        answered += 1;
    }
    assert!((1..=REQUESTS).contains(&answered), "{answered} answers");
    sending.join().unwrap();
    server.expect_exit_success();
}

#[cfg(not(unix))]
fn sigterm_answers_every_request_received_then_exits_0(_: SelectorKind) {
    eprintln!("skipped: no SIGTERM on this platform");
}

per_kind! {
    http_slowloris_clients_are_dropped_at_the_request_deadline,
    chat_slowloris_clients_are_dropped_at_the_line_deadline,
    smpp_slowloris_clients_are_dropped_at_the_pdu_deadline,
    a_chat_member_that_never_reads_is_dropped_at_its_output_cap,
    a_post_over_the_limit_gets_its_413_read_by_http_client,
    the_connection_cap_is_never_exceeded_and_waiting_clients_are_served_later,
    sigterm_answers_every_request_received_then_exits_0,
}
