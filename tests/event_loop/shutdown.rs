//! Graceful shutdown (`EventLoop::shutdown`, `Context::shutdown_loop`, `LoopHandle::shutdown`):
//! listeners close at once, every channel is told (`handle_shutdown`) and by default closes
//! once its output has drained (a chat channel: once its queued replies are sent), what is
//! left is cut off when the grace period ends, and `run` returns.
//!
//! Each test arms a safety-net timer of [`LIMIT`] that stops the loop and says so: a
//! shutdown that does not end by itself fails the test instead of hanging it. Grace periods
//! are an hour where the shutdown must end without the grace timer.

use std::io::{self, Read};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use ioloop::chat::{AsyncChat, ChatChannel, ChatConfig, ChatHandler};
use ioloop::selector::SelectorKind;
use ioloop::socket2::{SockAddr, Socket};
use ioloop::{Dispatcher, EventLoop, SendBuffer};

use crate::common::event_loop::{Log, run_until};
use crate::common::kinds::per_kind;
use crate::common::net::{expect_eof, is_reset, listener, send, tcp_pair};
use crate::common::{LIMIT, pattern};
use crate::dispatchers::{Cx, new_loop};

/// A grace period that never ends within a test: the shutdown must end by itself.
const HOUR: Duration = Duration::from_secs(3600);

/// More than the loopback connection's socket buffers hold while the peer does not read.
const LARGE: usize = 16 * 1024 * 1024;

/// Stops the loop after [`LIMIT`], logging "safety net": a test checks it did not fire.
fn arm_safety_net(event_loop: &mut EventLoop<Log>) {
    event_loop.schedule(LIMIT, |cx| {
        cx.state().push("safety net");
        cx.stop();
    });
}

/// Runs the loop to its end, and checks it ended with no channel left, by itself.
fn run_to_the_end(event_loop: &mut EventLoop<Log>) {
    arm_safety_net(event_loop);
    event_loop.run().expect("run");
    assert!(
        !event_loop.state().has("safety net"),
        "the shutdown did not end within {LIMIT:?}: {event_loop:?}"
    );
    assert!(event_loop.is_empty(), "channels left: {event_loop:?}");
}

/// A client connection with read and write timeouts of [`LIMIT`].
fn client(addr: std::net::SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream.set_write_timeout(Some(LIMIT)).unwrap();
    stream
}

/// Reads until end of file or a reset; returns what came first.
fn read_until_closed(mut stream: &TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return data,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_reset(&e) => return data,
            Err(e) => panic!("read after {} bytes: {e}", data.len()),
        }
    }
}

/// A listener whose connections are [`Download`]s of `reply` bytes.
struct Server {
    reply: usize,
}

impl Dispatcher<Log> for Server {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, socket: Socket, _: SockAddr) -> io::Result<()> {
        cx.spawn(socket, Download::new(self.reply))?;
        Ok(())
    }
}

/// Answers its first read (a request) with `pattern(reply, 1)` through a `SendBuffer`,
/// logging "request"; keeps the default `handle_shutdown`.
struct Download {
    out: SendBuffer,
    reply: usize,
    answered: bool,
}

impl Download {
    fn new(reply: usize) -> Download {
        Download {
            out: SendBuffer::new(),
            reply,
            answered: false,
        }
    }
}

impl Dispatcher<Log> for Download {
    fn writable(&self) -> bool {
        !self.out.is_empty()
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let n = cx.recv(&mut [0; 256])?;
        if n > 0 && !self.answered {
            self.answered = true;
            cx.state().push("request");
            self.out.send(cx, &pattern(self.reply, 1))?;
        }
        Ok(())
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        self.out.flush(cx)
    }
}

/// Reads and drops what comes; has nothing to send.
struct Idle;

impl Dispatcher<Log> for Idle {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.recv(&mut [0; 256])?;
        Ok(())
    }
}

