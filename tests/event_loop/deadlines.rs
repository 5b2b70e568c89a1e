//! Deadlines owned by the loop (`Timeouts`): idle, message (a slowloris defence), drain and
//! connect limits reaching `handle_timeout`; a lingering close that lets an uploader read
//! its error reply; and the chat layer's output cap closing only the member that does not
//! read.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ioloop::chat::{AsyncChat, ChatChannel, ChatConfig, ChatHandler};
use ioloop::selector::SelectorKind;
use ioloop::socket2::{Domain, Socket, Type};
use ioloop::{Dispatcher, TimeoutKind, Timeouts};

use crate::common::LIMIT;
use crate::common::event_loop::{run_steps, run_until, run_until_eof, run_until_loop};
use crate::common::kinds::per_kind;
use crate::common::net::{send, tcp_pair};
use crate::dispatchers::{Cx, new_loop};

const MS: Duration = Duration::from_millis(1);

fn limits(idle: Option<Duration>, message: Option<Duration>, drain: Option<Duration>) -> Timeouts {
    Timeouts {
        idle,
        message,
        drain,
        ..Timeouts::NONE
    }
}

/// Echoes what it reads, with the given limits; logs each timeout, then closes.
struct Timed {
    timeouts: Timeouts,
}

impl Dispatcher<crate::common::event_loop::Log> for Timed {
    fn handle_opened(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.set_timeouts(self.timeouts);
        Ok(())
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let data = cx.recv_scratch(4096)?.to_vec();
        cx.send(&data)?;
        Ok(())
    }

    fn handle_timeout(&mut self, cx: &mut Cx<'_>, timeout: TimeoutKind) -> io::Result<()> {
        cx.state().push(timeout.to_string());
        cx.close();
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?}", error.kind()));
        cx.close();
    }
}

fn a_quiet_channel_is_closed_after_its_idle_limit(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (client, server) = tcp_pair();
    event_loop
        .spawn(
            server,
            Timed {
                timeouts: limits(Some(100 * MS), None, None),
            },
        )
        .unwrap();
    let before = run_until_eof(&mut event_loop, &client);
    assert!(before.is_empty());
    assert_eq!(event_loop.state().events, ["idle timeout"]);
    assert!(event_loop.is_empty());
}

fn traffic_keeps_an_idle_limit_from_expiring(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (client, server) = tcp_pair();
    event_loop
        .spawn(
            server,
            Timed {
                timeouts: limits(Some(1000 * MS), None, None),
            },
        )
        .unwrap();
    // 30 exchanges 50 ms apart: 1.5 s in all, longer than the limit, never idle for it.
    for round in 0..30u8 {
        send(&client, &[round]);
        client.set_nonblocking(true).unwrap();
        let mut got = [0u8; 1];
        run_until_loop(
            &mut event_loop,
            |_| matches!((&client).read(&mut got), Ok(1)),
            LIMIT,
        );
        client.set_nonblocking(false).unwrap();
        assert_eq!(got, [round]);
        let pause = Instant::now() + 50 * MS;
        while Instant::now() < pause {
            event_loop.run_once(Some(10 * MS)).unwrap();
        }
    }
    assert!(
        event_loop.state().events.is_empty(),
        "{:?}",
        event_loop.state()
    );
    assert_eq!(event_loop.len(), 1);
}

fn timeouts_none_removes_every_limit(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (_client, server) = tcp_pair();
    let token = event_loop
        .spawn(
            server,
            Timed {
                timeouts: limits(Some(20 * MS), None, None),
            },
        )
        .unwrap();
    run_steps(&mut event_loop, 1); // handle_opened sets the limit
    assert!(event_loop.set_timeouts(token, Timeouts::NONE));
    let until = Instant::now() + 200 * MS;
    while Instant::now() < until {
        event_loop.run_once(Some(20 * MS)).unwrap();
    }
    assert!(event_loop.state().events.is_empty());
    assert_eq!(event_loop.len(), 1);
    event_loop.close(token);
    assert!(
        !event_loop.set_timeouts(token, Timeouts::NONE),
        "a closed channel"
    );
}

