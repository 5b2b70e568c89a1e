//! The `http_server` example over real sockets, once per selector backend: routing,
//! keep-alive and closing, pipelining, bodies, and the error responses.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use ioloop::selector::SelectorKind;

use common::example::Server;
use common::kinds::per_kind;
use common::net::{expect_eof, expect_silence, recv_exact, send};

/// The longest response head the tests accept.
const MAX_HEAD: usize = 16 * 1024;

/// A parsed response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name));
        let value = found.next().map(|(_, value)| value.as_str());
        assert!(found.next().is_none(), "two {name} headers: {self:?}");
        value
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }
}

/// Reads one response; `head_request` says the body is absent whatever Content-Length says.
fn read_response_to(stream: &mut TcpStream, head_request: bool) -> Response {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(
            head.len() < MAX_HEAD,
            "a response head over {MAX_HEAD} bytes"
        );
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => panic!(
                "end of file inside a response head: {:?}",
                String::from_utf8_lossy(&head)
            ),
            Err(e) => panic!(
                "reading a response head: {e}; got {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let head = String::from_utf8(head).expect("an ASCII response head");
    let mut lines = head.trim_end_matches("\r\n").split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(
        parts.next(),
        Some("HTTP/1.1"),
        "status line {status_line:?}"
    );
    let status = parts
        .next()
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    assert!(
        parts.next().is_some_and(|reason| !reason.is_empty()),
        "status line {status_line:?} has no reason"
    );
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("header line {line:?}"));
            (name.to_string(), value.to_string())
        })
        .collect();
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let length: usize = response
        .header("Content-Length")
        .unwrap_or_else(|| panic!("no Content-Length: {response:?}"))
        .parse()
        .expect("a numeric Content-Length");
    let date = response.header("Date").expect("a Date header");
    assert!(
        date.len() == 29 && date.ends_with(" GMT") && date.as_bytes()[3] == b',',
        "Date {date:?} is not an IMF-fixdate"
    );
    if !head_request {
        response.body = recv_exact(stream, length);
    }
    response
}

fn read_response(stream: &mut TcpStream) -> Response {
    read_response_to(stream, false)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

fn assert_hello(response: &Response) {
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("Content-Type"), Some("text/plain"));
    assert_eq!(response.header("Content-Length"), Some("14"));
    assert_eq!(response.text(), "Hello, World!\n");
}

/// Runs `test` against a fresh server on `kind`.
fn with_server(kind: SelectorKind, test: impl FnOnce(&Server)) {
    let server = Server::start("http_server", kind, &[]);
    test(&server);
    server.stop();
}

/// Sends `request` on a new connection and expects `status`, `Connection: close`, then end
/// of file.
fn expect_refusal(server: &Server, request: &[u8], status: u16) {
    let mut stream = server.connect();
    send(&stream, request);
    let response = read_response(&mut stream);
    let shown = String::from_utf8_lossy(request);
    assert_eq!(response.status, status, "for {shown:?}: {response:?}");
    assert_eq!(
        response.header("Connection"),
        Some("close"),
        "for {shown:?}"
    );
    assert!(!response.body.is_empty(), "for {shown:?}: an empty body");
    expect_eof(&stream);
}

fn get_root_returns_hello_world(kind: SelectorKind) {
    with_server(kind, |server| {
        let mut stream = server.connect();
        send(&stream, get("/").as_bytes());
        let response = read_response(&mut stream);
        assert_hello(&response);
        assert_eq!(response.header("Connection"), None, "HTTP/1.1 keeps alive");
        // A query does not change the path.
        send(&stream, get("/?name=x").as_bytes());
        assert_hello(&read_response(&mut stream));
    });
}

fn unknown_path_returns_404(kind: SelectorKind) {
    with_server(kind, |server| {
        let mut stream = server.connect();
        send(&stream, get("/nope").as_bytes());
        let response = read_response(&mut stream);
        assert_eq!(response.status, 404, "{response:?}");
        assert_eq!(response.text(), "Not Found\n");
        // The connection stays usable.
        send(&stream, get("/").as_bytes());
        assert_hello(&read_response(&mut stream));
    });
}

