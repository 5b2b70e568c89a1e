//! Reading, writing and the peer's close: `handle_read`, `handle_write` while `writable()`
//! says so, `handle_close` once, resets, `recv_append`, out-of-band data.

use std::cell::Cell;
use std::io::{self, IoSlice, Write};
use std::net::{Shutdown, TcpStream};
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use ioloop::Dispatcher;
use ioloop::selector::SelectorKind;
use socket2::SockRef;

use crate::common::event_loop::{Log, run_steps, run_until, run_until_loop, run_until_read};
use crate::common::kinds::per_kind;
use crate::common::net::{assert_closed, tcp_pair};
use crate::common::{LIMIT, pattern};
use crate::dispatchers::{Appender, Cx, Reader, Sender, check_appended, new_loop};

fn handle_read_receives_what_the_peer_sent(kind: SelectorKind) {
    let (peer, local) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(local, Reader::default()).unwrap();
    let sent = pattern(200_000, 1);
    let writer = {
        let sent = sent.clone();
        let mut peer = peer.try_clone().unwrap();
        thread::spawn(move || peer.write_all(&sent))
    };
    run_until(&mut event_loop, |log| log.data.len() >= sent.len(), LIMIT);
    writer.join().unwrap().unwrap();
    assert_eq!(event_loop.state().data, sent);
    assert!(!event_loop.state().has("close"));
    peer.shutdown(Shutdown::Both).unwrap();
}

fn handle_write_is_called_while_writable_says_so_and_not_after(kind: SelectorKind) {
    let (peer, local) = tcp_pair();
    let mut event_loop = new_loop(kind);
    let message = b"hello over handle_write".to_vec();
    event_loop
        .spawn(
            local,
            Sender {
                pending: message.clone(),
            },
        )
        .unwrap();
    assert_eq!(
        run_until_read(&mut event_loop, &peer, message.len()),
        message
    );
    run_until(&mut event_loop, |log| log.has("sent all"), LIMIT);
    let writes = event_loop.state().count("write");
    assert!(writes >= 1);
    run_steps(&mut event_loop, 5);
    assert_eq!(
        event_loop.state().count("write"),
        writes,
        "handle_write ran after writable() turned false"
    );
}

fn handle_close_is_called_once_when_the_peer_closes(kind: SelectorKind) {
    let (mut peer, local) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(local, Reader::default()).unwrap();
    peer.write_all(b"bye").unwrap();
    drop(peer);
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    let log = event_loop.state();
    assert_eq!(log.data, b"bye");
    assert_eq!(log.count("close"), 1, "{:?}", log.events);
    assert_eq!(log.count_prefix("error"), 0, "{:?}", log.events);
}

fn recv_append_appends_at_most_max_bytes_and_reads_end_of_file_as_zero(kind: SelectorKind) {
    let (peer, local) = tcp_pair();
    let mut event_loop = new_loop(kind);
    let max = 1000;
    event_loop.spawn(local, Appender::new(max)).unwrap();
    let sent = pattern(300_000, 5);
    let writer = {
        let sent = sent.clone();
        let mut peer = peer;
        thread::spawn(move || peer.write_all(&sent))
    };
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    writer.join().unwrap().unwrap();
    check_appended(event_loop.state(), &sent, max);
}

/// Logs `handle_close` but keeps the channel open.
struct KeepOpen;

impl Dispatcher<Log> for KeepOpen {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 1024];
        let n = cx.recv(&mut buf)?;
        cx.state().data.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        Ok(())
    }
}

fn handle_close_that_keeps_the_channel_open_is_not_called_again_and_the_loop_closes_it(
    kind: SelectorKind,
) {
    let (peer, local) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(local, KeepOpen).unwrap();
    drop(peer);
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    assert_eq!(event_loop.state().count("close"), 1);
}

/// Closes `stream` with a reset (SO_LINGER 0) rather than a FIN.
fn reset(stream: TcpStream) {
    SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

/// Writes forever (until the connection breaks), reading nothing.
struct Flooder;

impl Dispatcher<Log> for Flooder {
    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.send(&[7u8; 16 * 1024])?;
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        cx.close();
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
        cx.close();
    }
}

fn writing_to_a_reset_connection_calls_handle_close_not_handle_error(kind: SelectorKind) {
    let (peer, local) = tcp_pair();
    reset(peer);
    let mut event_loop = new_loop(kind);
    event_loop.spawn(local, Flooder).unwrap();
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    let log = event_loop.state();
    assert_eq!(log.events, ["close"]);
}

