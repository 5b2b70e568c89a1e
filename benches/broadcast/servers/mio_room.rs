//! The limit: the room written by hand over mio (edge-triggered, each member registered once
//! for both directions) and memchr. The complete lines of a read go to every member in one
//! write each, straight from the read buffer; only what a member's socket does not take is
//! copied, into that member's own buffer (sent on its writable edge). No allocation per line
//! in steady state.

use std::io::{self, Read, Write};
use std::net::TcpListener as StdListener;

use mio::net::TcpStream;
use mio::{Events, Interest};
use slab::Slab;

use crate::mio_server::{LISTENER, accept_all, listen, wait};

/// The most read at once.
const READ_SIZE: usize = 16 * 1024;

struct Member {
    stream: TcpStream,
    /// A partial line read from this member.
    partial: Vec<u8>,
    /// Lines for this member its socket did not take yet.
    unsent: Vec<u8>,
}

impl Member {
    /// Sends `data` after what is pending; keeps what the socket does not take. Err: the
    /// connection failed.
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if !self.unsent.is_empty() {
            self.unsent.extend_from_slice(data);
            return Ok(());
        }
        let mut off = 0;
        while off < data.len() {
            match self.stream.write(&data[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.unsent.extend_from_slice(&data[off..]);
        Ok(())
    }

    /// Sends what is pending (on the writable edge).
    fn flush(&mut self) -> io::Result<()> {
        let mut off = 0;
        while off < self.unsent.len() {
            match self.stream.write(&self.unsent[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.unsent.drain(..off);
        Ok(())
    }
}

/// Reads what `key` sent and passes its complete lines to every member. Returns the
/// members whose connection ended (`key` among them when it closed).
fn on_readable(
    members: &mut Slab<Member>,
    key: usize,
    scratch: &mut [u8],
    lines: &mut Vec<u8>,
    gone: &mut Vec<usize>,
) {
    loop {
        let n = match members[key].stream.read(scratch) {
            Ok(0) => {
                gone.push(key);
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                gone.push(key);
                return;
            }
        };
        let data = &scratch[..n];
        if let Some(at) = memchr::memrchr(b'\n', data) {
            let sayer = &mut members[key];
            // The complete lines: straight from the read, or after the partial line.
            let complete: &[u8] = if sayer.partial.is_empty() {
                &data[..=at]
            } else {
                lines.clear();
                lines.append(&mut sayer.partial);
                lines.extend_from_slice(&data[..=at]);
                lines
            };
            sayer.partial.extend_from_slice(&data[at + 1..]);
            for (k, member) in members.iter_mut() {
                if member.send(complete).is_err() {
                    gone.push(k);
                }
            }
        } else {
            members[key].partial.extend_from_slice(data);
        }
        if n < scratch.len() {
            return; // drained: the next arrival raises a new edge
        }
    }
}

pub fn serve(listener: StdListener) -> io::Result<()> {
    let (mut poll, listener) = listen(listener)?;
    let mut members: Slab<Member> = Slab::new();
    let mut scratch = vec![0u8; READ_SIZE];
    let mut lines = Vec::new();
    let mut gone = Vec::new();
    let mut events = Events::with_capacity(1024);
    loop {
        wait(&mut poll, &mut events)?;
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(
                    "mio",
                    &listener,
                    poll.registry(),
                    &mut members,
                    Interest::READABLE | Interest::WRITABLE,
                    |stream| {
                        Ok(Member {
                            stream,
                            partial: Vec::new(),
                            unsent: Vec::new(),
                        })
                    },
                )?;
                continue;
            }
            let key = event.token().0;
            if !members.contains(key) {
                continue;
            }
            if event.is_writable() && members[key].flush().is_err() {
                gone.push(key);
            }
            if event.is_readable() || event.is_read_closed() {
                on_readable(&mut members, key, &mut scratch, &mut lines, &mut gone);
            }
            for key in gone.drain(..) {
                if members.contains(key) {
                    let mut member = members.remove(key);
                    let _ = poll.registry().deregister(&mut member.stream);
                }
            }
        }
    }
}
