//! The TLS part of a callback's [`Context`] and of the [`EventLoop`]: spawning and
//! connecting TLS channels, STARTTLS, the session's state, and the plaintext I/O that
//! `Context::recv`/`send` turn to on a TLS channel.

use std::io;
use std::mem::MaybeUninit;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use super::super::channel::{Phase, Running};
use super::super::core::Core;
use super::super::os_errors::is_disconnect;
use super::super::{Context, Dispatcher, EventLoop, IoSource, Token};
use super::{Session, TLS_CLOSE_LIMIT, TlsSlot};
use crate::tls::invalid_data;

/// A server session for `config`.
fn server_session(config: Arc<ServerConfig>) -> io::Result<TlsSlot> {
    let conn = ServerConnection::new(config).map_err(invalid_data)?;
    Ok(TlsSlot {
        session: Some(Session::new(Connection::Server(conn), false)),
    })
}

/// A client session for `server_name` with `config`; `connect_pending` for a channel whose
/// `handle_connect` waits for the handshake.
fn client_session(
    server_name: &str,
    config: Arc<ClientConfig>,
    connect_pending: bool,
) -> io::Result<TlsSlot> {
    let name = ServerName::try_from(server_name.to_owned()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a server name: {server_name:?} ({e})"),
        )
    })?;
    let conn = ClientConnection::new(config, name).map_err(invalid_data)?;
    Ok(TlsSlot {
        session: Some(Session::new(Connection::Client(conn), connect_pending)),
    })
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the channel is closed")
}

/// Starts a TLS close that lingers ([`Context::close_lingering`]): `close_notify` and the
/// records rustls holds go out first. Returns whether the channel now waits for them (it
/// lingers once they are out); `false` if they went out at once (the session is dropped:
/// the linger reads clear bytes and discards them).
pub(in crate::event_loop) fn begin_linger<S: 'static>(
    core: &mut Core<S>,
    own: &mut Running,
    limit: Duration,
) -> bool {
    let (Some(io), Some(session)) = (own.io.as_ref(), own.tls.session.as_deref_mut()) else {
        return false;
    };
    if session.notify_close(io) || session.failed || io.socket().is_none() {
        own.tls = TlsSlot::default();
        return false;
    }
    session.then_linger = true;
    own.phase = Phase::Lingering;
    own.linger_for(core, limit);
    true
}