/// A line echo whose timeouts are logged before the default close.
struct Lines;

impl ChatHandler<crate::common::event_loop::Log> for Lines {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        _: &mut Cx<'_>,
        line: &[u8],
    ) -> io::Result<()> {
        chat.push([line, b"\n"].concat())
    }

    fn handle_timeout(
        &mut self,
        _: &mut ChatChannel,
        cx: &mut Cx<'_>,
        timeout: TimeoutKind,
    ) -> io::Result<()> {
        cx.state().push(timeout.to_string());
        cx.close();
        Ok(())
    }

    fn handle_error(&mut self, _: &mut ChatChannel, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?}", error.kind()));
        cx.close();
    }
}

fn chat_config(timeouts: Timeouts) -> ChatConfig {
    ChatConfig {
        timeouts,
        ..ChatConfig::default()
    }
}

fn a_trickled_line_times_out_though_its_bytes_keep_coming(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (trickler, server) = tcp_pair();
    let (steady, other) = tcp_pair();
    let config = chat_config(limits(Some(10_000 * MS), Some(300 * MS), None));
    event_loop
        .spawn(server, AsyncChat::with_config(Lines, b"\n", config))
        .unwrap();
    event_loop
        .spawn(other, AsyncChat::with_config(Lines, b"\n", config))
        .unwrap();
    // One byte every 20 ms of a 200-byte line: 4 s to finish, far past the message limit,
    // though never idle. Meanwhile another client is served.
    trickler.set_nonblocking(true).unwrap();
    steady.set_nonblocking(true).unwrap();
    let mut sent = 0;
    let mut answers = Vec::new();
    let deadline = Instant::now() + LIMIT;
    loop {
        assert!(Instant::now() < deadline, "the trickler was never dropped");
        if sent < 200 && (&trickler).write(b"x").is_ok() {
            sent += 1;
        }
        send(&steady, b"ping\n");
        event_loop.run_once(Some(20 * MS)).unwrap();
        let mut buf = [0u8; 256];
        while let Ok(n) = (&steady).read(&mut buf) {
            answers.extend_from_slice(&buf[..n]);
        }
        match (&trickler).read(&mut buf) {
            Ok(0) => break,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => panic!("the trickler got {other:?}"),
        }
        thread::sleep(20 * MS);
    }
    assert!(
        sent < 200,
        "closed only after the whole line ({sent} bytes)"
    );
    // The steady client was answered while the trickle went on.
    assert!(answers.starts_with(b"ping\nping\n"), "{answers:?}");
    assert_eq!(event_loop.state().events, ["message timeout"]);
    assert_eq!(event_loop.len(), 1, "the steady client's channel stays");
}

fn a_peer_that_never_reads_is_dropped_after_the_drain_limit(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (_client, server) = tcp_pair(); // `_client` never reads
    struct Flood;
    impl ChatHandler<crate::common::event_loop::Log> for Flood {
        fn handle_opened(&mut self, chat: &mut ChatChannel, _: &mut Cx<'_>) -> io::Result<()> {
            // Endless output, made only as the socket takes it.
            chat.push_with_producer(|| Some(vec![b'x'; 64 * 1024]))
        }
        fn found_terminator(
            &mut self,
            _: &mut ChatChannel,
            _: &mut Cx<'_>,
            _: &[u8],
        ) -> io::Result<()> {
            Ok(())
        }
        fn handle_timeout(
            &mut self,
            _: &mut ChatChannel,
            cx: &mut Cx<'_>,
            timeout: TimeoutKind,
        ) -> io::Result<()> {
            cx.state().push(timeout.to_string());
            cx.close();
            Ok(())
        }
    }
    let config = chat_config(limits(None, None, Some(200 * MS)));
    event_loop
        .spawn(server, AsyncChat::with_config(Flood, b"\n", config))
        .unwrap();
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    assert_eq!(event_loop.state().events, ["drain timeout"]);
}

