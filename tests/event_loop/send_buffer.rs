//! `SendBuffer` (asyncore's `dispatcher_with_send`) embedded in a dispatcher: what the
//! socket does not take now goes out as it drains, complete and in order, and the
//! dispatcher stops asking to write once the buffer is empty.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ioloop::selector::SelectorKind;
use ioloop::{Dispatcher, EventLoop, SendBuffer};
use socket2::SockRef;

use crate::common::event_loop::{Log, run_steps, run_until};
use crate::common::kinds::per_kind;
use crate::common::net::{recv_exact, tcp_pair};
use crate::common::{LIMIT, pattern};
use crate::dispatchers::{Cx, new_loop};

const TOTAL: usize = 4 * 1024 * 1024;

/// Sends `TOTAL` bytes through its `SendBuffer` when opened, in two halves (the second
/// queued behind the first); writable while the buffer holds something. Logs what is
/// pending after each step, and `handle_write` calls after the buffer drained.
struct BufferedSender {
    out: SendBuffer,
    data: Vec<u8>,
    drained: bool,
    /// Drop what is pending right after the first send instead.
    clear: bool,
}

impl BufferedSender {
    fn new(data: Vec<u8>, clear: bool) -> BufferedSender {
        BufferedSender {
            out: SendBuffer::new(),
            data,
            drained: false,
            clear,
        }
    }

    fn log_pending(&self, cx: &mut Cx<'_>, when: &str) {
        let (len, empty) = (self.out.len(), self.out.is_empty());
        assert_eq!(empty, len == 0, "is_empty() disagrees with len() {len}");
        cx.state().push(format!("{when} pending {len}"));
    }
}

impl Dispatcher<Log> for BufferedSender {
    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        !self.out.is_empty()
    }

    fn handle_opened(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        assert!(self.out.is_empty());
        let (first, second) = self.data.split_at(self.data.len() / 2);
        self.out.send(cx, first)?;
        self.log_pending(cx, "first");
        if self.clear {
            self.out.clear();
            self.log_pending(cx, "cleared");
            return Ok(());
        }
        let before = self.out.len();
        self.out.send(cx, second)?;
        // With bytes still buffered, the second half is queued whole behind them.
        assert_eq!(self.out.len(), before + second.len());
        self.log_pending(cx, "second");
        Ok(())
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        if self.drained {
            cx.state().push("write after drain");
        }
        self.out.flush(cx)?;
        self.log_pending(cx, "flush");
        if self.out.is_empty() {
            self.drained = true;
        }
        Ok(())
    }
}

/// Small socket buffers on both ends, so that most of the data waits in the `SendBuffer`.
fn small_buffers(local: &TcpStream, peer: &TcpStream) {
    SockRef::from(local)
        .set_send_buffer_size(32 * 1024)
        .unwrap();
    SockRef::from(peer).set_recv_buffer_size(32 * 1024).unwrap();
}

/// The pending counts logged as `WHEN pending N`, in order.
fn pending(log: &Log) -> Vec<(String, usize)> {
    log.events
        .iter()
        .filter_map(|event| {
            let (when, len) = event.split_once(" pending ")?;
            Some((when.to_string(), len.parse().ok()?))
        })
        .collect()
}

/// Reads `len` bytes from `peer` a little at a time, running the loop between reads.
fn read_slowly(event_loop: &mut EventLoop<Log>, mut peer: &TcpStream, len: usize) -> Vec<u8> {
    peer.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + LIMIT;
    let mut data = Vec::with_capacity(len);
    let mut buf = vec![0u8; 16 * 1024];
    while data.len() < len {
        assert!(
            Instant::now() < deadline,
            "{} of {len} bytes within {LIMIT:?}",
            data.len()
        );
        event_loop
            .run_once(Some(Duration::from_millis(10)))
            .expect("run_once");
        match peer.read(&mut buf) {
            Ok(0) => panic!("end of file after {} bytes", data.len()),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    peer.set_nonblocking(false).unwrap();
    data
}

fn send_buffer_delivers_everything_in_order_to_a_slow_reader_then_stops_writing(
    kind: SelectorKind,
) {
    let (peer, local) = tcp_pair();
    small_buffers(&local, &peer);
    let sent = pattern(TOTAL, 4);
    let mut event_loop = new_loop(kind);
    event_loop
        .spawn(local, BufferedSender::new(sent.clone(), false))
        .unwrap();
    let got = read_slowly(&mut event_loop, &peer, TOTAL);
    assert!(got == sent, "the bytes arrived changed or out of order");
    run_until(&mut event_loop, |log| log.has("flush pending 0"), LIMIT);
    // Drained: writable() is false, so handle_write is not called again.
    run_steps(&mut event_loop, 10);
    let log = event_loop.state();
    assert!(
        !log.has("write after drain"),
        "handle_write after the drain"
    );
    let pending = pending(log);
    let (first, second) = (pending[0].1, pending[1].1);
    assert!(
        first > 0 && first < TOTAL / 2,
        "the first send should take part of the first half: {pending:?}"
    );
    assert_eq!(pending[1].0, "second");
    assert_eq!(second, first + TOTAL / 2);
    // Each flush leaves less pending, down to none; the first flush of many.
    let flushes: Vec<usize> = pending[2..].iter().map(|(_, len)| *len).collect();
    assert!(flushes.len() > 1, "{pending:?}");
    assert!(
        flushes.windows(2).all(|pair| pair[1] <= pair[0]),
        "pending grew: {flushes:?}"
    );
    assert!(flushes[0] < second);
    assert_eq!(flushes.last(), Some(&0));
    assert_eq!(flushes.iter().filter(|&&len| len == 0).count(), 1);
    // Nothing more arrives.
    peer.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut extra = [0u8; 16];
    assert!(
        (&peer).read(&mut extra).is_err(),
        "bytes arrived after the {TOTAL} sent"
    );
}

fn send_buffer_clear_drops_what_is_pending(kind: SelectorKind) {
    let (peer, local) = tcp_pair();
    small_buffers(&local, &peer);
    let sent = pattern(TOTAL, 5);
    let mut event_loop = new_loop(kind);
    event_loop
        .spawn(local, BufferedSender::new(sent.clone(), true))
        .unwrap();
    run_until(&mut event_loop, |log| log.has("cleared pending 0"), LIMIT);
    let pending = pending(event_loop.state());
    let kept = pending[0].1;
    assert!(kept > 0, "{pending:?}");
    // Only what the socket took at once arrives.
    let taken = TOTAL / 2 - kept;
    assert!(
        recv_exact(&peer, taken) == sent[..taken],
        "the bytes differ"
    );
    run_steps(&mut event_loop, 5);
    peer.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut extra = [0u8; 16];
    assert!((&peer).read(&mut extra).is_err(), "cleared bytes were sent");
    assert!(!event_loop.state().has("write after drain"));
    assert_eq!(event_loop.state().count_prefix("flush"), 0);
}

per_kind! {
    send_buffer_delivers_everything_in_order_to_a_slow_reader_then_stops_writing,
    send_buffer_clear_drops_what_is_pending,
}