/// Sends its parts with `send_vectored`, resuming from the byte where the socket stopped.
struct VectoredSender {
    parts: Vec<Vec<u8>>,
    /// Bytes sent over all parts.
    sent: usize,
    /// A flood: sends the same parts again and again, until the connection breaks.
    forever: bool,
}

impl Dispatcher<Log> for VectoredSender {
    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        self.forever || self.sent < self.parts.iter().map(Vec::len).sum()
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut skip = self.sent;
        let mut slices = Vec::new();
        for part in &self.parts {
            let from = skip.min(part.len());
            skip -= from;
            slices.push(IoSlice::new(&part[from..]));
        }
        let n = cx.send_vectored(&slices)?;
        self.sent += n;
        if self.forever {
            self.sent = 0;
        } else if n > 0 {
            cx.state().push("write");
        }
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        cx.close();
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
        cx.close();
    }
}

/// Parts larger than the socket's buffers, an empty one among them: the socket takes part
/// of a vectored send, ending inside a part, and the next send resumes at the next byte.
fn send_vectored_sends_every_part_in_order_resuming_where_the_socket_stopped(kind: SelectorKind) {
    let (peer, local) = tcp_pair();
    let mut event_loop = new_loop(kind);
    let parts = vec![
        pattern(700_000, 1),
        b"small".to_vec(),
        Vec::new(),
        pattern(1_300_001, 2),
        b"!".to_vec(),
    ];
    let expected = parts.concat();
    // Small buffers (no autotuning), so that the socket cannot take it all at once.
    SockRef::from(&local)
        .set_send_buffer_size(64 * 1024)
        .unwrap();
    SockRef::from(&peer)
        .set_recv_buffer_size(64 * 1024)
        .unwrap();
    event_loop
        .spawn(
            local,
            VectoredSender {
                parts,
                sent: 0,
                forever: false,
            },
        )
        .unwrap();
    let got = run_until_read(&mut event_loop, &peer, expected.len());
    assert!(got == expected, "the bytes differ");
    assert!(
        event_loop.state().count("write") > 1,
        "the socket took it all at once"
    );
}

/// As `send`: a broken connection is `handle_close`, not an error.
fn send_vectored_to_a_reset_connection_calls_handle_close_not_handle_error(kind: SelectorKind) {
    let (peer, local) = tcp_pair();
    reset(peer);
    let mut event_loop = new_loop(kind);
    let sender = VectoredSender {
        parts: vec![vec![7; 8 * 1024], vec![8; 8 * 1024]],
        sent: 0,
        forever: true,
    };
    event_loop.spawn(local, sender).unwrap();
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    assert_eq!(event_loop.state().events, ["close"]);
}

fn reading_a_reset_connection_calls_handle_close_not_handle_error(kind: SelectorKind) {
    let (mut peer, local) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(local, Reader::default()).unwrap();
    peer.write_all(b"before the reset").unwrap();
    run_until(&mut event_loop, |log| log.data.len() == 16, LIMIT);
    reset(peer);
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    let log = event_loop.state();
    assert_eq!(log.count("close"), 1, "{:?}", log.events);
    assert_eq!(log.count_prefix("error"), 0, "{:?}", log.events);
}

/// Returns a disconnect error of its own making from `handle_read`.
struct ReturnsReset;

impl Dispatcher<Log> for ReturnsReset {
    fn handle_read(&mut self, _: &mut Cx<'_>) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::ConnectionReset, "made up"))
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        cx.close();
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
        cx.close();
    }
}

fn a_handler_returning_a_disconnect_error_gets_handle_close_not_handle_error(kind: SelectorKind) {
    let (mut peer, local) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(local, ReturnsReset).unwrap();
    peer.write_all(b"x").unwrap();
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    assert_eq!(event_loop.state().events, ["close"]);
    assert_closed(&peer);
}

/// Returns `WouldBlock` from its first `handle_read` without reading, then reads.
#[derive(Default)]
struct SpuriousFirst {
    calls: usize,
}

impl Dispatcher<Log> for SpuriousFirst {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        self.calls += 1;
        cx.state().push("read");
        if self.calls == 1 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut buf = [0u8; 64];
        let n = cx.recv(&mut buf)?;
        cx.state().data.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?}", error.kind()));
    }
}

fn a_handler_returning_would_block_is_ignored(kind: SelectorKind) {
    let (mut peer, local) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(local, SpuriousFirst::default()).unwrap();
    peer.write_all(b"data").unwrap();
    run_until(&mut event_loop, |log| log.data == b"data", LIMIT);
    let log = event_loop.state();
    assert_eq!(log.count("read"), 2, "{:?}", log.events);
    assert_eq!(log.count_prefix("error"), 0, "{:?}", log.events);
    assert_eq!(event_loop.len(), 1);
}

