//! Unix sources other than TCP streams: pipes and Unix-domain listeners. Unix only (the
//! module is declared under `#[cfg(unix)]`).

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::thread;
use std::time::Instant;

use ioloop::Dispatcher;
use ioloop::selector::SelectorKind;
use socket2::{SockAddr, Socket};

use crate::common::event_loop::{Log, STEP, run_until, run_until_loop};
use crate::common::kinds::per_kind;
use crate::common::{LIMIT, pattern};
use crate::dispatchers::{Appender, Cx, Reader, Sender, check_appended, new_loop};

fn a_pipe_read_end_gets_handle_read_then_handle_close_when_the_writer_closes(kind: SelectorKind) {
    let (read_end, write_end) = rustix::pipe::pipe().expect("pipe");
    let mut event_loop = new_loop(kind);
    event_loop.spawn(read_end, Reader::default()).unwrap();
    let mut writer = std::fs::File::from(write_end);
    writer.write_all(b"through a pipe").unwrap();
    run_until(&mut event_loop, |log| log.data.len() == 14, LIMIT);
    assert_eq!(event_loop.state().data, b"through a pipe");
    drop(writer);
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    let log = event_loop.state();
    assert_eq!(log.count("close"), 1, "{:?}", log.events);
    assert_eq!(log.count_prefix("error"), 0, "{:?}", log.events);
}

fn recv_append_reads_a_pipe(kind: SelectorKind) {
    let (read_end, write_end) = rustix::pipe::pipe().expect("pipe");
    let mut event_loop = new_loop(kind);
    let max = 4096;
    event_loop.spawn(read_end, Appender::new(max)).unwrap();
    let sent = pattern(100_000, 6);
    let writer = {
        let sent = sent.clone();
        let mut writer = std::fs::File::from(write_end);
        thread::spawn(move || writer.write_all(&sent))
    };
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    writer.join().unwrap().unwrap();
    check_appended(event_loop.state(), &sent, max);
}

fn a_pipe_write_end_gets_handle_write(kind: SelectorKind) {
    let (read_end, write_end) = rustix::pipe::pipe().expect("pipe");
    let mut event_loop = new_loop(kind);
    let message = pattern(10_000, 3);
    event_loop
        .spawn(
            write_end,
            Sender {
                pending: message.clone(),
            },
        )
        .unwrap();
    run_until(&mut event_loop, |log| log.has("sent all"), LIMIT);
    let mut reader = std::fs::File::from(read_end);
    let mut received = vec![0; message.len()];
    reader.read_exact(&mut received).unwrap();
    assert_eq!(received, message);
}

/// Accepts Unix-domain connections and echoes what each sends.
struct UnixEchoServer;

impl Dispatcher<Log> for UnixEchoServer {
    fn handle_accepted(
        &mut self,
        cx: &mut Cx<'_>,
        socket: Socket,
        _addr: SockAddr,
    ) -> io::Result<()> {
        let accepting = cx.is_accepting();
        cx.state()
            .push(format!("unix accepted accepting={accepting}"));
        cx.spawn(socket, UnixEcho)?;
        Ok(())
    }
}

struct UnixEcho;

impl Dispatcher<Log> for UnixEcho {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 256];
        let n = cx.recv(&mut buf)?;
        let sent = cx.send(&buf[..n])?;
        assert_eq!(sent, n, "a short reply fits in an empty socket buffer");
        Ok(())
    }
}

fn a_unix_domain_listener_accepts_and_its_connections_echo(kind: SelectorKind) {
    let path = std::env::temp_dir().join(format!("ioloop-test-{}-{kind}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(listener, UnixEchoServer).unwrap();
    let mut client = UnixStream::connect(&path).unwrap();
    client.set_nonblocking(true).unwrap();
    client.write_all(b"over a unix socket").unwrap();
    let mut echoed = Vec::new();
    let deadline = Instant::now() + LIMIT;
    while echoed.len() < 18 {
        assert!(
            Instant::now() < deadline,
            "no echo within {LIMIT:?}: {echoed:?}"
        );
        event_loop.run_once(Some(STEP)).unwrap();
        let mut buf = [0u8; 64];
        match client.read(&mut buf) {
            Ok(n) => echoed.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("reading the echo: {e}"),
        }
    }
    assert_eq!(echoed, b"over a unix socket");
    assert!(
        event_loop.state().has("unix accepted accepting=true"),
        "{:?}",
        event_loop.state().events
    );
    drop(event_loop);
    let _ = std::fs::remove_file(&path);
}

per_kind! {
    a_pipe_read_end_gets_handle_read_then_handle_close_when_the_writer_closes,
    recv_append_reads_a_pipe,
    a_pipe_write_end_gets_handle_write,
    a_unix_domain_listener_accepts_and_its_connections_echo,
}