fn wrong_method_returns_405_with_allow(kind: SelectorKind) {
    with_server(kind, |server| {
        let mut stream = server.connect();
        send(
            &stream,
            b"DELETE / HTTP/1.1\r\nHost: test\r\n\r\nGET /echo HTTP/1.1\r\nHost: test\r\n\r\n",
        );
        let response = read_response(&mut stream);
        assert_eq!(response.status, 405, "{response:?}");
        assert_eq!(response.header("Allow"), Some("GET, HEAD"));
        let response = read_response(&mut stream);
        assert_eq!(response.status, 405, "{response:?}");
        assert_eq!(response.header("Allow"), Some("POST"));
    });
}

fn head_returns_headers_only(kind: SelectorKind) {
    with_server(kind, |server| {
        let mut stream = server.connect();
        send(&stream, b"HEAD / HTTP/1.1\r\nHost: test\r\n\r\n");
        let response = read_response_to(&mut stream, true);
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(response.header("Content-Length"), Some("14"));
        // No body followed: the next response starts right away.
        send(&stream, get("/").as_bytes());
        assert_hello(&read_response(&mut stream));
    });
}

fn pipelined_requests_are_answered_in_order(kind: SelectorKind) {
    with_server(kind, |server| {
        let mut stream = server.connect();
        let requests = format!("{}{}{}", get("/"), get("/nope"), get("/"));
        send(&stream, requests.as_bytes());
        assert_hello(&read_response(&mut stream));
        assert_eq!(read_response(&mut stream).status, 404);
        assert_hello(&read_response(&mut stream));
        expect_silence(&stream, Duration::from_millis(100));
    });
}

fn keep_alive_serves_sequential_requests(kind: SelectorKind) {
    with_server(kind, |server| {
        let mut stream = server.connect();
        for _ in 0..3 {
            send(&stream, get("/").as_bytes());
            assert_hello(&read_response(&mut stream));
        }
        // An explicit keep-alive is the same.
        send(
            &stream,
            b"GET / HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n",
        );
        assert_hello(&read_response(&mut stream));
        expect_silence(&stream, Duration::from_millis(100));
    });
}

fn connection_close_closes_after_the_response(kind: SelectorKind) {
    with_server(kind, |server| {
        let mut stream = server.connect();
        // The pipelined GET behind the closing request is not answered.
        let requests = format!(
            "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n{}",
            get("/")
        );
        send(&stream, requests.as_bytes());
        let response = read_response(&mut stream);
        assert_hello(&response);
        assert_eq!(response.header("Connection"), Some("close"));
        expect_eof(&stream);
    });
}

fn http_1_0_closes_unless_kept_alive(kind: SelectorKind) {
    with_server(kind, |server| {
        let mut stream = server.connect();
        send(&stream, b"GET / HTTP/1.0\r\n\r\n");
        let response = read_response(&mut stream);
        assert_hello(&response);
        assert_eq!(response.header("Connection"), Some("close"));
        expect_eof(&stream);

        let mut stream = server.connect();
        for _ in 0..2 {
            send(&stream, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            let response = read_response(&mut stream);
            assert_hello(&response);
            assert_eq!(response.header("Connection"), Some("keep-alive"));
        }
        expect_silence(&stream, Duration::from_millis(100));
    });
}

fn malformed_requests_get_400_then_close(kind: SelectorKind) {
    with_server(kind, |server| {
        let cases: [&[u8]; 12] = [
            b"GET /\r\nHost: test\r\n\r\n",                     // no version
            b"GET  / HTTP/1.1\r\nHost: test\r\n\r\n",           // two spaces
            b"GET / HTTP/1.1 x\r\nHost: test\r\n\r\n",          // three spaces
            b"GET / FTP/1.1\r\nHost: test\r\n\r\n",             // not HTTP
            b"GET / HTTP/1\r\nHost: test\r\n\r\n",              // no minor
            b"GET nowhere HTTP/1.1\r\nHost: test\r\n\r\n",      // bad target
            b"GET / HTTP/1.1\r\nHost test\r\n\r\n",             // no colon
            b"GET / HTTP/1.1\r\nHost : test\r\n\r\n",           // space before colon
            b"GET / HTTP/1.1\r\nHost: test\r\n folded\r\n\r\n", // obsolete folding
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", // not a number
            b"GET / HTTP/1.1\r\nHost: t\r\nX-Bytes: \xff\xfe\r\n\r\n", // not UTF-8
            b"GET / HTTP/1.1\r\n\r\n",                          // no Host
        ];
        for request in cases {
            expect_refusal(server, request, 400);
        }
    });
}

fn other_http_versions_get_505(kind: SelectorKind) {
    with_server(kind, |server| {
        expect_refusal(server, b"GET / HTTP/2.0\r\nHost: test\r\n\r\n", 505);
    });
}

fn transfer_encoding_gets_501(kind: SelectorKind) {
    with_server(kind, |server| {
        expect_refusal(
            server,
            b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n",
            501,
        );
    });
}

fn oversized_header_gets_431_then_close(kind: SelectorKind) {
    with_server(kind, |server| {
        let request = format!(
            "GET / HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\n\r\n",
            "a".repeat(9 * 1024)
        );
        expect_refusal(server, request.as_bytes(), 431);
        // Just under the limit is fine.
        let mut stream = server.connect();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\n\r\n",
            "a".repeat(7 * 1024)
        );
        send(&stream, request.as_bytes());
        assert_hello(&read_response(&mut stream));
    });
}