fn shutdown_stops_accepting_sends_every_queued_reply_in_full_then_closes(kind: SelectorKind) {
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(listener, Server { reply: LARGE }).unwrap();
    let clients: Vec<TcpStream> = (0..3).map(|_| client(addr)).collect();
    for stream in &clients {
        send(stream, b"GET\n");
    }
    run_until(&mut event_loop, |log| log.count("request") == 3, LIMIT);

    event_loop.shutdown(HOUR);
    event_loop.run_once(Some(Duration::ZERO)).unwrap();
    // The listener closed at once; the connections wait for their peers to read.
    assert_eq!(event_loop.len(), 3, "{event_loop:?}");
    assert!(
        TcpStream::connect(addr).is_err(),
        "a connection was accepted after the shutdown began"
    );

    let readers: Vec<_> = clients
        .into_iter()
        .map(|stream| thread::spawn(move || read_until_closed(&stream)))
        .collect();
    run_to_the_end(&mut event_loop);
    let expected = pattern(LARGE, 1);
    for reader in readers {
        let reply = reader.join().expect("a reader panicked");
        assert_eq!(reply.len(), LARGE, "a reply was cut short");
        assert!(reply == expected, "a reply arrived altered");
    }
}

fn a_channel_whose_peer_never_reads_is_cut_off_when_the_grace_period_ends(kind: SelectorKind) {
    let (peer, conn) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(conn, Download::new(LARGE)).unwrap();
    send(&peer, b"GET\n");
    run_until(&mut event_loop, |log| log.has("request"), LIMIT);

    event_loop.shutdown(Duration::from_millis(200));
    run_to_the_end(&mut event_loop);
    // Closed with most of its reply still queued: the peer gets a part, then the close.
    let got = read_until_closed(&peer);
    assert!(got.len() < LARGE, "the whole reply came: not cut off");
    assert!(
        got[..] == pattern(LARGE, 1)[..got.len()],
        "the part that came is altered"
    );
}

fn shutdown_from_a_loop_handle_on_another_thread_closes_every_channel_and_run_returns(
    kind: SelectorKind,
) {
    let (peer, conn) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(listener(), Idle).unwrap();
    event_loop.spawn(conn, Idle).unwrap();
    let handle = event_loop.handle();
    let stopper = thread::spawn(move || handle.shutdown(HOUR));
    run_to_the_end(&mut event_loop);
    stopper.join().unwrap().expect("LoopHandle::shutdown");
    expect_eof(&peer);
}

/// Asks for a shutdown when it reads "quit", logging `is_shutting_down` before and after.
struct Quit;

impl Dispatcher<Log> for Quit {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0; 64];
        let n = cx.recv(&mut buf)?;
        if buf[..n].starts_with(b"quit") {
            let before = cx.is_shutting_down();
            cx.shutdown_loop(HOUR);
            let after = cx.is_shutting_down();
            cx.state().push(format!("quit: {before} then {after}"));
        }
        Ok(())
    }
}

fn shutdown_from_a_callback_and_a_second_call_only_shortens_the_grace(kind: SelectorKind) {
    let (quitter, quit_conn) = tcp_pair();
    let (reader, download_conn) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(quit_conn, Quit).unwrap();
    event_loop
        .spawn(download_conn, Download::new(LARGE))
        .unwrap();
    send(&reader, b"GET\n");
    run_until(&mut event_loop, |log| log.has("request"), LIMIT);

    send(&quitter, b"quit\n");
    run_until(&mut event_loop, |log| log.count_prefix("quit") == 1, LIMIT);
    assert!(event_loop.state().has("quit: false then true"));
    event_loop.run_once(Some(Duration::ZERO)).unwrap();
    // The quitter had nothing to send: closed; the download waits for its peer, which
    // never reads, for the hour's grace.
    expect_eof(&quitter);
    assert_eq!(event_loop.len(), 1, "{event_loop:?}");

    event_loop.shutdown(Duration::from_millis(100)); // shortens the hour
    event_loop.shutdown(HOUR); // does not lengthen it again
    run_to_the_end(&mut event_loop);
    assert!(read_until_closed(&reader).len() < LARGE);
}

