//! What several modules share: the loop constructor, the dispatchers `Echo`, `Reader`,
//! `Sender` and `Appender`, and a few checks and sources.

use std::io::{self, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ioloop::selector::SelectorKind;
use ioloop::{Context, Dispatcher, EventLoop};

use crate::common::event_loop::{Log, run_until_read};

pub type Cx<'a> = Context<'a, Log>;

pub fn new_loop(kind: SelectorKind) -> EventLoop<Log> {
    EventLoop::with_kind(kind, Log::default()).expect("EventLoop::with_kind")
}

/// Echoes what it reads, sending at once; keeps what the socket did not take.
#[derive(Default)]
pub struct Echo {
    unsent: Vec<u8>,
}

impl<S: 'static> Dispatcher<S> for Echo {
    fn readable(&self) -> bool {
        self.unsent.len() < 1024 * 1024
    }

    fn writable(&self) -> bool {
        !self.unsent.is_empty()
    }

    fn handle_read(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let n = cx.recv(&mut buf)?;
        self.unsent.extend_from_slice(&buf[..n]);
        self.handle_write(cx)
    }

    fn handle_write(&mut self, cx: &mut Context<'_, S>) -> io::Result<()> {
        while !self.unsent.is_empty() {
            let n = cx.send(&self.unsent)?;
            if n == 0 {
                break;
            }
            self.unsent.drain(..n);
        }
        Ok(())
    }
}

/// Records what it reads in `Log::data`, and its close; counts its drops.
#[derive(Default)]
pub struct Reader {
    drops: Option<Arc<AtomicUsize>>,
}

impl Reader {
    pub fn counted(drops: &Arc<AtomicUsize>) -> Reader {
        Reader {
            drops: Some(drops.clone()),
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(drops) = &self.drops {
            drops.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Dispatcher<Log> for Reader {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let n = cx.recv(&mut buf)?;
        cx.state().push("read");
        cx.state().data.extend_from_slice(&buf[..n]);
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

/// Sends `pending` while there is some (`writable` says so), logging each `handle_write`.
#[derive(Default)]
pub struct Sender {
    pub pending: Vec<u8>,
}

impl Dispatcher<Log> for Sender {
    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        !self.pending.is_empty()
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("write");
        let n = cx.send(&self.pending)?;
        self.pending.drain(..n);
        if self.pending.is_empty() {
            cx.state().push("sent all");
        }
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
        cx.close();
    }
}

/// An idle loopback connection (an `Echo`) next to the failing one, checked to keep working.
pub fn check_echo_still_works(event_loop: &mut EventLoop<Log>, peer: &mut TcpStream) {
    peer.write_all(b"still here").unwrap();
    assert_eq!(run_until_read(event_loop, peer, 10), b"still here");
}

/// A silent channel to hang timers on.
pub fn quiet_socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// Reads with `recv_append` in chunks of at most `max` onto `buf` (which starts with a
/// prefix, to show bytes are appended), logging each size; hands `buf` to the log at close.
pub struct Appender {
    max: usize,
    buf: Vec<u8>,
}

impl Appender {
    pub fn new(max: usize) -> Appender {
        Appender {
            max,
            buf: b"prefix:".to_vec(),
        }
    }
}

impl Dispatcher<Log> for Appender {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        loop {
            let before = self.buf.len();
            let n = cx.recv_append(&mut self.buf, self.max)?;
            assert_eq!(self.buf.len(), before + n);
            cx.state().push(format!("read {n}"));
            if n < self.max {
                return Ok(()); // drained, or end of file
            }
        }
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> io::Result<()> {
        cx.state().push("close");
        cx.state().data = std::mem::take(&mut self.buf);
        cx.close();
        Ok(())
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, error: io::Error) {
        cx.state().push(format!("error {:?} {error}", error.kind()));
        cx.close();
    }
}

pub fn check_appended(log: &Log, sent: &[u8], max: usize) {
    assert_eq!(
        log.count("close"),
        1,
        "{:?}",
        &log.events[..log.events.len().min(20)]
    );
    assert_eq!(log.count_prefix("error"), 0);
    let mut expected = b"prefix:".to_vec();
    expected.extend_from_slice(sent);
    assert!(
        log.data == expected,
        "the bytes read differ from those sent"
    );
    let sizes: Vec<usize> = log
        .events
        .iter()
        .filter_map(|event| event.strip_prefix("read ")?.parse().ok())
        .collect();
    assert!(
        sizes.iter().all(|&n| n <= max),
        "a read of over {max} bytes"
    );
    assert_eq!(sizes.iter().sum::<usize>(), sent.len());
    assert_eq!(sizes.last(), Some(&0), "end of file reads as 0");
}