/// Reads out-of-band data in `handle_expt`.
#[cfg(any(target_os = "linux", target_os = "android"))]
struct OobReader;

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Dispatcher<Log> for OobReader {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 64];
        let n = cx.recv(&mut buf)?;
        cx.state().data.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_expt(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut byte = [std::mem::MaybeUninit::new(0u8)];
        let socket = cx.socket().expect("a socket");
        let n = socket.recv_out_of_band(&mut byte)?;
        // SAFETY: `recv_out_of_band` initialised the first `n` bytes (and it was initialised
        // before anyway).
        let value = unsafe { byte[0].assume_init() };
        cx.state().push(format!("expt {n} {}", value as char));
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn out_of_band_data_calls_handle_expt(kind: SelectorKind) {
    // epoll, poll and select all report urgent data on Linux.
    let (mut peer, local) = tcp_pair();
    let mut event_loop = new_loop(kind);
    event_loop.spawn(local, OobReader).unwrap();
    peer.write_all(b"ab").unwrap();
    SockRef::from(&peer).send_out_of_band(b"!").unwrap();
    run_until(&mut event_loop, |log| log.has("expt 1 !"), LIMIT);
    peer.write_all(b"cd").unwrap();
    run_until(&mut event_loop, |log| log.data == b"abcd", LIMIT);
    let log = event_loop.state();
    assert_eq!(log.count_prefix("expt"), 1, "{:?}", log.events);
    assert_eq!(log.count_prefix("error"), 0, "{:?}", log.events);
}

/// Keeps the default `handle_read`; counts the loop's `readable()` questions (asked after
/// every callback of the channel) and logs `handle_close`.
struct DefaultReader {
    asked: Rc<Cell<usize>>,
}

impl Dispatcher<Log> for DefaultReader {
    fn readable(&self) -> bool {
        self.asked.set(self.asked.get() + 1);
        true
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        cx.close();
        Ok(())
    }
}

fn the_default_handle_read_drains_the_socket_and_end_of_file_still_reaches_handle_close(
    kind: SelectorKind,
) {
    let (mut peer, local) = tcp_pair();
    let asked = Rc::new(Cell::new(0));
    let mut event_loop = new_loop(kind);
    event_loop
        .spawn(
            local,
            DefaultReader {
                asked: asked.clone(),
            },
        )
        .unwrap();
    run_steps(&mut event_loop, 2);
    let idle = asked.get();
    peer.write_all(&pattern(1000, 2)).unwrap();
    run_until_loop(&mut event_loop, |_| asked.get() > idle, LIMIT);
    // The bytes were read and dropped: nothing is left to report. Data left unread keeps
    // the socket readable, and the loop would call handle_read on every iteration.
    let before = asked.get();
    run_steps(&mut event_loop, 30);
    let calls = asked.get() - before;
    assert!(
        calls <= 3,
        "the channel was dispatched {calls} times in 30 iterations after one message"
    );
    assert_eq!(event_loop.len(), 1);
    // More than one read's worth (64 KiB), then end of file: handle_close once.
    peer.write_all(&pattern(200_000, 3)).unwrap();
    drop(peer);
    run_until_loop(&mut event_loop, |event_loop| event_loop.is_empty(), LIMIT);
    assert_eq!(event_loop.state().events, ["close"]);
}

per_kind! {
    handle_read_receives_what_the_peer_sent,
    handle_write_is_called_while_writable_says_so_and_not_after,
    handle_close_is_called_once_when_the_peer_closes,
    recv_append_appends_at_most_max_bytes_and_reads_end_of_file_as_zero,
    handle_close_that_keeps_the_channel_open_is_not_called_again_and_the_loop_closes_it,
    writing_to_a_reset_connection_calls_handle_close_not_handle_error,
    reading_a_reset_connection_calls_handle_close_not_handle_error,
    a_handler_returning_a_disconnect_error_gets_handle_close_not_handle_error,
    a_handler_returning_would_block_is_ignored,
    the_default_handle_read_drains_the_socket_and_end_of_file_still_reaches_handle_close,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    out_of_band_data_calls_handle_expt,
    send_vectored_sends_every_part_in_order_resuming_where_the_socket_stopped,
    send_vectored_to_a_reset_connection_calls_handle_close_not_handle_error,
}