/// The body of each chat reply: 50 of them are more than the socket buffers hold.
const BODY: usize = LARGE / 50;

/// Answers each line with "ok ", the line and a body of [`BODY`] bytes; logs "request" per
/// line.
struct Answer;

impl ChatHandler<Log> for Answer {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Cx<'_>,
        line: &[u8],
    ) -> io::Result<()> {
        cx.state().push("request");
        chat.push([b"ok ", line, b" "].concat())?;
        chat.push(vec![b'.'; BODY])?;
        chat.push(b"\n")
    }
}

fn a_chat_channel_answers_every_pipelined_request_received_then_closes(kind: SelectorKind) {
    const REQUESTS: usize = 50;
    let (peer, conn) = tcp_pair();
    let mut event_loop = new_loop(kind);
    // Reading must not pause while the replies pile up: all 50 are received first.
    let config = ChatConfig {
        high_water: 64 * 1024 * 1024,
        max_output: 64 * 1024 * 1024,
        ..ChatConfig::default()
    };
    event_loop
        .spawn(conn, AsyncChat::with_config(Answer, b"\n", config))
        .unwrap();
    let requests: Vec<u8> = (0..REQUESTS)
        .flat_map(|i| format!("request {i}\n").into_bytes())
        .collect();
    send(&peer, &requests);
    run_until(
        &mut event_loop,
        |log| log.count("request") == REQUESTS,
        LIMIT,
    );

    event_loop.shutdown(HOUR);
    let reader = thread::spawn(move || read_until_closed(&peer));
    run_to_the_end(&mut event_loop);
    let replies = reader.join().expect("the reader panicked");
    let expected: Vec<u8> = (0..REQUESTS)
        .flat_map(|i| {
            [
                format!("ok request {i} ").into_bytes(),
                vec![b'.'; BODY],
                b"\n".to_vec(),
            ]
            .concat()
        })
        .collect();
    assert_eq!(replies.len(), expected.len(), "not every reply came");
    assert!(replies == expected, "the replies arrived altered");
}

/// Overrides `handle_shutdown` to send a last word before its output drains.
#[derive(Default)]
struct LastWord {
    out: SendBuffer,
}

impl Dispatcher<Log> for LastWord {
    fn writable(&self) -> bool {
        !self.out.is_empty()
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        self.out.flush(cx)
    }

    fn handle_shutdown(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        self.out.send(cx, b"421 shutting down\r\n")?;
        cx.close_when_drained();
        Ok(())
    }
}

fn an_overridden_handle_shutdown_sends_a_last_word_before_the_close(kind: SelectorKind) {
    let (peer, conn) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(conn, LastWord::default()).unwrap();
    event_loop.shutdown(HOUR);
    run_to_the_end(&mut event_loop);
    assert_eq!(read_until_closed(&peer), b"421 shutting down\r\n");
}

/// Logs its opening and shutdown as "NAME opened" and "NAME shutdown" (then does what the
/// default does); spawns `late` from its `handle_shutdown`, if it has one.
struct Named {
    name: &'static str,
    late: Option<TcpStream>,
}

impl Dispatcher<Log> for Named {
    fn handle_opened(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push(format!("{} opened", self.name));
        Ok(())
    }

    fn handle_shutdown(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push(format!("{} shutdown", self.name));
        if let Some(late) = self.late.take() {
            let name = "late";
            cx.spawn(late, Named { name, late: None })?;
        }
        cx.close_when_drained();
        Ok(())
    }
}

