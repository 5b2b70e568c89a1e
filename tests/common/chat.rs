//! The chat-layer tests' own helpers: a recording state, and a listener that spawns one
//! `AsyncChat` per connection with a client connected to it.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

use ioloop::chat::{ChatChannel, ChatHandler};
use ioloop::selector::SelectorKind;
use ioloop::{Context, Dispatcher, EventLoop, Token};
use socket2::{SockAddr, Socket};

use super::LIMIT;
use super::event_loop::run_until;

/// What the chat handlers saw.
#[derive(Default, Debug)]
pub struct Rec {
    pub messages: Vec<Vec<u8>>,
    pub errors: Vec<io::ErrorKind>,
    /// The accepted connections' channels.
    pub channels: Vec<Token>,
}

impl Rec {
    pub fn texts(&self) -> Vec<String> {
        self.messages
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect()
    }
}

/// Records every message, and every error (then closes).
pub struct Record;

impl ChatHandler<Rec> for Record {
    fn found_terminator(
        &mut self,
        _: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
        message: &[u8],
    ) -> io::Result<()> {
        cx.state().messages.push(message.to_vec());
        Ok(())
    }

    fn handle_error(&mut self, _: &mut ChatChannel, cx: &mut Context<'_, Rec>, error: io::Error) {
        cx.state().errors.push(error.kind());
        cx.close();
    }
}

/// A listener that spawns `make()` for every accepted connection.
pub struct Spawner<F> {
    pub make: F,
}

impl<D, F> Dispatcher<Rec> for Spawner<F>
where
    D: Dispatcher<Rec>,
    F: FnMut() -> D + 'static,
{
    fn handle_accepted(
        &mut self,
        cx: &mut Context<'_, Rec>,
        socket: Socket,
        _: SockAddr,
    ) -> io::Result<()> {
        let token = cx.spawn(socket, (self.make)())?;
        cx.state().channels.push(token);
        Ok(())
    }
}

/// A loop of `kind` with a listener spawning `make()`, and a connected client (blocking,
/// with timeouts) whose connection the loop has accepted; and the listener's address, for
/// more clients.
pub fn serve<D, F>(kind: SelectorKind, make: F) -> (EventLoop<Rec>, TcpStream, SocketAddr)
where
    D: Dispatcher<Rec>,
    F: FnMut() -> D + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut event_loop = EventLoop::with_kind(kind, Rec::default()).unwrap();
    event_loop.spawn(listener, Spawner { make }).unwrap();
    let client = connect(&mut event_loop, addr);
    (event_loop, client, addr)
}

/// Connects one more client (blocking, with timeouts of [`LIMIT`]) and runs the loop until
/// it was accepted.
pub fn connect(event_loop: &mut EventLoop<Rec>, addr: SocketAddr) -> TcpStream {
    let before = event_loop.state().channels.len();
    let client = TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(LIMIT)).unwrap();
    client.set_write_timeout(Some(LIMIT)).unwrap();
    client.set_nodelay(true).unwrap();
    run_until(event_loop, |rec| rec.channels.len() > before, LIMIT);
    client
}