/// Where a connect hangs: a loopback listener whose accept queue is full, so the host drops
/// further SYNs. `None` where the platform refuses such connects at once instead (Windows
/// answers a full backlog with a reset).
fn hanging_address() -> Option<(Socket, Vec<TcpStream>, SocketAddr)> {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match TcpStream::connect_timeout(&addr, 300 * MS) {
            Ok(stream) => fillers.push(stream),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Some((listener, fillers, addr));
            }
            Err(_) => return None,
        }
    }
    None
}

fn a_connect_that_hangs_times_out_as_an_error(kind: SelectorKind) {
    let Some((_listener, _fillers, addr)) = hanging_address() else {
        eprintln!("skipped: a full accept queue does not make a connect hang here");
        return;
    };
    let mut event_loop = new_loop(kind);
    // The channel sets its connect limit in handle_opened, while the connect is under way.
    let connect = Timeouts {
        connect: Some(150 * MS),
        ..Timeouts::NONE
    };
    event_loop
        .connect(addr, Timed { timeouts: connect })
        .unwrap();
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    // The Timed dispatcher logs and closes on its own handle_timeout; a connect's limit
    // reaches it as any other.
    assert_eq!(event_loop.state().events, ["connect timeout"]);
}

/// The default `handle_timeout` makes an expired connect a `TimedOut` error.
fn a_connect_timeout_reaches_handle_error_by_default(kind: SelectorKind) {
    let Some((_listener, _fillers, addr)) = hanging_address() else {
        eprintln!("skipped: a full accept queue does not make a connect hang here");
        return;
    };
    struct Client;
    impl Dispatcher<crate::common::event_loop::Log> for Client {
        fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
            cx.state().push(format!("error {:?}", error.kind()));
            cx.close();
        }
    }
    let mut event_loop = new_loop(kind);
    event_loop
        .handle()
        .call_soon_threadsafe(move |cx| {
            let token = cx.connect(addr, Client).unwrap();
            assert!(cx.set_timeouts_for(
                token,
                Timeouts {
                    connect: Some(150 * MS),
                    ..Timeouts::NONE
                }
            ));
        })
        .unwrap();
    run_until(&mut event_loop, |log| !log.events.is_empty(), LIMIT);
    assert_eq!(event_loop.state().events, ["error TimedOut"]);
}

/// Refuses an upload with a short reply and `close_when_done`, lingering or not.
struct Refuse;

impl ChatHandler<crate::common::event_loop::Log> for Refuse {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        _: &mut Cx<'_>,
        _: &[u8],
    ) -> io::Result<()> {
        chat.push("413 too large\r\n")?;
        chat.close_when_done();
        Ok(())
    }
}

fn a_lingering_close_lets_an_uploader_read_its_error_reply(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (mut client, server) = tcp_pair();
    let config = ChatConfig {
        linger: Some(5000 * MS),
        ..ChatConfig::default()
    };
    event_loop
        .spawn(server, AsyncChat::with_config(Refuse, b"\n", config))
        .unwrap();
    // The uploader sends its whole body before it reads, as http.client does.
    let uploader = thread::spawn(move || -> io::Result<String> {
        client.write_all(b"PUT\n")?;
        client.write_all(&vec![b'x'; 4 << 20])?;
        client.shutdown(Shutdown::Write)?;
        let mut reply = String::new();
        client.read_to_string(&mut reply)?;
        Ok(reply)
    });
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    let reply = uploader
        .join()
        .unwrap()
        .expect("the upload and the reply, not a reset");
    assert_eq!(reply, "413 too large\r\n");
}

fn a_lingering_close_ends_at_its_limit_if_the_peer_keeps_the_connection(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (client, server) = tcp_pair();
    let config = ChatConfig {
        linger: Some(200 * MS),
        ..ChatConfig::default()
    };
    event_loop
        .spawn(server, AsyncChat::with_config(Refuse, b"\n", config))
        .unwrap();
    send(&client, b"PUT\n");
    // The client reads the reply and the end of file but never closes its side.
    assert_eq!(
        run_until_eof(&mut event_loop, &client),
        b"413 too large\r\n"
    );
    assert_eq!(
        event_loop.len(),
        1,
        "lingering: the socket is kept for the peer"
    );
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
}