/// TLS channels, from a callback.
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
impl<S: 'static> Context<'_, S> {
    /// Adds a TLS server channel for `io` (an accepted connection) driven by `dispatcher`:
    /// what [`spawn`](Self::spawn) does, with a TLS session of `config` between the socket and
    /// the dispatcher. The handshake runs in the loop; `handle_opened` runs at once as for
    /// any channel (what it sends waits for the handshake), and
    /// [`handle_tls_ready`](crate::Dispatcher::handle_tls_ready) when the handshake
    /// completes. Then `recv` and `send` carry plaintext. A failed handshake goes to
    /// `handle_error` (kind `InvalidData`) and closes the channel.
    ///
    /// A listener whose connections are TLS is a listener that spawns them so, in its
    /// `handle_accepted`.
    ///
    /// # Examples
    ///
    /// A TLS echo server, and a client of the standard library's sockets and rustls:
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use std::net::{TcpListener, TcpStream};
    /// use std::sync::Arc;
    /// use ioloop::socket2::{SockAddr, Socket};
    /// use ioloop::tls::rustls;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Server {
    ///     config: Arc<rustls::ServerConfig>,
    /// }
    ///
    /// impl Dispatcher for Server {
    ///     fn handle_accepted(&mut self, cx: &mut Context<'_>, socket: Socket, _: SockAddr) -> io::Result<()> {
    ///         cx.spawn_tls(socket, self.config.clone(), Echo)?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// struct Echo;
    ///
    /// impl Dispatcher for Echo {
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let mut buf = [0; 4096];
    ///         let n = cx.recv(&mut buf)?; // plaintext
    ///         cx.send(&buf[..n])?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls");
    /// let config = ioloop::tls::server_config_from_pem(
    ///     format!("{dir}/server.pem"),
    ///     format!("{dir}/server-key.pem"),
    /// )?;
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn(listener, Server { config })?;
    ///
    /// let client = std::thread::spawn(move || -> io::Result<String> {
    ///     let roots = ioloop::tls::client_config_from_pem(format!("{dir}/ca.pem"))?;
    ///     let name = "localhost".try_into().unwrap();
    ///     let session = rustls::ClientConnection::new(roots, name).map_err(io::Error::other)?;
    ///     let mut stream = rustls::StreamOwned::new(session, TcpStream::connect(addr)?);
    ///     stream.write_all(b"hello over TLS")?;
    ///     let mut reply = [0; 14];
    ///     stream.read_exact(&mut reply)?;
    ///     Ok(String::from_utf8_lossy(&reply).into_owned())
    /// });
    /// let handle = event_loop.handle();
    /// let waiter = std::thread::spawn(move || {
    ///     let reply = client.join().unwrap();
    ///     handle.stop();
    ///     reply
    /// });
    /// # event_loop.schedule(std::time::Duration::from_secs(30), |cx| cx.stop()); // a safety net
    /// event_loop.run_until_stopped()?;
    /// assert_eq!(waiter.join().unwrap()?, "hello over TLS");
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn); `InvalidData` if rustls refuses `config`.
    pub fn spawn_tls<D: Dispatcher<S>>(
        &mut self,
        io: impl Into<IoSource>,
        config: Arc<ServerConfig>,
        dispatcher: D,
    ) -> io::Result<Token> {
        let tls = server_session(config)?;
        self.spawn_source(io.into(), dispatcher, tls)
    }

    /// Starts a TLS connection to `addr` (as [`connect`](Self::connect)) on a new channel,
    /// verifying the server's certificate for `server_name` with `config`. The channel's
    /// `handle_connect` runs once the handshake has completed (so the peer is verified and
    /// what it sends goes out encrypted), followed by
    /// [`handle_tls_ready`](crate::Dispatcher::handle_tls_ready). A refused certificate (an
    /// expired one, one for another name, an unknown issuer) goes to `handle_error`, of kind
    /// `InvalidData` carrying rustls's error, and closes the channel.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Get;
    ///
    /// impl Dispatcher for Get {
    ///     fn handle_connect(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.send(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?; // encrypted
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let config = ioloop::tls::client_config_from_pem("examples/tls/ca.pem")?;
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.connect_tls("localhost:8443", "localhost", config, Get)?;
    /// event_loop.run()?;
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect); `InvalidInput` if `server_name` is neither a DNS name
    /// nor an IP address.
    pub fn connect_tls<D: Dispatcher<S>>(
        &mut self,
        addr: impl ToSocketAddrs,
        server_name: &str,
        config: Arc<ClientConfig>,
        dispatcher: D,
    ) -> io::Result<Token> {
        let tls = client_session(server_name, config, true)?;
        let token = self.connect(addr, dispatcher)?;
        let (core, _) = self.split();
        core.install_tls(token, tls);
        Ok(token)
    }

    /// STARTTLS, server side: this clear-text channel turns TLS now, with a server session
    /// of `config`. Everything the socket receives from now on is TLS (the client's hello
    /// first); the handshake runs in the loop, and
    /// [`handle_tls_ready`](crate::Dispatcher::handle_tls_ready) follows its completion.
    ///
    /// Send the clear-text go-ahead ("220 Ready to start TLS") in full *before* the call
    /// (a `send` that took all of it), and drop whatever clear-text input you have buffered:
    /// a client that pipelined commands after STARTTLS must not have them run inside the
    /// secure session (CVE-2011-0411). A chat channel does both with
    /// [`ChatChannel::start_tls_server`](crate::chat::ChatChannel::start_tls_server).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::sync::Arc;
    /// use ioloop::tls::rustls;
    /// use ioloop::{Context, Dispatcher};
    ///
    /// struct Session {
    ///     config: Arc<rustls::ServerConfig>,
    /// }
    ///
    /// impl Dispatcher for Session {
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let mut line = [0; 512];
    ///         let n = cx.recv(&mut line)?;
    ///         if &line[..n] == b"STARTTLS\r\n" && !cx.is_tls() {
    ///             // (a real server checks that all of it was taken)
    ///             cx.send(b"220 go ahead\r\n")?;
    ///             cx.start_tls_server(self.config.clone())?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls");
    /// # let config = ioloop::tls::server_config_from_pem(format!("{dir}/server.pem"), format!("{dir}/server-key.pem"))?;
    /// # let _ = Session { config };
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the channel already runs TLS or is not an established socket
    /// connection; `NotConnected` if it is closed; `InvalidData` if rustls refuses `config`.
    pub fn start_tls_server(&mut self, config: Arc<ServerConfig>) -> io::Result<()> {
        let tls = server_session(config)?;
        self.start_tls(tls)
    }

    /// STARTTLS, client side: this clear-text channel turns TLS now, verifying the server's
    /// certificate for `server_name` with `config`; call it once the server said go ahead.
    /// What the channel had buffered of clear-text input must be dropped (see
    /// [`start_tls_server`](Self::start_tls_server)).
    /// [`handle_tls_ready`](crate::Dispatcher::handle_tls_ready) follows the handshake.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::sync::Arc;
    /// use ioloop::tls::rustls;
    /// use ioloop::{Context, Dispatcher};
    ///
    /// struct Client {
    ///     config: Arc<rustls::ClientConfig>,
    /// }
    ///
    /// impl Dispatcher for Client {
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let mut reply = [0; 512];
    ///         let n = cx.recv(&mut reply)?;
    ///         if reply[..n].starts_with(b"220 ") && !cx.is_tls() {
    ///             cx.start_tls_client("localhost", self.config.clone())?;
    ///         }
    ///         Ok(())
    ///     }
    ///
    ///     fn handle_tls_ready(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         cx.send(b"EHLO client.example\r\n")?; // the session starts over, encrypted
    ///         Ok(())
    ///     }
    /// }
    /// # let config = ioloop::tls::client_config_from_pem(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls/ca.pem"))?;
    /// # let _ = Client { config };
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`start_tls_server`](Self::start_tls_server); `InvalidInput` for a
    /// `server_name` that is neither a DNS name nor an IP address.
    pub fn start_tls_client(
        &mut self,
        server_name: &str,
        config: Arc<ClientConfig>,
    ) -> io::Result<()> {
        let tls = client_session(server_name, config, false)?;
        self.start_tls(tls)
    }

    fn start_tls(&mut self, tls: TlsSlot) -> io::Result<()> {
        let (core, own) = self.split();
        let own = own.ok_or_else(closed)?;
        let io = own.io.as_ref().ok_or_else(closed)?;
        if own.tls.is_active() || io.socket().is_none() || own.phase != Phase::Open {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "STARTTLS needs an established clear-text socket connection",
            ));
        }
        own.tls = tls;
        let now = core.now();
        if let Some(clocks) = own.clocks.as_deref_mut() {
            clocks.note_handshake(true, now);
        }
        Ok(())
    }

    /// Whether this channel runs TLS (from [`spawn_tls`](Self::spawn_tls),
    /// [`connect_tls`](Self::connect_tls) or STARTTLS on).
    ///
    /// # Examples
    ///
    /// See [`start_tls_server`](Self::start_tls_server).
    pub fn is_tls(&self) -> bool {
        self.running().is_some_and(|own| own.tls.is_active())
    }

    /// Whether this channel's TLS handshake is under way (it runs TLS and
    /// [`handle_tls_ready`](crate::Dispatcher::handle_tls_ready) has not run yet).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use ioloop::{Context, Dispatcher};
    ///
    /// struct Session;
    ///
    /// impl Dispatcher for Session {
    ///     fn handle_opened(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         if cx.is_tls_handshaking() {
    ///             log::debug!("waiting for the TLS handshake");
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Session;
    /// ```
    pub fn is_tls_handshaking(&self) -> bool {
        self.running().is_some_and(|own| own.tls.is_handshaking())
    }

    /// How the peer ended this TLS channel's stream, once `recv` returned `Ok(0)` for it:
    /// `Some(true)` after its `close_notify` (a clean end), `Some(false)` after an end of
    /// file or a reset without one (a truncation: a protocol whose messages do not mark
    /// their own end must treat it as an error). `None` before that, and on a clear-text
    /// channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use ioloop::{Context, Dispatcher};
    ///
    /// #[derive(Default)]
    /// struct Download {
    ///     body: Vec<u8>,
    /// }
    ///
    /// impl Dispatcher for Download {
    ///     fn handle_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         let n = cx.recv_append(&mut self.body, 16 * 1024)?;
    ///         if n == 0 && cx.tls_closed_cleanly() == Some(false) {
    ///             return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the body was cut short"));
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Download::default();
    /// ```
    pub fn tls_closed_cleanly(&self) -> Option<bool> {
        self.running()?.tls.session.as_ref()?.end
    }

    /// This channel's rustls session, to read what the handshake settled: the peer's
    /// certificates, the ALPN protocol, the SNI name a client asked for, the protocol
    /// version. `None` on a clear-text channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use ioloop::tls::rustls;
    /// use ioloop::{Context, Dispatcher};
    ///
    /// struct Session;
    ///
    /// impl Dispatcher for Session {
    ///     fn handle_tls_ready(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
    ///         if let Some(rustls::Connection::Server(server)) = cx.tls_connection() {
    ///             log::info!("TLS up, SNI {:?}, {:?}", server.server_name(), server.protocol_version());
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Session;
    /// ```
    pub fn tls_connection(&self) -> Option<&Connection> {
        Some(&self.running()?.tls.session.as_ref()?.conn)
    }

    /// `recv` on a TLS channel: plaintext from the session (see the module docs).
    pub(in crate::event_loop) fn tls_recv(
        &mut self,
        buf: &mut [MaybeUninit<u8>],
    ) -> io::Result<usize> {
        let (_, own) = self.split();
        let own = own.ok_or_else(closed)?;
        let (Some(io), Some(session)) = (own.io.as_ref(), own.tls.session.as_deref_mut()) else {
            return Err(closed());
        };
        if !session.established {
            return Err(io::ErrorKind::WouldBlock.into()); // the loop drives the handshake
        }
        if session.closing {
            return Err(closed());
        }
        let n = session.read_plain(io, buf)?;
        if n == 0 && !buf.is_empty() {
            own.disconnected = true; // handle_close follows, as at a plain end of file
        }
        Ok(n)
    }

    /// `send` on a TLS channel: plaintext into the session, records to the socket.
    pub(in crate::event_loop) fn tls_send(
        &mut self,
        bufs: &[io::IoSlice<'_>],
    ) -> io::Result<usize> {
        let (_, own) = self.split();
        let own = own.ok_or_else(closed)?;
        let (Some(io), Some(session)) = (own.io.as_ref(), own.tls.session.as_deref_mut()) else {
            return Err(closed());
        };
        if session.closing {
            return Err(closed());
        }
        match session.write_plain(io, bufs) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) if is_disconnect(&e) => {
                own.disconnected = true;
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// `close` on a TLS channel: `close_notify` and what rustls holds go out first, waiting
    /// for the socket for [`TLS_CLOSE_LIMIT`] at most.
    pub(in crate::event_loop) fn tls_close(&mut self) {
        let (core, own) = self.split();
        let Some(own) = own else {
            return;
        };
        if own.phase == Phase::Lingering {
            return; // on its way out already
        }
        let (Some(io), Some(session)) = (own.io.as_ref(), own.tls.session.as_deref_mut()) else {
            core.close_lent(own);
            return;
        };
        if session.notify_close(io) || session.failed || io.socket().is_none() {
            core.close_lent(own);
            return;
        }
        own.phase = Phase::Lingering;
        own.linger_for(core, TLS_CLOSE_LIMIT);
    }
}

/// TLS channels, from the loop's owner.
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
impl<S: 'static> EventLoop<S> {
    /// Adds a TLS server channel for `io` (see [`Context::spawn_tls`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{TcpListener, TcpStream};
    /// use ioloop::{Dispatcher, EventLoop};
    ///
    /// struct Session;
    /// impl Dispatcher for Session {}
    ///
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls");
    /// let config = ioloop::tls::server_config_from_pem(
    ///     format!("{dir}/server.pem"),
    ///     format!("{dir}/server-key.pem"),
    /// )?;
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let _client = TcpStream::connect(listener.local_addr()?)?;
    /// let (conn, _) = listener.accept()?;
    /// let mut event_loop = EventLoop::new()?;
    /// event_loop.spawn_tls(conn, config, Session)?;
    /// assert_eq!(event_loop.len(), 1);
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Context::spawn_tls`].
    pub fn spawn_tls<D: Dispatcher<S>>(
        &mut self,
        io: impl Into<IoSource>,
        config: Arc<ServerConfig>,
        dispatcher: D,
    ) -> io::Result<Token> {
        self.context().spawn_tls(io, config, dispatcher)
    }

    /// Starts a TLS connection on a new channel (see [`Context::connect_tls`]).
    ///
    /// # Examples
    ///
    /// A client whose server presents a certificate for another name: the handshake fails,
    /// `handle_error` hears why, and `handle_connect` never runs.
    ///
    /// ```
    /// use std::io;
    /// use std::net::TcpListener;
    /// use std::time::Duration;
    /// use ioloop::{Context, Dispatcher, EventLoop};
    ///
    /// struct Client;
    ///
    /// impl Dispatcher<Vec<String>> for Client {
    ///     fn handle_connect(&mut self, cx: &mut Context<'_, Vec<String>>) -> io::Result<()> {
    ///         cx.state().push("connected".into());
    ///         Ok(())
    ///     }
    ///     fn handle_error(&mut self, cx: &mut Context<'_, Vec<String>>, error: io::Error) {
    ///         cx.state().push(error.to_string());
    ///         cx.close();
    ///     }
    /// }
    ///
    /// struct Server;
    /// impl Dispatcher<Vec<String>> for Server {}
    ///
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tls");
    /// let wrong = ioloop::tls::server_config_from_pem(
    ///     format!("{dir}/wrong-name.pem"),
    ///     format!("{dir}/wrong-name-key.pem"),
    /// )?;
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let mut event_loop = EventLoop::with_state(Vec::new())?;
    /// let roots = ioloop::tls::client_config_from_pem(format!("{dir}/ca.pem"))?;
    /// event_loop.connect_tls(addr, "localhost", roots, Client)?;
    /// let (conn, _) = listener.accept()?;
    /// event_loop.spawn_tls(conn, wrong, Server)?;
    /// event_loop.run_count(100, Some(Duration::from_secs(10)))?;
    /// assert!(event_loop.state()[0].contains("certificate"), "{:?}", event_loop.state());
    /// # io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Context::connect_tls`].
    pub fn connect_tls<D: Dispatcher<S>>(
        &mut self,
        addr: impl ToSocketAddrs,
        server_name: &str,
        config: Arc<ClientConfig>,
        dispatcher: D,
    ) -> io::Result<Token> {
        self.context()
            .connect_tls(addr, server_name, config, dispatcher)
    }
}