fn a_channel_spawned_during_the_shutdown_is_told_as_it_opens(kind: SelectorKind) {
    let (first_peer, first_conn) = tcp_pair();
    let (late_peer, late_conn) = tcp_pair();
    let mut event_loop = new_loop(kind);
    let first = Named {
        name: "first",
        late: Some(late_conn),
    };
    event_loop.spawn(first_conn, first).unwrap();
    event_loop.shutdown(HOUR);
    run_to_the_end(&mut event_loop);
    let log = event_loop.state();
    assert_eq!(
        log.events,
        [
            "first opened",
            "first shutdown",
            "late opened",
            "late shutdown"
        ]
    );
    expect_eof(&first_peer);
    expect_eof(&late_peer);
}

fn run_until_stopped_returns_once_a_shutdown_leaves_no_channel(kind: SelectorKind) {
    // With a channel: the shutdown ends when it closes.
    let (peer, conn) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(conn, Idle).unwrap();
    event_loop.schedule(Duration::ZERO, |cx| cx.shutdown_loop(HOUR));
    arm_safety_net(&mut event_loop);
    event_loop.run_until_stopped().unwrap();
    assert!(!event_loop.state().has("safety net"));
    assert!(event_loop.is_empty());
    expect_eof(&peer);

    // With none: nothing to wait for.
    let mut event_loop = new_loop(kind);
    event_loop.schedule(Duration::ZERO, |cx| {
        cx.shutdown_loop(HOUR);
        let shutting_down = cx.is_shutting_down();
        cx.state().push(format!("shutting down: {shutting_down}"));
    });
    arm_safety_net(&mut event_loop);
    event_loop.run_until_stopped().unwrap();
    assert_eq!(event_loop.state().events, ["shutting down: false"]);
}

/// A `handle_shutdown` that fails (an error, or a panic) while `handle_error` keeps the
/// channel open; or, for a listener, one that does nothing.
enum Stubborn {
    Fails,
    Panics,
    KeepsListening,
}

impl Dispatcher<Log> for Stubborn {
    fn handle_shutdown(&mut self, _: &mut Cx<'_>) -> io::Result<()> {
        match self {
            Stubborn::Fails => Err(io::Error::other("will not")),
            Stubborn::Panics => panic!("will not either"),
            Stubborn::KeepsListening => Ok(()),
        }
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error: {error}"));
    }
}

fn a_channel_whose_handle_shutdown_fails_or_a_listener_that_ignores_it_is_closed(
    kind: SelectorKind,
) {
    let (failing_peer, failing) = tcp_pair();
    let (panicking_peer, panicking) = tcp_pair();
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(failing, Stubborn::Fails).unwrap();
    event_loop.spawn(panicking, Stubborn::Panics).unwrap();
    event_loop
        .spawn(listener, Stubborn::KeepsListening)
        .unwrap();
    event_loop.shutdown(HOUR);
    run_to_the_end(&mut event_loop);
    let log = event_loop.state();
    assert!(log.has("error: will not"), "{log:?}");
    assert!(
        log.has("error: handle_shutdown panicked: will not either"),
        "{log:?}"
    );
    expect_eof(&failing_peer);
    expect_eof(&panicking_peer);
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listener still accepts"
    );
}

per_kind! {
    shutdown_stops_accepting_sends_every_queued_reply_in_full_then_closes,
    a_channel_whose_peer_never_reads_is_cut_off_when_the_grace_period_ends,
    shutdown_from_a_loop_handle_on_another_thread_closes_every_channel_and_run_returns,
    shutdown_from_a_callback_and_a_second_call_only_shortens_the_grace,
    a_chat_channel_answers_every_pipelined_request_received_then_closes,
    an_overridden_handle_shutdown_sends_a_last_word_before_the_close,
    a_channel_spawned_during_the_shutdown_is_told_as_it_opens,
    run_until_stopped_returns_once_a_shutdown_leaves_no_channel,
    a_channel_whose_handle_shutdown_fails_or_a_listener_that_ignores_it_is_closed,
}