/// A room member: pushes are made by the test through `get_mut`; handle_error is logged.
struct Member(&'static str);

impl ChatHandler<crate::common::event_loop::Log> for Member {
    fn found_terminator(
        &mut self,
        _: &mut ChatChannel,
        _: &mut Cx<'_>,
        _: &[u8],
    ) -> io::Result<()> {
        Ok(())
    }

    fn handle_error(&mut self, _: &mut ChatChannel, cx: &mut Cx<'_>, error: io::Error) {
        cx.state()
            .push(format!("{} error {:?}", self.0, error.kind()));
        cx.close();
    }
}

fn a_push_past_max_output_closes_only_the_member_that_does_not_read(kind: SelectorKind) {
    let mut event_loop = new_loop(kind);
    let (reader, reader_end) = tcp_pair();
    let (_sleeper, sleeper_end) = tcp_pair(); // never reads
    let config = ChatConfig {
        max_output: 1024 * 1024,
        ..ChatConfig::default()
    };
    let members = [
        event_loop
            .spawn(
                reader_end,
                AsyncChat::with_config(Member("reader"), b"\n", config),
            )
            .unwrap(),
        event_loop
            .spawn(
                sleeper_end,
                AsyncChat::with_config(Member("sleeper"), b"\n", config),
            )
            .unwrap(),
    ];
    let line: Arc<[u8]> = vec![b'y'; 64 * 1024].into();
    reader.set_nonblocking(true).unwrap();
    let mut refused = None;
    let mut read = 0usize;
    let mut buf = vec![0; 256 * 1024];
    // Say a 64 KiB line to both, again and again, as a room would; the reader keeps up.
    for said in 0..2000 {
        for &member in &members {
            let Some(chat) = event_loop.get_mut::<AsyncChat<Member>>(member) else {
                continue;
            };
            if let Err(e) = chat.push(&line) {
                refused.get_or_insert((said, e.kind()));
            }
        }
        event_loop.run_once(Some(MS)).unwrap();
        while let Ok(n) = (&reader).read(&mut buf) {
            read += n;
        }
        if event_loop.len() == 1 {
            break;
        }
    }
    let (_, kind_refused) = refused.expect("the sleeper's queue reached its cap");
    assert_eq!(kind_refused, io::ErrorKind::OutOfMemory);
    assert_eq!(event_loop.state().events, ["sleeper error OutOfMemory"]);
    assert_eq!(event_loop.len(), 1, "only the sleeper is dropped");
    // The reader got every line said so far, and is still served.
    let chat = event_loop.get_mut::<AsyncChat<Member>>(members[0]).unwrap();
    chat.push("still here\n").unwrap();
    let deadline = Instant::now() + LIMIT;
    let mut tail = Vec::new();
    while !tail.ends_with(b"still here\n") {
        assert!(Instant::now() < deadline);
        event_loop.run_once(Some(10 * MS)).unwrap();
        while let Ok(n) = (&reader).read(&mut buf) {
            read += n;
            tail.extend_from_slice(&buf[..n]);
            let keep = tail.len().saturating_sub(64);
            tail.drain(..keep);
        }
    }
    assert_eq!((read - 11) % line.len(), 0, "whole lines only");
}

per_kind! {
    a_quiet_channel_is_closed_after_its_idle_limit,
    traffic_keeps_an_idle_limit_from_expiring,
    timeouts_none_removes_every_limit,
    a_trickled_line_times_out_though_its_bytes_keep_coming,
    a_peer_that_never_reads_is_dropped_after_the_drain_limit,
    a_connect_that_hangs_times_out_as_an_error,
    a_connect_timeout_reaches_handle_error_by_default,
    a_lingering_close_lets_an_uploader_read_its_error_reply,
    a_lingering_close_ends_at_its_limit_if_the_peer_keeps_the_connection,
    a_push_past_max_output_closes_only_the_member_that_does_not_read,
}
