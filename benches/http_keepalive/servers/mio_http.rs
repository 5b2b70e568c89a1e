//! The limit: an HTTP/1.1 keep-alive responder written by hand over mio (edge-triggered,
//! registered once for both directions) and memchr's `memmem`: every complete header block
//! of a read (`\r\n\r\n`) is answered, all the answers in one write. The response is the
//! ioloop peer's, byte for byte, made once.

use std::io::{self, Read, Write};
use std::net::TcpListener as StdListener;

use memchr::memmem;
use mio::net::TcpStream;
use mio::{Events, Interest};
use slab::Slab;

use crate::mio_server::{LISTENER, accept_all, listen, wait};

use super::BODY;

/// The most read at once.
const READ_SIZE: usize = 16 * 1024;

struct Conn {
    stream: TcpStream,
    /// An unfinished header block.
    partial: Vec<u8>,
    /// Responses the socket did not take yet.
    unsent: Vec<u8>,
}

impl Conn {
    /// Writes what is pending; false if the socket is full.
    fn flush(&mut self) -> io::Result<bool> {
        let mut off = 0;
        let mut full = false;
        while off < self.unsent.len() {
            match self.stream.write(&self.unsent[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    full = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.unsent.drain(..off);
        Ok(!full)
    }

    /// Returns true once the connection is finished.
    fn ready(&mut self, scratch: &mut [u8], finder: &memmem::Finder<'_>, response: &[u8]) -> bool {
        match self.flush() {
            Ok(true) => {}
            Ok(false) => return false, // bounded: no reading until the writable edge
            Err(_) => return true,
        }
        loop {
            let n = match self.stream.read(scratch) {
                Ok(0) => return true,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            };
            self.partial.extend_from_slice(&scratch[..n]);
            let mut at = 0;
            while let Some(end) = finder.find(&self.partial[at..]) {
                if !self.partial[at..].starts_with(b"GET ") {
                    return true; // what the ioloop peer answers with a 405 and a close
                }
                self.unsent.extend_from_slice(response);
                at += end + 4;
            }
            self.partial.drain(..at);
            match self.flush() {
                Ok(true) => {}
                Ok(false) => return false,
                Err(_) => return true,
            }
            if n < scratch.len() {
                return false; // drained: the next arrival raises a new edge
            }
        }
    }
}

pub fn serve(listener: StdListener) -> io::Result<()> {
    let response = [
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            BODY.len()
        )
        .as_bytes(),
        BODY,
    ]
    .concat();
    let finder = memmem::Finder::new(b"\r\n\r\n");
    let (mut poll, listener) = listen(listener)?;
    let mut conns: Slab<Conn> = Slab::new();
    let mut scratch = vec![0u8; READ_SIZE];
    let mut events = Events::with_capacity(1024);
    loop {
        wait(&mut poll, &mut events)?;
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(
                    "mio",
                    &listener,
                    poll.registry(),
                    &mut conns,
                    Interest::READABLE | Interest::WRITABLE,
                    |stream| {
                        Ok(Conn {
                            stream,
                            partial: Vec::new(),
                            unsent: Vec::new(),
                        })
                    },
                )?;
                continue;
            }
            let key = event.token().0;
            let done = match conns.get_mut(key) {
                Some(conn) => conn.ready(&mut scratch, &finder, &response),
                None => continue,
            };
            if done {
                let mut conn = conns.remove(key);
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}