fn oversized_body_gets_413_then_close(kind: SelectorKind) {
    with_server(kind, |server| {
        expect_refusal(
            server,
            b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 2000000\r\n\r\n",
            413,
        );
    });
}

fn request_sent_byte_by_byte(kind: SelectorKind) {
    with_server(kind, |server| {
        let mut stream = server.connect();
        let request = b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nslow!";
        for byte in request.iter().chain(get("/").as_bytes()) {
            send(&stream, std::slice::from_ref(byte));
            thread::sleep(Duration::from_millis(1));
        }
        let response = read_response(&mut stream);
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(response.text(), "slow!");
        assert_hello(&read_response(&mut stream));
    });
}

fn post_body_then_pipelined_get(kind: SelectorKind) {
    with_server(kind, |server| {
        let mut stream = server.connect();
        let body = "ping\r\n\r\nGET /not-a-request HTTP/1.1\r\n\r\n"; // looks like a head
        let requests = format!(
            "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}{}",
            body.len(),
            get("/")
        );
        send(&stream, requests.as_bytes());
        let response = read_response(&mut stream);
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(
            response.header("Content-Type"),
            Some("application/octet-stream")
        );
        assert_eq!(response.text(), body);
        assert_hello(&read_response(&mut stream));

        // A body to an unknown path is read too, so the next request parses.
        let requests = format!(
            "POST /nope HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nabc{}",
            get("/")
        );
        send(&stream, requests.as_bytes());
        assert_eq!(read_response(&mut stream).status, 404);
        assert_hello(&read_response(&mut stream));

        // A large body in several writes.
        let body = vec![b'z'; 300 * 1024];
        let head = format!(
            "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        send(&stream, head.as_bytes());
        for chunk in body.chunks(64 * 1024) {
            send(&stream, chunk);
        }
        let response = read_response(&mut stream);
        assert_eq!(response.status, 200);
        assert!(response.body == body, "the echoed body differs");
    });
}

fn a_bad_connection_does_not_affect_others(kind: SelectorKind) {
    with_server(kind, |server| {
        let mut good = server.connect();
        send(&good, get("/").as_bytes());
        assert_hello(&read_response(&mut good));
        expect_refusal(server, b"NOT HTTP AT ALL\r\n\r\n", 400);
        // A client that vanishes mid-body.
        let gone = server.connect();
        send(
            &gone,
            b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nabc",
        );
        drop(gone);
        send(&good, get("/").as_bytes());
        assert_hello(&read_response(&mut good));
    });
}

per_kind! {
    get_root_returns_hello_world,
    unknown_path_returns_404,
    wrong_method_returns_405_with_allow,
    head_returns_headers_only,
    pipelined_requests_are_answered_in_order,
    keep_alive_serves_sequential_requests,
    connection_close_closes_after_the_response,
    http_1_0_closes_unless_kept_alive,
    malformed_requests_get_400_then_close,
    other_http_versions_get_505,
    transfer_encoding_gets_501,
    oversized_header_gets_431_then_close,
    oversized_body_gets_413_then_close,
    request_sent_byte_by_byte,
    post_body_then_pipelined_get,
    a_bad_connection_does_not_affect_others,
}
